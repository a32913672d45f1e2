/*
 * fuzz_seal.c: libFuzzer target for seal_open (and seal_seal round trips).
 *
 * Each input is opened as a packet by a fresh secure and a fresh insecure
 * context sharing one fixed test key and label (tests/fuzz/fuzz_seal.h), so
 * the checked-in corpus (tests/fuzz/corpus/seal/, written by
 * tests/fuzz/write_corpus) always opens: no replay state carries
 * over from one input to the next. Properties checked (trap on violation):
 *   - an opened packet yields len - overhead bytes and the header's sender,
 *     and opening it again is refused as a replay;
 *   - a refused packet is counted under exactly one reason and opens nothing;
 *   - sealing the input as plaintext and opening it gives the input back.
 *
 * The envelope's sources are compiled into this file, as fuzz_wire.c does:
 * the fuzz build instruments only the target's own sources for coverage
 * (tests/CMakeLists.txt puts -fsanitize=fuzzer on the target, not on the
 * libraries), and libFuzzer cannot steer through code it cannot see. The
 * archive's copies of these objects are then never pulled in by the linker.
 * Run: scripts/fuzz [seconds] fuzz_seal.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/seal.h"
#include "tests/fuzz/fuzz_seal.h"

#include "gossip/keyring.c"
#include "gossip/replay.c"
#include "gossip/seal.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond))                                                                          \
            __builtin_trap();                                                                 \
    } while (0)

static struct seal_keyring *fuzz_kr;

static uint64_t fuzz_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint64_t fuzz_refusals(const struct seal_ctx *c)
{
    uint64_t n = 0;
    for (int i = 0; i < SEAL_REFUSE_COUNT; i++)
        n += seal_ctx_stats(c)->refused[i];
    return n;
}

static void fuzz_open_one(struct seal_ctx *c, const uint8_t *data, size_t size, uint8_t *pt)
{
    size_t pt_len = 0;
    uint64_t sender = 0;
    enum seal_refusal why = SEAL_REFUSE_COUNT;
    int rc = seal_open(c, data, size, 0, pt, size, &pt_len, &sender, NULL, &why);
    const struct seal_stats *st = seal_ctx_stats(c);
    if (rc == 0) {
        FUZZ_CHECK(size >= seal_overhead());
        FUZZ_CHECK(pt_len == size - seal_overhead());
        FUZZ_CHECK(sender == fuzz_be64(data + 12));
        FUZZ_CHECK(st->opened == 1 && fuzz_refusals(c) == 0);
        rc = seal_open(c, data, size, 0, pt, size, &pt_len, &sender, NULL, &why);
        FUZZ_CHECK(rc == GKV_EREPLAY && why == SEAL_REFUSE_REPLAY);
    } else {
        FUZZ_CHECK(rc < 0 && (unsigned)why < SEAL_REFUSE_COUNT);
        FUZZ_CHECK(st->refused[why] == 1 && fuzz_refusals(c) == 1 && st->opened == 0);
        FUZZ_CHECK(st->senders == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_kr) {
        uint8_t key[SEAL_KEY_BYTES];
        fuzz_seal_key(key);
        if (sodium_init() < 0 || seal_keyring_new(&fuzz_kr) != 0 ||
            seal_keyring_install(fuzz_kr, key) != 0)
            abort();
    }
    struct seal_ctx *sec = NULL, *ins = NULL, *sender = NULL;
    if (seal_ctx_new(fuzz_kr, FUZZ_SEAL_LABEL, FUZZ_SEAL_RECEIVER_ID, 1, &sec) != 0 ||
        seal_ctx_new(NULL, FUZZ_SEAL_LABEL, FUZZ_SEAL_RECEIVER_ID, 1, &ins) != 0 ||
        seal_ctx_new(fuzz_kr, FUZZ_SEAL_LABEL, FUZZ_SEAL_SENDER_ID, 9, &sender) != 0)
        abort();
    size_t cap = size + seal_overhead();
    uint8_t *pt = malloc(cap);
    uint8_t *pkt = malloc(cap);
    if (!pt || !pkt)
        abort();

    fuzz_open_one(sec, data, size, pt);
    fuzz_open_one(ins, data, size, pt);

    /* Round trip with the input as plaintext, through a fresh receiver. */
    size_t len = 0, back_len = 0;
    FUZZ_CHECK(seal_seal(sender, FUZZ_SEAL_RECEIVER_ID, data, size, pkt, cap, &len) == 0 &&
               len == cap);
    struct seal_ctx *rx = NULL;
    if (seal_ctx_new(fuzz_kr, FUZZ_SEAL_LABEL, FUZZ_SEAL_RECEIVER_ID, 1, &rx) != 0)
        abort();
    FUZZ_CHECK(seal_open(rx, pkt, len, 0, pt, size, &back_len, NULL, NULL, NULL) == 0);
    FUZZ_CHECK(back_len == size && (size == 0 || memcmp(pt, data, size) == 0));

    seal_ctx_free(rx);
    free(pt);
    free(pkt);
    seal_ctx_free(sec);
    seal_ctx_free(ins);
    seal_ctx_free(sender);
    return 0;
}
