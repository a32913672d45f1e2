/*
 * fuzz_wire.c: libFuzzer target for the wire codec (gossip/wire.h).
 *
 * For every input (an untrusted datagram plaintext or stream frame):
 *   1. decode every message in it, as gossip_recv would, with the default
 *      limits and again with tight ones (so the GKV_ELIMIT paths are hit);
 *   2. for each message that decodes: read the same bytes with msgpack-c's
 *      unpacker (tests/unit/wire_msgpack_ref.h) and assert it sees the same
 *      message. msgpack-c allocates for declared counts before checking
 *      them, so it only ever gets bytes the bounded decoder accepted: those
 *      have every count checked against the bytes present, which bounds its
 *      zone by a small multiple of the input (at most 1 MiB here);
 *   3. re-encode it and assert that
 *      decode(encode(x)) == x, that the encoder wrote wire_encoded_size(x)
 *      bytes, and that the MTU-bounded encoders (wire_encode_prefix,
 *      wire_encode_entries) produce a prefix of x that decodes as such.
 * Any mismatch aborts (a crash for libFuzzer); ASan and UBSan catch the rest.
 *
 * The codec's sources are compiled into this file on purpose: the fuzz
 * build instruments only the fuzz target's own sources for coverage
 * (tests/CMakeLists.txt adds -fsanitize=fuzzer to the target, not to the
 * libraries), and libFuzzer is blind in code it cannot see. The archive's
 * copies of these objects are then never pulled in by the linker.
 *
 * Seed corpus: tests/fuzz/corpus/wire/ (written by tests/fuzz/write_corpus
 * BUILD wire). Run: scripts/fuzz [seconds].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/wire.h"

#include "gossip/mpack.c"
#include "gossip/wire.c"
#include "gossip/wire_decode.c"
#include "gossip/wire_encode.c"
#include "tests/unit/wire_msgpack_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_wire: check failed: %s (line %d)\n", #cond, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Big enough for any message the decoder accepts from an input of up to
 * 1 MiB re-encoded canonically (a str where bin is expected can grow a
 * field's header by one byte; lists are capped). */
#define SCRATCH_BYTES (4u << 20)

static struct wire_msg g_a, g_b, g_ref;
static uint8_t *g_scratch;
static msgpack_unpacked g_unpacked; /* msgpack-c's zone, reused */

/* Sets the list length of m (if it has one) and returns the old one. */
static uint32_t list_set(struct wire_msg *m, uint32_t n)
{
    uint32_t old;
    switch (m->type) {
    case WIRE_JOIN:
    case WIRE_STATE:
        old = m->u.state.n;
        m->u.state.n = n;
        return old;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        old = m->u.entries.n;
        m->u.entries.n = n;
        return old;
    case WIRE_DIGEST:
        old = m->u.digest.n;
        m->u.digest.n = n;
        return old;
    case WIRE_BUCKET_REQ:
        old = m->u.bucket_req.n;
        m->u.bucket_req.n = n;
        return old;
    default:
        return 0;
    }
}

static bool has_list(uint8_t type)
{
    return type == WIRE_JOIN || type == WIRE_STATE || type == WIRE_DELTAS ||
           type == WIRE_REPAIR || type == WIRE_DIGEST || type == WIRE_BUCKET_REQ;
}

/* Decodes exactly one message from buf[0..len) and compares it with want. */
static void expect_decodes_to(const uint8_t *buf, size_t len, const struct wire_limits *lim,
                              const struct wire_msg *want)
{
    size_t off = 0;
    int rc = wire_decode(buf, len, &off, lim, &g_b);
    if (rc != 0)
        fprintf(stderr, "fuzz_wire: re-decode of %s: %s\n", wire_type_name(want->type),
                gkv_errname(rc));
    CHECK(rc == 0);
    CHECK(off == len);
    CHECK(wire_msg_equal(want, &g_b));
}

static void roundtrip(struct wire_msg *m, const struct wire_limits *lim)
{
    struct wire_encoder enc;

    /* Whole message, unbounded budget. */
    wire_encoder_init(&enc, g_scratch, SCRATCH_BYTES);
    CHECK(wire_encode(&enc, m) == 0);
    CHECK(enc.len == wire_encoded_size(m));
    expect_decodes_to(g_scratch, enc.len, lim, m);

    /* A datagram's budget: the longest prefix that fits. */
    uint32_t taken = 0;
    wire_encoder_init(&enc, g_scratch, WIRE_MTU_DEFAULT);
    int rc = wire_encode_prefix(&enc, m, &taken);
    if (rc == GKV_ENOSPACE_MSG) {
        CHECK(taken == 0 && enc.len == 0);
    } else {
        CHECK(rc == 0);
        CHECK(enc.len <= WIRE_MTU_DEFAULT);
        if (has_list(m->type)) {
            uint32_t n = list_set(m, taken);
            CHECK(taken <= n);
            expect_decodes_to(g_scratch, enc.len, lim, m);
            list_set(m, n);
        } else {
            CHECK(taken == 1);
            expect_decodes_to(g_scratch, enc.len, lim, m);
        }
    }

    /* The dissemination fast path must agree with the generic encoder. */
    if (m->type == WIRE_DELTAS || m->type == WIRE_REPAIR) {
        wire_encoder_init(&enc, g_scratch, WIRE_MTU_DEFAULT);
        rc = wire_encode_entries(&enc, m->type, m->sender_id, m->sender_hlc, m->u.entries.entries,
                                 m->u.entries.n, &taken);
        if (m->u.entries.n == 0) {
            CHECK(rc == 0 && taken == 0 && enc.len == 0);
        } else if (rc == GKV_ENOSPACE_MSG) {
            CHECK(taken == 0 && enc.len == 0);
        } else {
            CHECK(rc == 0 && taken > 0);
            uint32_t n = list_set(m, taken);
            CHECK(enc.len == wire_encoded_size(m));
            expect_decodes_to(g_scratch, enc.len, lim, m);
            list_set(m, n);
        }
    }
}

static void decode_all(const uint8_t *data, size_t size, const struct wire_limits *lim)
{
    size_t off = 0;
    for (uint32_t i = 0; i < WIRE_MAX_MSGS_DATAGRAM && off < size; i++) {
        size_t before = off;
        int rc = wire_decode(data, size, &off, lim, &g_a);
        if (rc == GKV_EUNSUPPORTED || rc == GKV_EVERSION) {
            CHECK(off > before && off <= size);
            continue;
        }
        if (rc < 0) {
            CHECK(rc == GKV_EDECODE || rc == GKV_ELIMIT);
            CHECK(off == before);
            return;
        }
        CHECK(off > before && off <= size);
        /* Differential: msgpack-c reads the accepted bytes as the same message. */
        bool same = wire_ref_decode(&g_unpacked, data + before, off - before, &g_ref) &&
                    wire_msg_equal(&g_a, &g_ref);
        if (!same)
            fprintf(stderr, "fuzz_wire: msgpack-c reads the accepted %s at %zu..%zu otherwise\n",
                    wire_type_name(g_a.type), before, off);
        CHECK(same);
        roundtrip(&g_a, lim);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_scratch == NULL) {
        g_scratch = malloc(SCRATCH_BYTES);
        CHECK(g_scratch != NULL);
        msgpack_unpacked_init(&g_unpacked);
    }
    if (size > (1u << 20))
        return 0;
    decode_all(data, size, NULL);
    const struct wire_limits tight = {.max_value_bytes = 64, .max_key_bytes = 16};
    decode_all(data, size, &tight);
    return 0;
}
