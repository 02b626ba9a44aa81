/* seedgen_table.c - writes the raw-mode seeds of fuzz_table: pairs of valid serialized tables
 * (made by mrc_table_serialize, so in the wire format's (hash, key) order) behind the harness's
 * input header. Run by hand when the wire format changes: seedgen_table DIR (README.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mrcount/table.h"

typedef struct kv {
    const char *key;
    size_t len; /* 0: strlen(key) */
    uint64_t count;
} kv;

static unsigned char *table_of(const kv *v, size_t n, size_t *len)
{
    mrc_table t;
    mrc_err err = {0};
    if (mrc_table_init(&t, 0, &err) != 0) exit(1);
    for (size_t i = 0; i < n; i++) {
        size_t kl = v[i].len ? v[i].len : strlen(v[i].key);
        if (mrc_table_add(&t, v[i].key, (uint32_t)kl, mrc_hash(v[i].key, kl), v[i].count, &err))
            exit(1);
    }
    mrc_table *tp = &t;
    void *out;
    if (mrc_table_serialize(&tp, 1, &out, len, &err) != 0) exit(1);
    mrc_table_free(&t);
    return out;
}

/* One seed: mode byte 0 (raw), the cut between a and b, 8 knobs, a, b. */
static void seed(const char *dir, const char *name, const kv *a, size_t na, const kv *b, size_t nb,
                 uint64_t a_flags, const char *knobs)
{
    size_t la, lb;
    unsigned char *ta = table_of(a, na, &la), *tb = table_of(b, nb, &lb);
    if (a_flags) {
        mrc_ser_header h;
        mrc_ser_read_header(ta, &h);
        h.flags = a_flags;
        mrc_ser_write_header(ta, &h);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) exit(1);
    unsigned char head[3] = {0, (unsigned char)la, (unsigned char)(la >> 8)};
    fwrite(head, 1, 3, f);
    fwrite(knobs, 1, 8, f);
    fwrite(ta, 1, la, f);
    fwrite(tb, 1, lb, f);
    if (fclose(f) != 0) exit(1);
    free(ta);
    free(tb);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seedgen_table DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    static const kv small_a[] = {{"the", 0, 3}, {"a", 0, 1}, {"cat", 0, 2}};
    static const kv small_b[] = {{"the", 0, 5}, {"dog", 0, 1}, {"a", 0, 7}};
    seed(dir, "raw-two-small", small_a, 3, small_b, 3, 0, "\x05\x03\x01\x10\x20\x30\xf0\x04");
    static const kv prefixes[] = {{"", 0, 1},     {"a", 0, 2},        {"ab", 0, 3},
                                  {"abc", 0, 4},  {"\0\0", 2, 5},     {"\xff", 0, 6},
                                  {"a\0b", 3, 7}, {"x y\tz\n", 0, 8}, {"0123456789abcdef", 0, 9}};
    seed(dir, "raw-prefix-keys", prefixes, 9, prefixes + 3, 4, 0,
         "\x10\x00\x02\x01\x02\x03\x04\x03");
    seed(dir, "raw-empty-and-one", NULL, 0, small_a, 1, 0, "\x00\x00\x00\x00\x00\x00\x00\x01");
    static const kv hot_a[] = {{"hot", 0, UINT64_MAX - 1}, {"cold", 0, 1}};
    static const kv hot_b[] = {{"hot", 0, 5}};
    seed(dir, "raw-count-overflow", hot_a, 2, hot_b, 1, 0, "\x02\x01\x00\x00\x01\x02\x03\x02");
    seed(dir, "raw-flag-overflow", small_a, 3, small_b, 3, MRC_SER_FLAG_OVERFLOW,
         "\x01\x00\x00\x00\x00\x00\x00\x00");
    seed(dir, "raw-flag-corrupt", small_a, 3, small_b, 2, MRC_SER_FLAG_CORRUPT,
         "\x01\x40\x08\xc0\xc1\xc2\xc3\x04");
    kv many_a[48], many_b[48];
    static char names[96][8];
    for (int i = 0; i < 96; i++)
        snprintf(names[i], sizeof names[i], "k%02d", i);
    for (int i = 0; i < 48; i++) {
        many_a[i] = (kv){names[i], 0, (uint64_t)i + 1};
        many_b[i] = (kv){names[i + 24], 0, 1000 + (uint64_t)i}; /* half shared */
    }
    seed(dir, "raw-shared-keys", many_a, 48, many_b, 48, 0, "\x33\x00\x05\x00\x40\x80\xbf\x04");
    seed(dir, "raw-one-table", many_a, 48, NULL, 0, 0, "\x77\x10\x00\x11\x22\x33\x44\x02");
    return 0;
}
