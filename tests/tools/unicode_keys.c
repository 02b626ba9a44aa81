/* unicode_keys.c - test driver of the `--tokens unicode` scanner and key builder
 * (src/map/unicode.h) until the words job is wired to them: prints every token's key, one a line,
 * in input order, for tests/tools/unicode_oracle.py --keys to compare; or, with --table, what the
 * library makes of each code point. Reads files whole (plain or .gz); never counts, sorts or joins
 * n-grams. unicode_keys [--fold] [--normalize none|nfc|nfkc] [--max N] [--cut K] FILE... keys on
 * stdout; per file "tokens N invalid_utf8_bytes M" on stderr
 *       --max N: spans per scanner call (default 64); --cut K: scan the buffer in ranges cut at
 *       the first record delimiter at or after every K bytes, as the reader will hand them
 *   unicode_keys --table
 *       per code point (all but surrogates): "hex TAB category TAB token TAB fold TAB nfc TAB
 *       nfkc TAB nfc+fold TAB nfkc+fold", the keys in hex code points separated by spaces */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#include <zlib.h>

#include "unicode.h"

static void die(const char *what)
{
    fprintf(stderr, "unicode_keys: %s\n", what);
    exit(1);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (f == NULL) die(path);
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    for (;;) {
        if (b == NULL) die("out of memory");
        if (n == cap) b = realloc(b, cap *= 2);
        if (b == NULL) die("out of memory");
        int r = gzread(f, b + n, (unsigned)(cap - n > (1u << 30) ? 1u << 30 : cap - n));
        if (r < 0) die(path);
        if (r == 0) break;
        n += (size_t)r;
    }
    gzclose(f);
    *len = n;
    return b;
}

typedef struct run {
    mrc_unicode_keys_fn keys;
    mrc_unicode_keybuf kb;
    mrc_unicode_span *spans;
    size_t *ends;
    size_t max;
    uint64_t tokens, invalid;
} run;

static void emit_range(run *r, const unsigned char *buf, size_t pos, size_t end)
{
    mrc_err err = {0};
    while (pos < end) {
        size_t n;
        size_t next = mrc_unicode_scan(buf, pos, end, r->spans, r->max, &n, &r->invalid);
        if (next < end && n != r->max) die("scanner stopped early");
        r->kb.len = 0;
        if (r->keys(&r->kb, buf, r->spans, n, r->ends, &err) != 0) die(err.msg);
        for (size_t i = 0, at = 0; i < n; at = r->ends[i++]) {
            fwrite(r->kb.bytes + at, 1, r->ends[i] - at, stdout);
            putchar('\n');
        }
        r->tokens += n;
        pos = next;
    }
}

static void emit_file(run *r, const char *path, size_t cut)
{
    size_t len;
    unsigned char *buf = read_all(path, &len);
    const unsigned char *delim = mrc_unicode_record_delims();
    r->tokens = r->invalid = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = len;
        if (cut > 0 && len - pos > cut) {
            end = pos + cut;
            while (end < len && !delim[buf[end]])
                end++;
            if (end < len) end++; /* the range ends after its delimiter */
        }
        emit_range(r, buf, pos, end);
        pos = end;
    }
    fprintf(stderr, "%s\ttokens %llu invalid_utf8_bytes %llu\n", path,
            (unsigned long long)r->tokens, (unsigned long long)r->invalid);
    free(buf);
}

/* The key of the one code point cp, as hex code points. */
static void print_key(mrc_unicode_keys_fn keys, mrc_unicode_keybuf *kb, const unsigned char *u,
                      size_t n)
{
    mrc_err err = {0};
    kb->len = 0;
    if (mrc_unicode_key(keys, kb, u, n, n == 1, &err) != 0) die(err.msg);
    putchar('\t');
    for (utf8proc_ssize_t i = 0; i < (utf8proc_ssize_t)kb->len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(kb->bytes + i, (utf8proc_ssize_t)kb->len - i, &c);
        if (k <= 0) die("a key is not valid UTF-8");
        printf(i ? " %04X" : "%04X", (unsigned)c);
        i += k;
    }
}

static void table(void)
{
    static const enum mrc_normalize norms[] = {MRC_NORMALIZE_NONE, MRC_NORMALIZE_NFC,
                                               MRC_NORMALIZE_NFKC};
    mrc_unicode_keybuf kb = {0};
    mrc_unicode_span span;
    for (int32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xd800 && cp < 0xe000) continue;
        unsigned char u[4];
        size_t n = (size_t)utf8proc_encode_char(cp, u), ns;
        uint64_t invalid = 0;
        mrc_unicode_scan(u, 0, n, &span, 1, &ns, &invalid);
        bool token = ns == 1 && span.start == 0 && span.end == n;
        if (invalid != 0 || (ns == 1 && !token)) die("a code point scanned wrong");
        printf("%04X\t%s\t%d", (unsigned)cp, utf8proc_category_string(cp), token);
        print_key(mrc_unicode_keys_select(MRC_NORMALIZE_NONE, true), &kb, u, n);
        for (int f = 0; f < 2; f++)
            for (int i = 1; i < 3; i++)
                print_key(mrc_unicode_keys_select(norms[i], f), &kb, u, n);
        putchar('\n');
    }
    mrc_unicode_keybuf_free(&kb);
}

int main(int argc, char **argv)
{
    bool fold = false;
    enum mrc_normalize norm = MRC_NORMALIZE_NONE;
    size_t max = 64, cut = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--table") == 0) {
            table();
            return 0;
        } else if (strcmp(argv[i], "--fold") == 0) {
            fold = true;
        } else if (strcmp(argv[i], "--normalize") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            norm = strcmp(v, "nfc") == 0    ? MRC_NORMALIZE_NFC
                   : strcmp(v, "nfkc") == 0 ? MRC_NORMALIZE_NFKC
                   : strcmp(v, "none") == 0 ? MRC_NORMALIZE_NONE
                                            : (die("--normalize none|nfc|nfkc"), norm);
        } else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc) {
            max = strtoul(argv[++i], NULL, 10);
            if (max == 0) die("--max N: N >= 1");
        } else if (strcmp(argv[i], "--cut") == 0 && i + 1 < argc) {
            cut = strtoul(argv[++i], NULL, 10);
        } else {
            die("usage: unicode_keys [--fold] [--normalize none|nfc|nfkc] [--max N] [--cut K] "
                "FILE... | --table");
        }
    }
    run r = {.keys = mrc_unicode_keys_select(norm, fold), .max = max};
    r.spans = malloc(max * sizeof *r.spans);
    r.ends = malloc(max * sizeof *r.ends);
    if (r.spans == NULL || r.ends == NULL) die("out of memory");
    for (; i < argc; i++)
        emit_file(&r, argv[i], cut);
    mrc_unicode_keybuf_free(&r.kb);
    free(r.spans);
    free(r.ends);
    return fflush(stdout) == 0 ? 0 : 1;
}
