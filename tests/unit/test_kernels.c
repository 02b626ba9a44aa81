/* test_kernels.c - the tokenizer's block kernels (scalar, SSE2, AVX2, AVX-512BW), each one this
 * CPU runs, against byte predicates written here from the DESIGN rules: every mask and every
 * folded byte, on all 256 byte values at every place of a block, every alignment, NUL, bytes
 * >= 0x80 and random blocks. Then the whole words consumer built for each kernel against a naive
 * tokenizer: serialized tables byte for byte, on tokens cut at every offset of a vector, long
 * tokens, random text, and fed in pieces (final == false). The CPU detection is checked against
 * /proc/cpuinfo; kernels this CPU cannot run are named on stderr as skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "kernels.h"
#include "mrcount/map.h"
#include "mrcount/table.h"
#include "words.h"

/* ---- the rules, byte by byte ---- */

static bool ref_ws(unsigned char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r';
}

static bool ref_alnum(unsigned char b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9');
}

static bool ref_keep(unsigned char b)
{
    return ref_alnum(b) || b == '\'';
}

static unsigned char ref_fold(unsigned char b)
{
    return b >= 'A' && b <= 'Z' ? (unsigned char)(b - 'A' + 'a') : b;
}

static uint64_t ref_mask(const unsigned char *p, bool (*pred)(unsigned char), bool negate)
{
    uint64_t m = 0;
    for (int i = 0; i < 64; i++)
        if (pred(p[i]) != negate) m |= (uint64_t)1 << i;
    return m;
}

static bool ref_apos(unsigned char b)
{
    return b == '\'';
}

static bool ref_high(unsigned char b)
{
    return b >= 0x80;
}

/* ---- one block through every function of kernel k ---- */

static void check_mask(uint64_t got, uint64_t want, const char *k, const char *fn, const char *what)
{
    if (got != want)
        fail_msg("%s %s (%s): mask %016llx, want %016llx (first difference at byte %d)", k, fn,
                 what, (unsigned long long)got, (unsigned long long)want,
                 __builtin_ctzll(got ^ want));
}

/* dst: 64 bytes the fold functions write, at any alignment; the rest of its allocation (if
 * any) is never written. */
static void check_folded(const unsigned char *dst, const unsigned char *p, const char *k,
                         const char *fn, const char *what)
{
    for (int i = 0; i < 64; i++)
        if (dst[i] != ref_fold(p[i]))
            fail_msg("%s %s (%s): byte %d %02x folded to %02x, want %02x", k, fn, what, i, p[i],
                     dst[i], ref_fold(p[i]));
}

static void check_block_at(enum mrc_kernel kid, const unsigned char *p, unsigned char *dst,
                           const char *what)
{
    const mrc_kernel_ops *ops = mrc_kernel_ops_of(kid);
    const char *k = mrc_kernel_name(kid);
    uint64_t ws = ref_mask(p, ref_ws, false), alnum_delim = ref_mask(p, ref_keep, true);
    mrc_ascii_masks want = {ref_mask(p, ref_alnum, false), ref_mask(p, ref_apos, false),
                            ref_mask(p, ref_high, false)};

    check_mask(ops->ws(p), ws, k, "ws", what);
    check_mask(ops->alnum(p), alnum_delim, k, "alnum", what);
    memset(dst, 0xa5, 64);
    check_mask(ops->ws_fold(p, dst), ws, k, "ws_fold", what);
    check_folded(dst, p, k, "ws_fold", what);
    memset(dst, 0x5a, 64);
    check_mask(ops->alnum_fold(p, dst), alnum_delim, k, "alnum_fold", what);
    check_folded(dst, p, k, "alnum_fold", what);

    mrc_ascii_masks m = {1, 2, 3};
    ops->uascii(p, &m);
    check_mask(m.alnum, want.alnum, k, "uascii.alnum", what);
    check_mask(m.apos, want.apos, k, "uascii.apos", what);
    check_mask(m.high, want.high, k, "uascii.high", what);
    memset(dst, 0xc3, 64);
    m = (mrc_ascii_masks){4, 5, 6};
    ops->uascii_fold(p, dst, &m);
    check_mask(m.alnum, want.alnum, k, "uascii_fold.alnum", what);
    check_mask(m.apos, want.apos, k, "uascii_fold.apos", what);
    check_mask(m.high, want.high, k, "uascii_fold.high", what);
    check_folded(dst, p, k, "uascii_fold", what);
}

/* The block in an allocation of exactly 64 bytes (ASan sees a read past it), dst likewise. */
static void check_block(enum mrc_kernel kid, const unsigned char *block, const char *what)
{
    unsigned char *p = malloc(64), *dst = malloc(64);
    assert_true(p && dst);
    memcpy(p, block, 64);
    check_block_at(kid, p, dst, what);
    free(p);
    free(dst);
}

static int kernels_run(enum mrc_kernel *out)
{
    int n = 0;
    for (int k = 0; k < MRC_KERNELS; k++) {
        if (mrc_kernel_runs((enum mrc_kernel)k)) {
            assert_non_null(mrc_kernel_ops_of((enum mrc_kernel)k));
            out[n++] = (enum mrc_kernel)k;
        } else {
            fprintf(stderr, "test_kernels: kernel %s skipped (this CPU cannot run it)\n",
                    mrc_kernel_name((enum mrc_kernel)k));
        }
    }
    assert_true(n >= 1 && out[0] == MRC_KERNEL_SCALAR);
    return n;
}

/* ---- the CPU detection and the choice by name ---- */

/* Whether /proc/cpuinfo's first "flags" line lists `flag`; -1 when there is no such file. */
static int cpuinfo_has(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return -1;
    char line[8192];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "flags", 5) != 0) continue;
        found = 0;
        for (char *t = strtok(strchr(line, ':') + 1, " \t\n"); t; t = strtok(NULL, " \t\n"))
            if (strcmp(t, flag) == 0) found = 1;
    }
    fclose(f);
    return found;
}

static void test_detection(void **state)
{
    (void)state;
    assert_true(mrc_kernel_runs(MRC_KERNEL_SCALAR));
    assert_false(mrc_kernel_runs(MRC_KERNELS));
#if defined(__x86_64__)
    assert_true(mrc_kernel_runs(MRC_KERNEL_SSE2));
    int avx2 = cpuinfo_has("avx2"), bmi1 = cpuinfo_has("bmi1"), bmi2 = cpuinfo_has("bmi2");
    int f = cpuinfo_has("avx512f"), bw = cpuinfo_has("avx512bw");
    if (avx2 < 0) {
        fprintf(stderr, "test_kernels: no /proc/cpuinfo flags: detection not cross-checked\n");
    } else {
        assert_int_equal(mrc_kernel_runs(MRC_KERNEL_AVX2), avx2 && bmi1 && bmi2);
        assert_int_equal(mrc_kernel_runs(MRC_KERNEL_AVX512), f && bw && avx2 && bmi1 && bmi2);
    }
#else
    for (int k = MRC_KERNEL_SSE2; k < MRC_KERNELS; k++)
        assert_false(mrc_kernel_runs((enum mrc_kernel)k));
#endif
    for (int k = 0; k < MRC_KERNELS; k++)
        fprintf(stderr, "test_kernels: %s %s\n", mrc_kernel_name((enum mrc_kernel)k),
                mrc_kernel_runs((enum mrc_kernel)k) ? "runs" : "does not run here");
}

static void test_choose(void **state)
{
    (void)state;
    int best = MRC_KERNEL_SCALAR;
    for (int k = 0; k < MRC_KERNELS; k++)
        if (mrc_kernel_runs((enum mrc_kernel)k)) best = k;
    enum mrc_kernel got = MRC_KERNELS;
    mrc_err err = {0};
    assert_int_equal(mrc_kernel_choose(NULL, &got, &err), 0);
    assert_int_equal(got, best);
    got = MRC_KERNELS;
    assert_int_equal(mrc_kernel_choose("auto", &got, &err), 0);
    assert_int_equal(got, best);
    got = MRC_KERNELS; /* MRC_KERNEL set but empty */
    assert_int_equal(mrc_kernel_choose("", &got, &err), 0);
    assert_int_equal(got, best);
    static const char *const names[MRC_KERNELS] = {"scalar", "sse2", "avx2", "avx512"};
    for (int k = 0; k < MRC_KERNELS; k++) {
        assert_string_equal(mrc_kernel_name((enum mrc_kernel)k), names[k]);
        mrc_err e = {0};
        int rc = mrc_kernel_choose(names[k], &got, &e);
        if (mrc_kernel_runs((enum mrc_kernel)k)) {
            assert_int_equal(rc, 0);
            assert_int_equal(got, k);
        } else {
            assert_int_equal(rc, MRC_EINVAL);
            assert_non_null(strstr(e.msg, names[k]));
        }
    }
    static const char *const bad[] = {"AVX2", "avx", "avx512bw", "sse", "auto "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mrc_err e = {0};
        assert_int_equal(mrc_kernel_choose(bad[i], &got, &e), MRC_EINVAL);
        assert_int_equal(e.code, MRC_EINVAL);
        assert_non_null(strstr(e.msg, "unknown"));
    }

    /* through the words job's selection (the CLI's MRC_KERNEL arrives as env.kernel): the
     * kernel chosen, the error naming a bad one, none for a job without kernels */
    mrc_job j;
    mrc_words_opts wo = {.tokens = MRC_TOKENS_WHITESPACE};
    mrc_job_env env = {.kernel = "scalar"};
    assert_int_equal(mrc_job_select(&j, mrc_job_find("words"), &wo, &env, &err), 0);
    assert_string_equal(j.kernel, "scalar");
    assert_int_equal(mrc_job_select(&j, mrc_job_find("words"), &wo, NULL, &err), 0);
    assert_string_equal(j.kernel, names[best]);
    env.kernel = "avx1024";
    mrc_err e = {0};
    assert_int_equal(mrc_job_select(&j, mrc_job_find("words"), &wo, &env, &e), MRC_EINVAL);
    assert_non_null(strstr(e.msg, "avx1024"));
    const mrc_job_desc *ng = mrc_job_find("ngram");
    void *ns = mrc_job_settings_new(ng);
    assert_non_null(ns);
    assert_int_equal(mrc_job_select(&j, ng, ns, NULL, &err), 0);
    assert_null(j.kernel);
    mrc_job_settings_free(ng, ns);
}

/* ---- the block kernels against the rules ---- */

static void test_every_byte_value(void **state)
{
    (void)state;
    enum mrc_kernel ks[MRC_KERNELS];
    int nk = kernels_run(ks);
    unsigned char b[64];
    char what[64];
    for (int ki = 0; ki < nk; ki++) {
        /* all 256 values in four blocks */
        for (int q = 0; q < 4; q++) {
            for (int i = 0; i < 64; i++)
                b[i] = (unsigned char)(64 * q + i);
            check_block(ks[ki], b, "values 64q..64q+63");
        }
        /* every value as the whole block, and at every place of a block of each other class */
        static const unsigned char around[] = {'a', ' ', 0x00, 0xff, 'Z', '\''};
        for (int v = 0; v < 256; v++) {
            memset(b, v, 64);
            snprintf(what, sizeof what, "all %02x", v);
            check_block(ks[ki], b, what);
            for (size_t a = 0; a < sizeof around; a++) {
                for (int i = 0; i < 64; i++) {
                    memset(b, around[a], 64);
                    b[i] = (unsigned char)v;
                    snprintf(what, sizeof what, "%02x at %d among %02x", v, i, around[a]);
                    check_block(ks[ki], b, what);
                }
            }
        }
    }
}

/* A byte biased to the classes' edges: whitespace, the alnum ranges' neighbours, NUL, >= 0x80. */
static unsigned char edgy_byte(void)
{
    static const unsigned char edges[] = {
        ' ',  '\t', '\n', '\v', '\f', '\r', 0x08, 0x0e, 0x1f, 0x21, '\'', '&',  '(',  '/',
        '0',  '9',  ':',  '@',  'A',  'Z',  '[',  '`',  'a',  'z',  '{',  0x7f, 0x80, 0x85,
        0xa0, 0xc1, 0xc9, 0xda, 0xe1, 0xfa, 0xff, 0x00, 0x07, 0x27, 0xa7, 0x47, 0x67, 0x89};
    return rng_below(3) ? edges[rng_below(sizeof edges)] : (unsigned char)rng_next();
}

static void test_every_alignment(void **state)
{
    (void)state;
    enum mrc_kernel ks[MRC_KERNELS];
    int nk = kernels_run(ks);
    rng_seed(64);
    char what[64];
    for (int ki = 0; ki < nk; ki++) {
        for (size_t a = 0; a < 64; a++) {
            for (int rep = 0; rep < 8; rep++) {
                /* source at offset a of an exact allocation, destination at offset (a * 7) % 64 */
                size_t d = (a * 7 + (size_t)rep) % 64;
                unsigned char *src = malloc(a + 64), *dst = malloc(d + 64);
                assert_true(src && dst);
                for (size_t i = 0; i < a + 64; i++)
                    src[i] = edgy_byte();
                snprintf(what, sizeof what, "source offset %zu, destination offset %zu", a, d);
                memset(dst, 0xee, d);
                check_block_at(ks[ki], src + a, dst + d, what);
                for (size_t i = 0; i < d; i++) /* nothing written before dst */
                    assert_int_equal(dst[i], 0xee);
                free(src);
                free(dst);
            }
        }
    }
}

static void test_random_blocks(void **state)
{
    (void)state;
    enum mrc_kernel ks[MRC_KERNELS];
    int nk = kernels_run(ks);
    rng_seed(4096);
    unsigned char b[64];
    for (int it = 0; it < 20000; it++) {
        int kind = it % 4;
        for (int i = 0; i < 64; i++)
            b[i] = kind == 0   ? (unsigned char)rng_next()
                   : kind == 1 ? edgy_byte()
                   : kind == 2 ? (unsigned char)(rng_next() & 0x7f) /* ASCII */
                               : (unsigned char)("aZ '\n\x80"[rng_below(6)]);
        for (int ki = 0; ki < nk; ki++)
            check_block(ks[ki], b, "random block");
    }
}

/* ---- the whole consumer, per kernel, against a naive tokenizer ---- */

typedef struct mode {
    enum mrc_tokens tokens;
    bool fold;
    const char *name;
} mode;

static const mode modes[4] = {
    {MRC_TOKENS_WHITESPACE, false, "whitespace"},
    {MRC_TOKENS_WHITESPACE, true, "whitespace+fold"},
    {MRC_TOKENS_ALNUM, false, "alnum"},
    {MRC_TOKENS_ALNUM, true, "alnum+fold"},
};

static bool mode_delim(const mode *m, unsigned char b)
{
    return m->tokens == MRC_TOKENS_ALNUM ? !ref_keep(b) : ref_ws(b);
}

/* The serialized table of buf[0..len) by the rule (keys from a folded copy with fold). */
static unsigned char *reference_table(const mode *m, const unsigned char *buf, size_t len,
                                      uint64_t *tokens, size_t *ser_len, unsigned char **keys_out)
{
    unsigned char *keys = malloc(len ? len : 1);
    assert_non_null(keys);
    for (size_t i = 0; i < len; i++)
        keys[i] = m->fold ? ref_fold(buf[i]) : buf[i];
    okvec o = {0};
    size_t i = 0;
    while (i < len) {
        if (mode_delim(m, buf[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && !mode_delim(m, buf[i]))
            i++;
        okvec_push(&o, keys + s, (uint32_t)(i - s), 1, mrc_hash(keys + s, i - s));
    }
    *tokens = o.n;
    okvec_aggregate(&o);
    unsigned char *ser = oracle_serialize(&o, *tokens, 0, ser_len);
    okvec_free(&o);
    *keys_out = keys;
    return ser;
}

typedef struct counter {
    mrc_job job;
    mrc_table table;
    mrc_map_ctx ctx;
} counter;

static void counter_init(counter *c, const mode *m, enum mrc_kernel k)
{
    mrc_err err = {0};
    memset(c, 0, sizeof *c);
    mrc_words_opts o = {.tokens = m->tokens, .fold_case = m->fold};
    mrc_job_env env = {.kernel = mrc_kernel_name(k)};
    assert_int_equal(mrc_job_select(&c->job, mrc_job_find("words"), &o, &env, &err), 0);
    assert_string_equal(c->job.kernel, mrc_kernel_name(k));
    assert_int_equal(mrc_table_init(&c->table, 0, &err), 0);
    c->ctx.table = &c->table;
}

/* The counter's table serialized equals `want`; its token count too. */
static void counter_expect(counter *c, const unsigned char *want, size_t want_len, uint64_t tokens,
                           const char *what)
{
    mrc_err err = {0};
    mrc_table *t = &c->table;
    void *ser;
    size_t ser_len;
    assert_int_equal(mrc_table_serialize(&t, 1, &ser, &ser_len, &err), 0);
    if (ser_len != want_len || memcmp(ser, want, want_len) != 0)
        fail_msg("%s: the serialized table differs from the rule's (%zu vs %zu bytes)", what,
                 ser_len, want_len);
    if (c->ctx.records != tokens)
        fail_msg("%s: %llu tokens, the rule gives %llu", what, (unsigned long long)c->ctx.records,
                 (unsigned long long)tokens);
    free(ser);
    mrc_map_ctx_free(&c->ctx);
    mrc_table_free(&c->table);
}

/* Count buf with every kernel (whole, and in pieces of `step` bytes the way the reader feeds a
 * consumer); each table must equal the rule's, byte for byte. */
static void check_consumers(const unsigned char *src, size_t len, size_t step, const char *what)
{
    enum mrc_kernel ks[MRC_KERNELS];
    int nk = kernels_run(ks);
    unsigned char *buf = malloc(len ? len : 1); /* exact size: ASan sees a read past it */
    assert_non_null(buf);
    if (len) memcpy(buf, src, len);
    char label[160];
    for (int mi = 0; mi < 4; mi++) {
        const mode *m = &modes[mi];
        uint64_t tokens;
        size_t want_len;
        unsigned char *keys;
        unsigned char *want = reference_table(m, buf, len, &tokens, &want_len, &keys);
        for (int ki = 0; ki < nk; ki++) {
            snprintf(label, sizeof label, "%s, %s kernel, %s, %zu bytes", what,
                     mrc_kernel_name(ks[ki]), m->name, len);
            counter c;
            counter_init(&c, m, ks[ki]);
            mrc_err err = {0};
            assert_int_equal(mrc_job_count_buffer(&c.job, &c.ctx, buf, len, &err), 0);
            counter_expect(&c, want, want_len, tokens, label);

            /* in pieces: each window an exact copy, the unconsumed tail carried over */
            counter_init(&c, m, ks[ki]);
            size_t start = 0, end = len < step ? len : step;
            for (;;) {
                bool final = end == len;
                size_t n = end - start;
                unsigned char *w = malloc(n ? n : 1);
                assert_non_null(w);
                if (n) memcpy(w, buf + start, n);
                long long used = c.job.consume(&c.ctx, w, n, SIZE_MAX, final, &err);
                free(w);
                /* a non-final window is consumed up to its last delimiter */
                size_t want_used = n;
                if (!final)
                    while (want_used > 0 && !mode_delim(m, buf[start + want_used - 1]))
                        want_used--;
                if (used != (long long)want_used)
                    fail_msg("%s, pieces of %zu: consumed %lld of %zu bytes at %zu, want %zu",
                             label, step, used, n, start, want_used);
                if (final) break;
                start += (size_t)used;
                end = len - end > step ? end + step : len;
            }
            snprintf(label, sizeof label, "%s, %s kernel, %s, %zu bytes in pieces of %zu", what,
                     mrc_kernel_name(ks[ki]), m->name, len, step);
            counter_expect(&c, want, want_len, tokens, label);
        }
        free(want);
        free(keys);
    }
    free(buf);
}

static unsigned char token_byte(const mode *m)
{
    for (;;) {
        unsigned char b =
            rng_below(4) ? (unsigned char)("aBcDzZ09'AQq"[rng_below(12)]) : edgy_byte();
        if (!mode_delim(m, b)) return b;
    }
}

static unsigned char delim_byte(const mode *m)
{
    for (;;) {
        unsigned char b = edgy_byte();
        if (mode_delim(m, b)) return b;
    }
}

/* Tokens of lengths 1..69 and up to 130 starting at every offset of a 64-byte block (so cut
 * by a vector's end at every offset, and spanning two or three vectors), 1 to 64 delimiters
 * between them; token and delimiter bytes are mode m's (NUL and >= 0x80 among them). */
static unsigned char *cut_text(const mode *m, size_t *len)
{
    size_t cap = 130 * 64 * (130 + 65), n = 0;
    unsigned char *b = malloc(cap);
    assert_non_null(b);
    for (size_t tl = 1; tl <= 130; tl += tl < 70 ? 1 : 7) {
        for (size_t r = 0; r < 64; r++) {
            b[n++] = delim_byte(m);
            while (n % 64 != r)
                b[n++] = delim_byte(m);
            for (size_t i = 0; i < tl; i++)
                b[n++] = token_byte(m);
        }
    }
    assert_true(n <= cap);
    *len = n;
    return b;
}

static void test_consumers_cut_everywhere(void **state)
{
    (void)state;
    rng_seed(130);
    for (int mi = 0; mi < 4; mi += 2) { /* texts of each rule's bytes; counted in all four modes */
        size_t len;
        unsigned char *b = cut_text(&modes[mi], &len);
        check_consumers(b, len, 4096 + 17, "tokens cut at every offset");
        check_consumers(b, 1000, 61, "tokens cut at every offset, small pieces");
        free(b);
    }
}

static void test_consumers_edge_buffers(void **state)
{
    (void)state;
    unsigned char b[512] = {0};
    check_consumers(b, 0, 1, "empty");
    for (int v = 0; v < 256; v++) { /* one value everywhere: two blocks and a tail */
        memset(b, v, sizeof b);
        check_consumers(b, 130, 64, "one byte value");
    }
    for (size_t i = 0; i < 256; i++)
        b[i] = (unsigned char)i;
    check_consumers(b, 256, 7, "all byte values");
    memcpy(b, "a\0b \0\0c\x80\xff d\xc3\xa9 ZZ'Z\v\f", 20);
    check_consumers(b, 20, 3, "NUL and high bytes");
}

static void test_consumers_random(void **state)
{
    (void)state;
    rng_seed(777);
    for (int it = 0; it < 200; it++) {
        size_t n = rng_below(it % 10 == 0 ? 5000 : 600);
        unsigned char *b = malloc(n ? n : 1);
        assert_non_null(b);
        for (size_t i = 0; i < n; i++)
            b[i] = rng_below(3) ? (unsigned char)("aB 'z\nZ09"[rng_below(9)]) : edgy_byte();
        if (it % 7 == 0 && n > 600) /* a long token across many blocks */
            for (size_t i = rng_below(n / 2), e = i + 300 + rng_below(300); i < e && i < n; i++)
                b[i] = (unsigned char)("xY'7"[rng_below(4)]);
        check_consumers(b, n, 1 + rng_below(300), "random text");
        free(b);
    }
}

/* A token longer than the fold window and the first pieces, and more tokens than one batch
 * after it, so the window restarts with a long token open and after a long token. */
static void test_consumers_long_tokens(void **state)
{
    (void)state;
    rng_seed(5);
    size_t n = 200000;
    unsigned char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)("aBcD '\n"[rng_below(7)]);
    for (size_t i = 1000; i < 1000 + 70000; i++)
        b[i] = (unsigned char)("QwErTy"[rng_below(6)]);
    for (size_t i = 150000; i < 150000 + 777; i++)
        b[i] = 'K';
    check_consumers(b, n, 65536, "long tokens");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_every_byte_value),
        cmocka_unit_test(test_every_alignment),
        cmocka_unit_test(test_random_blocks),
        cmocka_unit_test(test_consumers_cut_everywhere),
        cmocka_unit_test(test_consumers_edge_buffers),
        cmocka_unit_test(test_consumers_random),
        cmocka_unit_test(test_consumers_long_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
