/* gen_corpus.c - deterministic English-like text corpus for the demo, tests and benchmarks.
 * Writes N files of lines of Zipf-distributed synthetic words (capitals, attached punctuation,
 * a few UTF-8 words, rare very long tokens, tabs and CRLF line ends). Every byte comes from an
 * explicit PRNG and from + - * / on doubles only (no libm), so the output is byte-identical on
 * every machine for the same arguments. It must never print anything but errors. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "gen_common.h"

#define GEN_MAX_WORD 64       /* longest vocabulary word in bytes (UTF-8 included) */
#define GEN_OUTBUF (1u << 20) /* write buffer per file */
#define GEN_MAX_LINE (16 * (4000 + GEN_MAX_WORD + 8) + 8) /* 15 tokens, each at worst a long URL   \
                                                           */
#define GEN_ZIPF_S 1.07                                   /* Zipf exponent of the vocabulary */

static const char usage_text[] =
    "usage: gen_corpus OUTDIR SIZE_MiB [--files N] [--vocab V] [--seed S] [--ascii]\n"
    "  Writes N files OUTDIR/part0000.txt... (default 8) totalling SIZE_MiB MiB (a decimal\n"
    "  number, e.g. 0.25) of English-like text from a Zipf(s=1.07) vocabulary of V words\n"
    "  (default 50000). Same arguments -> same bytes on every machine.\n"
    "  --ascii: printable ASCII words only (no UTF-8 words, no control bytes), so that\n"
    "  `LC_ALL=C wc -w` counts exactly the tokens of the words rule.\n";

/** rng_chance() : true with probability num / 2^20. */
static inline int rng_chance(rng_t *r, uint32_t num)
{
    return (rng_next(r) >> 44) < num;
}

#define PPM(x) ((uint32_t)((x)*1048576.0 / 1e6)) /* parts per million -> num of rng_chance */

/** zipf_build() : the alias table of Zipf(s) over n ranks. @return 0, or -1 (memory). */
static int zipf_build(alias_t *a, uint32_t n, double s)
{
    double *w = malloc(sizeof *w * n);
    if (!w) return -1;
    for (uint32_t i = 0; i < n; i++)
        w[i] = det_exp(-s * det_log((double)i + 1.0));
    int rc = alias_build(a, w, n);
    free(w);
    return rc;
}

/* ---- Vocabulary -------------------------------------------------------------------------- */

typedef struct {
    char *bytes;   /* all words back to back */
    uint32_t *off; /* word i = bytes[off[i] .. off[i] + len[i]) */
    uint8_t *len;
    uint32_t n;
} vocab_t;

static int vocab_build(vocab_t *v, uint32_t n, rng_t *r, int ascii_only)
{
    v->n = n;
    v->bytes = calloc((size_t)n + 1, GEN_MAX_WORD); /* + 1: emit_line copies GEN_MAX_WORD bytes */
    v->off = malloc(sizeof *v->off * n);
    v->len = malloc(sizeof *v->len * n);
    uint32_t cap = 1;
    while (cap < 2u * n)
        cap <<= 1;
    uint32_t *set = calloc(cap, sizeof *set); /* word index + 1, 0 = empty */
    if (!v->bytes || !v->off || !v->len || !set) {
        free(set);
        return -1;
    }
    static const char *const accents[] = {"\xc3\xa9", "\xc3\xaf", "\xc3\xb6",
                                          "\xc3\xbc", "\xc3\xa0", "\xc3\xa8",
                                          "\xc3\xa2", "\xc3\xb1", "\xc3\xa7"};
    static const char rsquo[] = "\xe2\x80\x99"; /* U+2019, as in "don’t" */
    size_t used = 0;
    for (uint32_t i = 0; i < n;) {
        char w[GEN_MAX_WORD];
        size_t wl = 0;
        if (i < NFUNC) { /* the top ranks read as English */
            wl = strlen(function_words[i]);
            memcpy(w, function_words[i], wl);
            goto add;
        }
        /* Frequent words are short: the mean length grows with log(rank), as in English. */
        double mean = 1.6 + 0.62 * det_log((double)i + 2.0);
        int target = (int)mean + (int)rng_below(r, 5) - 2 +
                     (rng_chance(r, PPM(50000)) ? (int)rng_below(r, 6) : 0);
        if (target < 1) target = 1;
        if (target > 22) target = 22;
        int vowel_next = rng_below(r, 3) == 0;
        for (int k = 0; k < target; k++) {
            if (vowel_next)
                w[wl++] = vowels[pick_weighted(r, vowel_w, sizeof vowel_w / sizeof *vowel_w)];
            else
                w[wl++] = consonants[pick_weighted(r, consonant_w,
                                                   sizeof consonant_w / sizeof *consonant_w)];
            /* mostly alternate, sometimes two consonants or vowels in a row */
            vowel_next = rng_below(r, 10) < 8 ? !vowel_next : vowel_next;
        }
        uint32_t kind = rng_below(r, 1000);
        if (kind < 40) {
            w[0] = (char)(w[0] - 'a' + 'A');   /* a proper noun, always capitalized */
        } else if (kind < 55 && !ascii_only) { /* a borrowed word with an accent: café, naïve */
            size_t pos = rng_below(r, (uint32_t)wl);
            const char *acc = accents[rng_below(r, sizeof accents / sizeof *accents)];
            memmove(w + pos + 2, w + pos + 1, wl - pos - 1);
            memcpy(w + pos, acc, 2);
            wl += 1;
        } else if (kind < 58 && !ascii_only) { /* typographic apostrophe: word’s */
            memcpy(w + wl, rsquo, 3);
            wl += 3;
            w[wl++] = 's';
        } else if (kind < 66) { /* ASCII apostrophe: word's, don't */
            w[wl++] = '\'';
            w[wl++] = rng_below(r, 2) ? 's' : 't';
        } else if (kind < 70) { /* a number */
            wl = 0;
            int digits = 1 + (int)rng_below(r, 4);
            for (int k = 0; k < digits; k++)
                w[wl++] = (char)('0' + rng_below(r, 10));
        } else if (kind < 74 && wl > 3) { /* hyphenated */
            w[rng_below(r, (uint32_t)wl - 2) + 1] = '-';
        }
    add:;
        uint64_t h = fnv1a(w, wl);
        uint32_t slot = (uint32_t)h & (cap - 1);
        int dup = 0;
        while (set[slot]) {
            uint32_t j = set[slot] - 1;
            if (v->len[j] == wl && memcmp(v->bytes + v->off[j], w, wl) == 0) {
                dup = 1;
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
        if (dup) continue; /* draw another word for this rank */
        set[slot] = i + 1;
        memcpy(v->bytes + used, w, wl);
        v->off[i] = (uint32_t)used;
        v->len[i] = (uint8_t)wl;
        used += wl;
        i++;
    }
    free(set);
    return 0;
}

/* ---- Text -------------------------------------------------------------------------------- */

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
        fprintf(stderr, "gen_corpus: %s: write failed: %s\n", o->path, strerror(errno));
        o->failed = 1;
    }
    o->n = 0;
}

/** emit_line() : one line of 5-15 tokens (or a blank paragraph break) at line; @return its length.
 *  Two PRNG draws per token: one picks the word, one is cut into bit fields for the rest. */
static size_t emit_line(char *line, const vocab_t *v, const alias_t *z, rng_t *r, int ascii_only,
                        int *sentence_start)
{
    static const char long_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789/._-=&%";
    size_t n = 0;
    if (rng_chance(r, PPM(40000))) { /* blank line between paragraphs */
        if (rng_chance(r, PPM(30000))) line[n++] = '\r';
        line[n++] = '\n';
        *sentence_start = 1;
        return n;
    }
    int words = 5 + (int)rng_below(r, 11);
    for (int k = 0; k < words; k++) {
        uint64_t bits = rng_next(r);
        uint32_t sep = (uint32_t)(bits & 1023); /* 10 bits: separator before the token */
        uint32_t rare = (uint32_t)((bits >> 10) & 0xFFFFF); /* 20 bits: very long token */
        uint32_t quote = (uint32_t)((bits >> 30) & 4095);   /* 12 bits: "quoted" */
        uint32_t cap = (uint32_t)((bits >> 42) & 127);      /* 7 bits: capitalized mid-sentence */
        uint32_t punct = (uint32_t)(bits >> 49);            /* 15 bits: punctuation after it */
        if (k > 0) {
            if (sep < 6)
                line[n++] = '\t';
            else if (sep < 10) {
                line[n++] = ' ';
                line[n++] = ' ';
            } else if (sep < 11 && !ascii_only) {
                line[n++] = '\f'; /* rare: form feed and vertical tab are whitespace too */
            } else if (sep < 12 && !ascii_only) {
                line[n++] = '\v';
            } else
                line[n++] = ' ';
        }
        if (rare < 8) { /* about 8 per million tokens: a URL of 200-4000 bytes */
            uint32_t len = 200 + rng_below(r, 3800);
            memcpy(line + n, "https://", 8);
            n += 8;
            for (uint32_t i = 8; i < len; i++)
                line[n++] = long_chars[rng_below(r, sizeof long_chars - 1)];
            continue;
        }
        uint32_t id = alias_sample(z, r);
        const char *w = v->bytes + v->off[id];
        size_t wl = v->len[id];
        int quoted = quote < 25; /* 0.6% */
        if (quoted) line[n++] = '"';
        memcpy(line + n, w, GEN_MAX_WORD); /* fixed-size copy: the arena is padded for it */
        if ((*sentence_start || cap == 0) && line[n] >= 'a' && line[n] <= 'z')
            line[n] = (char)(line[n] - ('a' - 'A'));
        n += wl;
        *sentence_start = 0;
        if (quoted) line[n++] = '"';
        if (punct >= 3840) /* 88% of tokens have no punctuation */
            continue;
        if (punct < 1800)
            line[n++] = ',';
        else if (punct < 3110) {
            line[n++] = '.';
            *sentence_start = 1;
        } else if (punct < 3370)
            line[n++] = ';';
        else if (punct < 3530)
            line[n++] = ':';
        else if (punct < 3690) {
            line[n++] = '?';
            *sentence_start = 1;
        } else if (punct < 3800) {
            line[n++] = '!';
            *sentence_start = 1;
        } else if (!ascii_only) {
            memcpy(line + n, "\xe2\x80\x94", 3); /* em dash glued to the word */
            n += 3;
        }
    }
    if (rng_chance(r, PPM(30000))) line[n++] = '\r'; /* CRLF line */
    line[n++] = '\n';
    return n;
}

int main(int argc, char **argv)
{
    const char *outdir;
    double mib;
    uint64_t nfiles = 8, nvocab = 50000, seed = 1;
    int ascii_only = 0;
    const gen_opt opts[] = {{"--ascii", NULL, &ascii_only, NULL, NULL},
                            {"--files", &nfiles, NULL, NULL, NULL},
                            {"--vocab", &nvocab, NULL, NULL, NULL},
                            {"--seed", &seed, NULL, NULL, NULL}};
    int st = gen_parse_args(argc, argv, "gen_corpus", usage_text, opts, sizeof opts / sizeof *opts,
                            &outdir, &mib);
    if (st >= 0) return st;
    if (nfiles < 1 || nfiles > 100000 || nvocab < 1 || nvocab > 50000000) {
        fprintf(stderr, "gen_corpus: --files must be 1..100000 and --vocab 1..50000000\n");
        return 2;
    }
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_corpus: %s: %s\n", outdir, strerror(errno));
        return 1;
    }

    rng_t rng;
    rng_seed(&rng, seed);
    vocab_t vocab;
    alias_t zipf;
    if (vocab_build(&vocab, (uint32_t)nvocab, &rng, ascii_only) ||
        zipf_build(&zipf, (uint32_t)nvocab, GEN_ZIPF_S)) {
        fprintf(stderr, "gen_corpus: out of memory\n");
        return 1;
    }
    uint64_t total = (uint64_t)(mib * 1048576.0);
    out_t out = {.buf = malloc(GEN_OUTBUF + GEN_MAX_LINE)};
    if (!out.buf) {
        fprintf(stderr, "gen_corpus: out of memory\n");
        return 1;
    }
    int status = 0;
    size_t pathlen = strlen(outdir) + 32;
    char *path = malloc(pathlen);
    if (!path) return 1;
    for (uint64_t fi = 0; fi < nfiles && !status; fi++) {
        /* Each file has exactly its share of bytes; the last line is cut back to whole lines
         * and padded with '\n', so every file ends with a newline and no token is cut. */
        uint64_t size = total / nfiles + (fi < total % nfiles ? 1 : 0);
        snprintf(path, pathlen, "%s/part%04llu.txt", outdir, (unsigned long long)fi);
        out.f = fopen(path, "wb");
        out.path = path;
        out.failed = 0;
        if (!out.f) {
            fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
            return 1;
        }
        rng_t r;
        rng_seed(&r, seed * 0x9E3779B97F4A7C15ull + fi + 1); /* files are independent streams */
        int sentence_start = 1;
        uint64_t written = 0;
        while (written < size) {
            if (out.n >= GEN_OUTBUF) out_flush(&out);
            char *line = out.buf + out.n;
            size_t ln = emit_line(line, &vocab, &zipf, &r, ascii_only, &sentence_start);
            if (written + ln > size) { /* no room for this line: pad with newlines */
                ln = (size_t)(size - written);
                memset(line, '\n', ln);
            }
            out.n += ln;
            written += ln;
        }
        out_flush(&out);
        if (fclose(out.f) != 0 && !out.failed) {
            fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
            out.failed = 1;
        }
        status = out.failed;
    }
    free(path), free(out.buf);
    free(vocab.bytes), free(vocab.off), free(vocab.len), alias_free(&zipf);
    return status;
}
