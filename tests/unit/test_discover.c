/* test_discover.c - input discovery on a real temporary tree: recursion in bytewise order,
 * hidden entries, symlink loops, FIFOs skipped without being opened (alarm() turns a hang into
 * a failure), globs, @lists (regular files only), and the error messages for "-", missing and
 * unreadable paths (as root: in a child that became nobody). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "mrcount/input.h"

static char root[64];

typedef struct warnings {
    char msg[16][MRC_ERR_MSG_MAX];
    int n;
} warnings;

static void collect_warning(const char *msg, void *arg)
{
    warnings *w = arg;
    if (w->n < 16) snprintf(w->msg[w->n], sizeof w->msg[w->n], "%s", msg);
    w->n++;
}

static bool any_warning_has(const warnings *w, const char *a, const char *b)
{
    for (int i = 0; i < w->n && i < 16; i++)
        if (strstr(w->msg[i], a) && (b == NULL || strstr(w->msg[i], b))) return true;
    return false;
}

static void path_of(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", root, rel);
}

static void put(const char *rel, const char *content)
{
    char p[256];
    path_of(p, sizeof p, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
}

static void mkdir_rel(const char *rel)
{
    char p[256];
    path_of(p, sizeof p, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

/* Tree:
 *   d/a.txt "aa"   d/B.txt "B"   d/z.gz ""   d/.hidden "h"   d/fifo (FIFO)
 *   d/sub/c.txt "ccc"   d/sub/.hdir/x "x"   d/dangling -> nowhere
 *   d/sub/loop -> .   d/sub/deep/back -> .. (loops that stay inside d/sub)
 *   lists/ok.txt, weird/we[ir]d*.txt (a literal name with glob characters) */
static int group_setup(void **state)
{
    (void)state;
    if (tmpdir_make(root, sizeof root, "/tmp/mrc_test_discover_XXXXXX") != 0) return -1;
    mkdir_rel("d");
    mkdir_rel("d/sub");
    mkdir_rel("d/sub/.hdir");
    mkdir_rel("d/sub/deep");
    mkdir_rel("weird");
    put("d/a.txt", "aa");
    put("d/B.txt", "B");
    put("d/z.gz", "");
    put("d/.hidden", "h");
    put("d/sub/c.txt", "ccc");
    put("d/sub/.hdir/x", "x");
    put("weird/we[ir]d*.txt", "literal");
    char p[256];
    path_of(p, sizeof p, "d/fifo");
    if (mkfifo(p, 0644) != 0) return -1;
    path_of(p, sizeof p, "d/sub/loop");
    if (symlink(".", p) != 0) return -1;
    path_of(p, sizeof p, "d/sub/deep/back");
    if (symlink("..", p) != 0) return -1;
    path_of(p, sizeof p, "d/dangling");
    if (symlink("nowhere", p) != 0) return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return rm_tree(root);
}

/* A FIFO opened by mistake would block forever: SIGALRM's default action ends the test
 * program instead, which CTest reports as a failure. */
static int guard_setup(void **state)
{
    (void)state;
    alarm(20);
    return 0;
}

static int guard_teardown(void **state)
{
    (void)state;
    alarm(0);
    return 0;
}

/* Past the first 5 warnings of one cause, the rest are one line at the end: 8 dangling links
 * and 6 links to a directory already entered give 5 + 5 lines, then "3 more dangling ..." and
 * "1 more directories ..."; every one is counted in skipped. */
static void test_warnings_capped_per_cause(void **state)
{
    (void)state;
    char d[256], p[300], target[256];
    path_of(d, sizeof d, "many");
    assert_int_equal(mkdir(d, 0755), 0);
    path_of(target, sizeof target, "many/real");
    assert_int_equal(mkdir(target, 0755), 0);
    put("many/real/x.txt", "x\n");
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "%s/gone%d", d, i);
        assert_int_equal(symlink("/nonexistent/mrcount-test", p), 0);
    }
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/zlink%d", d, i);
        assert_int_equal(symlink(target, p), 0);
    }
    const char *args[] = {d};
    mrc_file_list l;
    mrc_err err = {0};
    warnings w = {0};
    if (mrc_input_discover(args, 1, &l, collect_warning, &w, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.skipped, 14);
    assert_int_equal(w.n, 12);
    int dangling = 0, entered = 0;
    for (int i = 0; i < 10; i++) {
        dangling += strstr(w.msg[i], "/gone") && strstr(w.msg[i], "dangling symbolic link");
        entered += strstr(w.msg[i], "/zlink") && strstr(w.msg[i], "already entered");
    }
    assert_int_equal(dangling, 5);
    assert_int_equal(entered, 5);
    assert_true(any_warning_has(&w, "3 more dangling symbolic links", NULL));
    assert_true(any_warning_has(&w, "1 more directories already entered", NULL));
    assert_null(strstr(w.msg[10], "/gone"));
    assert_null(strstr(w.msg[11], "/zlink"));
    mrc_file_list_free(&l);

    /* without a callback the paths are counted all the same */
    if (mrc_input_discover(args, 1, &l, NULL, NULL, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(l.skipped, 14);
    mrc_file_list_free(&l);
}

static void assert_paths(const mrc_file_list *l, const char *const *rel, size_t n)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++) {
        char p[256];
        path_of(p, sizeof p, rel[i]);
        assert_string_equal(l->files[i].path, p);
    }
}

static void test_directory_recursion_order_and_skips(void **state)
{
    (void)state;
    char d[256];
    path_of(d, sizeof d, "d");
    const char *args[] = {d};
    mrc_file_list l;
    mrc_err err = {0};
    warnings w = {0};
    int rc = mrc_input_discover(args, 1, &l, collect_warning, &w, &err);
    if (rc != 0) fail_msg("%s", err.msg);
    /* bytewise: "B.txt" < "a.txt" < "sub/..." < "z.gz"; hidden, FIFO, loop and dangling out */
    const char *expect[] = {"d/B.txt", "d/a.txt", "d/sub/c.txt", "d/z.gz"};
    assert_paths(&l, expect, 4);
    assert_int_equal(l.total_bytes, 1 + 2 + 3 + 0);
    assert_int_equal(l.files[0].codec, MRC_CODEC_NONE);
    assert_int_equal(l.files[3].codec, MRC_CODEC_GZIP);
    /* the codec by the name's suffix, lower case only */
    static const struct {
        const char *name;
        enum mrc_codec codec;
    } names[] = {
        {"a.gz", MRC_CODEC_GZIP},   {"a.zst", MRC_CODEC_ZSTD},  {"a.xz", MRC_CODEC_XZ},
        {"a.bz2", MRC_CODEC_BZIP2}, {".gz", MRC_CODEC_GZIP},    {"a.GZ", MRC_CODEC_NONE},
        {"a.tgz", MRC_CODEC_NONE},  {"a.zstd", MRC_CODEC_NONE}, {"a.gz.txt", MRC_CODEC_NONE},
        {"a.bz", MRC_CODEC_NONE},   {"gz", MRC_CODEC_NONE},     {"a.txz", MRC_CODEC_NONE}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (mrc_codec_of_path(names[i].name) != names[i].codec)
            fail_msg("%s: codec %d", names[i].name, (int)mrc_codec_of_path(names[i].name));
    assert_int_equal(l.files[2].size, 3);
    assert_true(any_warning_has(&w, "d/fifo", "FIFO"));
    assert_true(any_warning_has(&w, "d/sub/loop", "already entered"));
    assert_true(any_warning_has(&w, "d/sub/deep/back", "already entered"));
    assert_true(any_warning_has(&w, "d/dangling", "dangling"));
    assert_int_equal(w.n, 4);
    mrc_file_list_free(&l);

    /* a trailing slash does not double the separator; no callback is fine */
    char ds[260];
    snprintf(ds, sizeof ds, "%s/", d);
    const char *args2[] = {ds};
    assert_int_equal(mrc_input_discover(args2, 1, &l, NULL, NULL, &err), 0);
    assert_paths(&l, expect, 4);
    mrc_file_list_free(&l);
}

static void test_same_input_twice_counts_twice(void **state)
{
    (void)state;
    char a[256], d[256];
    path_of(a, sizeof a, "d/a.txt");
    path_of(d, sizeof d, "d/sub");
    const char *args[] = {a, d, a, d};
    mrc_file_list l;
    mrc_err err = {0};
    warnings w = {0};
    assert_int_equal(mrc_input_discover(args, 4, &l, collect_warning, &w, &err), 0);
    const char *expect[] = {"d/a.txt", "d/sub/c.txt", "d/a.txt", "d/sub/c.txt"};
    assert_paths(&l, expect, 4);
    assert_int_equal(l.total_bytes, 10);
    mrc_file_list_free(&l);
}

/* A signal's flag raised while the tree is walked (here by the first warning, the stand-in for
 * a signal handler) ends the walk at the next path, with an error naming it and no list. */
static void raise_stop(const char *msg, void *arg)
{
    (void)msg;
    atomic_store((atomic_int *)arg, 1);
}

static void test_stop_ends_the_walk(void **state)
{
    (void)state;
    char d[256], want[300];
    path_of(d, sizeof d, "d");
    const char *args[] = {d, d};
    mrc_file_list l;
    mrc_err err = {0};

    atomic_int stop = 1; /* already raised: not even the first argument is taken */
    assert_int_equal(mrc_input_discover_until(args, 2, &l, NULL, NULL, &stop, &err), MRC_EINTR);
    snprintf(want, sizeof want, "%s: discovery interrupted", d);
    assert_string_equal(err.msg, want);
    assert_int_equal(l.n, 0);

    atomic_store(&stop, 0); /* raised in the middle of the walk */
    memset(&err, 0, sizeof err);
    assert_int_equal(mrc_input_discover_until(args, 2, &l, raise_stop, &stop, &stop, &err),
                     MRC_EINTR);
    assert_non_null(strstr(err.msg, d));
    assert_non_null(strstr(err.msg, ": discovery interrupted"));
    assert_int_equal(l.n, 0);

    atomic_store(&stop, 0); /* never raised: the same list as without a flag */
    assert_int_equal(mrc_input_discover_until(args, 2, &l, NULL, NULL, &stop, &err), 0);
    assert_int_equal(l.n, 8);
    mrc_file_list_free(&l);
}

static void test_fifo_named_directly_is_an_error(void **state)
{
    (void)state;
    char f[256];
    path_of(f, sizeof f, "d/fifo");
    const char *args[] = {f};
    mrc_file_list l;
    mrc_err err = {0};
    assert_int_not_equal(mrc_input_discover(args, 1, &l, NULL, NULL, &err), 0);
    assert_non_null(strstr(err.msg, f));
    assert_non_null(strstr(err.msg, "FIFO"));
    assert_int_equal(l.n, 0);
}

/* A pseudo-file stats as size 0 but reads data: refused, naming it (it would count nothing);
 * a truly empty file is fine. */
static void test_pseudo_file_of_size_0_is_an_error(void **state)
{
    (void)state;
    struct stat st;
    const char *proc = "/proc/self/status";
    if (stat(proc, &st) != 0 || st.st_size != 0) skip();
    const char *args[] = {proc};
    mrc_file_list l;
    mrc_err err = {0};
    assert_int_not_equal(mrc_input_discover(args, 1, &l, NULL, NULL, &err), 0);
    assert_non_null(strstr(err.msg, proc));
    assert_non_null(strstr(err.msg, "its size is 0 but it reads data"));
    char f[256];
    path_of(f, sizeof f, "empty.txt");
    FILE *e = fopen(f, "w");
    assert_non_null(e);
    fclose(e);
    args[0] = f;
    assert_int_equal(mrc_input_discover(args, 1, &l, NULL, NULL, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.files[0].size, 0);
    mrc_file_list_free(&l);
}

static void test_glob(void **state)
{
    (void)state;
    char pat[256];
    path_of(pat, sizeof pat, "d/*.txt");
    const char *args[] = {pat};
    mrc_file_list l;
    mrc_err err = {0};
    warnings w = {0};
    assert_int_equal(mrc_input_discover(args, 1, &l, collect_warning, &w, &err), 0);
    const char *expect[] = {"d/B.txt", "d/a.txt"};
    assert_paths(&l, expect, 2);
    mrc_file_list_free(&l);

    /* a glob matching a directory walks it; one matching a FIFO skips it with a warning */
    path_of(pat, sizeof pat, "d/[af]*");
    char pat_dir[256];
    path_of(pat_dir, sizeof pat_dir, "weir?");
    const char *args2[] = {pat, pat_dir};
    w.n = 0;
    assert_int_equal(mrc_input_discover(args2, 2, &l, collect_warning, &w, &err), 0);
    const char *expect2[] = {"d/a.txt", "weird/we[ir]d*.txt"};
    assert_paths(&l, expect2, 2);
    assert_true(any_warning_has(&w, "d/fifo", "FIFO"));
    mrc_file_list_free(&l);

    /* no match is an error naming the pattern */
    path_of(pat, sizeof pat, "d/*.none");
    const char *args3[] = {pat};
    assert_int_not_equal(mrc_input_discover(args3, 1, &l, NULL, NULL, &err), 0);
    assert_non_null(strstr(err.msg, pat));
    assert_int_equal(l.n, 0);

    /* an existing path with glob characters is a path, not a pattern */
    memset(&err, 0, sizeof err);
    path_of(pat, sizeof pat, "weird/we[ir]d*.txt");
    const char *args4[] = {pat};
    assert_int_equal(mrc_input_discover(args4, 1, &l, NULL, NULL, &err), 0);
    const char *expect4[] = {"weird/we[ir]d*.txt"};
    assert_paths(&l, expect4, 1);
    assert_int_equal(l.total_bytes, 7);
    mrc_file_list_free(&l);
}

static void test_list_file(void **state)
{
    (void)state;
    char list[256], content[1024];
    path_of(list, sizeof list, "list.txt");
    snprintf(content, sizeof content,
             "# inputs for the run\n\n%s/d/sub\n   \n%s/d/a.txt\r\n#%s/d/B.txt\n%s/d/*.gz", root,
             root, root, root);
    put("list.txt", content);
    char arg[260];
    snprintf(arg, sizeof arg, "@%s", list);
    const char *args[] = {arg};
    mrc_file_list l;
    mrc_err err = {0};
    int rc = mrc_input_discover(args, 1, &l, NULL, NULL, &err);
    if (rc != 0) fail_msg("%s", err.msg);
    const char *expect[] = {"d/sub/c.txt", "d/a.txt", "d/z.gz"};
    assert_paths(&l, expect, 3);
    mrc_file_list_free(&l);

    /* a missing path inside the list is an error naming that path */
    snprintf(content, sizeof content, "%s/d/a.txt\n%s/d/missing.txt\n", root, root);
    put("list.txt", content);
    assert_int_not_equal(mrc_input_discover(args, 1, &l, NULL, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "d/missing.txt"));
    assert_int_equal(l.n, 0);

    /* a missing list file is an error naming it */
    memset(&err, 0, sizeof err);
    path_of(list, sizeof list, "nolist.txt");
    snprintf(arg, sizeof arg, "@%s", list);
    const char *args2[] = {arg};
    assert_int_not_equal(mrc_input_discover(args2, 1, &l, NULL, NULL, &err), 0);
    assert_non_null(strstr(err.msg, list));
}

/* "@LIST" is read, so it must be a regular file: a FIFO there would block discovery until a
 * writer came (guard_setup's alarm() turns that into a failure), a device or /dev/stdin would
 * read standard input. Each is an error naming the list and what it is. */
static void test_list_must_be_a_regular_file(void **state)
{
    (void)state;
    static const struct {
        const char *rel, *kind;
    } cases[] = {{"d/fifo", "is a FIFO (named pipe), not a list of paths"},
                 {"d", "is a directory, not a list of paths"},
                 {NULL, "is a character device, not a list of paths"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char p[256], arg[260], want[512];
        if (cases[i].rel != NULL)
            path_of(p, sizeof p, cases[i].rel);
        else
            snprintf(p, sizeof p, "/dev/null");
        snprintf(arg, sizeof arg, "@%s", p);
        snprintf(want, sizeof want, "%s: %s", p, cases[i].kind);
        const char *args[] = {arg};
        mrc_file_list l;
        mrc_err err = {0};
        assert_int_not_equal(mrc_input_discover(args, 1, &l, NULL, NULL, &err), 0);
        assert_string_equal(err.msg, want);
        assert_int_equal(l.n, 0);
    }
}

static void test_stdin_and_missing_paths(void **state)
{
    (void)state;
    mrc_file_list l;
    mrc_err err = {0};
    const char *dash[] = {"-"};
    assert_int_not_equal(mrc_input_discover(dash, 1, &l, NULL, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "standard input is not supported; name the files"));

    memset(&err, 0, sizeof err);
    char p[256];
    path_of(p, sizeof p, "d/absent.txt");
    const char *missing[] = {p};
    assert_int_equal(mrc_input_discover(missing, 1, &l, NULL, NULL, &err), MRC_EIO);
    char want[512];
    snprintf(want, sizeof want, "%s: No such file or directory", p);
    assert_string_equal(err.msg, want);

    /* an error after some files were found leaves an empty list behind */
    memset(&err, 0, sizeof err);
    char d[256];
    path_of(d, sizeof d, "d");
    const char *mixed[] = {d, p};
    assert_int_not_equal(mrc_input_discover(mixed, 2, &l, NULL, NULL, &err), 0);
    assert_int_equal(l.n, 0);
    assert_null(l.files);

    memset(&err, 0, sizeof err);
    assert_int_not_equal(mrc_input_discover(NULL, 0, &l, NULL, NULL, &err), 0);
}

/* The unreadable-input cases, without cmocka (they may run in a child that dropped root).
 * @return NULL when each is an error naming the unreadable path, or what went wrong. */
static const char *unreadable_checks(void)
{
    static char why[1024];
    static const struct {
        const char *arg, *bad;
    } cases[] = {{"perm/secret.txt", "perm/secret.txt"}, /* named */
                 {"perm", "perm/secret.txt"},            /* found in a directory walk */
                 {"perm/*.txt", "perm/secret.txt"},      /* matched by a glob */
                 {"perm2", "perm2/locked"},              /* a directory it cannot list */
                 {"perm3", "perm3/f150.txt"}}; /* in a directory looked up on threads */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char arg[256], want[512];
        path_of(arg, sizeof arg, cases[i].arg);
        path_of(want, sizeof want, cases[i].bad);
        strncat(want, ": Permission denied", sizeof want - strlen(want) - 1);
        const char *args[] = {arg};
        mrc_file_list l;
        mrc_err err = {0};
        int rc = mrc_input_discover(args, 1, &l, NULL, NULL, &err);
        if (rc == 0) mrc_file_list_free(&l);
        if (rc == 0 || strcmp(err.msg, want) != 0) {
            snprintf(why, sizeof why, "%.200s: status %d, message '%.300s', expected '%.300s'", arg,
                     rc, err.msg, want);
            return why;
        }
    }
    return NULL;
}

/* An unreadable file (named, in a directory, or matched by a glob) and an unlistable directory
 * are errors naming them: skipping them would make the table silently short. Root reads
 * everything, so as root the checks run in a child that became nobody (65534). */
static void test_unreadable_file_is_an_error(void **state)
{
    (void)state;
    mkdir_rel("perm");
    mkdir_rel("perm2");
    mkdir_rel("perm2/locked");
    put("perm/ok.txt", "ok");
    put("perm/secret.txt", "s");
    put("perm2/ok.txt", "ok");
    put("perm2/locked/x.txt", "x");
    mkdir_rel("perm3");
    for (int i = 0; i < 200; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "perm3/f%03d.txt", i);
        put(rel, "w");
    }
    char secret3[256];
    path_of(secret3, sizeof secret3, "perm3/f150.txt");
    assert_int_equal(chmod(secret3, 0), 0);
    char secret[256], locked[256];
    path_of(secret, sizeof secret, "perm/secret.txt");
    path_of(locked, sizeof locked, "perm2/locked");
    assert_int_equal(chmod(secret, 0), 0);
    assert_int_equal(chmod(locked, 0), 0);
    const char *failed = NULL;
    if (geteuid() != 0) {
        failed = unreadable_checks();
    } else {
        assert_int_equal(chmod(root, 0711), 0); /* nobody may pass through, not list */
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(77);
            const char *why = unreadable_checks();
            if (why != NULL) fprintf(stderr, "%s\n", why);
            _exit(why == NULL ? 0 : 1);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        chmod(root, 0700);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            chmod(secret3, 0644);
            chmod(secret, 0644);
            chmod(locked, 0755);
            skip(); /* cannot become nobody here (no CAP_SETUID) */
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed = "as nobody (see the message above)";
    }
    chmod(secret3, 0644);
    chmod(secret, 0644);
    chmod(locked, 0755);
    if (failed != NULL) fail_msg("%s", failed);
}

/* A directory of many entries is looked up on several threads, a batch of 4096 at a time,
 * before its entries are taken: the same files in the same bytewise order, the same exclusions
 * (never looked up), warnings and skips as the one-by-one walk. 4460 entries: 4400 files of 1-5
 * bytes, 20 excluded by name, a hidden file, a FIFO, 8 dangling links, a link to a file
 * (followed), a link back up (a loop), a subdirectory of 30 more entries. */
#define NBIG 4400
static void test_large_directory(void **state)
{
    (void)state;
    mkdir_rel("big");
    mkdir_rel("big/sub");
    char rel[64], p[256], q[256];
    uint64_t bytes = 0;
    for (int i = 0; i < NBIG; i++) {
        snprintf(rel, sizeof rel, "big/f%04d.txt", i);
        put(rel, &"xxxxx"[i % 5]);
        bytes += 5 - (uint64_t)(i % 5);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(rel, sizeof rel, "big/e%02d.skip", i);
        put(rel, "excluded");
    }
    for (int i = 0; i < 30; i++) {
        snprintf(rel, sizeof rel, "big/sub/s%02d.txt", i);
        put(rel, "ss");
        bytes += 2;
    }
    put("big/.hidden", "h");
    path_of(p, sizeof p, "big/fifo");
    assert_int_equal(mkfifo(p, 0644), 0);
    for (int i = 0; i < 8; i++) {
        snprintf(rel, sizeof rel, "big/dangling%d", i);
        path_of(p, sizeof p, rel);
        assert_int_equal(symlink("nowhere", p), 0);
    }
    path_of(p, sizeof p, "big/link.txt");
    assert_int_equal(symlink("f0007.txt", p), 0);
    bytes += 5 - 7 % 5;
    path_of(p, sizeof p, "big/sub/up");
    assert_int_equal(symlink("..", p), 0);

    path_of(q, sizeof q, "big");
    const char *args[] = {q};
    const char *pats[] = {"*.skip"};
    warnings w = {0};
    mrc_discover_opts o = {
        .warn = collect_warning, .warn_arg = &w, .exclude = pats, .nexclude = 1};
    mrc_file_list l;
    mrc_err err = {0};
    if (mrc_input_discover_with(args, 1, &o, &l, &err) != 0)
        fail_msg("%s", err.msg);
    /* bytewise: f0000 .. f4399, link.txt, sub/s00 .. sub/s29 */
    assert_int_equal(l.n, NBIG + 1 + 30);
    for (size_t i = 0; i < l.n; i++) {
        if (i < NBIG)
            snprintf(rel, sizeof rel, "big/f%04zu.txt", i);
        else if (i == NBIG)
            snprintf(rel, sizeof rel, "big/link.txt");
        else
            snprintf(rel, sizeof rel, "big/sub/s%02zu.txt", i - NBIG - 1);
        path_of(p, sizeof p, rel);
        if (strcmp(l.files[i].path, p) != 0) fail_msg("file %zu: %s, not %s", i, l.files[i].path, p);
    }
    assert_int_equal(l.files[1].size, 4);
    assert_int_equal(l.total_bytes, bytes);
    assert_int_equal(l.excluded, 20);
    assert_int_equal(l.skipped, 1 + 8 + 1); /* the FIFO, the dangling links, the loop */
    assert_true(any_warning_has(&w, "big/fifo", "FIFO"));
    assert_true(any_warning_has(&w, "big/dangling0", "dangling"));
    assert_true(any_warning_has(&w, "big/sub/up", "already entered"));
    assert_true(any_warning_has(&w, "3 more dangling", NULL)); /* 5 shown, then a count */
    assert_int_equal(w.n, 1 + 5 + 1 + 1);
    mrc_file_list_free(&l);
}

/* --exclude: a pattern matches a path's last component or the whole path ('*' crosses '/');
 * what it matches is never stat'ed or entered (a dangling link inside an excluded directory
 * gives no warning), wherever the path comes from: a walk, a glob, a name, an @list line. */
static void test_exclude(void **state)
{
    (void)state;
    mkdir_rel("ex");
    mkdir_rel("ex/old");
    mkdir_rel("ex/sub");
    mkdir_rel("ex/sub/deep");
    put("ex/keep.txt", "k");
    put("ex/skip.tar.gz", "not even gzip");
    put("ex/old/inner.txt", "i");
    put("ex/sub/new.txt", "n");
    put("ex/sub/old.txt", "o");
    put("ex/with space.txt", "w");
    put("ex/sub/deep/a.log", "a");
    char p[256];
    path_of(p, sizeof p, "ex/old/dangling");
    assert_int_equal(symlink("nowhere", p), 0);

    const char *pats[] = {"*.tar.gz", "old", "with *", "*/deep/*"};
    char ex[256];
    path_of(ex, sizeof ex, "ex");
    const char *args[] = {ex};
    warnings w = {0};
    mrc_discover_opts o = {.warn = collect_warning, .warn_arg = &w, .exclude = pats, .nexclude = 4};
    mrc_file_list l;
    mrc_err err = {0};
    assert_int_equal(mrc_input_discover_with(args, 1, &o, &l, &err), 0);
    const char *want[] = {"ex/keep.txt", "ex/sub/new.txt", "ex/sub/old.txt"};
    assert_paths(&l, want, 3);
    assert_int_equal(l.excluded, 4); /* skip.tar.gz, old/ (once), "with space.txt", a.log */
    assert_int_equal(w.n, 0);
    mrc_file_list_free(&l);

    /* no pattern: everything, the dangling link warned about */
    o.nexclude = 0;
    assert_int_equal(mrc_input_discover_with(args, 1, &o, &l, &err), 0);
    assert_int_equal(l.n, 7);
    assert_int_equal(l.excluded, 0);
    assert_true(any_warning_has(&w, "dangling", NULL));
    mrc_file_list_free(&l);

    /* named paths (one missing: never stat'ed), a trailing slash, a glob, an @list */
    char named[256], slash[256], missing[256], glob[256], list[256], listarg[260];
    path_of(named, sizeof named, "ex/skip.tar.gz");
    path_of(slash, sizeof slash, "ex/old/");
    path_of(missing, sizeof missing, "ex/missing.tar.gz");
    path_of(glob, sizeof glob, "ex/*.txt");
    path_of(list, sizeof list, "ex-list.txt");
    char body[600];
    snprintf(body, sizeof body, "%s/ex/with space.txt\n%s/ex/keep.txt\n", root, root);
    put("ex-list.txt", body);
    snprintf(listarg, sizeof listarg, "@%s", list);
    const char *args2[] = {named, slash, missing, glob, listarg};
    o.nexclude = 3;
    assert_int_equal(mrc_input_discover_with(args2, 5, &o, &l, &err), 0);
    const char *want2[] = {"ex/keep.txt", "ex/keep.txt"};
    assert_paths(&l, want2, 2);
    assert_int_equal(l.excluded, 5); /* the three named, the glob's and the list's "with space" */
    mrc_file_list_free(&l);

    /* a glob's own text is no path ('?' matches no name below ex/, but would match '*');
     * a pattern with a '/' matches a named path with trailing slashes; one without matches
     * the last component only ('ex' does not leave out ex/sub's files); "." is no name */
    const char *pats3[] = {"?", "*/old", "ex"};
    char star[256], sub[256], dot[256], olds[256];
    path_of(star, sizeof star, "ex/*");
    path_of(sub, sizeof sub, "ex/sub");
    path_of(dot, sizeof dot, "ex/sub/.");
    path_of(olds, sizeof olds, "ex/old//");
    const char *args4[] = {star, sub, olds, dot};
    mrc_discover_opts o3 = {.exclude = pats3, .nexclude = 3};
    assert_int_equal(mrc_input_discover_with(args4, 4, &o3, &l, &err), 0);
    /* the glob: keep.txt, old/ (left out), skip.tar.gz, sub/..., "with space.txt"; then ex/sub
     * twice (as ex/sub and ex/sub/.) */
    const char *want4[] = {"ex/keep.txt",         "ex/skip.tar.gz",   "ex/sub/deep/a.log",
                           "ex/sub/new.txt",      "ex/sub/old.txt",   "ex/with space.txt",
                           "ex/sub/deep/a.log",   "ex/sub/new.txt",   "ex/sub/old.txt",
                           "ex/sub/./deep/a.log", "ex/sub/./new.txt", "ex/sub/./old.txt"};
    assert_paths(&l, want4, 12);
    assert_int_equal(l.excluded, 2); /* ex/old from the glob, ex/old// named */
    mrc_file_list_free(&l);

    /* an excluded @list line is not an error even when the path does not exist */
    const char *pats2[] = {"*/nope/*"};
    snprintf(body, sizeof body, "%s/nope/x.txt\n", root);
    put("ex-list.txt", body);
    const char *args3[] = {listarg};
    mrc_discover_opts o2 = {.exclude = pats2, .nexclude = 1};
    assert_int_equal(mrc_input_discover_with(args3, 1, &o2, &l, &err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.excluded, 1);
    mrc_file_list_free(&l);

    /* a name spelled with glob characters that is a link loop: tested as a name before the
     * link is followed, so excluded it is no error (it was: "Too many levels of symbolic
     * links"); not excluded, the loop is the error; as a pattern its matches are walked ones */
    mkdir_rel("q?m");
    char la[256], lb[256];
    path_of(la, sizeof la, "q?m/loopa");
    path_of(lb, sizeof lb, "q?m/loopb");
    assert_int_equal(symlink("loopb", la), 0);
    assert_int_equal(symlink("loopa", lb), 0);
    const char *pats5[] = {"loop*"};
    const char *args5[] = {la, named};
    mrc_discover_opts o5 = {.exclude = pats5, .nexclude = 1};
    assert_int_equal(mrc_input_discover_with(args5, 2, &o5, &l, &err), 0);
    const char *want5[] = {"ex/skip.tar.gz"};
    assert_paths(&l, want5, 1);
    assert_int_equal(l.excluded, 1);
    mrc_file_list_free(&l);
    o5.nexclude = 0;
    assert_int_equal(mrc_input_discover_with(args5, 2, &o5, &l, &err), MRC_EIO);
    assert_non_null(strstr(err.msg, "q?m/loopa: Too many levels of symbolic links"));
}

/* The run's own directory (--checkpoint) inside an input directory is never entered, also
 * through a link to it: its runs and manifest would otherwise be counted as text on the
 * resume (and change the inputs' fingerprint); counted as excluded. */
static void test_own_dir_left_out(void **state)
{
    (void)state;
    mkdir_rel("in");
    mkdir_rel("in/ck");
    put("in/a.txt", "a");
    put("in/ck/manifest", "piece 0 0 1");
    char ck[256], link[256], in[256];
    path_of(ck, sizeof ck, "in/ck");
    path_of(link, sizeof link, "in/to-ck");
    path_of(in, sizeof in, "in");
    assert_int_equal(symlink("ck", link), 0);
    const char *args[] = {in};
    mrc_discover_opts o = {.own_dir = ck};
    mrc_file_list l;
    mrc_err err = {0};
    assert_int_equal(mrc_input_discover_with(args, 1, &o, &l, &err), 0);
    const char *want[] = {"in/a.txt"};
    assert_paths(&l, want, 1);
    assert_int_equal(l.excluded, 2); /* in/ck and in/to-ck */
    mrc_file_list_free(&l);
    /* not given, or not there yet: nothing is left out */
    o.own_dir = NULL; /* a.txt and ck/manifest (to-ck: a directory already entered) */
    assert_int_equal(mrc_input_discover_with(args, 1, &o, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.excluded, 0);
    mrc_file_list_free(&l);
    path_of(ck, sizeof ck, "in/not-yet");
    o.own_dir = ck;
    assert_int_equal(mrc_input_discover_with(args, 1, &o, &l, &err), 0);
    assert_int_equal(l.n, 2);
    mrc_file_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_directory_recursion_order_and_skips, guard_setup,
                                        guard_teardown),
        cmocka_unit_test_setup_teardown(test_same_input_twice_counts_twice, guard_setup,
                                        guard_teardown),
        cmocka_unit_test_setup_teardown(test_fifo_named_directly_is_an_error, guard_setup,
                                        guard_teardown),
        cmocka_unit_test_setup_teardown(test_stop_ends_the_walk, guard_setup, guard_teardown),
        cmocka_unit_test_setup_teardown(test_pseudo_file_of_size_0_is_an_error, guard_setup,
                                        guard_teardown),
        cmocka_unit_test_setup_teardown(test_glob, guard_setup, guard_teardown),
        cmocka_unit_test_setup_teardown(test_list_file, guard_setup, guard_teardown),
        cmocka_unit_test_setup_teardown(test_list_must_be_a_regular_file, guard_setup,
                                        guard_teardown),
        cmocka_unit_test_setup_teardown(test_stdin_and_missing_paths, guard_setup, guard_teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_file_is_an_error, guard_setup,
                                        guard_teardown),
        cmocka_unit_test_setup_teardown(test_exclude, guard_setup, guard_teardown),
        cmocka_unit_test_setup_teardown(test_own_dir_left_out, guard_setup, guard_teardown),
        cmocka_unit_test_setup_teardown(test_large_directory, guard_setup, guard_teardown),
        cmocka_unit_test_setup_teardown(test_warnings_capped_per_cause, guard_setup,
                                        guard_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
