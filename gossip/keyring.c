/*
 * keyring.c: the keys a node seals and opens with, and the key-file text
 * format (node/keyfile.c reads the file; gossip/ touches no files).
 *
 * Rotation follows Serf's keyring model (serf keys -install / -use /
 * -remove): every node first installs the new key (it can now open packets
 * sealed with it), then each node starts sealing with it (use), then the old
 * key is removed everywhere. Because a node opens with any installed key, no
 * packet is refused at any step as long as each step finishes on every node
 * before the next step starts. docs/ENVELOPE.md has the operator procedure.
 *
 * Invariants:
 *   1. count == number of used slots; primary is -1 iff count == 0.
 *   2. No two used slots hold the same key (ids may still collide).
 *   3. kr->keys is read-only except between keyring_unlock and keyring_lock.
 *   4. An unused slot's key bytes are all zero.
 */
#include "gossip/keyring.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

/* A 32-byte key is 44 base64 characters; a longer line cannot be a key, and
 * bounding it bounds the decode buffer below (3 bytes per 4 characters). */
#define KEYRING_LINE_MAX_CHARS 128u
#define KEYRING_DECODE_MAX_BYTES (KEYRING_LINE_MAX_CHARS / 4u * 3u)

/* BLAKE2b personalization (16 bytes) separating key ids from other hashes. */
static const uint8_t keyring_id_personal[crypto_generichash_blake2b_PERSONALBYTES] =
    "gossipkv.keyid";

static uint8_t *keyring_slot(const struct seal_keyring *kr, int slot)
{
    return kr->keys + (size_t)slot * SEAL_KEY_BYTES;
}

static void keyring_unlock(struct seal_keyring *kr)
{
    sodium_mprotect_readwrite(kr->keys);
}

static void keyring_lock(struct seal_keyring *kr)
{
    sodium_mprotect_readonly(kr->keys);
}

uint32_t seal_key_id(const uint8_t key[SEAL_KEY_BYTES])
{
    /* A one-way hash prefix: the id can be logged and sent in clear without
     * saying anything about the key. 16 is BLAKE2b's minimum output. */
    uint8_t h[crypto_generichash_blake2b_BYTES_MIN];
    crypto_generichash_blake2b_salt_personal(h, sizeof(h), key, SEAL_KEY_BYTES, NULL, 0, NULL,
                                             keyring_id_personal);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | (uint32_t)h[3];
}

int seal_keyring_new(struct seal_keyring **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return GKV_EIO;
    struct seal_keyring *kr = calloc(1, sizeof(*kr));
    if (!kr)
        return GKV_ENOMEM;
    kr->keys = sodium_malloc(SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
    if (!kr->keys) {
        free(kr);
        return GKV_ENOMEM;
    }
    sodium_memzero(kr->keys, SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
    keyring_lock(kr);
    kr->primary = -1;
    *out = kr;
    return 0;
}

void seal_keyring_free(struct seal_keyring *kr)
{
    if (!kr)
        return;
    /* sodium_free wipes the block before unmapping it. */
    sodium_free(kr->keys);
    free(kr);
}

static int keyring_find_key(const struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES])
{
    for (int i = 0; i < (int)SEAL_KEYRING_MAX; i++)
        if (kr->used[i] && sodium_memcmp(keyring_slot(kr, i), key, SEAL_KEY_BYTES) == 0)
            return i;
    return -1;
}

int seal_keyring_install(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES])
{
    if (!kr || !key)
        return GKV_EINVAL;
    if (keyring_find_key(kr, key) >= 0)
        return GKV_EEXIST;
    if (kr->count >= SEAL_KEYRING_MAX)
        return GKV_EFULL;
    int slot = 0;
    while (kr->used[slot])
        slot++;
    keyring_unlock(kr);
    memcpy(keyring_slot(kr, slot), key, SEAL_KEY_BYTES);
    keyring_lock(kr);
    kr->ids[slot] = seal_key_id(key);
    kr->used[slot] = true;
    kr->count++;
    if (kr->primary < 0)
        kr->primary = slot;
    return 0;
}

int seal_keyring_use(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES])
{
    if (!kr || !key)
        return GKV_EINVAL;
    int slot = keyring_find_key(kr, key);
    if (slot < 0)
        return GKV_ENOTFOUND;
    kr->primary = slot;
    return 0;
}

int seal_keyring_remove(struct seal_keyring *kr, const uint8_t key[SEAL_KEY_BYTES])
{
    if (!kr || !key)
        return GKV_EINVAL;
    int slot = keyring_find_key(kr, key);
    if (slot < 0)
        return GKV_ENOTFOUND;
    if (slot == kr->primary)
        return GKV_ESTATE; /* `use` another key first, as in Serf */
    keyring_unlock(kr);
    sodium_memzero(keyring_slot(kr, slot), SEAL_KEY_BYTES);
    keyring_lock(kr);
    kr->used[slot] = false;
    kr->ids[slot] = 0;
    kr->count--;
    return 0;
}

uint32_t seal_keyring_count(const struct seal_keyring *kr)
{
    return kr ? kr->count : 0;
}

int seal_keyring_entry(const struct seal_keyring *kr, uint32_t i, uint32_t *key_id,
                       bool *primary)
{
    if (!kr)
        return GKV_EINVAL;
    uint32_t seen = 0;
    for (int s = 0; s < (int)SEAL_KEYRING_MAX; s++) {
        if (!kr->used[s])
            continue;
        if (seen++ == i) {
            if (key_id)
                *key_id = kr->ids[s];
            if (primary)
                *primary = s == kr->primary;
            return 0;
        }
    }
    return GKV_ENOTFOUND;
}

const uint8_t *keyring_primary(const struct seal_keyring *kr, uint32_t *key_id)
{
    if (!kr || kr->primary < 0)
        return NULL;
    if (key_id)
        *key_id = kr->ids[kr->primary];
    return keyring_slot(kr, kr->primary);
}

int keyring_find_id(const struct seal_keyring *kr, uint32_t key_id, int from)
{
    for (int i = from < 0 ? 0 : from; i < (int)SEAL_KEYRING_MAX; i++)
        if (kr->used[i] && kr->ids[i] == key_id)
            return i;
    return -1;
}

const uint8_t *keyring_key_at(const struct seal_keyring *kr, int slot)
{
    return keyring_slot(kr, slot);
}

int keyring_decode_b64(const char *s, size_t len, uint8_t key[SEAL_KEY_BYTES],
                       size_t *decoded_len)
{
    *decoded_len = 0;
    if (len == 0 || len > KEYRING_LINE_MAX_CHARS)
        return GKV_EINVAL;
    /* Decode into a buffer big enough for any line we accept, so a key of the
     * wrong length is reported as such rather than as bad base64. */
    uint8_t bin[KEYRING_DECODE_MAX_BYTES];
    size_t bin_len = 0;
    const char *end = NULL;
    int rc = sodium_base642bin(bin, sizeof(bin), s, len, NULL, &bin_len, &end,
                               sodium_base64_VARIANT_ORIGINAL);
    if (rc != 0 || end != s + len) {
        sodium_memzero(bin, sizeof(bin));
        return GKV_EINVAL;
    }
    *decoded_len = bin_len;
    if (bin_len != SEAL_KEY_BYTES) {
        sodium_memzero(bin, sizeof(bin));
        return GKV_EKEYSIZE;
    }
    memcpy(key, bin, SEAL_KEY_BYTES);
    sodium_memzero(bin, sizeof(bin));
    return 0;
}

static int keyring_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int seal_key_parse(const char *b64, uint8_t key[SEAL_KEY_BYTES])
{
    if (!b64 || !key)
        return GKV_EINVAL;
    if (sodium_init() < 0)
        return GKV_EIO;
    size_t len = strnlen(b64, KEYRING_LINE_MAX_CHARS + 1);
    while (len > 0 && keyring_is_space(*b64)) {
        b64++;
        len--;
    }
    while (len > 0 && keyring_is_space(b64[len - 1]))
        len--;
    size_t decoded = 0;
    int rc = keyring_decode_b64(b64, len, key, &decoded);
    return rc == 0 ? 0 : GKV_EINVAL;
}

static int keyring_fail(char *err, size_t err_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int keyring_fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
    if (err && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

int seal_keyfile_parse(const char *name, const char *buf, size_t len, uint8_t *keys,
                       uint32_t *nkeys_out, char *err, size_t err_len)
{
    if (err && err_len > 0)
        err[0] = '\0';
    if (!name || (!buf && len) || !keys || !nkeys_out)
        return GKV_EINVAL;
    *nkeys_out = 0;
    sodium_memzero(keys, SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
    if (len > SEAL_KEYFILE_MAX_BYTES)
        return keyring_fail(err, err_len, GKV_EKEYFILE,
                            "%s: key file larger than %u bytes: not a key file", name,
                            SEAL_KEYFILE_MAX_BYTES);
    int rc = 0;
    uint32_t nkeys = 0;
    unsigned line_no = 0;
    size_t pos = 0;
    while (pos < len && rc == 0) {
        line_no++;
        size_t start = pos;
        while (pos < len && buf[pos] != '\n')
            pos++;
        size_t end = pos;
        if (pos < len)
            pos++; /* skip '\n' */
        while (start < end && keyring_is_space(buf[start]))
            start++;
        while (end > start && keyring_is_space(buf[end - 1]))
            end--;
        if (start == end || buf[start] == '#')
            continue;
        if (memchr(buf + start, '\0', end - start)) {
            rc = keyring_fail(err, err_len, GKV_EKEYFILE, "%s:%u: NUL byte in key file", name,
                              line_no);
            break;
        }
        if (nkeys >= SEAL_KEYRING_MAX) {
            rc = keyring_fail(err, err_len, GKV_EKEYFILE,
                              "%s:%u: more than %u keys (SEAL_KEYRING_MAX)", name, line_no,
                              SEAL_KEYRING_MAX);
            break;
        }
        uint8_t *k = keys + (size_t)nkeys * SEAL_KEY_BYTES;
        size_t decoded = 0;
        int drc = keyring_decode_b64(buf + start, end - start, k, &decoded);
        if (drc == GKV_EKEYSIZE) {
            rc = keyring_fail(err, err_len, GKV_EKEYFILE,
                              "%s:%u: key decodes to %zu bytes, want %u", name, line_no,
                              decoded, SEAL_KEY_BYTES);
            break;
        }
        if (drc != 0) {
            rc = keyring_fail(err, err_len, GKV_EKEYFILE,
                              "%s:%u: not a base64 key (want 44 characters of standard "
                              "base64, as printed by `gossipkv keygen`)",
                              name, line_no);
            break;
        }
        for (uint32_t j = 0; j < nkeys && rc == 0; j++) {
            if (sodium_memcmp(keys + (size_t)j * SEAL_KEY_BYTES, k, SEAL_KEY_BYTES) == 0)
                rc = keyring_fail(err, err_len, GKV_EKEYFILE,
                                  "%s:%u: the same key appears twice", name, line_no);
        }
        if (rc == 0)
            nkeys++;
    }
    if (rc == 0 && nkeys == 0)
        rc = keyring_fail(err, err_len, GKV_EKEYFILE,
                          "%s: no keys in key file (run `gossipkv keygen`, or --insecure)",
                          name);
    if (rc != 0) {
        sodium_memzero(keys, SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
        return rc;
    }
    *nkeys_out = nkeys;
    return 0;
}

int seal_keyring_replace(struct seal_keyring *kr, const uint8_t *keys, uint32_t nkeys)
{
    if (!kr || !keys || nkeys == 0 || nkeys > SEAL_KEYRING_MAX)
        return GKV_EINVAL;
    /* Build the new ring aside; only a complete one is swapped in, so any
     * failure leaves kr exactly as it was. */
    struct seal_keyring *fresh = NULL;
    int rc = seal_keyring_new(&fresh);
    for (uint32_t j = 0; rc == 0 && j < nkeys; j++)
        rc = seal_keyring_install(fresh, keys + (size_t)j * SEAL_KEY_BYTES);
    if (rc == 0)
        rc = seal_keyring_use(fresh, keys);
    if (rc == 0) {
        struct seal_keyring old = *kr;
        *kr = *fresh;
        *fresh = old; /* freed below: wipes the old key block */
    }
    seal_keyring_free(fresh);
    return rc;
}
