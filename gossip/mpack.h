/*
 * mpack.h: the bounded msgpack reader of the wire codec, and the sizes of
 * what msgpack-c's packer writes (internal to gossip/; wire.h is the public
 * API).
 *
 * Why not msgpack-c to read: its unpacker trusts declared counts and
 * lengths and allocates for them up front (a 5-byte input `dd 00 ff ff ff`
 * asks for 537 MB), and it has no depth limit. msgpack-c's packer writes
 * (wire_encode.c); only reading is ours. This reader is a cursor over const
 * bytes in the style of hiredis read.h: it never touches I/O, never
 * allocates, and checks every declared count and length against the bytes
 * that remain before trusting it. Strings and binaries are returned as
 * pointers into the input (zero copy).
 *
 * Reader invariants (every mpack_read_* function):
 *   1. On success the cursor has advanced past exactly one complete header
 *      (and payload, for scalars/str/bin) and p <= end still holds.
 *   2. On failure it returns GKV_EDECODE and the cursor is unspecified; the
 *      caller abandons the whole message.
 *   3. A map's declared pair count n satisfies 2n <= bytes remaining, an
 *      array's n <= bytes remaining (every element takes at least 1 byte),
 *      so a count can bound a loop but never an allocation by itself.
 *
 * Sizes: mpack_size_* say how many bytes msgpack-c's packer takes for a
 * value, so wire_encode.c can size a message (and the prefix of a list that fits)
 * before it packs it. They follow msgpack-c's choices (the smallest form,
 * as the spec asks); tests/unit/test_wire.c checks every encoding's length
 * against them and pins the bytes.
 *
 * Format reference: https://github.com/msgpack/msgpack/blob/master/spec.md
 */
#ifndef GKV_GOSSIP_MPACK_H
#define GKV_GOSSIP_MPACK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/errors.h"

/* Deepest nesting mpack_skip can track (its stack lives on the C stack). */
#define MPACK_SKIP_MAX_DEPTH 32u

struct mpack_reader {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last readable byte */
};

static inline void mpack_reader_init(struct mpack_reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->end = buf + len;
}

static inline size_t mpack_left(const struct mpack_reader *r)
{
    return (size_t)(r->end - r->p);
}

static inline uint16_t mpack_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t mpack_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t mpack_be64(const uint8_t *p)
{
    return (uint64_t)mpack_be32(p) << 32 | mpack_be32(p + 4);
}

/* An unsigned integer: positive fixint, uint8..uint64, or a non-negative
 * int8..int64 (the spec lets encoders use signed types for positives). */
static inline int mpack_read_uint(struct mpack_reader *r, uint64_t *out)
{
    const uint8_t *p = r->p;
    size_t left = (size_t)(r->end - p);
    if (left == 0)
        return GKV_EDECODE;
    uint8_t b = p[0];
    if (b <= 0x7f) {
        *out = b;
        r->p = p + 1;
        return 0;
    }
    /* 0xcc..0xcf: uint8/16/32/64; 0xd0..0xd3: int8/16/32/64. */
    unsigned idx = (unsigned)b - 0xccu;
    if (idx > 7)
        return GKV_EDECODE;
    size_t n = (size_t)1 << (idx & 3u);
    if (left <= n)
        return GKV_EDECODE;
    uint64_t v;
    if (n == 1)
        v = p[1];
    else if (n == 2)
        v = mpack_be16(p + 1);
    else if (n == 4)
        v = mpack_be32(p + 1);
    else
        v = mpack_be64(p + 1);
    if (idx >= 4 && (v >> (8 * n - 1)) != 0)
        return GKV_EDECODE; /* a negative signed integer */
    *out = v;
    r->p = p + 1 + n;
    return 0;
}

/* A uint that must be <= max. */
static inline int mpack_read_uint_max(struct mpack_reader *r, uint64_t max, uint64_t *out)
{
    int rc = mpack_read_uint(r, out);
    if (rc == 0 && *out > max)
        return GKV_EDECODE;
    return rc;
}

static inline int mpack_read_bool(struct mpack_reader *r, int *out)
{
    if (mpack_left(r) == 0 || (r->p[0] != 0xc2 && r->p[0] != 0xc3))
        return GKV_EDECODE;
    *out = r->p[0] == 0xc3;
    r->p += 1;
    return 0;
}

/* Container header: shared by map (pairs) and array (elements). */
static inline int mpack__read_count(struct mpack_reader *r, uint8_t fix_lo, uint8_t c16,
                                    uint8_t c32, unsigned per_item, uint32_t *out)
{
    size_t left = mpack_left(r);
    if (left == 0)
        return GKV_EDECODE;
    const uint8_t *p = r->p;
    uint8_t b = p[0];
    uint32_t n;
    size_t hdr;
    if (b >= fix_lo && b <= fix_lo + 0x0f) {
        n = b & 0x0fu;
        hdr = 1;
    } else if (b == c16) {
        if (left < 3)
            return GKV_EDECODE;
        n = mpack_be16(p + 1);
        hdr = 3;
    } else if (b == c32) {
        if (left < 5)
            return GKV_EDECODE;
        n = mpack_be32(p + 1);
        hdr = 5;
    } else {
        return GKV_EDECODE;
    }
    /* Invariant 3: every element takes >= 1 byte. */
    if ((uint64_t)n * per_item > left - hdr)
        return GKV_EDECODE;
    *out = n;
    r->p += hdr;
    return 0;
}

static inline int mpack_read_map(struct mpack_reader *r, uint32_t *pairs)
{
    return mpack__read_count(r, 0x80, 0xde, 0xdf, 2, pairs);
}

static inline int mpack_read_array(struct mpack_reader *r, uint32_t *n)
{
    return mpack__read_count(r, 0x90, 0xdc, 0xdd, 1, n);
}

/* A str or bin (either is accepted wherever bytes are expected: names are
 * written as str, keys and values as bin). *data points into the input. */
static inline int mpack_read_bytes(struct mpack_reader *r, const uint8_t **data, uint32_t *len)
{
    size_t left = mpack_left(r);
    if (left == 0)
        return GKV_EDECODE;
    const uint8_t *p = r->p;
    uint8_t b = p[0];
    uint32_t n;
    size_t hdr;
    if (b >= 0xa0 && b <= 0xbf) {
        n = b & 0x1fu;
        hdr = 1;
    } else if (b == 0xd9 || b == 0xc4) { /* str8, bin8 */
        if (left < 2)
            return GKV_EDECODE;
        n = p[1];
        hdr = 2;
    } else if (b == 0xda || b == 0xc5) { /* str16, bin16 */
        if (left < 3)
            return GKV_EDECODE;
        n = mpack_be16(p + 1);
        hdr = 3;
    } else if (b == 0xdb || b == 0xc6) { /* str32, bin32 */
        if (left < 5)
            return GKV_EDECODE;
        n = mpack_be32(p + 1);
        hdr = 5;
    } else {
        return GKV_EDECODE;
    }
    if (n > left - hdr)
        return GKV_EDECODE;
    *data = p + hdr;
    *len = n;
    r->p += hdr + n;
    return 0;
}

/* Skip count complete objects of any type (ext and float included). A
 * container opened while skipping counts one level against max_depth:
 * max_depth 0 means only scalars may be skipped. Returns GKV_ELIMIT past
 * max_depth, GKV_EDECODE on malformed input. Iterative, no allocation: the
 * pending counts live in a small array on the stack, and the loop consumes
 * at least one byte per step, so it runs at most len times. */
int mpack_skip(struct mpack_reader *r, uint64_t count, unsigned max_depth);

/* ----------------------------------------------------------------- sizes */

/* Big-endian stores, for what is not a msgpack header: the digest's hashes
 * inside their bin, the sync-stream frame prefix. */
static inline uint8_t *mpack_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static inline uint8_t *mpack_put_be64(uint8_t *p, uint64_t v)
{
    mpack_put_be32(p, (uint32_t)(v >> 32));
    return mpack_put_be32(p + 4, (uint32_t)v);
}

/* msgpack_pack_uint64: fixint up to 127, then uint8/16/32/64. */
static inline size_t mpack_size_uint(uint64_t v)
{
    if (v <= 0x7f)
        return 1;
    if (v <= 0xff)
        return 2;
    if (v <= 0xffff)
        return 3;
    if (v <= 0xffffffffu)
        return 5;
    return 9;
}

/* msgpack_pack_map / msgpack_pack_array: 1 byte up to 15, 3 up to 65535,
 * else 5. */
static inline size_t mpack_size_count(uint32_t n)
{
    return n <= 15 ? 1 : n <= 0xffff ? 3 : 5;
}

/* msgpack_pack_str: fixstr up to 31 bytes, then str8/16/32. */
static inline size_t mpack_size_str_hdr(uint32_t len)
{
    return len <= 31 ? 1 : len <= 0xff ? 2 : len <= 0xffff ? 3 : 5;
}

/* msgpack_pack_bin: bin8/16/32 (no fix form). */
static inline size_t mpack_size_bin_hdr(uint32_t len)
{
    return len <= 0xff ? 2 : len <= 0xffff ? 3 : 5;
}

#endif
