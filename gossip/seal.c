/*
 * seal.c: sealing and opening gossip packets (docs/ENVELOPE.md).
 *
 *  0    1    2    3    4        8          12         20         28         36
 *  +----+----+----+----+--------+----------+----------+----------+----------+--//--+-----+
 *  |ver |suit|flag|rsvd| key id |label chk |sender id |epoch     |counter   |cipher| tag |
 *  +----+----+----+----+--------+----------+----------+----------+----------+--//--+-----+
 *  |<------------ cleartext header, associated data ------------------------>|      16
 *                                          |<----- nonce (24 bytes) -------->|
 *
 * All integers big-endian. The AD is the 36-byte header, then the receiver's
 * node id (8 bytes; 0 when flags has SEAL_FLAG_TO_ANY), then the full
 * cluster label; the nonce is the header's last 24 bytes, byte for byte.
 * The receiver id is not sent: the receiver puts its own id in, so a packet
 * sealed for A fails the tag at B (version 2; docs/ENVELOPE.md).
 *
 * Invariants:
 *   1. (sender id, epoch, counter) never repeats for one sender: counter
 *      starts at 1 and only grows within a context; every start takes a new
 *      epoch from seal_epoch_next (seconds that grow across restarts, plus 32
 *      random bits against lost or copied epoch files); node ids are unique
 *      in a cluster. So no (key, nonce) pair is ever used twice.
 *   2. A replay window moves only after the tag (or, insecure, the checksum)
 *      verified: forged packets leave no trace besides a counted refusal.
 *   3. Every refusal is counted in exactly one seal_stats.refused[] reason.
 *   4. Key bytes are only read from the keyring's sodium_malloc'd block.
 */
#include "gossip/seal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/keyring.h"
#include "gossip/replay.h"

/* Header offsets (docs/ENVELOPE.md). */
#define SEAL_OFF_VERSION 0u
#define SEAL_OFF_SUITE 1u
#define SEAL_OFF_FLAGS 2u
#define SEAL_OFF_RESERVED 3u
#define SEAL_RECEIVER_BYTES 8u
#define SEAL_AD_MAX (SEAL_HEADER_BYTES + SEAL_RECEIVER_BYTES + SEAL_LABEL_MAX)
#define SEAL_OFF_KEY_ID 4u
#define SEAL_OFF_LABEL_CHECK 8u
#define SEAL_OFF_SENDER 12u
#define SEAL_OFF_EPOCH 20u
#define SEAL_OFF_COUNTER 28u
#define SEAL_OFF_NONCE SEAL_OFF_SENDER
#define SEAL_LABEL_CHECK_BYTES 4u

_Static_assert(SEAL_HEADER_BYTES == SEAL_OFF_COUNTER + 8u, "header layout");
_Static_assert(SEAL_HEADER_BYTES - SEAL_OFF_NONCE ==
                   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "the nonce is exactly (sender, epoch, counter)");
_Static_assert(SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(SEAL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(SEAL_TAG_BYTES >= crypto_generichash_blake2b_BYTES_MIN, "insecure checksum");

/* BLAKE2b personalizations: each hash use gets its own domain. */
static const uint8_t seal_label_personal[crypto_generichash_blake2b_PERSONALBYTES] =
    "gossipkv.label";
static const uint8_t seal_nokey_personal[crypto_generichash_blake2b_PERSONALBYTES] =
    "gossipkv.nokey";

struct seal_ctx {
    struct seal_keyring *kr; /* borrowed; NULL or empty = insecure */
    uint8_t label[SEAL_LABEL_MAX];
    size_t label_len;
    uint8_t label_check[SEAL_LABEL_CHECK_BYTES];
    uint64_t sender_id;
    uint64_t epoch;
    uint64_t counter; /* last counter sealed; 0 = none yet */
    uint64_t wall_ms; /* last wall clock the gossip core passed in; 0 = unknown */
    struct replay_table replay;
    struct seal_stats stats;
};

static const char *const seal_refusal_names[SEAL_REFUSE_COUNT] = {
    [SEAL_REFUSE_TOO_SHORT] = "too_short",
    [SEAL_REFUSE_TOO_LONG] = "too_long",
    [SEAL_REFUSE_VERSION] = "version",
    [SEAL_REFUSE_UNKNOWN_KEY] = "unknown_key",
    [SEAL_REFUSE_BAD_LABEL] = "bad_label",
    [SEAL_REFUSE_BAD_TAG] = "bad_tag",
    [SEAL_REFUSE_REPLAY] = "replay",
    [SEAL_REFUSE_OLD_EPOCH] = "old_epoch",
    [SEAL_REFUSE_TOO_MANY_SENDERS] = "too_many_senders",
    [SEAL_REFUSE_TOO_OLD] = "too_old",
    [SEAL_REFUSE_MODE] = "mode_mismatch",
    [SEAL_REFUSE_FUTURE_EPOCH] = "future_epoch",
};

const char *seal_refusal_name(enum seal_refusal r)
{
    if ((unsigned)r >= SEAL_REFUSE_COUNT)
        return "unknown";
    return seal_refusal_names[r];
}

static inline void seal_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t seal_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void seal_put_u64(uint8_t *p, uint64_t v)
{
    seal_put_u32(p, (uint32_t)(v >> 32));
    seal_put_u32(p + 4, (uint32_t)v);
}

static inline uint64_t seal_get_u64(const uint8_t *p)
{
    return (uint64_t)seal_get_u32(p) << 32 | seal_get_u32(p + 4);
}

size_t seal_overhead(void)
{
    return SEAL_OVERHEAD_BYTES;
}

int seal_ctx_new(struct seal_keyring *kr, const char *label, uint64_t sender_id,
                 uint64_t epoch, struct seal_ctx **out)
{
    if (!out)
        return GKV_EINVAL;
    *out = NULL;
    if (!label)
        label = "";
    size_t label_len = strnlen(label, SEAL_LABEL_MAX + 1);
    if (label_len > SEAL_LABEL_MAX)
        return GKV_EINVAL;
    if (sodium_init() < 0)
        return GKV_EIO;
    struct seal_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return GKV_ENOMEM;
    int rc = replay_table_init(&c->replay, SEAL_MAX_SENDERS);
    if (rc) {
        free(c);
        return rc;
    }
    c->kr = kr;
    memcpy(c->label, label, label_len);
    c->label_len = label_len;
    /* The label check is a public 4-byte hash prefix: it only lets a node
     * count "wrong cluster" apart from "forged"; the tag authenticates the
     * full label through the AD. */
    uint8_t h[crypto_generichash_blake2b_BYTES_MIN];
    crypto_generichash_blake2b_salt_personal(h, sizeof(h), c->label, c->label_len, NULL, 0,
                                             NULL, seal_label_personal);
    memcpy(c->label_check, h, SEAL_LABEL_CHECK_BYTES);
    c->sender_id = sender_id;
    c->epoch = epoch;
    *out = c;
    return 0;
}

void seal_ctx_free(struct seal_ctx *c)
{
    if (!c)
        return;
    replay_table_close(&c->replay);
    free(c);
}

const struct seal_stats *seal_ctx_stats(const struct seal_ctx *c)
{
    return &c->stats;
}

bool seal_ctx_secure(const struct seal_ctx *c)
{
    return c && seal_keyring_count(c->kr) > 0;
}

int seal_ctx_set_max_senders(struct seal_ctx *c, uint32_t max_senders)
{
    if (!c)
        return GKV_EINVAL;
    return replay_table_set_max(&c->replay, max_senders);
}

int seal_ctx_forget_sender(struct seal_ctx *c, uint64_t sender_id)
{
    if (!c)
        return GKV_EINVAL;
    int rc = replay_table_forget(&c->replay, sender_id);
    if (rc == 0)
        c->stats.senders_forgotten++;
    c->stats.senders = replay_table_count(&c->replay);
    return rc;
}

void seal_ctx_set_wall_ms(struct seal_ctx *c, uint64_t wall_ms)
{
    if (c)
        c->wall_ms = wall_ms;
}

uint64_t seal_epoch_seconds(uint64_t epoch)
{
    return epoch >> SEAL_EPOCH_RANDOM_BITS;
}

int seal_epoch_next(uint64_t last_epoch, uint64_t wall_s, uint32_t boot_random,
                    uint64_t *epoch)
{
    if (!epoch)
        return GKV_EINVAL;
    uint64_t secs = seal_epoch_seconds(last_epoch) + 1;
    if (wall_s > secs)
        secs = wall_s;
    if (secs > UINT32_MAX)
        return GKV_ELIMIT; /* the year 2106, or a corrupt last epoch */
    *epoch = secs << SEAL_EPOCH_RANDOM_BITS | boot_random;
    return 0;
}

/* An epoch no honest sender can have yet: its seconds are more than
 * SEAL_EPOCH_AHEAD_MAX_S past our wall clock. Accepting one would pin the
 * sender's replay state above every epoch it will really use. */
static bool seal_epoch_from_future(const struct seal_ctx *c, uint64_t epoch)
{
    return c->wall_ms > 0 &&
           seal_epoch_seconds(epoch) > c->wall_ms / 1000u + SEAL_EPOCH_AHEAD_MAX_S;
}

/* AD = header || receiver id || label. Returns its length. */
static size_t seal_build_ad(const struct seal_ctx *c, const uint8_t *header, uint64_t receiver_id,
                            uint8_t ad[SEAL_AD_MAX])
{
    memcpy(ad, header, SEAL_HEADER_BYTES);
    seal_put_u64(ad + SEAL_HEADER_BYTES, receiver_id);
    memcpy(ad + SEAL_HEADER_BYTES + SEAL_RECEIVER_BYTES, c->label, c->label_len);
    return SEAL_HEADER_BYTES + SEAL_RECEIVER_BYTES + c->label_len;
}

/* Insecure mode's checksum: unkeyed BLAKE2b-128 over AD and plaintext. It
 * catches corruption and keeps the packet the same size as a sealed one; it
 * authenticates nothing (anyone can compute it). */
static void seal_nokey_checksum(const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                                size_t pt_len, uint8_t out[SEAL_TAG_BYTES])
{
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init_salt_personal(&st, NULL, 0, SEAL_TAG_BYTES, NULL,
                                                  seal_nokey_personal);
    crypto_generichash_blake2b_update(&st, ad, ad_len);
    crypto_generichash_blake2b_update(&st, pt, pt_len);
    crypto_generichash_blake2b_final(&st, out, SEAL_TAG_BYTES);
}

int seal_seal(struct seal_ctx *c, uint64_t receiver_id, const uint8_t *pt, size_t pt_len,
              uint8_t *out, size_t out_cap, size_t *out_len)
{
    if (!c || !out || !out_len || (!pt && pt_len > 0))
        return GKV_EINVAL;
    *out_len = 0;
    if (pt_len > SIZE_MAX - SEAL_OVERHEAD_BYTES || out_cap < pt_len + SEAL_OVERHEAD_BYTES)
        return GKV_ENOSPACE_MSG;
    if (c->counter == UINT64_MAX)
        return GKV_ELIMIT; /* 2^64 packets in one epoch: restart bumps the epoch */
    uint32_t key_id = 0;
    const uint8_t *key = keyring_primary(c->kr, &key_id);
    uint64_t counter = c->counter + 1;

    uint8_t header[SEAL_HEADER_BYTES];
    header[SEAL_OFF_VERSION] = SEAL_VERSION;
    header[SEAL_OFF_SUITE] = key ? SEAL_SUITE_XCHACHA : SEAL_SUITE_NONE;
    header[SEAL_OFF_FLAGS] = receiver_id == 0 ? SEAL_FLAG_TO_ANY : 0;
    header[SEAL_OFF_RESERVED] = 0;
    seal_put_u32(header + SEAL_OFF_KEY_ID, key ? key_id : 0);
    memcpy(header + SEAL_OFF_LABEL_CHECK, c->label_check, SEAL_LABEL_CHECK_BYTES);
    seal_put_u64(header + SEAL_OFF_SENDER, c->sender_id);
    seal_put_u64(header + SEAL_OFF_EPOCH, c->epoch);
    seal_put_u64(header + SEAL_OFF_COUNTER, counter);

    uint8_t ad[SEAL_AD_MAX];
    size_t ad_len = seal_build_ad(c, header, receiver_id, ad);
    uint8_t *body = out + SEAL_HEADER_BYTES;
    if (key) {
        unsigned long long clen = 0;
        /* libsodium allows c == m, which is what sealing in place relies on. */
        if (crypto_aead_xchacha20poly1305_ietf_encrypt(body, &clen, pt, pt_len, ad, ad_len,
                                                       NULL, header + SEAL_OFF_NONCE,
                                                       key) != 0)
            return GKV_EINVAL;
    } else {
        if (pt_len > 0 && pt != body)
            memmove(body, pt, pt_len);
        seal_nokey_checksum(ad, ad_len, body, pt_len, body + pt_len);
    }
    memcpy(out, header, SEAL_HEADER_BYTES); /* after: pt may have been out + header */
    c->counter = counter;
    *out_len = pt_len + SEAL_OVERHEAD_BYTES;
    c->stats.sealed++;
    return 0;
}

static int seal_refuse(struct seal_ctx *c, enum seal_refusal r, int code,
                       enum seal_refusal *reason)
{
    c->stats.refused[r]++;
    if (reason)
        *reason = r;
    return code;
}

int seal_open(struct seal_ctx *c, const uint8_t *pkt, size_t len, size_t max_len, uint8_t *pt,
              size_t pt_cap, size_t *pt_len, uint64_t *sender_id, bool *to_any,
              enum seal_refusal *reason)
{
    if (!c || (!pkt && len > 0) || !pt_len)
        return GKV_EINVAL;
    *pt_len = 0;
    if (len < SEAL_OVERHEAD_BYTES)
        return seal_refuse(c, SEAL_REFUSE_TOO_SHORT, GKV_ETOOSHORT, reason);
    size_t body_len = len - SEAL_OVERHEAD_BYTES;
    if ((max_len > 0 && len > max_len) || body_len > pt_cap || (!pt && body_len > 0))
        return seal_refuse(c, SEAL_REFUSE_TOO_LONG, GKV_ETOOLONG, reason);

    const uint8_t *header = pkt;
    if (header[SEAL_OFF_VERSION] != SEAL_VERSION ||
        (header[SEAL_OFF_FLAGS] & ~SEAL_FLAG_TO_ANY) != 0 || header[SEAL_OFF_RESERVED] != 0 ||
        (header[SEAL_OFF_SUITE] != SEAL_SUITE_NONE && header[SEAL_OFF_SUITE] != SEAL_SUITE_XCHACHA))
        return seal_refuse(c, SEAL_REFUSE_VERSION, GKV_EVERSION, reason);
    bool secure = seal_keyring_count(c->kr) > 0;
    if ((header[SEAL_OFF_SUITE] == SEAL_SUITE_XCHACHA) != secure)
        return seal_refuse(c, SEAL_REFUSE_MODE, GKV_EAUTH, reason);
    if (sodium_memcmp(header + SEAL_OFF_LABEL_CHECK, c->label_check, SEAL_LABEL_CHECK_BYTES) != 0)
        return seal_refuse(c, SEAL_REFUSE_BAD_LABEL, GKV_ELABEL, reason);
    uint32_t key_id = seal_get_u32(header + SEAL_OFF_KEY_ID);
    int slot = -1;
    if (secure) {
        slot = keyring_find_id(c->kr, key_id, 0);
        if (slot < 0)
            return seal_refuse(c, SEAL_REFUSE_UNKNOWN_KEY, GKV_EUNKNOWNKEY, reason);
    } else if (key_id != 0) {
        return seal_refuse(c, SEAL_REFUSE_UNKNOWN_KEY, GKV_EUNKNOWNKEY, reason);
    }

    uint64_t sender = seal_get_u64(header + SEAL_OFF_SENDER);
    uint64_t epoch = seal_get_u64(header + SEAL_OFF_EPOCH);
    uint64_t counter = seal_get_u64(header + SEAL_OFF_COUNTER);
    if (seal_epoch_from_future(c, epoch))
        return seal_refuse(c, SEAL_REFUSE_FUTURE_EPOCH, GKV_ECLOCK, reason);
    /* Checked before the AEAD so a replay flood costs no crypto; recorded
     * only after it (invariant 2). */
    switch (replay_table_check(&c->replay, sender, epoch, counter)) {
    case REPLAY_OK:
        break;
    case REPLAY_DUPLICATE:
        return seal_refuse(c, SEAL_REFUSE_REPLAY, GKV_EREPLAY, reason);
    case REPLAY_TOO_OLD:
        return seal_refuse(c, SEAL_REFUSE_TOO_OLD, GKV_EREPLAY, reason);
    case REPLAY_OLD_EPOCH:
        return seal_refuse(c, SEAL_REFUSE_OLD_EPOCH, GKV_EOLDEPOCH, reason);
    }

    /* Our own id, or 0 for a packet sealed for any receiver: a packet
     * sealed for another node fails the tag below. */
    bool any = (header[SEAL_OFF_FLAGS] & SEAL_FLAG_TO_ANY) != 0;
    uint8_t ad[SEAL_AD_MAX];
    size_t ad_len = seal_build_ad(c, header, any ? 0 : c->sender_id, ad);
    const uint8_t *body = pkt + SEAL_HEADER_BYTES;
    if (secure) {
        bool ok = false;
        /* Normally one key has this id; on an id collision try each match. */
        for (; slot >= 0 && !ok; slot = keyring_find_id(c->kr, key_id, slot + 1)) {
            unsigned long long mlen = 0;
            ok = crypto_aead_xchacha20poly1305_ietf_decrypt(
                     pt, &mlen, NULL, body, body_len + SEAL_TAG_BYTES, ad, ad_len,
                     header + SEAL_OFF_NONCE, keyring_key_at(c->kr, slot)) == 0;
        }
        if (!ok)
            return seal_refuse(c, SEAL_REFUSE_BAD_TAG, GKV_EAUTH, reason);
    } else {
        uint8_t sum[SEAL_TAG_BYTES];
        seal_nokey_checksum(ad, ad_len, body, body_len, sum);
        if (sodium_memcmp(sum, body + body_len, SEAL_TAG_BYTES) != 0)
            return seal_refuse(c, SEAL_REFUSE_BAD_TAG, GKV_EAUTH, reason);
        if (body_len > 0 && pt != body)
            memmove(pt, body, body_len);
    }

    int rc = replay_table_update(&c->replay, sender, epoch, counter);
    if (rc) {
        /* Only GKV_ENOMEM (growth failed) can get here: a full table evicts.
         * Without state the packet cannot be protected against replay, so it
         * is refused. */
        sodium_memzero(pt, body_len);
        return seal_refuse(c, SEAL_REFUSE_TOO_MANY_SENDERS, rc, reason);
    }
    c->stats.senders = replay_table_count(&c->replay);
    c->stats.senders_evicted = c->replay.evicted;
    c->stats.opened++;
    *pt_len = body_len;
    if (sender_id)
        *sender_id = sender;
    if (to_any)
        *to_any = any;
    return 0;
}
