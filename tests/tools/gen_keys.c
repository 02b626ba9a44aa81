/* gen_keys.c - deterministic high-cardinality inputs for the vocabulary benchmark and tests:
 * KEYS distinct keys key1x ... keyKEYSx, each once (in order or shuffled) or with repeats up to
 * a total of TOKENS (uniform or Zipf-like multiplicities), split over N files. Streams: no table
 * of keys or tokens is ever held (a Feistel permutation shuffles, a selection sample places the
 * first occurrences), so 10^8 keys take seconds and a few MiB. Integer math and + - * / on
 * doubles only: same arguments -> same bytes on every machine. It prints nothing but errors. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "gen_common.h"

#define OUTBUF (1u << 20) /* write buffer per file */
#define MAX_TOKEN 32      /* "key" + 20 digits + "x" + separator, rounded up */
#define MAX_KEYS 4294967295ull

static const char usage_text[] =
    "usage: gen_keys OUTDIR KEYS [--tokens M] [--dist uniform|zipf] [--order seq|shuffle]\n"
    "                [--per-line K] [--files N] [--seed S]\n"
    "  Writes N files OUTDIR/part0000.txt... (default 8) holding the KEYS distinct keys\n"
    "  key1x ... keyKEYSx (KEYS <= 4294967295) as tokens, K to a line (default 1) separated by\n"
    "  one space.\n"
    "  --tokens M  M tokens in all (default and at least KEYS): every key once, plus M - KEYS\n"
    "              occurrences drawn independently, uniform over the keys or Zipf-like\n"
    "              (--dist zipf, the default: key i with weight about 1/i); the first\n"
    "              occurrences sit at uniformly random positions among the M.\n"
    "  --order     the first occurrences come as key1x, key2x, ... (seq, the default) or in a\n"
    "              shuffled order (shuffle).\n"
    "  File f holds tokens [f*M/N, (f+1)*M/N), whole lines, and ends with a newline. Same\n"
    "  arguments -> same bytes on every machine.\n";

/* ---- a permutation of [0, n) without a table ------------------------------------------------ */

typedef struct {
    uint64_t n;      /* the domain [0, n) */
    unsigned half;   /* bits of each Feistel half: 4^half >= n */
    uint64_t mask;   /* (1 << half) - 1 */
    uint64_t key[6]; /* round keys */
} perm_t;

static void perm_init(perm_t *p, uint64_t n, uint64_t seed)
{
    p->n = n;
    p->half = 1;
    while (p->half < 32 && (1ull << (2 * p->half)) < n)
        p->half++;
    p->mask = (1ull << p->half) - 1;
    for (int i = 0; i < 6; i++)
        p->key[i] = splitmix64(&seed);
}

/** perm_apply() : the image of x < n; a six-round Feistel network on 2*half bits, walked
 *  along its cycle until it lands below n (fewer than 4 steps on average, as 4^half < 4n). */
static uint64_t perm_apply(const perm_t *p, uint64_t x)
{
    do {
        uint64_t l = x >> p->half, r = x & p->mask;
        for (int i = 0; i < 6; i++) {
            uint64_t f = r ^ p->key[i];
            f = (f ^ (f >> 31)) * 0xBF58476D1CE4E5B9ull;
            f = (f ^ (f >> 29)) * 0x94D049BB133111EBull;
            uint64_t t = r;
            r = l ^ ((f ^ (f >> 32)) & p->mask);
            l = t;
        }
        x = (l << p->half) | r;
    } while (x >= p->n);
    return x;
}

/* ---- Zipf-like draws: power-of-two ranges of ranks, equal weight per full range ------------ */

typedef struct {
    alias_t ranges; /* range b holds keys [2^b, 2^(b+1)) (the last one cut at KEYS) */
    uint64_t first[64], size[64];
} zipf2_t;

/** zipf2_build() : Zipf with s = 1 made piecewise uniform: range b weighs its share of a full
 *  range (each full range of 1/i weighs about ln 2). @return 0, or -1 (memory). */
static int zipf2_build(zipf2_t *z, uint64_t keys)
{
    double w[64];
    uint32_t n = 0;
    for (uint64_t lo = 1; lo <= keys; lo <<= 1, n++) {
        uint64_t hi = lo * 2 - 1 < keys ? lo * 2 - 1 : keys;
        z->first[n] = lo;
        z->size[n] = hi - lo + 1;
        w[n] = (double)z->size[n] / (double)lo;
    }
    return alias_build(&z->ranges, w, n);
}

static uint64_t zipf2_sample(const zipf2_t *z, rng_t *r)
{
    uint32_t b = alias_sample(&z->ranges, r);
    return z->first[b] + rng_below(r, (uint32_t)z->size[b]);
}

/* ---- output -------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const char *path;
    char *buf;
    size_t n;
    int failed;
} out_t;

static void out_flush(out_t *o)
{
    if (o->n && !o->failed && fwrite(o->buf, 1, o->n, o->f) != o->n) {
        fprintf(stderr, "gen_keys: %s: write failed: %s\n", o->path, strerror(errno));
        o->failed = 1;
    }
    o->n = 0;
}

/** put_key() : "key<id>x" then sep at o's end. */
static inline void put_key(out_t *o, uint64_t id, char sep)
{
    char digits[20];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    char *p = o->buf + o->n;
    memcpy(p, "key", 3);
    p += 3;
    while (nd)
        *p++ = digits[--nd];
    *p++ = 'x';
    *p++ = sep;
    o->n = (size_t)(p - o->buf);
}

int main(int argc, char **argv)
{
    const char *outdir, *keys_arg, *dist = "zipf", *order = "seq";
    uint64_t keys, tokens = 0, per_line = 1, nfiles = 8, seed = 1;
    const gen_opt opts[] = {{"--tokens", &tokens, NULL, NULL, NULL},
                            {"--dist", NULL, NULL, &dist, "uniform or zipf"},
                            {"--order", NULL, NULL, &order, "seq or shuffle"},
                            {"--per-line", &per_line, NULL, NULL, NULL},
                            {"--files", &nfiles, NULL, NULL, NULL},
                            {"--seed", &seed, NULL, NULL, NULL}};
    int st = gen_parse_cli(argc, argv, "gen_keys", usage_text, opts, sizeof opts / sizeof *opts,
                           &outdir, &keys_arg);
    if (st >= 0) return st;
    if (parse_u64(keys_arg, &keys) || keys < 1 || keys > MAX_KEYS) {
        fprintf(stderr, "gen_keys: KEYS must be 1..%llu, not '%s'\n", MAX_KEYS, keys_arg);
        return 2;
    }
    if (tokens == 0) tokens = keys;
    int zipf = !strcmp(dist, "zipf"), shuffle = !strcmp(order, "shuffle");
    if ((!zipf && strcmp(dist, "uniform")) || (!shuffle && strcmp(order, "seq"))) {
        fprintf(stderr, "gen_keys: --dist must be uniform or zipf, --order seq or shuffle\n");
        return 2;
    }
    if (tokens < keys || tokens > (1ull << 52) || per_line < 1 || per_line > 1000000 ||
        nfiles < 1 || nfiles > 100000) {
        fprintf(stderr, "gen_keys: --tokens must be KEYS..2^52, --per-line 1..1000000 and "
                        "--files 1..100000\n");
        return 2;
    }
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_keys: %s: %s\n", outdir, strerror(errno));
        return 1;
    }

    rng_t rng;
    rng_seed(&rng, seed);
    perm_t perm;
    perm_init(&perm, keys, seed ^ 0x6B65797368756666ull);
    zipf2_t z = {0};
    if (zipf && zipf2_build(&z, keys)) {
        fprintf(stderr, "gen_keys: out of memory\n");
        return 1;
    }
    size_t pathlen = strlen(outdir) + 32;
    char *path = malloc(pathlen);
    out_t out = {.buf = malloc(OUTBUF + MAX_TOKEN)};
    if (!path || !out.buf) {
        fprintf(stderr, "gen_keys: out of memory\n");
        return 1;
    }
    /* Position j of the M tokens is the next first occurrence with probability
     * (firsts left) / (positions left) (selection sampling), else an independent draw. */
    uint64_t firsts = 0, j = 0;
    int status = 0;
    for (uint64_t fi = 0; fi < nfiles && !status; fi++) {
        uint64_t end = tokens / nfiles * (fi + 1) + tokens % nfiles * (fi + 1) / nfiles;
        snprintf(path, pathlen, "%s/part%04llu.txt", outdir, (unsigned long long)fi);
        out.f = fopen(path, "wb");
        out.path = path;
        out.failed = 0;
        if (!out.f) {
            fprintf(stderr, "gen_keys: %s: %s\n", path, strerror(errno));
            free(path), free(out.buf), alias_free(&z.ranges);
            return 1;
        }
        for (uint64_t col = 1; j < end; j++, col++) {
            uint64_t left = tokens - j, first_left = keys - firsts, id;
            if (first_left == left ||
                (first_left &&
                 (double)(rng_next(&rng) >> 11) * 0x1p-53 * (double)left < (double)first_left))
                id = (shuffle ? perm_apply(&perm, firsts++) : firsts++) + 1;
            else
                id = zipf ? zipf2_sample(&z, &rng) : (uint64_t)rng_below(&rng, (uint32_t)keys) + 1;
            if (col == per_line || j + 1 == end) col = 0;
            put_key(&out, id, col ? ' ' : '\n');
            if (out.n >= OUTBUF) out_flush(&out);
        }
        out_flush(&out);
        if (fclose(out.f) != 0 && !out.failed) {
            fprintf(stderr, "gen_keys: %s: %s\n", path, strerror(errno));
            out.failed = 1;
        }
        status = out.failed;
    }
    free(path), free(out.buf), alias_free(&z.ranges);
    return status;
}
