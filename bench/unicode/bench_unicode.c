/* bench_unicode.c - throughput of the `--tokens unicode` scanner and key builder on one file held
 * in memory, against a plain ASCII-whitespace byte scan and the words job's whitespace consumer,
 * and (built with -DWITH_ICU) of ICU's equivalents: u_charType for categories, ucasemap
 * UTF-8 case folding, UTF-16 round trips for normalization. Prints median MB/s of input.
 * Not part of the build: bench/bench-unicode.sh compiles it against build/libmrc_core.a.
 *   bench_unicode FILE [REPS [load|ws|scan|keys|keys-fold|keys-nfc|keys-nfc-fold|keys-nfkc-fold]]
 * (the third argument runs that one measurement once, for `perf stat -e instructions`) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "mrcount/map.h"
#include "mrcount/table.h"
#include "unicode.h"
#include "words.h"

#ifdef WITH_ICU
#include <unicode/ucasemap.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
#endif

#define SPANS 256

static const unsigned char *buf;
static size_t len;
static int reps = 5;
static volatile uint64_t sink;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds of reps runs of f (after one warm-up run). */
static double median(uint64_t (*f)(void))
{
    double t[64];
    sink += f();
    for (int i = 0; i < reps; i++) {
        double t0 = mrc_now();
        sink += f();
        t[i] = mrc_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    return t[reps / 2];
}

static void report(const char *what, double s, double base)
{
    printf("%-34s %8.1f MB/s  %6.3f s  %5.2fx\n", what, (double)len / s / 1e6, s,
           base > 0 ? base / s : 1.0);
}

/* ---- byte baselines ---- */

static uint64_t ws_scan(void)
{
    static unsigned char ws[256];
    ws[' '] = ws['\t'] = ws['\n'] = ws['\v'] = ws['\f'] = ws['\r'] = 1;
    uint64_t tokens = 0;
    bool in = false;
    for (size_t i = 0; i < len; i++) {
        bool d = ws[buf[i]];
        tokens += in && d;
        in = !d;
    }
    return tokens + in;
}

static mrc_job job_ws, job_ws_fold, job_uni_fold;
static const unsigned char *job_input;
static size_t job_len;

static uint64_t run_job(const mrc_job *job)
{
    mrc_table t;
    mrc_err err = {0};
    mrc_map_ctx ctx = {0};
    if (mrc_table_init(&t, 0, &err) != 0) exit(1);
    ctx.table = &t;
    mrc_map_ctx_piece(&ctx, "bench", 0, 0);
    if (mrc_job_count_buffer(job, &ctx, job_input, job_len, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    uint64_t n = ctx.records;
    mrc_map_ctx_free(&ctx);
    mrc_table_free(&t);
    return n;
}
static uint64_t job_ws_run(void)
{
    return run_job(&job_ws);
}
static uint64_t job_ws_fold_run(void)
{
    return run_job(&job_ws_fold);
}
static uint64_t job_uni_fold_run(void)
{
    return run_job(&job_uni_fold);
}

/* ---- the scanner and key builder ---- */

static mrc_unicode_keys_fn keyfn;

static uint64_t u_scan(void)
{
    mrc_unicode_span spans[SPANS];
    uint64_t tokens = 0, invalid = 0;
    for (size_t pos = 0; pos < len;) {
        size_t n;
        pos = mrc_unicode_scan(buf, pos, len, spans, SPANS, &n, &invalid);
        tokens += n;
    }
    return tokens + invalid;
}

static uint64_t u_scan_keys(void)
{
    mrc_unicode_span spans[SPANS];
    size_t ends[SPANS];
    mrc_unicode_keybuf kb = {0};
    mrc_err err = {0};
    uint64_t tokens = 0, invalid = 0, bytes = 0;
    for (size_t pos = 0; pos < len;) {
        size_t n;
        pos = mrc_unicode_scan(buf, pos, len, spans, SPANS, &n, &invalid);
        kb.len = 0;
        if (keyfn(&kb, buf, spans, n, ends, &err) != 0) exit(1);
        bytes += kb.len;
        tokens += n;
    }
    mrc_unicode_keybuf_free(&kb);
    return tokens + bytes;
}

/* The folded keys as text, one space between them: what the table side of a unicode job sees. */
static unsigned char *keys_text(size_t *out_len)
{
    mrc_unicode_span spans[SPANS];
    mrc_unicode_keybuf kb = {0};
    mrc_err err = {0};
    uint64_t invalid = 0;
    mrc_unicode_keys_fn fold = mrc_unicode_keys_select(MRC_NORMALIZE_NONE, true);
    for (size_t pos = 0; pos < len;) {
        size_t n;
        pos = mrc_unicode_scan(buf, pos, len, spans, SPANS, &n, &invalid);
        for (size_t i = 0; i < n; i++) {
            if (fold(&kb, buf, &spans[i], 1, &(size_t){0}, &err) != 0) exit(1);
            if (kb.len == kb.cap) {
                kb.bytes = realloc(kb.bytes, kb.cap *= 2);
                if (kb.bytes == NULL) exit(1);
            }
            kb.bytes[kb.len++] = ' ';
        }
    }
    *out_len = kb.len;
    unsigned char *p = kb.bytes;
    free(kb.cps);
    return p;
}

#ifdef WITH_ICU
/* ---- ICU ---- */

static int32_t *cps; /* the non-ASCII code points of the input */
static size_t ncps;

static uint64_t cat_utf8proc(void)
{
    uint64_t s = 0;
    for (size_t i = 0; i < ncps; i++)
        s += (uint64_t)utf8proc_category(cps[i]);
    return s;
}

static uint64_t cat_icu(void)
{
    uint64_t s = 0;
    for (size_t i = 0; i < ncps; i++)
        s += (uint64_t)u_charType(cps[i]);
    return s;
}

/* The unicode scanner with ICU as the category source: the same loop, U8_NEXT + u_charType. */
static bool icu_word(UChar32 c)
{
    return (U_GC_L_MASK | U_GC_M_MASK | U_GC_N_MASK) & U_MASK(u_charType(c));
}

static uint64_t icu_scan(void)
{
    uint64_t tokens = 0;
    int32_t i = 0, n = (int32_t)len;
    bool in = false, apos_pending = false;
    while (i < n) {
        UChar32 c;
        int32_t at = i;
        if (buf[i] < 0x80) {
            c = buf[i++];
        } else {
            U8_NEXT(buf, i, n, c);
        }
        (void)at;
        bool w = c >= 0 && (c < 0x80 ? ((c | 32) - 'a' < 26u || c - '0' < 10u) : icu_word(c));
        if (w) {
            if (!in) tokens++;
            in = true;
            apos_pending = false;
        } else if (in && !apos_pending && (c == '\'' || c == 0x2019)) {
            apos_pending = true; /* joins when a word code point follows */
        } else {
            in = false;
            apos_pending = false;
        }
    }
    return tokens;
}

static UCaseMap *csm;
static const UNormalizer2 *nfc;
static mrc_unicode_span *all_spans; /* every token of the input */
static size_t nspans;

static uint64_t fold_icu(void)
{
    static char out[1 << 16];
    uint64_t bytes = 0;
    for (size_t i = 0; i < nspans; i++) {
        const mrc_unicode_span *s = &all_spans[i];
        int32_t n = (int32_t)(s->end - s->start);
        if (s->ascii) {
            for (int32_t j = 0; j < n; j++) {
                unsigned char c = buf[s->start + (size_t)j];
                out[j] = (char)(c - 'A' < 26u ? c + 32 : c);
            }
            bytes += (uint64_t)n;
            continue;
        }
        UErrorCode e = U_ZERO_ERROR;
        bytes += (uint64_t)ucasemap_utf8FoldCase(csm, out, sizeof out, (const char *)buf + s->start,
                                                 n, &e);
        if (U_FAILURE(e)) exit(1);
    }
    return bytes;
}

static uint64_t nfc_fold_icu(void)
{
    static UChar u16[1 << 15], n16[1 << 15], f16[1 << 15];
    static char out[1 << 17];
    uint64_t bytes = 0;
    for (size_t i = 0; i < nspans; i++) {
        const mrc_unicode_span *s = &all_spans[i];
        int32_t n = (int32_t)(s->end - s->start);
        if (s->ascii) {
            for (int32_t j = 0; j < n; j++) {
                unsigned char c = buf[s->start + (size_t)j];
                out[j] = (char)(c - 'A' < 26u ? c + 32 : c);
            }
            bytes += (uint64_t)n;
            continue;
        }
        UErrorCode e = U_ZERO_ERROR;
        int32_t l16, ln, lf, l8;
        u_strFromUTF8(u16, 1 << 15, &l16, (const char *)buf + s->start, n, &e);
        ln = unorm2_normalize(nfc, u16, l16, n16, 1 << 15, &e);
        lf = u_strFoldCase(f16, 1 << 15, n16, ln, U_FOLD_CASE_DEFAULT, &e);
        u_strToUTF8(out, sizeof out, &l8, f16, lf, &e);
        if (U_FAILURE(e)) exit(1);
        bytes += (uint64_t)l8;
    }
    return bytes;
}

static uint64_t keys_utf8proc(void)
{
    mrc_unicode_keybuf kb = {0};
    mrc_err err = {0};
    uint64_t bytes = 0;
    for (size_t i = 0; i < nspans; i++) {
        const mrc_unicode_span *s = &all_spans[i];
        kb.len = 0;
        if (mrc_unicode_key(keyfn, &kb, buf + s->start, s->end - s->start, s->ascii, &err) != 0)
            exit(1);
        bytes += kb.len;
    }
    mrc_unicode_keybuf_free(&kb);
    return bytes;
}

/* Do ICU's keys equal ours? Counts the tokens whose fold (or NFC+fold) differs. */
static void icu_agree(void)
{
    mrc_unicode_keybuf kb = {0};
    mrc_err err = {0};
    mrc_unicode_keys_fn f = mrc_unicode_keys_select(MRC_NORMALIZE_NONE, true);
    static char out[1 << 16];
    size_t differ = 0;
    for (size_t i = 0; i < nspans; i++) {
        const mrc_unicode_span *s = &all_spans[i];
        if (s->ascii) continue;
        kb.len = 0;
        if (mrc_unicode_key(f, &kb, buf + s->start, s->end - s->start, false, &err) != 0) exit(1);
        UErrorCode e = U_ZERO_ERROR;
        int32_t n = ucasemap_utf8FoldCase(csm, out, sizeof out, (const char *)buf + s->start,
                                          (int32_t)(s->end - s->start), &e);
        if (U_FAILURE(e) || (size_t)n != kb.len || memcmp(out, kb.bytes, kb.len) != 0) differ++;
    }
    printf("ICU vs utf8proc case folding: %zu of %zu tokens differ\n", differ, nspans);
    mrc_unicode_keybuf_free(&kb);
}
#endif

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_unicode FILE [REPS]\n");
        return 2;
    }
    if (argc > 2) reps = atoi(argv[2]);
    if (reps < 1 || reps > 63) reps = 5;
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) return 1;
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len);
    if (b == NULL || fread(b, 1, len, f) != len) return 1;
    fclose(f);
    buf = b;
    size_t high = 0;
    for (size_t i = 0; i < len; i++)
        high += b[i] >= 0x80;
    printf("%s: %zu bytes, %.2f%% non-ASCII; utf8proc %s (Unicode %s); median of %d\n", argv[1],
           len, 100.0 * (double)high / (double)len, mrc_unicode_library_version(),
           mrc_unicode_data_version(), reps);

    if (argc > 3) { /* one measurement once, for `perf stat -e instructions` */
        const char *m = argv[3];
        keyfn = mrc_unicode_keys_select(strstr(m, "nfkc")  ? MRC_NORMALIZE_NFKC
                                        : strstr(m, "nfc") ? MRC_NORMALIZE_NFC
                                                           : MRC_NORMALIZE_NONE,
                                        strstr(m, "fold") != NULL);
        if (strcmp(m, "load") == 0)
            sink += high;
        else if (strcmp(m, "ws") == 0)
            sink += ws_scan();
        else if (strcmp(m, "scan") == 0)
            sink += u_scan();
        else if (strncmp(m, "keys", 4) == 0)
            sink += u_scan_keys();
        else
            return 2;
        return 0;
    }
    double base = median(ws_scan);
    report("whitespace byte scan", base, base);
    report("unicode scan", median(u_scan), base);
    static const struct {
        enum mrc_normalize norm;
        bool fold;
        const char *name;
    } keys[] = {{MRC_NORMALIZE_NONE, true, "unicode scan + fold"},
                {MRC_NORMALIZE_NFC, false, "unicode scan + nfc"},
                {MRC_NORMALIZE_NFC, true, "unicode scan + nfc + fold"},
                {MRC_NORMALIZE_NFKC, true, "unicode scan + nfkc + fold"}};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        keyfn = mrc_unicode_keys_select(keys[i].norm, keys[i].fold);
        report(keys[i].name, median(u_scan_keys), base);
    }

    /* the words job (scan, hash, count) as it runs today, and an estimate of a unicode job:
     * scan + fold keys, then the same job on those keys (which tokenizes them again: the
     * estimate errs on the slow side). Interleaved, so a busy machine slows all alike. */
    mrc_err err = {0};
    mrc_words_opts o = {.tokens = MRC_TOKENS_WHITESPACE, .ngrams = 1};
    if (mrc_job_select(&job_ws, mrc_job_find("words"), &o, NULL, &err) != 0) return 1;
    o.fold_case = true;
    if (mrc_job_select(&job_ws_fold, mrc_job_find("words"), &o, NULL, &err) != 0) return 1;
    o.tokens = MRC_TOKENS_UNICODE;
    if (mrc_job_select(&job_uni_fold, mrc_job_find("words"), &o, NULL, &err) != 0) return 1;
    size_t klen;
    unsigned char *kt = keys_text(&klen);
    keyfn = mrc_unicode_keys_select(MRC_NORMALIZE_NONE, true);
    double tj[64], tf[64], te[64], tu[64];
    for (int r = 0; r < reps; r++) {
        double t0 = mrc_now();
        job_input = buf;
        job_len = len;
        sink += job_ws_run();
        double t1 = mrc_now();
        sink += job_ws_fold_run();
        double t2 = mrc_now();
        sink += u_scan_keys();
        job_input = kt;
        job_len = klen;
        sink += job_ws_run();
        double t3 = mrc_now();
        job_input = buf;
        job_len = len;
        sink += job_uni_fold_run();
        double t4 = mrc_now();
        tj[r] = t1 - t0;
        tf[r] = t2 - t1;
        te[r] = t3 - t2;
        tu[r] = t4 - t3;
    }
    qsort(tj, (size_t)reps, sizeof *tj, cmp_double);
    qsort(tf, (size_t)reps, sizeof *tf, cmp_double);
    qsort(te, (size_t)reps, sizeof *te, cmp_double);
    qsort(tu, (size_t)reps, sizeof *tu, cmp_double);
    report("words job, whitespace", tj[reps / 2], tj[reps / 2]);
    report("words job, whitespace --fold-case", tf[reps / 2], tj[reps / 2]);
    report("estimate: unicode job --fold-case", te[reps / 2], tj[reps / 2]);
    report("words job, unicode --fold-case", tu[reps / 2], tj[reps / 2]);
    free(kt);

#ifdef WITH_ICU
    printf("ICU %s (Unicode %s)\n", U_ICU_VERSION, U_UNICODE_VERSION);
    UErrorCode e = U_ZERO_ERROR;
    csm = ucasemap_open(NULL, U_FOLD_CASE_DEFAULT, &e);
    nfc = unorm2_getNFCInstance(&e);
    if (U_FAILURE(e)) return 1;
    cps = malloc(len * sizeof *cps);
    for (size_t i = 0; i < len;) {
        int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(buf + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) {
            i++;
            continue;
        }
        if (c >= 0x80) cps[ncps++] = c;
        i += (size_t)k;
    }
    all_spans = malloc((len / 2 + 1) * sizeof *all_spans);
    uint64_t inv = 0;
    for (size_t pos = 0; pos < len;) {
        size_t n;
        pos = mrc_unicode_scan(buf, pos, len, all_spans + nspans, SPANS, &n, &inv);
        nspans += n;
    }
    printf("%zu non-ASCII code points, %zu tokens\n", ncps, nspans);
    double cu = median(cat_utf8proc), ci = median(cat_icu);
    printf("%-34s %8.1f Mcp/s\n", "category: utf8proc_category", (double)ncps / cu / 1e6);
    printf("%-34s %8.1f Mcp/s\n", "category: ICU u_charType", (double)ncps / ci / 1e6);
    report("scan: utf8proc (ours)", median(u_scan), base);
    report("scan: same loop with ICU", median(icu_scan), base);
    keyfn = mrc_unicode_keys_select(MRC_NORMALIZE_NONE, true);
    report("keys of all tokens, fold: utf8proc", median(keys_utf8proc), base);
    report("keys of all tokens, fold: ICU", median(fold_icu), base);
    keyfn = mrc_unicode_keys_select(MRC_NORMALIZE_NFC, true);
    report("keys, nfc + fold: utf8proc", median(keys_utf8proc), base);
    report("keys, nfc + fold: ICU (UTF-16)", median(nfc_fold_icu), base);
    icu_agree();
#endif
    free(b);
    return 0;
}
