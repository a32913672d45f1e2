/*
 * entry.c: cluster-wide digests of entries: entry_version_hash() for
 * anti-entropy bucket hashes and entry_bucket() for bucket numbers.
 *
 * Both must give the same answer on every node, so they use SipHash-2-4
 * (libsodium crypto_shorthash) under fixed, public keys, and serialize every
 * integer little-endian whatever the host. Because the keys are public these
 * are not defences against a client crafting collisions: they only need to
 * spread keys evenly and to make accidental version mismatches visible.
 * Flooding a probe chain is what the store's secret placement hash prevents.
 *
 * The two keys differ so that a key's bucket says nothing about its version
 * hash (and the bucket hash XOR does not cancel in patterns):
 *
 *   version key: the 16 ASCII bytes "gossipkv-version"
 *   bucket key:  the 16 ASCII bytes "gossipkv-buckets"
 *
 * Changing either key, or the layout below, changes every node's digests at
 * once: nodes of the old and new layout would repair forever. Treat them as
 * part of the wire protocol (test_version_hash_is_pinned pins both).
 */
#include <string.h>


#include "storage/entry.h"
#include "storage/store_int.h"

static const unsigned char entry_version_key[16] = "gossipkv-version";
static const unsigned char entry_bucket_key[16] = "gossipkv-buckets";

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* libsodium's crypto_shorthash (SipHash-2-4) under key, computed by the
 * store's inline copy (storage/checksum.c; test_checksum pins the two
 * bit-identical), which saves the library call and its byte-wise output on
 * every put and merge. The key's halves are read little-endian, as
 * crypto_shorthash reads them. */
static uint64_t siphash(const unsigned char *key, const void *data, uint64_t len)
{
    return store__siphash24(data, (size_t)len, get_le64(key), get_le64(key + 8));
}

/*
 * Version hash layout: SipHash(version key) over this 56-byte record, where
 * the key and value are first reduced to their own SipHash so that neither is
 * copied and their lengths are unbounded:
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    8 hlc
 *        8    8 origin
 *       16    8 flags (zero-extended)
 *       24    8 key_len
 *       32    8 SipHash(version key, key bytes)
  *       40    8 value_len
 *       48    8 SipHash(version key, value bytes)
 *
 * The vector clock is deliberately left out: two nodes holding the same
 * winning write may have merged different sets of losers' clocks into it,
 * and must still agree that they hold the same version.
 */
uint64_t entry_version_hash(const struct entry *e)
{
    uint8_t rec[56];
    put_le64(rec + 0, e->hlc);
    put_le64(rec + 8, e->origin);
    put_le64(rec + 16, e->flags);
    put_le64(rec + 24, e->key_len);
    put_le64(rec + 32, siphash(entry_version_key, e->key, e->key_len));
    put_le64(rec + 40, e->value_len);
    put_le64(rec + 48, siphash(entry_version_key, e->value, e->value_len));
    return siphash(entry_version_key, rec, sizeof(rec));
}

/* The top `bits` bits of SipHash(bucket key, key). bits is clamped to 32 (the
 * return type); bits == 0 means one bucket, number 0. */
uint32_t entry_bucket(const void *key, size_t key_len, unsigned bits)
{
    if (bits == 0)
        return 0;
    if (bits > 32)
        bits = 32;
    return (uint32_t)(siphash(entry_bucket_key, key, key_len) >> (64 - bits));
}
