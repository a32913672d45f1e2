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
