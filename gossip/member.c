/*
 * member.c: the SWIM membership table and its state rules (Das, Gupta and
 * Motivala, "SWIM", DSN 2002), with the Lifeguard refinements (Dasgupta et
 * al. 2017) as hashicorp/memberlist implements them.
 *
 * Failure detection (probes, indirect probes, timers) is probe.c.
 *
 * State precedence for one member (SWIM + memberlist):
 *   higher incarnation wins; at equal incarnation ALIVE < SUSPECT < DEAD/LEFT.
 *   Only the member itself raises its incarnation (refutation), so a live
 *   member that hears it is suspected or dead bumps it, persists it with
 *   store_set_incarnation (a restart must not go back), and gossips ALIVE.
 *   A LEAVE is only believed when its from_id is the leaver itself.
 *   A DEAD record inside a STATE exchange is treated as a SUSPECT (memberlist
 *   mergeState): second-hand death gives the member a chance to refute, which
 *   is what lets a healed partition merge back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/gossip_int.h"
#include "gossip/seal.h"

/* ------------------------------------------------------------- table */

static size_t idx_slot(const struct gossip *g, uint64_t id)
{
    return gossip_mix64(id) & (g->idx_cap - 1);
}

static void idx_put(struct gossip *g, uint64_t id, size_t pos)
{
    size_t s = idx_slot(g, id);
    while (g->idx[s])
        s = (s + 1) & (g->idx_cap - 1);
    g->idx[s] = (uint32_t)(pos + 1);
}

static void idx_fill(struct gossip *g)
{
    memset(g->idx, 0, g->idx_cap * sizeof(*g->idx));
    for (size_t i = 0; i < g->nmembers; i++)
        idx_put(g, g->members[i].id, i);
}

static int idx_rebuild(struct gossip *g, size_t cap)
{
    uint32_t *t = calloc(cap, sizeof(*t));
    if (!t)
        return GKV_ENOMEM;
    free(g->idx);
    g->idx = t;
    g->idx_cap = cap;
    idx_fill(g);
    return 0;
}

struct gossip_member *member_find(const struct gossip *g, uint64_t id)
{
    size_t s = idx_slot(g, id);
    for (size_t n = 0; n < g->idx_cap && g->idx[s]; n++) {
        struct gossip_member *m = &g->members[g->idx[s] - 1];
        if (m->id == id)
            return m;
        s = (s + 1) & (g->idx_cap - 1);
    }
    return NULL;
}

void member_prefetch_slot(const struct gossip *g, uint64_t id)
{
    __builtin_prefetch(&g->idx[idx_slot(g, id)]);
}

void member_prefetch_record(const struct gossip *g, uint64_t id)
{
    uint32_t pos = g->idx[idx_slot(g, id)];
    if (pos)
        __builtin_prefetch(&g->members[pos - 1]);
}

size_t member_live_count(const struct gossip *g)
{
    return (size_t)g->st.alive + g->st.suspect;
}

static void count_state(struct gossip *g, uint8_t state, int delta)
{
    uint32_t *c = state == GOSSIP_ALIVE     ? &g->st.alive
                  : state == GOSSIP_SUSPECT ? &g->st.suspect
                  : state == GOSSIP_DEAD    ? &g->st.dead
                                            : &g->st.left;
    *c = (uint32_t)((int64_t)*c + delta);
}

/* Point m at "name\0addr\0" in the pool. name or addr may be borrowed
 * from m's own current strings (gossip_member_get): the new reference is
 * taken before the old one is dropped, and pool entries never move. */
static int set_strings(struct gossip *g, struct gossip_member *m, const char *name,
                       size_t name_len, const char *addr, size_t addr_len)
{
    if (name_len > WIRE_MAX_NAME || addr_len > WIRE_MAX_ADDR)
        return GKV_EINVAL; /* the lengths are kept in a byte each */
    uint32_t h = names_intern(g->names, name, name_len, addr, addr_len);
    if (!h)
        return GKV_ENOMEM;
    names_release(g->names, m->str);
    m->str = h;
    m->name_len = (uint8_t)name_len;
    m->addr_len = (uint8_t)addr_len;
    return 0;
}

static void notify(struct gossip *g, const struct gossip_member *m)
{
    if (!g->io.member_cb)
        return;
    struct gossip_member_info info = {m->id,          member_name(g, m),
                                      member_addr(g, m), (enum gossip_member_state)m->state,
                                      m->incarnation, m->state_since_ms};
    g->io.member_cb(g->io.data, &info);
}

static void order_insert(struct gossip *g, size_t pos)
{
    if (g->order_n == g->order_cap) {
        size_t cap = g->order_cap ? g->order_cap * 2 : 16;
        uint32_t *o = realloc(g->order, cap * sizeof(*o));
        if (!o)
            return; /* probed from the next pass, when the order is rebuilt */
        g->order = o;
        g->order_cap = cap;
    }
    /* a random slot among those not yet probed in this pass */
    size_t lo = g->order_pos < g->order_n ? g->order_pos : g->order_n;
    size_t at = lo + (size_t)gkv_rng_below(&g->rng, g->order_n - lo + 1);
    g->order[g->order_n] = at < g->order_n ? g->order[at] : (uint32_t)pos;
    g->order[at] = (uint32_t)pos;
    g->order_n++;
}

/* member_remove moved members[from] into position to: the rest of this
 * pass probes it there, and no longer probes the removed one. */
static void order_moved(struct gossip *g, size_t from, size_t to)
{
    for (size_t i = g->order_pos; i < g->order_n; i++) {
        if (g->order[i] == to)
            g->order[i] = UINT32_MAX; /* the removed member: skipped */
        else if (g->order[i] == from)
            g->order[i] = (uint32_t)to;
    }
}

struct gossip_suspicion *suspicion_of(const struct gossip *g, uint64_t id)
{
    /* a linear scan: suspects are few, and a tick visits them all anyway */
    for (size_t i = 0; i < g->nsuspects; i++)
        if (g->suspects[i] == id)
            return &g->susps[i];
    return NULL;
}

static void suspects_remove(struct gossip *g, uint64_t id)
{
    for (size_t i = 0; i < g->nsuspects; i++) {
        if (g->suspects[i] == id) {
            g->nsuspects--;
            g->suspects[i] = g->suspects[g->nsuspects];
            g->susps[i] = g->susps[g->nsuspects];
            return;
        }
    }
}

static int suspects_add(struct gossip *g, uint64_t id)
{
    if (g->nsuspects == g->suspects_cap) {
        size_t cap = g->suspects_cap ? g->suspects_cap * 2 : 16;
        uint64_t *s = realloc(g->suspects, cap * sizeof(*s));
        if (!s)
            return GKV_ENOMEM;
        g->suspects = s;
        struct gossip_suspicion *t = realloc(g->susps, cap * sizeof(*t));
        if (!t)
            return GKV_ENOMEM; /* suspects[] grew: harmless, cap stays */
        g->susps = t;
        g->suspects_cap = cap;
    }
    memset(&g->susps[g->nsuspects], 0, sizeof(g->susps[0]));
    g->suspects[g->nsuspects++] = id;
    return 0;
}

void member_set_state(struct gossip *g, struct gossip_member *m, uint8_t state,
                      uint64_t incarnation)
{
    bool changed = m->state != state || m->incarnation != incarnation;
    if (m->state != state) {
        count_state(g, m->state, -1);
        count_state(g, state, +1);
        if (m->state == GOSSIP_SUSPECT)
            suspects_remove(g, m->id);
        if (state == GOSSIP_SUSPECT) {
            if (suspects_add(g, m->id) < 0) {
                /* cannot track the timer: keep the member as it was rather
                 * than leave a suspicion that never expires */
                count_state(g, state, -1);
                count_state(g, m->state, +1);
                return;
            }
        }
        m->state = state;
        m->state_since_ms = g->now_ms;
    }
    m->incarnation = incarnation;
    if (changed)
        notify(g, m);
}

/* Add an unknown member (state ALIVE). NULL when refused (limit, memory). */
static struct gossip_member *member_add(struct gossip *g, const struct wire_member *wm)
{
    if (g->nmembers >= g->cfg.max_members) {
        g->st.members_limit_refused++;
        return NULL;
    }
    if (g->nmembers == g->members_cap) {
        size_t cap = g->members_cap * 2;
        struct gossip_member *mm = realloc(g->members, cap * sizeof(*mm));
        if (!mm)
            return NULL;
        g->members = mm;
        g->members_cap = cap;
    }
    if ((g->nmembers + 1) * 4 > g->idx_cap * 3 && idx_rebuild(g, g->idx_cap * 2) < 0)
        return NULL;
    struct gossip_member *m = &g->members[g->nmembers];
    memset(m, 0, sizeof(*m));
    if (set_strings(g, m, wm->name, wm->name_len, wm->addr, wm->addr_len) < 0)
        return NULL;
    m->id = wm->id;
    m->state = GOSSIP_ALIVE;
    m->incarnation = wm->incarnation;
    m->state_since_ms = g->now_ms;
    g->nmembers++;
    count_state(g, GOSSIP_ALIVE, +1);
    idx_put(g, m->id, g->nmembers - 1);
    order_insert(g, g->nmembers - 1);
    return m;
}

void member_remove(struct gossip *g, size_t i)
{
    struct gossip_member *m = &g->members[i];
    count_state(g, m->state, -1);
    if (m->state == GOSSIP_SUSPECT)
        suspects_remove(g, m->id);
    names_release(g->names, m->str);
    g->members[i] = g->members[g->nmembers - 1];
    g->nmembers--;
    order_moved(g, g->nmembers, i);
    /* removals are rare (reclaim): refilling the index in place (no
     * allocation, so it cannot fail) keeps probing simple */
    idx_fill(g);
}

int member_table_init(struct gossip *g)
{
    g->names = g->cfg.names;
    if (!g->names) {
        if (gossip_names_new(&g->own_names) < 0)
            return GKV_ENOMEM;
        g->names = g->own_names;
    }
    g->members_cap = 16;
    g->members = calloc(g->members_cap, sizeof(*g->members));
    if (!g->members || idx_rebuild(g, 64) < 0)
        return GKV_ENOMEM;
    struct gossip_member *self = &g->members[0];
    const char *name = g->cfg.name ? g->cfg.name : "";
    if (set_strings(g, self, name, strlen(name), g->cfg.addr, strlen(g->cfg.addr)) < 0)
        return GKV_ENOMEM;
    self->id = g->cfg.node_id;
    self->state = GOSSIP_ALIVE;
    self->incarnation = g->cfg.incarnation;
    self->state_since_ms = g->now_ms;
    g->nmembers = 1;
    g->st.alive = 1;
    /* pool strings never move: these stay valid for the core's life */
    g->cfg.name = member_name(g, self);
    g->cfg.addr = member_addr(g, self);
    return idx_rebuild(g, 64);
}

void member_table_free(struct gossip *g)
{
    if (g->members && g->names)
        for (size_t i = 0; i < g->nmembers; i++)
            names_release(g->names, g->members[i].str);
    free(g->members);
    free(g->idx);
    free(g->order);
    free(g->suspects);
    free(g->susps);
    free(g->relays);
    gossip_names_free(g->own_names);
}

size_t member_pick_random(struct gossip *g, size_t want, uint64_t except_id, size_t *out)
{
    size_t live = member_live_count(g);
    /* self is live unless leaving; the except member may be live too */
    size_t candidates = live > 0 ? live - (g->members[0].state <= GOSSIP_SUSPECT ? 1 : 0) : 0;
    if (candidates == 0 || want == 0)
        return 0;
    size_t got = 0;
    /* Rejection sampling: cheap while live members are a good share of the
     * table; bounded, then a scan from a random start finishes the job. */
    for (size_t tries = 0; tries < 8 * want + 16 && got < want; tries++) {
        size_t i = 1 + (size_t)gkv_rng_below(&g->rng, g->nmembers - 1);
        const struct gossip_member *m = &g->members[i];
        if (m->state > GOSSIP_SUSPECT || m->id == except_id)
            continue;
        bool dup = false;
        for (size_t j = 0; j < got; j++)
            dup |= out[j] == i;
        if (!dup)
            out[got++] = i;
    }
    if (got < want) {
        size_t start = (size_t)gkv_rng_below(&g->rng, g->nmembers);
        for (size_t n = 0; n < g->nmembers && got < want; n++) {
            size_t i = (start + n) % g->nmembers;
            const struct gossip_member *m = &g->members[i];
            if (i == 0 || m->state > GOSSIP_SUSPECT || m->id == except_id)
                continue;
            bool dup = false;
            for (size_t j = 0; j < got; j++)
                dup |= out[j] == i;
            if (!dup)
                out[got++] = i;
        }
    }
    return got;
}

uint8_t member_msg_type(const struct gossip_member *m)
{
    switch (m->state) {
    case GOSSIP_SUSPECT:
        return WIRE_SUSPECT;
    case GOSSIP_DEAD:
        return WIRE_DEAD;
    case GOSSIP_LEFT:
        return WIRE_LEAVE;
    default:
        return WIRE_ALIVE;
    }
}

void member_fill_wire(const struct gossip *g, const struct gossip_member *m,
                      struct wire_member *wm)
{
    wm->id = m->id;
    wm->name = member_name(g, m);
    wm->name_len = m->name_len;
    wm->addr = member_addr(g, m);
    wm->addr_len = m->addr_len;
    wm->incarnation = m->incarnation;
    wm->state = m->state;
}

void member_broadcast(struct gossip *g, const struct gossip_member *m, uint64_t from_id)
{
    if (g->quiet && m != &g->members[0])
        return;
    spread_member(&g->mq, m->id, from_id, (size_t)(m - g->members));
}

/* ------------------------------------------------------- refutation */

void member_refute(struct gossip *g, uint64_t heard_incarnation)
{
    struct gossip_member *self = &g->members[0];
    uint64_t inc = self->incarnation > heard_incarnation ? self->incarnation : heard_incarnation;
    if (inc < UINT64_MAX)
        inc++; /* saturate: a forged rumour at UINT64_MAX must not wrap us to 0 */
    /* Persist first: a restart must never reuse an incarnation we announced.
     * A failed write is counted but the refutation still goes out (staying
     * suspected is worse than a possible ghost after a crash). */
    if (store_set_incarnation(g->store, inc) < 0)
        g->st.merge_errors++;
    member_set_state(g, self, GOSSIP_ALIVE, inc);
    g->st.refutations++;
    /* Lifeguard: being suspected hints that we are the slow one */
    if (!g->cfg.lifeguard_off && g->awareness + 1 < GOSSIP_AWARENESS_MAX)
        g->awareness++;
    member_broadcast(g, self, g->cfg.node_id);
}

/* ----------------------------------------------------- state updates */

static void on_alive(struct gossip *g, const struct wire_member *wm)
{
    struct gossip_member *m = member_find(g, wm->id);
    if (m == &g->members[0]) {
        /* Someone announces us with a newer incarnation than ours (a former
         * life of this node): out-bid it. */
        if (!g->leaving && wm->incarnation > m->incarnation)
            member_refute(g, wm->incarnation);
        else
            g->st.stale_updates++;
        return;
    }
    if (!m) {
        if (wm->addr_len == 0) {
            g->st.unexpected_msgs++;
            return;
        }
        m = member_add(g, wm);
        if (!m)
            return;
        notify(g, m);
        member_broadcast(g, m, wm->id);
        return;
    }
    if (wm->incarnation <= m->incarnation) {
        g->st.stale_updates++;
        return;
    }
    /* A newer life may have moved: take its address and name. */
    if (wm->addr_len > 0 &&
        (m->addr_len != wm->addr_len || memcmp(member_addr(g, m), wm->addr, wm->addr_len) != 0 ||
         m->name_len != wm->name_len || memcmp(member_name(g, m), wm->name, wm->name_len) != 0))
        set_strings(g, m, wm->name, wm->name_len, wm->addr, wm->addr_len);
    member_set_state(g, m, GOSSIP_ALIVE, wm->incarnation);
    member_broadcast(g, m, wm->id);
}

int gossip_restore_member(struct gossip *g, uint64_t id, const char *name, const char *addr,
                          uint64_t incarnation, uint64_t now_ms)
{
    if (!g)
        return GKV_EINVAL;
    gossip_clock(g, now_ms);
    if (id == 0 || id == g->cfg.node_id || !addr || !addr[0])
        return GKV_EINVAL;
    if (!name)
        name = "";
    size_t name_len = strnlen(name, WIRE_MAX_NAME + 1);
    size_t addr_len = strnlen(addr, WIRE_MAX_ADDR + 1);
    if (name_len > WIRE_MAX_NAME || addr_len > WIRE_MAX_ADDR)
        return GKV_EINVAL;
    struct wire_member wm = {.id = id,
                             .name = name,
                             .name_len = (uint32_t)name_len,
                             .addr = addr,
                             .addr_len = (uint32_t)addr_len,
                             .incarnation = incarnation,
                             .state = WIRE_STATE_ALIVE};
    struct gossip_member *m = member_find(g, id);
    if (!m) {
        uint64_t refused = g->st.members_limit_refused;
        m = member_add(g, &wm);
        if (!m)
            return g->st.members_limit_refused != refused ? GKV_ELIMIT : GKV_ENOMEM;
        notify(g, m);
        return 0;
    }
    if (incarnation <= m->incarnation)
        return GKV_EEXIST;
    if (m->addr_len != addr_len || memcmp(member_addr(g, m), addr, addr_len) != 0 ||
        m->name_len != name_len || memcmp(member_name(g, m), name, name_len) != 0) {
        int rc = set_strings(g, m, name, name_len, addr, addr_len);
        if (rc < 0)
            return rc;
    }
    member_set_state(g, m, GOSSIP_ALIVE, incarnation);
    return 0;
}

void member_on_suspect(struct gossip *g, const struct wire_member *wm, uint64_t from_id)
{
    struct gossip_member *m = member_find(g, wm->id);
    if (!m || wm->incarnation < m->incarnation) {
        g->st.stale_updates++;
        return;
    }
    if (m == &g->members[0]) {
        if (!g->leaving)
            member_refute(g, wm->incarnation);
        return;
    }
    if (m->state == GOSSIP_DEAD || m->state == GOSSIP_LEFT) {
        g->st.stale_updates++;
        return;
    }
    if (m->state == GOSSIP_SUSPECT) {
        if (wm->incarnation > m->incarnation)
            m->incarnation = wm->incarnation;
        /* Lifeguard: an independent accuser shortens the timer; pass the
         * confirmation on so others count it too. */
        if (suspicion_confirm(suspicion_of(g, m->id), from_id)) {
            g->st.suspicion_confirmations++;
            member_broadcast(g, m, from_id);
        }
        return;
    }
    size_t n = member_live_count(g);
    uint32_t k = g->cfg.suspicion_mult > 2 ? g->cfg.suspicion_mult - 2 : 0;
    if (n < (size_t)k + 2 || g->cfg.lifeguard_off)
        k = 0;
    uint64_t min_ms = suspicion_min_timeout_ms(g->cfg.suspicion_mult, n, g->cfg.probe_interval_ms);
    /* Without Lifeguard the timer is SWIM's fixed one, the minimum: no
     * long start for a lone accuser, and with k = 0 no confirmations. */
    uint64_t max_ms = g->cfg.lifeguard_off ? min_ms : min_ms * g->cfg.suspicion_max_mult;
    member_set_state(g, m, GOSSIP_SUSPECT, wm->incarnation);
    if (m->state != GOSSIP_SUSPECT)
        return;
    suspicion_start(suspicion_of(g, m->id), from_id, k, min_ms, max_ms, g->now_ms);
    member_broadcast(g, m, from_id);
}

static void on_dead(struct gossip *g, const struct wire_member *wm, uint64_t from_id, bool left)
{
    struct gossip_member *m = member_find(g, wm->id);
    if (!m || wm->incarnation < m->incarnation) {
        g->st.stale_updates++;
        return;
    }
    if (left && from_id != wm->id) {
        g->st.unexpected_msgs++; /* only a member announces its own leave */
        return;
    }
    if (m->state == GOSSIP_DEAD || m->state == GOSSIP_LEFT) {
        g->st.stale_updates++;
        return;
    }
    if (m == &g->members[0]) {
        if (!g->leaving)
            member_refute(g, wm->incarnation);
        return;
    }
    member_set_state(g, m, left ? GOSSIP_LEFT : GOSSIP_DEAD, wm->incarnation);
    member_broadcast(g, m, from_id);
}

void member_apply(struct gossip *g, const struct wire_member *wm, uint8_t type, uint64_t from_id,
                  uint64_t sender_id)
{
    if (wm->id == 0 || wm->name_len > WIRE_MAX_NAME || wm->addr_len > WIRE_MAX_ADDR) {
        g->st.unexpected_msgs++;
        return;
    }
    switch (type) {
    case WIRE_ALIVE:
        on_alive(g, wm);
        break;
    case WIRE_SUSPECT:
        member_on_suspect(g, wm, from_id);
        break;
    case WIRE_DEAD:
        on_dead(g, wm, from_id, false);
        break;
    case WIRE_LEAVE:
        on_dead(g, wm, from_id, true);
        break;
    default: /* a record inside JOIN/STATE, accused by the sender */
        switch (wm->state) {
        case WIRE_STATE_ALIVE:
            on_alive(g, wm);
            break;
        case WIRE_STATE_SUSPECT:
            /* a suspect is probably alive: a joiner learns of it and probes
             * it itself; a known member gets the accusation */
            if (!member_find(g, wm->id) && wm->id != g->cfg.node_id) {
                on_alive(g, wm);
                break;
            }
            member_on_suspect(g, wm, sender_id);
            break;
        case WIRE_STATE_DEAD:
            /* second-hand death: suspect only (unknown members are ignored,
             * as in memberlist mergeState) */
            member_on_suspect(g, wm, sender_id);
            break;
        case WIRE_STATE_LEFT:
            if (member_find(g, wm->id))
                on_dead(g, wm, wm->id, true);
            break;
        default:
            g->st.unexpected_msgs++;
            break;
        }
        break;
    }
}

/* ------------------------------------------------------ state exchange */

/* Flush what enc holds to addr (a datagram, or a frame) and start again. */
static void state_flush(struct gossip *g, uint64_t to_id, const char *addr,
                        struct wire_encoder *enc, bool via_stream)
{
    if (enc->len == 0)
        return;
    if (via_stream) {
        gossip_send_frame(g, to_id, addr, enc->buf, enc->len);
        wire_encoder_init(enc, enc->buf, enc->cap);
    } else {
        gossip_send_datagram(g, to_id, addr, enc);
        gossip_dgram_begin(g, enc);
    }
}

void member_send_state(struct gossip *g, uint64_t to_id, const char *addr, uint8_t type,
                       bool is_reply, bool via_stream)
{
    struct wire_encoder enc;
    uint8_t *fbuf =
        via_stream && g->io.stream_send_cb ? gossip_frame_buf(g, GOSSIP_FRAME_TARGET) : NULL;
    if (via_stream && !fbuf)
        via_stream = false; /* no stream (or no memory for a frame): datagrams */
    if (via_stream)
        wire_encoder_init(&enc, fbuf, GOSSIP_FRAME_TARGET);
    else
        gossip_dgram_begin(g, &enc);
    /* A JOIN sent while alone: replies until the retry are a fresh
     * joiner's list (member_on_state). */
    if (type == WIRE_JOIN && member_live_count(g) <= 1)
        g->join_reply_until_ms = g->now_ms + g->cfg.probe_interval_ms;
    struct wire_msg *m = g->tx;
    size_t i = 0;
    /* bounded: every iteration advances i or flushes a non-empty buffer */
    while (i < g->nmembers) {
        if (enc.msgs >= WIRE_MAX_MSGS_DATAGRAM) { /* the receiver's per-packet cap */
            state_flush(g, to_id, addr, &enc, via_stream);
            continue;
        }
        size_t n = g->nmembers - i;
        if (n > WIRE_MAX_MEMBERS_MSG)
            n = WIRE_MAX_MEMBERS_MSG;
        gossip_msg_init(g, m, type);
        m->u.state.is_reply = is_reply;
        m->u.state.n = (uint32_t)n;
        for (size_t j = 0; j < n; j++)
            member_fill_wire(g, &g->members[i + j], &m->u.state.members[j]);
        uint32_t taken = 0;
        int rc = wire_encode_prefix(&enc, m, &taken);
        if (rc == GKV_ENOSPACE_MSG) {
            if (enc.len > 0) {
                state_flush(g, to_id, addr, &enc, via_stream);
                continue;
            }
            g->st.state_records_skipped++; /* one record larger than a datagram */
            i++;
            continue;
        }
        if (rc < 0 || taken == 0) {
            g->st.encode_errors++;
            i++;
            continue;
        }
        g->st.msgs_out++;
        i += taken;
    }
    state_flush(g, to_id, addr, &enc, via_stream);
    if (via_stream)
        gossip_frame_release(g);
    if (type == WIRE_STATE)
        g->st.states_sent++;
}

void member_on_state(struct gossip *g, const char *src, const struct wire_msg *m)
{
    const struct wire_state *s = &m->u.state;
    bool has_sender = false;
    if (m->type == WIRE_JOIN)
        g->st.joins_received++;
    else
        g->st.states_received++;
    /* A fresh joiner (no other live member yet) learning the list from a
     * reply re-broadcasts none of it: it is news to nobody but us, and N
     * joiners each re-gossiping N records would cost N^2 * L sends. Records
     * from a push, or learned by a node that already had a view (a healing
     * partition), are spread as usual. */
    g->quiet = s->is_reply && member_live_count(g) <= 1;
    for (uint32_t i = 0; i < s->n && i < WIRE_MAX_MEMBERS_MSG; i++) {
        if (s->members[i].id == m->sender_id)
            has_sender = true;
        member_apply(g, &s->members[i], WIRE_STATE, m->sender_id, m->sender_id);
    }
    g->quiet = false;
    /* The reply to our JOIN spans N / WIRE_MAX_MEMBERS_MSG messages, and
     * from the second one on we are no longer alone, so the records we
     * learn are queued for gossip (a join storm needs them spread). Our own
     * ALIVE (queued by gossip_join, or a restart's refutation of the DEAD
     * record the reply carried) would then wait behind ~N newer records:
     * N / 75 gossip rounds (9 s at N = 10,000, bench/sim_scale "rejoin").
     * Re-queue it after each message of the reply so it goes out first. */
    if (s->is_reply && g->now_ms < g->join_reply_until_ms && !g->leaving)
        member_broadcast(g, &g->members[0], g->cfg.node_id);
    /* Push-pull: answer a JOIN or a STATE push once. A push spans several
     * messages; only the one holding the sender's own record (a pusher
     * always includes itself) is answered, so one push gets one reply. */
    if (!g->leaving && has_sender && (m->type == WIRE_JOIN || !s->is_reply))
        member_send_state(g, m->sender_id, src, WIRE_STATE, true,
                          g->rx_stream); /* the way it came */
}

int member_leave(struct gossip *g)
{
    if (g->leaving)
        return GKV_ESTATE;
    g->leaving = true;
    g->probe.active = false;
    struct gossip_member *self = &g->members[0];
    member_set_state(g, self, GOSSIP_LEFT, self->incarnation);
    /* Our next life must out-bid this LEFT record at once: peers readmit a
     * left member only on a higher incarnation (on_alive), and a clean
     * shutdown does not bump the store's. So persist incarnation + 1 now
     * (the LEFT itself goes out at the current one). A failed write is
     * counted; the restarted node then refutes the LEFT it hears instead. */
    if (self->incarnation < UINT64_MAX &&
        store_set_incarnation(g->store, self->incarnation + 1) < 0)
        g->st.merge_errors++;
    member_broadcast(g, self, self->id);
    /* Tell a few members right away rather than waiting for the next round. */
    size_t idx[16];
    size_t want = g->cfg.gossip_fanout < 16 ? g->cfg.gossip_fanout : 16;
    size_t n = member_pick_random(g, want, 0, idx);
    for (size_t i = 0; i < n; i++) {
        struct wire_encoder enc;
        gossip_dgram_begin(g, &enc);
        if (spread_fill(g, &enc) > 0)
            gossip_send_datagram(g, g->members[idx[i]].id, member_addr(g, &g->members[idx[i]]),
                                 &enc);
    }
    return 0;
}
