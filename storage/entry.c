/*
 * entry.c: cluster-wide digests of entries: entry_version_hash() for
 * anti-entropy bucket hashes and entry_bucket() for bucket numbers.
 *
 * Both must give the same answer on every node, so they run under fixed,
 * public seeds and read and write every integer little-endian whatever the
 * host. Because the seeds are public these are not defences against a client
 * crafting collisions: they only need to spread keys evenly and to make
 * accidental version mismatches visible. Flooding a probe chain is what the
 * store's secret placement hash prevents.
 *
 * entry_version_hash() is XXH64 (the store's checksum, storage/checksum.h)
 * under three public seeds, one per input, so that a key and a value of
 * equal bytes reduce to different words:
 *
 *   key seed:    0x79656b762d766b67, the 8 ASCII bytes "gkv-vkey" read little-endian
 *   value seed:  0x6c6176762d766b67, the 8 ASCII bytes "gkv-vval" read little-endian
 *   record seed: 0x636572762d766b67, the 8 ASCII bytes "gkv-vrec" read little-endian
 *
 * It was SipHash-2-4 (three calls): 1,138 of a put's 3,522 instructions
 * in storage_bench (16-byte keys, 100-byte values; callgrind, 200k puts);
 * now 396 of 2,780. A keyed PRF buys nothing for a digest whose key is
 * public, and every put and merge computes one. Builds before this one
 * computed other numbers: records cache the digest (fmt_record.vhash) and
 * every open recomputes it and refreshes a stale copy (recover.c), but nodes
 * of the two builds would see every bucket differ and repair forever (one
 * cluster, one build).
 *
 * entry_bucket() stays SipHash-2-4 (libsodium crypto_shorthash, computed by
 * the store's inline copy) under its key, the 16 ASCII bytes
 * "gossipkv-buckets": slots store their bucket and recovery checks it
 * against the key, so changing it would drop every slot of existing data
 * directories. It differs from the version hash's function and seeds, so a
 * key's bucket says nothing about its version hash (and the bucket hash XOR
 * does not cancel in patterns).
 *
 * Changing a seed, the bucket key or the layout below changes every node's
 * digests at once: treat them as part of the wire protocol
 * (test_version_hash_is_pinned pins both functions).
 */
#include "storage/checksum.h"
#include "storage/entry.h"

#define ENTRY_VH_SEED_KEY UINT64_C(0x79656b762d766b67)    /* "gkv-vkey" LE */
#define ENTRY_VH_SEED_VALUE UINT64_C(0x6c6176762d766b67)  /* "gkv-vval" LE */
#define ENTRY_VH_SEED_RECORD UINT64_C(0x636572762d766b67) /* "gkv-vrec" LE */

static const unsigned char entry_bucket_key[16] = "gossipkv-buckets";

/* Size of the version hash's record (layout below), and with an expiry. */
#define ENTRY_VH_RECORD_BYTES 48
#define ENTRY_VH_RECORD_EXPIRE_BYTES 56

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/*
 * Version hash layout: checksum64(record seed) over this 48-byte record,
 * where the key and value are first reduced to their own checksum64 so that
 * neither is copied and their lengths are unbounded:
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    8 hlc
 *        8    8 origin
 *       16    4 flags
 *       20    4 key_len
 *       24    4 value_len
 *       28    4 zero
 *       32    8 checksum64(key seed, key bytes)
 *       40    8 checksum64(value seed, value bytes)
 *
 * The lengths make a byte moved between key and value visible, and flags a
 * tombstone differ from an empty value. (48 bytes rather than seven 8-byte
 * words: one 32-byte stripe and two words, a word fewer to mix.)
 *
 * A version with an expiry hashes one more word, appended:
 *
 *       48    8 expire_ms
 *
 * so nodes that disagree on a key's expiry see its bucket differ and
 * repair it, while a version without one (expire_ms 0) keeps the digest it
 * had before expiry existed (data directories and peers of that build
 * agree on every key that never had a TTL).
 *
 * The vector clock is deliberately left out: two nodes holding the same
 * winning write may have merged different sets of losers' clocks into it,
 * and must still agree that they hold the same version.
 */
uint64_t entry_version_hash(const struct entry *e)
{
    /* A tombstone's value is NULL; NULL + 0 is undefined in C, so point
     * empty inputs at a byte that is never read. */
    static const uint8_t none[1];
    const uint8_t *key = e->key_len ? e->key : none;
    const uint8_t *value = e->value_len ? e->value : none;
    /* The record as six little-endian words (flags and key_len share one,
     * value_len and the zero the next). */
    uint64_t rec[ENTRY_VH_RECORD_EXPIRE_BYTES / 8];
    rec[0] = gkv_ck_le64(e->hlc);
    rec[1] = gkv_ck_le64(e->origin);
    rec[2] = gkv_ck_le64((uint64_t)e->flags | (uint64_t)e->key_len << 32);
    rec[3] = gkv_ck_le64((uint64_t)e->value_len);
    rec[4] = gkv_ck_le64(store__checksum64(key, e->key_len, ENTRY_VH_SEED_KEY));
    rec[5] = gkv_ck_le64(store__checksum64(value, e->value_len, ENTRY_VH_SEED_VALUE));
    rec[6] = gkv_ck_le64(e->expire_ms);
    size_t bytes = e->expire_ms ? ENTRY_VH_RECORD_EXPIRE_BYTES : ENTRY_VH_RECORD_BYTES;
    return store__checksum64_inline(rec, bytes, ENTRY_VH_SEED_RECORD);
}

/* SipHash-2-4 under key (the halves read little-endian, as crypto_shorthash
 * reads them), computed by the store's inline copy (storage/checksum.c;
 * test_store_siphash24_matches_libsodium_shorthash pins the two
 * bit-identical). */
static uint64_t siphash(const unsigned char *key, const void *data, uint64_t len)
{
    return store__siphash24(data, (size_t)len, get_le64(key), get_le64(key + 8));
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

/* The purge cutoff (entry.h). Quantized so that nodes whose clocks differ
 * by less than a step mostly compute the same value: a digest that leaves
 * out purgeable tombstones then matches between a node that purged them and
 * one that has not yet. */
uint64_t entry_purge_cutoff_hlc(uint64_t now_ms, uint64_t grace_ms)
{
    if (grace_ms == 0)
        grace_ms = ENTRY_TOMBSTONE_GRACE_DEFAULT_MS;
    if (now_ms <= grace_ms)
        return 0;
    uint64_t step = grace_ms / 16u;
    if (step > ENTRY_PURGE_STEP_MAX_MS)
        step = ENTRY_PURGE_STEP_MAX_MS;
    if (step == 0)
        step = 1;
    uint64_t ms = (now_ms - grace_ms) / step * step;
    if (ms > HLC_MS(UINT64_MAX))
        ms = HLC_MS(UINT64_MAX);
    return HLC_MAKE(ms, 0);
}
