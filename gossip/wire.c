/*
 * wire.c: encoder and bounded decoder for gossip messages (wire.h).
 *
 * Format (docs/PROTOCOL.md has the full tables): a datagram plaintext is a
 * concatenation of msgpack maps. Each map starts with the keys "t" (type)
 * and "v" (protocol version), in that order, so the decoder knows which
 * fields to expect (and can skip a message it does not understand) before
 * it reads anything else. All field names are one-letter strings.
 *
 * Invariants of the decoder:
 *   1. It never allocates and never calls msgpack-c: it walks the input with
 *      the cursor of mpack.h, which checks every count and length against
 *      the bytes that remain.
 *   2. Nesting depth, counted from the message map (depth 1), never exceeds
 *      WIRE_MAX_DEPTH, for known fields (at most 4 deep by construction) and
 *      for skipped unknown fields alike.
 *   3. Every list count is checked against its WIRE_MAX_* cap before a
 *      single element is stored, every byte string against its limit, every
 *      integer against the range of the field it fills.
 *   4. A known field that appears twice in one map is malformed (no "last
 *      one wins" ambiguity between implementations).
 *   5. Decoded byte strings point into the input buffer (zero copy).
 *
 * The encoder writes through msgpack-c's packer (msgpack_packer), whose
 * write callback appends to the encoder's fixed buffer: no allocation, and
 * a write past the buffer's capacity is refused. A refusal is sticky for
 * the rest of the message and the encoder checks it before it commits, so
 * a message that does not fit leaves enc->len and enc->msgs as they were.
 * wire_encode and wire_encode_prefix size a message first (mpack_size_*,
 * the same smallest forms msgpack-c picks) to choose how much of a list
 * fits; wire_encode_entries, the dissemination hot path, simply tries each
 * entry and rolls back the one the callback refused.
 */
#include "gossip/wire.h"

#include <msgpack.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/mpack.h"

/* Depth of each known container (the message map is depth 1). */
#define DEPTH_MSG 1u
#define DEPTH_MEMBER_IN_SUSPICION 2u
#define DEPTH_LIST 2u
#define DEPTH_LIST_ITEM 3u
#define DEPTH_VCLOCK 4u
_Static_assert(DEPTH_VCLOCK <= WIRE_MAX_DEPTH, "known fields must fit the depth limit");
_Static_assert(WIRE_MAX_DEPTH <= MPACK_SKIP_MAX_DEPTH, "mpack_skip tracks WIRE_MAX_DEPTH");
_Static_assert(WIRE_MAX_ENTRIES_MSG <= 0xffff && WIRE_MAX_MEMBERS_MSG <= 15 * 0xffff,
               "list headers are at most array16");

/* Field bit for the "seen" masks: one bit per lowercase letter. */
#define F(c) (1u << ((c) - 'a'))

/* ============================================================ validation */

static bool entry_ok(const struct entry *e)
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

static bool type_known(uint8_t t)
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

static bool digest_range_ok(uint32_t bits, uint32_t first, uint32_t n)
{
    return bits <= WIRE_MAX_BUCKET_BITS && (uint64_t)first + n <= (UINT64_C(1) << bits);
}

/* Everything wire_encode checks before it writes a byte. */
static bool msg_ok(const struct wire_msg *m)
{
    if (!type_known(m->type))
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
            if (!entry_ok(&m->u.entries.entries[i]))
                return false;
        return true;
    case WIRE_DIGEST:
        return m->u.digest.n <= WIRE_MAX_BUCKETS_MSG &&
               digest_range_ok(m->u.digest.bucket_bits, m->u.digest.first_bucket,
                               m->u.digest.n);
    case WIRE_BUCKET_REQ:
        return m->u.bucket_req.n <= WIRE_MAX_BUCKETS_MSG;
    default:
        return is_suspicion(m->type) ? member_ok(&m->u.suspicion.member) : true;
    }
}

/* ================================================================ sizing */

/* "t", "v", "s", "h": present in every message, in this order first. */
static size_t hdr_size(uint64_t sender_id, uint64_t sender_hlc)
{
    return 2 + 1 + 2 + 1 + 2 + mpack_size_uint(sender_id) + 2 + mpack_size_uint(sender_hlc);
}

/* ============================================================== the sink */

/* Where msgpack-c's packer writes: the encoder's buffer from len up to cap.
 * A write that does not fit is refused whole, and every later write of the
 * same message too (full is sticky), so a refused message is noticed once,
 * by its encoder, before anything is committed. */
struct sink {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool full;
};

static int sink_write(void *data, const char *bytes, size_t n)
{
    struct sink *s = data;
    if (s->full || s->len > s->cap || n > s->cap - s->len) {
        s->full = true;
        return -1;
    }
    if (n > 0) /* msgpack-c passes (NULL, 0) for an empty body */
        memcpy(s->buf + s->len, bytes, n);
    s->len += n;
    return 0;
}

static void sink_init(struct sink *s, msgpack_packer *pk, uint8_t *buf, size_t len, size_t cap)
{
    s->buf = buf;
    s->len = len;
    s->cap = cap;
    s->full = false;
    msgpack_packer_init(pk, s, sink_write);
}

/* The packer calls the sink through a function pointer for every header
 * and scalar. The two functions that pack whole messages are flattened
 * (everything they call is inlined into them), so the compiler sees the
 * packer's callback is sink_write and calls it directly, inlined: that
 * takes the packer's cost from ~4.7x the former hand-written writer down
 * to the figures of docs/PROTOCOL.md. */
#if defined(__GNUC__)
#define GKV_WIRE_FLATTEN __attribute__((flatten))
#else
#define GKV_WIRE_FLATTEN
#endif

/* Return codes of msgpack_pack_* are not checked call by call: the sink
 * remembers a refusal, and the encoders check s->full before committing. */
static inline void pk_key(msgpack_packer *pk, char k)
{
    msgpack_pack_str_with_body(pk, &k, 1); /* fixstr of length 1: a1 <k> */
}

static inline void pk_uint(msgpack_packer *pk, uint64_t v)
{
    msgpack_pack_uint64(pk, v); /* the smallest form, as mpack_size_uint */
}

static void hdr_write(msgpack_packer *pk, uint32_t pairs, uint8_t type, uint64_t sender_id,
                      uint64_t sender_hlc)
{
    msgpack_pack_map(pk, pairs);
    pk_key(pk, 't');
    pk_uint(pk, type);
    pk_key(pk, 'v');
    pk_uint(pk, WIRE_VERSION);
    pk_key(pk, 's');
    pk_uint(pk, sender_id);
    pk_key(pk, 'h');
    pk_uint(pk, sender_hlc);
}

static size_t vclock_body_size(const struct vclock *vc)
{
    size_t s = 0;
    for (uint32_t i = 0; i < vc->n; i++)
        s += mpack_size_uint(vc->items[i].node) + mpack_size_uint(vc->items[i].counter);
    return s;
}

/* An entry map: k, then f (flags, when not 0) and d (value bytes: a live
 * value or a counter's state), h, o, c when the vector clock is not empty,
 * and x (expire_ms) when the value expires. */
static inline size_t entry_size(const struct entry *e)
{
    size_t s = 1 + 2 + mpack_size_bin_hdr(e->key_len) + e->key_len;
    if (e->flags)
        s += 2 + 1;
    if (entry_has_value(e))
        s += 2 + mpack_size_bin_hdr(e->value_len) + e->value_len;
    s += 2 + mpack_size_uint(e->hlc) + 2 + mpack_size_uint(e->origin);
    if (e->vc.n > 0)
        s += 2 + mpack_size_count(2 * e->vc.n) + vclock_body_size(&e->vc);
    if (e->expire_ms)
        s += 2 + mpack_size_uint(e->expire_ms);
    return s;
}

/* Keys and values are bin (bin8/16/32, never str). */
static inline void entry_write(msgpack_packer *pk, const struct entry *e)
{
    bool value = entry_has_value(e);
    msgpack_pack_map(pk, 3u + (e->vc.n > 0) + (e->flags != 0) + value + (e->expire_ms != 0));
    pk_key(pk, 'k');
    msgpack_pack_bin_with_body(pk, e->key, e->key_len);
    if (e->flags) {
        pk_key(pk, 'f');
        pk_uint(pk, e->flags);
    }
    if (value) {
        pk_key(pk, 'd');
        msgpack_pack_bin_with_body(pk, e->value, e->value_len);
    }
    pk_key(pk, 'h');
    pk_uint(pk, e->hlc);
    pk_key(pk, 'o');
    pk_uint(pk, e->origin);
    if (e->vc.n > 0) {
        pk_key(pk, 'c');
        msgpack_pack_array(pk, 2 * e->vc.n);
        for (uint32_t i = 0; i < e->vc.n; i++) {
            pk_uint(pk, e->vc.items[i].node);
            pk_uint(pk, e->vc.items[i].counter);
        }
    }
    if (e->expire_ms) {
        pk_key(pk, 'x');
        pk_uint(pk, e->expire_ms);
    }
}

static size_t member_size(const struct wire_member *m)
{
    return 1 + 2 + mpack_size_uint(m->id) + 2 + mpack_size_str_hdr(m->name_len) + m->name_len +
           2 + mpack_size_str_hdr(m->addr_len) + m->addr_len + 2 +
           mpack_size_uint(m->incarnation) + 2 + 1;
}

/* Names and addresses are str (fixstr up to 31 bytes, then str8). */
static void member_write(msgpack_packer *pk, const struct wire_member *m)
{
    msgpack_pack_map(pk, 5);
    pk_key(pk, 'i');
    pk_uint(pk, m->id);
    pk_key(pk, 'n');
    msgpack_pack_str_with_body(pk, m->name, m->name_len);
    pk_key(pk, 'a');
    msgpack_pack_str_with_body(pk, m->addr, m->addr_len);
    pk_key(pk, 'c');
    pk_uint(pk, m->incarnation);
    pk_key(pk, 'x');
    pk_uint(pk, m->state);
}

/* The map header and the fields of a message other than its list (if it
 * has one): their size, and how many map pairs the whole message has. */
static size_t fixed_size(const struct wire_msg *m, uint32_t *pairs)
{
    size_t s = hdr_size(m->sender_id, m->sender_hlc);
    uint32_t n = 4;
    switch (m->type) {
    case WIRE_PING:
        s += 2 + mpack_size_uint(m->u.ping.seq) + 2 + mpack_size_uint(m->u.ping.target_id) + 2 +
             mpack_size_uint(m->u.ping.source_id);
        n += 3;
        if (m->u.ping.send_ms) {
            s += 2 + mpack_size_uint(m->u.ping.send_ms);
            n += 1;
        }
        break;
    case WIRE_PING_REQ:
        s += 2 + mpack_size_uint(m->u.ping_req.seq) + 2 +
             mpack_size_uint(m->u.ping_req.target_id) + 2 +
             mpack_size_str_hdr(m->u.ping_req.target_addr_len) + m->u.ping_req.target_addr_len +
             2 + mpack_size_uint(m->u.ping_req.source_id);
        n += 4;
        break;
    case WIRE_ACK:
    case WIRE_NACK:
        s += 2 + mpack_size_uint(m->u.ack.seq) + 2 + mpack_size_uint(m->u.ack.source_id);
        n += 2;
        if (m->u.ack.echo_ms) {
            s += 2 + mpack_size_uint(m->u.ack.echo_ms);
            n += 1;
        }
        if (m->u.ack.reply_ms) {
            s += 2 + mpack_size_uint(m->u.ack.reply_ms);
            n += 1;
        }
        break;
    case WIRE_ALIVE:
    case WIRE_SUSPECT:
    case WIRE_DEAD:
    case WIRE_LEAVE:
        s += 2 + member_size(&m->u.suspicion.member) + 2 +
             mpack_size_uint(m->u.suspicion.from_id);
        n += 2;
        break;
    case WIRE_JOIN:
    case WIRE_STATE:
        if (m->u.state.is_reply) {
            s += 2 + 1;
            n += 1;
        }
        s += 2; /* "l" */
        n += 1;
        break;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        s += 2; /* "e" */
        n += 1;
        break;
    case WIRE_DIGEST:
        s += 2 + mpack_size_uint(m->u.digest.root) + 2 +
             mpack_size_uint(m->u.digest.first_bucket) + 2 +
             mpack_size_uint(m->u.digest.bucket_bits) + 2; /* "d" */
        n += 4;
        break;
    case WIRE_BUCKET_REQ:
        s += 2; /* "u" */
        n += 1;
        break;
    default:
        break;
    }
    *pairs = n;
    return s + mpack_size_count(n);
}

static void fixed_write(msgpack_packer *pk, const struct wire_msg *m, uint32_t pairs)
{
    hdr_write(pk, pairs, m->type, m->sender_id, m->sender_hlc);
    switch (m->type) {
    case WIRE_PING:
        pk_key(pk, 'q');
        pk_uint(pk, m->u.ping.seq);
        pk_key(pk, 'g');
        pk_uint(pk, m->u.ping.target_id);
        pk_key(pk, 'o');
        pk_uint(pk, m->u.ping.source_id);
        if (m->u.ping.send_ms) {
            pk_key(pk, 'k');
            pk_uint(pk, m->u.ping.send_ms);
        }
        break;
    case WIRE_PING_REQ:
        pk_key(pk, 'q');
        pk_uint(pk, m->u.ping_req.seq);
        pk_key(pk, 'g');
        pk_uint(pk, m->u.ping_req.target_id);
        pk_key(pk, 'a');
        msgpack_pack_str_with_body(pk, m->u.ping_req.target_addr,
                                   m->u.ping_req.target_addr_len);
        pk_key(pk, 'o');
        pk_uint(pk, m->u.ping_req.source_id);
        break;
    case WIRE_ACK:
    case WIRE_NACK:
        pk_key(pk, 'q');
        pk_uint(pk, m->u.ack.seq);
        pk_key(pk, 'o');
        pk_uint(pk, m->u.ack.source_id);
        if (m->u.ack.echo_ms) {
            pk_key(pk, 'k');
            pk_uint(pk, m->u.ack.echo_ms);
        }
        if (m->u.ack.reply_ms) {
            pk_key(pk, 'j');
            pk_uint(pk, m->u.ack.reply_ms);
        }
        break;
    case WIRE_ALIVE:
    case WIRE_SUSPECT:
    case WIRE_DEAD:
    case WIRE_LEAVE:
        pk_key(pk, 'm');
        member_write(pk, &m->u.suspicion.member);
        pk_key(pk, 'f');
        pk_uint(pk, m->u.suspicion.from_id);
        break;
    case WIRE_JOIN:
    case WIRE_STATE:
        if (m->u.state.is_reply) {
            pk_key(pk, 'y');
            msgpack_pack_true(pk);
        }
        pk_key(pk, 'l');
        break;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        pk_key(pk, 'e');
        break;
    case WIRE_DIGEST:
        pk_key(pk, 'r');
        pk_uint(pk, m->u.digest.root);
        pk_key(pk, 'b');
        pk_uint(pk, m->u.digest.first_bucket);
        pk_key(pk, 'w');
        pk_uint(pk, m->u.digest.bucket_bits);
        pk_key(pk, 'd');
        break;
    case WIRE_BUCKET_REQ:
        pk_key(pk, 'u');
        break;
    default:
        break;
    }
}

/* Number of items of m's list, or -1 for a message without a list. */
static int64_t list_len(const struct wire_msg *m)
{
    switch (m->type) {
    case WIRE_JOIN:
    case WIRE_STATE:
        return m->u.state.n;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        return m->u.entries.n;
    case WIRE_DIGEST:
        return m->u.digest.n;
    case WIRE_BUCKET_REQ:
        return m->u.bucket_req.n;
    default:
        return -1;
    }
}

static size_t item_size(const struct wire_msg *m, uint32_t i)
{
    switch (m->type) {
    case WIRE_JOIN:
    case WIRE_STATE:
        return member_size(&m->u.state.members[i]);
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        return entry_size(&m->u.entries.entries[i]);
    case WIRE_DIGEST:
        return 8;
    default:
        return mpack_size_uint(m->u.bucket_req.buckets[i]);
    }
}

/* The list header (array, or bin for the digest's hashes) for k items. */
static size_t list_hdr_size(const struct wire_msg *m, uint32_t k)
{
    return m->type == WIRE_DIGEST ? mpack_size_bin_hdr(8 * k) : mpack_size_count(k);
}

static void list_write(msgpack_packer *pk, const struct wire_msg *m, uint32_t k)
{
    uint32_t i;
    uint8_t be[8];
    switch (m->type) {
    case WIRE_JOIN:
    case WIRE_STATE:
        msgpack_pack_array(pk, k);
        for (i = 0; i < k; i++)
            member_write(pk, &m->u.state.members[i]);
        break;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        msgpack_pack_array(pk, k);
        for (i = 0; i < k; i++)
            entry_write(pk, &m->u.entries.entries[i]);
        break;
    case WIRE_DIGEST: /* one bin of k big-endian 64-bit hashes */
        msgpack_pack_bin(pk, 8 * (size_t)k);
        for (i = 0; i < k; i++) {
            mpack_put_be64(be, m->u.digest.hashes[i]);
            msgpack_pack_bin_body(pk, be, sizeof(be));
        }
        break;
    default:
        msgpack_pack_array(pk, k);
        for (i = 0; i < k; i++)
            pk_uint(pk, m->u.bucket_req.buckets[i]);
        break;
    }
}

/* Write the fixed fields and the first k items of m's list (if it has one)
 * as one message, and commit it only if the sink refused nothing. */
GKV_WIRE_FLATTEN static int msg_write(struct wire_encoder *enc, const struct wire_msg *m,
                                      uint32_t pairs, int64_t n, uint32_t k)
{
    struct sink s;
    msgpack_packer pk;
    sink_init(&s, &pk, enc->buf, enc->len, enc->cap);
    fixed_write(&pk, m, pairs);
    if (n >= 0)
        list_write(&pk, m, k);
    if (s.full)
        return GKV_ENOSPACE_MSG; /* enc->len and enc->msgs unchanged */
    enc->len = s.len;
    enc->msgs++;
    return 0;
}

size_t wire_encoded_size(const struct wire_msg *msg)
{
    if (msg == NULL || !msg_ok(msg))
        return 0;
    uint32_t pairs;
    size_t s = fixed_size(msg, &pairs);
    int64_t n = list_len(msg);
    if (n >= 0) {
        s += list_hdr_size(msg, (uint32_t)n);
        for (uint32_t i = 0; i < (uint32_t)n; i++)
            s += item_size(msg, i);
    }
    return s;
}

size_t wire_entry_encoded_size(const struct entry *e)
{
    return e != NULL && entry_ok(e) ? entry_size(e) : 0;
}

_Static_assert(WIRE_ENTRIES_OVERHEAD_MAX == 1 + 3 + 3 + 11 + 11 + 2 + 3,
               "DELTAS header: map, t, v, s and h at their widest, e, array16");

/* =============================================================== encoder */

void wire_encoder_init(struct wire_encoder *enc, uint8_t *buf, size_t cap)
{
    enc->buf = buf;
    enc->cap = cap;
    enc->len = 0;
    enc->msgs = 0;
}

int wire_encode_prefix(struct wire_encoder *enc, const struct wire_msg *msg, uint32_t *taken)
{
    uint32_t dummy;
    if (taken == NULL)
        taken = &dummy;
    *taken = 0;
    if (enc == NULL || msg == NULL || enc->len > enc->cap)
        return GKV_EINVAL;
    if (!msg_ok(msg))
        return GKV_EINVAL;
    if (enc->msgs >= WIRE_MAX_MSGS_DATAGRAM)
        return GKV_ENOSPACE_MSG;

    uint32_t pairs;
    size_t fixed = fixed_size(msg, &pairs);
    _Static_assert(4 + 4 <= 15, "every message map has a 1-byte header");
    size_t avail = enc->cap - enc->len;
    if (fixed > avail)
        return GKV_ENOSPACE_MSG;

    int64_t n = list_len(msg);
    uint32_t k = 0;
    if (n >= 0) {
        /* Find the longest prefix that fits, header included. Lists hold at
         * most WIRE_MAX_BUCKETS_MSG items, so this loop is bounded. */
        size_t body = 0;
        while (k < (uint32_t)n) {
            size_t next = body + item_size(msg, k);
            if (fixed + list_hdr_size(msg, k + 1) + next > avail)
                break;
            body = next;
            k++;
        }
        if (k == 0 && n > 0)
            return GKV_ENOSPACE_MSG;
        if (k == 0 && fixed + list_hdr_size(msg, 0) > avail)
            return GKV_ENOSPACE_MSG;
    }

    int rc = msg_write(enc, msg, pairs, n, k);
    if (rc == 0)
        *taken = n >= 0 ? k : 1;
    return rc;
}

int wire_encode(struct wire_encoder *enc, const struct wire_msg *msg)
{
    if (enc == NULL || msg == NULL || enc->len > enc->cap)
        return GKV_EINVAL;
    size_t size = wire_encoded_size(msg);
    if (size == 0)
        return GKV_EINVAL;
    if (size > enc->cap - enc->len || enc->msgs >= WIRE_MAX_MSGS_DATAGRAM)
        return GKV_ENOSPACE_MSG;
    uint32_t pairs;
    fixed_size(msg, &pairs);
    int64_t n = list_len(msg);
    return msg_write(enc, msg, pairs, n, n >= 0 ? (uint32_t)n : 0);
}

/* The hot path of dissemination: entries straight from the caller's array,
 * no struct wire_msg, no sizing. Each entry is packed where it goes; if the
 * sink refuses it, it is rolled back and the message ends there. The array
 * header starts as a 1-byte fixarray; the 16th entry must leave 2 bytes
 * spare, and once it is in, the entries move up 2 bytes for an array16
 * header. So the output is canonical and no byte of budget is wasted. */
GKV_WIRE_FLATTEN int wire_encode_entries(struct wire_encoder *enc, uint8_t type,
                                         uint64_t sender_id, uint64_t sender_hlc,
                                         const struct entry *entries, uint32_t n, uint32_t *taken)
{
    uint32_t dummy;
    if (taken == NULL)
        taken = &dummy;
    *taken = 0;
    if (enc == NULL || (type != WIRE_DELTAS && type != WIRE_REPAIR) || enc->len > enc->cap ||
        (entries == NULL && n > 0))
        return GKV_EINVAL;
    if (n == 0)
        return 0;
    if (enc->msgs >= WIRE_MAX_MSGS_DATAGRAM)
        return GKV_ENOSPACE_MSG;
    if (n > WIRE_MAX_ENTRIES_MSG)
        n = WIRE_MAX_ENTRIES_MSG;

    struct sink s;
    msgpack_packer pk;
    sink_init(&s, &pk, enc->buf, enc->len, enc->cap);
    hdr_write(&pk, 5, type, sender_id, sender_hlc);
    pk_key(&pk, 'e');
    size_t arr = s.len; /* where the array header goes */
    msgpack_pack_array(&pk, 0);
    if (s.full)
        return GKV_ENOSPACE_MSG;
    uint32_t k = 0;
    for (; k < n; k++) {
        if (!entry_ok(&entries[k])) {
            *taken = k;
            return GKV_EINVAL; /* enc->len untouched: nothing was committed */
        }
        size_t mark = s.len, widen = k == 15 ? 2 : 0;
        if (widen > s.cap - s.len)
            break;
        s.cap -= widen;
        entry_write(&pk, &entries[k]);
        s.cap += widen;
        if (s.full) {
            s.len = mark;
            break;
        }
        if (widen) {
            memmove(s.buf + arr + 3, s.buf + arr + 1, s.len - (arr + 1));
            s.len += 2;
        }
    }
    if (k == 0)
        return GKV_ENOSPACE_MSG;
    /* The real header, by the packer too, over the placeholder: exactly
     * the 1 or 3 bytes reserved for it. */
    struct sink hs;
    msgpack_packer hpk;
    sink_init(&hs, &hpk, s.buf + arr, 0, k <= 15 ? 1 : 3);
    msgpack_pack_array(&hpk, k);
    if (hs.full || hs.len != hs.cap)
        return GKV_ENOSPACE_MSG; /* cannot happen: k <= WIRE_MAX_ENTRIES_MSG */
    enc->len = s.len;
    enc->msgs++;
    *taken = k;
    return 0;
}

/* =============================================================== decoder */

struct dec {
    struct mpack_reader r;
    uint32_t max_key_bytes;
    uint32_t max_value_bytes;
};

/* A map key. Returns its letter for a one-letter string key, 0 for any other
 * key (already skipped; the caller skips the value), or a negative error.
 * depth: the depth of the map being read. A one-letter str in a wider form
 * (str8/16/32) is the same key as the fixstr our encoder writes: msgpack
 * compares values, not encodings, so msgpack-c reads it as that key too and
 * a second "q" in another form is a duplicate (invariant 4). */
static inline int dec_key(struct mpack_reader *r, unsigned depth)
{
    if (mpack_left(r) >= 2 && r->p[0] == 0xa1) {
        int c = r->p[1];
        r->p += 2;
        return c >= 'a' && c <= 'z' ? c : 0;
    }
    if (mpack_left(r) > 0 && r->p[0] >= 0xd9 && r->p[0] <= 0xdb) {
        const uint8_t *k;
        uint32_t len;
        int rc = mpack_read_bytes(r, &k, &len);
        if (rc < 0)
            return rc;
        return len == 1 && k[0] >= 'a' && k[0] <= 'z' ? k[0] : 0;
    }
    int rc = mpack_skip(r, 1, WIRE_MAX_DEPTH - depth);
    return rc < 0 ? rc : 0;
}

static inline int skip_value(struct mpack_reader *r, unsigned depth)
{
    return mpack_skip(r, 1, WIRE_MAX_DEPTH - depth);
}

/* Mark a known field as seen; a second occurrence is malformed. */
static inline int once(uint32_t *seen, int c)
{
    if (*seen & F(c))
        return GKV_EDECODE;
    *seen |= F(c);
    return 0;
}

static int dec_u32(struct mpack_reader *r, uint32_t *out)
{
    uint64_t v;
    int rc = mpack_read_uint_max(r, UINT32_MAX, &v);
    if (rc == 0)
        *out = (uint32_t)v;
    return rc;
}

static int dec_text(struct mpack_reader *r, uint32_t max, const char **s, uint32_t *len)
{
    const uint8_t *d;
    int rc = mpack_read_bytes(r, &d, len);
    if (rc < 0)
        return rc;
    if (*len > max)
        return GKV_ELIMIT;
    *s = (const char *)d;
    return 0;
}

/* Flat array [node, counter, node, counter, ...], nodes strictly ascending,
 * counters > 0, at most GKV_VCLOCK_MAX pairs. */
static int dec_vclock(struct mpack_reader *r, struct vclock *vc)
{
    uint32_t n;
    int rc = mpack_read_array(r, &n);
    if (rc < 0)
        return rc;
    if (n & 1u)
        return GKV_EDECODE;
    if (n / 2 > GKV_VCLOCK_MAX)
        return GKV_ELIMIT;
    for (uint32_t i = 0; i < n / 2; i++) {
        struct vclock_item *it = &vc->items[i];
        if ((rc = mpack_read_uint(r, &it->node)) < 0 ||
            (rc = mpack_read_uint(r, &it->counter)) < 0)
            return rc;
    }
    vc->n = n / 2;
    /* The same rule the store applies (storage/vclock.c), so a clock that
     * decodes is one that entry_merge can trust. */
    return vclock_valid(vc) ? 0 : GKV_EDECODE;
}

static int dec_entry(struct dec *d, struct entry *e)
{
    struct mpack_reader *r = &d->r;
    uint32_t pairs, seen = 0;
    int rc = mpack_read_map(r, &pairs);
    if (rc < 0)
        return rc;
    e->value = NULL;
    e->value_len = 0;
    e->flags = 0;
    e->expire_ms = 0;
    e->vc.n = 0;
    for (uint32_t i = 0; i < pairs; i++) {
        int c = dec_key(r, DEPTH_LIST_ITEM);
        if (c < 0)
            return c;
        uint64_t v;
        switch (c) {
        case 'k':
            if ((rc = once(&seen, c)) < 0 || (rc = mpack_read_bytes(r, &e->key, &e->key_len)) < 0)
                return rc;
            if (e->key_len == 0)
                return GKV_EDECODE;
            if (e->key_len > d->max_key_bytes)
                return GKV_ELIMIT;
            break;
        case 'd':
            if ((rc = once(&seen, c)) < 0 ||
                (rc = mpack_read_bytes(r, &e->value, &e->value_len)) < 0)
                return rc;
            if (e->value_len > d->max_value_bytes)
                return GKV_ELIMIT;
            break;
        case 'h':
            if ((rc = once(&seen, c)) < 0 || (rc = mpack_read_uint(r, &e->hlc)) < 0)
                return rc;
            break;
        case 'o':
            if ((rc = once(&seen, c)) < 0 || (rc = mpack_read_uint(r, &e->origin)) < 0)
                return rc;
            break;
        case 'f':
            if ((rc = once(&seen, c)) < 0 || (rc = mpack_read_uint(r, &v)) < 0)
                return rc;
            /* Unknown flag bits change what an entry means: refuse. */
            if (v & ~(uint64_t)ENTRY_FLAGS_ALL)
                return GKV_EDECODE;
            e->flags = (uint32_t)v;
            break;
        case 'c':
            if ((rc = once(&seen, c)) < 0 || (rc = dec_vclock(r, &e->vc)) < 0)
                return rc;
            break;
        case 'x':
            if ((rc = once(&seen, c)) < 0 || (rc = mpack_read_uint(r, &e->expire_ms)) < 0)
                return rc;
            if (e->expire_ms == 0 || e->expire_ms > ENTRY_EXPIRE_MAX_MS)
                return GKV_EDECODE;
            break;
        default:
            if ((rc = skip_value(r, DEPTH_LIST_ITEM)) < 0)
                return rc;
            break;
        }
    }
    if ((seen & (F('k') | F('h') | F('o'))) != (F('k') | F('h') | F('o')))
        return GKV_EDECODE;
    /* A live entry has a value (maybe empty), a counter its state; a plain
     * tombstone has none. */
    if (entry_has_value(e) != ((seen & F('d')) != 0))
        return GKV_EDECODE;
    if (entry_is_tombstone(e) && e->expire_ms)
        return GKV_EDECODE; /* a tombstone never expires */
    return 0;
}

static int dec_member(struct dec *d, struct wire_member *m, unsigned depth)
{
    struct mpack_reader *r = &d->r;
    uint32_t pairs, seen = 0;
    int rc = mpack_read_map(r, &pairs);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < pairs; i++) {
        int c = dec_key(r, depth);
        if (c < 0)
            return c;
        uint64_t v;
        switch (c) {
        case 'i':
            if ((rc = once(&seen, c)) < 0 || (rc = mpack_read_uint(r, &m->id)) < 0)
                return rc;
            break;
        case 'n':
            if ((rc = once(&seen, c)) < 0 ||
                (rc = dec_text(r, WIRE_MAX_NAME, &m->name, &m->name_len)) < 0)
                return rc;
            break;
        case 'a':
            if ((rc = once(&seen, c)) < 0 ||
                (rc = dec_text(r, WIRE_MAX_ADDR, &m->addr, &m->addr_len)) < 0)
                return rc;
            break;
        case 'c':
            if ((rc = once(&seen, c)) < 0 || (rc = mpack_read_uint(r, &m->incarnation)) < 0)
                return rc;
            break;
        case 'x':
            if ((rc = once(&seen, c)) < 0 ||
                (rc = mpack_read_uint_max(r, WIRE_STATE_LEFT, &v)) < 0)
                return rc;
            m->state = (uint8_t)v;
            break;
        default:
            if ((rc = skip_value(r, depth)) < 0)
                return rc;
            break;
        }
    }
    const uint32_t need = F('i') | F('n') | F('a') | F('c') | F('x');
    return (seen & need) == need ? 0 : GKV_EDECODE;
}

/* Fields every type requires besides "s" and "h". */
static uint32_t required_fields(uint8_t type)
{
    switch (type) {
    case WIRE_PING:
        return F('q') | F('g') | F('o');
    case WIRE_PING_REQ:
        return F('q') | F('g') | F('a') | F('o');
    case WIRE_ACK:
    case WIRE_NACK:
        return F('q') | F('o');
    case WIRE_ALIVE:
    case WIRE_SUSPECT:
    case WIRE_DEAD:
    case WIRE_LEAVE:
        return F('m') | F('f');
    case WIRE_JOIN:
    case WIRE_STATE:
        return F('l');
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        return F('e');
    case WIRE_DIGEST:
        return F('r') | F('b') | F('w') | F('d');
    case WIRE_BUCKET_REQ:
        return F('u');
    default:
        return 0;
    }
}

/* dec_field for a WIRE_DIGEST: root, first bucket, bucket bits, hashes. */
static int dec_digest_field(struct mpack_reader *r, struct wire_msg *m, int c)
{
    uint32_t n;
    uint64_t v;
    int rc;
    switch (c) {
    case 'r':
        return (rc = mpack_read_uint(r, &m->u.digest.root)) < 0 ? rc : 1;
    case 'b':
        return (rc = dec_u32(r, &m->u.digest.first_bucket)) < 0 ? rc : 1;
    case 'w':
        if ((rc = mpack_read_uint(r, &v)) < 0)
            return rc;
        if (v > WIRE_MAX_BUCKET_BITS)
            return GKV_ELIMIT;
        m->u.digest.bucket_bits = (uint32_t)v;
        return 1;
    case 'd': {
        const uint8_t *h;
        if ((rc = mpack_read_bytes(r, &h, &n)) < 0)
            return rc;
        if (n % 8 != 0)
            return GKV_EDECODE;
        if (n / 8 > WIRE_MAX_BUCKETS_MSG)
            return GKV_ELIMIT;
        for (uint32_t i = 0; i < n / 8; i++)
            m->u.digest.hashes[i] = mpack_be64(h + 8 * i);
        m->u.digest.n = n / 8;
        return 1;
    }
    }
    return 0;
}

/* One field of the message map. Returns 1 if c is a field of m's type and
 * was decoded, 0 if it is not (the caller skips it), or a negative error. */
static int dec_field(struct dec *d, struct wire_msg *m, int c)
{
    struct mpack_reader *r = &d->r;
    uint32_t n;
    int rc;
    switch (m->type) {
    case WIRE_PING:
        switch (c) {
        case 'q':
            return (rc = dec_u32(r, &m->u.ping.seq)) < 0 ? rc : 1;
        case 'g':
            return (rc = mpack_read_uint(r, &m->u.ping.target_id)) < 0 ? rc : 1;
        case 'o':
            return (rc = mpack_read_uint(r, &m->u.ping.source_id)) < 0 ? rc : 1;
        case 'k':
            return (rc = mpack_read_uint(r, &m->u.ping.send_ms)) < 0 ? rc : 1;
        }
        return 0;
    case WIRE_PING_REQ:
        switch (c) {
        case 'q':
            return (rc = dec_u32(r, &m->u.ping_req.seq)) < 0 ? rc : 1;
        case 'g':
            return (rc = mpack_read_uint(r, &m->u.ping_req.target_id)) < 0 ? rc : 1;
        case 'a':
            rc = dec_text(r, WIRE_MAX_ADDR, &m->u.ping_req.target_addr,
                          &m->u.ping_req.target_addr_len);
            return rc < 0 ? rc : 1;
        case 'o':
            return (rc = mpack_read_uint(r, &m->u.ping_req.source_id)) < 0 ? rc : 1;
        }
        return 0;
    case WIRE_ACK:
    case WIRE_NACK:
        switch (c) {
        case 'q':
            return (rc = dec_u32(r, &m->u.ack.seq)) < 0 ? rc : 1;
        case 'o':
            return (rc = mpack_read_uint(r, &m->u.ack.source_id)) < 0 ? rc : 1;
        case 'k':
            return (rc = mpack_read_uint(r, &m->u.ack.echo_ms)) < 0 ? rc : 1;
        case 'j':
            return (rc = mpack_read_uint(r, &m->u.ack.reply_ms)) < 0 ? rc : 1;
        }
        return 0;
    case WIRE_ALIVE:
    case WIRE_SUSPECT:
    case WIRE_DEAD:
    case WIRE_LEAVE:
        switch (c) {
        case 'm':
            rc = dec_member(d, &m->u.suspicion.member, DEPTH_MEMBER_IN_SUSPICION);
            return rc < 0 ? rc : 1;
        case 'f':
            return (rc = mpack_read_uint(r, &m->u.suspicion.from_id)) < 0 ? rc : 1;
        }
        return 0;
    case WIRE_JOIN:
    case WIRE_STATE:
        switch (c) {
        case 'y': {
            int b;
            if ((rc = mpack_read_bool(r, &b)) < 0)
                return rc;
            m->u.state.is_reply = b != 0;
            return 1;
        }
        case 'l':
            if ((rc = mpack_read_array(r, &n)) < 0)
                return rc;
            if (n > WIRE_MAX_MEMBERS_MSG)
                return GKV_ELIMIT;
            for (uint32_t i = 0; i < n; i++)
                if ((rc = dec_member(d, &m->u.state.members[i], DEPTH_LIST_ITEM)) < 0)
                    return rc;
            m->u.state.n = n;
            return 1;
        }
        return 0;
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        if (c != 'e')
            return 0;
        if ((rc = mpack_read_array(r, &n)) < 0)
            return rc;
        if (n > WIRE_MAX_ENTRIES_MSG)
            return GKV_ELIMIT;
        for (uint32_t i = 0; i < n; i++)
            if ((rc = dec_entry(d, &m->u.entries.entries[i])) < 0)
                return rc;
        m->u.entries.n = n;
        return 1;
    case WIRE_DIGEST:
        return dec_digest_field(r, m, c);
    case WIRE_BUCKET_REQ:
        if (c != 'u')
            return 0;
        if ((rc = mpack_read_array(r, &n)) < 0)
            return rc;
        if (n > WIRE_MAX_BUCKETS_MSG)
            return GKV_ELIMIT;
        for (uint32_t i = 0; i < n; i++)
            if ((rc = dec_u32(r, &m->u.bucket_req.buckets[i])) < 0)
                return rc;
        m->u.bucket_req.n = n;
        return 1;
    default:
        return 0;
    }
}

/* The mandatory opening of every message: key k, then an integer <= 255. */
static int dec_opening(struct mpack_reader *r, char k, uint8_t *out)
{
    uint64_t v;
    if (mpack_left(r) < 2 || r->p[0] != 0xa1 || r->p[1] != (uint8_t)k)
        return GKV_EDECODE;
    r->p += 2;
    int rc = mpack_read_uint_max(r, 0xff, &v);
    if (rc == 0)
        *out = (uint8_t)v;
    return rc;
}

int wire_decode(const uint8_t *buf, size_t len, size_t *off, const struct wire_limits *lim,
                struct wire_msg *msg)
{
    if (buf == NULL || off == NULL || msg == NULL || *off > len)
        return GKV_EINVAL;

    struct dec d;
    mpack_reader_init(&d.r, buf + *off, len - *off);
    d.max_key_bytes = lim && lim->max_key_bytes ? lim->max_key_bytes : GKV_KEY_MAX;
    if (d.max_key_bytes > GKV_KEY_MAX)
        d.max_key_bytes = GKV_KEY_MAX;
    d.max_value_bytes = lim && lim->max_value_bytes ? lim->max_value_bytes : GKV_VALUE_MAX_DEFAULT;
    if (d.max_value_bytes > GKV_VALUE_HARD_MAX)
        d.max_value_bytes = GKV_VALUE_HARD_MAX;

    struct mpack_reader *r = &d.r;
    uint32_t pairs;
    int rc = mpack_read_map(r, &pairs);
    if (rc < 0)
        return rc;
    if (pairs < 2)
        return GKV_EDECODE;
    if ((rc = dec_opening(r, 't', &msg->type)) < 0 ||
        (rc = dec_opening(r, 'v', &msg->version)) < 0)
        return rc;

    /* Not ours to read: skip the rest of the map, still bounded. */
    if (msg->version != WIRE_VERSION || !type_known(msg->type)) {
        if ((rc = mpack_skip(r, 2 * (uint64_t)(pairs - 2), WIRE_MAX_DEPTH - DEPTH_MSG)) < 0)
            return rc;
        *off = (size_t)(r->p - buf);
        return msg->version != WIRE_VERSION ? GKV_EVERSION : GKV_EUNSUPPORTED;
    }

    /* Optional fields start at their defaults. */
    if (msg->type == WIRE_JOIN || msg->type == WIRE_STATE)
        msg->u.state.is_reply = false;
    if (msg->type == WIRE_PING)
        msg->u.ping.send_ms = 0;
    if (msg->type == WIRE_ACK || msg->type == WIRE_NACK)
        msg->u.ack.echo_ms = msg->u.ack.reply_ms = 0;

    uint32_t seen = 0;
    for (uint32_t i = 2; i < pairs; i++) {
        int c = dec_key(r, DEPTH_MSG);
        if (c < 0)
            return c;
        if (c == 's' || c == 'h') {
            if ((rc = once(&seen, c)) < 0 ||
                (rc = mpack_read_uint(r, c == 's' ? &msg->sender_id : &msg->sender_hlc)) < 0)
                return rc;
            continue;
        }
        if (c != 0) {
            if ((seen & F(c)) != 0)
                return GKV_EDECODE;
            rc = dec_field(&d, msg, c);
            if (rc < 0)
                return rc;
            if (rc == 1) {
                seen |= F(c);
                continue;
            }
        }
        if ((rc = skip_value(r, DEPTH_MSG)) < 0)
            return rc;
    }

    uint32_t need = F('s') | F('h') | required_fields(msg->type);
    if ((seen & need) != need)
        return GKV_EDECODE;
    if (msg->type == WIRE_DIGEST &&
        !digest_range_ok(msg->u.digest.bucket_bits, msg->u.digest.first_bucket, msg->u.digest.n))
        return GKV_EDECODE;

    *off = (size_t)(r->p - buf);
    return 0;
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
