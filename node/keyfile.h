/*
 * keyfile.h: reading a key file (--key-file). The file I/O lives here, in
 * node/; the text format is gossip/'s (seal_keyfile_parse), which touches no
 * files (tests/unit/test_layering.sh).
 */
#ifndef GKV_NODE_KEYFILE_H
#define GKV_NODE_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

/* The keys of the key file at path, in file order (first = primary). The
 * file is opened once, its mode checked on that descriptor (fstat) and its
 * bytes read from it, so what was checked is what is parsed. keys: caller
 * memory for SEAL_KEYRING_MAX * SEAL_KEY_BYTES bytes (sodium_malloc'd: it
 * receives key material; wiped on error); *nkeys set. Refused with a message
 * naming the file (and line) in err, err_len bytes: GKV_EPERM when group or
 * others can access it (with a chmod hint); GKV_EKEYFILE when it cannot be
 * opened, is not a regular file, is larger than SEAL_KEYFILE_MAX_BYTES, or
 * seal_keyfile_parse refuses its text. */
int node_keyfile_read(const char *path, uint8_t *keys, uint32_t *nkeys, char *err,
                      size_t err_len);

/* A fresh random key as base64 (libsodium randombytes: keys must be
 * unpredictable, which no seeded PRNG gives; gossip/ draws no randomness).
 * For `gossipkv keygen`. out must hold SEAL_KEY_B64_BYTES; GKV_EINVAL if not. */
int node_key_generate_b64(char *out, size_t out_len);

#endif
