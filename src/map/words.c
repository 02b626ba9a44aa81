/* words.c - the words job: a token is a maximal run of bytes outside a delimiter class
 * (ASCII whitespace by default, everything but [A-Za-z0-9'] with --tokens alnum); each token
 * adds 1 to its key, lower-cased in ASCII with --fold-case. This is the per-byte hot path: the
 * consumer is compiled once per block kernel (words_consume.h over kernels.h) and the variant
 * (kernel, class, fold) is chosen once in words_select(), never per block or token.
 * --tokens unicode and word n-grams (--ngrams N > 1) are counted by the span consumer of
 * tokens.c, selected here too. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "batch.h"
#include "kernels.h"
#include "mrcount/map.h"
#include "unicode.h"
#include "words.h"

enum token_class { CLASS_WHITESPACE, CLASS_ALNUM };

static unsigned char delim_whitespace[256];
static unsigned char delim_alnum[256];

static void init_tables(void)
{
    static int done;
    if (done) return;
    for (int b = 0; b < 256; b++) {
        delim_whitespace[b] = b == ' ' || (b >= '\t' && b <= '\r');
        int alnum =
            (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '\'';
        delim_alnum[b] = !alnum;
    }
    done = 1;
}

/* One consumer per (kernel, class, fold), each with its kernel inlined (words_consume.h). */
#define WORDS_ISA scalar
#define WORDS_TARGET
#include "words_consume.h"
#undef WORDS_ISA
#undef WORDS_TARGET
#if MRC_KERNELS_X86
#define WORDS_ISA sse2
#define WORDS_TARGET MRC_TARGET_SSE2
#include "words_consume.h"
#undef WORDS_ISA
#undef WORDS_TARGET
#define WORDS_ISA avx2
#define WORDS_TARGET MRC_TARGET_AVX2
#include "words_consume.h"
#undef WORDS_ISA
#undef WORDS_TARGET
#define WORDS_ISA avx512
#define WORDS_TARGET MRC_TARGET_AVX512
#include "words_consume.h"
#undef WORDS_ISA
#undef WORDS_TARGET
#endif

/* [kernel][alnum][fold] */
static const mrc_consume_fn consumers[MRC_KERNELS][2][2] = {
    [MRC_KERNEL_SCALAR] = {{consume_ws_scalar, consume_ws_fold_scalar},
                           {consume_alnum_scalar, consume_alnum_fold_scalar}},
#if MRC_KERNELS_X86
    [MRC_KERNEL_SSE2] = {{consume_ws_sse2, consume_ws_fold_sse2},
                         {consume_alnum_sse2, consume_alnum_fold_sse2}},
    [MRC_KERNEL_AVX2] = {{consume_ws_avx2, consume_ws_fold_avx2},
                         {consume_alnum_avx2, consume_alnum_fold_avx2}},
    [MRC_KERNEL_AVX512] = {{consume_ws_avx512, consume_ws_fold_avx512},
                           {consume_alnum_avx512, consume_alnum_fold_avx512}},
#endif
};

/* env->kernel (MRC_KERNEL) forces a block kernel; one this CPU cannot run is an error. */
static int words_select(mrc_job *job, const mrc_job_env *env, mrc_err *err)
{
    const mrc_words_opts *o = (const void *)job->settings;
    if (o->tokens == MRC_TOKENS_UNICODE || o->ngrams > 1) { /* tokens.c */
        job->consume = mrc_words_spans_select(o, &job->rules);
        return 0;
    }
    enum mrc_kernel k;
    int rc = mrc_kernel_choose(env->kernel, &k, err);
    if (rc != 0) return rc;
    init_tables();
    bool alnum = o->tokens == MRC_TOKENS_ALNUM;
    job->rules.delim = alnum ? delim_alnum : delim_whitespace;
    job->consume = consumers[k][alnum][o->fold_case];
    job->kernel = mrc_kernel_name(k);
    return 0;
}

/* Options that only make sense together. */
static int words_check(const void *settings, mrc_err *err)
{
    const mrc_words_opts *o = settings;
    if (o->normalize != MRC_NORMALIZE_NONE && o->tokens != MRC_TOKENS_UNICODE)
        return mrc_err_set(err, MRC_EINVAL,
                           "--normalize applies to --tokens unicode only (the byte rules' keys "
                           "are their bytes; after a config file that sets it, give "
                           "--normalize none)");
    if (o->ngrams < 2 && o->ngram_break != MRC_BREAK_LINE)
        return mrc_err_set(err, MRC_EINVAL,
                           "--ngram-break applies to --ngrams 2 and more (single tokens have "
                           "no sequence to break; after a config file that sets it, give "
                           "--ngram-break line)");
    return 0;
}

static void words_metrics(const mrc_job *job, FILE *f)
{
    const mrc_words_opts *o = (const void *)job->settings;
    if (o->tokens != MRC_TOKENS_UNICODE) return;
    fputs(", \"unicode_version\": ", f);
    mrc_json_string(f, mrc_unicode_data_version());
    fputs(", \"unicode_library\": ", f);
    mrc_json_string(f, mrc_unicode_library_name());
    fputs(", \"unicode_library_version\": ", f);
    mrc_json_string(f, mrc_unicode_library_version());
}

static const char *const token_names[] = {"whitespace", "alnum", "unicode", NULL};
static const char *const normalize_names[] = {"none", "nfc", "nfkc", NULL};
static const char *const break_names[] = {"line", "paragraph", "none", NULL};
static const char *const words_counters[] = {[MRC_WORDS_INVALID_UTF8] = "invalid_utf8_bytes", NULL};

static const mrc_opt_def words_opts[] = {
    {.name = "tokens",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_words_opts, tokens),
     .choices = token_names,
     .help = "a word is a run of non-space bytes (default), of\n"
             "[A-Za-z0-9'], or of Unicode letters, marks and numbers",
     .metric = "tokens"},
    {.name = "fold-case",
     .section = "job",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_words_opts, fold_case),
     .help = "lower-case ASCII letters; with --tokens unicode, full\n"
             "Unicode case folding (--no-fold-case: don't)",
     .metric = "fold_case"},
    {.name = "no-fold-case",
     .type = MRC_OPT_FLAG,
     .offset = offsetof(mrc_words_opts, fold_case),
     .negate = true},
    {.name = "normalize",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_words_opts, normalize),
     .choices = normalize_names,
     .help = "--tokens unicode: normalize each token (NFC or NFKC)\n"
             "before folding (default: none)",
     .metric = "normalize"},
    {.name = "ngrams",
     .section = "job",
     .type = MRC_OPT_INT,
     .offset = offsetof(mrc_words_opts, ngrams),
     .min = 1,
     .max = MRC_NGRAMS_MAX,
     .arg = "N",
     .help = "count N consecutive tokens joined by a space (1-9,\n"
             "default 1)",
     .metric = "ngrams"},
    {.name = "ngram-break",
     .section = "job",
     .type = MRC_OPT_CHOICE,
     .offset = offsetof(mrc_words_opts, ngram_break),
     .choices = break_names,
     .help = "where an n-gram sequence ends: at an LF (default), at a\n"
             "blank line, or only at the end of the file",
     .metric = "ngram_break"},
    {0},
};

static const mrc_words_opts words_defaults = {.tokens = MRC_TOKENS_WHITESPACE,
                                              .fold_case = false,
                                              .normalize = MRC_NORMALIZE_NONE,
                                              .ngrams = 1,
                                              .ngram_break = MRC_BREAK_LINE};

const mrc_job_desc mrc_job_words = {
    .name = "words",
    .summary = "the words of text",
    .records = "tokens",
    .unit = MRC_UNIT_TOKEN,
    .opts = words_opts,
    .settings_size = sizeof(mrc_words_opts),
    .defaults = &words_defaults,
    .check = words_check,
    .select = words_select,
    .metrics = words_metrics,
    .counters = words_counters,
};
