/* unicode.h - the `--tokens unicode` rule, private to map/: a scanner that cuts UTF-8 text into
 * tokens (maximal runs of L*, M*, N* code points, joined by an apostrophe between two of them)
 * and a key builder (normalize, then casefold). Unicode data comes from utf8proc; ASCII takes a
 * table-driven fast path that never calls it. */
#ifndef MRCOUNT_MAP_UNICODE_H
#define MRCOUNT_MAP_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mrcount/common.h"

/* One token of a scanned range: buf[start..end); `ascii` when every byte is < 0x80. */
typedef struct mrc_unicode_span {
    size_t start, end;
    bool ascii;
} mrc_unicode_span;

/** mrc_unicode_scan() : cut buf[pos..len) into tokens, filling spans[] with at most `max`
 *  (>= 1) of them, in order; *nspans is set to how many. The range must be complete: it ends
 *  at a byte of mrc_unicode_record_delims() or at the true end of the input (a multi-byte
 *  sequence cut there is invalid). Bytes that are not part of a valid UTF-8 sequence are
 *  delimiters; each one crossed is added to *invalid (one per byte: a truncated sequence of k
 *  bytes adds k; overlongs, surrogates, > U+10FFFF, stray continuation bytes alike).
 *  @return where to resume: len when the range is done, else the first byte of the token that
 *  did not fit (its invalid bytes already counted, none counted twice on resuming). */
size_t mrc_unicode_scan(const unsigned char *buf, size_t pos, size_t len, mrc_unicode_span *spans,
                        size_t max, size_t *nspans, uint64_t *invalid);

/** mrc_unicode_record_delims() : 256 flags, nonzero for the bytes that always end a token
 *  whatever stands around them: ASCII other than [A-Za-z0-9'] (space, punctuation, controls,
 *  LF). Bytes >= 0x80 and ' are 0: a split cut at a flagged byte never cuts a code point or a
 *  token. @return a static table. */
const unsigned char *mrc_unicode_record_delims(void);

/* What is applied to a token before folding: the key is casefold(normalize(token)). */
enum mrc_normalize { MRC_NORMALIZE_NONE, MRC_NORMALIZE_NFC, MRC_NORMALIZE_NFKC };

/* A thread's key buffers, reused from token to token: keys are appended to bytes[0..len)
 * (the caller resets len when it has used them); cps holds the code points of the token being
 * normalized. Zero-initialize; release with mrc_unicode_keybuf_free(). */
typedef struct mrc_unicode_keybuf {
    unsigned char *bytes;
    size_t len, cap;
    int32_t *cps;
    size_t cps_cap;
} mrc_unicode_keybuf;

/* Appends the keys of spans[0..n) (tokens of buf, as the scanner gave them: valid UTF-8, with
 * their ASCII flags) to b->bytes, one after the other; ends[i] is set to where key i ends in
 * b->bytes (key i starts at ends[i-1], key 0 at b->len on entry).
 * @return 0, or MRC_ENOMEM / MRC_EINVAL (invalid UTF-8) with err filled; on error b->len is
 * as it was on entry. */
typedef int (*mrc_unicode_keys_fn)(mrc_unicode_keybuf *b, const unsigned char *buf,
                                   const mrc_unicode_span *spans, size_t n, size_t *ends,
                                   mrc_err *err);

/** mrc_unicode_keys_select() : the key builder for these options, chosen once (no option is
 *  tested per token). Keys are exactly Python's `unicodedata.normalize(form, t).casefold()`
 *  (full case folding, CaseFolding.txt status C+F, locale-free) in the library's Unicode
 *  version; an ASCII token never reaches the library (folding is A-Z -> a-z, normalization
 *  the identity). @return the function (never NULL). */
mrc_unicode_keys_fn mrc_unicode_keys_select(enum mrc_normalize norm, bool fold);

/** mrc_unicode_key() : the key of one token tok[0..n), appended to b->bytes, by a builder from
 *  mrc_unicode_keys_select(). @return as the builder. */
static inline int mrc_unicode_key(mrc_unicode_keys_fn keys, mrc_unicode_keybuf *b,
                                  const unsigned char *tok, size_t n, bool ascii, mrc_err *err)
{
    mrc_unicode_span s = {0, n, ascii};
    size_t end;
    return keys(b, tok, &s, 1, &end, err);
}

/** mrc_unicode_key_is_token() : true when every key these options build for a token with
 *  this ASCII flag is the token's own bytes, so a caller may hash the token in place instead
 *  of calling the key builder. */
static inline bool mrc_unicode_key_is_token(enum mrc_normalize norm, bool fold, bool ascii)
{
    return !fold && (ascii || norm == MRC_NORMALIZE_NONE);
}

/** mrc_unicode_keybuf_free() : release both buffers and zero b. */
void mrc_unicode_keybuf_free(mrc_unicode_keybuf *b);

/** mrc_unicode_library_name() : "utf8proc", the library the Unicode data comes from.
 *  @return a static string. */
const char *mrc_unicode_library_name(void);

/** mrc_unicode_library_version() : the version of that library linked at run time ("2.8.0"),
 *  for --version and the metrics. @return a static string. */
const char *mrc_unicode_library_version(void);

/** mrc_unicode_data_version() : the Unicode version of the library's tables ("15.0.0").
 *  @return a static string. */
const char *mrc_unicode_data_version(void);

#endif
