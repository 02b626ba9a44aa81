/* kernels.h - the tokenizers' block kernels, private to map/. For one 64-byte block: the bit
 * mask of its delimiter bytes (bit i = byte i) for a token class, optionally storing the block's
 * ASCII lower-cased copy on the way (--fold-case), and the three masks of the unicode-ascii
 * class. One body per instruction set (scalar, SSE2, AVX2, AVX-512BW), each always_inline and
 * carrying its target attribute, so a consumer compiled once per target inlines its kernel:
 * never a per-block indirect call. No -march: the CPU is asked at run time (kernels.c).
 * These bodies must never read past p[63] nor write past dst[63].
 * A tokenizer uses them as words.c does: its consumer body in a header included once per kernel
 * with that kernel's MRC_TARGET_* on every function of it, calling kern_<isa>_<op> directly, and
 * a table of the instances indexed by the mrc_kernel that mrc_kernel_choose() returned. */
#ifndef MRCOUNT_MAP_KERNELS_H
#define MRCOUNT_MAP_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "mrcount/common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MRC_KERNELS_X86 1
#include <immintrin.h>
#else
#define MRC_KERNELS_X86 0
#endif

enum mrc_kernel {
    MRC_KERNEL_SCALAR,
    MRC_KERNEL_SSE2,
    MRC_KERNEL_AVX2,
    MRC_KERNEL_AVX512,
    MRC_KERNELS
};

/** mrc_kernel_name() : "scalar", "sse2", "avx2" or "avx512". */
const char *mrc_kernel_name(enum mrc_kernel k);

/** mrc_kernel_runs() : k is built in and this CPU (and its OS) can run it. */
bool mrc_kernel_runs(enum mrc_kernel k);

/** mrc_kernel_choose() : the kernel called `name`; NULL, "" or "auto": the best this CPU runs.
 *  @return 0, or MRC_EINVAL with err naming the kernel (unknown, or not runnable here). */
int mrc_kernel_choose(const char *name, enum mrc_kernel *k, mrc_err *err);

/* The unicode-ascii class of a block: ASCII letters and digits, the apostrophe ', and bytes
 * >= 0x80 (a block with high == 0 is all ASCII and needs no UTF-8 decoding). */
typedef struct mrc_ascii_masks {
    uint64_t alnum, apos, high;
} mrc_ascii_masks;

/* Each kernel as out-of-line functions (kernels.c), for tests and cold callers; hot loops
 * instantiate themselves per target and call the kern_<isa>_* bodies below instead. */
typedef struct mrc_kernel_ops {
    uint64_t (*ws)(const unsigned char *p); /* delimiters: space \t \n \v \f \r */
    uint64_t (*ws_fold)(const unsigned char *p, unsigned char *dst);
    uint64_t (*alnum)(const unsigned char *p); /* delimiters: all but [A-Za-z0-9'] */
    uint64_t (*alnum_fold)(const unsigned char *p, unsigned char *dst);
    void (*uascii)(const unsigned char *p, mrc_ascii_masks *m);
    void (*uascii_fold)(const unsigned char *p, unsigned char *dst, mrc_ascii_masks *m);
} mrc_kernel_ops;

/** mrc_kernel_ops_of() : kernel k's functions, NULL if this build has no such kernel (whether
 *  the CPU runs them is mrc_kernel_runs()'s answer). */
const mrc_kernel_ops *mrc_kernel_ops_of(enum mrc_kernel k);

#define MRC_KERNEL_INLINE static inline __attribute__((always_inline))

/* ---- scalar: one class table, one load per byte ---- */

/* Byte classes; MRC_CLASS_UPPER is 0x20 so that folding is c | (class & 0x20). */
#define MRC_CLASS_WS 0x01    /* ASCII whitespace */
#define MRC_CLASS_KEEP 0x02  /* [A-Za-z0-9'] */
#define MRC_CLASS_ALNUM 0x04 /* [A-Za-z0-9] */
#define MRC_CLASS_APOS 0x08  /* ' */
#define MRC_CLASS_HIGH 0x10  /* >= 0x80 */
#define MRC_CLASS_UPPER 0x20 /* [A-Z] */
extern const unsigned char mrc_kernel_class[256];

MRC_KERNEL_INLINE uint64_t kern_scalar_bits(const unsigned char *p, unsigned bit)
{
    uint64_t m = 0;
    for (int i = 0; i < 64; i++)
        m |= (uint64_t)((mrc_kernel_class[p[i]] & bit) != 0) << i;
    return m;
}

MRC_KERNEL_INLINE void kern_scalar_fold(const unsigned char *p, unsigned char *dst)
{
    for (int i = 0; i < 64; i++)
        dst[i] = (unsigned char)(p[i] | (mrc_kernel_class[p[i]] & MRC_CLASS_UPPER));
}

MRC_KERNEL_INLINE uint64_t kern_scalar_ws(const unsigned char *p)
{
    return kern_scalar_bits(p, MRC_CLASS_WS);
}
MRC_KERNEL_INLINE uint64_t kern_scalar_ws_fold(const unsigned char *p, unsigned char *dst)
{
    kern_scalar_fold(p, dst);
    return kern_scalar_bits(p, MRC_CLASS_WS);
}
MRC_KERNEL_INLINE uint64_t kern_scalar_alnum(const unsigned char *p)
{
    return ~kern_scalar_bits(p, MRC_CLASS_KEEP);
}
MRC_KERNEL_INLINE uint64_t kern_scalar_alnum_fold(const unsigned char *p, unsigned char *dst)
{
    kern_scalar_fold(p, dst);
    return ~kern_scalar_bits(p, MRC_CLASS_KEEP);
}
MRC_KERNEL_INLINE void kern_scalar_uascii(const unsigned char *p, mrc_ascii_masks *m)
{
    m->alnum = kern_scalar_bits(p, MRC_CLASS_ALNUM);
    m->apos = kern_scalar_bits(p, MRC_CLASS_APOS);
    m->high = kern_scalar_bits(p, MRC_CLASS_HIGH);
}
MRC_KERNEL_INLINE void kern_scalar_uascii_fold(const unsigned char *p, unsigned char *dst,
                                               mrc_ascii_masks *m)
{
    kern_scalar_fold(p, dst);
    kern_scalar_uascii(p, m);
}

#if MRC_KERNELS_X86

/* The nibble tables of [A-Za-z0-9']: a byte is kept when LO[low nibble] & HI[high nibble] != 0.
 * Bits: 1 digits (high 3, low 0-9), 2 A-O a-o (high 4/6, low 1-F), 4 P-Z p-z (high 5/7, low 0-A),
 * 8 the apostrophe (high 2, low 7). pshufb gives 0 for a byte >= 0x80, so the low lookup may
 * index with the byte itself: high bytes are never kept. */
#define MRC_NIBBLE_LO 5, 7, 7, 7, 7, 7, 7, 15, 7, 7, 6, 2, 2, 2, 2, 2
#define MRC_NIBBLE_HI 0, 0, 8, 1, 2, 4, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0
/* Whitespace by one lookup: the whitespace byte with each low nibble (0 where there is none);
 * a byte is whitespace when the lookup gives it back. */
#define MRC_WS_BY_NIBBLE ' ', 0, 0, 0, 0, 0, 0, 0, 0, '\t', '\n', '\v', '\f', '\r', 0, 0

/* ---- SSE2 (the x86-64 baseline): four 16-byte steps, range tests by unsigned min ---- */

#define MRC_TARGET_SSE2 __attribute__((target("sse2")))

MRC_KERNEL_INLINE MRC_TARGET_SSE2 __m128i kern_sse2_in_range(__m128i x, char lo, char span)
{
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span)), d); /* lo <= x <= lo + span */
}

MRC_KERNEL_INLINE MRC_TARGET_SSE2 unsigned kern_sse2_ws16(__m128i x)
{
    __m128i ctl = kern_sse2_in_range(x, '\t', 4);
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(x, _mm_set1_epi8(' '))));
}

/* [A-Za-z0-9] bytes (alnum) of x. */
MRC_KERNEL_INLINE MRC_TARGET_SSE2 __m128i kern_sse2_alnum_of(__m128i x)
{
    __m128i alpha = kern_sse2_in_range(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 25);
    return _mm_or_si128(alpha, kern_sse2_in_range(x, '0', 9));
}

MRC_KERNEL_INLINE MRC_TARGET_SSE2 unsigned kern_sse2_alnum16(__m128i x)
{
    __m128i keep = _mm_or_si128(kern_sse2_alnum_of(x), _mm_cmpeq_epi8(x, _mm_set1_epi8('\'')));
    return (unsigned)_mm_movemask_epi8(keep) ^ 0xffffu;
}

/* x with A-Z lowered: 'A'..'Z' + 0x3f is -128..-103 as signed bytes, the only bytes below -102. */
MRC_KERNEL_INLINE MRC_TARGET_SSE2 __m128i kern_sse2_fold16(__m128i x)
{
    __m128i up = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(0x3f)), _mm_set1_epi8(-102));
    return _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20)));
}

MRC_KERNEL_INLINE MRC_TARGET_SSE2 __m128i kern_sse2_load(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

MRC_KERNEL_INLINE MRC_TARGET_SSE2 uint64_t kern_sse2_ws(const unsigned char *p)
{
    uint64_t m = 0;
    for (int i = 0; i < 4; i++)
        m |= (uint64_t)kern_sse2_ws16(kern_sse2_load(p + 16 * i)) << 16 * i;
    return m;
}
MRC_KERNEL_INLINE MRC_TARGET_SSE2 uint64_t kern_sse2_ws_fold(const unsigned char *p,
                                                             unsigned char *dst)
{
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        __m128i x = kern_sse2_load(p + 16 * i);
        _mm_storeu_si128((__m128i *)(void *)(dst + 16 * i), kern_sse2_fold16(x));
        m |= (uint64_t)kern_sse2_ws16(x) << 16 * i;
    }
    return m;
}
MRC_KERNEL_INLINE MRC_TARGET_SSE2 uint64_t kern_sse2_alnum(const unsigned char *p)
{
    uint64_t m = 0;
    for (int i = 0; i < 4; i++)
        m |= (uint64_t)kern_sse2_alnum16(kern_sse2_load(p + 16 * i)) << 16 * i;
    return m;
}
MRC_KERNEL_INLINE MRC_TARGET_SSE2 uint64_t kern_sse2_alnum_fold(const unsigned char *p,
                                                                unsigned char *dst)
{
    uint64_t m = 0;
    for (int i = 0; i < 4; i++) {
        __m128i x = kern_sse2_load(p + 16 * i);
        _mm_storeu_si128((__m128i *)(void *)(dst + 16 * i), kern_sse2_fold16(x));
        m |= (uint64_t)kern_sse2_alnum16(x) << 16 * i;
    }
    return m;
}
MRC_KERNEL_INLINE MRC_TARGET_SSE2 void kern_sse2_uascii(const unsigned char *p, mrc_ascii_masks *m)
{
    uint64_t alnum = 0, apos = 0, high = 0;
    for (int i = 0; i < 4; i++) {
        __m128i x = kern_sse2_load(p + 16 * i);
        alnum |= (uint64_t)(unsigned)_mm_movemask_epi8(kern_sse2_alnum_of(x)) << 16 * i;
        apos |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\'')))
                << 16 * i;
        high |= (uint64_t)(unsigned)_mm_movemask_epi8(x) << 16 * i;
    }
    *m = (mrc_ascii_masks){alnum, apos, high};
}
MRC_KERNEL_INLINE MRC_TARGET_SSE2 void kern_sse2_uascii_fold(const unsigned char *p,
                                                             unsigned char *dst, mrc_ascii_masks *m)
{
    for (int i = 0; i < 4; i++)
        _mm_storeu_si128((__m128i *)(void *)(dst + 16 * i),
                         kern_sse2_fold16(kern_sse2_load(p + 16 * i)));
    kern_sse2_uascii(p, m);
}

/* ---- AVX2: two 32-byte steps, classes by nibble lookups (vpshufb) ---- */

/* bmi/bmi2 too: the consumers' edge loops get tzcnt and blsr. */
#define MRC_TARGET_AVX2 __attribute__((target("avx2,bmi,bmi2")))

MRC_KERNEL_INLINE MRC_TARGET_AVX2 __m256i kern_avx2_load(const unsigned char *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

MRC_KERNEL_INLINE MRC_TARGET_AVX2 uint32_t kern_avx2_ws32(__m256i x)
{
    const __m256i t = _mm256_setr_epi8(MRC_WS_BY_NIBBLE, MRC_WS_BY_NIBBLE);
    return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(t, x), x));
}

/* LO[x] & HI[x >> 4]: nonzero where x is kept by --tokens alnum (bit 8: the apostrophe). */
MRC_KERNEL_INLINE MRC_TARGET_AVX2 __m256i kern_avx2_nibbles(__m256i x)
{
    const __m256i lo = _mm256_setr_epi8(MRC_NIBBLE_LO, MRC_NIBBLE_LO);
    const __m256i hi = _mm256_setr_epi8(MRC_NIBBLE_HI, MRC_NIBBLE_HI);
    __m256i h = _mm256_and_si256(_mm256_srli_epi16(x, 4), _mm256_set1_epi8(0x0f));
    return _mm256_and_si256(_mm256_shuffle_epi8(lo, x), _mm256_shuffle_epi8(hi, h));
}

MRC_KERNEL_INLINE MRC_TARGET_AVX2 uint32_t kern_avx2_alnum32(__m256i x)
{
    __m256i none = _mm256_cmpeq_epi8(kern_avx2_nibbles(x), _mm256_setzero_si256());
    return (uint32_t)_mm256_movemask_epi8(none);
}

MRC_KERNEL_INLINE MRC_TARGET_AVX2 __m256i kern_avx2_fold32(__m256i x)
{
    __m256i up =
        _mm256_cmpgt_epi8(_mm256_set1_epi8(-102), _mm256_add_epi8(x, _mm256_set1_epi8(0x3f)));
    return _mm256_or_si256(x, _mm256_and_si256(up, _mm256_set1_epi8(0x20)));
}

MRC_KERNEL_INLINE MRC_TARGET_AVX2 uint64_t kern_avx2_ws(const unsigned char *p)
{
    return kern_avx2_ws32(kern_avx2_load(p)) | (uint64_t)kern_avx2_ws32(kern_avx2_load(p + 32))
                                                   << 32;
}
MRC_KERNEL_INLINE MRC_TARGET_AVX2 uint64_t kern_avx2_ws_fold(const unsigned char *p,
                                                             unsigned char *dst)
{
    __m256i a = kern_avx2_load(p), b = kern_avx2_load(p + 32);
    _mm256_storeu_si256((__m256i *)(void *)dst, kern_avx2_fold32(a));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 32), kern_avx2_fold32(b));
    return kern_avx2_ws32(a) | (uint64_t)kern_avx2_ws32(b) << 32;
}
MRC_KERNEL_INLINE MRC_TARGET_AVX2 uint64_t kern_avx2_alnum(const unsigned char *p)
{
    return kern_avx2_alnum32(kern_avx2_load(p)) |
           (uint64_t)kern_avx2_alnum32(kern_avx2_load(p + 32)) << 32;
}
MRC_KERNEL_INLINE MRC_TARGET_AVX2 uint64_t kern_avx2_alnum_fold(const unsigned char *p,
                                                                unsigned char *dst)
{
    __m256i a = kern_avx2_load(p), b = kern_avx2_load(p + 32);
    _mm256_storeu_si256((__m256i *)(void *)dst, kern_avx2_fold32(a));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 32), kern_avx2_fold32(b));
    return kern_avx2_alnum32(a) | (uint64_t)kern_avx2_alnum32(b) << 32;
}
MRC_KERNEL_INLINE MRC_TARGET_AVX2 void kern_avx2_uascii(const unsigned char *p, mrc_ascii_masks *m)
{
    uint64_t none[2], apos[2], high[2];
    for (int i = 0; i < 2; i++) {
        __m256i x = kern_avx2_load(p + 32 * i), n = kern_avx2_nibbles(x);
        __m256i letter = _mm256_and_si256(n, _mm256_set1_epi8(7));
        none[i] = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(letter, _mm256_setzero_si256()));
        apos[i] = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\'')));
        high[i] = (uint32_t)_mm256_movemask_epi8(x);
    }
    *m = (mrc_ascii_masks){~(none[0] | none[1] << 32), apos[0] | apos[1] << 32,
                           high[0] | high[1] << 32};
}
MRC_KERNEL_INLINE MRC_TARGET_AVX2 void kern_avx2_uascii_fold(const unsigned char *p,
                                                             unsigned char *dst, mrc_ascii_masks *m)
{
    for (int i = 0; i < 2; i++)
        _mm256_storeu_si256((__m256i *)(void *)(dst + 32 * i),
                            kern_avx2_fold32(kern_avx2_load(p + 32 * i)));
    kern_avx2_uascii(p, m);
}

/* ---- AVX-512BW: one 64-byte step, comparisons straight into 64-bit mask registers ---- */

#define MRC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx2,bmi,bmi2")))

MRC_KERNEL_INLINE MRC_TARGET_AVX512 __m512i kern_avx512_load(const unsigned char *p)
{
    return _mm512_loadu_si512((const void *)p);
}

MRC_KERNEL_INLINE MRC_TARGET_AVX512 __m512i kern_avx512_nibbles(__m512i x)
{
    const __m512i lo = _mm512_broadcast_i32x4(_mm_setr_epi8(MRC_NIBBLE_LO));
    const __m512i hi = _mm512_broadcast_i32x4(_mm_setr_epi8(MRC_NIBBLE_HI));
    __m512i h = _mm512_and_si512(_mm512_srli_epi16(x, 4), _mm512_set1_epi8(0x0f));
    return _mm512_and_si512(_mm512_shuffle_epi8(lo, x), _mm512_shuffle_epi8(hi, h));
}

MRC_KERNEL_INLINE MRC_TARGET_AVX512 __m512i kern_avx512_fold(__m512i x)
{
    __mmask64 up =
        _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('A')), _mm512_set1_epi8(26));
    return _mm512_mask_add_epi8(x, up, x, _mm512_set1_epi8(0x20));
}

MRC_KERNEL_INLINE MRC_TARGET_AVX512 uint64_t kern_avx512_ws(const unsigned char *p)
{
    const __m512i t = _mm512_broadcast_i32x4(_mm_setr_epi8(MRC_WS_BY_NIBBLE));
    __m512i x = kern_avx512_load(p);
    return _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(t, x), x);
}
MRC_KERNEL_INLINE MRC_TARGET_AVX512 uint64_t kern_avx512_ws_fold(const unsigned char *p,
                                                                 unsigned char *dst)
{
    _mm512_storeu_si512((void *)dst, kern_avx512_fold(kern_avx512_load(p)));
    return kern_avx512_ws(p);
}
MRC_KERNEL_INLINE MRC_TARGET_AVX512 uint64_t kern_avx512_alnum(const unsigned char *p)
{
    __m512i n = kern_avx512_nibbles(kern_avx512_load(p));
    return _mm512_testn_epi8_mask(n, n);
}
MRC_KERNEL_INLINE MRC_TARGET_AVX512 uint64_t kern_avx512_alnum_fold(const unsigned char *p,
                                                                    unsigned char *dst)
{
    _mm512_storeu_si512((void *)dst, kern_avx512_fold(kern_avx512_load(p)));
    return kern_avx512_alnum(p);
}
MRC_KERNEL_INLINE MRC_TARGET_AVX512 void kern_avx512_uascii(const unsigned char *p,
                                                            mrc_ascii_masks *m)
{
    __m512i x = kern_avx512_load(p), n = kern_avx512_nibbles(x);
    m->alnum = _mm512_test_epi8_mask(n, _mm512_set1_epi8(7));
    m->apos = _mm512_test_epi8_mask(n, _mm512_set1_epi8(8));
    m->high = _mm512_movepi8_mask(x);
}
MRC_KERNEL_INLINE MRC_TARGET_AVX512 void
kern_avx512_uascii_fold(const unsigned char *p, unsigned char *dst, mrc_ascii_masks *m)
{
    _mm512_storeu_si512((void *)dst, kern_avx512_fold(kern_avx512_load(p)));
    kern_avx512_uascii(p, m);
}

#endif /* MRC_KERNELS_X86 */

#endif
