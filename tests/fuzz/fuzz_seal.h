/*
 * fuzz_seal.h: the fixed context of the seal fuzz target, shared with the
 * unit test that writes its seed corpus (test_seal --write-corpus DIR), so
 * the checked-in packets open under the fuzz target's key and label.
 */
#ifndef GKV_TESTS_FUZZ_SEAL_H
#define GKV_TESTS_FUZZ_SEAL_H

#include <stdint.h>

#define FUZZ_SEAL_LABEL "gossipkv-fuzz"
#define FUZZ_SEAL_SENDER_ID 0x1122334455667788ULL /* sender of the corpus packets */
#define FUZZ_SEAL_SENDER_EPOCH 3u
#define FUZZ_SEAL_RECEIVER_ID 0x99u

/* A test key (never use outside tests): the bytes 0x00, 0x01, ... 0x1f. */
static inline void fuzz_seal_key(uint8_t key[32])
{
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
}

#endif
