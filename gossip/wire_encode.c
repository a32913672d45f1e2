/*
 * wire_encode.c: the encoder of gossip messages (wire.h; the format is in
 * wire.c and docs/PROTOCOL.md).
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
#include "gossip/wire_int.h"

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
    if (msg == NULL || !wire__msg_ok(msg))
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
    return e != NULL && wire__entry_ok(e) ? entry_size(e) : 0;
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
    if (!wire__msg_ok(msg))
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
        if (!wire__entry_ok(&entries[k])) {
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
