/*
 * probe.c: the SWIM failure detector of member.c's table: the probe cycle,
 * indirect probes through relays, and the timers of member_tick (probes,
 * relays, suspicion, reclaim, join retry, reconnect).
 *
 * Failure detection, one probe at a time:
 *
 *   t0              PING target (membership updates piggybacked)
 *   t0 + timeout*   no ACK: PING_REQ to k random live members; each pings
 *                   the target for us and relays its ACK, or answers NACK
 *                   when its own ping times out (Lifeguard: a NACK proves the
 *                   relay, and so our own network, is fine)
 *   t0 + interval*  still no ACK: raise SUSPECT (suspicion.c timer)
 *   (* scaled by the local-health score + 1, Lifeguard "awareness")
 *
 * Targets come in a shuffled round-robin order: every live member is probed
 * once per pass, the order is reshuffled each pass, and a new member is
 * inserted at a random position of the remaining pass (SWIM section 4.3,
 * tarantool swim.c rounds, memberlist probe()). This bounds the time until a
 * failed member is first probed by any given prober to 2 passes.
 *
 * It reads and changes the table only through member.c's entry points
 * (member_find, member_set_state, member_on_suspect, member_remove,
 * member_broadcast): calls go probe.c -> member.c, never back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/gossip_int.h"
#include "gossip/seal.h"

/* ----------------------------------------------------------- probing */

static uint64_t scaled(const struct gossip *g, uint64_t ms)
{
    return ms * (g->awareness + 1);
}

/* With lifeguard_off the score stays 0, so scaled() is the identity. */
static void awareness_apply(struct gossip *g, int delta)
{
    if (g->cfg.lifeguard_off)
        return;
    int64_t a = (int64_t)g->awareness + delta;
    if (a < 0)
        a = 0;
    if (a > (int64_t)GOSSIP_AWARENESS_MAX - 1)
        a = GOSSIP_AWARENESS_MAX - 1;
    g->awareness = (uint32_t)a;
}

/* Send one small message (PING/PING_REQ/ACK/NACK) with updates piggybacked. */
static void send_with_piggyback(struct gossip *g, uint64_t to_id, const char *addr,
                                struct wire_msg *m)
{
    struct wire_encoder enc;
    gossip_dgram_begin(g, &enc);
    if (wire_encode(&enc, m) < 0) {
        g->st.encode_errors++;
        return;
    }
    g->st.msgs_out++;
    spread_fill(g, &enc);
    gossip_send_datagram(g, to_id, addr, &enc);
}

static void send_ping(struct gossip *g, const char *addr, uint32_t seq, uint64_t target_id)
{
    struct wire_msg *m = g->tx;
    gossip_msg_init(g, m, WIRE_PING);
    m->u.ping.seq = seq;
    m->u.ping.target_id = target_id;
    m->u.ping.source_id = g->cfg.node_id;
    m->u.ping.send_ms = g->wall_ms; /* t1 of a clock sample (clock.c) */
    send_with_piggyback(g, target_id, addr, m);
}

/* echo_ms: the PING's send time when we answer it ourselves (clock.c);
 * 0 for NACKs and relayed ACKs. */
static void send_ack(struct gossip *g, uint64_t to_id, const char *addr, uint8_t type, uint32_t seq,
                     uint64_t source_id, uint64_t echo_ms)
{
    struct wire_msg *m = g->tx;
    gossip_msg_init(g, m, type);
    m->u.ack.seq = seq;
    m->u.ack.source_id = source_id;
    m->u.ack.echo_ms = echo_ms;
    m->u.ack.reply_ms = echo_ms ? g->wall_ms : 0;
    send_with_piggyback(g, to_id, addr, m);
}

static struct gossip_member *next_probe_target(struct gossip *g)
{
    for (size_t steps = 0; steps <= g->order_n + 1; steps++) {
        if (g->order_pos >= g->order_n) {
            /* A new pass: rebuild from the table and reshuffle. */
            if (g->order_cap < g->nmembers) {
                uint32_t *o = realloc(g->order, g->nmembers * sizeof(*o));
                if (!o)
                    return NULL;
                g->order = o;
                g->order_cap = g->nmembers;
            }
            g->order_n = 0;
            for (size_t i = 1; i < g->nmembers; i++)
                if (g->members[i].state <= GOSSIP_SUSPECT)
                    g->order[g->order_n++] = (uint32_t)i;
            for (size_t i = g->order_n; i > 1; i--) { /* Fisher-Yates */
                size_t j = (size_t)gkv_rng_below(&g->rng, i);
                uint32_t t = g->order[i - 1];
                g->order[i - 1] = g->order[j];
                g->order[j] = t;
            }
            g->order_pos = 0;
            if (g->order_n == 0)
                return NULL;
        }
        size_t pos = g->order[g->order_pos++];
        if (pos == 0 || pos >= g->nmembers) /* removed (order_moved) */
            continue;
        struct gossip_member *m = &g->members[pos];
        if (m->state <= GOSSIP_SUSPECT)
            return m;
    }
    return NULL;
}

static void probe_start(struct gossip *g)
{
    struct gossip_member *t = next_probe_target(g);
    if (!t)
        return;
    struct gossip_probe *p = &g->probe;
    memset(p, 0, sizeof(*p));
    p->active = true;
    p->target_id = t->id;
    p->seq = ++g->next_seq;
    p->sent_ms = g->now_ms;
    p->direct_deadline_ms = g->now_ms + scaled(g, g->cfg.probe_timeout_ms);
    p->end_ms = g->now_ms + scaled(g, g->cfg.probe_interval_ms);
    g->st.probes_sent++;
    send_ping(g, member_addr(g, t), p->seq, t->id);
}

static void probe_indirect(struct gossip *g, struct gossip_member *t)
{
    struct gossip_probe *p = &g->probe;
    p->indirect_sent = true;
    size_t idx[32];
    size_t want = g->cfg.indirect_checks < 32 ? g->cfg.indirect_checks : 32;
    size_t n = member_pick_random(g, want, t->id, idx);
    /* copy the target address: encoding may not move it, but be explicit */
    char target_addr[WIRE_MAX_ADDR + 1];
    snprintf(target_addr, sizeof(target_addr), "%s", member_addr(g, t));
    uint64_t target_id = t->id;
    for (size_t i = 0; i < n; i++) {
        struct wire_msg *m = g->tx;
        gossip_msg_init(g, m, WIRE_PING_REQ);
        m->u.ping_req.seq = p->seq;
        m->u.ping_req.target_id = target_id;
        m->u.ping_req.target_addr = target_addr;
        m->u.ping_req.target_addr_len = (uint32_t)strlen(target_addr);
        m->u.ping_req.source_id = g->cfg.node_id;
        send_with_piggyback(g, g->members[idx[i]].id, member_addr(g, &g->members[idx[i]]), m);
        g->st.indirect_probes_sent++;
    }
    p->expected_nacks = (uint32_t)n;
}

static void probe_fail(struct gossip *g, struct gossip_member *t)
{
    struct gossip_probe *p = &g->probe;
    /* Lifeguard: missing NACKs from relays mean our own links are suspect;
     * with no relays to ask, any failed probe counts against us. */
    int delta = 1;
    if (p->expected_nacks > 0)
        delta = p->nacks < p->expected_nacks ? (int)(p->expected_nacks - p->nacks) : 0;
    awareness_apply(g, delta);
    p->active = false;
    struct wire_member wm;
    member_fill_wire(g, t, &wm);
    if (t->state == GOSSIP_ALIVE)
        g->st.suspicions_raised++;
    member_on_suspect(g, &wm, g->cfg.node_id);
}

static void probe_step(struct gossip *g)
{
    struct gossip_probe *p = &g->probe;
    if (g->leaving) {
        p->active = false;
        return;
    }
    if (p->active) {
        struct gossip_member *t = member_find(g, p->target_id);
        if (!t || t->state > GOSSIP_SUSPECT) {
            p->active = false;
        } else if (g->now_ms >= p->end_ms) {
            probe_fail(g, t);
        } else if (!p->indirect_sent && g->now_ms >= p->direct_deadline_ms) {
            probe_indirect(g, t);
        }
    }
    if (!p->active && g->now_ms >= g->next_probe_ms) {
        g->next_probe_ms = g->now_ms + g->cfg.probe_interval_ms;
        probe_start(g);
    }
}

void member_on_ping(struct gossip *g, const char *src, const struct wire_msg *m)
{
    g->st.pings_received++;
    clock_on_ping(g, m);
    if (m->u.ping.target_id != 0 && m->u.ping.target_id != g->cfg.node_id) {
        /* meant for a previous owner of this address: do not vouch for it */
        g->st.wrong_target++;
        return;
    }
    send_ack(g, m->sender_id, src, WIRE_ACK, m->u.ping.seq, g->cfg.node_id, m->u.ping.send_ms);
}

void member_on_ping_req(struct gossip *g, const char *src, const struct wire_msg *m)
{
    const struct wire_ping_req *r = &m->u.ping_req;
    if (r->target_id == g->cfg.node_id) {
        send_ack(g, m->sender_id, src, WIRE_ACK, r->seq, g->cfg.node_id, 0);
        return;
    }
    if (r->target_addr_len == 0 || r->target_addr_len > WIRE_MAX_ADDR) {
        g->st.unexpected_msgs++;
        return;
    }
    if (!g->relays) {
        g->relays = calloc(GOSSIP_RELAYS_MAX, sizeof(*g->relays));
        if (!g->relays) {
            g->st.relay_table_full++;
            return;
        }
    }
    struct gossip_relay *slot = NULL;
    for (size_t i = 0; i < GOSSIP_RELAYS_MAX && !slot; i++)
        if (!g->relays[i].used)
            slot = &g->relays[i];
    if (!slot) {
        g->st.relay_table_full++;
        return;
    }
    slot->used = true;
    g->nrelays++;
    slot->seq = ++g->next_seq;
    slot->origin_seq = r->seq;
    slot->target_id = r->target_id;
    /* NACK at 80% of the probe timeout: the asker sent the PING_REQ a
     * probe timeout after its PING and gives up one probe interval (= 2
     * timeouts by default) after it, so a full timeout here would land the
     * NACK just after the asker stopped counting. */
    slot->deadline_ms = g->now_ms + g->cfg.probe_timeout_ms * 4 / 5;
    slot->origin_id = m->sender_id;
    snprintf(slot->origin_addr, sizeof(slot->origin_addr), "%s", src);
    /* SWIM: the target address comes from the payload (the asker knows the
     * target; we may not yet). It opened under the cluster key. */
    char target_addr[WIRE_MAX_ADDR + 1];
    memcpy(target_addr, r->target_addr, r->target_addr_len);
    target_addr[r->target_addr_len] = 0;
    send_ping(g, target_addr, slot->seq, r->target_id);
}

void member_on_ack(struct gossip *g, const struct wire_msg *m)
{
    const struct wire_ack *a = &m->u.ack;
    struct gossip_probe *p = &g->probe;
    clock_on_ack(g, m);
    if (p->active && a->seq == p->seq && a->source_id == p->target_id) {
        p->active = false;
        p->acked = true;
        g->st.acks_received++;
        awareness_apply(g, -1);
        return;
    }
    for (size_t i = 0; i < GOSSIP_RELAYS_MAX && g->nrelays > 0; i++) {
        struct gossip_relay *r = &g->relays[i];
        if (r->used && r->seq == a->seq && r->target_id == a->source_id) {
            r->used = false;
            g->nrelays--;
            g->st.acks_relayed++;
            send_ack(g, r->origin_id, r->origin_addr, WIRE_ACK, r->origin_seq, r->target_id, 0);
            return;
        }
    }
    g->st.unexpected_msgs++; /* late ACK, after the probe ended: normal */
}

void member_on_nack(struct gossip *g, const struct wire_msg *m)
{
    g->st.nacks_received++;
    struct gossip_probe *p = &g->probe;
    if (p->active && m->u.ack.seq == p->seq && p->nacks < p->expected_nacks)
        p->nacks++;
}

static void relay_step(struct gossip *g)
{
    for (size_t i = 0; i < GOSSIP_RELAYS_MAX && g->nrelays > 0; i++) {
        struct gossip_relay *r = &g->relays[i];
        if (r->used && g->now_ms >= r->deadline_ms) {
            r->used = false;
            g->nrelays--;
            g->st.nacks_sent++;
            send_ack(g, r->origin_id, r->origin_addr, WIRE_NACK, r->origin_seq, g->cfg.node_id, 0);
        }
    }
}

static void suspicion_step(struct gossip *g)
{
    for (size_t i = g->nsuspects; i-- > 0;) {
        if (i >= g->nsuspects)
            continue;
        struct gossip_member *m = member_find(g, g->suspects[i]);
        if (!m) {
            g->nsuspects--;
            g->suspects[i] = g->suspects[g->nsuspects];
            g->susps[i] = g->susps[g->nsuspects];
            continue;
        }
        if (g->now_ms >= suspicion_deadline_ms(&g->susps[i])) {
            member_set_state(g, m, GOSSIP_DEAD, m->incarnation);
            g->st.deaths_declared++;
            member_broadcast(g, m, g->cfg.node_id);
        }
    }
}

static void reclaim_step(struct gossip *g)
{
    for (size_t n = 0; n < GOSSIP_RECLAIM_STEP && g->nmembers > 1; n++) {
        if (g->reclaim_pos < 1 || g->reclaim_pos >= g->nmembers)
            g->reclaim_pos = 1;
        struct gossip_member *m = &g->members[g->reclaim_pos];
        if ((m->state == GOSSIP_DEAD || m->state == GOSSIP_LEFT) &&
            g->now_ms - m->state_since_ms >= g->cfg.dead_reclaim_ms) {
            /* Its replay state goes too, or a cluster that churns through
             * members would hold every departed sender forever. */
            seal_ctx_forget_sender(g->seal, m->id);
            member_remove(g, g->reclaim_pos);
            g->st.members_reclaimed++;
            continue; /* the last member moved into this slot */
        }
        g->reclaim_pos++;
    }
}

/* Is addr the advertised address of a live member? */
static bool addr_is_live(const struct gossip *g, const char *addr)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (g->members[i].state <= GOSSIP_SUSPECT && strcmp(member_addr(g, &g->members[i]), addr) == 0)
            return true;
    return false;
}

/* memberlist#222: after a partition longer than the suspicion timeout, each
 * side believes the other dead and nothing would ever probe across again.
 * So every reconnect interval we push our state to one random dead member or
 * seed that is not a live member; the push-pull reply makes both sides
 * suspect-then-refute their way back to one view. */
static void reconnect_step(struct gossip *g)
{
    size_t nseeds = 0;
    const char *seeds[GOSSIP_SEEDS_MAX];
    for (size_t i = 0; i < g->nseeds; i++)
        if (!addr_is_live(g, g->seeds[i]))
            seeds[nseeds++] = g->seeds[i];
    size_t total = nseeds + g->st.dead;
    if (total == 0)
        return;
    size_t r = (size_t)gkv_rng_below(&g->rng, total);
    const char *addr = NULL;
    uint64_t to_id = 0; /* a seed: any receiver (its id is not known) */
    if (r < nseeds) {
        addr = seeds[r];
    } else {
        r -= nseeds;
        for (size_t i = 1; i < g->nmembers && !addr; i++)
            if (g->members[i].state == GOSSIP_DEAD && r-- == 0) {
                addr = member_addr(g, &g->members[i]);
                to_id = g->members[i].id;
            }
    }
    if (!addr)
        return;
    g->st.reconnects++;
    /* over the stream when the driver has one: a whole view in a few
     * frames instead of N / 25 datagrams, none of them lost */
    member_send_state(g, to_id, addr, WIRE_STATE, false, true);
}

/* Periodic push-pull with one random live member (memberlist
 * PushPullInterval): rumours are probabilistic, so a member can miss an
 * update that is never repeated (a join whose ALIVE did not reach it). A
 * full exchange every pushpull_interval_ms bounds how long views can
 * differ. Like memberlist's pushPullScale, the period (and the reconnect
 * period) grows with log2(N) past 32 members so the cluster-wide cost
 * stays near constant: a 2 s reconnect is 2 s up to 32 members, 12 s at
 * 1024, 20 s at 10,000. */
static uint64_t scaled_interval_ms(const struct gossip *g, uint32_t base_ms)
{
    size_t n = member_live_count(g);
    uint64_t mult = 1;
    for (size_t scaled_n = 32; scaled_n < n; scaled_n *= 2)
        mult++;
    return (uint64_t)base_ms * mult;
}

void member_tick(struct gossip *g)
{
    probe_step(g);
    relay_step(g);
    suspicion_step(g);
    reclaim_step(g);
    if (g->leaving)
        return;
    if (g->now_ms >= g->next_join_ms) {
        if (member_live_count(g) <= 1 && g->nseeds > 0) {
            /* still alone: the JOIN or its reply was lost */
            for (size_t i = 0; i < g->nseeds; i++) {
                member_send_state(g, 0, g->seeds[i], WIRE_JOIN, false, false);
                g->st.joins_sent++;
            }
            g->next_join_ms = g->now_ms + g->cfg.probe_interval_ms;
        } else {
            g->next_join_ms = UINT64_MAX;
        }
    }
    if (g->now_ms >= g->next_reconnect_ms) {
        g->next_reconnect_ms = g->now_ms + scaled_interval_ms(g, g->cfg.reconnect_interval_ms);
        reconnect_step(g);
    }
    if (g->now_ms >= g->next_pushpull_ms) {
        g->next_pushpull_ms = g->now_ms + scaled_interval_ms(g, g->cfg.pushpull_interval_ms);
        size_t idx[1];
        if (member_pick_random(g, 1, 0, idx) == 1) {
            g->st.pushpulls++;
            member_send_state(g, g->members[idx[0]].id, member_addr(g, &g->members[idx[0]]),
                              WIRE_STATE, false, true);
        }
    }
}

uint64_t member_next_deadline(const struct gossip *g)
{
    uint64_t t = g->next_probe_ms;
    const struct gossip_probe *p = &g->probe;
    if (p->active) {
        uint64_t d = p->indirect_sent ? p->end_ms : p->direct_deadline_ms;
        if (d < t)
            t = d;
    }
    for (size_t i = 0; i < GOSSIP_RELAYS_MAX && g->nrelays > 0; i++)
        if (g->relays[i].used && g->relays[i].deadline_ms < t)
            t = g->relays[i].deadline_ms;
    for (size_t i = 0; i < g->nsuspects; i++) {
        const struct gossip_member *m = member_find(g, g->suspects[i]);
        if (m) {
            uint64_t d = suspicion_deadline_ms(&g->susps[i]);
            if (d < t)
                t = d;
        }
    }
    if (g->next_join_ms < t)
        t = g->next_join_ms;
    if (g->next_reconnect_ms < t)
        t = g->next_reconnect_ms;
    if (g->next_pushpull_ms < t)
        t = g->next_pushpull_ms;
    return t;
}
