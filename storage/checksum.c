/*
 * checksum.c: the 64-bit checksum of slots, records and header copies.
 *
 * Two independent murmur3-style lanes over 8-byte words (so the loop is not
 * one long dependency chain), the murmur3 fmix64 finalizer. Detects torn
 * writes and flipped bits with probability 1 - 2^-64 per block; it is not a
 * MAC (nothing here defends against an attacker who can write the files).
 * Constants are murmur3's (Appleby, public domain).
 */
#include <string.h>

#include "storage/store_int.h"

#define C1 0x87c37b91114253d5ull
#define C2 0x4cf5ad432745937full

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

uint64_t store__checksum64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h1 = seed, h2 = seed ^ C2;
    size_t n = len;
    while (n >= 16) {
        uint64_t k1 = load64(p), k2 = load64(p + 8);
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
        h1 = rotl64(h1, 27) * 5 + 0x52dce729;
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
        h2 = rotl64(h2, 31) * 5 + 0x38495ab5;
        p += 16;
        n -= 16;
    }
    if (n > 0) {
        uint8_t tail[16] = {0};
        memcpy(tail, p, n);
        uint64_t k1 = load64(tail), k2 = load64(tail + 8);
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    return h1 + h2;
}
