/*
 * Unit tests for the sealed envelope (gossip/seal.h), its keyring and the
 * key-file text format (gossip/keyring.c) and the replay window
 * (gossip/replay.h).
 *
 * Randomized tests print their seed; GKV_SEED=<n> replays one.
 * `test_seal --write-corpus DIR` runs no test: it writes the fuzz target's
 * seed corpus (tests/fuzz/corpus/seal/) into DIR (tests/fuzz/write_corpus
 * runs it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/rng.h"
#include "gossip/keyring.h"
#include "gossip/replay.h"
#include "gossip/seal.h"
#include "tests/fuzz/fuzz_seal.h"
#include "tests/test_seed.h"

#define PKT_MAX 2048u

/* ---------------------------------------------------------------- helpers */

/* A deterministic test key per tag. */
static void key_make(uint8_t key[SEAL_KEY_BYTES], uint32_t tag)
{
    crypto_generichash(key, SEAL_KEY_BYTES, (const uint8_t *)&tag, sizeof(tag), NULL, 0);
}

struct peer {
    struct seal_keyring *kr;
    struct seal_ctx *ctx;
};

/* key NULL: insecure peer. */
static void peer_init(struct peer *p, const uint8_t *key, const char *label, uint64_t id,
                      uint64_t epoch)
{
    assert_int_equal(seal_keyring_new(&p->kr), 0);
    if (key)
        assert_int_equal(seal_keyring_install(p->kr, key), 0);
    assert_int_equal(seal_ctx_new(p->kr, label, id, epoch, &p->ctx), 0);
}

static void peer_close(struct peer *p)
{
    seal_ctx_free(p->ctx);
    seal_keyring_free(p->kr);
    memset(p, 0, sizeof(*p));
}

/* Seal for the node whose id is to (0: any receiver). */
static size_t seal_bytes_to(struct seal_ctx *c, uint64_t to, const void *pt, size_t pt_len,
                            uint8_t *out)
{
    size_t out_len = 0;
    assert_int_equal(seal_seal(c, to, pt, pt_len, out, PKT_MAX, &out_len), 0);
    assert_int_equal(out_len, pt_len + seal_overhead());
    return out_len;
}

/* Most tests here are about one sender and one receiver at a time: they
 * seal for any receiver; receiver binding has its own tests. */
static size_t seal_bytes(struct seal_ctx *c, const void *pt, size_t pt_len, uint8_t *out)
{
    return seal_bytes_to(c, 0, pt, pt_len, out);
}

static size_t seal_str(struct seal_ctx *c, const char *msg, uint8_t *out)
{
    return seal_bytes(c, msg, strlen(msg), out);
}

/* Open and return the code; reason set to SEAL_REFUSE_COUNT on success. */
static int open_pkt(struct seal_ctx *c, const uint8_t *pkt, size_t len,
                    enum seal_refusal *reason)
{
    uint8_t pt[PKT_MAX];
    size_t pt_len = 0;
    uint64_t sender = 0;
    enum seal_refusal r = SEAL_REFUSE_COUNT;
    int rc = seal_open(c, pkt, len, PKT_MAX, pt, sizeof(pt), &pt_len, &sender, NULL, &r);
    if (rc == 0)
        r = SEAL_REFUSE_COUNT;
    if (reason)
        *reason = r;
    return rc;
}

static uint64_t refusals_total(const struct seal_ctx *c)
{
    const struct seal_stats *st = seal_ctx_stats(c);
    uint64_t n = 0;
    for (int i = 0; i < SEAL_REFUSE_COUNT; i++)
        n += st->refused[i];
    return n;
}

static uint64_t be64_at(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---------------------------------------------------------- round trips */

static void test_seal_round_trip_restores_plaintext_and_sender(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 1);
    struct peer a, b;
    peer_init(&a, key, "prod", 0xA1, 7);
    peer_init(&b, key, "prod", 0xB2, 9);
    assert_true(seal_ctx_secure(a.ctx));

    size_t sizes[] = {0, 1, 64, 512, 1400 - SEAL_OVERHEAD_BYTES};
    uint8_t pt[PKT_MAX], pkt[PKT_MAX], got[PKT_MAX];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizes[i]; j++)
            pt[j] = (uint8_t)(j * 31 + i);
        size_t len = seal_bytes(a.ctx, pt, sizes[i], pkt);
        /* Encrypted: the plaintext does not appear in the body. */
        if (sizes[i] >= 16)
            assert_true(memcmp(pkt + SEAL_HEADER_BYTES, pt, sizes[i]) != 0);
        size_t got_len = 0;
        uint64_t sender = 0;
        enum seal_refusal r;
        assert_int_equal(
            seal_open(b.ctx, pkt, len, 1400, got, sizeof(got), &got_len, &sender, NULL, &r), 0);
        assert_int_equal(got_len, sizes[i]);
        assert_int_equal(sender, 0xA1);
        assert_memory_equal(got, pt, sizes[i]);
    }
    assert_int_equal(seal_ctx_stats(a.ctx)->sealed, 5);
    assert_int_equal(seal_ctx_stats(b.ctx)->opened, 5);
    assert_int_equal(seal_ctx_stats(b.ctx)->senders, 1);
    assert_int_equal(refusals_total(b.ctx), 0);
    peer_close(&a);
    peer_close(&b);
}

static void test_seal_in_place_matches_out_of_place(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 2);
    struct peer a1, a2, b;
    peer_init(&a1, key, "l", 5, 1);
    peer_init(&a2, key, "l", 5, 1);
    peer_init(&b, key, "l", 6, 1);
    const char *msg = "sealed where it was encoded";
    uint8_t out1[PKT_MAX], out2[PKT_MAX];
    size_t len1 = seal_str(a1.ctx, msg, out1);
    memcpy(out2 + SEAL_HEADER_BYTES, msg, strlen(msg));
    size_t len2 = 0;
    assert_int_equal(
        seal_seal(a2.ctx, 0, out2 + SEAL_HEADER_BYTES, strlen(msg), out2, PKT_MAX, &len2), 0);
    assert_int_equal(len1, len2);
    assert_memory_equal(out1, out2, len1); /* same nonce, key, AD: same bytes */
    assert_int_equal(open_pkt(b.ctx, out2, len2, NULL), 0);
    peer_close(&a1);
    peer_close(&a2);
    peer_close(&b);
}

static void test_seal_header_layout_matches_envelope_doc(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 3);
    struct peer a;
    peer_init(&a, key, "doc", 0x0102030405060708ULL, 0x1112131415161718ULL);
    uint8_t pkt[PKT_MAX];
    assert_int_equal(seal_overhead(), 52);
    for (uint64_t n = 1; n <= 3; n++) {
        size_t len = seal_str(a.ctx, "x", pkt);
        assert_int_equal(len, 1 + 52);
        assert_int_equal(pkt[0], SEAL_VERSION);
        assert_int_equal(pkt[1], SEAL_SUITE_XCHACHA);
        assert_int_equal(pkt[2], SEAL_FLAG_TO_ANY); /* seal_str: for any receiver */
        assert_int_equal(pkt[3], 0);
        assert_int_equal(be32_at(pkt + 4), seal_key_id(key));
        assert_int_equal(be64_at(pkt + 12), 0x0102030405060708ULL);
        assert_int_equal(be64_at(pkt + 20), 0x1112131415161718ULL);
        assert_int_equal(be64_at(pkt + 28), n); /* counters start at 1 */
    }
    peer_close(&a);
}

/* The doc's claim, checked with libsodium directly: nonce = header[12..36),
 * AD = header || receiver id (8 bytes, big-endian) || label. */
static void test_seal_nonce_is_header_suffix_and_ad_is_header_receiver_label(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 4);
    struct peer a;
    const char *label = "cluster-east";
    peer_init(&a, key, label, 42, 3);
    uint8_t pkt[PKT_MAX];
    size_t len = seal_bytes_to(a.ctx, 0x0A0B0C0D01020304ULL, "hello", 5, pkt);
    assert_int_equal(pkt[2], 0); /* for one receiver: no flag */
    uint8_t ad[SEAL_HEADER_BYTES + 8 + SEAL_LABEL_MAX];
    memcpy(ad, pkt, SEAL_HEADER_BYTES);
    const uint8_t receiver[8] = {0x0A, 0x0B, 0x0C, 0x0D, 0x01, 0x02, 0x03, 0x04};
    memcpy(ad + SEAL_HEADER_BYTES, receiver, 8);
    memcpy(ad + SEAL_HEADER_BYTES + 8, label, strlen(label));
    uint8_t pt[16];
    unsigned long long pt_len = 0;
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
                         pt, &pt_len, NULL, pkt + SEAL_HEADER_BYTES, len - SEAL_HEADER_BYTES, ad,
                         SEAL_HEADER_BYTES + 8 + strlen(label), pkt + 12, key),
                     0);
    assert_int_equal(pt_len, 5);
    assert_memory_equal(pt, "hello", 5);
    peer_close(&a);
}

/* Receiver binding (envelope version 2): a packet sealed for node A opens at
 * A and nowhere else, so a captured packet replayed to B is refused, and
 * B's replay window does not move. */
static void test_packet_sealed_for_a_does_not_open_at_b(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 40);
    struct peer s, a, b;
    peer_init(&s, key, "bind", 10, 1);
    peer_init(&a, key, "bind", 11, 1);
    peer_init(&b, key, "bind", 12, 1);
    uint8_t pkt[PKT_MAX];
    size_t len = seal_bytes_to(s.ctx, 11, "BUCKET_REQ", 10, pkt);
    enum seal_refusal why;
    assert_int_equal(open_pkt(b.ctx, pkt, len, &why), GKV_EAUTH);
    assert_int_equal(why, SEAL_REFUSE_BAD_TAG);
    assert_int_equal(seal_ctx_stats(b.ctx)->senders, 0); /* no state at B */
    uint8_t pt[PKT_MAX];
    size_t pt_len = 0;
    uint64_t sender = 0;
    bool any = true;
    assert_int_equal(seal_open(a.ctx, pkt, len, 0, pt, sizeof(pt), &pt_len, &sender, &any, NULL),
                     0);
    assert_int_equal(sender, 10);
    assert_false(any);
    assert_memory_equal(pt, "BUCKET_REQ", 10);
    /* and once more at B after A took it: still refused, still no state */
    assert_int_equal(open_pkt(b.ctx, pkt, len, &why), GKV_EAUTH);
    assert_int_equal(seal_ctx_stats(b.ctx)->opened, 0);
    peer_close(&s);
    peer_close(&a);
    peer_close(&b);
}

/* Receiver id 0 = any receiver: it opens at every node, which says so, so
 * the gossip core can accept it only for JOIN/STATE. Insecure mode binds the
 * receiver the same way (through the checksum). */
static void test_packet_sealed_for_any_opens_everywhere_and_says_so(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 41);
    for (int secure = 0; secure < 2; secure++) {
        struct peer s, a, b;
        peer_init(&s, secure ? key : NULL, "bind", 20, 1);
        peer_init(&a, secure ? key : NULL, "bind", 21, 1);
        peer_init(&b, secure ? key : NULL, "bind", 22, 1);
        uint8_t pkt[PKT_MAX], pt[PKT_MAX];
        size_t len = seal_bytes_to(s.ctx, 0, "JOIN", 4, pkt);
        assert_int_equal(pkt[2], SEAL_FLAG_TO_ANY);
        struct peer *rx[2] = {&a, &b};
        for (int i = 0; i < 2; i++) {
            size_t pt_len = 0;
            bool any = false;
            assert_int_equal(
                seal_open(rx[i]->ctx, pkt, len, 0, pt, sizeof(pt), &pt_len, NULL, &any, NULL), 0);
            assert_true(any);
        }
        /* bound in insecure mode too: sealed for 21, refused at 22 */
        len = seal_bytes_to(s.ctx, 21, "PING", 4, pkt);
        enum seal_refusal why;
        assert_int_equal(open_pkt(b.ctx, pkt, len, &why), GKV_EAUTH);
        assert_int_equal(why, SEAL_REFUSE_BAD_TAG);
        assert_int_equal(open_pkt(a.ctx, pkt, len, NULL), 0);
        peer_close(&s);
        peer_close(&a);
        peer_close(&b);
    }
}

/* Version 1 packets (no receiver in the AD) are refused by version 2. */
static void test_version_1_packets_are_refused(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 42);
    struct peer s, a;
    peer_init(&s, key, "bind", 30, 1);
    peer_init(&a, key, "bind", 31, 1);
    uint8_t pkt[PKT_MAX];
    size_t len = seal_bytes_to(s.ctx, 31, "x", 1, pkt);
    pkt[0] = 1;
    enum seal_refusal why;
    assert_int_equal(open_pkt(a.ctx, pkt, len, &why), GKV_EVERSION);
    assert_int_equal(why, SEAL_REFUSE_VERSION);
    peer_close(&s);
    peer_close(&a);
}

static void test_seal_output_buffer_too_small_is_refused(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 5);
    struct peer a;
    peer_init(&a, key, "", 1, 1);
    uint8_t out[64];
    size_t len = 0;
    assert_int_equal(seal_seal(a.ctx, 0, (const uint8_t *)"0123456789abcdef", 13, out, 64, &len),
                     GKV_ENOSPACE_MSG);
    assert_int_equal(seal_seal(a.ctx, 0, (const uint8_t *)"0123456789abcdef", 12, out, 64, &len),
                     0);
    assert_int_equal(len, 64);
    assert_int_equal(seal_ctx_stats(a.ctx)->sealed, 1);
    peer_close(&a);
}

static void test_seal_label_longer_than_max_is_refused(void **state)
{
    (void)state;
    char label[SEAL_LABEL_MAX + 2];
    memset(label, 'a', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    struct seal_ctx *c = NULL;
    assert_int_equal(seal_ctx_new(NULL, label, 1, 1, &c), GKV_EINVAL);
    label[SEAL_LABEL_MAX] = '\0';
    assert_int_equal(seal_ctx_new(NULL, label, 1, 1, &c), 0);
    seal_ctx_free(c);
}

/* ------------------------------------------------- tampering is refused */

/* A receiver that has accepted counters 1..4 of sender S (epoch 5), and S's
 * packet 5, not yet opened (5 = 0b101: single-bit flips reach 1, 4 (seen),
 * 7, 13... (unseen)). */
struct tamper_fixture {
    struct peer s, r;
    uint8_t pkt[PKT_MAX];
    size_t len;
};

static const uint64_t TAMPER_EPOCH = 5;

static void tamper_setup(struct tamper_fixture *f)
{
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 6);
    peer_init(&f->s, key, "tamper", 0x0102030405060708ULL, TAMPER_EPOCH);
    peer_init(&f->r, key, "tamper", 0xBEEF, 1);
    uint8_t tmp[PKT_MAX];
    for (int i = 0; i < 4; i++) {
        size_t l = seal_str(f->s.ctx, "earlier", tmp);
        assert_int_equal(open_pkt(f->r.ctx, tmp, l, NULL), 0);
    }
    const char *msg = "the packet under attack, 40 bytes long!!";
    f->len = seal_bytes_to(f->s.ctx, 0xBEEF, msg, strlen(msg), f->pkt); /* for r */
    assert_int_equal(be64_at(f->pkt + 28), 5);
}

/* What the receiver must say about a packet whose header was altered. */
static enum seal_refusal tamper_expected(const uint8_t *q, size_t off)
{
    if (off == 2) /* flags: "any receiver" changes the AD, other bits are unknown */
        return q[2] == SEAL_FLAG_TO_ANY ? SEAL_REFUSE_BAD_TAG : SEAL_REFUSE_VERSION;
    if (off == 0 || off == 3)
        return SEAL_REFUSE_VERSION;
    if (off == 1)
        return q[1] == SEAL_SUITE_NONE ? SEAL_REFUSE_MODE : SEAL_REFUSE_VERSION;
    if (off < 8)
        return SEAL_REFUSE_UNKNOWN_KEY;
    if (off < 12)
        return SEAL_REFUSE_BAD_LABEL;
    if (off < 20)
        return SEAL_REFUSE_BAD_TAG; /* another sender: no state, tag fails */
    if (off < 28)
        return be64_at(q + 20) < TAMPER_EPOCH ? SEAL_REFUSE_OLD_EPOCH : SEAL_REFUSE_BAD_TAG;
    if (off < 36) {
        uint64_t ctr = be64_at(q + 28);
        if (ctr == 0)
            return SEAL_REFUSE_TOO_OLD;
        return ctr <= 4 ? SEAL_REFUSE_REPLAY : SEAL_REFUSE_BAD_TAG;
    }
    return SEAL_REFUSE_BAD_TAG;
}

static void test_open_every_byte_flip_is_refused_with_its_reason_and_moves_no_window(void **state)
{
    (void)state;
    struct tamper_fixture f;
    tamper_setup(&f);
    const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF};
    uint64_t seen_reasons[SEAL_REFUSE_COUNT] = {0};
    for (size_t off = 0; off < f.len; off++) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            uint8_t q[PKT_MAX];
            memcpy(q, f.pkt, f.len);
            q[off] ^= masks[m];
            enum seal_refusal want = tamper_expected(q, off);
            uint64_t before = seal_ctx_stats(f.r.ctx)->refused[want];
            enum seal_refusal got;
            int rc = open_pkt(f.r.ctx, q, f.len, &got);
            if (rc == 0 || got != want)
                fail_msg("flip 0x%02x at offset %zu: rc %d reason %s, want %s", masks[m], off,
                         rc, seal_refusal_name(got), seal_refusal_name(want));
            assert_int_equal(seal_ctx_stats(f.r.ctx)->refused[want], before + 1);
            seen_reasons[want]++;
        }
    }
    /* Every header reason was exercised, and no flip created state. */
    assert_true(seen_reasons[SEAL_REFUSE_VERSION] > 0);
    assert_true(seen_reasons[SEAL_REFUSE_MODE] > 0);
    assert_true(seen_reasons[SEAL_REFUSE_UNKNOWN_KEY] > 0);
    assert_true(seen_reasons[SEAL_REFUSE_BAD_LABEL] > 0);
    assert_true(seen_reasons[SEAL_REFUSE_OLD_EPOCH] > 0);
    assert_true(seen_reasons[SEAL_REFUSE_REPLAY] > 0);
    assert_true(seen_reasons[SEAL_REFUSE_BAD_TAG] > 0);
    assert_int_equal(seal_ctx_stats(f.r.ctx)->opened, 4);
    assert_int_equal(seal_ctx_stats(f.r.ctx)->senders, 1);
    /* The untouched packet still opens: no flip advanced the window... */
    assert_int_equal(open_pkt(f.r.ctx, f.pkt, f.len, NULL), 0);
    /* ...not even flips that named a higher counter or epoch. */
    uint8_t next[PKT_MAX];
    size_t nlen = seal_str(f.s.ctx, "counter 6", next);
    assert_int_equal(open_pkt(f.r.ctx, next, nlen, NULL), 0);
    peer_close(&f.s);
    peer_close(&f.r);
}

static void test_open_every_truncation_is_refused_and_moves_no_window(void **state)
{
    (void)state;
    struct tamper_fixture f;
    tamper_setup(&f);
    for (size_t l = 0; l < f.len; l++) {
        enum seal_refusal got;
        assert_int_not_equal(open_pkt(f.r.ctx, f.pkt, l, &got), 0);
        assert_int_equal(got, l < SEAL_OVERHEAD_BYTES ? SEAL_REFUSE_TOO_SHORT : SEAL_REFUSE_BAD_TAG);
    }
    /* One byte too many is a bad tag too. */
    uint8_t longer[PKT_MAX];
    memcpy(longer, f.pkt, f.len);
    longer[f.len] = 0;
    enum seal_refusal got;
    assert_int_not_equal(open_pkt(f.r.ctx, longer, f.len + 1, &got), 0);
    assert_int_equal(got, SEAL_REFUSE_BAD_TAG);
    assert_int_equal(seal_ctx_stats(f.r.ctx)->refused[SEAL_REFUSE_TOO_SHORT], SEAL_OVERHEAD_BYTES);
    assert_int_equal(open_pkt(f.r.ctx, f.pkt, f.len, NULL), 0);
    peer_close(&f.s);
    peer_close(&f.r);
}

static void test_open_longer_than_max_or_buffer_is_refused_as_too_long(void **state)
{
    (void)state;
    struct tamper_fixture f;
    tamper_setup(&f);
    uint8_t pt[PKT_MAX];
    size_t pt_len;
    enum seal_refusal r;
    assert_int_equal(
        seal_open(f.r.ctx, f.pkt, f.len, f.len - 1, pt, sizeof(pt), &pt_len, NULL, NULL, &r),
        GKV_ETOOLONG);
    assert_int_equal(r, SEAL_REFUSE_TOO_LONG);
    assert_int_equal(seal_open(f.r.ctx, f.pkt, f.len, 0, pt, f.len - SEAL_OVERHEAD_BYTES - 1,
                               &pt_len, NULL, NULL, &r),
                     GKV_ETOOLONG);
    assert_int_equal(seal_ctx_stats(f.r.ctx)->refused[SEAL_REFUSE_TOO_LONG], 2);
    /* Exactly at both bounds it opens. */
    assert_int_equal(seal_open(f.r.ctx, f.pkt, f.len, f.len, pt, f.len - SEAL_OVERHEAD_BYTES,
                               &pt_len, NULL, NULL, &r),
                     0);
    peer_close(&f.s);
    peer_close(&f.r);
}

/* A packet from another cluster whose 4-byte label check happens to match
 * ours is still refused: the tag covers the full label. */
static void test_open_label_check_match_with_other_label_fails_the_tag(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 7);
    struct peer a, b, ours;
    peer_init(&a, key, "cluster-a", 1, 1);
    peer_init(&b, key, "cluster-b", 2, 1);
    peer_init(&ours, key, "cluster-b", 3, 1);
    uint8_t pa[PKT_MAX], pb[PKT_MAX];
    size_t la = seal_str(a.ctx, "from a", pa);
    enum seal_refusal r;
    assert_int_equal(open_pkt(b.ctx, pa, la, &r), GKV_ELABEL);
    assert_int_equal(r, SEAL_REFUSE_BAD_LABEL);
    assert_int_equal(seal_ctx_stats(b.ctx)->refused[SEAL_REFUSE_BAD_LABEL], 1);
    /* Forge a collision: copy cluster-b's label check into a's packet. */
    seal_str(ours.ctx, "from b", pb);
    memcpy(pa + 8, pb + 8, 4);
    assert_int_equal(open_pkt(b.ctx, pa, la, &r), GKV_EAUTH);
    assert_int_equal(r, SEAL_REFUSE_BAD_TAG);
    peer_close(&a);
    peer_close(&b);
    peer_close(&ours);
}

static void test_open_unknown_key_id_is_refused_and_counted(void **state)
{
    (void)state;
    uint8_t k1[SEAL_KEY_BYTES], k2[SEAL_KEY_BYTES];
    key_make(k1, 8);
    key_make(k2, 9);
    struct peer a, b;
    peer_init(&a, k1, "x", 1, 1);
    peer_init(&b, k2, "x", 2, 1);
    uint8_t pkt[PKT_MAX];
    size_t len = seal_str(a.ctx, "wrong key", pkt);
    enum seal_refusal r;
    assert_int_equal(open_pkt(b.ctx, pkt, len, &r), GKV_EUNKNOWNKEY);
    assert_int_equal(r, SEAL_REFUSE_UNKNOWN_KEY);
    assert_int_equal(seal_ctx_stats(b.ctx)->refused[SEAL_REFUSE_UNKNOWN_KEY], 1);
    assert_int_equal(seal_ctx_stats(b.ctx)->senders, 0);
    peer_close(&a);
    peer_close(&b);
}

/* ----------------------------------------------------------- replay */

static void test_open_duplicate_is_refused_as_replay(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 10);
    struct peer a, b;
    peer_init(&a, key, "r", 1, 1);
    peer_init(&b, key, "r", 2, 1);
    uint8_t pkt[PKT_MAX];
    size_t len = seal_str(a.ctx, "once", pkt);
    assert_int_equal(open_pkt(b.ctx, pkt, len, NULL), 0);
    enum seal_refusal r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(open_pkt(b.ctx, pkt, len, &r), GKV_EREPLAY);
        assert_int_equal(r, SEAL_REFUSE_REPLAY);
    }
    assert_int_equal(seal_ctx_stats(b.ctx)->refused[SEAL_REFUSE_REPLAY], 3);
    assert_int_equal(seal_ctx_stats(b.ctx)->opened, 1);
    peer_close(&a);
    peer_close(&b);
}

static void test_open_reordered_within_window_is_accepted_once(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 11);
    struct peer a, b;
    peer_init(&a, key, "r", 1, 1);
    peer_init(&b, key, "r", 2, 1);
    enum { N = SEAL_REPLAY_WINDOW };
    static uint8_t pkts[N][64];
    size_t lens[N];
    for (int i = 0; i < N; i++)
        lens[i] = seal_str(a.ctx, "p", pkts[i]);
    /* Newest first, then every older one: all inside the window. */
    assert_int_equal(open_pkt(b.ctx, pkts[N - 1], lens[N - 1], NULL), 0);
    for (int i = N - 2; i >= 0; i -= 2)
        assert_int_equal(open_pkt(b.ctx, pkts[i], lens[i], NULL), 0);
    for (int i = 1; i < N - 1; i += 2) /* the odd ones, in order */
        assert_int_equal(open_pkt(b.ctx, pkts[i], lens[i], NULL), 0);
    assert_int_equal(seal_ctx_stats(b.ctx)->opened, N);
    /* Each exactly once. */
    for (int i = 0; i < N; i++) {
        enum seal_refusal r;
        assert_int_equal(open_pkt(b.ctx, pkts[i], lens[i], &r), GKV_EREPLAY);
        assert_int_equal(r, SEAL_REFUSE_REPLAY);
    }
    peer_close(&a);
    peer_close(&b);
}

static void test_open_older_than_window_is_refused(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 12);
    struct peer a, b;
    peer_init(&a, key, "r", 1, 1);
    peer_init(&b, key, "r", 2, 1);
    enum { N = SEAL_REPLAY_WINDOW + 2 }; /* counters 1 .. 1026 */
    static uint8_t pkts[N][64];
    size_t lens[N];
    for (int i = 0; i < N; i++)
        lens[i] = seal_str(a.ctx, "p", pkts[i]);
    assert_int_equal(open_pkt(b.ctx, pkts[N - 1], lens[N - 1], NULL), 0); /* top = 1026 */
    enum seal_refusal r;
    /* 1026 - 1 >= 1024 and 1026 - 2 >= 1024: below the window. */
    assert_int_equal(open_pkt(b.ctx, pkts[0], lens[0], &r), GKV_EREPLAY);
    assert_int_equal(r, SEAL_REFUSE_TOO_OLD);
    assert_int_equal(open_pkt(b.ctx, pkts[1], lens[1], &r), GKV_EREPLAY);
    assert_int_equal(r, SEAL_REFUSE_TOO_OLD);
    /* 1026 - 3 = 1023: the oldest counter inside the window. */
    assert_int_equal(open_pkt(b.ctx, pkts[2], lens[2], NULL), 0);
    assert_int_equal(seal_ctx_stats(b.ctx)->refused[SEAL_REFUSE_TOO_OLD], 2);
    peer_close(&a);
    peer_close(&b);
}

static void test_open_old_epoch_refused_and_newer_epoch_accepted_after_restart(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 13);
    struct peer a, b;
    peer_init(&b, key, "r", 2, 1);
    peer_init(&a, key, "r", 1, 5);
    uint8_t p1[PKT_MAX], p2[PKT_MAX], q[PKT_MAX];
    size_t l1 = seal_str(a.ctx, "epoch 5, counter 1", p1);
    size_t l2 = seal_str(a.ctx, "epoch 5, counter 2 (in flight)", p2);
    assert_int_equal(open_pkt(b.ctx, p1, l1, NULL), 0);
    peer_close(&a);

    /* Restart: the node persisted epoch 5 and comes back with 6; its
     * counter starts again at 1, and that is accepted. */
    peer_init(&a, key, "r", 1, 6);
    size_t lq = seal_str(a.ctx, "epoch 6, counter 1", q);
    assert_int_equal(be64_at(q + 28), 1);
    assert_int_equal(open_pkt(b.ctx, q, lq, NULL), 0);
    enum seal_refusal r;
    /* The old epoch's packet still in flight is refused now. */
    assert_int_equal(open_pkt(b.ctx, p2, l2, &r), GKV_EOLDEPOCH);
    assert_int_equal(r, SEAL_REFUSE_OLD_EPOCH);
    assert_int_equal(open_pkt(b.ctx, q, lq, &r), GKV_EREPLAY);
    peer_close(&a);

    /* A node that failed to persist its epoch (came back with 5) is refused. */
    peer_init(&a, key, "r", 1, 5);
    lq = seal_str(a.ctx, "epoch 5 again", q);
    assert_int_equal(open_pkt(b.ctx, q, lq, &r), GKV_EOLDEPOCH);
    assert_int_equal(seal_ctx_stats(b.ctx)->refused[SEAL_REFUSE_OLD_EPOCH], 2);
    assert_int_equal(seal_ctx_stats(b.ctx)->senders, 1);
    peer_close(&a);
    peer_close(&b);
}

/* A key holder seals with an epoch far in the future: without the bound it
 * would pin the sender's replay state there and every real packet of that
 * sender would be refused as old_epoch for good. */
static void test_open_future_epoch_is_refused_counted_and_cannot_pin_a_sender(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 15);
    const uint64_t wall_s = 1800000000; /* 2027 */
    uint64_t honest_epoch = 0;
    assert_int_equal(seal_epoch_next(0, wall_s - 60, 0xabcdef01u, &honest_epoch), 0);
    struct peer b, forger, honest;
    peer_init(&b, key, "f", 2, 1);
    seal_ctx_set_wall_ms(b.ctx, wall_s * 1000 + 999);
    peer_init(&forger, key, "f", 1, UINT64_MAX);
    peer_init(&honest, key, "f", 1, honest_epoch);
    uint8_t p[PKT_MAX];
    size_t l = seal_str(forger.ctx, "epoch 2^64-1", p);
    enum seal_refusal r;
    assert_int_equal(open_pkt(b.ctx, p, l, &r), GKV_ECLOCK);
    assert_int_equal(r, SEAL_REFUSE_FUTURE_EPOCH);
    assert_int_equal(seal_ctx_stats(b.ctx)->refused[SEAL_REFUSE_FUTURE_EPOCH], 1);
    assert_int_equal(seal_ctx_stats(b.ctx)->senders, 0);
    peer_close(&forger);
    /* Just past the bound: refused; at the bound: accepted (a skewed clock). */
    uint64_t past = (wall_s + SEAL_EPOCH_AHEAD_MAX_S + 1) << 32;
    peer_init(&forger, key, "f", 3, past);
    l = seal_str(forger.ctx, "one second too far", p);
    assert_int_equal(open_pkt(b.ctx, p, l, &r), GKV_ECLOCK);
    peer_close(&forger);
    peer_init(&forger, key, "f", 3, past - (1ull << 32));
    l = seal_str(forger.ctx, "at the bound", p);
    assert_int_equal(open_pkt(b.ctx, p, l, NULL), 0);
    peer_close(&forger);
    /* The honest sender 1 was not pinned. */
    l = seal_str(honest.ctx, "hello", p);
    assert_int_equal(open_pkt(b.ctx, p, l, NULL), 0);
    assert_int_equal(seal_ctx_stats(b.ctx)->refused[SEAL_REFUSE_FUTURE_EPOCH], 2);
    /* Wall clock 0 (never told) turns the check off (the simulator's small epochs). */
    seal_ctx_set_wall_ms(b.ctx, 0);
    peer_init(&forger, key, "f", 4, UINT64_MAX);
    l = seal_str(forger.ctx, "unchecked", p);
    assert_int_equal(open_pkt(b.ctx, p, l, NULL), 0);
    peer_close(&forger);
    peer_close(&honest);
    peer_close(&b);
}

/* seal_epoch_next: seconds never below the wall clock nor the last start's
 * seconds + 1, the low half is the boot's random draw, and peers order a
 * restart above the previous life even when the clock went backwards. */
static void test_epoch_next_grows_past_wall_clock_and_last_epoch(void **state)
{
    (void)state;
    uint64_t e1 = 0, e2 = 0, e3 = 0, e4 = 0;
    assert_int_equal(seal_epoch_next(0, 1700000000, 0xffffffffu, &e1), 0);
    assert_int_equal(seal_epoch_seconds(e1), 1700000000);
    assert_int_equal(e1 & 0xffffffffu, 0xffffffffu);
    /* same second, smaller random half: still above e1 */
    assert_int_equal(seal_epoch_next(e1, 1700000000, 0, &e2), 0);
    assert_true(e2 > e1);
    assert_int_equal(seal_epoch_seconds(e2), 1700000001);
    /* the clock went back an hour: the persisted epoch keeps the order */
    assert_int_equal(seal_epoch_next(e2, 1700000000 - 3600, 7, &e3), 0);
    assert_true(e3 > e2);
    /* a later start follows the wall clock */
    assert_int_equal(seal_epoch_next(e3, 1700009999, 7, &e4), 0);
    assert_int_equal(seal_epoch_seconds(e4), 1700009999);
    /* an old-style small epoch (a counter) is below any time-based one */
    assert_int_equal(seal_epoch_next(42, 1700000000, 1, &e4), 0);
    assert_true(e4 > 42);
    /* seconds past 2^32 - 1 are refused, not wrapped */
    assert_int_equal(seal_epoch_next(UINT64_MAX, 1700000000, 1, &e4), GKV_ELIMIT);
    assert_int_equal(seal_epoch_next(0, (uint64_t)UINT32_MAX + 1, 1, &e4), GKV_ELIMIT);
    assert_int_equal(seal_epoch_next(0, UINT32_MAX, 1, &e4), 0);
    assert_int_equal(seal_epoch_next(0, 1, 1, NULL), GKV_EINVAL);
}

/* The RFC 6479 window against a model that remembers every counter: accept
 * iff unseen and within SEAL_REPLAY_WINDOW of the highest accepted. */
static void test_replay_window_matches_exact_model_on_random_sequences(void **state)
{
    (void)state;
    struct gkv_rng rng;
    gkv_rng_seed(&rng, gkv_test_seed("test_seal", 0x5ea1));
    enum { SPAN = 8192, STEPS = 200000 };
    static uint8_t seen[SPAN + 1];
    for (int round = 0; round < 4; round++) {
        memset(seen, 0, sizeof(seen));
        struct replay_window w;
        replay_window_reset(&w);
        uint64_t top = 0;
        uint64_t base = 0; /* the walk drifts upwards with jitter around it */
        for (int i = 0; i < STEPS / 4; i++) {
            uint64_t jitter = gkv_rng_below(&rng, round == 3 ? 4096 : 1400);
            uint64_t c = base + 1 + jitter;
            if (gkv_rng_below(&rng, 8) == 0 && base < SPAN - 5000)
                base += gkv_rng_below(&rng, 64);
            if (c > SPAN)
                c = SPAN;
            enum replay_verdict want;
            if (c > top)
                want = REPLAY_OK;
            else if (top - c >= SEAL_REPLAY_WINDOW)
                want = REPLAY_TOO_OLD;
            else
                want = seen[c] ? REPLAY_DUPLICATE : REPLAY_OK;
            enum replay_verdict got = replay_window_check(&w, c);
            if (got != want)
                fail_msg("round %d step %d counter %" PRIu64 " top %" PRIu64 ": got %d want %d",
                         round, i, c, top, got, want);
            if (got == REPLAY_OK) {
                replay_window_update(&w, c);
                seen[c] = 1;
                if (c > top)
                    top = c;
            }
        }
    }
}

static void test_replay_window_big_jump_clears_everything(void **state)
{
    (void)state;
    struct replay_window w;
    replay_window_reset(&w);
    for (uint64_t c = 1; c <= 100; c++)
        replay_window_update(&w, c);
    replay_window_update(&w, 1000000);
    assert_int_equal(replay_window_check(&w, 1000000), REPLAY_DUPLICATE);
    assert_int_equal(replay_window_check(&w, 1000000 - 1), REPLAY_OK);
    assert_int_equal(replay_window_check(&w, 1000000 - 1023), REPLAY_OK);
    assert_int_equal(replay_window_check(&w, 1000000 - 1024), REPLAY_TOO_OLD);
    assert_int_equal(replay_window_check(&w, 50), REPLAY_TOO_OLD);
    assert_int_equal(replay_window_check(&w, 0), REPLAY_TOO_OLD);
    assert_int_equal(replay_window_check(&w, UINT64_MAX), REPLAY_OK);
}

/* --------------------------------------------------- senders table */

static void test_senders_table_full_evicts_the_idlest_sender_and_keeps_the_busy_ones(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 14);
    struct peer r;
    peer_init(&r, key, "t", 1000, 1);
    assert_int_equal(seal_ctx_set_max_senders(r.ctx, 0), GKV_EINVAL);
    assert_int_equal(seal_ctx_set_max_senders(r.ctx, SEAL_MAX_SENDERS + 1), GKV_EINVAL);
    assert_int_equal(seal_ctx_set_max_senders(r.ctx, 4), 0);
    struct peer s[5];
    uint8_t pkt[PKT_MAX], old1[PKT_MAX];
    size_t len;
    for (int i = 0; i < 5; i++)
        peer_init(&s[i], key, "t", (uint64_t)i + 1, 1);
    for (int i = 0; i < 4; i++) {
        len = seal_str(s[i].ctx, "hi", pkt);
        assert_int_equal(open_pkt(r.ctx, pkt, len, NULL), 0);
    }
    /* Senders 1, 3 and 4 speak again; sender 2 stays quiet: it is the idlest. */
    size_t old1_len = seal_str(s[1].ctx, "sender 2, never delivered yet", old1);
    for (int i = 0; i < 4; i++) {
        if (i == 1)
            continue;
        len = seal_str(s[i].ctx, "busy", pkt);
        assert_int_equal(open_pkt(r.ctx, pkt, len, NULL), 0);
    }
    enum seal_refusal why;
    len = seal_str(s[4].ctx, "newcomer", pkt);
    assert_int_equal(open_pkt(r.ctx, pkt, len, &why), 0);
    assert_int_equal(seal_ctx_stats(r.ctx)->senders, 4);
    assert_int_equal(seal_ctx_stats(r.ctx)->senders_evicted, 1);
    assert_int_equal(seal_ctx_stats(r.ctx)->refused[SEAL_REFUSE_TOO_MANY_SENDERS], 0);
    /* The busy senders kept their windows: their last packets are replays. */
    for (int i = 0; i < 4; i++) {
        if (i == 1)
            continue;
        uint8_t q[PKT_MAX];
        size_t ql = seal_str(s[i].ctx, "again", q);
        assert_int_equal(open_pkt(r.ctx, q, ql, NULL), 0);
        assert_int_equal(open_pkt(r.ctx, q, ql, &why), GKV_EREPLAY);
    }
    /* Sender 2 comes back (admitted again, evicting the now idlest, the
     * newcomer) and keeps working. */
    assert_int_equal(open_pkt(r.ctx, old1, old1_len, NULL), 0);
    assert_int_equal(seal_ctx_stats(r.ctx)->senders_evicted, 2);
    assert_int_equal(open_pkt(r.ctx, old1, old1_len, &why), GKV_EREPLAY);
    /* Forgetting a departed member makes room without an eviction. */
    assert_int_equal(seal_ctx_forget_sender(r.ctx, 3), 0);
    assert_int_equal(seal_ctx_forget_sender(r.ctx, 3), GKV_ENOTFOUND);
    assert_int_equal(seal_ctx_stats(r.ctx)->senders, 3);
    assert_int_equal(seal_ctx_stats(r.ctx)->senders_forgotten, 1);
    len = seal_str(s[4].ctx, "newcomer again", pkt);
    assert_int_equal(open_pkt(r.ctx, pkt, len, NULL), 0);
    assert_int_equal(seal_ctx_stats(r.ctx)->senders, 4);
    assert_int_equal(seal_ctx_stats(r.ctx)->senders_evicted, 2);
    for (int i = 0; i < 5; i++)
        peer_close(&s[i]);
    peer_close(&r);
}

static void test_senders_table_holds_the_default_limit_then_evicts(void **state)
{
    (void)state;
    struct peer r;
    peer_init(&r, NULL, "t", 0, 1); /* insecure: same table, cheaper setup */
    struct seal_ctx *s = NULL;
    uint8_t pkt[PKT_MAX], first[PKT_MAX];
    size_t len = 0, first_len = 0;
    for (uint64_t id = 1; id <= SEAL_MAX_SENDERS + 1; id++) {
        assert_int_equal(seal_ctx_new(NULL, "t", id, 1, &s), 0);
        assert_int_equal(seal_seal(s, 0, (const uint8_t *)"x", 1, pkt, sizeof(pkt), &len), 0);
        if (id == 1) {
            memcpy(first, pkt, len);
            first_len = len;
        }
        seal_ctx_free(s);
        assert_int_equal(open_pkt(r.ctx, pkt, len, NULL), 0);
    }
    const struct seal_stats *st = seal_ctx_stats(r.ctx);
    assert_int_equal(st->senders, SEAL_MAX_SENDERS);
    assert_int_equal(st->senders_evicted, 1);
    assert_int_equal(st->refused[SEAL_REFUSE_TOO_MANY_SENDERS], 0);
    /* The evicted one was sender 1, the first and idlest: the newest sender's
     * packet is still a replay, sender 1's is new again (the price of
     * eviction, docs/ENVELOPE.md). */
    assert_int_equal(open_pkt(r.ctx, pkt, len, NULL), GKV_EREPLAY);
    assert_int_equal(open_pkt(r.ctx, first, first_len, NULL), 0);
    assert_int_equal(st->senders_evicted, 2);
    peer_close(&r);
}

/* The use-order list against a model: after any mix of updates, forgets and
 * limit changes, eviction always takes the sender whose last recorded packet
 * is the oldest, and every tracked sender stays findable. */
static void test_replay_table_eviction_order_matches_model(void **state)
{
    (void)state;
    struct gkv_rng rng;
    gkv_rng_seed(&rng, gkv_test_seed("test_seal", 0x11d1e5));
    enum { IDS = 40, STEPS = 20000 };
    uint64_t last_use[IDS + 1] = {0}; /* 0 = not tracked (model) */
    uint64_t counter[IDS + 1] = {0};
    uint64_t clock = 0;
    uint32_t max = 16;
    struct replay_table t;
    assert_int_equal(replay_table_init(&t, max), 0);
    for (int step = 0; step < STEPS; step++) {
        uint32_t op = (uint32_t)gkv_rng_below(&rng, 100);
        uint64_t id = 1 + gkv_rng_below(&rng, IDS);
        if (op < 85) {
            uint32_t tracked = 0;
            for (int i = 1; i <= IDS; i++)
                tracked += last_use[i] != 0;
            if (!last_use[id]) {
                /* the model evicts the least recently used while full */
                while (tracked >= max) {
                    int lru = 0;
                    for (int i = 1; i <= IDS; i++)
                        if (last_use[i] && (!lru || last_use[i] < last_use[lru]))
                            lru = i;
                    last_use[lru] = 0;
                    tracked--;
                }
            }
            counter[id]++;
            assert_int_equal(replay_table_check(&t, id, 1, counter[id]), REPLAY_OK);
            assert_int_equal(replay_table_update(&t, id, 1, counter[id]), 0);
            last_use[id] = ++clock;
        } else if (op < 95) {
            assert_int_equal(replay_table_forget(&t, id), last_use[id] ? 0 : GKV_ENOTFOUND);
            last_use[id] = 0;
        } else {
            max = 1 + (uint32_t)gkv_rng_below(&rng, 24);
            assert_int_equal(replay_table_set_max(&t, max), 0);
        }
        uint32_t tracked = 0;
        for (uint64_t i = 1; i <= IDS; i++) {
            tracked += last_use[i] != 0;
            /* tracked: its newest counter is a duplicate; untracked: new */
            enum replay_verdict v = replay_table_check(&t, i, 1, counter[i] ? counter[i] : 1);
            assert_int_equal(v, last_use[i] ? REPLAY_DUPLICATE : REPLAY_OK);
        }
        assert_int_equal(replay_table_count(&t), tracked);
    }
    replay_table_close(&t);
}

/* Backward-shift deletion keeps every other sender findable. */
static void test_replay_table_forget_keeps_other_senders(void **state)
{
    (void)state;
    struct replay_table t;
    assert_int_equal(replay_table_init(&t, 4096), 0);
    for (uint64_t id = 1; id <= 3000; id++)
        assert_int_equal(replay_table_update(&t, id, 1, id), 0);
    for (uint64_t id = 1; id <= 3000; id += 3)
        assert_int_equal(replay_table_forget(&t, id), 0);
    assert_int_equal(replay_table_count(&t), 2000);
    for (uint64_t id = 1; id <= 3000; id++) {
        enum replay_verdict v = replay_table_check(&t, id, 1, id);
        assert_int_equal(v, (id - 1) % 3 == 0 ? REPLAY_OK : REPLAY_DUPLICATE);
    }
    replay_table_close(&t);
}

/* ------------------------------------------------------ insecure mode */

static void test_insecure_round_trip_keeps_header_label_and_replay_window(void **state)
{
    (void)state;
    struct peer a, b, other;
    peer_init(&a, NULL, "dev", 1, 1);
    peer_init(&b, NULL, "dev", 2, 1);
    peer_init(&other, NULL, "staging", 3, 1);
    assert_false(seal_ctx_secure(a.ctx));
    uint8_t pkt[PKT_MAX];
    size_t len = seal_str(a.ctx, "in the clear", pkt);
    assert_int_equal(len, strlen("in the clear") + SEAL_OVERHEAD_BYTES);
    assert_int_equal(pkt[1], SEAL_SUITE_NONE);
    assert_int_equal(be32_at(pkt + 4), 0);
    /* No secrecy: the plaintext is right there. */
    assert_memory_equal(pkt + SEAL_HEADER_BYTES, "in the clear", 12);
    assert_int_equal(open_pkt(b.ctx, pkt, len, NULL), 0);
    enum seal_refusal r;
    assert_int_equal(open_pkt(b.ctx, pkt, len, &r), GKV_EREPLAY);
    assert_int_equal(open_pkt(other.ctx, pkt, len, &r), GKV_ELABEL);
    /* Corruption is caught by the checksum (not tampering: anyone can
     * recompute it). */
    len = seal_str(a.ctx, "in the clear", pkt);
    pkt[SEAL_HEADER_BYTES] ^= 1;
    assert_int_equal(open_pkt(b.ctx, pkt, len, &r), GKV_EAUTH);
    assert_int_equal(r, SEAL_REFUSE_BAD_TAG);
    peer_close(&a);
    peer_close(&b);
    peer_close(&other);
}

static void test_secure_and_insecure_nodes_refuse_each_other(void **state)
{
    (void)state;
    uint8_t key[SEAL_KEY_BYTES];
    key_make(key, 15);
    struct peer sec, ins;
    peer_init(&sec, key, "m", 1, 1);
    peer_init(&ins, NULL, "m", 2, 1);
    uint8_t pkt[PKT_MAX];
    enum seal_refusal r;
    size_t len = seal_str(ins.ctx, "plain", pkt);
    assert_int_equal(open_pkt(sec.ctx, pkt, len, &r), GKV_EAUTH);
    assert_int_equal(r, SEAL_REFUSE_MODE);
    len = seal_str(sec.ctx, "sealed", pkt);
    assert_int_equal(open_pkt(ins.ctx, pkt, len, &r), GKV_EAUTH);
    assert_int_equal(r, SEAL_REFUSE_MODE);
    assert_int_equal(seal_ctx_stats(sec.ctx)->refused[SEAL_REFUSE_MODE], 1);
    assert_int_equal(seal_ctx_stats(ins.ctx)->refused[SEAL_REFUSE_MODE], 1);
    assert_string_equal(seal_refusal_name(SEAL_REFUSE_MODE), "mode_mismatch");
    peer_close(&sec);
    peer_close(&ins);
}

/* ------------------------------------------------------------ keyring */

static void test_keyring_limits_and_state_rules(void **state)
{
    (void)state;
    struct seal_keyring *kr;
    assert_int_equal(seal_keyring_new(&kr), 0);
    uint8_t k[5][SEAL_KEY_BYTES];
    for (int i = 0; i < 5; i++)
        key_make(k[i], 100 + (uint32_t)i);
    for (int i = 0; i < 4; i++)
        assert_int_equal(seal_keyring_install(kr, k[i]), 0);
    assert_int_equal(seal_keyring_install(kr, k[4]), GKV_EFULL);
    assert_int_equal(seal_keyring_install(kr, k[1]), GKV_EEXIST);
    assert_int_equal(seal_keyring_count(kr), 4);
    /* The first installed key is primary, and cannot be removed. */
    uint32_t id;
    bool primary;
    assert_int_equal(seal_keyring_entry(kr, 0, &id, &primary), 0);
    assert_int_equal(id, seal_key_id(k[0]));
    assert_true(primary);
    assert_int_equal(seal_keyring_remove(kr, k[0]), GKV_ESTATE);
    assert_int_equal(seal_keyring_use(kr, k[4]), GKV_ENOTFOUND);
    assert_int_equal(seal_keyring_remove(kr, k[4]), GKV_ENOTFOUND);
    assert_int_equal(seal_keyring_use(kr, k[2]), 0);
    assert_int_equal(seal_keyring_remove(kr, k[0]), 0);
    assert_int_equal(seal_keyring_count(kr), 3);
    assert_int_equal(seal_keyring_install(kr, k[4]), 0);
    assert_int_equal(seal_keyring_entry(kr, 4, &id, &primary), GKV_ENOTFOUND);
    int primaries = 0;
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(seal_keyring_entry(kr, i, &id, &primary), 0);
        if (primary) {
            primaries++;
            assert_int_equal(id, seal_key_id(k[2]));
        }
    }
    assert_int_equal(primaries, 1);
    seal_keyring_free(kr);
}

/* Removed keys leave no bytes behind in the sodium_malloc'd block. */
static void test_keyring_remove_wipes_the_key_bytes(void **state)
{
    (void)state;
    struct seal_keyring *kr;
    assert_int_equal(seal_keyring_new(&kr), 0);
    uint8_t k0[SEAL_KEY_BYTES], k1[SEAL_KEY_BYTES], zero[SEAL_KEY_BYTES] = {0};
    key_make(k0, 150);
    key_make(k1, 151);
    assert_int_equal(seal_keyring_install(kr, k0), 0);
    assert_int_equal(seal_keyring_install(kr, k1), 0);
    int slot = keyring_find_id(kr, seal_key_id(k1), 0);
    assert_true(slot >= 0);
    assert_memory_equal(keyring_key_at(kr, slot), k1, SEAL_KEY_BYTES);
    assert_int_equal(seal_keyring_remove(kr, k1), 0);
    assert_memory_equal(keyring_key_at(kr, slot), zero, SEAL_KEY_BYTES);
    for (int i = 0; i < (int)SEAL_KEYRING_MAX; i++)
        assert_memory_not_equal(keyring_key_at(kr, i), k1, SEAL_KEY_BYTES);
    seal_keyring_free(kr);
}

static void test_keyring_removed_key_packets_are_refused(void **state)
{
    (void)state;
    uint8_t old_key[SEAL_KEY_BYTES], new_key[SEAL_KEY_BYTES];
    key_make(old_key, 200);
    key_make(new_key, 201);
    struct peer a, b;
    peer_init(&a, old_key, "k", 1, 1);
    peer_init(&b, new_key, "k", 2, 1);
    assert_int_equal(seal_keyring_install(b.kr, old_key), 0);
    uint8_t p1[PKT_MAX], p2[PKT_MAX];
    size_t l1 = seal_str(a.ctx, "sealed with the old key", p1);
    size_t l2 = seal_str(a.ctx, "also old", p2);
    assert_int_equal(open_pkt(b.ctx, p1, l1, NULL), 0); /* any installed key opens */
    assert_int_equal(seal_keyring_remove(b.kr, old_key), 0);
    enum seal_refusal r;
    assert_int_equal(open_pkt(b.ctx, p2, l2, &r), GKV_EUNKNOWNKEY);
    assert_int_equal(r, SEAL_REFUSE_UNKNOWN_KEY);
    peer_close(&a);
    peer_close(&b);
}

/* Two keys with the same 32-bit id: the opener tries both. The pair is
 * found by a birthday search over deterministic keys (expected ~8 pairs). */
struct id_slot {
    uint32_t id, tag;
};
static int id_slot_cmp(const void *a, const void *b)
{
    const struct id_slot *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void test_keyring_colliding_key_ids_open_with_either_key(void **state)
{
    (void)state;
    enum { N = 1 << 18 };
    struct id_slot *ids = malloc(N * sizeof(*ids));
    assert_non_null(ids);
    uint8_t k[SEAL_KEY_BYTES];
    for (uint32_t i = 0; i < N; i++) {
        key_make(k, 0x10000000u + i);
        ids[i].id = seal_key_id(k);
        ids[i].tag = 0x10000000u + i;
    }
    qsort(ids, N, sizeof(*ids), id_slot_cmp);
    uint32_t t1 = 0, t2 = 0;
    for (uint32_t i = 1; i < N && !t1; i++)
        if (ids[i].id == ids[i - 1].id) {
            t1 = ids[i - 1].tag;
            t2 = ids[i].tag;
        }
    free(ids);
    assert_true(t1 != 0);
    uint8_t k1[SEAL_KEY_BYTES], k2[SEAL_KEY_BYTES];
    key_make(k1, t1);
    key_make(k2, t2);
    assert_int_equal(seal_key_id(k1), seal_key_id(k2));

    struct peer s1, s2, r;
    peer_init(&s1, k1, "c", 1, 1);
    peer_init(&s2, k2, "c", 2, 1);
    peer_init(&r, k1, "c", 3, 1);
    assert_int_equal(seal_keyring_install(r.kr, k2), 0);
    uint8_t pkt[PKT_MAX];
    size_t len = seal_str(s1.ctx, "key one", pkt);
    assert_int_equal(open_pkt(r.ctx, pkt, len, NULL), 0);
    len = seal_str(s2.ctx, "key two", pkt);
    assert_int_equal(open_pkt(r.ctx, pkt, len, NULL), 0);
    peer_close(&s1);
    peer_close(&s2);
    peer_close(&r);
}

/* Rotation across five nodes, one node at a time (Serf: install everywhere,
 * then use everywhere, then remove everywhere). After every single step
 * every node seals a packet to every other node; none may be refused. */
enum { ROT_NODES = 5 };

static uint64_t rotation_exchange(struct peer *nodes, uint32_t *ids_seen, uint32_t *n_ids)
{
    uint64_t refused = 0;
    uint8_t pkt[PKT_MAX];
    for (int from = 0; from < ROT_NODES; from++) {
        for (int to = 0; to < ROT_NODES; to++) {
            if (from == to)
                continue;
            size_t len = seal_str(nodes[from].ctx, "gossip", pkt);
            uint32_t id = be32_at(pkt + 4);
            bool known = false;
            for (uint32_t i = 0; i < *n_ids; i++)
                known |= ids_seen[i] == id;
            if (!known && *n_ids < 8)
                ids_seen[(*n_ids)++] = id;
            if (open_pkt(nodes[to].ctx, pkt, len, NULL) != 0)
                refused++;
        }
    }
    return refused;
}

static void test_rotation_one_node_at_a_time_across_five_nodes_refuses_nothing(void **state)
{
    (void)state;
    uint8_t old_key[SEAL_KEY_BYTES], new_key[SEAL_KEY_BYTES];
    key_make(old_key, 300);
    key_make(new_key, 301);
    struct peer nodes[ROT_NODES];
    for (int i = 0; i < ROT_NODES; i++)
        peer_init(&nodes[i], old_key, "rot", (uint64_t)i + 1, 1);
    uint32_t ids[8];
    uint32_t n_ids = 0;
    uint64_t refused = rotation_exchange(nodes, ids, &n_ids);
    int steps = 0;
    for (int i = 0; i < ROT_NODES; i++, steps++) {
        assert_int_equal(seal_keyring_install(nodes[i].kr, new_key), 0);
        refused += rotation_exchange(nodes, ids, &n_ids);
    }
    for (int i = 0; i < ROT_NODES; i++, steps++) {
        assert_int_equal(seal_keyring_use(nodes[i].kr, new_key), 0);
        refused += rotation_exchange(nodes, ids, &n_ids);
    }
    for (int i = 0; i < ROT_NODES; i++, steps++) {
        assert_int_equal(seal_keyring_remove(nodes[i].kr, old_key), 0);
        refused += rotation_exchange(nodes, ids, &n_ids);
    }
    assert_int_equal(steps, 15);
    assert_int_equal(refused, 0);
    uint64_t opened = 0;
    for (int i = 0; i < ROT_NODES; i++) {
        assert_int_equal(refusals_total(nodes[i].ctx), 0);
        opened += seal_ctx_stats(nodes[i].ctx)->opened;
        assert_int_equal(seal_keyring_count(nodes[i].kr), 1);
        uint32_t id;
        bool primary;
        assert_int_equal(seal_keyring_entry(nodes[i].kr, 0, &id, &primary), 0);
        assert_true(primary);
        assert_int_equal(id, seal_key_id(new_key));
    }
    assert_int_equal(opened, 16 * ROT_NODES * (ROT_NODES - 1));
    /* Both keys really were on the wire. */
    assert_int_equal(n_ids, 2);
    for (int i = 0; i < ROT_NODES; i++)
        peer_close(&nodes[i]);
}

/* The control: removing the old key before every node switched does refuse
 * packets, so the test above would notice a broken procedure. */
static void test_rotation_removing_old_key_too_early_refuses_packets(void **state)
{
    (void)state;
    uint8_t old_key[SEAL_KEY_BYTES], new_key[SEAL_KEY_BYTES];
    key_make(old_key, 302);
    key_make(new_key, 303);
    struct peer nodes[ROT_NODES];
    for (int i = 0; i < ROT_NODES; i++)
        peer_init(&nodes[i], old_key, "rot", (uint64_t)i + 1, 1);
    for (int i = 0; i < ROT_NODES; i++)
        assert_int_equal(seal_keyring_install(nodes[i].kr, new_key), 0);
    assert_int_equal(seal_keyring_use(nodes[0].kr, new_key), 0);
    assert_int_equal(seal_keyring_remove(nodes[0].kr, old_key), 0);
    uint32_t ids[8], n_ids = 0;
    uint64_t refused = rotation_exchange(nodes, ids, &n_ids);
    assert_int_equal(refused, ROT_NODES - 1); /* nodes 1..4 still seal with the old key */
    assert_int_equal(seal_ctx_stats(nodes[0].ctx)->refused[SEAL_REFUSE_UNKNOWN_KEY], ROT_NODES - 1);
    for (int i = 0; i < ROT_NODES; i++)
        peer_close(&nodes[i]);
}

/* ---------------------------------------------------- key-file text */

/* The key-file format is parsed from bytes (node/keyfile.c reads the file):
 * keys in order, comments and blank lines skipped, errors labelled with the
 * name the caller gives and the line. tests/unit/test_node_keyfile.c covers
 * the file itself (mode, size, type). */
static void test_keyfile_parse_reads_keys_from_text_without_a_file(void **state)
{
    (void)state;
    uint8_t k[2][SEAL_KEY_BYTES];
    char b[2][SEAL_KEY_B64_BYTES];
    for (uint32_t i = 0; i < 2; i++) {
        key_make(k[i], 700 + i);
        sodium_bin2base64(b[i], sizeof(b[i]), k[i], SEAL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
    }
    char text[256];
    snprintf(text, sizeof(text), "# keys\n\n %s \n%s\n", b[0], b[1]);
    uint8_t *keys = sodium_malloc(SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
    assert_non_null(keys);
    uint32_t n = 0;
    char err[256] = "untouched";
    assert_int_equal(seal_keyfile_parse("label", text, strlen(text), keys, &n, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(n, 2);
    assert_memory_equal(keys, k[0], SEAL_KEY_BYTES);
    assert_memory_equal(keys + SEAL_KEY_BYTES, k[1], SEAL_KEY_BYTES);
    snprintf(text, sizeof(text), "%s\nnot*base64\n", b[0]);
    assert_int_equal(seal_keyfile_parse("label", text, strlen(text), keys, &n, err, sizeof(err)),
                     GKV_EKEYFILE);
    assert_non_null(strstr(err, "label:2: not a base64 key"));
    assert_int_equal(n, 0);
    uint8_t zero[SEAL_KEYRING_MAX * SEAL_KEY_BYTES] = {0};
    assert_memory_equal(keys, zero, sizeof(zero)); /* no key bytes left behind */
    char *big = calloc(1, SEAL_KEYFILE_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, '#', SEAL_KEYFILE_MAX_BYTES + 1);
    assert_int_equal(seal_keyfile_parse("big", big, SEAL_KEYFILE_MAX_BYTES + 1, keys, &n, err,
                                        sizeof(err)),
                     GKV_EKEYFILE);
    assert_non_null(strstr(err, "larger than 65536 bytes"));
    free(big);
    sodium_free(keys);
}

/* A SIGHUP reload swaps the whole ring or nothing: a refused key list
 * leaves it exactly as it was, a good one replaces it at once, even when
 * installing the new keys next to the old would overflow the ring. */
static void test_keyring_replace_is_all_or_nothing(void **state)
{
    (void)state;
    uint8_t k[5][SEAL_KEY_BYTES];
    for (uint32_t i = 0; i < 5; i++)
        key_make(k[i], 60 + i);
    struct seal_keyring *kr = NULL;
    assert_int_equal(seal_keyring_new(&kr), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(seal_keyring_install(kr, k[i]), 0);
    struct seal_ctx *c = NULL;
    assert_int_equal(seal_ctx_new(kr, "r", 1, 1, &c), 0);
    uint8_t list[SEAL_KEYRING_MAX + 1][SEAL_KEY_BYTES];
    uint32_t id = 0;
    bool primary = false;
    /* refused: empty, too many, a duplicate: ring unchanged */
    assert_int_equal(seal_keyring_replace(kr, k[0], 0), GKV_EINVAL);
    for (int i = 0; i < 5; i++)
        memcpy(list[i], k[i], SEAL_KEY_BYTES);
    assert_int_equal(seal_keyring_replace(kr, list[0], 5), GKV_EINVAL);
    memcpy(list[1], k[3], SEAL_KEY_BYTES);
    memcpy(list[2], k[3], SEAL_KEY_BYTES);
    assert_int_equal(seal_keyring_replace(kr, list[1], 2), GKV_EEXIST);
    assert_int_equal(seal_keyring_count(kr), 3);
    assert_int_equal(seal_keyring_entry(kr, 0, &id, &primary), 0);
    assert_int_equal(id, seal_key_id(k[0]));
    assert_true(primary);
    /* {3, 4, 0}: installing 3 and 4 beside 0, 1, 2 would not fit */
    memcpy(list[0], k[3], SEAL_KEY_BYTES);
    memcpy(list[1], k[4], SEAL_KEY_BYTES);
    memcpy(list[2], k[0], SEAL_KEY_BYTES);
    assert_int_equal(seal_keyring_replace(kr, list[0], 3), 0);
    assert_int_equal(seal_keyring_count(kr), 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(seal_keyring_entry(kr, i, &id, &primary), 0);
        assert_int_equal(id, seal_key_id(list[i]));
        assert_int_equal(primary, i == 0);
    }
    /* the context borrowing the ring seals with the new primary at once */
    uint8_t pkt[PKT_MAX];
    seal_str(c, "after the reload", pkt);
    assert_int_equal(be32_at(pkt + 4), seal_key_id(k[3]));
    seal_ctx_free(c);
    seal_keyring_free(kr);
}

static void test_refusal_names_are_distinct_snake_case(void **state)
{
    (void)state;
    for (int i = 0; i < SEAL_REFUSE_COUNT; i++) {
        const char *n = seal_refusal_name((enum seal_refusal)i);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        for (const char *p = n; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int j = 0; j < i; j++)
            assert_string_not_equal(n, seal_refusal_name((enum seal_refusal)j));
    }
    assert_string_equal(seal_refusal_name(SEAL_REFUSE_BAD_TAG), "bad_tag");
    assert_string_equal(seal_refusal_name(SEAL_REFUSE_COUNT), "unknown");
}

/* --------------------------------------------------------- fuzz corpus */

static void corpus_write(const char *dir, const char *name, const uint8_t *p, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* `test_seal --write-corpus DIR`: packets the fuzz target's fixed context
 * opens. A tool, not a test: a failed write ends the process non-zero. */
static int write_fuzz_corpus(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    uint8_t key[SEAL_KEY_BYTES];
    fuzz_seal_key(key);
    struct peer sec, ins, other;
    peer_init(&sec, key, FUZZ_SEAL_LABEL, FUZZ_SEAL_SENDER_ID, FUZZ_SEAL_SENDER_EPOCH);
    peer_init(&ins, NULL, FUZZ_SEAL_LABEL, FUZZ_SEAL_SENDER_ID, FUZZ_SEAL_SENDER_EPOCH);
    peer_init(&other, key, "another-cluster", FUZZ_SEAL_SENDER_ID, FUZZ_SEAL_SENDER_EPOCH);
    uint8_t pt[600], pkt[PKT_MAX];
    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)(i * 13 + 7);
    /* A msgpack-looking map: {"t": 20, "v": 1}. */
    const uint8_t map[] = {0x82, 0xa1, 't', 0x14, 0xa1, 'v', 0x01};
    size_t len;
    len = seal_bytes(sec.ctx, pt, 0, pkt);
    corpus_write(dir, "secure-empty", pkt, len);
    len = seal_bytes(sec.ctx, map, sizeof(map), pkt);
    corpus_write(dir, "secure-msgpack", pkt, len);
    len = seal_bytes(sec.ctx, pt, sizeof(pt), pkt);
    corpus_write(dir, "secure-600", pkt, len);
    len = seal_bytes(ins.ctx, map, sizeof(map), pkt);
    corpus_write(dir, "insecure-msgpack", pkt, len);
    len = seal_bytes(ins.ctx, pt, 100, pkt);
    corpus_write(dir, "insecure-100", pkt, len);
    len = seal_bytes(other.ctx, map, sizeof(map), pkt);
    corpus_write(dir, "other-label", pkt, len);
    peer_close(&sec);
    peer_close(&ins);
    peer_close(&other);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_fuzz_corpus(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_round_trip_restores_plaintext_and_sender),
        cmocka_unit_test(test_seal_in_place_matches_out_of_place),
        cmocka_unit_test(test_seal_header_layout_matches_envelope_doc),
        cmocka_unit_test(test_packet_sealed_for_a_does_not_open_at_b),
        cmocka_unit_test(test_packet_sealed_for_any_opens_everywhere_and_says_so),
        cmocka_unit_test(test_version_1_packets_are_refused),
        cmocka_unit_test(test_seal_nonce_is_header_suffix_and_ad_is_header_receiver_label),
        cmocka_unit_test(test_seal_output_buffer_too_small_is_refused),
        cmocka_unit_test(test_seal_label_longer_than_max_is_refused),
        cmocka_unit_test(test_open_every_byte_flip_is_refused_with_its_reason_and_moves_no_window),
        cmocka_unit_test(test_open_every_truncation_is_refused_and_moves_no_window),
        cmocka_unit_test(test_open_longer_than_max_or_buffer_is_refused_as_too_long),
        cmocka_unit_test(test_open_label_check_match_with_other_label_fails_the_tag),
        cmocka_unit_test(test_open_unknown_key_id_is_refused_and_counted),
        cmocka_unit_test(test_open_duplicate_is_refused_as_replay),
        cmocka_unit_test(test_open_reordered_within_window_is_accepted_once),
        cmocka_unit_test(test_open_older_than_window_is_refused),
        cmocka_unit_test(test_open_old_epoch_refused_and_newer_epoch_accepted_after_restart),
        cmocka_unit_test(test_open_future_epoch_is_refused_counted_and_cannot_pin_a_sender),
        cmocka_unit_test(test_epoch_next_grows_past_wall_clock_and_last_epoch),
        cmocka_unit_test(test_replay_window_matches_exact_model_on_random_sequences),
        cmocka_unit_test(test_replay_window_big_jump_clears_everything),
        cmocka_unit_test(test_senders_table_full_evicts_the_idlest_sender_and_keeps_the_busy_ones),
        cmocka_unit_test(test_senders_table_holds_the_default_limit_then_evicts),
        cmocka_unit_test(test_replay_table_eviction_order_matches_model),
        cmocka_unit_test(test_replay_table_forget_keeps_other_senders),
        cmocka_unit_test(test_insecure_round_trip_keeps_header_label_and_replay_window),
        cmocka_unit_test(test_secure_and_insecure_nodes_refuse_each_other),
        cmocka_unit_test(test_keyring_limits_and_state_rules),
        cmocka_unit_test(test_keyring_remove_wipes_the_key_bytes),
        cmocka_unit_test(test_keyring_removed_key_packets_are_refused),
        cmocka_unit_test(test_keyring_colliding_key_ids_open_with_either_key),
        cmocka_unit_test(test_rotation_one_node_at_a_time_across_five_nodes_refuses_nothing),
        cmocka_unit_test(test_rotation_removing_old_key_too_early_refuses_packets),
        cmocka_unit_test(test_keyfile_parse_reads_keys_from_text_without_a_file),
        cmocka_unit_test(test_keyring_replace_is_all_or_nothing),
        cmocka_unit_test(test_refusal_names_are_distinct_snake_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
