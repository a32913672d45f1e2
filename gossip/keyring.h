/*
 * keyring.h: internals of struct seal_keyring shared by keyring.c and seal.c.
 * The public keyring API (install / use / remove / load_file) is in seal.h.
 *
 * Key material sits in one sodium_malloc'd block (guard pages, mlock'd where
 * the OS allows, never swapped to disk if mlock succeeded). It is kept
 * read-only with sodium_mprotect_readonly and made writable only inside
 * install/remove. A removed key is wiped with sodium_memzero; the whole block
 * with sodium_free. Key ids and flags are not secret and live in plain memory.
 */
#ifndef GKV_GOSSIP_KEYRING_H
#define GKV_GOSSIP_KEYRING_H

#include <stdbool.h>
#include <stdint.h>

#include "gossip/seal.h"

struct seal_keyring {
    uint8_t *keys; /* sodium_malloc'd: SEAL_KEYRING_MAX * SEAL_KEY_BYTES */
    uint32_t ids[SEAL_KEYRING_MAX];
    bool used[SEAL_KEYRING_MAX];
    int primary; /* slot of the primary key, -1 when the ring is empty */
    uint32_t count;
};

/* The primary key (borrowed, read-only, valid until the next keyring change)
 * and its id; NULL when the ring is empty (insecure mode). */
const uint8_t *keyring_primary(const struct seal_keyring *kr, uint32_t *key_id);

/* The first slot >= from whose key id is key_id, or -1. Ids are 32-bit hash
 * prefixes, so two keys can share one (about 1 in 2^32 per pair): callers try
 * every match in turn. */
int keyring_find_id(const struct seal_keyring *kr, uint32_t key_id, int from);

/* The key in slot (borrowed, read-only). */
const uint8_t *keyring_key_at(const struct seal_keyring *kr, int slot);

/* Decode one trimmed base64 key (original variant, padded). 0, or
 * GKV_EINVAL (not base64) or GKV_EKEYSIZE (decodes, but not to 32 bytes,
 * then *decoded_len says to how many). */
int keyring_decode_b64(const char *s, size_t len, uint8_t key[SEAL_KEY_BYTES],
                       size_t *decoded_len);

#endif
