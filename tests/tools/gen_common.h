/* gen_common.h - what the data generators (gen_corpus, gen_ngrams) share: the PRNG
 * (xoshiro256** seeded through splitmix64), libm-free log/exp, weighted and Zipf (Vose alias)
 * sampling, a string hash and argument parsing; all of it deterministic, so the tools write
 * the same bytes on every machine for the same seed. Header-only: each tool stays one file
 * plus this, compilable alone with `cc tool.c`. */
#ifndef MRC_TESTS_GEN_COMMON_H
#define MRC_TESTS_GEN_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t s[4];
} rng_t;

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/** rng_below() : uniform integer in [0, n) (multiply-shift on the high 32 bits; n < 2^32). */
static inline uint32_t rng_below(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/** pick_weighted() : index i in [0, n) with probability w[i] / sum(w). */
static inline uint32_t pick_weighted(rng_t *r, const uint16_t *w, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += w[i];
    uint32_t x = rng_below(r, sum);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i]) return (uint32_t)i;
        x -= w[i];
    }
    return (uint32_t)(n - 1);
}

/* ---- libm-free log and exp, so weights are the same bits everywhere ---------------------- */

static inline double det_log(double x) /* x > 0 */
{
    const double ln2 = 0.6931471805599453094;
    int e = 0;
    while (x >= 2.0) {
        x *= 0.5;
        e++;
    }
    while (x < 1.0) {
        x *= 2.0;
        e--;
    }
    double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0.0;
    for (int k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2.0 * sum + e * ln2;
}

static inline double det_exp(double x)
{
    const double ln2 = 0.6931471805599453094;
    int n = 0;
    while (x > 0.5 * ln2) {
        x -= ln2;
        n++;
    }
    while (x < -0.5 * ln2) {
        x += ln2;
        n--;
    }
    double term = 1.0, sum = 1.0;
    for (int k = 1; k < 25; k++) {
        term *= x / k;
        sum += term;
    }
    for (; n > 0; n--)
        sum *= 2.0;
    for (; n < 0; n++)
        sum *= 0.5;
    return sum;
}

/* ---- Alias table (Vose) for O(1) weighted sampling --------------------------------------- */

typedef struct {
    uint32_t n;
    uint32_t *threshold; /* keep column i when the 32-bit coin <= threshold[i] */
    uint32_t *alias;
} alias_t;

/** alias_build() : the table for weights w[0..n) (w is used as scratch and left scaled).
 *  @return 0, or -1 when out of memory. */
static inline int alias_build(alias_t *a, double *w, uint32_t n)
{
    uint32_t *small = malloc(sizeof *small * n), *large = malloc(sizeof *large * n);
    a->n = n;
    a->threshold = malloc(sizeof *a->threshold * n);
    a->alias = malloc(sizeof *a->alias * n);
    if (!small || !large || !a->threshold || !a->alias) {
        free(small), free(large);
        return -1;
    }
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        w[i] = w[i] * n / total;
        if (w[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        uint32_t l = small[--ns], big = large[nl - 1];
        a->threshold[l] = (uint32_t)(w[l] * 4294967295.0);
        a->alias[l] = big;
        w[big] = (w[big] + w[l]) - 1.0;
        if (w[big] < 1.0) {
            nl--;
            small[ns++] = big;
        }
    }
    while (nl > 0) {
        uint32_t b = large[--nl];
        a->threshold[b] = UINT32_MAX;
        a->alias[b] = b;
    }
    while (ns > 0) {
        uint32_t l = small[--ns];
        a->threshold[l] = UINT32_MAX;
        a->alias[l] = l;
    }
    free(small), free(large);
    return 0;
}

static inline uint32_t alias_sample(const alias_t *a, rng_t *r)
{
    uint64_t x = rng_next(r);
    uint32_t col = (uint32_t)(((x >> 32) * (uint64_t)a->n) >> 32);
    return (uint32_t)x <= a->threshold[col] ? col : a->alias[col];
}

static inline void alias_free(alias_t *a)
{
    free(a->threshold), free(a->alias);
    a->threshold = a->alias = NULL;
}

/* ---- strings and arguments ---------------------------------------------------------------- */

static inline uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/** parse_u64() : a decimal number without sign. @return 0, or -1. */
static inline int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') return -1;
    *out = x;
    return 0;
}

/* ---- the vocabulary both generators draw from ---- */

/* English letter frequencies (per mille, roughly), split into consonants and vowels. */
static const char consonants[] = "tnshrdlcmwfgypbvkjxqz";
static const uint16_t consonant_w[] = {91, 67, 63, 61, 60, 43, 40, 28, 24, 24, 22,
                                       20, 20, 19, 15, 10, 8,  2,  2,  1,  1};
static const char vowels[] = "eaoiu";
static const uint16_t vowel_w[] = {127, 82, 75, 70, 28};

/* The most frequent English words, in frequency order: ranks 1..N of the vocabulary. */
static const char *const function_words[] = {
    "the",     "of",    "and",   "to",    "a",     "in",    "is",    "that",  "it",     "was",
    "for",     "on",    "as",    "with",  "he",    "be",    "by",    "at",    "his",    "I",
    "this",    "not",   "are",   "from",  "or",    "had",   "which", "but",   "have",   "they",
    "you",     "were",  "her",   "she",   "an",    "one",   "all",   "their", "there",  "been",
    "we",      "him",   "has",   "when",  "who",   "will",  "more",  "no",    "if",     "out",
    "so",      "said",  "what",  "up",    "its",   "about", "into",  "than",  "them",   "can",
    "only",    "other", "new",   "some",  "could", "time",  "these", "two",   "may",    "then",
    "do",      "first", "any",   "my",    "now",   "such",  "like",  "our",   "over",   "man",
    "me",      "even",  "most",  "made",  "after", "also",  "did",   "many",  "before", "must",
    "through", "back",  "years", "where", "much",  "your",  "way",   "well",  "down",   "should",
};
#define NFUNC (sizeof function_words / sizeof *function_words)

/* One option of a generator's command line: a number (*num), a flag (*flag = 1) or a word
 * (*word, `what` says which words). */
typedef struct gen_opt {
    const char *name;
    uint64_t *num;
    int *flag;
    const char **word;
    const char *what;
} gen_opt;

/** gen_parse_cli() : `tool [OPTION]... OUTDIR ARG` with the options of opts, --help/-h
 *  printing usage to stdout; errors go to stderr, named by tool. @return -1 when the caller
 *  goes on (*outdir and *size_arg set), else the exit status (0 after --help, 2 on misuse). */
static inline int gen_parse_cli(int argc, char **argv, const char *tool, const char *usage,
                                const gen_opt *opts, size_t nopts, const char **outdir,
                                const char **size_arg_out)
{
    const char *size_arg = NULL;
    *outdir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        const gen_opt *o = NULL;
        for (size_t k = 0; k < nopts && o == NULL; k++)
            if (!strcmp(a, opts[k].name)) o = &opts[k];
        if (o == NULL) {
            if (a[0] == '-' && a[1] != '\0') {
                fprintf(stderr, "%s: unknown option %s\n%s", tool, a, usage);
                return 2;
            } else if (!*outdir) {
                *outdir = a;
            } else if (!size_arg) {
                size_arg = a;
            } else {
                fprintf(stderr, "%s: extra argument %s\n%s", tool, a, usage);
                return 2;
            }
        } else if (o->flag) {
            *o->flag = 1;
        } else if (o->word) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs %s\n", tool, a, o->what);
                return 2;
            }
            *o->word = argv[++i];
        } else {
            if (i + 1 >= argc || parse_u64(argv[i + 1], o->num)) {
                fprintf(stderr, "%s: %s needs a non-negative integer\n", tool, a);
                return 2;
            }
            i++;
        }
    }
    if (!*outdir || !size_arg) {
        fputs(usage, stderr);
        return 2;
    }
    *size_arg_out = size_arg;
    return -1;
}

/** gen_parse_args() : gen_parse_cli() for `tool [OPTION]... OUTDIR SIZE_MiB`, SIZE_MiB a
 *  decimal number of MiB. @return -1 when the caller goes on (*outdir and *mib set), else the
 *  exit status (0 after --help, 2 on misuse). */
static inline int gen_parse_args(int argc, char **argv, const char *tool, const char *usage,
                                 const gen_opt *opts, size_t nopts, const char **outdir,
                                 double *mib)
{
    const char *size_arg;
    int st = gen_parse_cli(argc, argv, tool, usage, opts, nopts, outdir, &size_arg);
    if (st >= 0) return st;
    char *end;
    *mib = strtod(size_arg, &end);
    if (end == size_arg || *end || !(*mib >= 0.0) || *mib > 1048576.0) {
        fprintf(stderr, "%s: bad SIZE_MiB '%s'\n", tool, size_arg);
        return 2;
    }
    return -1;
}

#endif
