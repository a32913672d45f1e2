/*
 * clock.c: how far this node's clock is from the cluster's, and what the
 * node does about it (docs/ARCHITECTURE.md, "Clocks").
 *
 * Measurement (NTP's on-wire method, RFC 5905 section 8, from messages SWIM
 * already exchanges): a PING carries the prober's wall time t1; the ACK
 * echoes t1 and adds the acker's wall time t2 (= t3: the core answers in
 * the call that received the PING); the prober reads t4 on arrival. Then
 *
 *     offset (peer minus us) = ((t2 - t1) + (t3 - t4)) / 2
 *     round trip             = (t4 - t1) - (t3 - t2)
 *
 * and the true offset lies within round trip / 2 of the estimate, whatever
 * the asymmetry of the path. Samples whose round trip is negative or longer
 * than GOSSIP_CLOCK_RTT_MAX_MS are dropped (counted). Each peer keeps its
 * last GOSSIP_CLOCK_WINDOW samples and uses the one with the shortest round
 * trip, older ones counted a little longer (NTP's clock filter: the
 * least-delayed sample has the least error).
 *
 * The cluster's time is the median of the clocks this node knows: its own
 * (offset 0) and every measured member's that has not left (alive, suspect
 * or dead: the last offset measured). offset_ms = this node minus that
 * median. A median, not a mean, so a minority of bad clocks,
 * even ones that agree with each other, cannot move it: two fast nodes of
 * five are outliers to everyone, themselves included; two fast nodes of
 * three are the cluster's time and the third node follows them.
 *
 * What the node does with it (bound = the HLC's max_offset_ms, 500 ms):
 *   - behind by more than bound / 2: the HLC's wall time is moved forward by
 *     the offset (hlc.correction_ms), so the node accepts its peers'
 *     versions (judged against the cluster's time, not its slow clock) and
 *     stamps its own writes on the cluster's clock, so they do not lose to
 *     earlier writes elsewhere. Moving an HLC forward is always safe: it is
 *     what observing a newer remote version does anyway.
 *   - a write the node would stamp more than bound ahead of the cluster's
 *     time (its clock is ahead, or its HLC still holds versions stamped
 *     while it was) is refused (GKV_ECLOCKSKEW): peers would refuse the
 *     version, so acknowledging it would strand it. An HLC cannot move
 *     back, so a fast node cannot be corrected the same way.
 *
 * A PING's t1 alone shows when a peer's clock jumped (clock_on_ping).
 * The driver reports steps of its own wall clock (gossip_clock_stepped, seen
 * against a monotonic clock): every sample is shifted by the step at once,
 * so a jump is known before the next round trip.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/gossip_int.h"

/* A sample whose round trip exceeds this is dropped: its error bound (half
 * of it) would be as large as the HLC bound itself. */
#define GOSSIP_CLOCK_RTT_MAX_MS 1000
/* A new sample further than this from the peer's filtered offset starts its
 * window afresh: the peer's clock stepped, the old samples are history. */
#define GOSSIP_CLOCK_RESET_MS 100
/* Sample ageing for the filter (sample_score). */
#define GOSSIP_CLOCK_AGE_MS 100

static uint64_t clock_bound_ms(const struct gossip *g)
{
    return store_hlc(g->store)->max_offset_ms;
}

/* A sample's error bound grows as it ages, because the peer's clock may
 * have moved since (NTP adds 15 ppm of dispersion a second; clocks under
 * test here slew and strobe far faster, so 1 ms per GOSSIP_CLOCK_AGE_MS). */
static uint64_t sample_score(const struct gossip_clock_peer *p, uint32_t i, uint64_t now_ms)
{
    uint64_t age = now_ms > p->at_ms[i] ? now_ms - p->at_ms[i] : 0;
    return p->rtt_ms[i] + age / GOSSIP_CLOCK_AGE_MS;
}

static void peer_filter(struct gossip_clock_peer *p, uint64_t now_ms)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < p->n; i++)
        if (sample_score(p, i, now_ms) < sample_score(p, best, now_ms))
            best = i;
    p->offset_ms = p->off_ms[best];
    p->rtt_best_ms = p->rtt_ms[best];
}

static struct gossip_clock_peer *peer_slot(struct gossip *g, uint64_t id)
{
    struct gossip_clock *c = g->clk;
    struct gossip_clock_peer *oldest = NULL;
    for (uint32_t i = 0; i < c->npeers; i++) {
        if (c->peers[i].id == id)
            return &c->peers[i];
        if (!oldest || c->peers[i].last_ms < oldest->last_ms)
            oldest = &c->peers[i];
    }
    /* A full table forgets the peer measured longest ago (in a large
     * cluster every peer is probed in turn; 32 recent ones make a median). */
    struct gossip_clock_peer *p =
        c->npeers < GOSSIP_CLOCK_PEERS_MAX ? &c->peers[c->npeers++] : oldest;
    memset(p, 0, sizeof(*p));
    p->id = id;
    return p;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every member measured that has not left counts, reachable or not: a
 * partition does not change who the cluster is, so a side where bad clocks
 * are the local majority does not start following them. */
static bool peer_counted(const struct gossip *g, const struct gossip_clock_peer *p)
{
    const struct gossip_member *m = member_find(g, p->id);
    return m && m->state != GOSSIP_LEFT && p->n > 0;
}

/* Recompute the median and hand the correction to the HLC. */
void clock_update(struct gossip *g)
{
    struct gossip_clock *c = g->clk;
    if (!c)
        return;
    int64_t v[GOSSIP_CLOCK_PEERS_MAX + 1];
    uint32_t n = 0;
    v[n++] = 0; /* our own clock counts too */
    for (uint32_t i = 0; i < c->npeers; i++)
        if (peer_counted(g, &c->peers[i]))
            v[n++] = c->peers[i].offset_ms;
    qsort(v, n, sizeof(v[0]), cmp_i64);
    /* Even count: the lower middle, i.e. the one that makes us look further
     * ahead and less behind. A tie (two nodes, or two against two) cannot
     * say whose clock is wrong; this way each side refuses writes rather
     * than strand them and none moves its HLC forward on a guess. */
    int64_t median = v[(n - 1) / 2];
    c->offset_ms = -median;
    c->measured = n - 1;
    uint64_t bound = clock_bound_ms(g);
    int64_t behind_ms = -c->offset_ms;
    store_hlc(g->store)->correction_ms =
        behind_ms > (int64_t)(bound / 2) ? (uint64_t)behind_ms : 0;
}

void clock_tick(struct gossip *g)
{
    /* Members die and come back without a new sample: refresh the median
     * once a probe interval. */
    if (g->clk && g->now_ms >= g->clk->next_update_ms) {
        g->clk->next_update_ms = g->now_ms + g->cfg.probe_interval_ms;
        clock_update(g);
    }
}

static struct gossip_clock *clock_state(struct gossip *g)
{
    if (!g->clk)
        g->clk = calloc(1, sizeof(*g->clk));
    return g->clk;
}

void clock_on_ack(struct gossip *g, const struct wire_msg *m)
{
    const struct wire_ack *a = &m->u.ack;
    /* Only a direct answer measures the acker: a relayed ACK carries no
     * times, and the sealed sender must be the one who answered. */
    if (!a->echo_ms || !a->reply_ms || m->sender_id != a->source_id ||
        !member_find(g, a->source_id) || !clock_state(g))
        return;
    struct gossip_clock *c = g->clk;
    int64_t t1 = (int64_t)a->echo_ms, t2 = (int64_t)a->reply_ms, t4 = (int64_t)g->wall_ms;
    int64_t rtt = t4 - t1;
    if (rtt < 0 || rtt > GOSSIP_CLOCK_RTT_MAX_MS) {
        c->samples_dropped++;
        return;
    }
    int64_t off = ((t2 - t1) + (t2 - t4)) / 2;
    struct gossip_clock_peer *p = peer_slot(g, a->source_id);
    if (p->n > 0 && llabs(off - p->offset_ms) > GOSSIP_CLOCK_RESET_MS)
        p->n = p->pos = 0;
    p->off_ms[p->pos] = off;
    p->rtt_ms[p->pos] = (uint32_t)rtt;
    p->at_ms[p->pos] = g->now_ms;
    p->pos = (p->pos + 1) % GOSSIP_CLOCK_WINDOW;
    if (p->n < GOSSIP_CLOCK_WINDOW)
        p->n++;
    p->last_ms = g->now_ms;
    p->samples++;
    c->samples++;
    peer_filter(p, g->now_ms);
    clock_update(g);
}

void clock_on_ping(struct gossip *g, const struct wire_msg *m)
{
    /* A PING is half a round trip: t1 - t2 = offset - one-way delay. Too
     * loose to refine an estimate, but a peer whose clock jumped shows at
     * once, not after our next probe of it (up to N probe intervals): the
     * record restarts from this sample, marked with the worst round trip so
     * that the next real round trip replaces it in the filter. */
    if (!g->clk || !m->u.ping.send_ms || m->sender_id != m->u.ping.source_id)
        return;
    struct gossip_clock *c = g->clk;
    for (uint32_t i = 0; i < c->npeers; i++) {
        struct gossip_clock_peer *p = &c->peers[i];
        if (p->id != m->sender_id || p->n == 0)
            continue;
        /* t1 = T + peer, t2 = T + delay + us: peer - us = t1 - t2 + delay */
        int64_t off = (int64_t)m->u.ping.send_ms - (int64_t)g->wall_ms + p->rtt_best_ms / 2;
        if (llabs(off - p->offset_ms) <= GOSSIP_CLOCK_RESET_MS + (int64_t)p->rtt_best_ms)
            return;
        p->n = 1;
        p->pos = 1 % GOSSIP_CLOCK_WINDOW;
        p->off_ms[0] = off;
        p->rtt_ms[0] = GOSSIP_CLOCK_RTT_MAX_MS;
        p->at_ms[0] = g->now_ms;
        p->last_ms = g->now_ms;
        c->jumps_seen++;
        peer_filter(p, g->now_ms);
        clock_update(g);
        return;
    }
}

void gossip_clock_stepped(struct gossip *g, int64_t step_ms)
{
    if (!clock_state(g))
        return;
    struct gossip_clock *c = g->clk;
    c->steps++;
    /* Our clock moved by step_ms: every peer is step_ms less ahead of us. */
    for (uint32_t i = 0; i < c->npeers; i++) {
        struct gossip_clock_peer *p = &c->peers[i];
        for (uint32_t k = 0; k < p->n; k++)
            p->off_ms[k] -= step_ms;
        p->offset_ms -= step_ms;
    }
    clock_update(g);
}

void gossip_clock_get(const struct gossip *g, uint64_t now_ms, struct gossip_clock_info *out)
{
    memset(out, 0, sizeof(*out));
    const struct hlc *h = store_hlc(g->store);
    out->bound_ms = h->max_offset_ms;
    out->correction_ms = h->correction_ms;
    const struct gossip_clock *c = g->clk;
    if (c) {
        out->offset_ms = c->offset_ms;
        out->peers_measured = c->measured;
        out->samples = c->samples;
        out->samples_dropped = c->samples_dropped;
        out->steps = c->steps;
        out->peer_jumps = c->jumps_seen;
    }
    /* The next stamp's ms part against the cluster's time. */
    int64_t cluster_now = (int64_t)now_ms - out->offset_ms;
    int64_t stamp = (int64_t)(now_ms + h->correction_ms);
    if ((int64_t)HLC_MS(h->last) > stamp)
        stamp = (int64_t)HLC_MS(h->last);
    out->lead_ms = stamp - cluster_now;
    /* With no peer measured there is nobody to be wrong against. */
    out->writes_refused = out->peers_measured > 0 && out->lead_ms > (int64_t)out->bound_ms;
}

size_t gossip_clock_peer_count(const struct gossip *g)
{
    return g->clk ? g->clk->npeers : 0;
}

int gossip_clock_peer_get(const struct gossip *g, size_t i, struct gossip_peer_clock *out)
{
    if (!g->clk || i >= g->clk->npeers)
        return GKV_ENOTFOUND;
    const struct gossip_clock_peer *p = &g->clk->peers[i];
    out->id = p->id;
    out->offset_ms = p->offset_ms;
    out->rtt_ms = p->rtt_best_ms;
    out->samples = p->samples;
    out->age_ms = g->now_ms - p->last_ms;
    out->counted = peer_counted(g, p);
    return 0;
}

void clock_free(struct gossip *g)
{
    free(g->clk);
    g->clk = NULL;
}
