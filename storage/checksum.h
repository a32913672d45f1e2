/*
 * checksum.h: store__checksum64 in line, for callers whose length is a
 * compile-time constant (a slot's 56 bytes, a record's 40-byte head). The
 * compiler then drops the loops and tail branches: a slot's checksum went
 * from 149 to 124 instructions (callgrind), and a put computes 3.3 of them
 * (its own slot and, on average, 2.3 migrations across doublings): 3.8 %
 * fewer instructions per put in storage_bench.
 * storage/checksum.c's store__checksum64 is this same function out of line
 * for variable lengths; both return the same value for the same bytes.
 * storage/entry.c also builds entry_version_hash(), a cluster-wide digest,
 * on it (under public seeds), which is why the loads below are
 * little-endian on every host.
 */
#ifndef GKV_STORAGE_CHECKSUM_H
#define GKV_STORAGE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The same function out of line (storage/checksum.c), for variable lengths.
 * It is XXH64 (Collet) exactly, words read little-endian on every host
 * (test_checksum64_is_xxh64_read_little_endian pins it against libxxhash's
 * values). Also declared in store_int.h; here so that storage/entry.c's
 * cluster-wide digests need nothing of the file format. */
uint64_t store__checksum64(const void *data, size_t len, uint64_t seed);
/* SipHash-2-4 under (k0, k1), bit-for-bit libsodium's crypto_shorthash
 * (storage/checksum.c). */
uint64_t store__siphash24(const void *data, size_t len, uint64_t k0, uint64_t k1);

/* The xxHash 64-bit primes (XXH64 specification). */
#define GKV_CK_P1 0x9e3779b185ebca87ull
#define GKV_CK_P2 0xc2b2ae3d27d4eb4full
#define GKV_CK_P3 0x165667b19e3779f9ull
#define GKV_CK_P4 0x85ebca77c2b2ae63ull
#define GKV_CK_P5 0x27d4eb2f165667c5ull

static inline uint64_t gkv_ck_rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* Words are read little-endian whatever the host: the file checksums are
 * documented little-endian (docs/FILE_FORMAT.md), store__siphash24 must read
 * as crypto_shorthash does, and entry_version_hash() (storage/entry.c) is a
 * cluster-wide digest that every host must compute alike. memcpy keeps the
 * load legal at any alignment; on little-endian hosts (x86, arm64) it is one
 * plain load, on big-endian ones one load and a byte swap. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define GKV_CK_BIG_ENDIAN 1
#elif defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define GKV_CK_BIG_ENDIAN 0
#else
#error "storage/checksum.h: unknown byte order (__BYTE_ORDER__ is GCC/Clang's; add this compiler's)"
#endif

static inline uint64_t gkv_ck_load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if GKV_CK_BIG_ENDIAN
    w = __builtin_bswap64(w);
#endif
    return w;
}

static inline uint32_t gkv_ck_load32(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
#if GKV_CK_BIG_ENDIAN
    w = __builtin_bswap32(w);
#endif
    return w;
}

/* v in little-endian byte order (what gkv_ck_load64 reads back as v): for
 * hashing integers as a little-endian record built in a uint64_t array,
 * which the compiler then keeps in registers (a byte-by-byte encoder cost
 * entry_version_hash ~170 instructions of shifts; callgrind). */
static inline uint64_t gkv_ck_le64(uint64_t v)
{
#if GKV_CK_BIG_ENDIAN
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t gkv_ck_lane(uint64_t acc, uint64_t w)
{
    acc += w * GKV_CK_P2;
    acc = gkv_ck_rotl64(acc, 31);
    return acc * GKV_CK_P1;
}

static inline uint64_t gkv_ck_fold(uint64_t h, uint64_t acc)
{
    h ^= gkv_ck_lane(0, acc);
    return h * GKV_CK_P1 + GKV_CK_P4;
}

static inline uint64_t store__checksum64_inline(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t a = seed + GKV_CK_P1 + GKV_CK_P2, b = seed + GKV_CK_P2, c = seed, d = seed - GKV_CK_P1;
        do {
            a = gkv_ck_lane(a, gkv_ck_load64(p));
            b = gkv_ck_lane(b, gkv_ck_load64(p + 8));
            c = gkv_ck_lane(c, gkv_ck_load64(p + 16));
            d = gkv_ck_lane(d, gkv_ck_load64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = gkv_ck_rotl64(a, 1) + gkv_ck_rotl64(b, 7) + gkv_ck_rotl64(c, 12) + gkv_ck_rotl64(d, 18);
        h = gkv_ck_fold(h, a);
        h = gkv_ck_fold(h, b);
        h = gkv_ck_fold(h, c);
        h = gkv_ck_fold(h, d);
    } else {
        h = seed + GKV_CK_P5;
    }
    h += (uint64_t)len;
    while (end - p >= 8) {
        h ^= gkv_ck_lane(0, gkv_ck_load64(p));
        h = gkv_ck_rotl64(h, 27) * GKV_CK_P1 + GKV_CK_P4;
        p += 8;
    }
    if (end - p >= 4) {
        h ^= (uint64_t)gkv_ck_load32(p) * GKV_CK_P1;
        h = gkv_ck_rotl64(h, 23) * GKV_CK_P2 + GKV_CK_P3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * GKV_CK_P5;
        h = gkv_ck_rotl64(h, 11) * GKV_CK_P1;
        p++;
    }
    h ^= h >> 33;
    h *= GKV_CK_P2;
    h ^= h >> 29;
    h *= GKV_CK_P3;
    h ^= h >> 32;
    return h;
}

#endif
