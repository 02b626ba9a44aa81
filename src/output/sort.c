/* sort.c - puts the result's records in output order: a sample partition across the pinned
 * threads, then on each thread an in-place MSD radix sort (American flag) of 16-byte refs on
 * each record's sort string; and the iterator over the result. It must never copy the refs
 * into a second array (they are the only per-record memory besides the records), never write
 * a record, and never allocate per record. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/runtime.h"
#include "output_internal.h"

/* The sort string of a record: for MRC_ORDER_COUNT the 8 bytes of ~count big-endian, then the
 * key; for MRC_ORDER_KEY the key alone. A window holds the 8 bytes of it from a depth d (the
 * count's window, or one within the key) as a big-endian integer, zero-padded past the end, so
 * comparing windows compares those bytes. Padding is not the end of a string ("a" and "a\0" share a
 * window): a group that ties on a whole window puts its strings that end there first, shorter first
 * (a prefix of another comes first), and loads the next window of the others. koff is 8 when the
 * count leads the string, 0 otherwise: key offset = depth - koff. */

typedef mrc_out_ref ref;

#define SORT_SMALL 32        /* groups up to this size: insertion sort on windows, then the keys */
#define SORT_PREFETCH 8      /* refs ahead whose records are fetched while loading windows */
#define SORT_HEAD_AHEAD 256  /* bytes past a bucket's next free slot fetched by the permutation */
#define SORT_GUESS_SAMPLE 64 /* records sampled for the prefix every string may share */
/* A stop is looked at before each group of at least this many refs, and every this many refs
 * of the first pass over a part (the classification, the first windows): a sort of 10^9 keys
 * takes a minute on one core, and Slurm sends SIGKILL 30 s after SIGTERM by default. Between
 * two looks a group of n refs gets its counting passes and one permutation (and the parts'
 * permutation one thread's pass over all refs): seconds at 10^9. */
#define SORT_POLL_MIN ((size_t)1 << 16)

/* The 8 key bytes from offset o, zero-padded, as a big-endian integer. */
static inline uint64_t key_window(const unsigned char *rec, size_t o)
{
    size_t len = mrc_rec_len(rec);
    const unsigned char *k = mrc_rec_key(rec) + o;
    if (len >= o + 8) return mrc_be64(k);
    return len > o ? mrc_be_short(k, len - o) : 0;
}

/* The first byte at which the windows of a group differ (8: none). */
static inline unsigned first_diff(uint64_t diff)
{
    return diff != 0 ? (unsigned)__builtin_clzll(diff) >> 3 : 8;
}

/* Keys compared from offset ko on, their bytes before it equal (padding included): the rest
 * bytewise, then the shorter first. */
static inline int key_tail_cmp(const unsigned char *a, const unsigned char *b, size_t ko)
{
    size_t la = mrc_rec_len(a), lb = mrc_rec_len(b);
    if (ko >= la || ko >= lb) return (la > lb) - (la < lb);
    return mrc_key_cmp(mrc_rec_key(a) + ko, (uint32_t)(la - ko), mrc_rec_key(b) + ko,
                       (uint32_t)(lb - ko));
}

/* A small group whose windows are at depth d, sorted on the windows alone first; then each run
 * of equal windows by the keys from ko = d + 8 - koff on, its records fetched together first
 * (tied windows compared record by record, one cache miss at a time: 1 M keys key<n>x took
 * 0.25 s of CPU to sort instead of 0.10). */
static void insertion_sort(ref *a, size_t n, size_t ko)
{
    for (size_t i = 1; i < n; i++) {
        ref v = a[i];
        size_t j = i;
        for (; j > 0 && v.window < a[j - 1].window; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
    for (size_t lo = 0, hi; lo + 1 < n; lo = hi) {
        for (hi = lo + 1; hi < n && a[hi].window == a[lo].window; hi++)
            __builtin_prefetch(a[hi].rec);
        if (hi - lo < 2) continue;
        __builtin_prefetch(a[lo].rec);
        for (size_t i = lo + 1; i < hi; i++) {
            ref v = a[i];
            size_t j = i;
            for (; j > lo && key_tail_cmp(v.rec, a[j - 1].rec, ko) < 0; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
    }
}

/* By window alone, O(n log n) whatever the input: the strings that end in one window, whose
 * windows hold their lengths (many only when records repeat, which valid tables never do). */
static void heap_sort_windows(ref *a, size_t n)
{
    for (size_t end = n, i = n / 2;;) {
        ref v;
        size_t j;
        if (i > 0) {
            v = a[--i];
            j = i;
        } else {
            if (--end == 0) return;
            v = a[end];
            a[end] = a[0];
            j = 0;
        }
        for (size_t c; (c = 2 * j + 1) < end; j = c) {
            if (c + 1 < end && a[c + 1].window > a[c].window) c++;
            if (a[c].window <= v.window) break;
            a[j] = a[c];
        }
        a[j] = v;
    }
}

/* How many first key bytes two records share, at most max. */
static size_t key_lcp(const unsigned char *p, const unsigned char *q, size_t max)
{
    size_t lp = mrc_rec_len(p), lq = mrc_rec_len(q), m = lp < lq ? lp : lq, c = 0;
    if (m > max) m = max;
    while (c < m && mrc_rec_key(p)[c] == mrc_rec_key(q)[c])
        c++;
    return c;
}

/* A record fetched ahead, and the line of its key's window at offset ko. */
static inline void fetch_window(const unsigned char *rec, size_t ko)
{
    __builtin_prefetch(rec);
    __builtin_prefetch(rec + MRC_REC_HEAD + ko + 7);
}

/* Whether a record shares pre's sort string up to key offset ko (its count too when by_count):
 * a key that ends before ko must equal pre's key that far. */
static inline bool shares_prefix(const unsigned char *r, const unsigned char *pre, size_t ko,
                                 bool by_count)
{
    uint32_t len = mrc_rec_len(r);
    return (!by_count || mrc_rec_count(r) == mrc_rec_count(pre)) &&
           mrc_key_eq(mrc_rec_key(r), mrc_rec_key(pre), len < ko ? len : ko);
}

/* The window at depth d of a record's sort string (by_count: d is 0, the count's, or past it). */
static inline uint64_t window_at(const unsigned char *rec, size_t d, bool by_count)
{
    if (by_count && d == 0) return ~mrc_rec_count(rec);
    return key_window(rec, d - (by_count ? 8 : 0));
}

/* A group tied on its whole window: the strings that end within it (key length <= ko, the new
 * key offset) go first, by length; the others get their next window, and *k the first byte
 * at which those differ (8: none). Records are fetched SORT_PREFETCH refs ahead, up to
 * a[horizon) (past the group: the next group's records). pre (NULL: none) is a record whose
 * string the group is only guessed to share up to the new window: each record is checked
 * (its count when by_count, its key up to ko), and stop polled. @return how many ended, or
 * SIZE_MAX when a record does not share that prefix or stop was raised (windows and order then
 * unspecified). */
static size_t reload(ref *a, size_t n, size_t horizon, size_t ko, unsigned *k,
                     const unsigned char *pre, bool by_count, const mrc_stop *stop)
{
    size_t e = 0;
    uint64_t w0 = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (pre != NULL && i % SORT_POLL_MIN == 0 && mrc_stopped(stop)) return SIZE_MAX;
        if (i + SORT_PREFETCH < horizon) fetch_window(a[i + SORT_PREFETCH].rec, ko);
        const unsigned char *r = a[i].rec;
        uint32_t len = mrc_rec_len(r);
        if (pre != NULL && !shares_prefix(r, pre, ko, by_count)) return SIZE_MAX;
        if (len <= ko) {
            a[i] = a[e];
            a[e++] = (ref){len, r};
        } else {
            uint64_t w = key_window(r, ko);
            if (i == e) w0 = w; /* the first that did not end */
            diff |= w ^ w0;
            a[i].window = w;
        }
    }
    *k = first_diff(diff);
    if (e > SORT_SMALL)
        heap_sort_windows(a, e);
    else
        insertion_sort(a, e, SIZE_MAX); /* equal windows: equal lengths, equal strings */
    return e;
}

/* Distribute a group into its buckets (cnt: their sizes), in place: a ref's bucket is the
 * byte of its window at shift `sh`, or with a map what the map gives the two bytes there. In
 * rounds (as ska_sort does): every unfinished bucket swaps each of its unplaced refs straight
 * to the next free slot of the ref's bucket; what comes back waits for the next round. The
 * swaps of a round do not wait on one another, unlike a cycle's, so the memory system keeps
 * several in flight (with the first-byte hints of msd_sort(): 5 M keys key<n>x, one thread,
 * 0.46 s of CPU -> 0.35). */
static inline __attribute__((always_inline)) void permute_by(ref *a, const size_t *cnt, unsigned sh,
                                                             const unsigned char *map)
{
    size_t head[256], tail[256];
    unsigned char left[256];
    unsigned nl = 0;
    size_t s = 0;
    for (unsigned b = 0; b < 256; b++)
        if (cnt[b] != 0) {
            head[b] = s;
            s += cnt[b];
            tail[b] = s;
            left[nl++] = (unsigned char)b;
        }
    while (nl > 1) { /* one bucket left unfinished: the others are full of their own, so it is */
        unsigned still = 0;
        for (unsigned u = 0; u < nl; u++) {
            unsigned b = left[u];
            for (size_t i = head[b], end = tail[b]; i < end; i++) {
                uint64_t w = a[i].window >> sh;
                size_t dst = head[map != NULL ? map[w & 0xffff] : w & 0xff]++;
                /* the bucket's slots a few lines on: one stream per bucket, more than the
                 * hardware's prefetchers follow (integer arithmetic: it may pass the end).
                 * Keys key<n>x in random table order, one thread, sort alone: 15 M 0.72-0.89 s
                 * -> 0.54-0.56; 30 M median 1.21 -> 1.11 s (6 interleaved rounds) */
                __builtin_prefetch((const void *)((uintptr_t)(a + dst) + SORT_HEAD_AHEAD), 1);
                ref t = a[dst];
                a[dst] = a[i];
                a[i] = t;
            }
            if (head[b] != tail[b]) left[still++] = (unsigned char)b;
        }
        nl = still;
    }
}

static void permute(ref *a, const size_t *cnt, unsigned sh)
{
    permute_by(a, cnt, sh, NULL);
}

static void permute_mapped(ref *a, const size_t *cnt, unsigned sh, const unsigned char *map)
{
    permute_by(a, cnt, sh, map);
}

/* Counting the refs by a digit: neighbours often share it (a table's records in insertion
 * order, keys key1x key2x ...: byte 3 changes once in a million), and one counter bumped
 * again and again waits for its own last store each time; four histograms, one for every
 * fourth ref, keep four chains apart (30 M keys key<n>x, one thread: the count took 0.6 s of
 * a 1.7 s sort). */
#define SORT_COUNT_SPLIT 256 /* groups from this size count on four (in a slice with a scratch) */

/* cnt[v] += refs whose window's digit (w >> sh) & mask is v, or four[j][v] for every fourth
 * from the j-th when four is not NULL (n <= UINT32_MAX); @return the OR of every window's
 * difference from the first's. */
static uint64_t count_digits(const ref *a, size_t n, unsigned sh, uint64_t mask, size_t *cnt,
                             uint32_t (*four)[65536])
{
    uint64_t w0 = a[0].window, diff = 0;
    size_t i = 0;
    if (four != NULL) {
        for (; i + 4 <= n; i += 4) {
            uint64_t w[4] = {a[i].window, a[i + 1].window, a[i + 2].window, a[i + 3].window};
            diff |= (w[0] ^ w0) | (w[1] ^ w0) | (w[2] ^ w0) | (w[3] ^ w0);
            for (unsigned j = 0; j < 4; j++)
                four[j][(w[j] >> sh) & mask]++;
        }
    }
    for (; i < n; i++) {
        uint64_t w = a[i].window;
        diff |= w ^ w0;
        cnt[(w >> sh) & mask]++;
    }
    return diff;
}

/* Two window bytes as one digit: where a byte takes few values (digits, hex, DNA), a pass on
 * one byte splits a group in few buckets, and a group as large as the caches is permuted once
 * per byte (30 M keys key<n>x: 11 buckets a byte, seven passes over 480 MB of refs). The pair
 * takes one pass when the values it takes together number 256 or fewer. */
#define SORT_WIDE_MIN 1024    /* groups from this size try it */
#define SORT_WIDE_VALUES 16   /* ... when their first byte takes this many values or fewer */
#define SORT_PAIRS_MIN 262144 /* groups from this size count pairs whatever the first byte */

typedef struct sort_scratch {
    uint32_t four[4][65536];     /* count_digits()'s histograms; only the rows counted are used */
    size_t count[65536];         /* refs by the pair's value, rows of the first byte's values */
    unsigned char bucket[65536]; /* the pair's value -> its bucket, in order */
} sort_scratch;

static const size_t one_row[256] = {1}; /* the rows of a byte digit */

/* Count a[0, n) by digit into cnt (on s's four histograms when s is not NULL and n allows).
 * @param rows the rows cleared and counted: rows[r] != 0 for the digit's values r << 8 ...
 * (r << 8) + 255 (a byte digit: one_row; NULL: every row). @return as count_digits(). */
static uint64_t count_into(const ref *a, size_t n, unsigned sh, uint64_t mask, size_t *cnt,
                           sort_scratch *s, const size_t *rows)
{
    if (n < SORT_COUNT_SPLIT || n > UINT32_MAX) s = NULL;
    for (unsigned r = 0; r < 256; r++)
        if (rows == NULL || rows[r] != 0) {
            memset(&cnt[r << 8], 0, 256 * sizeof *cnt);
            for (unsigned j = 0; s != NULL && j < 4; j++)
                memset(&s->four[j][r << 8], 0, 256 * sizeof **s->four);
        }
    uint64_t diff = count_digits(a, n, sh, mask, cnt, s != NULL ? s->four : NULL);
    for (unsigned r = 0; s != NULL && r < 256; r++)
        if (rows == NULL || rows[r] != 0)
            for (unsigned v = r << 8; v < (r + 1) << 8; v++)
                cnt[v] += (size_t)s->four[0][v] + s->four[1][v] + s->four[2][v] + s->four[3][v];
    return diff;
}

/* The pairs counted in s->count (rows: the first byte's values, cnt[b] != 0) in buckets, in
 * order: s->bucket numbers them and wide[] gets the refs by bucket. @return false when they
 * take more than 256 values. */
static bool wide_buckets(sort_scratch *s, const size_t *cnt, size_t *wide)
{
    unsigned m = 0;
    for (unsigned b = 0; b < 256; b++)
        for (unsigned v = b << 8; cnt[b] != 0 && v < (b + 1) << 8; v++)
            if (s->count[v] != 0) {
                if (m == 256) return false;
                s->bucket[v] = (unsigned char)m;
                wide[m++] = s->count[v];
            }
    memset(wide + m, 0, (256 - m) * sizeof *wide);
    return true;
}

/* Sort the group a[0, n), tied on its first d + k string bytes, windows loaded at depth d, of
 * which only the first `need` must end sorted. Recurses into every bucket but the largest,
 * which the loop takes: the stack stays O(log n) deep whatever the keys. */
static void msd_sort(ref *a, size_t n, size_t need, size_t d, unsigned k, size_t koff,
                     sort_scratch *scr, const mrc_stop *stop)
{
    size_t cnt[256], ex[256];
    unsigned char kb[256]; /* after a sweep: the first byte where bucket b's new windows differ */
    while (n > 1 && need > 0) {
        if (n >= SORT_POLL_MIN && mrc_stopped(stop)) return; /* the caller reports it */
        if (n <= SORT_SMALL && k < 8) {
            /* The insertion sort reads the records of windows that tie: a group tied on its
             * whole window loads the next one instead. */
            uint64_t w0 = a[0].window, diff = 0;
            for (size_t i = 1; i < n; i++)
                diff |= a[i].window ^ w0;
            if (diff != 0) {
                insertion_sort(a, n, d + 8 - koff);
                return;
            }
            k = 8;
        }
        if (k == 8) { /* tied on the whole window */
            size_t e = reload(a, n, n, d + 8 - koff, &k, NULL, false, NULL);
            a += e;
            n -= e;
            need = need > e ? need - e : 0;
            d += 8;
            continue;
        }
        /* A large group is counted by pairs of bytes at once: the pass gives the byte's
         * counts as well, and the pairs' for free */
        unsigned sh = 56 - 8 * k;
        bool pairs = scr != NULL && k < 7 && n >= SORT_PAIRS_MIN && n <= UINT32_MAX;
        uint64_t diff;
        if (pairs) {
            diff = count_into(a, n, sh - 8, 0xffff, scr->count, scr, NULL);
            for (unsigned b = 0; b < 256; b++) {
                size_t sum = 0;
                for (unsigned v = b << 8; v < (b + 1) << 8; v++)
                    sum += scr->count[v];
                cnt[b] = sum;
            }
        } else {
            diff = count_into(a, n, sh, 0xff, cnt, scr, one_row);
        }
        /* skip bytes every window shares: one bucket would hold the whole group */
        unsigned first = first_diff(diff);
        if (first == 8) {
            k = 8;
            continue;
        }
        if (first != k) {
            k = first;
            sh = 56 - 8 * k;
            pairs = false;
            count_into(a, n, sh, 0xff, cnt, scr, one_row);
        }
        bool wide = false;
        if (scr != NULL && k < 7 && n >= SORT_WIDE_MIN && n <= UINT32_MAX) {
            unsigned values = 0;
            for (unsigned b = 0; b < 256; b++)
                values += cnt[b] != 0;
            if (!pairs && values <= SORT_WIDE_VALUES) {
                count_into(a, n, sh - 8, 0xffff, scr->count, scr, cnt);
                pairs = true;
            }
            wide = pairs && wide_buckets(scr, cnt, ex);
        }
        if (wide) {
            memcpy(cnt, ex, sizeof cnt);
            permute_mapped(a, cnt, sh - 8, scr->bucket);
            k++;
        } else {
            permute(a, cnt, sh);
        }
        memset(ex, 0, sizeof ex);
        bool swept = ++k == 8;
        if (swept) {
            /* The buckets of a window's last byte are tied on the whole window: their next
             * windows are loaded now, in one sweep over the group that fetches records ahead
             * across buckets (a bucket alone, often ten refs, is too short to hide a miss:
             * 1 M keys key<n>x, 0.09-0.13 s of CPU -> 0.08-0.10). ex[b]: strings that
             * ended. */
            size_t at = 0;
            for (unsigned b = 0; b < 256 && at < need; at += cnt[b++]) {
                unsigned kk = 8;
                if (cnt[b] > 1)
                    ex[b] = reload(a + at, cnt[b], n - at, d + 8 - koff, &kk, NULL, false, NULL);
                kb[b] = (unsigned char)kk;
            }
            d += 8;
        }
        /* bucket b's unsorted part: [at + ex[b], at + cnt[b]) */
        size_t big = 0, big_at = 0, at = 0;
        unsigned big_k = k;
        for (unsigned b = 0; b < 256 && at < need; at += cnt[b++])
            if (cnt[b] - ex[b] > big && at + ex[b] < need) {
                big = cnt[b] - ex[b];
                big_at = at + ex[b];
                big_k = swept ? kb[b] : k;
            }
        at = 0;
        for (unsigned b = 0; b < 256 && at < need; at += cnt[b++]) {
            size_t c = cnt[b] - ex[b], lo = at + ex[b];
            if (c > 1 && lo < need && lo != big_at)
                msd_sort(a + lo, c, c < need - lo ? c : need - lo, d, swept ? kb[b] : k, koff, scr,
                         stop);
        }
        if (big < 2) return;
        a += big_at;
        need = big < need - big_at ? big : need - big_at;
        n = big;
        k = big_k;
    }
}

/* The sort string's bytes that every record of a slice is guessed to share, from a sample:
 * their common prefix, at any byte (windows start wherever it ends: keys key<n>x share 3 bytes,
 * and a first window from byte 3 holds 8 digits, where one from byte 0 held 5 and sent every
 * ref to a reload); *pre gets a record that has them. @return that depth (0: none). */
static size_t shared_depth(const ref *a, size_t n, bool by_count, const unsigned char **pre)
{
    size_t step = n / SORT_GUESS_SAMPLE;
    if (step == 0) return 0; /* small: the first reload costs little */
    const unsigned char *p = a[0].rec;
    if (by_count) /* the counts first: a depth past them needs them all equal */
        for (size_t i = 1; i < SORT_GUESS_SAMPLE; i++)
            if (mrc_rec_count(a[step * i].rec) != mrc_rec_count(p)) return 0;
    size_t lcp = mrc_rec_len(p);
    for (size_t i = 1; i < SORT_GUESS_SAMPLE && lcp > 0; i++)
        lcp = key_lcp(p, a[step * i].rec, lcp);
    *pre = p;
    return lcp + (by_count ? 8 : 0);
}

/* ---- a count order with one common count ----
 * Most counts of words and n-grams are 1. A slice sorted by count loads every ref's count as
 * its first window, and the refs that tie on it (most of them) are then read again, in the
 * permuted order, for their keys' first windows: 15 M keys with Zipf counts on one thread,
 * reload() took half the sort. When a sample finds one count m in at least a quarter of the
 * records, one pass in memory order splits the refs in three, counts above m, m, below m
 * (the order's three ranges), each with its first window: the count for the first and last,
 * for m's the key's, past the prefix the sample's m-records share (checked on the way: a key
 * that lacks it or ends within it makes the prefix shorter, and the pass starts again: 3 M keys
 * key<n>x whose count 4 the sample saw in key2... only met key3000000x at the end; after two
 * such starts, with no prefix). 15 M keys key<n>x, three quarters count 1 (bench_output N
 * hapax), 5 interleaved rounds: one thread 0.96 s -> 0.68, two 0.63 -> 0.55; for keys longer
 * than a window (trigrams), whose m's tie on it and are read again anyway, no change. */

#define SORT_COMMON_MIN 4 /* m must be at least a 1/this of the sample */

/* The sample's most common count *m when common enough, the prefix its keys share (*ko bytes,
 * *pre a record that has it). @return false: none. */
static bool common_count(const ref *a, size_t n, uint64_t *m, size_t *ko, const unsigned char **pre)
{
    size_t step = n / SORT_GUESS_SAMPLE, most = 0;
    if (step == 0) return false;
    uint64_t c[SORT_GUESS_SAMPLE];
    for (size_t i = 0; i < SORT_GUESS_SAMPLE; i++)
        c[i] = mrc_rec_count(a[step * i].rec);
    for (size_t i = 0; i < SORT_GUESS_SAMPLE; i++) {
        size_t same = 0;
        for (size_t j = 0; j < SORT_GUESS_SAMPLE; j++)
            same += c[j] == c[i];
        if (same > most) {
            most = same;
            *m = c[i];
            *pre = a[step * i].rec;
        }
    }
    if (most * SORT_COMMON_MIN < SORT_GUESS_SAMPLE) return false;
    size_t lcp = mrc_rec_len(*pre);
    for (size_t i = 0; i < SORT_GUESS_SAMPLE && lcp > 0; i++)
        if (c[i] == *m) lcp = key_lcp(*pre, a[step * i].rec, lcp);
    *ko = lcp;
    return true;
}

typedef struct common_split {
    size_t lo, hi; /* counts above m: [0, lo); m: [lo, hi); below m: [hi, n) */
    unsigned k[3]; /* each range's first byte where its windows differ (8: none) */
} common_split;

static inline void swap_refs(ref *a, size_t i, size_t j)
{
    ref t = a[i];
    a[i] = a[j];
    a[j] = t;
}

enum { SPLIT_DONE, SPLIT_AGAIN, SPLIT_NOT };

/* The pass (a three-way partition, in place). A key of count m that ends where the prefix does
 * has window 0, as one that ends within the window: msd_sort() puts such ties by length.
 * @return SPLIT_AGAIN when a key of count m lacks the prefix or ends within it (*ko is then
 * shorter), SPLIT_NOT when stop was raised (the windows and order then unspecified). */
static int split_common(ref *a, size_t n, uint64_t m, size_t *ko_io, const unsigned char *pre,
                        common_split *sp, const mrc_stop *stop)
{
    size_t ko = *ko_io;
    uint64_t w0[3] = {0}, diff[3] = {0};
    bool seen[3] = {false, false, false};
    size_t lo = 0, i = 0, hi = n;
    for (size_t seen_refs = 0; i < hi; seen_refs++) {
        if (seen_refs % SORT_POLL_MIN == 0 && mrc_stopped(stop)) return SPLIT_NOT;
        if (i + SORT_PREFETCH < hi) fetch_window(a[i + SORT_PREFETCH].rec, ko);
        const unsigned char *r = a[i].rec;
        uint64_t c = mrc_rec_count(r), w;
        unsigned cls;
        if (c == m) {
            uint32_t len = mrc_rec_len(r);
            if (len < ko || !mrc_key_eq(mrc_rec_key(r), mrc_rec_key(pre), ko)) {
                *ko_io = key_lcp(r, pre, ko);
                return SPLIT_AGAIN;
            }
            w = key_window(r, ko);
            cls = 1;
        } else {
            w = ~c;
            cls = c > m ? 0 : 2;
        }
        if (!seen[cls]) {
            seen[cls] = true;
            w0[cls] = w;
        }
        diff[cls] |= w ^ w0[cls];
        a[i].window = w;
        if (cls == 0) {
            swap_refs(a, lo++, i++); /* a[lo] was one of m's, its window loaded */
        } else if (cls == 1) {
            i++;
        } else { /* the last unread ref takes its place, read next */
            swap_refs(a, i, --hi);
            if (hi > i + SORT_PREFETCH) __builtin_prefetch(a[hi - 1 - SORT_PREFETCH].rec);
        }
    }
    sp->lo = lo;
    sp->hi = hi;
    for (unsigned c = 0; c < 3; c++)
        sp->k[c] = first_diff(diff[c]);
    return SPLIT_DONE;
}

/* One slice: the first windows, then the radix sort. When a sample says every string starts
 * with the same bytes (every count 1 and keys "key...": 11 bytes), the first windows are
 * taken past them, checked on the way: the pass over the records, in memory order here, does
 * the work of the first reload (which comes after the refs are shuffled by the partition).
 * @return whether it split a count order by a common count (above). */
static bool sort_slice(ref *a, size_t n, size_t need, bool by_count, const mrc_stop *stop)
{
    size_t koff = by_count ? 8 : 0;
    /* without it (out of memory) the sort takes one byte a pass */
    sort_scratch *scr = n >= SORT_WIDE_MIN ? malloc(sizeof *scr) : NULL;
    const unsigned char *pre = NULL;
    size_t d = shared_depth(a, n, by_count, &pre);
    if (d > 0) {
        unsigned k;
        size_t e = reload(a, n, n, d - koff, &k, pre, by_count, stop);
        if (e != SIZE_MAX) {
            msd_sort(a + e, n - e, need > e ? need - e : 0, d, k, koff, scr, stop);
            free(scr);
            return false;
        }
    }
    uint64_t m = 0;
    size_t ko = 0;
    common_split sp;
    int split = SPLIT_NOT;
    if (by_count && common_count(a, n, &m, &ko, &pre)) /* also after a prefix that failed */
        for (int again = 0; (split = split_common(a, n, m, &ko, pre, &sp, stop)) == SPLIT_AGAIN;)
            if (++again == 2) ko = 0; /* shorter each time; a third pass at most with one */
    if (split == SPLIT_DONE) {
        /* each range on its own: above m from the counts, m's from its keys, below m */
        size_t at[4] = {0, sp.lo, sp.hi, n}, depth[3] = {0, 8 + ko, 0};
        for (unsigned c = 0; c < 3 && need > at[c]; c++) {
            size_t len = at[c + 1] - at[c];
            msd_sort(a + at[c], len, need - at[c] < len ? need - at[c] : len, depth[c], sp.k[c],
                     koff, scr, stop);
        }
        free(scr);
        return true;
    }
    uint64_t diff = 0, w0 = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % SORT_POLL_MIN == 0 && mrc_stopped(stop)) {
            free(scr);
            return false;
        }
        if (i + SORT_PREFETCH < n) __builtin_prefetch(a[i + SORT_PREFETCH].rec);
        uint64_t w = window_at(a[i].rec, 0, by_count);
        if (i == 0) w0 = w;
        diff |= w ^ w0;
        a[i].window = w;
    }
    msd_sort(a, n, need, 0, first_diff(diff), koff, scr, stop);
    free(scr);
    return false;
}

/* ---- on T threads: a sample partition, then one part per thread ----
 * T-1 splitters from a sorted sample cut the order into T parts; every thread classifies a
 * slice of the refs (its records read in memory order), the threads put the refs in part order
 * (below), and thread j sorts part j: the refs end in one sorted array, so nothing is merged when
 * they are written (a 2-way merge of sorted halves cost as much again as reading the records in
 * order: 30 M records, 2.5 s of CPU instead of 1.4). */

#define SORT_SAMPLE 1024    /* sampled refs per part: parts within a few percent of n/T */
#define SORT_MAX_PARTS 1024 /* the counts are parts x parts */

typedef struct sort_job {
    mrc_out_ref *refs;
    size_t n;
    uint64_t limit;
    bool by_count;
    size_t parts;
    const unsigned char **split; /* parts - 1 splitter records, ascending */
    size_t *counts;              /* parts x parts: refs of slice i in part c */
    size_t *bounds;              /* parts + 1: part j is refs[bounds[j], bounds[j + 1]) */
    const mrc_stop *stop;
    /* the parts as ranges of a digit of the first windows (below) */
    bool loaded;              /* the parts' windows are loaded at `depth` */
    size_t depth;             /* where the first windows start in the sort string */
    size_t ko;                /* the same as a key offset */
    const unsigned char *pre; /* a record with the prefix every string shares (depth > 0) */
    uint64_t w0;              /* a sample's window: every window has its bytes before the digit */
    unsigned k0, sh;          /* the digit: window bytes k0, k0 + 1 (window >> sh) */
    unsigned char *map;       /* 65536: digit -> part */
    atomic_bool off;          /* a record without the prefix or those bytes: the splitters' way */
    atomic_bool common;       /* a part's sort split its refs by a common count */
} sort_job;

static size_t slice_at(size_t n, size_t parts, size_t i)
{
    return n / parts * i + n % parts * i / parts; /* n * i / parts without overflow */
}

/* The part of a record: how many splitters come before or with it. */
static size_t part_of(const sort_job *j, const unsigned char *rec)
{
    size_t lo = 0, hi = j->parts - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mrc_out_rec_cmp(j->split[mid], rec, j->by_count) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Slice ti of the refs: each ref's part counted, its window set to it (the splitters' way), or
 * with j->map to its first window at j->depth, its part the map's of its digit; a ref that
 * breaks what the sample promised (the shared prefix, the window's bytes before the digit)
 * raises j->off and ends the pass. */
static int classify_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    sort_job *j = arg;
    if (ti >= j->parts) return 0;
    /* counted here, copied at the end: rows of neighbours share cache lines */
    size_t *cnt = calloc(j->parts, sizeof *cnt);
    if (cnt == NULL) return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    ref *a = j->refs;
    bool windows = j->map != NULL;
    unsigned before = 8 * j->k0; /* the window's bits before the digit, shared by all */
    for (size_t i = slice_at(j->n, j->parts, ti), end = slice_at(j->n, j->parts, ti + 1); i < end;
         i++) {
        if (i % SORT_POLL_MIN == 0 && (mrc_stopped(j->stop) || atomic_load(&j->off))) {
            free(cnt); /* its counts would be short */
            return mrc_stopped(j->stop) ? mrc_out_sort_stopped(err) : 0;
        }
        if (i + SORT_PREFETCH < end) {
            if (windows)
                fetch_window(a[i + SORT_PREFETCH].rec, j->ko);
            else
                __builtin_prefetch(a[i + SORT_PREFETCH].rec);
        }
        const unsigned char *r = a[i].rec;
        size_t c;
        if (windows) {
            uint64_t w = window_at(r, j->depth, j->by_count);
            if ((j->depth > 0 && !shares_prefix(r, j->pre, j->ko, j->by_count)) ||
                (before > 0 && (w ^ j->w0) >> (64 - before) != 0)) {
                atomic_store(&j->off, true);
                break;
            }
            a[i].window = w;
            c = j->map[(w >> j->sh) & 0xffff];
        } else {
            c = part_of(j, r);
            a[i].window = c;
        }
        cnt[c]++;
    }
    memcpy(j->counts + ti * j->parts, cnt, j->parts * sizeof *cnt);
    free(cnt);
    return 0;
}

/* Refs into part order by their windows (the part numbers, < parts; or with a map, at most 256
 * parts, map[the window's digit at sh]) on one thread, which moves each ref once (30 M refs, 2
 * parts: 0.06-0.07 s). */
static void permute_serial(ref *a, const size_t *bounds, size_t parts, const unsigned char *map,
                           unsigned sh)
{
    size_t cnt[256];
    memset(cnt, 0, sizeof cnt);
    if (parts <= 256) {
        for (size_t c = 0; c < parts; c++)
            cnt[c] = bounds[c + 1] - bounds[c];
        if (map != NULL)
            permute_mapped(a, cnt, sh, map);
        else
            permute(a, cnt, 0);
        return;
    }
    for (size_t c = 0; c < parts; c++) /* the high byte first, then the low byte within */
        cnt[c >> 8] += bounds[c + 1] - bounds[c];
    permute(a, cnt, 8);
    for (size_t hi = 0, at = 0; hi * 256 < parts; hi++) {
        size_t group = 0, low[256];
        memset(low, 0, sizeof low);
        for (size_t c = hi * 256; c < parts && c < hi * 256 + 256; c++)
            group += low[c & 0xff] = bounds[c + 1] - bounds[c];
        permute(a + at, low, 0);
        at += group;
    }
}

/* ---- refs into part order, in place, on the T threads ----
 * Each ref's window holds its part (< parts). Each thread gets a strip of every part's slots,
 * the part's T-th, and places refs only there, in rounds as permute_by() does: each unplaced
 * ref of each strip is swapped to the next free slot of its part's strip, unless that strip is
 * full (the ref waits); what comes back waits for the next round. The threads never meet. A
 * thread stops when a round placed less than an eighth of what it had left: the rest has no
 * room in its strips. Then, by what is left over all threads:
 *   - little (a few hundred of 30 M refs in a random order): one thread deals the refs left
 *     out to the places left, by part (a part has as many places left as refs left);
 *   - less than half of what the round began with (keys key<n>x in a table's order: a tenth):
 *     each part's refs left move to the end of its slots, and the threads take them in a new
 *     round, on new strips;
 *   - more (each part's refs mostly in one thread's strips): one thread moves every ref, as
 *     the one serial pass that this replaces did, which on 32 threads costs more than the parts'
 *     sorts.
 * 30 M refs key<n>x on 2 threads: 0.037-0.047 s in a random order against 0.059-0.075 for the
 * one pass; 0.040-0.045 against 0.033-0.035 in a table's order (two rounds). */

#define PERM_PAR_MIN ((size_t)1 << 16) /* fewer refs: one thread */
#define PERM_HOLD_MIN 4096             /* refs left over that may be dealt out, at least */

typedef struct perm_job {
    ref *a;
    const unsigned char *map; /* NULL: a ref's window is its part; else map[its digit at sh] */
    unsigned sh;
    size_t parts, nthreads, row;
    size_t *st, *ph, *pt; /* nthreads x row: thread i's strip of part c is [st, pt), of which
                           * [st, ph) placed, [ph, pt) not */
    size_t *gh, *gt;      /* parts: the round's slots of part c, [gh, gt), tiled by its strips */
} perm_job;

static inline size_t part_at(const perm_job *j, const ref *r)
{
    return j->map != NULL ? j->map[(r->window >> j->sh) & 0xffff] : (size_t)r->window;
}

static int place_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    perm_job *j = arg;
    ref *a = j->a;
    size_t *ph = j->ph + ti * j->row, *pt = j->pt + ti * j->row, left = 0;
    for (size_t c = 0; c < j->parts; c++)
        left += pt[c] - ph[c];
    for (size_t placed = left; left > 0 && placed * 8 >= left;) {
        placed = 0;
        for (size_t c = 0; c < j->parts; c++)
            for (size_t i = ph[c], end = pt[c]; i < end; i++) {
                size_t k = part_at(j, &a[i]);
                if (ph[k] == pt[k]) continue; /* no room: waits */
                size_t d = ph[k]++;
                ref t = a[d];
                a[d] = a[i];
                a[i] = t;
                placed++;
            }
        left -= placed;
    }
    return 0;
}

/* Part c's refs left in the strips moved to the end of its slots (each swapped with a placed
 * ref from there: as many of those as of refs left before it), for the next round. */
static void gather_left(const perm_job *j, size_t c, size_t tail)
{
    ref *a = j->a;
    size_t nt = j->nthreads, row = j->row;
    size_t li = 0, lp = j->ph[c];                       /* next ref left, in strip li */
    size_t pi = nt - 1, pp = j->ph[(nt - 1) * row + c]; /* placed refs below pp, strip pi */
    for (;;) {
        while (li < nt && lp == j->pt[li * row + c])
            if (++li < nt) lp = j->ph[li * row + c];
        if (li == nt || lp >= tail) return;
        while (pp == j->st[pi * row + c] && pi > 0) {
            pi--;
            pp = j->ph[pi * row + c];
        }
        if (pp == j->st[pi * row + c] || pp <= tail) return; /* never: the counts match */
        pp--;
        ref t = a[lp];
        a[lp++] = a[pp];
        a[pp] = t;
    }
}

static int gather_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    perm_job *j = arg;
    for (size_t c = ti; c < j->parts; c += j->nthreads) {
        size_t left = 0;
        for (size_t i = 0; i < j->nthreads; i++)
            left += j->pt[i * j->row + c] - j->ph[i * j->row + c];
        gather_left(j, c, j->gt[c] - left);
        j->gh[c] = j->gt[c] - left;
    }
    return 0;
}

/* The refs left in the threads' strips dealt out to the places left, by part. @return false,
 * having moved nothing, when the parts of the refs and of the places disagree (never, if every
 * other ref is in its part) or memory is short. */
static bool deal_left(const perm_job *j, size_t total)
{
    size_t parts = j->parts;
    ref *held = malloc((total ? total : 1) * sizeof *held);
    size_t *next = calloc(parts + 1, sizeof *next);
    bool ok = held != NULL && next != NULL;
    for (size_t i = 0; ok && i < j->nthreads; i++) /* refs of part c from next[c + 1] on */
        for (size_t c = 0; c < parts; c++)
            for (size_t h = j->ph[i * j->row + c]; h < j->pt[i * j->row + c]; h++)
                next[part_at(j, &j->a[h]) + 1]++;
    for (size_t c = 0; ok && c < parts; c++) {
        size_t places = 0;
        for (size_t i = 0; i < j->nthreads; i++)
            places += j->pt[i * j->row + c] - j->ph[i * j->row + c];
        ok = next[c + 1] == places;
        next[c + 1] += next[c];
    }
    for (size_t i = 0; ok && i < j->nthreads; i++)
        for (size_t c = 0; c < parts; c++)
            for (size_t h = j->ph[i * j->row + c]; h < j->pt[i * j->row + c]; h++)
                held[next[part_at(j, &j->a[h])]++] = j->a[h];
    /* next[c] is now where part c's refs end: each place left takes one of its part's */
    for (size_t i = 0; ok && i < j->nthreads; i++)
        for (size_t c = 0; c < parts; c++)
            for (size_t h = j->ph[i * j->row + c]; h < j->pt[i * j->row + c]; h++)
                j->a[h] = held[--next[c]];
    free(held);
    free(next);
    return ok;
}

/* Refs into part order (part c: refs[bounds[c], bounds[c + 1])); a ref's part is its window, or
 * with a map (at most 256 parts) map[its window's digit at sh]. */
static int permute_parts(ref *a, const size_t *bounds, size_t parts, const unsigned char *map,
                         unsigned sh, mrc_topo *topo, const mrc_placement *pl, mrc_err *err)
{
    size_t n = bounds[parts], nt = pl->nthreads;
    if (nt < 2 || n < PERM_PAR_MIN) {
        permute_serial(a, bounds, parts, map, sh);
        return 0;
    }
    perm_job j = {.a = a, .map = map, .sh = sh, .parts = parts, .nthreads = nt};
    j.row = (parts + 7) / 8 * 8; /* a thread's row on its own cache lines */
    j.st = malloc(3 * nt * j.row * sizeof *j.st);
    j.gh = malloc(2 * parts * sizeof *j.gh);
    if (j.st == NULL || j.gh == NULL) {
        free(j.st);
        free(j.gh);
        return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    }
    j.ph = j.st + nt * j.row;
    j.pt = j.ph + nt * j.row;
    j.gt = j.gh + parts;
    memcpy(j.gh, bounds, parts * sizeof *j.gh);
    memcpy(j.gt, bounds + 1, parts * sizeof *j.gt);
    size_t hold = n / 64 > PERM_HOLD_MIN ? n / 64 : PERM_HOLD_MIN;
    int rc = 0;
    for (size_t was = n;;) {
        for (size_t i = 0; i < nt; i++)
            for (size_t c = 0; c < parts; c++) {
                size_t r = j.gt[c] - j.gh[c];
                j.st[i * j.row + c] = j.ph[i * j.row + c] = j.gh[c] + slice_at(r, nt, i);
                j.pt[i * j.row + c] = j.gh[c] + slice_at(r, nt, i + 1);
            }
        if ((rc = mrc_run_tasks(topo, pl, place_task, &j, err)) != 0) break;
        size_t left = 0;
        for (size_t i = 0; i < nt; i++)
            for (size_t c = 0; c < parts; c++)
                left += j.pt[i * j.row + c] - j.ph[i * j.row + c];
        /* every ref is still of its part: one thread may always move them all */
        if (left <= hold) {
            if (left > 0 && !deal_left(&j, left)) permute_serial(a, bounds, parts, map, sh);
            break;
        }
        if (left > was / 2) { /* the strips do not fit the refs */
            permute_serial(a, bounds, parts, map, sh);
            break;
        }
        if ((rc = mrc_run_tasks(topo, pl, gather_task, &j, err)) != 0) break;
        was = left;
    }
    free(j.st);
    free(j.gh);
    return rc;
}

static int part_sort_task(size_t ti, void *arg, atomic_int *failed, mrc_err *err)
{
    (void)failed;
    (void)err;
    sort_job *j = arg;
    if (ti >= j->parts) return 0;
    size_t lo = j->bounds[ti], n = j->bounds[ti + 1] - lo, need = n;
    if (j->limit != 0) need = j->limit <= lo ? 0 : j->limit - lo < n ? (size_t)(j->limit - lo) : n;
    if (need == 0) return 0;
    if (!j->loaded) {
        if (sort_slice(j->refs + lo, n, need, j->by_count, j->stop)) atomic_store(&j->common, true);
        return 0;
    }
    /* tied on the prefix and the window bytes before the digit, windows loaded at depth */
    sort_scratch *scr = n >= SORT_WIDE_MIN ? malloc(sizeof *scr) : NULL;
    msd_sort(j->refs + lo, n, need, j->depth, j->k0, j->by_count ? 8 : 0, scr, j->stop);
    free(scr);
    return 0;
}

/* The splitters: T-1 records at even ranks of a sorted sample of evenly spaced refs. */
static int pick_splitters(sort_job *j, mrc_err *err)
{
    size_t s = j->parts * SORT_SAMPLE < j->n ? j->parts * SORT_SAMPLE : j->n;
    ref *sample = malloc((s ? s : 1) * sizeof *sample);
    if (sample == NULL) return mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    for (size_t i = 0; i < s; i++)
        sample[i] = j->refs[slice_at(j->n, s, i)];
    sort_slice(sample, s, s, j->by_count, NULL);
    for (size_t c = 1; c < j->parts; c++)
        j->split[c - 1] = s > 0 ? sample[slice_at(s, j->parts, c)].rec : NULL;
    free(sample);
    return 0;
}

/* ---- the parts as ranges of the first windows ----
 * When two bytes of the first window past the prefix that every string shares (if any) spread
 * a sample evenly, the parts are ranges of those two bytes (a digit): one pass over the records
 * loads each ref's window and counts its part, and each part's sort starts from those windows. The
 * splitters' classification reads every record once to place it, and each part's first reload reads
 * it again (15 M keys key<n>x in random order, the sort alone on 2 threads, 6 interleaved rounds:
 * 0.41-0.50 s -> 0.31-0.40, CPU 0.75-0.96 -> 0.56-0.70). A record found without the
 * prefix, or without the sample's window bytes before the digit, sends the sort the splitters'
 * way; so does a digit the sample says is skewed (counts, mostly 1, lead the strings of words). */

#define FUSE_SKEW_PCT 150 /* a part may hold this percentage of its share of the sample */

/* The digit and its map to parts from a sample, j->depth and j->pre from shared_depth().
 * @return false: the splitters' way (a sample outside the prefix, no digit, a skewed one, no
 * memory). */
static bool fuse_plan(sort_job *j)
{
    j->depth = shared_depth(j->refs, j->n, j->by_count, &j->pre);
    j->ko = j->depth - (j->by_count && j->depth > 0 ? 8 : 0);
    size_t s = j->parts * SORT_SAMPLE < j->n ? j->parts * SORT_SAMPLE : j->n;
    uint64_t *w = malloc(s * sizeof *w);
    uint32_t *hist = calloc(65536, sizeof *hist);
    j->map = malloc(65536);
    bool ok = w != NULL && hist != NULL && j->map != NULL && s > 0;
    uint64_t diff = 0;
    for (size_t i = 0; ok && i < s; i++) {
        const unsigned char *r = j->refs[slice_at(j->n, s, i)].rec;
        ok = j->depth == 0 || shares_prefix(r, j->pre, j->ko, j->by_count);
        w[i] = window_at(r, j->depth, j->by_count);
        diff |= w[i] ^ w[0];
    }
    j->k0 = first_diff(diff);
    ok = ok && j->k0 <= 6;
    if (ok) {
        j->w0 = w[0];
        j->sh = 48 - 8 * j->k0;
        for (size_t i = 0; i < s; i++)
            hist[(w[i] >> j->sh) & 0xffff]++;
        size_t c = 0, at = 0, in_part = 0, most = 0;
        for (size_t v = 0; v < 65536; v++) { /* part c takes digits until its share is reached */
            j->map[v] = (unsigned char)c;
            at += hist[v];
            in_part += hist[v];
            if (c + 1 < j->parts && at >= (c + 1) * s / j->parts) {
                most = in_part > most ? in_part : most;
                in_part = 0;
                c++;
            }
        }
        most = in_part > most ? in_part : most;
        ok = most * 100 <= s / j->parts * FUSE_SKEW_PCT + 100;
    }
    free(w);
    free(hist);
    if (!ok) {
        free(j->map);
        j->map = NULL;
    }
    return ok;
}

static int sort_parts(sort_job *j, mrc_topo *topo, const mrc_placement *pl, mrc_err *err)
{
    size_t p = j->parts;
    j->split = malloc(p * sizeof *j->split);
    j->counts = calloc(p * p, sizeof *j->counts);
    j->bounds = malloc((p + 1) * sizeof *j->bounds);
    int rc = 0;
    if (j->split == NULL || j->counts == NULL || j->bounds == NULL)
        rc = mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
    j->loaded = rc == 0 && p <= 256 && fuse_plan(j);
    if (j->loaded) {
        rc = mrc_run_tasks(topo, pl, classify_task, j, err);
        j->loaded = rc == 0 && !atomic_load(&j->off);
        if (!j->loaded) { /* the splitters' way, from the start */
            free(j->map);
            j->map = NULL;
            atomic_store(&j->off, false);
        }
    }
    if (rc == 0 && !j->loaded) rc = pick_splitters(j, err);
    /* a classification cut short by a stop fails: its counts would not match the windows */
    if (rc == 0 && !j->loaded) rc = mrc_run_tasks(topo, pl, classify_task, j, err);
    if (rc == 0) {
        size_t *totals = j->counts; /* row 0 becomes the sum of every row */
        for (size_t i = 1; i < p; i++)
            for (size_t c = 0; c < p; c++)
                totals[c] += j->counts[i * p + c];
        j->bounds[0] = 0;
        for (size_t c = 0; c < p; c++)
            j->bounds[c + 1] = j->bounds[c] + totals[c];
        rc = permute_parts(j->refs, j->bounds, p, j->map, j->sh, topo, pl, err);
        if (rc == 0) rc = mrc_run_tasks(topo, pl, part_sort_task, j, err);
    }
    free(j->split);
    free(j->counts);
    free(j->bounds);
    free(j->map);
    return rc;
}

int mrc_output_sort(mrc_out_ref *refs, size_t n, enum mrc_order order, uint64_t limit,
                    mrc_topo *topo, const mrc_placement *pl, const mrc_stop *stop,
                    mrc_out_sorted *out, mrc_err *err)
{
    memset(out, 0, sizeof *out);
    if (order != MRC_ORDER_COUNT && order != MRC_ORDER_KEY)
        return mrc_err_set(err, MRC_EINVAL, "output: cannot sort the result in order %d",
                           (int)order);
    sort_job j = {.refs = refs,
                  .n = n,
                  .limit = limit,
                  .by_count = order == MRC_ORDER_COUNT,
                  .parts = 1,
                  .stop = stop};
    if (topo != NULL && pl != NULL && pl->nthreads > 1 && n > 1)
        j.parts = pl->nthreads < SORT_MAX_PARTS ? pl->nthreads : SORT_MAX_PARTS;
    int rc = 0;
    if (j.parts > 1)
        rc = sort_parts(&j, topo, pl, err);
    else if (sort_slice(refs, n, limit != 0 && limit < n ? (size_t)limit : n, j.by_count, stop))
        atomic_store(&j.common, true);
    if (rc != 0) return rc;
    if (mrc_stopped(stop)) return mrc_out_sort_stopped(err);
    *out = (mrc_out_sorted){.refs = refs,
                            .n = n,
                            .order = order,
                            .limit = limit,
                            .records = limit != 0 && limit < n ? limit : n,
                            .by_windows = j.loaded,
                            .by_common = atomic_load(&j.common)};
    return 0;
}

/* ---- the sorted records one at a time ---- */

#define ITER_BATCH 32 /* records a stream reads ahead at a time */
#define ITER_AHEAD 16 /* records whose lines it fetches ahead */

struct mrc_out_iter {
    mrc_source src; /* first: the iterator as a stream */
    const mrc_out_sorted *s;
    size_t next, end;
    /* as a stream: views of the next records, read in a tight loop (a merge that read one
     * record per call between its comparisons and writes overlapped few misses: 30 M keys at
     * np 2, rank 0's own stream took 0.75 s of its merge) */
    size_t have, used;
    mrc_rec_view view[ITER_BATCH];
};

static int iter_source_next(mrc_source *src, mrc_rec_view *r, mrc_err *err)
{
    (void)err;
    mrc_out_iter *it = (mrc_out_iter *)(void *)src;
    if (it->used == it->have) {
        size_t n = 0;
        const mrc_out_ref *refs = it->s->refs;
        for (; n < ITER_BATCH && it->next < it->end; n++, it->next++) {
            if (it->next + ITER_AHEAD < it->end) mrc_rec_prefetch(refs[it->next + ITER_AHEAD].rec);
            const unsigned char *rec = refs[it->next].rec;
            it->view[n] = (mrc_rec_view){0, mrc_rec_count(rec), mrc_rec_key(rec), mrc_rec_len(rec)};
        }
        it->have = n;
        it->used = 0;
        if (n == 0) return 0;
    }
    *r = it->view[it->used++];
    return 1;
}

static void iter_source_close(mrc_source *src)
{
    mrc_output_iter_close((mrc_out_iter *)(void *)src);
}

mrc_out_iter *mrc_output_iter_open(const mrc_out_sorted *s, uint64_t first, mrc_err *err)
{
    mrc_out_iter *it = malloc(sizeof *it);
    if (it == NULL) {
        mrc_err_set(err, MRC_ENOMEM, "output: out of memory");
        return NULL;
    }
    size_t end = (size_t)s->records;
    *it = (mrc_out_iter){.src = {iter_source_next, iter_source_close},
                         .s = s,
                         .next = first < end ? (size_t)first : end,
                         .end = end};
    return it;
}

const unsigned char *mrc_output_iter_next(mrc_out_iter *it)
{
    if (it->next >= it->end) return NULL;
    if (it->next + ITER_AHEAD < it->end) mrc_rec_prefetch(it->s->refs[it->next + ITER_AHEAD].rec);
    return it->s->refs[it->next++].rec;
}

mrc_source *mrc_output_iter_source(mrc_out_iter *it)
{
    return &it->src;
}

void mrc_output_iter_close(mrc_out_iter *it)
{
    free(it);
}
