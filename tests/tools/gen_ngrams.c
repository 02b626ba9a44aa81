/* gen_ngrams.c - deterministic synthetic Google Books Ngram exports (v1 2009, v2 2012, v3 2020
 * layouts) for the tests, the demo and benchmarks, so that nothing has to be downloaded.
 * Zipf vocabulary of pseudo-words with capitalised twins and POS-tagged forms, year runs with
 * growth and noise, rows sorted like the real files. Integer math and + - * / on doubles only
 * (no libm): same arguments -> same bytes on every machine. It never prints anything but errors. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <zlib.h>

#include "gen_common.h"

/* a*b+c must not become one fused multiply-add on some machines and not on others */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define YEAR0 1500               /* first possible year of every format */
#define NYMAX (2019 - YEAR0 + 1) /* years 1500..2019 (v3); v1 and v2 end in 2008 */
#define MAX_ORDER 5
#define MAX_WORD 24              /* longest vocabulary word */
#define MAX_TOKEN (MAX_WORD + 6) /* word_PRON */
#define MAX_KEY (MAX_ORDER * (MAX_TOKEN + 1))
#define OUTBUF (1u << 22)      /* write buffer */
#define ROW_MAX (MAX_KEY + 96) /* one v1/v2 row or one v3 year entry at most */
#define KMAX 65536             /* draws of continuations per ngram prefix (order > 1) */
#define SCATTER_MAX 48.0       /* below this expected total, occurrences are scattered */
#define A_MAX 2e10             /* expected total match_count of rank 1 ("the") at most */
#define VOCAB_MAX 16777216u    /* the vocabulary grows up to this when SIZE needs it */
#define NCLASS 6               /* year-profile classes */

static const char usage_text[] =
    "usage: gen_ngrams OUTDIR SIZE_MiB [--format v1|v2|v3] [--files N] [--vocab V] [--order N]\n"
    "                  [--seed S] [--gzip] [--members K]\n"
    "  Writes N files (default 4) of synthetic Google Books Ngram exports into OUTDIR, totalling\n"
    "  about SIZE_MiB MiB uncompressed (a decimal number, e.g. 0.05). Rows are sorted by ngram\n"
    "  (bytewise, as LC_ALL=C sort) then year; each file holds a contiguous range of ngrams.\n"
    "    v1: ngram TAB year TAB match_count TAB page_count TAB volume_count\n"
    "        files googlebooks-eng-all-<N>gram-20090715-<i>.csv (i = 0, 1, ...), years ..2008\n"
    "    v2: ngram TAB year TAB match_count TAB volume_count (the default)\n"
    "        files googlebooks-eng-all-<N>gram-20120701-<ii> (ii = 00, 01, ...), years ..2008\n"
    "    v3: ngram TAB year,match_count,volume_count TAB ... (one line per ngram)\n"
    "        files <N>-<iiiii>-of-<nnnnn>, years ..2019\n"
    "  --vocab V   Zipf(s=1) vocabulary of V pseudo-words (default 20000); rarer words are added\n"
    "              when SIZE_MiB cannot be reached with V. ~10% have a capitalised twin (the, "
    "The);\n"
    "              v2 and v3 add tagged forms (word_NOUN, ...) and the tags _NOUN_, _VERB_, ...\n"
    "  --order N   ngrams of N space-separated tokens (1..5, default 1)\n"
    "  --seed S    default 1; same arguments -> same bytes on every machine\n"
    "  --gzip      compress every file (name + .gz) with zlib, as K gzip members (--members,\n"
    "              default 1) split at line boundaries\n";

/** rng_unif() : uniform double in (0, 1). */
static inline double rng_unif(rng_t *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/** mix64() : a 64-bit hash of x (the splitmix64 finaliser), for per-ngram seeds. */
static inline uint64_t mix64(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- Vocabulary and tokens --------------------------------------------------------------- */

enum { TK_PLAIN, TK_CAPS, TK_TAGGED, TK_TAGONLY };

static const char *const tag_names[] = {"NOUN", "VERB", "ADJ",  "ADV", "PRON", "DET",
                                        "ADP",  "NUM",  "CONJ", "PRT", "X"};
#define NTAGS 11
/* Expected total of the standalone tag ngrams _NOUN_ ..., per mille of rank 1's. */
static const uint32_t tagonly_permille[NTAGS] = {2600, 1600, 800, 500, 700, 1100,
                                                 1300, 200,  400, 300, 20};
/* Tag choice weights for content words and for the most frequent (function) words. */
static const uint16_t tag_w_content[NTAGS] = {50, 25, 18, 6, 0, 0, 0, 2, 0, 1, 1};
static const uint16_t tag_w_function[NTAGS] = {2, 4, 2, 10, 14, 16, 18, 1, 10, 12, 1};

typedef struct {
    double w;        /* expected total match_count = A * w (tagged forms: derived, see below) */
    uint32_t off;    /* the string is bytes[off .. off + len) */
    uint32_t rank;   /* rank of the base word (0 = most frequent); tag-only: the tag */
    uint32_t parent; /* tagged form: token of its untagged word */
    uint8_t len, kind, tag, slot; /* tagged form: its tag and index in the parent's tag list */
    uint8_t ntags, tags[3];       /* untagged word: its tagged forms */
    uint16_t share[3];            /* untagged word: per mille of its count going to each tag;
                                   * capitalised twin: share[0], per mille of the word's count */
} token_t;

typedef struct {
    int format, order; /* 1..3, 1..MAX_ORDER */
    uint64_t seed, seedkey;
    int ny; /* years YEAR0 .. YEAR0 + ny - 1 */
    uint32_t nwords;
    token_t *tok;
    uint32_t ntok, captok;
    char *bytes;
    size_t nbytes, capbytes;
    uint32_t *sorted;  /* token indexes in byte order of their strings */
    uint32_t *sortpos; /* inverse of sorted */
    /* order > 1: Zipf draws of the next token, over the tokens except _TAG_ */
    uint32_t nelig, *elig;
    alias_t draw; /* over elig, weights tok[].w */
    uint32_t *cnt;
    uint64_t *lvl[MAX_ORDER];
    /* year profiles */
    double share[NCLASS][NYMAX];
    uint64_t cum[NCLASS][NYMAX]; /* cumulative share * 2^32 */
    uint64_t books[NYMAX];       /* books printed that year, for volume_count */
    char yearstr[NYMAX][4];
    double expneg[64 * 64 + 2]; /* exp(-k / 64) */
} gen_t;

/* The usual tag of the first of them (index in tag_names): the_DET, of_ADP, and_CONJ, ... */
static const uint8_t function_tag[] = {5, 6, 8, 9, 5, 6, 1, 6, 4, 1, 6, 6,
                                       6, 6, 4, 1, 6, 6, 4, 4, 5, 3, 1, 6};
#define NFUNCTAG (sizeof function_tag / sizeof *function_tag)

/** make_word() : the candidate word for rank i at w; @return its length. ASCII letters, a few
 *  capitalised (proper nouns), a few with an apostrophe (word's, don't) or a hyphen inside. */
static size_t make_word(rng_t *r, uint32_t i, char *w)
{
    if (i < NFUNC) {
        size_t wl = strlen(function_words[i]);
        memcpy(w, function_words[i], wl);
        return wl;
    }
    size_t wl = 0;
    /* Frequent words are short: the mean length grows with log(rank), as in English. */
    double mean = 1.6 + 0.62 * det_log((double)i + 2.0);
    int target =
        (int)mean + (int)rng_below(r, 5) - 2 + (rng_below(r, 20) == 0 ? (int)rng_below(r, 6) : 0);
    if (target < 1) target = 1;
    if (target > MAX_WORD - 2) target = MAX_WORD - 2;
    int vowel_next = rng_below(r, 3) == 0;
    for (int k = 0; k < target; k++) {
        if (vowel_next)
            w[wl++] = vowels[pick_weighted(r, vowel_w, sizeof vowel_w / sizeof *vowel_w)];
        else
            w[wl++] =
                consonants[pick_weighted(r, consonant_w, sizeof consonant_w / sizeof *consonant_w)];
        vowel_next = rng_below(r, 10) < 8 ? !vowel_next : vowel_next;
    }
    uint32_t kind = rng_below(r, 1000);
    if (kind < 40)
        w[0] = (char)(w[0] - 'a' + 'A'); /* a proper noun, always capitalised */
    else if (kind < 48 && wl >= 2) {     /* word's, don't */
        w[wl++] = '\'';
        w[wl++] = rng_below(r, 3) ? 's' : 't';
    } else if (kind < 54 && wl > 3) /* hyphenated */
        w[1 + rng_below(r, (uint32_t)wl - 2)] = '-';
    return wl;
}

/** add_token() : append a token with string s; @return its index, or UINT32_MAX without memory. */
static uint32_t add_token(gen_t *g, const char *s, size_t len, int kind)
{
    if (g->ntok == g->captok) {
        uint32_t cap = g->captok ? g->captok * 2 : 1024;
        token_t *t = realloc(g->tok, sizeof *t * cap);
        if (!t) return UINT32_MAX;
        g->tok = t;
        g->captok = cap;
    }
    if (g->nbytes + len > g->capbytes) {
        size_t cap = g->capbytes ? g->capbytes * 2 : 65536;
        char *b = realloc(g->bytes, cap);
        if (!b) return UINT32_MAX;
        g->bytes = b;
        g->capbytes = cap;
    }
    token_t *t = &g->tok[g->ntok];
    memset(t, 0, sizeof *t);
    t->off = (uint32_t)g->nbytes;
    t->len = (uint8_t)len;
    t->kind = (uint8_t)kind;
    memcpy(g->bytes + g->nbytes, s, len);
    g->nbytes += len;
    return g->ntok++;
}

static const gen_t *sort_gen; /* for the qsort comparator */

static int cmp_token(const void *a, const void *b)
{
    const token_t *x = &sort_gen->tok[*(const uint32_t *)a],
                  *y = &sort_gen->tok[*(const uint32_t *)b];
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(sort_gen->bytes + x->off, sort_gen->bytes + y->off, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void vocab_free(gen_t *g)
{
    free(g->tok), free(g->bytes), free(g->sorted), free(g->sortpos);
    free(g->elig), free(g->cnt);
    alias_free(&g->draw);
    for (int i = 0; i < MAX_ORDER; i++)
        free(g->lvl[i]), g->lvl[i] = NULL;
    g->tok = NULL, g->bytes = NULL, g->sorted = g->sortpos = NULL;
    g->elig = g->cnt = NULL;
    g->ntok = g->captok = 0;
    g->nbytes = g->capbytes = 0;
}

/** vocab_build() : the n words and all their tokens, sorted; order > 1: the draw tables.
 *  The words and their variants come from one PRNG stream in rank order, so the first n words
 *  of a larger vocabulary are the same words. @return 0, or -1 without memory. */
static int vocab_build(gen_t *g, uint32_t n)
{
    vocab_free(g);
    g->nwords = n;
    uint32_t cap = 1;
    while (cap < 4u * n + 64)
        cap <<= 1;
    uint32_t *set = calloc(cap, sizeof *set); /* token index + 1 of words and twins, 0 = empty */
    if (!set) return -1;
    rng_t r;
    rng_seed(&r, g->seed ^ 0x766f636162756c61ull);
    int tagged_formats = g->format >= 2;
    for (uint32_t i = 0; i < n;) {
        char w[MAX_TOKEN + 2];
        size_t wl = make_word(&r, i, w);
        uint64_t h = fnv1a(w, wl);
        uint32_t slot = (uint32_t)h & (cap - 1);
        int dup = 0;
        while (set[slot]) {
            const token_t *o = &g->tok[set[slot] - 1];
            if (o->len == wl && memcmp(g->bytes + o->off, w, wl) == 0) {
                dup = 1;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
        if (dup) continue; /* draw another word for this rank */
        uint32_t t = add_token(g, w, wl, TK_PLAIN);
        if (t == UINT32_MAX) {
            free(set);
            return -1;
        }
        set[slot] = t + 1;
        g->tok[t].rank = i;
        g->tok[t].w = 1.0 / ((double)i + 1.0);
        /* Attributes, always drawn (so the stream does not depend on the format). */
        uint64_t a = rng_next(&r);
        int want_twin = (a & 1023) < (i < NFUNC ? 600u : 100u) && w[0] >= 'a' && w[0] <= 'z';
        uint32_t twin_permille = 20 + (uint32_t)((a >> 10) & 255);
        int want_tags = ((a >> 18) & 1023) < 300 || i < NFUNCTAG;
        uint32_t ntags = 1 + (uint32_t)((a >> 28) % 3);
        uint32_t total_share = 850 + (uint32_t)((a >> 30) % 151);
        uint32_t tags[3], sw[3], swsum = 0;
        for (uint32_t k = 0; k < 3; k++) {
            tags[k] = pick_weighted(&r, i < NFUNC ? tag_w_function : tag_w_content, NTAGS);
            sw[k] = 1 + rng_below(&r, 16);
        }
        if (i < NFUNCTAG) { /* its usual tag, with most of the count */
            tags[0] = function_tag[i];
            sw[0] = 48;
        }
        if (want_twin) {
            w[0] = (char)(w[0] - 'a' + 'A');
            h = fnv1a(w, wl);
            slot = (uint32_t)h & (cap - 1);
            dup = 0;
            while (set[slot]) {
                const token_t *o = &g->tok[set[slot] - 1];
                if (o->len == wl && memcmp(g->bytes + o->off, w, wl) == 0) {
                    dup = 1;
                    break;
                }
                slot = (slot + 1) & (cap - 1);
            }
            if (!dup) {
                uint32_t c = add_token(g, w, wl, TK_CAPS);
                if (c == UINT32_MAX) {
                    free(set);
                    return -1;
                }
                set[slot] = c + 1;
                g->tok[c].rank = i;
                g->tok[c].parent = t;
                g->tok[c].share[0] = (uint16_t)twin_permille;
                g->tok[c].w = g->tok[t].w * twin_permille / 1000.0;
            }
            w[0] = (char)(w[0] - 'A' + 'a');
        }
        if (want_tags && tagged_formats) {
            /* drop repeated tags */
            uint32_t nt = 0;
            for (uint32_t k = 0; k < ntags; k++) {
                int seen = 0;
                for (uint32_t j = 0; j < nt; j++)
                    seen |= tags[j] == tags[k];
                if (!seen) {
                    tags[nt] = tags[k];
                    sw[nt] = sw[k];
                    nt++;
                }
            }
            for (uint32_t k = 0; k < nt; k++)
                swsum += sw[k];
            g->tok[t].ntags = (uint8_t)nt;
            for (uint32_t k = 0; k < nt; k++) {
                char tw[MAX_TOKEN + 2];
                size_t tl = strlen(tag_names[tags[k]]);
                memcpy(tw, w, wl);
                tw[wl] = '_';
                memcpy(tw + wl + 1, tag_names[tags[k]], tl);
                uint32_t share = total_share * sw[k] / swsum;
                uint32_t c = add_token(g, tw, wl + 1 + tl, TK_TAGGED);
                if (c == UINT32_MAX) {
                    free(set);
                    return -1;
                }
                g->tok[t].tags[k] = (uint8_t)tags[k];
                g->tok[t].share[k] = (uint16_t)share;
                g->tok[c].rank = i;
                g->tok[c].parent = t;
                g->tok[c].tag = (uint8_t)tags[k];
                g->tok[c].slot = (uint8_t)k;
                /* order 1: its rows derive from the word's; order > 1: drawn less often */
                g->tok[c].w = g->tok[t].w * share / (g->order > 1 ? 4000.0 : 1000.0);
            }
        }
        i++;
    }
    free(set);
    if (tagged_formats && g->order == 1)
        for (uint32_t k = 0; k < NTAGS; k++) { /* _NOUN_, _VERB_, ... */
            char tw[16];
            size_t tl = strlen(tag_names[k]);
            tw[0] = '_';
            memcpy(tw + 1, tag_names[k], tl);
            tw[tl + 1] = '_';
            uint32_t c = add_token(g, tw, tl + 2, TK_TAGONLY);
            if (c == UINT32_MAX) return -1;
            g->tok[c].rank = k;
            g->tok[c].tag = (uint8_t)k;
            g->tok[c].w = tagonly_permille[k] / 1000.0;
        }
    g->sorted = malloc(sizeof *g->sorted * g->ntok);
    g->sortpos = malloc(sizeof *g->sortpos * g->ntok);
    if (!g->sorted || !g->sortpos) return -1;
    for (uint32_t i = 0; i < g->ntok; i++)
        g->sorted[i] = i;
    sort_gen = g;
    qsort(g->sorted, g->ntok, sizeof *g->sorted, cmp_token);
    for (uint32_t i = 0; i < g->ntok; i++)
        g->sortpos[g->sorted[i]] = i;
    if (g->order > 1) {
        g->elig = malloc(sizeof *g->elig * g->ntok);
        g->cnt = calloc(g->ntok, sizeof *g->cnt);
        if (!g->elig || !g->cnt) return -1;
        g->nelig = 0;
        for (uint32_t i = 0; i < g->ntok; i++)
            if (g->tok[i].kind != TK_TAGONLY) g->elig[g->nelig++] = i;
        for (int l = 0; l < g->order; l++)
            if (!(g->lvl[l] = malloc(sizeof *g->lvl[l] * KMAX))) return -1;
        double *w = malloc(sizeof *w * (g->nelig ? g->nelig : 1));
        if (!w) return -1;
        for (uint32_t i = 0; i < g->nelig; i++)
            w[i] = g->tok[g->elig[i]].w;
        int rc = alias_build(&g->draw, w, g->nelig);
        free(w);
        if (rc) return -1;
    }
    return 0;
}

static inline uint32_t draw_token(const gen_t *g, rng_t *r)
{
    return g->elig[alias_sample(&g->draw, r)];
}

/** token_code() : identity of a token that does not depend on the vocabulary size. */
static inline uint64_t token_code(const token_t *t)
{
    if (t->kind == TK_TAGONLY) return (1ull << 40) | t->tag;
    return ((uint64_t)t->rank << 8) | (t->kind == TK_TAGGED ? 16u + t->tag : t->kind);
}

/* ---- Year profiles ----------------------------------------------------------------------- */

static void years_build(gen_t *g)
{
    /* growth per year of the 6 profiles; 4 and 5 peak (1860, 1940) and then decline */
    static const double rate[NCLASS] = {0.012, 0.018, 0.024, 0.030, 0.030, 0.024};
    static const double decline[NCLASS] = {0, 0, 0, 0, 0.010, 0.015};
    static const int peak[NCLASS] = {9999, 9999, 9999, 9999, 1860, 1940};
    for (int c = 0; c < NCLASS; c++) {
        double w = 1.0, total = 0.0;
        for (int i = 0; i < g->ny; i++) {
            g->share[c][i] = w;
            total += w;
            w *= YEAR0 + i < peak[c] ? 1.0 + rate[c] : 1.0 - decline[c];
        }
        double run = 0.0;
        for (int i = 0; i < g->ny; i++) {
            g->share[c][i] = g->share[c][i] / total;
            run += g->share[c][i];
            g->cum[c][i] = (uint64_t)(run * 4294967296.0);
        }
        g->cum[c][g->ny - 1] = 1ull << 32;
    }
    for (int i = 0; i < g->ny; i++) {
        int y = YEAR0 + i;
        g->books[i] = 2 + (uint64_t)(600.0 * det_exp(0.03 * (y - 1800)));
        g->yearstr[i][0] = (char)('0' + y / 1000);
        g->yearstr[i][1] = (char)('0' + y / 100 % 10);
        g->yearstr[i][2] = (char)('0' + y / 10 % 10);
        g->yearstr[i][3] = (char)('0' + y % 10);
    }
    for (int k = 0; k < 64 * 64 + 2; k++)
        g->expneg[k] = det_exp(-k / 64.0);
}

/** poisson() : Poisson(lam) for lam < 64 (Knuth; exp(-lam) from the table, refined by Taylor). */
static uint64_t poisson(const gen_t *g, rng_t *r, double lam)
{
    if (!(lam > 0.0)) return 0;
    int k = (int)(lam * 64.0);
    double d = lam - k / 64.0;
    double L = g->expneg[k] * (1.0 - d * (1.0 - d * (0.5 - d / 6.0)));
    double p = 1.0;
    for (uint64_t n = 0;; n++) {
        p *= rng_unif(r);
        if (p <= L) return n;
    }
}

/* ---- One ngram's rows -------------------------------------------------------------------- */

typedef struct {
    int n;
    uint16_t year[NYMAX]; /* index: year - YEAR0 */
    uint64_t m[NYMAX], v[NYMAX], p[NYMAX];
} rows_t;

/** volumes() : volume_count (saturating in the books of the year) and page_count of each row. */
static void volumes(const gen_t *g, rng_t *r, rows_t *o)
{
    for (int i = 0; i < o->n; i++) {
        uint64_t b = rng_next(r), m = o->m[i], books = g->books[o->year[i]];
        uint64_t v = m * books / (m + books);
        v -= v * (b & 255) / 1024;
        if (v < 1) v = 1;
        if (v > m) v = m;
        o->v[i] = v;
        o->p[i] = v + (m - v) * (128 + ((b >> 8) & 127)) / 256;
    }
}

/** gen_rows() : the rows of an ngram of expected total count M. Profile class, birth year and a
 *  hole come from the ngram's own PRNG (key), so its rows depend only on key and M; cls_fixed >= 0
 *  (the most frequent words): that profile, from the first year on, no hole. */
static void gen_rows(const gen_t *g, uint64_t key, double M, int cls_fixed, rows_t *o)
{
    rng_t r;
    rng_seed(&r, key);
    uint64_t a = rng_next(&r);
    int cls = cls_fixed >= 0 ? cls_fixed : (int)(((a & 0xFFFF) * NCLASS) >> 16);
    int y0 = 0, gap_lo = 0, gap_hi = 0;
    if (cls_fixed < 0 && ((a >> 16) & 1023) < 280) /* a word that appears late: in 1540..1999 */
        y0 = 40 + (int)((((a >> 26) & 0xFFFF) * 460) >> 16);
    if (cls_fixed < 0 && ((a >> 42) & 1023) < 100) { /* some years missing */
        gap_lo = (int)rng_below(&r, 420);
        gap_hi = gap_lo + 3 + (int)rng_below(&r, 30);
    }
    int ny = g->ny;
    o->n = 0;
    if (M < SCATTER_MAX) { /* rare: Poisson(M) occurrences, each in a year drawn by profile */
        uint16_t ys[256];
        uint64_t nocc = poisson(g, &r, M);
        int n = 0;
        if (nocc > 256) nocc = 256;
        const uint64_t *cum = g->cum[cls];
        for (uint64_t k = 0; k < nocc; k++) {
            uint64_t u = rng_next(&r) >> 32;
            int lo = 0, hi = ny - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (cum[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            if (lo < y0 || (lo >= gap_lo && lo < gap_hi)) continue;
            int j = n++;
            while (j > 0 && ys[j - 1] > lo) {
                ys[j] = ys[j - 1];
                j--;
            }
            ys[j] = (uint16_t)lo;
        }
        for (int k = 0; k < n;) {
            int e = k;
            while (e < n && ys[e] == ys[k])
                e++;
            o->year[o->n] = ys[k];
            o->m[o->n++] = (uint64_t)(e - k);
            k = e;
        }
    } else {
        const double *sh = g->share[cls];
        for (int i = y0; i < ny; i++) {
            if (i >= gap_lo && i < gap_hi) continue;
            double lam = M * sh[i];
            uint64_t c;
            if (lam < 16.0)
                c = poisson(g, &r, lam);
            else { /* lam times a noise factor in [0.5, 1.5] (sum of 4 uniforms) */
                uint64_t b = rng_next(&r);
                double z = (double)((b & 0xFFFF) + ((b >> 16) & 0xFFFF) + ((b >> 32) & 0xFFFF) +
                                    (b >> 48));
                double f = 1.0 + 0.25 * (z / 65536.0 - 2.0);
                c = (uint64_t)(lam * f);
            }
            if (c) {
                o->year[o->n] = (uint16_t)i;
                o->m[o->n++] = c;
            }
        }
    }
    volumes(g, &r, o);
}

/** derive_tagged() : rows of the tagged form `slot` of the untagged word u, whose rows are p:
 *  each year the tagged forms share out at most the untagged count (as the real v3 data). */
static void derive_tagged(const gen_t *g, const token_t *u, uint64_t key, int slot, const rows_t *p,
                          rows_t *o)
{
    rng_t r;
    rng_seed(&r, key ^ 0x7461676765640000ull);
    o->n = 0;
    for (int i = 0; i < p->n; i++) {
        uint64_t b = rng_next(&r), left = p->m[i], mine = 0;
        for (int s = 0; s < u->ntags; s++) {
            uint64_t x = p->m[i] * u->share[s] * (192 + ((b >> (6 * s)) & 63));
            uint64_t c = x / 256000, rem = x % 256000;
            if ((((b >> (24 + 13 * s)) & 8191) * 256000 >> 13) < rem) c++; /* random rounding */
            if (c > left) c = left;
            left -= c;
            if (s == slot) mine = c;
        }
        if (mine) {
            o->year[o->n] = p->year[i];
            o->m[o->n++] = mine;
        }
    }
    volumes(g, &r, o);
    for (int i = 0, j = 0; i < o->n; i++) { /* in no more books than the untagged word */
        while (p->year[j] != o->year[i])
            j++;
        if (o->v[i] > p->v[j]) o->v[i] = p->v[j];
        if (o->p[i] > p->p[j]) o->p[i] = p->p[j];
        if (o->p[i] < o->v[i]) o->p[i] = o->v[i];
    }
}

/* ---- Output ------------------------------------------------------------------------------ */

typedef struct {
    const gen_t *g;
    rows_t rows, prow; /* the current ngram's rows, the last untagged word's rows */
    uint32_t prow_tok;
    /* estimation (dry run): weighted bytes of a sample, nothing written */
    int dry;
    double est, weight;
    /* writing */
    uint64_t budget, written; /* uncompressed bytes over all files */
    uint32_t nfiles, fi;
    int stop, failed, gz;
    uint32_t members, members_done;
    uint64_t file_base, member_next;
    const char *outdir;
    char *path;
    size_t pathlen;
    FILE *f;
    char *buf;
    size_t n;
    z_stream z;
    int z_ready;
    unsigned char *zbuf;
} sink_t;

#define ZBUF (1u << 18)

static void sink_fail(sink_t *s, const char *cause)
{
    if (!s->failed) fprintf(stderr, "gen_ngrams: %s: %s\n", s->path, cause);
    s->failed = 1;
    s->stop = 1;
}

static void z_run(sink_t *s, int flush)
{
    s->z.next_in = (unsigned char *)s->buf;
    s->z.avail_in = (unsigned)s->n;
    int rc;
    do {
        s->z.next_out = s->zbuf;
        s->z.avail_out = ZBUF;
        rc = deflate(&s->z, flush);
        if (rc == Z_STREAM_ERROR) {
            sink_fail(s, "deflate failed");
            return;
        }
        size_t have = ZBUF - s->z.avail_out;
        if (have && !s->failed && fwrite(s->zbuf, 1, have, s->f) != have)
            sink_fail(s, strerror(errno));
    } while (flush == Z_FINISH ? rc != Z_STREAM_END : s->z.avail_out == 0);
}

static void sink_flush(sink_t *s)
{
    if (s->gz)
        z_run(s, Z_NO_FLUSH);
    else if (s->n && !s->failed && fwrite(s->buf, 1, s->n, s->f) != s->n)
        sink_fail(s, strerror(errno));
    s->file_base += s->n;
    s->n = 0;
}

static uint64_t per_file(const sink_t *s)
{
    return s->budget / s->nfiles;
}

static void member_end(sink_t *s)
{
    sink_flush(s);
    z_run(s, Z_FINISH);
    deflateReset(&s->z);
    s->members_done++;
    uint64_t j = s->members_done + 1;
    if (j < s->members) {
        s->member_next = j * per_file(s) / s->members;
        if (s->member_next < 1) s->member_next = 1;
    } else
        s->member_next = 0;
}

static const char *file_name(const sink_t *s, uint32_t i)
{
    const char *ext = s->gz ? ".gz" : "";
    int o = s->g->order;
    if (s->g->format == 1)
        snprintf(s->path, s->pathlen, "%s/googlebooks-eng-all-%dgram-20090715-%u.csv%s", s->outdir,
                 o, i, ext);
    else if (s->g->format == 2)
        snprintf(s->path, s->pathlen, "%s/googlebooks-eng-all-%dgram-20120701-%02u%s", s->outdir, o,
                 i, ext);
    else
        snprintf(s->path, s->pathlen, "%s/%d-%05u-of-%05u%s", s->outdir, o, i, s->nfiles, ext);
    return s->path;
}

static int file_open(sink_t *s, uint32_t i)
{
    s->fi = i;
    file_name(s, i);
    s->f = fopen(s->path, "wb");
    if (!s->f) {
        sink_fail(s, strerror(errno));
        return -1;
    }
    s->file_base = 0;
    s->n = 0;
    s->members_done = 0;
    s->member_next = 0;
    if (s->gz && s->members > 1) {
        s->member_next = per_file(s) / s->members;
        if (s->member_next < 1) s->member_next = 1;
    }
    return 0;
}

static void file_close(sink_t *s)
{
    if (!s->f) return;
    if (s->gz) {
        member_end(s);
        while (s->members_done < s->members)
            member_end(s); /* short file: empty members */
    } else
        sink_flush(s);
    if (fclose(s->f) != 0) sink_fail(s, strerror(errno));
    s->f = NULL;
}

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static inline int ndig(uint64_t x)
{
    int n = 1;
    while (x >= 10000) {
        x /= 10000;
        n += 4;
    }
    return n + (x >= 10) + (x >= 100) + (x >= 1000);
}

static inline char *put_u64(char *p, uint64_t x)
{
    int n = ndig(x);
    char *e = p + n;
    while (x >= 100) {
        unsigned d = (unsigned)(x % 100);
        x /= 100;
        e -= 2;
        memcpy(e, digit_pairs + 2 * d, 2);
    }
    if (x >= 10) {
        e -= 2;
        memcpy(e, digit_pairs + 2 * x, 2);
    } else
        *--e = (char)('0' + x);
    return p + n;
}

static double rows_bytes(const gen_t *g, size_t kl, const rows_t *w)
{
    uint64_t b = 0;
    if (g->format == 3) {
        b = kl + 1;
        for (int i = 0; i < w->n; i++)
            b += 7 + ndig(w->m[i]) + ndig(w->v[i]);
    } else
        for (int i = 0; i < w->n; i++) {
            b += kl + 8 + ndig(w->m[i]) + ndig(w->v[i]);
            if (g->format == 1) b += 1 + ndig(w->p[i]);
        }
    return (double)b;
}

/** emit() : write (or, dry, count) the rows of the ngram key; switches files at their share of
 *  the budget and stops at the budget, both at ngram boundaries. */
static void emit(sink_t *s, const char *key, size_t kl, const rows_t *w)
{
    if (!w->n) return;
    const gen_t *g = s->g;
    if (s->dry) {
        s->est += s->weight * rows_bytes(g, kl, w);
        return;
    }
    while (s->fi + 1 < s->nfiles && s->written >= (s->fi + 1) * per_file(s)) {
        file_close(s);
        if (file_open(s, s->fi + 1)) return;
    }
    if (s->written >= s->budget) {
        s->stop = 1;
        return;
    }
    uint64_t before = s->file_base + s->n;
    if (g->format == 3) {
        if (s->n + kl + 1 > OUTBUF) sink_flush(s);
        memcpy(s->buf + s->n, key, kl);
        s->n += kl;
        for (int i = 0; i < w->n; i++) {
            if (s->n + ROW_MAX > OUTBUF) sink_flush(s);
            char *p = s->buf + s->n;
            *p++ = '\t';
            memcpy(p, g->yearstr[w->year[i]], 4);
            p += 4;
            *p++ = ',';
            p = put_u64(p, w->m[i]);
            *p++ = ',';
            p = put_u64(p, w->v[i]);
            s->n = (size_t)(p - s->buf);
        }
        s->buf[s->n++] = '\n';
        if (s->member_next && s->file_base + s->n >= s->member_next) member_end(s);
    } else {
        for (int i = 0; i < w->n; i++) {
            if (s->n + ROW_MAX > OUTBUF) sink_flush(s);
            char *p = s->buf + s->n;
            memcpy(p, key, kl);
            p += kl;
            *p++ = '\t';
            memcpy(p, g->yearstr[w->year[i]], 4);
            p += 4;
            *p++ = '\t';
            p = put_u64(p, w->m[i]);
            *p++ = '\t';
            if (g->format == 1) {
                p = put_u64(p, w->p[i]);
                *p++ = '\t';
            }
            p = put_u64(p, w->v[i]);
            *p++ = '\n';
            s->n = (size_t)(p - s->buf);
            if (s->member_next && s->file_base + s->n >= s->member_next) member_end(s);
        }
    }
    s->written += s->file_base + s->n - before;
}

/* ---- Enumeration in byte order ----------------------------------------------------------- */

/* Dry runs estimate the bytes from a sample of ranks: the frequent ranks all, others 1 in k. */
static double sample_weight(int order, uint32_t rank)
{
    if (order == 1) return rank < 512 ? 1.0 : rank % 4 == 0 ? 4.0 : 0.0;
    if (rank < 256) return 1.0;
    if (rank < 4096) return rank % 4 == 0 ? 4.0 : 0.0;
    return rank % 16 == 0 ? 16.0 : 0.0;
}

static void run_order1(sink_t *s, double A)
{
    const gen_t *g = s->g;
    s->prow_tok = UINT32_MAX;
    for (uint32_t k = 0; k < g->ntok && !s->stop; k++) {
        uint32_t t = g->sorted[k];
        const token_t *tk = &g->tok[t];
        if (s->dry && !(s->weight = sample_weight(1, tk->rank))) continue;
        const char *key = g->bytes + tk->off;
        if (tk->kind == TK_TAGGED) {
            const token_t *u = &g->tok[tk->parent];
            uint64_t ukey = mix64(g->seedkey ^ mix64(token_code(u)));
            if (s->prow_tok != tk->parent) {
                gen_rows(g, ukey, A * u->w, u->rank < 200 ? 2 : -1, &s->prow);
                s->prow_tok = tk->parent;
            }
            derive_tagged(g, u, ukey, tk->slot, &s->prow, &s->rows);
        } else {
            int cls = tk->kind == TK_TAGONLY || tk->rank < 200 ? 2 : -1;
            gen_rows(g, mix64(g->seedkey ^ mix64(token_code(tk))), A * tk->w, cls, &s->rows);
        }
        emit(s, key, tk->len, &s->rows);
    }
}

/** expand() : the ngrams below the prefix key[0..kl) of `level` tokens and expected count M.
 *  Continuations are min(M, KMAX) Zipf draws; each distinct one gets M * its draws / draws. */
static void expand(sink_t *s, char *key, size_t kl, int level, uint64_t h, double M, uint32_t last)
{
    const gen_t *g = s->g;
    rng_t r;
    rng_seed(&r, h ^ 0x6e6f64652d2d2d2dull);
    uint32_t K;
    if (M >= KMAX)
        K = KMAX;
    else {
        K = (uint32_t)M;
        if (rng_unif(&r) < M - K) K++;
    }
    if (!K) return;
    uint64_t *lst = g->lvl[level];
    uint32_t *cnt = g->cnt;
    uint32_t d = 0;
    for (uint32_t i = 0; i < K; i++) {
        uint32_t t = draw_token(g, &r);
        if (t == last) t = draw_token(g, &r); /* "the the" is rare */
        if (cnt[t]++ == 0) lst[d++] = t;
    }
    for (uint32_t i = 0; i < d; i++) {
        uint32_t t = (uint32_t)lst[i];
        lst[i] = (uint64_t)g->sortpos[t] << 32 | cnt[t];
        cnt[t] = 0;
    }
    qsort(lst, d, sizeof *lst, cmp_u64);
    int leaf = level + 1 == g->order;
    double wsave = s->weight;
    for (uint32_t i = 0; i < d && !s->stop; i++) {
        if (s->dry && leaf && d > 64) { /* estimate from 1 leaf in 4 */
            if (i % 4) continue;
            s->weight = wsave * 4.0;
        }
        uint32_t t = g->sorted[lst[i] >> 32];
        const token_t *tk = &g->tok[t];
        double Mc = M * (double)(uint32_t)lst[i] / (double)K;
        key[kl] = ' ';
        memcpy(key + kl + 1, g->bytes + tk->off, tk->len);
        size_t nkl = kl + 1 + tk->len;
        uint64_t hc = mix64(h ^ mix64(token_code(tk) + (uint64_t)level));
        if (leaf) {
            gen_rows(g, hc, Mc, -1, &s->rows);
            emit(s, key, nkl, &s->rows);
        } else
            expand(s, key, nkl, level + 1, hc, Mc, t);
    }
    s->weight = wsave;
}

static void run_tree(sink_t *s, double A)
{
    const gen_t *g = s->g;
    char key[MAX_KEY + 8];
    for (uint32_t k = 0; k < g->ntok && !s->stop; k++) {
        uint32_t t = g->sorted[k];
        const token_t *tk = &g->tok[t];
        if (tk->kind == TK_TAGONLY) continue;
        if (s->dry && !(s->weight = sample_weight(g->order, tk->rank))) continue;
        memcpy(key, g->bytes + tk->off, tk->len);
        expand(s, key, tk->len, 1, mix64(g->seedkey ^ mix64(token_code(tk))), A * tk->w, t);
    }
}

static void run(sink_t *s, double A)
{
    if (s->g->order == 1)
        run_order1(s, A);
    else
        run_tree(s, A);
}

static double estimate(sink_t *s, double A)
{
    s->dry = 1;
    s->est = 0.0;
    s->stop = 0;
    run(s, A);
    s->dry = 0;
    return s->est;
}

/** calibrate() : the scale A (expected total count of rank 1) whose estimated output is target
 *  bytes: safeguarded secant steps on log(bytes) against log(A). @return A; *short_ when even
 *  A_MAX gives less than the target (then the vocabulary must grow). */
static double calibrate(sink_t *s, double target, double A, int *short_)
{
    double lo = 0.0, hi = 0.0, pA = 0.0, pe = 0.0, best = A, best_err = 1e300;
    *short_ = 0;
    for (int it = 0; it < 40; it++) {
        double e = estimate(s, A);
        double err = e > 0.0 ? det_log(e / target) : 1e300;
        if (err < 0) err = -err;
        if (err < best_err) best_err = err, best = A;
        if (err < 0.01) break;
        if (e < target) {
            if (A > lo) lo = A;
            if (A >= A_MAX) {
                *short_ = 1;
                return A_MAX;
            }
        } else if (hi == 0.0 || A < hi)
            hi = A;
        double next;
        if (!(e > 0.0))
            next = A * 16.0;
        else {
            double alpha = 1.0;
            if (pA > 0.0 && pe > 0.0 && pA != A && pe != e) {
                alpha = det_log(e / pe) / det_log(A / pA);
                if (alpha < 0.25) alpha = 0.25;
                if (alpha > 2.0) alpha = 2.0;
            }
            double step = det_exp(det_log(target / e) / alpha);
            if (step > 16.0) step = 16.0;
            if (step < 1.0 / 16.0) step = 1.0 / 16.0;
            next = A * step;
        }
        if (lo > 0.0 && hi > 0.0 && (next <= lo || next >= hi))
            next = det_exp(0.5 * (det_log(lo) + det_log(hi)));
        if (next > A_MAX) next = A_MAX;
        if (hi > 0.0 && lo > 0.0 && hi / lo < 1.0001) break;
        pA = A, pe = e, A = next;
    }
    return best;
}

/* ---- Main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *outdir, *format_arg = "v2";
    double mib;
    uint64_t nfiles = 4, nvocab = 20000, order = 1, seed = 1, members = 1;
    int gz = 0;
    const gen_opt opts[] = {{"--gzip", NULL, &gz, NULL, NULL},
                            {"--format", NULL, NULL, &format_arg, "v1, v2 or v3"},
                            {"--files", &nfiles, NULL, NULL, NULL},
                            {"--vocab", &nvocab, NULL, NULL, NULL},
                            {"--order", &order, NULL, NULL, NULL},
                            {"--seed", &seed, NULL, NULL, NULL},
                            {"--members", &members, NULL, NULL, NULL}};
    int st = gen_parse_args(argc, argv, "gen_ngrams", usage_text, opts, sizeof opts / sizeof *opts,
                            &outdir, &mib);
    if (st >= 0) return st;
    int format = !strcmp(format_arg, "v1")   ? 1
                 : !strcmp(format_arg, "v2") ? 2
                 : !strcmp(format_arg, "v3") ? 3
                                             : 0;
    if (!format) {
        fprintf(stderr, "gen_ngrams: --format must be v1, v2 or v3, not '%s'\n", format_arg);
        return 2;
    }
    if (nfiles < 1 || nfiles > 99999 || nvocab < 1 || nvocab > VOCAB_MAX || order < 1 ||
        order > MAX_ORDER || members < 1 || members > 10000) {
        fprintf(stderr,
                "gen_ngrams: --files must be 1..99999, --vocab 1..%u, --order 1..%d, --members "
                "1..10000\n",
                VOCAB_MAX, MAX_ORDER);
        return 2;
    }
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_ngrams: %s: %s\n", outdir, strerror(errno));
        return 1;
    }

    static gen_t gen; /* big tables: not on the stack */
    gen.format = format;
    gen.order = (int)order;
    gen.seed = seed;
    gen.seedkey = mix64(seed ^ 0x6e6772616d732121ull);
    gen.ny = (format == 3 ? 2019 : 2008) - YEAR0 + 1;
    years_build(&gen);
    sink_t *s = calloc(1, sizeof *s);
    if (!s || vocab_build(&gen, (uint32_t)nvocab)) {
        fprintf(stderr, "gen_ngrams: out of memory\n");
        return 1;
    }
    s->g = &gen;
    s->outdir = outdir;
    s->pathlen = strlen(outdir) + 64;
    s->path = malloc(s->pathlen);
    s->buf = malloc(OUTBUF);
    s->budget = (uint64_t)(mib * 1048576.0);
    s->nfiles = (uint32_t)nfiles;
    s->gz = gz;
    s->members = (uint32_t)members;
    if (!s->path || !s->buf) {
        fprintf(stderr, "gen_ngrams: out of memory\n");
        return 1;
    }
    snprintf(s->path, s->pathlen, "%s", outdir);

    double A = 0.0;
    if (s->budget > 0) {
        double target = 0.98 * (double)s->budget; /* aim a little low: the cut at the budget
                                                   * would drop the last ngrams (z...) */
        A = target / (40.0 * (det_log((double)nvocab + 1.0) + 1.0));
        if (A > A_MAX) A = A_MAX;
        for (;;) {
            int short_;
            A = calibrate(s, target, A, &short_);
            if (!short_ || gen.nwords >= VOCAB_MAX) break;
            uint32_t nw = gen.nwords > VOCAB_MAX / 2 ? VOCAB_MAX : gen.nwords * 2;
            if (vocab_build(&gen, nw)) {
                fprintf(stderr, "gen_ngrams: out of memory\n");
                return 1;
            }
        }
    }

    if (gz) {
        s->zbuf = malloc(ZBUF);
        if (!s->zbuf ||
            deflateInit2(&s->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            fprintf(stderr, "gen_ngrams: out of memory\n");
            return 1;
        }
        s->z_ready = 1;
    }
    s->stop = 0;
    if (file_open(s, 0) == 0) {
        if (s->budget > 0) run(s, A);
        if (!s->failed) {
            file_close(s);
            for (uint32_t i = s->fi + 1; i < s->nfiles && !s->failed; i++) /* empty tail files */
                if (file_open(s, i) == 0) file_close(s);
        }
    }
    if (s->f) fclose(s->f);
    int status = s->failed;
    if (s->z_ready) deflateEnd(&s->z);
    free(s->zbuf), free(s->buf), free(s->path), free(s);
    vocab_free(&gen);
    return status;
}
