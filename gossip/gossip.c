/*
 * gossip.c: the sans-IO gossip core: lifecycle, the receive path (open,
 * decode, dispatch), the send path (encode, seal, hand to the driver), the
 * gossip round and the public accessors. Membership lives in member.c,
 * probe.c and suspicion.c, dissemination queues in spread.c, anti-entropy
 * in sync.c.
 * Design, timers and formulas: docs/GOSSIP.md.
 *
 * Addresses. Every reply goes to `src`, the real source address the driver
 * received the packet from, never to an address read from a payload. The
 * two exceptions are how SWIM works and are deliberate: a PING_REQ names the
 * target we are asked to ping (we ping it, and send the ACK/NACK back to
 * src), and member records (STATE, ALIVE, ...) carry each member's
 * advertised address, which is where we probe and gossip to it later. Both
 * come only from packets that opened under the cluster key, sealed for us
 * (the receiver id is in the envelope's AD; "any receiver" is accepted for
 * JOIN and STATE only). Anti-entropy, which makes us send repair, runs only
 * with a member at its own advertised address (sync.c, sync_vouched).
 *
 * A datagram is [message][message]...: typically a PING/ACK or a gossip
 * round's content, with membership updates and data deltas piggybacked in
 * whatever room is left (spread.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/gossip_int.h"

/* memberlist DefaultLANConfig values, and the defaults gossip.h documents. */
void gossip_config_init(struct gossip_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mtu = WIRE_MTU_DEFAULT;
    cfg->probe_interval_ms = 1000;
    cfg->probe_timeout_ms = 500;
    cfg->indirect_checks = 3;
    cfg->suspicion_mult = 4;
    cfg->suspicion_max_mult = 6;
    cfg->gossip_interval_ms = 200;
    cfg->gossip_fanout = 3;
    cfg->retransmit_mult = 4;
    /* One root-digest datagram per node per interval when in sync (sync.c),
     * so a short period is cheap; it bounds how long a rumour that died
     * waits for repair (docs/GOSSIP.md, "Anti-entropy"). */
    cfg->sync_interval_ms = 1000;
    /* A dead member that answers is re-merged within about one interval
     * (memberlist#222); the cost is one STATE push per interval, and only
     * while some member is dead or some seed is not a live member. */
    cfg->reconnect_interval_ms = 2000;
    cfg->dead_reclaim_ms = 24u * 3600u * 1000u;
    cfg->max_members = 100000;
    cfg->max_queued_deltas = 65536;
    cfg->data_retransmit_mult = 8;
    cfg->pushpull_interval_ms = 30000;
}

void gossip_config_resolve(const struct gossip_config *cfg, struct gossip_config *out)
{
    if (out != cfg)
        *out = *cfg;
    struct gossip_config *c = out;
    struct gossip_config d;
    gossip_config_init(&d);
#define DEF(f)                                                                                     \
    if (c->f == 0)                                                                                 \
    c->f = d.f
    DEF(mtu);
    DEF(probe_interval_ms);
    DEF(probe_timeout_ms);
    DEF(indirect_checks);
    DEF(suspicion_mult);
    DEF(suspicion_max_mult);
    DEF(gossip_interval_ms);
    DEF(gossip_fanout);
    DEF(retransmit_mult);
    DEF(sync_interval_ms);
    DEF(reconnect_interval_ms);
    DEF(dead_reclaim_ms);
    DEF(max_members);
    DEF(max_queued_deltas);
    DEF(data_retransmit_mult);
    DEF(pushpull_interval_ms);
#undef DEF
}

void gossip_clock(struct gossip *g, uint64_t now_ms)
{
    if (now_ms > g->wall_ms)
        g->now_ms += now_ms - g->wall_ms;
    g->wall_ms = now_ms;
}

uint64_t gossip_hlc_now(const struct gossip *g)
{
    uint64_t last = store_hlc(g->store)->last;
    uint64_t wall = HLC_MAKE(g->wall_ms, 0);
    return last > wall ? last : wall;
}

static size_t limit_for(const struct gossip *g, uint32_t mult)
{
    /* memberlist retransmitLimit: mult * ceil(log10(n + 1)) */
    size_t n = member_live_count(g), scale = 0;
    for (size_t p = 1; p < n + 1; p *= 10)
        scale++;
    if (scale == 0)
        scale = 1;
    size_t limit = (size_t)mult * scale;
    return limit >= GOSSIP_TX_LISTS ? GOSSIP_TX_LISTS - 1 : limit;
}

size_t gossip_retransmit_limit(const struct gossip *g)
{
    return limit_for(g, g->cfg.retransmit_mult);
}

size_t gossip_data_retransmit_limit(const struct gossip *g)
{
    uint32_t m = g->cfg.retransmit_mult > g->cfg.data_retransmit_mult
                     ? g->cfg.retransmit_mult
                     : g->cfg.data_retransmit_mult;
    return limit_for(g, m);
}

void gossip_msg_init(struct gossip *g, struct wire_msg *m, uint8_t type)
{
    /* Only the header: the union is filled by the caller (it is ~50 KiB,
     * clearing it per message would dominate the cost of small messages). */
    m->type = type;
    m->version = WIRE_VERSION;
    m->sender_id = g->cfg.node_id;
    m->sender_hlc = gossip_hlc_now(g);
}

void gossip_dgram_begin(struct gossip *g, struct wire_encoder *enc)
{
    wire_encoder_init(enc, g->pt, g->cfg.mtu);
}

void gossip_send_datagram(struct gossip *g, uint64_t to_id, const char *addr,
                          struct wire_encoder *enc)
{
    if (enc->len == 0 || !addr || !addr[0])
        return;
    size_t out_len = 0;
    size_t cap = g->cfg.mtu + seal_overhead();
    if (seal_seal(g->seal, to_id, enc->buf, enc->len, g->sealed, cap, &out_len) < 0) {
        g->st.encode_errors++;
        return;
    }
    g->st.datagrams_out++;
    g->st.bytes_out += out_len;
    g->io.send_cb(g->io.data, addr, g->sealed, out_len);
}

uint8_t *gossip_frame_buf(struct gossip *g, size_t cap)
{
    if (cap > WIRE_MAX_FRAME)
        cap = WIRE_MAX_FRAME;
    if (g->fbuf_cap < cap) {
        uint8_t *b = realloc(g->fbuf, cap);
        if (!b)
            return NULL;
        g->fbuf = b;
        g->fbuf_cap = cap;
    }
    return g->fbuf;
}

void gossip_frame_release(struct gossip *g)
{
    free(g->fbuf);
    free(g->fsealed);
    g->fbuf = g->fsealed = NULL;
    g->fbuf_cap = g->fsealed_cap = 0;
}

void gossip_send_frame(struct gossip *g, uint64_t to_id, const char *addr, const uint8_t *pt,
                       size_t len)
{
    if (!g->io.stream_send_cb || len == 0)
        return;
    size_t need = len + seal_overhead();
    if (g->fsealed_cap < need) {
        uint8_t *b = realloc(g->fsealed, need);
        if (!b) {
            g->st.encode_errors++;
            return;
        }
        g->fsealed = b;
        g->fsealed_cap = need;
    }
    size_t out_len = 0;
    if (seal_seal(g->seal, to_id, pt, len, g->fsealed, need, &out_len) < 0) {
        g->st.encode_errors++;
        return;
    }
    g->st.frames_out++;
    g->st.frame_bytes_out += out_len;
    g->io.stream_send_cb(g->io.data, addr, g->fsealed, out_len);
}

/* An entry too large for a datagram goes as one DELTAS stream frame. */
static void send_entry_frame(struct gossip *g, const struct gossip_member *to,
                             const struct entry *e)
{
    size_t cap = spread_entry_size(e) + WIRE_ENTRIES_OVERHEAD_MAX;
    uint8_t *buf = gossip_frame_buf(g, cap);
    if (!buf) {
        g->st.encode_errors++;
        return;
    }
    struct wire_encoder enc;
    wire_encoder_init(&enc, buf, g->fbuf_cap);
    uint32_t taken = 0;
    int rc =
        wire_encode_entries(&enc, WIRE_DELTAS, g->cfg.node_id, gossip_hlc_now(g), e, 1, &taken);
    if (rc < 0 || taken != 1) {
        g->st.encode_errors++;
        return;
    }
    g->st.delta_frames_sent++;
    g->st.deltas_sent++;
    g->st.msgs_out++;
    gossip_send_frame(g, to->id, member_addr(g, to), enc.buf, enc.len);
}

static bool fits_datagram(const struct gossip *g, size_t size)
{
    /* DELTAS header plus the entry must fit one datagram's plaintext. */
    return size + WIRE_ENTRIES_OVERHEAD_MAX <= g->cfg.mtu;
}

/* Spread e: the transmit-limited queue if it fits a datagram, otherwise one
 * stream frame to each of `fanout` random members (epidemic as well: each
 * receiver that takes it forwards it once the same way). */
static void spread_entry(struct gossip *g, const struct entry *e)
{
    size_t size = spread_entry_size(e);
    if (fits_datagram(g, size)) {
        if (g->dq_overflow && !sync_burst_active(g))
            g->dq_overflow = false; /* the burst is over (sync.c offers at once) */
        bool overflow = false;
        if (g->dq_overflow)
            g->dq.dropped++; /* anti-entropy carries it, with the rest of the burst */
        else if (g->dq.count >= GOSSIP_BURST_QUEUE_MAX && sync_burst_active(g))
            overflow = true; /* a deep queue mid-burst (GOSSIP_BURST_QUEUE_MAX) */
        else {
            int rc = spread_data(&g->dq, e, size);
            overflow = rc == GKV_ELIMIT; /* full */
            if (rc == GKV_ENOMEM)
                g->st.deltas_dropped_nomem++; /* anti-entropy carries it */
        }
        if (overflow) {
            /* Overflow: more writes than gossip carries, by a whole queue.
             * Anti-entropy will repair every dropped delta after the burst
             * (the dirty hint), and it carries the queued ones in the same
             * pass, so they are dropped too rather than trickled out for
             * minutes (a round carries ~9 deltas per datagram, each sent
             * Ld times); until the burst ends nothing is queued. Keeping
             * the queue and dropping its oldest per write instead cost a
             * malloc, a free and three cache-missing unlinks per write:
             * ~20 % of the writer's CPU in a 3-node client_bench burst
             * ("a burst left to anti-entropy" in
             * `git show 383e9cc:docs/BENCHMARKS.md`). */
            spread_clear(&g->dq);
            g->dq.dropped++;
            g->dq_overflow = true;
            g->st.data_queue_overflows++;
        }
        /* A burst (sync.c) counts from its first excess delta, so a
         * session offered in the same instant is already declined. */
        if (++g->burst_queued > GOSSIP_BURST_DELTAS_PER_ROUND ||
            g->dq.dropped != g->burst_dropped_seen)
            sync_note_burst(g);
        g->st.deltas_dropped_queue_full = g->dq.dropped;
        return;
    }
    if (!g->io.stream_send_cb) {
        g->st.deltas_too_large++; /* anti-entropy cannot carry it either */
        return;
    }
    size_t idx[16];
    size_t want = g->cfg.gossip_fanout < 16 ? g->cfg.gossip_fanout : 16;
    size_t n = member_pick_random(g, want, 0, idx);
    for (size_t i = 0; i < n; i++)
        send_entry_frame(g, &g->members[idx[i]], e);
    gossip_frame_release(g); /* up to 1 MiB: not kept between uses */
}

void gossip_apply_entry(struct gossip *g, const struct entry *e, bool requeue, bool from_repair)
{
    bool taken = false;
    int rc = store_merge(g->store, e, g->wall_ms, &taken);
    if (rc == GKV_ECLOCK) {
        g->st.clock_refused++;
        return;
    }
    if (rc < 0) {
        g->st.merge_errors++;
        return;
    }
    if (!taken)
        return;
    if (!from_repair)
        g->st.deltas_applied++;
    if (g->io.applied_cb)
        g->io.applied_cb(g->io.data, e);
    if (requeue)
        spread_entry(g, e);
}

/* ------------------------------------------------------------ lifecycle */

int gossip_scratch_new(struct gossip_scratch **out)
{
    /* malloc, not calloc: the decoder writes only what a message carries,
     * so untouched pages of a fresh block never become resident */
    *out = malloc(sizeof(**out));
    return *out ? 0 : GKV_ENOMEM;
}

void gossip_scratch_free(struct gossip_scratch *s)
{
    free(s);
}

int gossip_new(const struct gossip_config *cfg_in, struct store *store, struct seal_ctx *seal,
               const struct gossip_io *io, uint64_t now_ms, struct gossip **out)
{
    *out = NULL;
    if (!cfg_in || !store || !seal || !io || !io->send_cb || cfg_in->node_id == 0 ||
        !cfg_in->addr || strlen(cfg_in->addr) == 0 || strlen(cfg_in->addr) > WIRE_MAX_ADDR ||
        (cfg_in->name && strlen(cfg_in->name) > WIRE_MAX_NAME))
        return GKV_EINVAL;
    struct gossip *g = calloc(1, sizeof(*g));
    if (!g)
        return GKV_ENOMEM;
    g->cfg = *cfg_in;
    gossip_config_resolve(&g->cfg, &g->cfg);
    /* The plaintext must hold at least one full member record and a PING. */
    if (g->cfg.mtu < 512)
        g->cfg.mtu = 512;
    if (g->cfg.mtu > 65000)
        g->cfg.mtu = 65000; /* a UDP datagram's payload limit, with margin */
    g->store = store;
    g->seal = seal;
    g->io = *io;
    g->now_ms = now_ms;
    g->wall_ms = now_ms;
    gkv_rng_seed(&g->rng, g->cfg.seed);
    uint64_t inc = store_incarnation(store);
    if (g->cfg.incarnation < inc)
        g->cfg.incarnation = inc;

    struct gossip_scratch *sc = g->cfg.scratch;
    if (!sc && gossip_scratch_new(&g->own_scratch) == 0)
        sc = g->own_scratch;
    if (!sc)
        goto nomem;
    g->rx = &sc->rx;
    g->tx = &sc->tx;
    g->ebuf = sc->ebuf;
    g->picked = sc->picked;
    g->pt = malloc(g->cfg.mtu);
    g->sealed = malloc(g->cfg.mtu + seal_overhead());
    g->rxbuf_cap = g->cfg.mtu + seal_overhead();
    g->rxbuf = malloc(g->rxbuf_cap);
    if (!g->rx || !g->tx || !g->ebuf || !g->picked || !g->pt || !g->sealed || !g->rxbuf)
        goto nomem;
    spread_init(&g->mq, SPREAD_MEMBER, g->cfg.max_members);
    spread_init(&g->dq, SPREAD_DATA, g->cfg.max_queued_deltas);
    g->dq.refuse_when_full = true; /* overflow: see spread_entry */
    if (member_table_init(g) < 0 || sync_init(g) < 0)
        goto nomem;
    /* Jitter the first rounds so nodes started together do not beat in step. */
    g->next_probe_ms = now_ms + gkv_rng_below(&g->rng, g->cfg.probe_interval_ms);
    g->next_gossip_ms = now_ms + gkv_rng_below(&g->rng, g->cfg.gossip_interval_ms);
    g->next_sync_ms = now_ms + gkv_rng_below(&g->rng, g->cfg.sync_interval_ms);
    /* The first reconnect at a point of (0, R] drawn from the seed (not the
     * PRNG: every other draw stays as it was): cores started together, as
     * in the simulator, would otherwise each push a whole view to the same
     * dead member in the same millisecond every R (at 10,000 nodes 3 GB of
     * frames in flight at once). */
    g->next_reconnect_ms =
        now_ms + 1 + gossip_mix64(g->cfg.seed ^ 0x7265636f6e6e6563ull) % g->cfg.reconnect_interval_ms;
    g->next_pushpull_ms = now_ms + gkv_rng_below(&g->rng, g->cfg.pushpull_interval_ms) + 1;
    g->next_join_ms = UINT64_MAX;
    g->next_gc_ms = now_ms + g->cfg.sync_interval_ms;
    g->fill_initial = g->cfg.fill_on_start;
    *out = g;
    return 0;
nomem:
    gossip_free(g);
    return GKV_ENOMEM;
}

void gossip_free(struct gossip *g)
{
    if (!g)
        return;
    sync_free(g);
    clock_free(g);
    member_table_free(g);
    spread_free(&g->mq);
    spread_free(&g->dq);
    for (size_t i = 0; i < g->nseeds; i++)
        free(g->seeds[i]);
    gossip_scratch_free(g->own_scratch);
    free(g->pt);
    free(g->sealed);
    free(g->rxbuf);
    free(g->fbuf);
    free(g->fsealed);
    free(g);
}

/* ---------------------------------------------------------- receiving */

static void touch_sender(struct gossip *g, uint64_t sender_id, uint64_t sender_hlc)
{
    struct gossip_member *m = member_find(g, sender_id);
    if (!m)
        return;
    /* Only plausible clocks count toward the tombstone GC bound: a clock far
     * ahead would let us purge too early (hlc.h max offset). */
    uint64_t max_ahead = store_hlc(g->store)->max_offset_ms;
    if (HLC_MS(sender_hlc) <= g->wall_ms + max_ahead && sender_hlc > m->last_hlc)
        m->last_hlc = sender_hlc;
}

static void dispatch(struct gossip *g, const char *src, struct wire_msg *m)
{
    switch (m->type) {
    case WIRE_PING:
        member_on_ping(g, src, m);
        break;
    case WIRE_PING_REQ:
        member_on_ping_req(g, src, m);
        break;
    case WIRE_ACK:
        member_on_ack(g, m);
        break;
    case WIRE_NACK:
        member_on_nack(g, m);
        break;
    case WIRE_JOIN:
    case WIRE_STATE:
        member_on_state(g, src, m);
        break;
    case WIRE_DELTAS:
        g->st.deltas_received += m->u.entries.n;
        for (uint32_t i = 0; i < m->u.entries.n; i++)
            gossip_apply_entry(g, &m->u.entries.entries[i], true, false);
        break;
    case WIRE_DIGEST:
        sync_on_digest(g, src, m);
        break;
    case WIRE_BUCKET_REQ:
        sync_on_bucket_req(g, src, m);
        break;
    case WIRE_REPAIR:
        sync_on_repair(g, m);
        break;
    default:
        g->st.unknown_types++;
        break;
    }
}

/* Membership records (ALIVE/SUSPECT/DEAD/LEAVE) of one datagram are applied
 * in batches. A join storm brings each node each member's record ~L times
 * (L = the retransmit limit), nearly all stale, and the cost of a stale one
 * is two cache misses in a table of N members (the index slot, the
 * record). Batched, the misses of up to GOSSIP_APPLY_BATCH records overlap:
 * prefetch every slot, then every record, then apply them in order. The
 * order of effects is unchanged: a batch is flushed before any other
 * message is dispatched. 32 covers a 1400-byte datagram (~25 records). */
#define GOSSIP_APPLY_BATCH 32u

struct pending_record {
    uint8_t type;
    uint64_t sender_id;
    struct wire_suspicion s; /* strings point into the datagram plaintext */
};

static void flush_records(struct gossip *g, struct pending_record *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        member_prefetch_slot(g, p[i].s.member.id);
    for (size_t i = 0; i < n; i++)
        member_prefetch_record(g, p[i].s.member.id);
    for (size_t i = 0; i < n; i++) {
        if (p[i].type == WIRE_LEAVE)
            g->st.leaves_received++;
        member_apply(g, &p[i].s.member, p[i].type, p[i].s.from_id, p[i].sender_id);
    }
}

/* A packet sealed for any receiver (SEAL_FLAG_TO_ANY) may only carry what a
 * joiner sends a seed whose id it does not know: its member list. Nothing in
 * it makes us act on a third party, so replaying it to another node gains
 * nothing (docs/ENVELOPE.md, "Receiver binding"). */
static bool allowed_to_any(uint8_t type)
{
    return type == WIRE_JOIN || type == WIRE_STATE;
}

static int process_plaintext(struct gossip *g, const char *src, uint64_t sender, bool to_any,
                             const uint8_t *pt, size_t len)
{
    struct wire_limits lim = {0, 0};
    size_t off = 0;
    uint32_t msgs = 0;
    int result = 0;
    struct pending_record pend[GOSSIP_APPLY_BATCH];
    size_t npend = 0;
    while (off < len) {
        if (msgs >= WIRE_MAX_MSGS_DATAGRAM) {
            g->st.too_many_msgs++;
            result = GKV_ELIMIT;
            break;
        }
        msgs++;
        int rc = wire_decode(pt, len, &off, &lim, g->rx);
        if (rc == GKV_EUNSUPPORTED || rc == GKV_EVERSION) {
            /* skipped by the decoder: an unknown type or a newer version
             * (a newer peer, not a bad packet: not an error to the caller) */
            g->st.unknown_types++;
            continue;
        }
        if (rc < 0) {
            /* msgpack has no resync point: the rest of the datagram is lost */
            g->st.decode_errors++;
            result = rc;
            break;
        }
        g->st.msgs_in++;
        if (g->rx->sender_id != sender) {
            g->st.sender_mismatch++;
            result = GKV_EAUTH;
            continue;
        }
        uint8_t t = g->rx->type;
        if (to_any && !allowed_to_any(t)) {
            g->st.to_any_refused++;
            result = GKV_EAUTH;
            continue;
        }
        touch_sender(g, sender, g->rx->sender_hlc);
        if (t == WIRE_ALIVE || t == WIRE_SUSPECT || t == WIRE_DEAD || t == WIRE_LEAVE) {
            pend[npend].type = t;
            pend[npend].sender_id = g->rx->sender_id;
            pend[npend].s = g->rx->u.suspicion;
            if (++npend == GOSSIP_APPLY_BATCH) {
                flush_records(g, pend, npend);
                npend = 0;
            }
            continue;
        }
        flush_records(g, pend, npend);
        npend = 0;
        dispatch(g, src, g->rx);
    }
    flush_records(g, pend, npend);
    return result;
}

static int open_and_process(struct gossip *g, const char *src, const uint8_t *buf, size_t len,
                            size_t max_len, bool stream)
{
    if (g->rxbuf_cap < len) {
        uint8_t *b = realloc(g->rxbuf, len);
        if (!b)
            return GKV_ENOMEM;
        g->rxbuf = b;
        g->rxbuf_cap = len;
    }
    size_t pt_len = 0;
    uint64_t sender = 0;
    enum seal_refusal reason;
    seal_ctx_set_wall_ms(g->seal, g->wall_ms); /* the future-epoch bound */
    bool to_any = false;
    int rc = seal_open(g->seal, buf, len, max_len, g->rxbuf, g->rxbuf_cap, &pt_len, &sender,
                       &to_any, &reason);
    if (rc < 0) {
        g->st.seal_refused++;
        return rc;
    }
    if (sender == g->cfg.node_id) {
        g->st.own_packets++;
        return GKV_EINVAL;
    }
    g->rx_stream = stream;
    int rc2 = process_plaintext(g, src, sender, to_any, g->rxbuf, pt_len);
    g->rx_stream = false;
    return rc2;
}

int gossip_recv(struct gossip *g, const char *src, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    gossip_clock(g, now_ms);
    g->st.datagrams_in++;
    g->st.bytes_in += len;
    if (!src || !buf || strnlen(src, WIRE_MAX_ADDR + 1) > WIRE_MAX_ADDR) {
        g->st.unexpected_msgs++; /* replies could not go back to it */
        return GKV_EINVAL;
    }
    size_t max_len = g->cfg.mtu + seal_overhead();
    if (len > max_len) {
        g->st.seal_refused++; /* what seal_open would say; no copy needed */
        return GKV_ETOOLONG;
    }
    return open_and_process(g, src, buf, len, max_len, false);
}

int gossip_recv_stream(struct gossip *g, const char *src, const uint8_t *buf, size_t len,
                       uint64_t now_ms)
{
    gossip_clock(g, now_ms);
    g->st.frames_in++;
    g->st.frame_bytes_in += len;
    if (!src || !buf || strnlen(src, WIRE_MAX_ADDR + 1) > WIRE_MAX_ADDR) {
        g->st.unexpected_msgs++;
        return GKV_EINVAL;
    }
    size_t max_len = WIRE_MAX_FRAME + seal_overhead();
    if (len > max_len) {
        g->st.seal_refused++;
        return GKV_ETOOLONG;
    }
    int rc = open_and_process(g, src, buf, len, max_len, true);
    /* a frame may have grown the receive buffer to 1 MiB: give it back */
    size_t dgram = g->cfg.mtu + seal_overhead();
    if (g->rxbuf_cap > dgram) {
        uint8_t *b = realloc(g->rxbuf, dgram);
        if (b) {
            g->rxbuf = b;
            g->rxbuf_cap = dgram;
        }
    }
    return rc;
}

/* ------------------------------------------------------------- timers */

/* One gossip round: a datagram of queued updates to each of `fanout` random
 * live members. Nothing is sent when both queues are empty. */
static void gossip_round(struct gossip *g)
{
    if (g->mq.count == 0 && g->dq.count == 0)
        return;
    size_t idx[64];
    size_t want = g->cfg.gossip_fanout < 64 ? g->cfg.gossip_fanout : 64;
    size_t n = member_pick_random(g, want, 0, idx);
    for (size_t i = 0; i < n; i++) {
        if (g->mq.count == 0 && g->dq.count == 0)
            break;
        struct wire_encoder enc;
        gossip_dgram_begin(g, &enc);
        if (spread_fill(g, &enc) > 0)
            gossip_send_datagram(g, g->members[idx[i]].id, member_addr(g, &g->members[idx[i]]), &enc);
    }
}

int gossip_tick(struct gossip *g, uint64_t now_ms)
{
    gossip_clock(g, now_ms);
    member_tick(g);
    clock_tick(g);
    if (g->now_ms >= g->next_gossip_ms) {
        gossip_round(g);
        g->next_gossip_ms = g->now_ms + g->cfg.gossip_interval_ms;
    }
    sync_tick(g);
    return 0;
}

uint64_t gossip_next_deadline(const struct gossip *g, uint64_t now_ms)
{
    uint64_t t = g->next_gossip_ms;
    uint64_t m = member_next_deadline(g);
    if (m < t)
        t = m;
    uint64_t s = sync_next_deadline(g);
    if (s < t)
        t = s;
    /* where protocol time would be after gossip_clock(g, now_ms) */
    uint64_t now = g->now_ms + (now_ms > g->wall_ms ? now_ms - g->wall_ms : 0);
    return t > now ? t - now : 0;
}

/* ------------------------------------------------------------- API */

int gossip_join(struct gossip *g, const char *const *seeds, size_t n, uint64_t now_ms)
{
    gossip_clock(g, now_ms);
    if (!seeds && n > 0)
        return GKV_EINVAL;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = seeds[i];
        if (!s || !s[0] || strnlen(s, WIRE_MAX_ADDR + 1) > WIRE_MAX_ADDR) {
            rc = GKV_EINVAL; /* the valid ones are still used */
            continue;
        }
        if (strcmp(s, member_addr(g, &g->members[0])) == 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < g->nseeds; j++)
            dup |= strcmp(g->seeds[j], s) == 0;
        if (dup)
            continue;
        if (g->nseeds >= GOSSIP_SEEDS_MAX) {
            rc = GKV_ELIMIT; /* the first GOSSIP_SEEDS_MAX are used */
            continue;
        }
        char *copy = strdup(s);
        if (!copy)
            return GKV_ENOMEM;
        g->seeds[g->nseeds++] = copy;
    }
    for (size_t i = 0; i < g->nseeds; i++) {
        /* to any receiver: a seed's id is not known yet; datagrams: no TCP
         * needed to join */
        member_send_state(g, 0, g->seeds[i], WIRE_JOIN, false, false);
        g->st.joins_sent++;
    }
    /* Announce ourselves too (memberlist setAlive): once the seed's reply
     * tells us who is there, our own gossip rounds carry our ALIVE to them,
     * alongside the seed's copy. */
    spread_member(&g->mq, g->cfg.node_id, g->cfg.node_id, 0);
    /* Retry while we know nobody (see member_tick). */
    g->next_join_ms = g->now_ms + g->cfg.probe_interval_ms;
    return rc;
}

int gossip_leave(struct gossip *g, uint64_t now_ms)
{
    gossip_clock(g, now_ms);
    return member_leave(g);
}

int gossip_local_write(struct gossip *g, const struct entry *e, uint64_t now_ms)
{
    gossip_clock(g, now_ms);
    if (!e || !e->key || e->key_len == 0)
        return GKV_EINVAL;
    spread_entry(g, e);
    return 0;
}

size_t gossip_member_count(const struct gossip *g)
{
    return g->nmembers;
}

static void fill_info(const struct gossip *g, const struct gossip_member *m,
                      struct gossip_member_info *out)
{
    out->id = m->id;
    out->name = member_name(g, m);
    out->addr = member_addr(g, m);
    out->state = (enum gossip_member_state)m->state;
    out->incarnation = m->incarnation;
    out->state_since_ms = m->state_since_ms;
}

int gossip_member_get(const struct gossip *g, size_t i, struct gossip_member_info *out)
{
    if (i >= g->nmembers)
        return GKV_ENOTFOUND;
    fill_info(g, &g->members[i], out);
    return 0;
}

int gossip_member_find(const struct gossip *g, uint64_t id, struct gossip_member_info *out)
{
    const struct gossip_member *m = member_find(g, id);
    if (!m)
        return GKV_ENOTFOUND;
    fill_info(g, m, out);
    return 0;
}

bool gossip_addr_vouched(const struct gossip *g, const char *addr)
{
    if (!addr)
        return false;
    for (size_t i = 1; i < g->nmembers; i++) /* bounded: max_members */
        if (strcmp(member_addr(g, &g->members[i]), addr) == 0)
            return true;
    for (size_t i = 0; i < g->nseeds; i++)
        if (strcmp(g->seeds[i], addr) == 0)
            return true;
    return false;
}

void gossip_stats(const struct gossip *g, struct gossip_stats *out)
{
    *out = g->st;
    out->incarnation = g->members[0].incarnation;
    out->awareness = g->awareness;
    out->deltas_dropped_queue_full = g->dq.dropped;
    out->queued_member_updates = (uint32_t)g->mq.count;
    out->queued_deltas = (uint32_t)g->dq.count;
}
