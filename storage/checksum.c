/*
 * checksum.c: the 64-bit checksum of slots, records and header copies.
 *
 * The structure of XXH64 (Collet): four independent accumulators over
 * 32-byte stripes, so the multiply chains overlap in the pipeline (a single
 * chain cost twice as much on the put path), then a merge and an avalanche.
 * The multipliers are the xxHash 64-bit primes. Detects torn writes and
 * flipped bits with probability 1 - 2^-64 per block; it is not a MAC
 * (nothing here defends against an attacker who can write the files).
 */
#include <string.h>

#include "storage/store_int.h"

#define P1 0x9e3779b185ebca87ull
#define P2 0xc2b2ae3d27d4eb4full
#define P3 0x165667b19e3779f9ull
#define P4 0x85ebca77c2b2ae63ull
#define P5 0x27d4eb2f165667c5ull

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

static inline uint64_t lane(uint64_t acc, uint64_t w)
{
    acc += w * P2;
    acc = rotl64(acc, 31);
    return acc * P1;
}

static inline uint64_t fold(uint64_t h, uint64_t acc)
{
    h ^= lane(0, acc);
    return h * P1 + P4;
}

uint64_t store__checksum64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t a = seed + P1 + P2, b = seed + P2, c = seed, d = seed - P1;
        do {
            a = lane(a, load64(p));
            b = lane(b, load64(p + 8));
            c = lane(c, load64(p + 16));
            d = lane(d, load64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
        h = fold(h, a);
        h = fold(h, b);
        h = fold(h, c);
        h = fold(h, d);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)len;
    while (end - p >= 8) {
        h ^= lane(0, load64(p));
        h = rotl64(h, 27) * P1 + P4;
        p += 8;
    }
    if (end - p >= 4) {
        h ^= (uint64_t)load32(p) * P1;
        h = rotl64(h, 23) * P2 + P3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * P5;
        h = rotl64(h, 11) * P1;
        p++;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012), 64-bit output: the keyed placement hash. It returns exactly what
 * libsodium's crypto_shorthash returns for the key (k0, k1) read
 * little-endian (test_store.c checks it), so files are unchanged; it exists
 * because a get spends its time waiting on memory, and the out-of-line call,
 * byte-wise loads and key setup of the generic version lengthened the
 * instruction stream between one get's loads and the next get's. */
#define SIPROUND                                                                     \
    do {                                                                             \
        v0 += v1;                                                                    \
        v1 = rotl64(v1, 13);                                                         \
        v1 ^= v0;                                                                    \
        v0 = rotl64(v0, 32);                                                         \
        v2 += v3;                                                                    \
        v3 = rotl64(v3, 16);                                                         \
        v3 ^= v2;                                                                    \
        v0 += v3;                                                                    \
        v3 = rotl64(v3, 21);                                                         \
        v3 ^= v0;                                                                    \
        v2 += v1;                                                                    \
        v1 = rotl64(v1, 17);                                                         \
        v1 ^= v2;                                                                    \
        v2 = rotl64(v2, 32);                                                         \
    } while (0)

uint64_t store__siphash24(const void *data, size_t len, uint64_t k0, uint64_t k1)
{
    /* The initialization constants are "somepseudorandomlygeneratedbytes". */
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    const uint8_t *p = data;
    size_t blocks = len / 8;
    for (size_t i = 0; i < blocks; i++, p += 8) {
        uint64_t m = load64(p);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    switch (len & 7) {
    case 7: b |= (uint64_t)p[6] << 48; /* fall through */
    case 6: b |= (uint64_t)p[5] << 40; /* fall through */
    case 5: b |= (uint64_t)p[4] << 32; /* fall through */
    case 4: b |= (uint64_t)load32(p); break;
    case 3: b |= (uint64_t)p[2] << 16; /* fall through */
    case 2: b |= (uint64_t)p[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)p[0]; break;
    default: break;
    }
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
