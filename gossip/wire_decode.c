/*
 * wire_decode.c: the bounded decoder of gossip messages (wire.h; the format
 * is in wire.c and docs/PROTOCOL.md).
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
 */
#include "gossip/wire.h"

#include <string.h>

#include "common/errors.h"
#include "gossip/mpack.h"
#include "gossip/wire_int.h"

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
    if (msg->version != WIRE_VERSION || !wire__type_known(msg->type)) {
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
        !wire__digest_range_ok(msg->u.digest.bucket_bits, msg->u.digest.first_bucket, msg->u.digest.n))
        return GKV_EDECODE;

    *off = (size_t)(r->p - buf);
    return 0;
}
