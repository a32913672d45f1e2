/*
 * wire_msgpack_ref.h: a second reading of wire messages, through msgpack-c's
 * unpacker, for the differential checks of tests/unit/test_wire.c and
 * tests/fuzz/fuzz_wire.c.
 *
 * wire_ref_decode() runs msgpack_unpack_next on bytes the bounded decoder
 * (gossip/wire_decode.c) has already accepted, then fills a struct wire_msg from
 * the msgpack_object tree by looking fields up by name, the plain way a
 * reader of docs/PROTOCOL.md would: no cursor, no shared code with the codec.
 * The caller compares both results with wire_msg_equal.
 *
 * Only ever give it bytes the bounded decoder accepted (or bytes we encoded):
 * msgpack-c allocates for declared counts before it checks them (a 5-byte
 * input can ask for 537 MB). Accepted bytes have every count and length
 * checked against the bytes that remain, so its zone stays a small multiple
 * of the input.
 */
#ifndef GKV_TESTS_WIRE_MSGPACK_REF_H
#define GKV_TESTS_WIRE_MSGPACK_REF_H

#include <msgpack.h>
#include <stdbool.h>
#include <string.h>

#include "gossip/wire.h"
#include "storage/entry.h"

/* The value of the one-letter key k in map o, or NULL. Searches from the
 * pair `from` on (a message's "t" and "v" are pairs 0 and 1 by rule). */
static const msgpack_object *ref_get(const msgpack_object *o, char k, uint32_t from)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = from; i < o->via.map.size; i++) {
        const msgpack_object *key = &o->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == 1 && key->via.str.ptr[0] == k)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

static bool ref_uint(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return false;
    *out = o->via.u64;
    return true;
}

#define REF_U64(o, k, dst)                                                                         \
    do {                                                                                           \
        uint64_t v_;                                                                               \
        if (!ref_uint(ref_get((o), (k), 0), UINT64_MAX, &v_))                                      \
            return false;                                                                          \
        (dst) = v_;                                                                                \
    } while (0)
#define REF_U32(o, k, dst)                                                                         \
    do {                                                                                           \
        uint64_t v_;                                                                               \
        if (!ref_uint(ref_get((o), (k), 0), UINT32_MAX, &v_))                                      \
            return false;                                                                          \
        (dst) = (uint32_t)v_;                                                                      \
    } while (0)
/* An optional uint field: 0 when absent. */
#define REF_U64_OPT(o, k, dst)                                                                     \
    do {                                                                                           \
        uint64_t v_ = 0;                                                                           \
        const msgpack_object *f_ = ref_get((o), (k), 0);                                           \
        if (f_ != NULL && !ref_uint(f_, UINT64_MAX, &v_))                                          \
            return false;                                                                          \
        (dst) = v_;                                                                                \
    } while (0)

/* str or bin: both carry bytes on the wire. */
static bool ref_bytes(const msgpack_object *o, const void **p, uint32_t *len)
{
    if (o == NULL)
        return false;
    if (o->type == MSGPACK_OBJECT_STR) {
        *p = o->via.str.ptr;
        *len = o->via.str.size;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *len = o->via.bin.size;
        return true;
    }
    return false;
}

static bool ref_text(const msgpack_object *o, char k, const char **p, uint32_t *len)
{
    const void *b;
    if (!ref_bytes(ref_get(o, k, 0), &b, len))
        return false;
    *p = b;
    return true;
}

static bool ref_member(const msgpack_object *o, struct wire_member *m)
{
    uint64_t state;
    REF_U64(o, 'i', m->id);
    REF_U64(o, 'c', m->incarnation);
    if (!ref_uint(ref_get(o, 'x', 0), WIRE_STATE_LEFT, &state))
        return false;
    m->state = (uint8_t)state;
    return ref_text(o, 'n', &m->name, &m->name_len) && ref_text(o, 'a', &m->addr, &m->addr_len);
}

static bool ref_entry(const msgpack_object *o, struct entry *e)
{
    const void *p;
    memset(e, 0, sizeof(*e));
    if (!ref_bytes(ref_get(o, 'k', 0), &p, &e->key_len))
        return false;
    e->key = p;
    REF_U64(o, 'h', e->hlc);
    REF_U64(o, 'o', e->origin);
    uint64_t flags = 0;
    const msgpack_object *f = ref_get(o, 'f', 0);
    if (f != NULL && !ref_uint(f, UINT32_MAX, &flags))
        return false;
    e->flags = (uint32_t)flags;
    const msgpack_object *d = ref_get(o, 'd', 0);
    if (d != NULL) {
        if (!ref_bytes(d, &p, &e->value_len))
            return false;
        e->value = p;
    }
    const msgpack_object *c = ref_get(o, 'c', 0);
    if (c != NULL) {
        if (c->type != MSGPACK_OBJECT_ARRAY || c->via.array.size % 2 != 0 ||
            c->via.array.size / 2 > GKV_VCLOCK_MAX)
            return false;
        e->vc.n = c->via.array.size / 2;
        for (uint32_t i = 0; i < e->vc.n; i++)
            if (!ref_uint(&c->via.array.ptr[2 * i], UINT64_MAX, &e->vc.items[i].node) ||
                !ref_uint(&c->via.array.ptr[2 * i + 1], UINT64_MAX, &e->vc.items[i].counter))
                return false;
    }
    return true;
}

/* A list field: an array of at most max items. */
static const msgpack_object *ref_list(const msgpack_object *o, char k, uint32_t max)
{
    const msgpack_object *l = ref_get(o, k, 0);
    if (l == NULL || l->type != MSGPACK_OBJECT_ARRAY || l->via.array.size > max)
        return NULL;
    return l;
}

static bool ref_body(const msgpack_object *o, struct wire_msg *m)
{
    const msgpack_object *l;
    switch (m->type) {
    case WIRE_PING:
        REF_U32(o, 'q', m->u.ping.seq);
        REF_U64(o, 'g', m->u.ping.target_id);
        REF_U64(o, 'o', m->u.ping.source_id);
        REF_U64_OPT(o, 'k', m->u.ping.send_ms);
        return true;
    case WIRE_PING_REQ:
        REF_U32(o, 'q', m->u.ping_req.seq);
        REF_U64(o, 'g', m->u.ping_req.target_id);
        REF_U64(o, 'o', m->u.ping_req.source_id);
        return ref_text(o, 'a', &m->u.ping_req.target_addr, &m->u.ping_req.target_addr_len);
    case WIRE_ACK:
    case WIRE_NACK:
        REF_U32(o, 'q', m->u.ack.seq);
        REF_U64(o, 'o', m->u.ack.source_id);
        REF_U64_OPT(o, 'k', m->u.ack.echo_ms);
        REF_U64_OPT(o, 'j', m->u.ack.reply_ms);
        return true;
    case WIRE_ALIVE:
    case WIRE_SUSPECT:
    case WIRE_DEAD:
    case WIRE_LEAVE:
        REF_U64(o, 'f', m->u.suspicion.from_id);
        l = ref_get(o, 'm', 0);
        return l != NULL && ref_member(l, &m->u.suspicion.member);
    case WIRE_JOIN:
    case WIRE_STATE: {
        const msgpack_object *y = ref_get(o, 'y', 0);
        if (y != NULL && y->type != MSGPACK_OBJECT_BOOLEAN)
            return false;
        m->u.state.is_reply = y != NULL && y->via.boolean;
        if ((l = ref_list(o, 'l', WIRE_MAX_MEMBERS_MSG)) == NULL)
            return false;
        m->u.state.n = l->via.array.size;
        for (uint32_t i = 0; i < m->u.state.n; i++)
            if (!ref_member(&l->via.array.ptr[i], &m->u.state.members[i]))
                return false;
        return true;
    }
    case WIRE_DELTAS:
    case WIRE_REPAIR:
        if ((l = ref_list(o, 'e', WIRE_MAX_ENTRIES_MSG)) == NULL)
            return false;
        m->u.entries.n = l->via.array.size;
        for (uint32_t i = 0; i < m->u.entries.n; i++)
            if (!ref_entry(&l->via.array.ptr[i], &m->u.entries.entries[i]))
                return false;
        return true;
    case WIRE_DIGEST: {
        const void *p;
        uint32_t len;
        REF_U64(o, 'r', m->u.digest.root);
        REF_U32(o, 'b', m->u.digest.first_bucket);
        REF_U32(o, 'w', m->u.digest.bucket_bits);
        if (!ref_bytes(ref_get(o, 'd', 0), &p, &len) || len % 8 != 0 ||
            len / 8 > WIRE_MAX_BUCKETS_MSG)
            return false;
        m->u.digest.n = len / 8;
        for (uint32_t i = 0; i < m->u.digest.n; i++) {
            const uint8_t *h = (const uint8_t *)p + 8 * i;
            uint64_t v = 0;
            for (int b = 0; b < 8; b++)
                v = v << 8 | h[b];
            m->u.digest.hashes[i] = v;
        }
        return true;
    }
    case WIRE_BUCKET_REQ:
        if ((l = ref_list(o, 'u', WIRE_MAX_BUCKETS_MSG)) == NULL)
            return false;
        m->u.bucket_req.n = l->via.array.size;
        for (uint32_t i = 0; i < m->u.bucket_req.n; i++) {
            uint64_t v;
            if (!ref_uint(&l->via.array.ptr[i], UINT32_MAX, &v))
                return false;
            m->u.bucket_req.buckets[i] = (uint32_t)v;
        }
        return true;
    default:
        return false;
    }
}

/* Unpack exactly one message from buf[0..len) with msgpack-c and read it
 * into *m. false if msgpack-c does not see one whole object of exactly len
 * bytes, or the object is not a message of a known type. u must be
 * initialised (msgpack_unpacked_init) and is reused across calls; m's
 * byte fields point into u's zone or into buf. */
static bool wire_ref_decode(msgpack_unpacked *u, const uint8_t *buf, size_t len, struct wire_msg *m)
{
    size_t off = 0;
    if (msgpack_unpack_next(u, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        return false;
    const msgpack_object *o = &u->data;
    uint64_t t, v;
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size < 2 ||
        ref_get(o, 't', 0) != &o->via.map.ptr[0].val ||
        ref_get(o, 'v', 1) != &o->via.map.ptr[1].val || !ref_uint(ref_get(o, 't', 0), 255, &t) ||
        !ref_uint(ref_get(o, 'v', 1), 255, &v))
        return false;
    m->type = (uint8_t)t;
    m->version = (uint8_t)v;
    /* "s" and "h" after the opening pair (a second "t" may follow as an
     * unknown field, which both readers ignore). */
    uint64_t s, h;
    if (!ref_uint(ref_get(o, 's', 2), UINT64_MAX, &s) ||
        !ref_uint(ref_get(o, 'h', 2), UINT64_MAX, &h))
        return false;
    m->sender_id = s;
    m->sender_hlc = h;
    return ref_body(o, m);
}

#endif
