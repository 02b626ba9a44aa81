/* kernels.c - which tokenizer block kernels this CPU runs, chosen once when a job is selected,
 * and each kernel as out-of-line functions for tests and cold callers (the hot loops inline
 * their own copies, see kernels.h). The CPU is asked with __builtin_cpu_supports, which checks
 * the OS saves the vector state too. Nothing here reads the environment: the CLI reads
 * MRC_KERNEL and passes the name down (mrc_job_env.kernel). */
#include <string.h>

#include "kernels.h"

#define X4(v) v, v, v, v
#define X16(v) X4(v), X4(v), X4(v), X4(v)
#define UP (MRC_CLASS_KEEP | MRC_CLASS_ALNUM | MRC_CLASS_UPPER)
#define LOW (MRC_CLASS_KEEP | MRC_CLASS_ALNUM)
#define AP (MRC_CLASS_KEEP | MRC_CLASS_APOS)

/* clang-format off */
const unsigned char mrc_kernel_class[256] = {
    0,   0,   0,   0,   0,   0,   0,   0,   0,   1,   1,   1,   1,   1,   0,   0,   /* 0x00 */
    X16(0),                                                                          /* 0x10 */
    1,   0,   0,   0,   0,   0,   0,   AP,  0,   0,   0,   0,   0,   0,   0,   0,   /* 0x20 */
    LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, 0,   0,   0,   0,   0,   0,   /* 0x30 */
    0,   UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  /* 0x40 */
    UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  UP,  0,   0,   0,   0,   0,   /* 0x50 */
    0,   LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, /* 0x60 */
    LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, 0,   0,   0,   0,   0,   /* 0x70 */
    X16(MRC_CLASS_HIGH), X16(MRC_CLASS_HIGH), X16(MRC_CLASS_HIGH), X16(MRC_CLASS_HIGH),
    X16(MRC_CLASS_HIGH), X16(MRC_CLASS_HIGH), X16(MRC_CLASS_HIGH), X16(MRC_CLASS_HIGH),
};
/* clang-format on */

static const char *const names[MRC_KERNELS] = {"scalar", "sse2", "avx2", "avx512"};

const char *mrc_kernel_name(enum mrc_kernel k)
{
    return (unsigned)k < MRC_KERNELS ? names[k] : "?";
}

bool mrc_kernel_runs(enum mrc_kernel k)
{
    switch (k) {
    case MRC_KERNEL_SCALAR:
        return true;
#if MRC_KERNELS_X86
    case MRC_KERNEL_SSE2: /* the x86-64 baseline */
        return true;
    case MRC_KERNEL_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
               __builtin_cpu_supports("bmi2");
    case MRC_KERNEL_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
               __builtin_cpu_supports("bmi2");
#endif
    default:
        return false;
    }
}

int mrc_kernel_choose(const char *name, enum mrc_kernel *k, mrc_err *err)
{
    int best = MRC_KERNEL_SCALAR;
    for (int i = MRC_KERNELS - 1; i > MRC_KERNEL_SCALAR; i--)
        if (mrc_kernel_runs((enum mrc_kernel)i)) {
            best = i;
            break;
        }
    if (name == NULL || name[0] == '\0' || strcmp(name, "auto") == 0) {
        *k = (enum mrc_kernel)best;
        return 0;
    }
    for (int i = 0; i < MRC_KERNELS; i++) {
        if (strcmp(name, names[i]) != 0) continue;
        if (!mrc_kernel_runs((enum mrc_kernel)i))
            return mrc_err_set(err, MRC_EINVAL,
                               "tokenizer kernel %s (MRC_KERNEL): this CPU cannot run it (the "
                               "best it runs: %s)",
                               name, names[best]);
        *k = (enum mrc_kernel)i;
        return 0;
    }
    return mrc_err_set(err, MRC_EINVAL,
                       "tokenizer kernel %s (MRC_KERNEL): unknown (auto, scalar, sse2, avx2, "
                       "avx512)",
                       name);
}

/* One set of out-of-line wrappers per kernel, each compiled for its kernel's target. */
#define MRC_KERNEL_WRAPPERS(isa, TARGET)                                                           \
    static TARGET uint64_t isa##_ws(const unsigned char *p)                                        \
    {                                                                                              \
        return kern_##isa##_ws(p);                                                                 \
    }                                                                                              \
    static TARGET uint64_t isa##_ws_fold(const unsigned char *p, unsigned char *d)                 \
    {                                                                                              \
        return kern_##isa##_ws_fold(p, d);                                                         \
    }                                                                                              \
    static TARGET uint64_t isa##_alnum(const unsigned char *p)                                     \
    {                                                                                              \
        return kern_##isa##_alnum(p);                                                              \
    }                                                                                              \
    static TARGET uint64_t isa##_alnum_fold(const unsigned char *p, unsigned char *d)              \
    {                                                                                              \
        return kern_##isa##_alnum_fold(p, d);                                                      \
    }                                                                                              \
    static TARGET void isa##_uascii(const unsigned char *p, mrc_ascii_masks *m)                    \
    {                                                                                              \
        kern_##isa##_uascii(p, m);                                                                 \
    }                                                                                              \
    static TARGET void isa##_uascii_fold(const unsigned char *p, unsigned char *d,                 \
                                         mrc_ascii_masks *m)                                       \
    {                                                                                              \
        kern_##isa##_uascii_fold(p, d, m);                                                         \
    }                                                                                              \
    static const mrc_kernel_ops isa##_ops = {isa##_ws,         isa##_ws_fold, isa##_alnum,         \
                                             isa##_alnum_fold, isa##_uascii,  isa##_uascii_fold};

#define MRC_NO_TARGET
MRC_KERNEL_WRAPPERS(scalar, MRC_NO_TARGET)
#if MRC_KERNELS_X86
MRC_KERNEL_WRAPPERS(sse2, MRC_TARGET_SSE2)
MRC_KERNEL_WRAPPERS(avx2, MRC_TARGET_AVX2)
MRC_KERNEL_WRAPPERS(avx512, MRC_TARGET_AVX512)
#endif

const mrc_kernel_ops *mrc_kernel_ops_of(enum mrc_kernel k)
{
    switch (k) {
    case MRC_KERNEL_SCALAR:
        return &scalar_ops;
#if MRC_KERNELS_X86
    case MRC_KERNEL_SSE2:
        return &sse2_ops;
    case MRC_KERNEL_AVX2:
        return &avx2_ops;
    case MRC_KERNEL_AVX512:
        return &avx512_ops;
#endif
    default:
        return NULL;
    }
}
