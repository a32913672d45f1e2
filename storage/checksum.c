/*
 * checksum.c: the 64-bit checksum of slots, records and header copies.
 *
 * (The function itself is in storage/checksum.h, in line for constant
 * lengths.) The structure of XXH64 (Collet): four independent accumulators over
 * 32-byte stripes, so the multiply chains overlap in the pipeline (a single
 * chain cost twice as much on the put path), then a merge and an avalanche.
 * The multipliers are the xxHash 64-bit primes. Detects torn writes and
 * flipped bits with probability 1 - 2^-64 per block; it is not a MAC
 * (nothing here defends against an attacker who can write the files).
 */
#include "storage/checksum.h"

uint64_t store__checksum64(const void *data, size_t len, uint64_t seed)
{
    return store__checksum64_inline(data, len, seed);
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
        v1 = gkv_ck_rotl64(v1, 13);                                                         \
        v1 ^= v0;                                                                    \
        v0 = gkv_ck_rotl64(v0, 32);                                                         \
        v2 += v3;                                                                    \
        v3 = gkv_ck_rotl64(v3, 16);                                                         \
        v3 ^= v2;                                                                    \
        v0 += v3;                                                                    \
        v3 = gkv_ck_rotl64(v3, 21);                                                         \
        v3 ^= v0;                                                                    \
        v2 += v1;                                                                    \
        v1 = gkv_ck_rotl64(v1, 17);                                                         \
        v1 ^= v2;                                                                    \
        v2 = gkv_ck_rotl64(v2, 32);                                                         \
    } while (0)

uint64_t store__siphash24(const void *data, size_t len, uint64_t k0, uint64_t k1)
{
    /* The initialization constants are "somepseudorandomlygeneratedbytes". */
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    const uint8_t *p = data;
    size_t blocks = len / 8;
    for (size_t i = 0; i < blocks; i++, p += 8) {
        uint64_t m = gkv_ck_load64(p);
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
    case 4: b |= (uint64_t)gkv_ck_load32(p); break;
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
