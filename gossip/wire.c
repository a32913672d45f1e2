/*
 * wire.c: what the encoder (wire_encode.c) and the bounded decoder
 * (wire_decode.c) share: message validation, message equality, type names
 * and the stream frame prefix (wire.h; internal entry points in
 * wire_int.h).
 *
 * Format (docs/PROTOCOL.md has the full tables): a datagram plaintext is a
 * concatenation of msgpack maps. Each map starts with the keys "t" (type)
 * and "v" (protocol version), in that order, so the decoder knows which
 * fields to expect (and can skip a message it does not understand) before
 * it reads anything else. All field names are one-letter strings.
 */
#include "gossip/wire.h"

#include <string.h>

#include "common/errors.h"
#include "gossip/mpack.h"
#include "gossip/wire_int.h"

/* ============================================================ validation */

bool wire__entry_ok(const struct entry *e)
{
    if (e->key_len == 0 || e->key_len > GKV_KEY_MAX || e->key == NULL)
        return false;
    if ((e->flags & ~(uint32_t)ENTRY_FLAGS_ALL) != 0)
        return false;
    if (e->expire_ms > ENTRY_EXPIRE_MAX_MS || (entry_is_tombstone(e) && e->expire_ms))
        return false;
    if (entry_has_value(e)) {
        if (e->value_len > GKV_VALUE_HARD_MAX || (e->value == NULL && e->value_len > 0))
            return false;
    }
    return vclock_valid(&e->vc); /* sorted, unique, counters > 0 */
}

static bool member_ok(const struct wire_member *m)
{
    return m->name_len <= WIRE_MAX_NAME && (m->name != NULL || m->name_len == 0) &&
           m->addr_len <= WIRE_MAX_ADDR && (m->addr != NULL || m->addr_len == 0) &&
           m->state <= WIRE_STATE_LEFT;
}

bool wire__type_known(uint8_t t)
{
    switch (t) {
    case WIRE_PING:
    case WIRE_PING_REQ:
    case WIRE_ACK:
    case WIRE_NACK:
    case WIRE_ALIVE:
    case WIRE_SUSPECT:
    case WIRE_DEAD:
    case WIRE_LEAVE:
    case WIRE_JOIN:
    case WIRE_STATE:
    case WIRE_DELTAS:
    case WIRE_DIGEST:
    case WIRE_BUCKET_REQ:
    case WIRE_REPAIR:
        return true;
    default:
        return false;
    }
}

static bool is_suspicion(uint8_t t)
{
    return t == WIRE_ALIVE || t == WIRE_SUSPECT || t == WIRE_DEAD || t == WIRE_LEAVE;
}

bool wire__digest_range_ok(uint32_t bits, uint32_t first, uint32_t n)
{
    return bits <= WIRE_MAX_BUCKET_BITS && (uint64_t)first + n <= (UINT64_C(1) << bits);
}

/* Everything wire_encode checks before it writes a byte. */
bool wire__msg_ok(const struct wire_msg *m)
{
    if (!wire__type_known(m->type))
        return false;
    switch (m->type) {
    case WIRE_PING_REQ:
        return m->u.ping_req.target_addr_len <= WIRE_MAX_ADDR &&
               (m->u.ping_req.target_addr != NULL || m->u.ping_req.target_addr_len == 0);
    case WIRE_JOIN:
    case WIRE_STATE:
        if (m->u.state.n > WIRE_MAX_MEMBERS_MSG)
            return false;
        for (uint32_t i = 0; i < m->u.state.n; i++)
            if (!member_ok(&m->u.state.members[i]))
                return false;
        return true;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        if (m->u.entries.n > WIRE_MAX_ENTRIES_MSG)
            return false;
        for (uint32_t i = 0; i < m->u.entries.n; i++)
            if (!wire__entry_ok(&m->u.entries.entries[i]))
                return false;
        return true;
    case WIRE_DIGEST:
        return m->u.digest.n <= WIRE_MAX_BUCKETS_MSG &&
               wire__digest_range_ok(m->u.digest.bucket_bits, m->u.digest.first_bucket,
                               m->u.digest.n);
    case WIRE_BUCKET_REQ:
        return m->u.bucket_req.n <= WIRE_MAX_BUCKETS_MSG;
    default:
        return is_suspicion(m->type) ? member_ok(&m->u.suspicion.member) : true;
    }
}

/* ============================================================== helpers */

static bool bytes_eq(const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool member_eq(const struct wire_member *a, const struct wire_member *b)
{
    return a->id == b->id && bytes_eq(a->name, a->name_len, b->name, b->name_len) &&
           bytes_eq(a->addr, a->addr_len, b->addr, b->addr_len) &&
           a->incarnation == b->incarnation && a->state == b->state;
}

static bool entry_eq(const struct entry *a, const struct entry *b)
{
    if (!bytes_eq(a->key, a->key_len, b->key, b->key_len) || a->hlc != b->hlc ||
        a->origin != b->origin || a->flags != b->flags || a->expire_ms != b->expire_ms ||
        a->vc.n != b->vc.n)
        return false;
    if (entry_has_value(a) && !bytes_eq(a->value, a->value_len, b->value, b->value_len))
        return false;
    for (uint32_t i = 0; i < a->vc.n && i < GKV_VCLOCK_MAX; i++)
        if (a->vc.items[i].node != b->vc.items[i].node ||
            a->vc.items[i].counter != b->vc.items[i].counter)
            return false;
    return true;
}

bool wire_msg_equal(const struct wire_msg *a, const struct wire_msg *b)
{
    if (a->type != b->type || a->version != b->version || a->sender_id != b->sender_id ||
        a->sender_hlc != b->sender_hlc)
        return false;
    switch (a->type) {
    case WIRE_PING:
        return a->u.ping.seq == b->u.ping.seq && a->u.ping.target_id == b->u.ping.target_id &&
               a->u.ping.source_id == b->u.ping.source_id &&
               a->u.ping.send_ms == b->u.ping.send_ms;
    case WIRE_PING_REQ:
        return a->u.ping_req.seq == b->u.ping_req.seq &&
               a->u.ping_req.target_id == b->u.ping_req.target_id &&
               bytes_eq(a->u.ping_req.target_addr, a->u.ping_req.target_addr_len,
                        b->u.ping_req.target_addr, b->u.ping_req.target_addr_len) &&
               a->u.ping_req.source_id == b->u.ping_req.source_id;
    case WIRE_ACK:
    case WIRE_NACK:
        return a->u.ack.seq == b->u.ack.seq && a->u.ack.source_id == b->u.ack.source_id &&
               a->u.ack.echo_ms == b->u.ack.echo_ms && a->u.ack.reply_ms == b->u.ack.reply_ms;
    case WIRE_ALIVE:
    case WIRE_SUSPECT:
    case WIRE_DEAD:
    case WIRE_LEAVE:
        return member_eq(&a->u.suspicion.member, &b->u.suspicion.member) &&
               a->u.suspicion.from_id == b->u.suspicion.from_id;
    case WIRE_JOIN:
    case WIRE_STATE:
        if (a->u.state.is_reply != b->u.state.is_reply || a->u.state.n != b->u.state.n ||
            a->u.state.n > WIRE_MAX_MEMBERS_MSG)
            return false;
        for (uint32_t i = 0; i < a->u.state.n; i++)
            if (!member_eq(&a->u.state.members[i], &b->u.state.members[i]))
                return false;
        return true;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        if (a->u.entries.n != b->u.entries.n || a->u.entries.n > WIRE_MAX_ENTRIES_MSG)
            return false;
        for (uint32_t i = 0; i < a->u.entries.n; i++)
            if (!entry_eq(&a->u.entries.entries[i], &b->u.entries.entries[i]))
                return false;
        return true;
    case WIRE_DIGEST:
        return a->u.digest.root == b->u.digest.root &&
               a->u.digest.first_bucket == b->u.digest.first_bucket &&
               a->u.digest.bucket_bits == b->u.digest.bucket_bits &&
               a->u.digest.n == b->u.digest.n && a->u.digest.n <= WIRE_MAX_BUCKETS_MSG &&
               (a->u.digest.n == 0 ||
                memcmp(a->u.digest.hashes, b->u.digest.hashes, 8 * (size_t)a->u.digest.n) == 0);
    case WIRE_BUCKET_REQ:
        return a->u.bucket_req.n == b->u.bucket_req.n && a->u.bucket_req.n <= WIRE_MAX_BUCKETS_MSG &&
               (a->u.bucket_req.n == 0 ||
                memcmp(a->u.bucket_req.buckets, b->u.bucket_req.buckets,
                       4 * (size_t)a->u.bucket_req.n) == 0);
    default:
        return true;
    }
}

const char *wire_type_name(uint8_t type)
{
    switch (type) {
    case WIRE_PING:
        return "ping";
    case WIRE_PING_REQ:
        return "ping-req";
    case WIRE_ACK:
        return "ack";
    case WIRE_NACK:
        return "nack";
    case WIRE_ALIVE:
        return "alive";
    case WIRE_SUSPECT:
        return "suspect";
    case WIRE_DEAD:
        return "dead";
    case WIRE_LEAVE:
        return "leave";
    case WIRE_JOIN:
        return "join";
    case WIRE_STATE:
        return "state";
    case WIRE_DELTAS:
        return "deltas";
    case WIRE_DIGEST:
        return "digest";
    case WIRE_BUCKET_REQ:
        return "bucket-req";
    case WIRE_REPAIR:
        return "repair";
    default:
        return "unknown";
    }
}

void wire_frame_prefix_put(uint8_t out[WIRE_FRAME_PREFIX_BYTES], uint32_t frame_len)
{
    mpack_put_be32(out, frame_len); /* not msgpack: a raw length before the sealed frame */
}

int wire_frame_prefix_get(const uint8_t in[WIRE_FRAME_PREFIX_BYTES], uint32_t *frame_len)
{
    uint32_t n = mpack_be32(in);
    if (n == 0)
        return GKV_EDECODE;
    if (n > WIRE_MAX_FRAME)
        return GKV_ELIMIT;
    *frame_len = n;
    return 0;
}
