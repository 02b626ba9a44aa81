/* input.h - what the run reads: discovery of input paths on rank 0 (files, directories,
 * globs, @lists), the split plan (path, offset, length descriptors balanced across ranks by
 * bytes), and the streaming reader every worker uses on its pieces. No MPI in here. */
#ifndef MRCOUNT_INPUT_H
#define MRCOUNT_INPUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mrcount/common.h"

typedef struct mrc_file {
    char *path;        /* as discovered (relative paths stay relative) */
    uint64_t size;     /* st_size at discovery */
    int64_t mtime_ns;  /* st_mtim at discovery (rank 0 only: checkpoints compare it) */
    uint64_t dev, ino; /* st_dev, st_ino at discovery (rank 0 only: outputs are checked) */
    uint8_t codec;     /* enum mrc_codec, by the name's suffix: a compressed file is one split */
} mrc_file;

/* How a file is read, chosen by its name's suffix (lower case): as it is, or decompressed whole
 * (.gz through ISA-L igzip or zlib, .zst libzstd, .xz liblzma, .bz2 libbz2), one split for the
 * whole file; concatenated members, frames or streams are read back to back. */
enum mrc_codec { MRC_CODEC_NONE, MRC_CODEC_GZIP, MRC_CODEC_ZSTD, MRC_CODEC_XZ, MRC_CODEC_BZIP2 };

/** mrc_codec_of_path() : the codec a path's suffix names (MRC_CODEC_NONE: plain text). */
enum mrc_codec mrc_codec_of_path(const char *path);

/** mrc_codec_name() : "gzip", "zstd", "xz", "bzip2" (NULL for MRC_CODEC_NONE). */
const char *mrc_codec_name(enum mrc_codec c);

typedef struct mrc_file_list {
    mrc_file *files;
    size_t n, cap;
    uint64_t total_bytes;
    size_t excluded; /* paths an exclude pattern left out (a directory counts once) */
    size_t skipped;  /* paths skipped with a warning (a FIFO, a link loop, a dangling link...) */
} mrc_file_list;

/* Called for each non-fatal discovery warning (a FIFO or socket skipped, a symlink loop not
 * followed, a directory entry that vanished); msg is "<path>: <cause>". Past the first 5 of one
 * cause, one call at the end of the walk says how many more ("N more <what> (not listed)").
 * May be NULL. */
typedef void (*mrc_warn_fn)(const char *msg, void *arg);

/** mrc_input_discover() : expand the INPUT arguments into regular files, in a deterministic
 *  order (each argument in turn; directory entries and glob matches sorted bytewise).
 *  - a regular file is taken (symlinks to files are followed);
 *  - a directory is walked recursively; each (dev, inode) of a directory is entered once, so
 *    symlink loops end; non-regular entries (FIFOs, sockets, devices) are skipped with a
 *    warning and never opened; hidden entries (".name") are skipped;
 *  - an argument with glob characters (* ? [) that is not an existing path is a glob(3)
 *    pattern; matching no file is an error;
 *  - "@list.txt" reads one path per line (empty lines and lines starting with '#' ignored),
 *    each line treated like an argument (no nested @); the list must be a regular file (a
 *    directory, FIFO or device there is an error, never opened to wait on);
 *  - "-" is an error, MRC_EUSAGE (standard input cannot be scattered to ranks);
 *  - a missing or unreadable path, or a FIFO named directly, is an error; so is a regular file
 *    of size 0 that reads data (a pseudo-file as in /proc, whose size is not its contents).
 *  The same file named twice is counted twice (like cat). @return 0, or nonzero with err
 *  filled ("<path>: <cause>"). */
int mrc_input_discover(const char *const *args, size_t nargs, mrc_file_list *out, mrc_warn_fn warn,
                       void *warn_arg, mrc_err *err);

/** mrc_input_discover_until() : the same, polling `stop` (may be NULL) before each path it
 *  takes: nonzero ends the walk with MRC_EINTR ("<path>: discovery interrupted"), so a signal
 *  does not wait for a huge tree to be walked. */
int mrc_input_discover_until(const char *const *args, size_t nargs, mrc_file_list *out,
                             mrc_warn_fn warn, void *warn_arg, const mrc_stop *stop, mrc_err *err);

/* What discovery may be given besides the INPUTs. */
typedef struct mrc_discover_opts {
    mrc_warn_fn warn; /* may be NULL */
    void *warn_arg;
    const mrc_stop *stop; /* may be NULL */
    /* fnmatch(3) patterns (flags 0): a path is left out (a directory not entered) when one
     * matches it, trailing slashes aside: a pattern with a '/' the whole path as discovery
     * spells it (the argument or @list line, a glob match, the walk's dir/name), '*' crossing
     * '/'; one without the last component ("." and ".." never). Tested before the path is
     * stat'ed (a glob's matches one by one, not its text), for every path but an @list's own. */
    const char *const *exclude;
    size_t nexclude;
    /* A directory of the run's own (the --checkpoint directory), never entered wherever the
     * walk meets it (the same directory by device and inode, through any path or link) and
     * counted as excluded: its files are not input. May be NULL or not exist yet. */
    const char *own_dir;
} mrc_discover_opts;

/** mrc_input_discover_with() : mrc_input_discover_until() with exclude patterns; the paths
 *  they leave out are counted in out->excluded. */
int mrc_input_discover_with(const char *const *args, size_t nargs, const mrc_discover_opts *o,
                            mrc_file_list *out, mrc_err *err);

void mrc_file_list_free(mrc_file_list *l);

/* A split: a byte range of one input file. Records (tokens or lines) belong to the split in
 * which their first byte lies, so any placement of split boundaries counts each record once;
 * readers skip a record that started before their range and finish the last one past it. A job
 * whose counts need what follows a record (word n-grams) reads on past the end as context: an
 * n-gram belongs to the split holding its first token's record, which reads ahead as far as the
 * n-gram goes; the next split skips the n-grams that start before it (mrc_consume_fn). */
typedef struct mrc_split {
    uint32_t file; /* index into the file list */
    uint32_t rank; /* rank that maps it (static schedule) */
    uint64_t offset;
    uint64_t length; /* for a compressed file: the whole file, offset 0 */
} mrc_split;

typedef struct mrc_split_plan {
    mrc_split *splits; /* grouped by rank: rank r's splits are splits[first[r] .. first[r+1]) */
    size_t n;
    size_t *first; /* nranks + 1 entries */
    size_t nranks;
    uint64_t *rank_bytes; /* bytes assigned to each rank */
    uint64_t *rank_work;  /* their work (mrc_split_work()) */
} mrc_split_plan;

/** mrc_split_work() : the work of mapping split s, in bytes of plain text: its length, times
 *  its codec's measured cost for a compressed file (a byte of .gz or .zst 4, of .xz 18, of
 *  .bz2 45: split.c says where these come from). */
uint64_t mrc_split_work(const mrc_file_list *files, const mrc_split *s);

/** mrc_split_cmp_most_work() : qsort_r() order of splits (files: the mrc_file_list): most work
 *  first, then by file and offset. */
int mrc_split_cmp_most_work(const void *a, const void *b, void *files);

/** mrc_split_plan() : cut the files into splits of at most chunk_size bytes (a compressed file
 *  and an empty file are one split each; empty files may be dropped) and assign them to
 *  nranks ranks, balancing work (mrc_split_work(): largest first onto the least loaded rank,
 *  then each rank's splits sorted by (file, offset) so ranks read files sequentially).
 *  Deterministic for the same inputs.
 *  @return 0, or MRC_ENOMEM / MRC_EINVAL with err filled. */
int mrc_split_plan_make(const mrc_file_list *files, uint64_t chunk_size, size_t nranks,
                        mrc_split_plan *out, mrc_err *err);

/** mrc_split_plan_make_rest() : mrc_split_plan_make() of what is left of the files once the
 *  byte ranges in done (ndone, any order, the rank field unused; a resumed checkpoint's) are
 *  taken out; a compressed file with any range done is left out whole. Splits of one range never
 *  cross another. @return as mrc_split_plan_make(). */
int mrc_split_plan_make_rest(const mrc_file_list *files, uint64_t chunk_size, size_t nranks,
                             const mrc_split *done, size_t ndone, mrc_split_plan *out,
                             mrc_err *err);

void mrc_split_plan_free(mrc_split_plan *p);

/** mrc_split_default_chunk() : the split size when --chunk-size is not given: about 16 splits
 *  per rank (byte balance even for a small input on many ranks), within [1 MiB, 64 MiB]. */
uint64_t mrc_split_default_chunk(uint64_t total_bytes, int nranks);

/** mrc_input_count_newlines() : the number of LF bytes in [0, upto) of plain file `path` (for
 *  naming a record's line; fewer if the file is shorter), or `most` once that many are found
 *  (UINT64_MAX: all). @return 0, or error (err filled). */
int mrc_input_count_newlines(const char *path, uint64_t upto, uint64_t most, uint64_t *count,
                             mrc_err *err);

/* ---- the streaming reader: feeds a piece of a file to a record consumer ---- */

/** mrc_open_regular() : opens `path` for reading if it is a regular file, without ever
 *  blocking: O_NONBLOCK makes the open of a FIFO with no writer return at once, fstat then says
 *  what the path is, and reads block as usual afterwards.
 *  @return 0 with *fd open (and its size in *size unless size is NULL); an errno (open or fstat
 *  failed); or -1: not a regular file, its type in *mode (nothing left open). */
int mrc_open_regular(const char *path, int *fd, mode_t *mode, uint64_t *size);

/** mrc_input_open() : opens input `path` for reading without ever blocking: a path that is no
 *  longer a regular file (replaced by a FIFO, a socket or a directory since discovery) is an
 *  error, never a hang. @return 0 with *fd set, or nonzero with err filled ("<path>: <cause>"). */
int mrc_input_open(const char *path, int *fd, mrc_err *err);

/** mrc_input_foreign_format() : the format of data that is not UTF-8 text whose signature p[0, n)
 *  (a file's first bytes, or a compressed file's first decompressed bytes) starts with:
 *  compressed data ("gzip", "bzip2", "xz", "zstd", which mrcount reads only in a file named for
 *  it, "zstd/lz4" for a skippable frame, "lz4"), an archive ("zip", "7z", "tar": a POSIX or GNU
 *  header with its checksum right, 512 bytes), or text in another encoding ("UTF-16", "UTF-32":
 *  a byte-order mark); NULL for anything else. Every piece of a plain file, and every compressed
 *  file, that starts with one is an error (mrc_reader_run(), mrc_reader_run_packed()), never
 *  text. */
const char *mrc_input_foreign_format(const unsigned char *p, size_t n);

/* What a job tells the reader about its records. */
typedef struct mrc_record_rules {
    /* Byte classes: delim[b] != 0 when byte b ends a record (words: ASCII whitespace;
     * ngram: '\n'). A record is a maximal run of non-delimiter bytes. */
    const unsigned char *delim;
    /* The job's records need context after them (word n-grams: the N-1 tokens after a range's
     * last one). The reader then reads on past the range's end for as long as the consumer
     * asks (see mrc_consume_fn); without it, it stops at the end of the last record. */
    bool lookahead;
} mrc_record_rules;

/* The consumer's "I have all the context I need" (see mrc_consume_fn). */
#define MRC_CONSUME_ENOUGH (-2)

/* The consumer: counts the records of buf[0..len) that belong to the range being read.
 * - A range's records are those whose first byte lies in it, whole: they end at the first
 *   delimiter at or after the range's end (or at the end itself when the byte before it is a
 *   delimiter). buf[0, owned) holds bytes of those records (and the delimiters between them);
 *   what starts there is the range's: records, the tokens in them, an n-gram whose first token
 *   does. Bytes from `owned` on were read past the range's records only as context for a
 *   lookahead job: nothing that starts there is counted by this range (the next range counts
 *   it), it only completes what started before. owned is SIZE_MAX (all of buf is the range's)
 *   for jobs without lookahead, for compressed files, and until the reader reaches the
 *   range's end.
 * - final false: the bytes after the last delimiter may be an unfinished record: leave them and
 *   report them as not consumed; the next call starts with them, followed by more bytes (the
 *   consumer keeps what it learned of the bytes it consumed, such as an n-gram window, from
 *   call to call). final true: the end of buf ends the input (or the context read).
 * @return bytes consumed (0..len), or -1 on error (err filled), or MRC_CONSUME_ENOUGH: every
 *   record that starts before `owned` is counted and complete (n-grams included), so no more
 *   context is wanted: the reader stops reading this range and makes no final call. */
typedef long long (*mrc_consume_fn)(void *ctx, const unsigned char *buf, size_t len, size_t owned,
                                    bool final, mrc_err *err);

typedef struct mrc_reader {
    unsigned char *buf; /* grows only for a record longer than the buffer, or to hold a
                         * compressed file's first 512 decompressed bytes (their check) */
    size_t cap;
    uint64_t bytes_read; /* bytes read from files (progress and metrics) */
    /* the memory a decoder may take (0: no bound): an xz dictionary, a zstd window (at least
     * 128 MiB, zstd's own bound); a file that needs more is an error saying how much */
    uint64_t decoder_limit;
} mrc_reader;

/** mrc_reader_init() : a reader with a buffer of buf_size bytes (0: 256 KiB). */
int mrc_reader_init(mrc_reader *r, size_t buf_size, mrc_err *err);
void mrc_reader_free(mrc_reader *r);

/** mrc_reader_run() : stream the records that start in [offset, offset+length) of file `path`
 *  (plain file) through consume: skip a record that began before offset, stop after the last
 *  record that starts before the end (reading past it as far as that record goes). With
 *  rules->lookahead, the reader then reads on in growing chunks, giving the consumer the bytes
 *  past the range's records as context (`owned` says where they start), until it answers
 *  MRC_CONSUME_ENOUGH or the file ends (then a final call). The range
 *  lies within the file's size at discovery, so a file that ends before offset+length shrank
 *  since: an error ("<path>: file shrank while being read (expected at least N bytes, found
 *  M)"), never a silently short count. A file that starts with a foreign format
 *  (mrc_input_foreign_format()) is an error naming the file and the format, in every range.
 *  `stop`, when non-NULL, is polled between reads: nonzero ends the read early with MRC_EINTR.
 *  @return 0, or nonzero with err filled ("<path>: <cause>"). */
int mrc_reader_run(mrc_reader *r, const char *path, uint64_t offset, uint64_t length,
                   const mrc_record_rules *rules, mrc_consume_fn consume, void *ctx,
                   const mrc_stop *stop, mrc_err *err);

/** mrc_reader_run_gz() : the same for a whole .gz file (all members), streaming through ISA-L
 *  igzip when the build found it (mrc_reader_gz_backend()), zlib otherwise.
 *  A truncated or corrupt stream is an error naming the file and the compressed byte offset,
 *  and so is a stream whose first inflated bytes are a foreign format (a .tar.gz, UTF-16).
 *  `size` is the file's size at discovery: a file that ends cleanly before it (cut between two
 *  members since) is the same "file shrank" error as mrc_reader_run()'s. */
int mrc_reader_run_gz(mrc_reader *r, const char *path, uint64_t size, const mrc_record_rules *rules,
                      mrc_consume_fn consume, void *ctx, const mrc_stop *stop, mrc_err *err);

/** mrc_reader_run_packed() : the same for a whole compressed file of any codec (mrc_codec_of_path
 *  of its name): gzip as mrc_reader_run_gz(), zstd (frames back to back, skippable frames
 *  skipped), xz (streams back to back) and bzip2 (streams back to back) through their libraries.
 *  A file that does not start like its codec's is "<path>: not a zstd file (it holds ...)"; a
 *  truncated or corrupt one names the compressed byte offset; the first decompressed bytes are
 *  checked like a plain file's head. */
int mrc_reader_run_packed(mrc_reader *r, const char *path, enum mrc_codec codec, uint64_t size,
                          mrc_consume_fn consume, void *ctx, const mrc_stop *stop, mrc_err *err);

/** mrc_reader_gz_backend() : the inflate library mrc_reader_run_gz() was built with: "isa-l"
 *  (ISA-L igzip) or "zlib". */
const char *mrc_reader_gz_backend(void);

/** mrc_reader_codec_versions() : the decompression libraries this build reads with, and their
 *  versions, into buf (NUL-terminated, cut to cap): "gzip (isa-l 2.30.0), zstd 1.5.4, xz 5.4.1,
 *  bzip2 1.0.8" (isa-l's is the version of the headers built against). */
void mrc_reader_codec_versions(char *buf, size_t cap);

#endif
