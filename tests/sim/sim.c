/*
 * sim.c: the deterministic simulator (see sim.h for the model).
 *
 * Invariants:
 *   1. sim->now_ms never decreases; an event is never queued in the past.
 *   2. Events run in (time, seq) order; seq grows by one per queued event,
 *      so equal times run in queue order and a run is a function of the seed.
 *   3. At most one tick event per node is live: the one whose generation
 *      equals node->tick_gen. Others are skipped when they surface.
 *   4. A core is only called from the event loop or from the public sim_*
 *      calls, never from inside another core's callback (gossip_io's rule):
 *      the io callbacks only queue events.
 *   5. Datagram and frame buffers are owned by their event and freed when
 *      the event runs or the simulator is freed.
 */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "storage/counter.h"
#include "tests/test_seed.h"

enum sim_event_type {
    SIM_EV_TICK,
    SIM_EV_DGRAM,
    SIM_EV_FRAME,
    SIM_EV_TIMER,
};

struct sim_event {
    uint64_t time_ms;
    uint64_t seq;
    uint32_t type;
    uint32_t from;
    uint32_t to;
    uint32_t len; /* payload bytes, or the tick generation */
    union {
        uint8_t *buf;
        struct {
            sim_timer_cb cb;
            void *arg;
        } timer;
    } u;
};

/* In-order stream delivery: the latest arrival time queued per peer. */
struct sim_stream_peer {
    uint32_t peer;
    uint64_t last_ms;
};

struct sim_node {
    struct sim *sim;
    uint32_t idx;
    uint64_t id;
    char name[16];
    char addr[16];
    struct store *store;
    struct seal_ctx *seal;
    struct gossip *g;
    uint64_t epoch;
    int64_t clock_offset_ms;
    uint32_t group;
    bool up;
    bool has_link;
    struct sim_link link;
    uint64_t tick_at_ms;
    uint32_t tick_gen;
    struct sim_stream_peer *streams;
    uint32_t n_streams, cap_streams;
};

struct sim {
    struct sim_config cfg;
    struct sim_node *nodes;
    uint32_t n;
    struct gkv_rng rng;
    uint64_t now_ms;
    uint64_t seq;
    uint64_t log_hash;
    struct sim_stats stats;
    struct seal_keyring *keyring;
    /* One set of core work buffers lent to every node (gossip.h): the sim
     * runs one core at a time and its callbacks only queue events, so none
     * is re-entered; 10,000 nodes would otherwise hold 1.2 GB of them. */
    struct gossip_scratch *scratch;
    /* One pool of member strings lent to every node (gossip.h): N views of
     * a member share one "name\0addr\0" instead of N copies. */
    struct gossip_names *names;
    int64_t seed_node; /* join target for restarts; -1 = none */

    struct sim_event *heap;
    size_t heap_len, heap_cap;

    sim_applied_hook applied_hook;
    void *applied_arg;
    sim_member_hook member_hook;
    void *member_arg;
};

/* ------------------------------------------------------------ hashing */

static uint64_t mix64(uint64_t x)
{
    /* MurmurHash3's fmix64 finalizer: full avalanche, cheap. */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

uint64_t sim_hash_bytes(const void *buf, size_t len, uint64_t h)
{
    const uint8_t *p = buf;
    h = mix64(h ^ (len * 0x9e3779b97f4a7c15ull));
    /* Four independent lanes over 32-byte blocks: each lane's fmix64 chain
     * is serial (two dependent multiplies per word), so one lane runs at
     * the multiplier's latency; four overlap. Every delivered datagram is
     * hashed into the event log, which was 4 % of a sim_scale run's cycles
     * with one lane. */
    if (len >= 32) {
        uint64_t a = h, b = h ^ 0x9e3779b97f4a7c15ull, c = h ^ 0xc2b2ae3d27d4eb4full,
                 d = h ^ 0x165667b19e3779f9ull;
        while (len >= 32) {
            uint64_t w[4];
            memcpy(w, p, 32);
            a = mix64(a ^ w[0]) + 0x9e3779b97f4a7c15ull;
            b = mix64(b ^ w[1]) + 0x9e3779b97f4a7c15ull;
            c = mix64(c ^ w[2]) + 0x9e3779b97f4a7c15ull;
            d = mix64(d ^ w[3]) + 0x9e3779b97f4a7c15ull;
            p += 32;
            len -= 32;
        }
        h = mix64(a ^ mix64(b ^ mix64(c ^ mix64(d))));
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w) + 0x9e3779b97f4a7c15ull;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    return mix64(h ^ tail ^ ((uint64_t)len << 56));
}

static void log_event(struct sim *s, uint32_t type, uint32_t from, uint32_t to, const uint8_t *buf,
                      size_t len)
{
    uint64_t h = s->log_hash;
    h = mix64(h ^ s->now_ms);
    h = mix64(h ^ ((uint64_t)from << 32 | to) ^ ((uint64_t)type << 62));
    h = mix64(h ^ sim_hash_bytes(buf, len, len));
    s->log_hash = h;
}

/* --------------------------------------------------------------- heap */

static bool ev_less(const struct sim_event *a, const struct sim_event *b)
{
    return a->time_ms < b->time_ms || (a->time_ms == b->time_ms && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct sim_event ev)
{
    if (s->heap_len == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        struct sim_event *h = realloc(s->heap, cap * sizeof *h);
        if (!h) {
            /* The simulator cannot continue without its queue; a test
             * harness may abort (programmer/environment error). */
            fprintf(stderr, "sim: out of memory for the event queue\n");
            abort();
        }
        s->heap = h;
        s->heap_cap = cap;
    }
    ev.seq = s->seq++;
    size_t i = s->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&ev, &s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = ev;
    if (s->heap_len > s->stats.max_queue)
        s->stats.max_queue = s->heap_len;
}

static struct sim_event heap_pop(struct sim *s)
{
    struct sim_event top = s->heap[0];
    struct sim_event last = s->heap[--s->heap_len];
    size_t i = 0, n = s->heap_len;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct sim_event *best = &last;
        if (l < n && ev_less(&s->heap[l], best)) {
            m = l;
            best = &s->heap[l];
        }
        if (r < n && ev_less(&s->heap[r], best))
            m = r;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n > 0)
        s->heap[i] = last;
    return top;
}

/* -------------------------------------------------------------- links */

static int32_t parse_addr(const struct sim *s, const char *addr)
{
    /* Simulator addresses are "n<index>"; anything else names no node. */
    if (!addr || addr[0] != 'n' || addr[1] < '0' || addr[1] > '9')
        return -1;
    uint64_t v = 0;
    for (const char *p = addr + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > SIM_MAX_NODES)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v < s->n ? (int32_t)v : -1;
}

static const struct sim_link *link_for(const struct sim *s, uint32_t from, uint32_t to)
{
    if (s->nodes[from].has_link)
        return &s->nodes[from].link;
    if (s->nodes[to].has_link)
        return &s->nodes[to].link;
    return &s->cfg.link;
}

bool sim_linked(const struct sim *s, uint32_t from, uint32_t to)
{
    if (s->cfg.cut_cb && s->cfg.cut_cb(s->cfg.cb_arg, from, to))
        return false;
    return s->nodes[from].group == s->nodes[to].group;
}

static uint64_t node_clock(const struct sim *s, const struct sim_node *nd)
{
    return (uint64_t)((int64_t)(SIM_EPOCH_MS + s->now_ms) + nd->clock_offset_ms);
}

/* Arm node's tick at its core's deadline if that is sooner than the one
 * already armed (invariant 3). */
static void rearm(struct sim *s, struct sim_node *nd)
{
    if (!nd->up || s->cfg.tick_ms)
        return;
    uint64_t d = gossip_next_deadline(nd->g, node_clock(s, nd));
    if (d < 1)
        d = 1;
    if (d > SIM_TICK_MAX_MS)
        d = SIM_TICK_MAX_MS;
    uint64_t at = s->now_ms + d;
    if (at >= nd->tick_at_ms)
        return;
    nd->tick_at_ms = at;
    nd->tick_gen++;
    heap_push(s, (struct sim_event){
                     .time_ms = at, .type = SIM_EV_TICK, .to = nd->idx, .len = nd->tick_gen});
}

static void arm_tick_at(struct sim *s, struct sim_node *nd, uint64_t at)
{
    nd->tick_at_ms = at;
    nd->tick_gen++;
    heap_push(s, (struct sim_event){
                     .time_ms = at, .type = SIM_EV_TICK, .to = nd->idx, .len = nd->tick_gen});
}

/* ---------------------------------------------------- io callbacks */

static uint8_t *copy_buf(const uint8_t *buf, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    if (!c) {
        fprintf(stderr, "sim: out of memory for a packet\n");
        abort();
    }
    memcpy(c, buf, len);
    return c;
}

static void io_send(void *data, const char *addr, const uint8_t *buf, size_t len)
{
    struct sim_node *from = data;
    struct sim *s = from->sim;
    int32_t to = parse_addr(s, addr);
    s->stats.datagrams_sent++;
    s->stats.datagram_bytes_sent += len;
    if (to < 0) {
        s->stats.dropped_bad_addr++;
        return;
    }
    if (!sim_linked(s, from->idx, (uint32_t)to)) {
        s->stats.dropped_partition++;
        return;
    }
    const struct sim_link *l = link_for(s, from->idx, (uint32_t)to);
    if (l->loss > 0 && gkv_rng_double(&s->rng) < l->loss) {
        s->stats.dropped_loss++;
        return;
    }
    int copies = 1;
    if (l->dup > 0 && gkv_rng_double(&s->rng) < l->dup) {
        copies = 2;
        s->stats.duplicated++;
    }
    for (int c = 0; c < copies; c++) {
        uint64_t delay = l->latency_ms;
        if (l->jitter_ms)
            delay += gkv_rng_below(&s->rng, (uint64_t)l->jitter_ms + 1);
        heap_push(s, (struct sim_event){.time_ms = s->now_ms + delay,
                                        .type = SIM_EV_DGRAM,
                                        .from = from->idx,
                                        .to = (uint32_t)to,
                                        .len = (uint32_t)len,
                                        .u.buf = copy_buf(buf, len)});
    }
}

static struct sim_stream_peer *stream_peer(struct sim_node *nd, uint32_t peer)
{
    for (uint32_t i = 0; i < nd->n_streams; i++)
        if (nd->streams[i].peer == peer)
            return &nd->streams[i];
    if (nd->n_streams == nd->cap_streams) {
        uint32_t cap = nd->cap_streams ? nd->cap_streams * 2 : 4;
        struct sim_stream_peer *p = realloc(nd->streams, cap * sizeof *p);
        if (!p) {
            fprintf(stderr, "sim: out of memory for stream state\n");
            abort();
        }
        nd->streams = p;
        nd->cap_streams = cap;
    }
    nd->streams[nd->n_streams] = (struct sim_stream_peer){.peer = peer, .last_ms = 0};
    return &nd->streams[nd->n_streams++];
}

static void io_stream_send(void *data, const char *addr, const uint8_t *buf, size_t len)
{
    struct sim_node *from = data;
    struct sim *s = from->sim;
    int32_t to = parse_addr(s, addr);
    s->stats.frames_sent++;
    s->stats.frame_bytes_sent += len;
    if (to < 0) {
        s->stats.dropped_bad_addr++;
        return;
    }
    if (!sim_linked(s, from->idx, (uint32_t)to)) {
        s->stats.frames_dropped++;
        return;
    }
    /* A stream is reliable and ordered: base latency, no loss, no jitter,
     * never earlier than the previous frame to the same peer. */
    const struct sim_link *l = link_for(s, from->idx, (uint32_t)to);
    struct sim_stream_peer *sp = stream_peer(from, (uint32_t)to);
    uint64_t at = s->now_ms + l->latency_ms;
    if (at < sp->last_ms)
        at = sp->last_ms;
    sp->last_ms = at;
    heap_push(s, (struct sim_event){.time_ms = at,
                                    .type = SIM_EV_FRAME,
                                    .from = from->idx,
                                    .to = (uint32_t)to,
                                    .len = (uint32_t)len,
                                    .u.buf = copy_buf(buf, len)});
}

static void io_member(void *data, const struct gossip_member_info *m)
{
    struct sim_node *nd = data;
    struct sim *s = nd->sim;
    if (s->member_hook)
        s->member_hook(s->member_arg, s, nd->idx, m);
}

static void io_applied(void *data, const struct entry *e)
{
    struct sim_node *nd = data;
    struct sim *s = nd->sim;
    if (s->applied_hook)
        s->applied_hook(s->applied_arg, s, nd->idx, e);
}

/* ------------------------------------------------------- node life */

static int node_open_store(struct sim *s, struct sim_node *nd)
{
    struct store_config sc;
    store_config_init(&sc);
    sc.dir = NULL;
    sc.node_id = nd->id;
    sc.initial_capacity =
        s->cfg.store_capacity ? s->cfg.store_capacity : SIM_STORE_CAPACITY_DEFAULT;
    sc.sync = STORE_SYNC_NONE;
    sc.max_clock_offset_ms = s->cfg.max_clock_offset_ms;
    sc.tombstone_grace_ms = s->cfg.tombstone_grace_ms;
    sc.bucket_index_min_slots = s->cfg.bucket_index_min_slots;
    for (size_t i = 0; i < sizeof sc.placement_secret; i += 8) {
        uint64_t r = gkv_rng_next(&s->rng);
        memcpy(sc.placement_secret + i, &r, 8);
    }
    char msg[STORE_OPEN_ERR_BYTES] = "";
    int rc = store_open(&sc, node_clock(s, nd), &nd->store, msg, sizeof msg);
    if (rc != 0)
        fprintf(stderr, "sim: node %u: store_open: %s (%s)\n", nd->idx, gkv_strerror(rc),
                msg);
    return rc;
}

static int node_start_core(struct sim *s, struct sim_node *nd)
{
    int rc = seal_ctx_new(s->keyring, SIM_LABEL, nd->id, nd->epoch, &nd->seal);
    if (rc != 0)
        return rc;
    struct gossip_config gc = s->cfg.gossip;
    gc.name = nd->name;
    gc.addr = nd->addr;
    gc.node_id = nd->id;
    gc.epoch = nd->epoch;
    gc.scratch = s->scratch;
    gc.names = s->names;
    gc.incarnation = store_incarnation(nd->store);
    /* Each core's PRNG: a function of the run seed, the node and its epoch. */
    gc.seed = mix64(s->cfg.seed ^ mix64(nd->id * 0x9e3779b97f4a7c15ull + nd->epoch));
    if (s->cfg.node_config_cb)
        s->cfg.node_config_cb(s->cfg.cb_arg, nd->idx, &gc);
    struct gossip_io io = {
        .data = nd,
        .send_cb = io_send,
        .stream_send_cb = s->cfg.streams ? io_stream_send : NULL,
        .member_cb = io_member,
        .applied_cb = io_applied,
    };
    rc = gossip_new(&gc, nd->store, nd->seal, &io, node_clock(s, nd), &nd->g);
    if (rc != 0) {
        seal_ctx_free(nd->seal);
        nd->seal = NULL;
        return rc;
    }
    nd->up = true;
    /* First tick after a small random delay, so nodes do not run in step. */
    arm_tick_at(s, nd, s->now_ms + 1 + gkv_rng_below(&s->rng, 10));
    return 0;
}

static void node_stop_core(struct sim_node *nd)
{
    gossip_free(nd->g);
    nd->g = NULL;
    seal_ctx_free(nd->seal);
    nd->seal = NULL;
    nd->up = false;
    nd->tick_gen++; /* invalidates the armed tick */
    nd->tick_at_ms = UINT64_MAX;
}

void sim_config_init(struct sim_config *cfg, uint64_t seed, uint32_t nodes)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = seed;
    cfg->nodes = nodes;
    cfg->link.latency_ms = 1;
    cfg->streams = true;
    gossip_config_init(&cfg->gossip);
}

int sim_new(const struct sim_config *cfg, struct sim **out)
{
    *out = NULL;
    if (cfg->nodes == 0 || cfg->nodes > SIM_MAX_NODES)
        return GKV_EINVAL;
    struct sim *s = calloc(1, sizeof *s);
    if (!s)
        return GKV_ENOMEM;
    s->cfg = *cfg;
    if (!s->cfg.check_ms)
        s->cfg.check_ms = SIM_CHECK_MS_DEFAULT;
    s->n = cfg->nodes;
    s->seed_node = -1;
    gkv_rng_seed(&s->rng, cfg->seed);
    s->log_hash = mix64(cfg->seed ^ 0x5851f42d4c957f2dull);
    s->nodes = calloc(s->n, sizeof *s->nodes);
    int rc = s->nodes ? 0 : GKV_ENOMEM;
    if (rc == 0)
        rc = gossip_scratch_new(&s->scratch);
    if (rc == 0)
        rc = gossip_names_new(&s->names);
    if (rc == 0)
        rc = seal_keyring_new(&s->keyring);
    if (rc == 0) {
        /* One shared test key, a function of the seed. */
        uint8_t key[SEAL_KEY_BYTES];
        for (size_t i = 0; i < sizeof key; i += 8) {
            uint64_t r = gkv_rng_next(&s->rng);
            memcpy(key + i, &r, 8);
        }
        rc = seal_keyring_install(s->keyring, key);
    }
    for (uint32_t i = 0; rc == 0 && i < s->n; i++) {
        struct sim_node *nd = &s->nodes[i];
        nd->sim = s;
        nd->idx = i;
        nd->id = (uint64_t)i + 1;
        nd->epoch = 1;
        nd->tick_at_ms = UINT64_MAX;
        snprintf(nd->name, sizeof nd->name, "n%u", i);
        snprintf(nd->addr, sizeof nd->addr, "n%u", i);
        rc = node_open_store(s, nd);
        if (rc == 0)
            rc = node_start_core(s, nd);
    }
    if (rc != 0) {
        sim_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->heap_len; i++)
        if (s->heap[i].type == SIM_EV_DGRAM || s->heap[i].type == SIM_EV_FRAME)
            free(s->heap[i].u.buf);
    free(s->heap);
    if (s->nodes) {
        for (uint32_t i = 0; i < s->n; i++) {
            struct sim_node *nd = &s->nodes[i];
            if (nd->g)
                node_stop_core(nd);
            store_close(nd->store);
            free(nd->streams);
        }
    }
    free(s->nodes);
    gossip_scratch_free(s->scratch);
    gossip_names_free(s->names); /* after every core that borrowed it */
    seal_keyring_free(s->keyring);
    free(s);
}

/* ------------------------------------------------------------ running */

static void run_tick(struct sim *s, struct sim_node *nd, uint32_t gen)
{
    if (!nd->up || gen != nd->tick_gen)
        return; /* stale (invariant 3) */
    uint64_t now = node_clock(s, nd);
    store_tick(nd->store, now);
    gossip_tick(nd->g, now);
    s->stats.ticks++;
    uint64_t d;
    if (s->cfg.tick_ms) {
        d = s->cfg.tick_ms;
    } else {
        d = gossip_next_deadline(nd->g, now);
        if (d < 1)
            d = 1;
        if (d > SIM_TICK_MAX_MS)
            d = SIM_TICK_MAX_MS;
    }
    arm_tick_at(s, nd, s->now_ms + d);
}

static void run_event(struct sim *s, struct sim_event *ev)
{
    struct sim_node *to = ev->type == SIM_EV_TIMER ? NULL : &s->nodes[ev->to];
    switch (ev->type) {
    case SIM_EV_TICK:
        run_tick(s, to, ev->len);
        break;
    case SIM_EV_DGRAM:
        if (!to->up) {
            s->stats.dropped_down++;
        } else if (!sim_linked(s, ev->from, ev->to)) {
            s->stats.dropped_partition++;
        } else {
            log_event(s, ev->type, ev->from, ev->to, ev->u.buf, ev->len);
            s->stats.datagrams_delivered++;
            s->stats.datagram_bytes_delivered += ev->len;
            gossip_recv(to->g, s->nodes[ev->from].addr, ev->u.buf, ev->len, node_clock(s, to));
            rearm(s, to);
        }
        free(ev->u.buf);
        break;
    case SIM_EV_FRAME:
        if (!to->up || !sim_linked(s, ev->from, ev->to)) {
            s->stats.frames_dropped++;
        } else {
            log_event(s, ev->type, ev->from, ev->to, ev->u.buf, ev->len);
            s->stats.frames_delivered++;
            gossip_recv_stream(to->g, s->nodes[ev->from].addr, ev->u.buf, ev->len,
                               node_clock(s, to));
            rearm(s, to);
        }
        free(ev->u.buf);
        break;
    case SIM_EV_TIMER:
        ev->u.timer.cb(s, ev->u.timer.arg);
        break;
    }
}

bool sim_step(struct sim *s)
{
    if (s->heap_len == 0)
        return false;
    struct sim_event ev = heap_pop(s);
    if (ev.time_ms > s->now_ms)
        s->now_ms = ev.time_ms;
    s->stats.events++;
    run_event(s, &ev);
    return true;
}

void sim_run_for(struct sim *s, uint64_t ms)
{
    uint64_t end = s->now_ms + ms;
    while (s->heap_len > 0 && s->heap[0].time_ms <= end)
        sim_step(s);
    s->now_ms = end;
}

bool sim_run_until(struct sim *s, sim_pred_fn pred, void *arg, uint64_t max_ms)
{
    uint64_t end = s->now_ms + max_ms;
    if (pred(s, arg))
        return true;
    while (s->now_ms < end) {
        uint64_t step = s->cfg.check_ms;
        if (step > end - s->now_ms)
            step = end - s->now_ms;
        sim_run_for(s, step);
        if (pred(s, arg))
            return true;
    }
    return false;
}

void sim_at(struct sim *s, uint64_t delay_ms, sim_timer_cb cb, void *arg)
{
    heap_push(s, (struct sim_event){
                     .time_ms = s->now_ms + delay_ms, .type = SIM_EV_TIMER, .u.timer = {cb, arg}});
}

uint64_t sim_now_ms(const struct sim *s)
{
    return s->now_ms;
}

uint64_t sim_node_now_ms(const struct sim *s, uint32_t i)
{
    return node_clock(s, &s->nodes[i]);
}

/* --------------------------------------------------------- membership */

int sim_join(struct sim *s, uint32_t i, uint32_t seed)
{
    struct sim_node *nd = &s->nodes[i];
    if (!nd->up)
        return GKV_ESTATE;
    if (seed == i)
        return 0;
    const char *addr = s->nodes[seed].addr;
    int rc = gossip_join(nd->g, &addr, 1, node_clock(s, nd));
    rearm(s, nd);
    return rc;
}

int sim_restore_all(struct sim *s)
{
    /* Every up node's current incarnation, read once (O(N)). */
    uint64_t *inc = calloc(s->n, sizeof *inc);
    if (!inc)
        return GKV_ENOMEM;
    for (uint32_t j = 0; j < s->n; j++) {
        struct gossip_member_info self;
        if (s->nodes[j].up && gossip_member_get(s->nodes[j].g, 0, &self) == 0)
            inc[j] = self.incarnation;
    }
    int rc = 0;
    /* Node by node, so each core's tables grow to full size before the next
     * starts: the blocks a growing table frees are reused by the next one
     * instead of fragmenting the heap across 10,000 interleaved cores. */
    for (uint32_t i = 0; i < s->n && rc == 0; i++) {
        struct sim_node *nd = &s->nodes[i];
        if (!nd->up)
            continue;
        uint64_t now = node_clock(s, nd);
        for (uint32_t j = 0; j < s->n && rc == 0; j++) {
            if (j == i || !s->nodes[j].up)
                continue;
            rc = gossip_restore_member(nd->g, s->nodes[j].id, s->nodes[j].name, s->nodes[j].addr,
                                       inc[j], now);
            if (rc == GKV_EEXIST)
                rc = 0;
        }
        rearm(s, nd);
    }
    free(inc);
    return rc;
}

int sim_join_all(struct sim *s, uint32_t seed)
{
    s->seed_node = seed;
    for (uint32_t i = 0; i < s->n; i++) {
        int rc = sim_join(s, i, seed);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sim_view_state(const struct sim *s, uint32_t viewer, uint32_t subject)
{
    const struct sim_node *nd = &s->nodes[viewer];
    if (!nd->up)
        return -1;
    struct gossip_member_info m;
    if (gossip_member_find(nd->g, s->nodes[subject].id, &m) != 0)
        return -1;
    return (int)m.state;
}

bool sim_all_see_up_alive(const struct sim *s)
{
    uint32_t up = 0;
    for (uint32_t i = 0; i < s->n; i++)
        up += s->nodes[i].up;
    for (uint32_t v = 0; v < s->n; v++) {
        const struct sim_node *nd = &s->nodes[v];
        if (!nd->up)
            continue;
        uint32_t seen = 0;
        size_t n = gossip_member_count(nd->g);
        for (size_t k = 0; k < n; k++) {
            struct gossip_member_info m;
            if (gossip_member_get(nd->g, k, &m) != 0 || m.id == nd->id)
                continue;
            if (m.state == GOSSIP_ALIVE && m.id >= 1 && m.id <= s->n && s->nodes[m.id - 1].up)
                seen++;
        }
        if (seen != up - 1)
            return false;
    }
    return true;
}

uint32_t sim_count_views(const struct sim *s, uint32_t subject, int state)
{
    uint32_t c = 0;
    for (uint32_t v = 0; v < s->n; v++)
        if (v != subject && s->nodes[v].up && sim_view_state(s, v, subject) == state)
            c++;
    return c;
}

/* ----------------------------------------------------------- failures */

int sim_crash(struct sim *s, uint32_t i, enum sim_crash_mode mode)
{
    struct sim_node *nd = &s->nodes[i];
    if (!nd->up)
        return GKV_ESTATE;
    node_stop_core(nd);
    nd->n_streams = 0; /* connections die with the process */
    if (mode == SIM_CRASH_WIPE_STORE) {
        store_close(nd->store);
        nd->store = NULL;
        return node_open_store(s, nd);
    }
    return 0;
}

int sim_restart(struct sim *s, uint32_t i)
{
    struct sim_node *nd = &s->nodes[i];
    if (nd->up)
        return GKV_ESTATE;
    nd->epoch++;
    int rc = node_start_core(s, nd);
    if (rc != 0)
        return rc;
    /* Join through the seed; if it is this node or down, the lowest up one. */
    int64_t seed = s->seed_node;
    if (seed < 0 || (uint32_t)seed == i || !s->nodes[seed].up) {
        seed = -1;
        for (uint32_t k = 0; k < s->n && seed < 0; k++)
            if (k != i && s->nodes[k].up)
                seed = k;
    }
    if (seed >= 0)
        return sim_join(s, i, (uint32_t)seed);
    return 0;
}

int sim_restart_through(struct sim *s, uint32_t i, const char *const *addrs, size_t n)
{
    struct sim_node *nd = &s->nodes[i];
    if (nd->up)
        return GKV_ESTATE;
    nd->epoch++;
    int rc = node_start_core(s, nd);
    if (rc != 0 || n == 0)
        return rc;
    rc = gossip_join(nd->g, addrs, n, node_clock(s, nd));
    rearm(s, nd);
    return rc;
}

bool sim_node_up(const struct sim *s, uint32_t i)
{
    return s->nodes[i].up;
}

void sim_set_group(struct sim *s, uint32_t i, uint32_t group)
{
    s->nodes[i].group = group;
}

void sim_heal(struct sim *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        s->nodes[i].group = 0;
}

void sim_set_link(struct sim *s, const struct sim_link *link)
{
    s->cfg.link = *link;
}

void sim_set_node_link(struct sim *s, uint32_t i, const struct sim_link *link)
{
    s->nodes[i].has_link = link != NULL;
    if (link)
        s->nodes[i].link = *link;
}

void sim_set_clock_offset(struct sim *s, uint32_t i, int64_t offset_ms)
{
    struct sim_node *nd = &s->nodes[i];
    /* node/ sees a step of its wall clock against the monotonic one and
     * tells the core; a simulated node does the same. */
    if (nd->up && nd->g && offset_ms != nd->clock_offset_ms)
        gossip_clock_stepped(nd->g, offset_ms - nd->clock_offset_ms);
    nd->clock_offset_ms = offset_ms;
}

/* node/ refuses a client write it could not spread (commands.c, -CLOCKSKEW);
 * a simulated client write is refused the same way. */
static int sim_admit_write(struct sim_node *nd, uint64_t now)
{
    struct gossip_clock_info ci;
    gossip_clock_get(nd->g, now, &ci);
    return ci.writes_refused ? GKV_ECLOCKSKEW : 0;
}

/* --------------------------------------------------------------- data */

int sim_write_bytes(struct sim *s, uint32_t i, const void *key, size_t key_len, const void *value,
                    size_t value_len, struct entry *out)
{
    return sim_write_expire(s, i, key, key_len, value, value_len, 0, out);
}

/* The start of every local write on node i: GKV_ESTATE when it is down,
 * else its clock (*now) and the admission check at it. */
static int write_begin(struct sim *s, uint32_t i, uint64_t *now)
{
    struct sim_node *nd = &s->nodes[i];
    if (!nd->up)
        return GKV_ESTATE;
    *now = node_clock(s, nd);
    return sim_admit_write(nd, *now);
}

/* The end: the stored entry e goes to node i's core (its answer is
 * returned), and out (may be NULL) receives e. */
static int write_end(struct sim *s, uint32_t i, uint64_t now, const struct entry *e,
                     struct entry *out)
{
    struct sim_node *nd = &s->nodes[i];
    int rc = gossip_local_write(nd->g, e, now);
    rearm(s, nd);
    if (out)
        *out = *e;
    return rc;
}

int sim_write_expire(struct sim *s, uint32_t i, const void *key, size_t key_len, const void *value,
                     size_t value_len, uint64_t expire_ms, struct entry *out)
{
    uint64_t now;
    struct entry e;
    int rc = write_begin(s, i, &now);
    if (rc == 0)
        rc = store_put_expire(s->nodes[i].store, key, key_len, value, value_len, expire_ms, now,
                              &e);
    return rc != 0 ? rc : write_end(s, i, now, &e, out);
}

int sim_write(struct sim *s, uint32_t i, const char *key, const char *value, struct entry *out)
{
    return sim_write_bytes(s, i, key, strlen(key), value, strlen(value), out);
}

int sim_delete(struct sim *s, uint32_t i, const char *key, struct entry *out)
{
    uint64_t now;
    struct entry e;
    int rc = write_begin(s, i, &now);
    if (rc == 0)
        rc = store_del(s->nodes[i].store, key, strlen(key), now, &e, NULL);
    return rc != 0 ? rc : write_end(s, i, now, &e, out);
}

int sim_incrby(struct sim *s, uint32_t i, const char *key, long long delta, long long *result)
{
    uint64_t now;
    struct entry e;
    int rc = write_begin(s, i, &now);
    if (rc == 0)
        rc = store_incrby(s->nodes[i].store, key, strlen(key), delta, now, result, &e);
    if (rc == 0)
        (void)write_end(s, i, now, &e, NULL); /* stored = acknowledged */
    return rc;
}

bool sim_read_ll(struct sim *s, uint32_t i, const char *key, long long *out)
{
    struct entry e;
    *out = 0;
    if (store_get(s->nodes[i].store, key, strlen(key), &e) != 0)
        return true;
    if (entry_is_tombstone(&e))
        return true;
    const uint8_t *p = e.value;
    size_t len = e.value_len;
    char buf[COUNTER_FMT_MAX];
    if (entry_is_counter(&e)) {
        struct counter_view v;
        struct counter_read r;
        if (counter_decode(e.value, e.value_len, &v) != 0)
            return false;
        counter_read(&v, &r);
        len = counter_format(&r, buf, sizeof buf, &p);
        if (!p)
            return true;
    }
    return counter_parse_ll(p, len, out);
}

int sim_read(struct sim *s, uint32_t i, const char *key, struct entry *out)
{
    return store_get(s->nodes[i].store, key, strlen(key), out);
}

bool sim_has_value(struct sim *s, uint32_t i, const char *key, const char *value)
{
    struct entry e;
    if (sim_read(s, i, key, &e) != 0 || entry_is_tombstone(&e))
        return false;
    size_t vlen = strlen(value);
    return e.value_len == vlen && memcmp(e.value, value, vlen) == 0;
}

bool sim_converged(const struct sim *s)
{
    bool have = false;
    uint64_t root = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!s->nodes[i].up)
            continue;
        uint64_t r = store_root_hash(s->nodes[i].store);
        if (have && r != root)
            return false;
        root = r;
        have = true;
    }
    return true;
}

/* ---------------------------------------------------------- accessors */

uint32_t sim_node_count(const struct sim *s)
{
    return s->n;
}

uint64_t sim_node_id(const struct sim *s, uint32_t i)
{
    return s->nodes[i].id;
}

const char *sim_node_addr(const struct sim *s, uint32_t i)
{
    return s->nodes[i].addr;
}

struct gossip *sim_node_gossip(struct sim *s, uint32_t i)
{
    return s->nodes[i].g;
}

struct seal_ctx *sim_node_seal(struct sim *s, uint32_t i)
{
    return s->nodes[i].seal;
}

struct store *sim_node_store(struct sim *s, uint32_t i)
{
    return s->nodes[i].store;
}

struct seal_keyring *sim_keyring(struct sim *s)
{
    return s->keyring;
}

uint64_t sim_seed(const struct sim *s)
{
    return s->cfg.seed;
}

void sim_set_applied_hook(struct sim *s, sim_applied_hook hook, void *arg)
{
    s->applied_hook = hook;
    s->applied_arg = arg;
}

void sim_set_member_hook(struct sim *s, sim_member_hook hook, void *arg)
{
    s->member_hook = hook;
    s->member_arg = arg;
}

void sim_stats(const struct sim *s, struct sim_stats *out)
{
    *out = s->stats;
}

uint64_t sim_event_log_hash(const struct sim *s)
{
    return s->log_hash;
}

void sim_gossip_stats_sum(const struct sim *s, struct gossip_stats *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < s->n; i++) {
        if (!s->nodes[i].up)
            continue;
        struct gossip_stats st;
        gossip_stats(s->nodes[i].g, &st);
#define SUM(f) out->f += st.f
        SUM(datagrams_out);
        SUM(datagrams_in);
        SUM(bytes_out);
        SUM(bytes_in);
        SUM(frames_out);
        SUM(frames_in);
        SUM(frame_bytes_out);
        SUM(frame_bytes_in);
        SUM(msgs_in);
        SUM(msgs_out);
        SUM(deltas_sent);
        SUM(deltas_received);
        SUM(deltas_applied);
        SUM(deltas_dropped_queue_full);
        SUM(data_queue_overflows);
        SUM(digests_sent);
        SUM(digests_received);
        SUM(buckets_repaired);
        SUM(repair_entries_sent);
        SUM(repair_entries_received);
        SUM(repair_bytes_sent);
        SUM(repair_sweeps);
        SUM(repair_pushes_deferred);
        SUM(repair_pushes_skipped);
        SUM(sync_offers_postponed_pull);
        SUM(repair_push_offers);
        SUM(repair_jobs_merged);
        SUM(sync_offers_dirty);
        SUM(sync_offers_postponed_busy);
        SUM(sync_offers_declined_busy);
        SUM(probes_sent);
        SUM(acks_received);
        SUM(indirect_probes_sent);
        SUM(suspicions_raised);
        SUM(refutations);
        SUM(deaths_declared);
        SUM(decode_errors);
        SUM(unknown_types);
        SUM(clock_refused);
        SUM(members_limit_refused);
        SUM(alive);
        SUM(suspect);
        SUM(dead);
        SUM(left);
#undef SUM
    }
}

void sim_gossip_resolve(const struct gossip_config *cfg, struct gossip_config *out)
{
    gossip_config_resolve(cfg, out);
}

uint64_t sim_join_bound_ms(const struct sim_config *cfg)
{
    struct gossip_config gc;
    sim_gossip_resolve(&cfg->gossip, &gc);
    double n = cfg->nodes;
    double hop = (double)cfg->link.latency_ms + cfg->link.jitter_ms;
    double rumours = (log2(n) + log(n) + 2) * (gc.gossip_interval_ms + hop);
    uint64_t mult = 1;
    for (uint64_t scaled = 32; scaled < cfg->nodes; scaled *= 2)
        mult++;
    return (uint64_t)rumours + gc.pushpull_interval_ms + gc.pushpull_interval_ms * mult;
}

/* -------------------------------------------------------------- seeds */

uint64_t sim_seed_from_env(const char *name, uint64_t default_seed)
{
    return gkv_test_seed(name, default_seed);
}

void sim_print_replay(const char *name, uint64_t seed)
{
    fprintf(stderr, "REPLAY: GKV_SEED=%" PRIu64 " build/release/tests/%s\n", seed, name);
}
