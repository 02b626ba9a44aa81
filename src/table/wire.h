/* wire.h - the serialized table's record layout for the files of table/ (private): the record
 * head and little-endian loads and stores that make no alignment assumption. */
#ifndef MRCOUNT_TABLE_WIRE_H
#define MRCOUNT_TABLE_WIRE_H

#include <stdint.h>
#include <string.h>

#define REC_HEAD 12 /* u64 count + u32 key length, then the key bytes */

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the serialized table format is little-endian and read with plain loads"
#endif

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void store64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline void store32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

#endif
