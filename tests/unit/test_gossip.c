/*
 * test_gossip.c: the gossip core, several cores wired together in one
 * process through the simulator's network (tests/sim/sim.h) run in fixed
 * 10 ms steps: every core ticks once per step and a datagram takes one
 * step. Real stores (anonymous memory), the real codec, the real sealed
 * envelope; every random choice from the seed, printed at start and
 * overridable with GKV_SEED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/rng.h"
#include "gossip/gossip.h"
#include "gossip/gossip_int.h"
#include "gossip/seal.h"
#include "gossip/wire.h"
#include "storage/store.h"
#include "tests/sim/sim.h"
#include "tests/test_seed.h"

#define NET_MAX_NODES 8
#define NET_STEP_MS 10u /* one tick of every core, and one hop of latency */
#define NET_LABEL SIM_LABEL

static uint64_t g_seed;

/* A view of simulator node i (tests/sim/sim.h): the pointers are refreshed
 * whenever the node's core changes (crash, restart). */
struct node {
    struct net *net;
    int index;
    const char *addr;
    const char *name;
    uint64_t id;
    struct store *store;
    struct seal_ctx *seal;
    struct gossip *g;
    bool down; /* crashed: its core is gone (sim_crash) */
    uint32_t member_events;
};

/* The simulator with a fixed 10 ms tick and 10 ms links: every core ticks
 * once per step and a datagram sent in one step arrives in the next. */
struct net {
    struct sim *sim;
    struct node nodes[NET_MAX_NODES];
    int n;
    struct seal_keyring *kr;
    uint64_t now; /* what every node's clock reads (no offset), after each step */
    bool cut[NET_MAX_NODES][NET_MAX_NODES]; /* cut[a][b]: a's packets to b are lost */
    void (*tune)(int i, struct gossip_config *cfg);
};

static void net_refresh(struct net *net)
{
    net->now = SIM_EPOCH_MS + sim_now_ms(net->sim);
    for (int i = 0; i < net->n; i++) {
        struct node *n = &net->nodes[i];
        n->g = sim_node_gossip(net->sim, (uint32_t)i);
        n->seal = sim_node_seal(net->sim, (uint32_t)i);
        n->store = sim_node_store(net->sim, (uint32_t)i);
        n->down = !sim_node_up(net->sim, (uint32_t)i);
    }
}

static void on_member(void *arg, struct sim *s, uint32_t i, const struct gossip_member_info *m)
{
    (void)s;
    (void)m;
    struct net *net = arg;
    net->nodes[i].member_events++;
}

static bool net_cut_cb(void *arg, uint32_t from, uint32_t to)
{
    struct net *net = arg;
    return net->cut[from][to];
}

/* The settings these tests were written for, then the test's own. */
static void net_node_config(void *arg, uint32_t i, struct gossip_config *cfg)
{
    struct net *net = arg;
    cfg->sync_interval_ms = 2000;
    cfg->reconnect_interval_ms = 5000;
    cfg->pushpull_interval_ms = 5000;
    if (net->tune)
        net->tune((int)i, cfg);
}

struct net_opts {
    bool streams;                                   /* cores get a stream_send_cb */
    void (*tune)(int i, struct gossip_config *cfg); /* node i's own settings; NULL: none */
    uint64_t grace_ms, bix_min_slots;               /* the stores' (0: store defaults) */
    bool deadline_ticks; /* tick each core at gossip_next_deadline, not every step */
};

/* nodes cores, none joined. */
static void net_start(struct net *net, int nodes, const struct net_opts *o)
{
    memset(net, 0, sizeof(*net));
    assert_true(nodes >= 1 && nodes <= NET_MAX_NODES);
    net->n = nodes;
    net->tune = o->tune;
    struct sim_config sc;
    sim_config_init(&sc, g_seed, (uint32_t)nodes);
    sc.link.latency_ms = NET_STEP_MS;
    sc.tick_ms = o->deadline_ticks ? 0 : NET_STEP_MS;
    sc.streams = o->streams;
    sc.store_capacity = 1024;
    sc.tombstone_grace_ms = o->grace_ms;
    sc.bucket_index_min_slots = o->bix_min_slots;
    sc.node_config_cb = net_node_config;
    sc.cut_cb = net_cut_cb;
    sc.cb_arg = net;
    assert_int_equal(sim_new(&sc, &net->sim), 0);
    sim_set_member_hook(net->sim, on_member, net);
    net->kr = sim_keyring(net->sim);
    for (int i = 0; i < nodes; i++) {
        net->nodes[i].net = net;
        net->nodes[i].index = i;
        net->nodes[i].addr = sim_node_addr(net->sim, (uint32_t)i);
        net->nodes[i].name = net->nodes[i].addr; /* the simulator names nodes by address */
        net->nodes[i].id = sim_node_id(net->sim, (uint32_t)i);
    }
    net_refresh(net);
}

static void net_init(struct net *net, int nodes, bool streams)
{
    net_start(net, nodes, &(struct net_opts){.streams = streams});
}

static void net_free(struct net *net)
{
    sim_free(net->sim);
}

static void net_step(struct net *net)
{
    sim_run_for(net->sim, NET_STEP_MS);
    net_refresh(net);
}

static void net_run(struct net *net, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += NET_STEP_MS)
        net_step(net);
}

typedef bool (*net_pred)(struct net *net, void *arg);

/* Run until pred holds (checked every step) or max_ms passes. Returns the
 * virtual time it took, or UINT64_MAX. */
static uint64_t net_run_until(struct net *net, uint64_t max_ms, net_pred pred, void *arg)
{
    uint64_t start = net->now;
    while (net->now - start < max_ms) {
        if (pred(net, arg))
            return net->now - start;
        net_step(net);
    }
    return pred(net, arg) ? net->now - start : UINT64_MAX;
}

/* Node i crashes (its core is dropped, its store kept). */
static void node_crash(struct net *net, int i)
{
    assert_int_equal(sim_crash(net->sim, (uint32_t)i, SIM_CRASH_KEEP_STORE), 0);
    net_refresh(net);
}

/* Packets sent to `to` since the start that named no node (datagrams and
 * frames). */
static uint64_t net_to_unknown(const struct net *net)
{
    struct sim_stats st;
    sim_stats(net->sim, &st);
    return st.dropped_bad_addr;
}

static int state_of(struct node *viewer, uint64_t id)
{
    struct gossip_member_info info;
    if (!viewer->g || gossip_member_find(viewer->g, id, &info) < 0)
        return -1;
    return (int)info.state;
}

static uint64_t incarnation_of(struct node *viewer, uint64_t id)
{
    struct gossip_member_info info;
    assert_int_equal(gossip_member_find(viewer->g, id, &info), 0);
    return info.incarnation;
}

/* Every live node sees every live node ALIVE. */
static bool all_see_all_alive(struct net *net, void *arg)
{
    (void)arg;
    for (int a = 0; a < net->n; a++) {
        if (net->nodes[a].down)
            continue;
        for (int b = 0; b < net->n; b++)
            if (!net->nodes[b].down && state_of(&net->nodes[a], net->nodes[b].id) != GOSSIP_ALIVE)
                return false;
    }
    return true;
}

static void join_all(struct net *net)
{
    for (int i = 1; i < net->n; i++)
        assert_int_equal(sim_join(net->sim, (uint32_t)i, 0), 0);
}

/* A cluster of n nodes joined through node 0, all seeing all alive. */
static void net_form(struct net *net, int n)
{
    net_init(net, n, false);
    join_all(net);
    assert_true(net_run_until(net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
}

/* ------------------------------------------------------------ membership */

static void test_gossip_join_through_one_seed_all_see_all(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 5, false);
    join_all(&net);
    /* Join = one JOIN/STATE round trip to the seed, then the newcomers'
     * ALIVE records spread by gossip: a few gossip intervals. */
    uint64_t took = net_run_until(&net, 5000, all_see_all_alive, NULL);
    assert_true(took != UINT64_MAX);
    printf("  5 nodes all see all alive after %llu ms\n", (unsigned long long)took);
    for (int i = 0; i < net.n; i++) {
        assert_int_equal(gossip_member_count(net.nodes[i].g), 5);
        struct gossip_member_info self;
        assert_int_equal(gossip_member_get(net.nodes[i].g, 0, &self), 0);
        assert_int_equal(self.id, net.nodes[i].id);
        assert_string_equal(self.addr, net.nodes[i].addr);
        assert_true(net.nodes[i].member_events >= 4);
    }
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_true(st.joins_received >= 4);
    assert_int_equal(st.alive, 5);
    net_free(&net);
}

static void test_gossip_join_retries_when_seed_comes_up_later(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 2, false);
    net.cut[0][1] = net.cut[1][0] = true; /* the seed is not reachable yet */
    join_all(&net);
    net_run(&net, 3000);
    assert_int_equal(gossip_member_count(net.nodes[1].g), 1);
    memset(net.cut, 0, sizeof(net.cut));
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct gossip_stats st;
    gossip_stats(net.nodes[1].g, &st);
    assert_true(st.joins_sent >= 2);
    net_free(&net);
}

static void test_gossip_probes_are_acked_and_nobody_is_suspected(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, false);
    join_all(&net);
    net_run(&net, 30000);
    assert_true(all_see_all_alive(&net, NULL));
    for (int i = 0; i < net.n; i++) {
        struct gossip_stats st;
        gossip_stats(net.nodes[i].g, &st);
        /* one probe per interval: about 30 in 30 s, each acked */
        assert_true(st.probes_sent >= 25);
        assert_true(st.acks_received + 2 >= st.probes_sent);
        assert_int_equal(st.suspicions_raised, 0);
        assert_int_equal(st.deaths_declared, 0);
        assert_int_equal(st.awareness, 0);
        assert_int_equal(st.seal_refused + st.decode_errors + st.sender_mismatch, 0);
    }
    net_free(&net);
}

struct watch {
    int viewer;
    uint64_t id;
    int state;
};

static bool viewer_sees(struct net *net, void *arg)
{
    struct watch *w = arg;
    return state_of(&net->nodes[w->viewer], w->id) == w->state;
}

static void test_gossip_crashed_node_suspect_then_dead_within_bound(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 4, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    net_run(&net, 3000);
    struct node *victim = &net.nodes[3];
    node_crash(&net, 3);
    struct gossip_config cfg;
    gossip_config_init(&cfg);
    /* Bounds from docs/GOSSIP.md with N = 4 members:
     *  - each prober reaches the victim within 2 passes of N - 1 targets,
     *    then the probe runs one interval (awareness stays 0: the relays
     *    answer NACKs, so the failure is not held against the prober);
     *  - then the suspicion timer: k = mult - 2 = 2 confirmations wanted,
     *    min = mult * max(1, log10 N) * interval = 4 s, max = 6 * min; the
     *    other two live nodes confirm, which drives it to min. */
    uint64_t n = 4;
    uint64_t first_probe_bound = 2 * (n - 1) * cfg.probe_interval_ms + cfg.probe_interval_ms;
    uint64_t min_ms = suspicion_min_timeout_ms(cfg.suspicion_mult, n, cfg.probe_interval_ms);
    uint64_t max_ms = min_ms * cfg.suspicion_max_mult;
    assert_int_equal(min_ms, 4000);
    /* Step until the first survivor suspects the victim, then until the
     * first one declares it dead (it may learn DEAD by gossip before its
     * own timer runs out, so the timer is checked on the first death). */
    uint64_t start = net.now, t_suspect = UINT64_MAX, t_dead = UINT64_MAX;
    while (net.now - start < first_probe_bound + max_ms + 1000 && t_dead == UINT64_MAX) {
        net_step(&net);
        for (int i = 0; i < 3; i++) {
            int st_i = state_of(&net.nodes[i], victim->id);
            if (st_i == GOSSIP_SUSPECT && t_suspect == UINT64_MAX)
                t_suspect = net.now - start;
            if (st_i == GOSSIP_DEAD && t_dead == UINT64_MAX)
                t_dead = net.now - start;
        }
    }
    assert_true(t_suspect != UINT64_MAX && t_dead != UINT64_MAX);
    printf("  crash: first suspect after %llu ms, first dead %llu ms later (min %llu, max %llu)\n",
           (unsigned long long)t_suspect, (unsigned long long)(t_dead - t_suspect),
           (unsigned long long)min_ms, (unsigned long long)max_ms);
    assert_true(t_suspect <= first_probe_bound + NET_STEP_MS);
    assert_true(t_dead - t_suspect + NET_STEP_MS >= min_ms);
    assert_true(t_dead - t_suspect <= max_ms + NET_STEP_MS);
    /* every survivor agrees soon after (dissemination) */
    net_run(&net, 3000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_of(&net.nodes[i], victim->id), GOSSIP_DEAD);
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.alive, 3);
    assert_int_equal(st.dead, 1);
    /* the relays answered NACKs: the failures were not held against us */
    uint64_t nacks = 0;
    for (int i = 0; i < 3; i++) {
        gossip_stats(net.nodes[i].g, &st);
        nacks += st.nacks_received;
        assert_int_equal(st.awareness, 0);
    }
    assert_true(nacks > 0);
    net_free(&net);
}

static bool someone_suspects(struct net *net, void *arg)
{
    uint64_t id = *(uint64_t *)arg;
    for (int i = 0; i < net->n; i++)
        if (net->nodes[i].id != id && state_of(&net->nodes[i], id) == GOSSIP_SUSPECT)
            return true;
    return false;
}

/* Seal msg as coming from a test insider (holds the cluster key, not a
 * member) and deliver it to node n. */
static void inject(struct net *net, struct node *n, struct seal_ctx *insider,
                   const struct wire_msg *msg)
{
    uint8_t pt[1400], sealed[1600];
    struct wire_encoder enc;
    wire_encoder_init(&enc, pt, sizeof(pt));
    assert_int_equal(wire_encode(&enc, msg), 0);
    size_t slen = 0;
    assert_int_equal(seal_seal(insider, n->id, pt, enc.len, sealed, sizeof(sealed), &slen), 0);
    gossip_recv(n->g, "10.9.9.9:1", sealed, slen, net->now);
}

static bool all_agree_on_incarnation(struct net *net, void *arg)
{
    struct node *c = arg;
    uint64_t inc = incarnation_of(c, c->id);
    for (int i = 0; i < net->n; i++)
        if (incarnation_of(&net->nodes[i], c->id) != inc)
            return false;
    return all_see_all_alive(net, NULL);
}

static void test_gossip_suspected_node_refutes_and_persists_incarnation(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct node *c = &net.nodes[2];
    uint64_t inc0 = incarnation_of(c, c->id);
    /* A rumour that c is suspect reaches node 0 (from an insider that
     * holds the cluster key); node 0 starts its timer and spreads it. */
    struct seal_ctx *insider;
    assert_int_equal(seal_ctx_new(net.kr, NET_LABEL, 4243, 1, &insider), 0);
    struct wire_msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->type = WIRE_SUSPECT;
    m->version = WIRE_VERSION;
    m->sender_id = 4243;
    m->sender_hlc = HLC_MAKE(net.now, 0);
    m->u.suspicion.member.id = c->id;
    m->u.suspicion.member.name = c->name;
    m->u.suspicion.member.name_len = (uint32_t)strlen(c->name);
    m->u.suspicion.member.addr = c->addr;
    m->u.suspicion.member.addr_len = (uint32_t)strlen(c->addr);
    m->u.suspicion.member.incarnation = inc0;
    m->u.suspicion.member.state = WIRE_STATE_SUSPECT;
    m->u.suspicion.from_id = 4243;
    inject(&net, &net.nodes[0], insider, m);
    assert_int_equal(state_of(&net.nodes[0], c->id), GOSSIP_SUSPECT);
    /* c hears the rumour (gossip, or node 0's probe piggyback) well before
     * the 4 s timer and refutes with a higher, persisted incarnation. */
    uint64_t took = net_run_until(&net, 3500, all_agree_on_incarnation, c);
    assert_true(took != UINT64_MAX);
    uint64_t inc1 = incarnation_of(c, c->id);
    assert_true(inc1 > inc0);
    assert_int_equal(store_incarnation(c->store), inc1);
    struct gossip_stats st;
    gossip_stats(c->g, &st);
    assert_int_equal(st.refutations, 1);
    assert_int_equal(st.incarnation, inc1);
    for (int i = 0; i < 2; i++) {
        gossip_stats(net.nodes[i].g, &st);
        assert_int_equal(st.deaths_declared, 0);
    }
    /* an old rumour (lower incarnation) changes nothing */
    inject(&net, &net.nodes[1], insider, m);
    assert_int_equal(state_of(&net.nodes[1], c->id), GOSSIP_ALIVE);
    gossip_stats(net.nodes[1].g, &st);
    assert_true(st.stale_updates >= 1);
    free(m);
    seal_ctx_free(insider);
    net_free(&net);
}

static void test_gossip_indirect_probe_avoids_false_suspicion(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 4, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    /* node 0 and node 3 cannot talk directly; both reach everyone else */
    net.cut[0][3] = net.cut[3][0] = true;
    net_run(&net, 30000);
    assert_true(all_see_all_alive(&net, NULL));
    struct gossip_stats st0, st3;
    gossip_stats(net.nodes[0].g, &st0);
    gossip_stats(net.nodes[3].g, &st3);
    assert_true(st0.indirect_probes_sent > 0);
    assert_true(st3.indirect_probes_sent > 0);
    uint64_t relayed = 0;
    for (int i = 1; i < 3; i++) {
        struct gossip_stats st;
        gossip_stats(net.nodes[i].g, &st);
        relayed += st.acks_relayed;
    }
    assert_true(relayed > 0);
    assert_int_equal(st0.suspicions_raised + st3.suspicions_raised, 0);
    net_free(&net);
}

static void test_gossip_brief_partition_ends_with_everyone_alive(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct node *c = &net.nodes[2];
    for (int i = 0; i < 2; i++)
        net.cut[i][2] = net.cut[2][i] = true;
    assert_true(net_run_until(&net, 10000, someone_suspects, &c->id) != UINT64_MAX);
    memset(net.cut, 0, sizeof(net.cut));
    /* Rumours sent into the cut are lost, so a suspicion may run out and be
     * refuted as a death: within one suspicion timeout (4 s) plus gossip. */
    assert_true(net_run_until(&net, 8000, all_agree_on_incarnation, c) != UINT64_MAX);
    net_free(&net);
}

static void test_gossip_leave_marks_member_left_not_dead(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct node *c = &net.nodes[2];
    assert_int_equal(gossip_leave(c->g, net.now), 0);
    assert_int_equal(gossip_leave(c->g, net.now), GKV_ESTATE);
    net_run(&net, 1000); /* keep ticking a moment so the leave spreads */
    node_crash(&net, c->index);
    net_run(&net, 30000);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(state_of(&net.nodes[i], c->id), GOSSIP_LEFT);
        struct gossip_stats st;
        gossip_stats(net.nodes[i].g, &st);
        assert_int_equal(st.deaths_declared, 0);
        assert_int_equal(st.left, 1);
    }
    net_free(&net);
}

/* A new core for node n on its old store (a process restart after a clean
 * shutdown): seal epoch 2, incarnation from the store, joins through seed. */
static void node_restart_on_store(struct net *net, struct node *n, int seed)
{
    const char *addr = net->nodes[seed].addr;
    assert_int_equal(sim_restart_through(net->sim, (uint32_t)n->index, &addr, 1), 0);
    net_refresh(net);
}

/* Issue 22: a member that left gracefully and comes back is readmitted by
 * the first peer it contacts, from its JOIN alone: the leave persisted an
 * incarnation above the one its LEFT record carries, so no refutation
 * round trip is needed. */
static void test_gossip_left_member_returns_with_higher_incarnation(void **state)
{
    (void)state;
    struct net net;
    net_form(&net, 3);
    struct node *c = &net.nodes[2];
    uint64_t inc_left = incarnation_of(c, c->id);
    assert_int_equal(gossip_leave(c->g, net.now), 0);
    assert_true(store_incarnation(c->store) > inc_left);
    net_run(&net, 1000);
    node_crash(&net, c->index);
    net_run(&net, 3000);
    for (int i = 0; i < 2; i++)
        assert_int_equal(state_of(&net.nodes[i], c->id), GOSSIP_LEFT);

    node_restart_on_store(&net, c, 1);
    /* JOIN there, its ALIVE gossiped on: a few steps, no probe round */
    uint64_t took = net_run_until(&net, 1000, all_see_all_alive, NULL);
    assert_true(took != UINT64_MAX);
    for (int i = 0; i < 2; i++)
        assert_true(incarnation_of(&net.nodes[i], c->id) > inc_left);
    struct gossip_stats st;
    gossip_stats(c->g, &st);
    assert_int_equal(st.refutations, 0); /* readmitted on its JOIN, not a refutation */
    net_free(&net);
}

static void reclaim_after_20s(int i, struct gossip_config *cfg)
{
    (void)i;
    cfg->dead_reclaim_ms = 20000;
}

static void test_gossip_dead_member_reclaimed_after_dead_reclaim_ms(void **state)
{
    (void)state;
    struct net net;
    net_start(&net, 3, &(struct net_opts){.tune = reclaim_after_20s});
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    node_crash(&net, 2);
    struct watch w = {0, net.nodes[2].id, GOSSIP_DEAD};
    assert_true(net_run_until(&net, 30000, viewer_sees, &w) != UINT64_MAX);
    w.state = -1;
    uint64_t t = net_run_until(&net, 25000, viewer_sees, &w);
    assert_true(t != UINT64_MAX && t >= 19000);
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.members_reclaimed, 1);
    assert_int_equal(gossip_member_count(net.nodes[0].g), 2);
    net_free(&net);
}

static void node0_holds_two_members(int i, struct gossip_config *cfg)
{
    if (i == 0)
        cfg->max_members = 2;
}

static void test_gossip_member_limit_refuses_and_counts(void **state)
{
    (void)state;
    struct net net;
    net_start(&net, 4, &(struct net_opts){.tune = node0_holds_two_members});
    join_all(&net);
    net_run(&net, 5000);
    assert_int_equal(gossip_member_count(net.nodes[0].g), 2);
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_true(st.members_limit_refused >= 2);
    net_free(&net);
}

static void partition_case(bool streams)
{
    struct net net;
    net_init(&net, 4, streams);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    /* {0,1} | {2,3} for 40 s: each side declares the other dead */
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            net.cut[a][b] = (a < 2) != (b < 2);
    net_run(&net, 40000);
    assert_int_equal(state_of(&net.nodes[0], net.nodes[2].id), GOSSIP_DEAD);
    assert_int_equal(state_of(&net.nodes[3], net.nodes[1].id), GOSSIP_DEAD);
    memset(net.cut, 0, sizeof(net.cut));
    /* reconnect_interval_ms = 5 s in these tests: a STATE push to a dead
     * member, then suspicion + refutation on both sides */
    uint64_t took = net_run_until(&net, 60000, all_see_all_alive, NULL);
    assert_true(took != UINT64_MAX);
    printf("  partition healed (%s): all alive %llu ms after the links came back\n",
           streams ? "STATE over streams" : "STATE over datagrams", (unsigned long long)took);
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_true(st.reconnects >= 1);
    if (streams) /* push-pulls and reconnect pushes went as frames */
        assert_true(st.frames_out > 0 && st.frames_in > 0);
    net_free(&net);
}

static void test_gossip_partition_longer_than_suspicion_heals_by_itself(void **state)
{
    (void)state;
    partition_case(false);
}

static void test_gossip_partition_heals_with_state_over_streams(void **state)
{
    (void)state;
    partition_case(true);
}

static void test_gossip_wall_clock_stepped_back_keeps_probing(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct gossip_stats a, b;
    gossip_stats(net.nodes[0].g, &a);
    /* node 0's wall clock is stepped back one hour (NTP): protocol time
     * only moves forward, so its probes go on as before */
    sim_set_clock_offset(net.sim, 0, -3600000);
    net_run(&net, 20000);
    gossip_stats(net.nodes[0].g, &b);
    assert_true(b.probes_sent - a.probes_sent >= 17);
    assert_true(b.acks_received - a.acks_received >= 15);
    uint64_t wait = gossip_next_deadline(net.nodes[0].g, net.now - 3600000);
    assert_true(wait <= 1000);
    assert_true(all_see_all_alive(&net, NULL));
    for (int i = 0; i < net.n; i++) {
        gossip_stats(net.nodes[i].g, &b);
        assert_int_equal(b.suspicions_raised, 0);
    }
    /* and a long source address is refused, counted */
    char longsrc[200];
    memset(longsrc, 'a', sizeof(longsrc) - 1);
    longsrc[sizeof(longsrc) - 1] = 0;
    uint8_t junk[64] = {0};
    gossip_stats(net.nodes[1].g, &a);
    assert_int_equal(gossip_recv(net.nodes[1].g, longsrc, junk, sizeof(junk), net.now), GKV_EINVAL);
    gossip_stats(net.nodes[1].g, &b);
    assert_int_equal(b.unexpected_msgs, a.unexpected_msgs + 1);
    net_free(&net);
}

/* ---------------------------------------------------------------- data */

static bool has_value(struct node *n, const char *key, const char *value)
{
    struct entry e;
    if (store_get(n->store, key, strlen(key), &e) < 0)
        return false;
    if (!value)
        return entry_is_tombstone(&e);
    return !entry_is_tombstone(&e) && e.value_len == strlen(value) &&
           memcmp(e.value, value, e.value_len) == 0;
}

static void local_set(struct net *net, int i, const char *key, const char *value)
{
    struct node *n = &net->nodes[i];
    struct entry e;
    assert_int_equal(store_put(n->store, key, strlen(key), value, strlen(value), net->now, &e), 0);
    assert_int_equal(gossip_local_write(n->g, &e, net->now), 0);
}

struct kv {
    const char *key, *value;
};

static bool everyone_has(struct net *net, void *arg)
{
    struct kv *kv = arg;
    for (int i = 0; i < net->n; i++)
        if (!net->nodes[i].down && !has_value(&net->nodes[i], kv->key, kv->value))
            return false;
    return true;
}

static void test_gossip_local_write_spreads_to_every_node(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 5, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct gossip_stats st;
    gossip_stats(net.nodes[2].g, &st);
    uint64_t sent0 = st.deltas_sent;
    local_set(&net, 2, "greeting", "hello");
    struct kv kv = {"greeting", "hello"};
    uint64_t took = net_run_until(&net, 3000, everyone_has, &kv);
    assert_true(took != UINT64_MAX);
    printf("  one write reached 5 nodes in %llu ms\n", (unsigned long long)took);
    /* the origin sent it exactly L = max(retransmit_mult,
     * data_retransmit_mult) * ceil(log10(N + 1)) = 8 * ceil(log10 6) = 8
     * times (data deltas have their own budget, default 8, so rumours do
     * not die: docs/GOSSIP.md), then dropped it from its queue */
    net_run(&net, 3000);
    gossip_stats(net.nodes[2].g, &st);
    assert_int_equal(st.deltas_sent - sent0, 8);
    assert_int_equal(st.queued_deltas, 0);
    /* a delete spreads the same way (tombstone) */
    struct entry e;
    bool existed = false;
    assert_int_equal(store_del(net.nodes[4].store, "greeting", 8, net.now, &e, &existed), 0);
    assert_true(existed);
    assert_int_equal(gossip_local_write(net.nodes[4].g, &e, net.now), 0);
    kv.value = NULL;
    assert_true(net_run_until(&net, 3000, everyone_has, &kv) != UINT64_MAX);
    uint64_t applied = 0;
    for (int i = 0; i < net.n; i++) {
        gossip_stats(net.nodes[i].g, &st);
        applied += st.deltas_applied;
    }
    assert_true(applied >= 2); /* gossip did it (anti-entropy may help) */
    /* the queues drain: each copy is sent a bounded number of times */
    net_run(&net, 5000);
    for (int i = 0; i < net.n; i++) {
        gossip_stats(net.nodes[i].g, &st);
        assert_int_equal(st.queued_deltas, 0);
    }
    net_free(&net);
}

static void test_gossip_many_writes_pack_into_few_datagrams(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct gossip_stats before, after;
    gossip_stats(net.nodes[0].g, &before);
    char key[32], val[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        snprintf(val, sizeof(val), "v%03d", i);
        local_set(&net, 0, key, val);
    }
    net_run(&net, 10000);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        snprintf(val, sizeof(val), "v%03d", i);
        for (int n = 1; n < 3; n++)
            assert_true(has_value(&net.nodes[n], key, val));
    }
    gossip_stats(net.nodes[0].g, &after);
    uint64_t dgrams = after.datagrams_out - before.datagrams_out;
    uint64_t deltas = after.deltas_sent - before.deltas_sent;
    printf("  200 writes: %llu deltas in %llu datagrams\n", (unsigned long long)deltas,
           (unsigned long long)dgrams);
    assert_true(deltas >= 200);
    assert_true(deltas > 4 * dgrams); /* many per datagram */
    net_free(&net);
}

/* A full data queue is a burst gossip cannot carry: the queue is cleared
 * and nothing is queued until the burst is over (anti-entropy repairs it
 * all, spread_entry in gossip.c says why); then queueing resumes. */
static void queue_of_ten(int i, struct gossip_config *cfg)
{
    (void)i;
    cfg->max_queued_deltas = 10;
}

static void test_gossip_queue_overflow_clears_it_until_the_burst_ends(void **state)
{
    (void)state;
    struct net net;
    net_start(&net, 1, &(struct net_opts){.tune = queue_of_ten});
    struct gossip_config cfg;
    gossip_config_init(&cfg);
    net_node_config(&net, 0, &cfg);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "q%d", i);
        local_set(&net, 0, key, "x");
    }
    /* a newer version of a queued key replaces it: no growth, no drop */
    local_set(&net, 0, "q9", "y");
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.queued_deltas, 10);
    assert_int_equal(st.deltas_dropped_queue_full, 0);
    assert_int_equal(st.data_queue_overflows, 0);
    /* the 11th key overflows: all 10 queued and it are dropped */
    local_set(&net, 0, "q10", "x");
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.queued_deltas, 0);
    assert_int_equal(st.deltas_dropped_queue_full, 11);
    assert_int_equal(st.data_queue_overflows, 1);
    /* the burst goes on: nothing is queued */
    for (int i = 11; i < 25; i++) {
        snprintf(key, sizeof(key), "q%d", i);
        local_set(&net, 0, key, "x");
    }
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.queued_deltas, 0);
    assert_int_equal(st.deltas_dropped_queue_full, 25);
    assert_int_equal(st.data_queue_overflows, 1);
    /* quiet for longer than a sync interval: the burst is over */
    net_run(&net, cfg.sync_interval_ms + 500);
    local_set(&net, 0, "after", "x");
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.queued_deltas, 1);
    assert_int_equal(st.deltas_dropped_queue_full, 25);
    assert_int_equal(st.data_queue_overflows, 1);
    net_free(&net);
}

/* Mid-burst a queue GOSSIP_BURST_QUEUE_MAX deep overflows below the
 * configured bound; without a burst the same depth is queued. */
static void test_gossip_deep_queue_mid_burst_overflows(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 1, false);
    struct gossip_config cfg;
    gossip_config_init(&cfg);
    net_node_config(&net, 0, &cfg);
    char key[16];
    /* a burst: far more than GOSSIP_BURST_DELTAS_PER_ROUND in no time */
    for (unsigned i = 0; i < GOSSIP_BURST_QUEUE_MAX + 100; i++) {
        snprintf(key, sizeof(key), "b%u", i);
        local_set(&net, 0, key, "x");
    }
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.data_queue_overflows, 1);
    assert_int_equal(st.queued_deltas, 0);
    assert_int_equal(st.deltas_dropped_queue_full, GOSSIP_BURST_QUEUE_MAX + 100);
    net_free(&net);

    /* the same number of writes spread out (under a burst's rate) is queued */
    net_init(&net, 1, false);
    for (unsigned i = 0; i < GOSSIP_BURST_QUEUE_MAX + 100; i++) {
        snprintf(key, sizeof(key), "s%u", i);
        local_set(&net, 0, key, "x");
        if (i % (GOSSIP_BURST_DELTAS_PER_ROUND / 2) == 0)
            net_run(&net, cfg.gossip_interval_ms);
    }
    gossip_stats(net.nodes[0].g, &st);
    assert_int_equal(st.data_queue_overflows, 0);
    assert_int_equal(st.deltas_dropped_queue_full, 0);
    assert_true(st.queued_deltas > GOSSIP_BURST_QUEUE_MAX);
    net_free(&net);
}

static bool roots_equal(struct net *net, void *arg)
{
    (void)arg;
    uint64_t r = store_root_hash(net->nodes[0].store);
    for (int i = 1; i < net->n; i++)
        if (store_root_hash(net->nodes[i].store) != r)
            return false;
    return true;
}

/* After a burst on node 0 every bucket differs. In node 0's session with
 * node 1, node 1 pulls node 0's entries and holds its own push until the
 * pull has arrived, then pushes only the buckets the pull did not make
 * equal to node 0's digest: the few holding node 1's own unreplicated
 * writes, which still reach node 0. */
static void test_gossip_bulk_repair_pushes_only_what_the_pull_left(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 2, true);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    /* node 1's writes that gossip never carried (store only) */
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "own%d", i);
        struct entry e;
        assert_int_equal(store_put(net.nodes[1].store, key, strlen(key), "v1", 2, net.now, &e), 0);
    }
    const int burst = 6000;
    for (int i = 0; i < burst; i++) {
        snprintf(key, sizeof(key), "b%d", i);
        local_set(&net, 0, key, "x");
    }
    struct gossip_stats s0, s1;
    gossip_stats(net.nodes[0].g, &s0);
    assert_int_equal(s0.data_queue_overflows, 1);
    assert_true(net_run_until(&net, 30000, roots_equal, NULL) != UINT64_MAX);
    /* the held pushes come due (a sync interval, 2000 ms here, after the
     * request and 400 ms after the last REPAIR from node 0) */
    net_run(&net, 3 * 2000);
    assert_true(roots_equal(&net, NULL));
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "own%d", i);
        assert_true(has_value(&net.nodes[0], key, "v1"));
    }
    assert_true(has_value(&net.nodes[1], "b0", "x"));
    assert_true(has_value(&net.nodes[1], "b5999", "x"));
    gossip_stats(net.nodes[0].g, &s0);
    gossip_stats(net.nodes[1].g, &s1);
    printf("  node 1 deferred %llu bucket pushes, skipped %llu; node 0 received %llu repair "
           "entries, node 1 %llu\n",
           (unsigned long long)s1.repair_pushes_deferred,
           (unsigned long long)s1.repair_pushes_skipped,
           (unsigned long long)s0.repair_entries_received,
           (unsigned long long)s1.repair_entries_received);
    assert_true(s1.repair_pushes_deferred > STORE_BUCKETS / 2);
    /* at most the 5 buckets of node 1's own writes are pushed */
    assert_true(s1.repair_pushes_skipped + 5 >= s1.repair_pushes_deferred);
    net_free(&net);
}

static void test_gossip_large_entry_goes_over_the_stream(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, true);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    size_t len = 20000;
    char *big = malloc(len + 1);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++)
        big[i] = (char)('a' + i % 26);
    big[len] = 0;
    local_set(&net, 0, "big", big);
    struct kv kv = {"big", big};
    assert_true(net_run_until(&net, 3000, everyone_has, &kv) != UINT64_MAX);
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_true(st.delta_frames_sent >= 1);
    free(big);
    net_free(&net);
}

static void anti_entropy_case(bool streams)
{
    struct net net;
    net_init(&net, 2, streams);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    /* Writes applied straight to one store (as if their gossip was lost):
     * 300 keys only on node 1, 100 only on node 0, one key on both with
     * node 1 newer. */
    char key[32], val[64];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "b%04d", i);
        snprintf(val, sizeof(val), "from-b-%d", i);
        assert_int_equal(
            store_put(net.nodes[1].store, key, strlen(key), val, strlen(val), net.now, NULL), 0);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "a%04d", i);
        assert_int_equal(store_put(net.nodes[0].store, key, strlen(key), "A", 1, net.now, NULL), 0);
    }
    assert_int_equal(store_put(net.nodes[0].store, "both", 4, "old", 3, net.now, NULL), 0);
    net_step(&net);
    assert_int_equal(store_put(net.nodes[1].store, "both", 4, "new", 3, net.now, NULL), 0);
    assert_false(roots_equal(&net, NULL));
    uint64_t took = net_run_until(&net, 30000, roots_equal, NULL);
    assert_true(took != UINT64_MAX);
    printf("  anti-entropy (%s) converged in %llu ms\n", streams ? "stream" : "datagrams",
           (unsigned long long)took);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "b%04d", i);
        snprintf(val, sizeof(val), "from-b-%d", i);
        assert_true(has_value(&net.nodes[0], key, val));
    }
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "a%04d", i);
        assert_true(has_value(&net.nodes[1], key, "A"));
    }
    assert_true(has_value(&net.nodes[0], "both", "new"));
    struct gossip_stats s0, s1;
    gossip_stats(net.nodes[0].g, &s0);
    gossip_stats(net.nodes[1].g, &s1);
    assert_true(s0.repair_entries_received >= 300);
    assert_true(s1.repair_entries_received >= 100);
    if (streams)
        assert_true(s0.repair_frames_sent + s1.repair_frames_sent >= 2);
    /* Steady state: once in sync, a round is one small packet, no repair. */
    net_run(&net, 3000);
    gossip_stats(net.nodes[0].g, &s0);
    gossip_stats(net.nodes[1].g, &s1);
    uint64_t sent0 = s0.repair_entries_sent + s1.repair_entries_sent;
    uint64_t insync0 = s0.digests_in_sync + s1.digests_in_sync;
    net_run(&net, 10000);
    gossip_stats(net.nodes[0].g, &s0);
    gossip_stats(net.nodes[1].g, &s1);
    assert_int_equal(s0.repair_entries_sent + s1.repair_entries_sent, sent0);
    assert_true(s0.digests_in_sync + s1.digests_in_sync >= insync0 + 4);
    net_free(&net);
}

static void test_gossip_anti_entropy_repairs_divergent_stores(void **state)
{
    (void)state;
    anti_entropy_case(false);
}

static void test_gossip_anti_entropy_repairs_over_streams(void **state)
{
    (void)state;
    anti_entropy_case(true);
}

static void repair_2000_per_tick(int i, struct gossip_config *cfg)
{
    (void)i;
    cfg->repair_bytes_per_tick = 2000; /* about one datagram per tick */
}

static void test_gossip_repair_is_paced_per_tick(void **state)
{
    (void)state;
    struct net net;
    net_start(&net, 2, &(struct net_opts){.tune = repair_2000_per_tick});
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "p%05d", i);
        assert_int_equal(
            store_put(net.nodes[1].store, key, strlen(key), "0123456789", 10, net.now, NULL), 0);
    }
    /* Per step (one tick) node 1 may send at most the budget plus one
     * datagram of overshoot. */
    uint64_t max_step = 0;
    for (int step = 0; step < 3000 && !roots_equal(&net, NULL); step++) {
        struct gossip_stats a, b;
        gossip_stats(net.nodes[1].g, &a);
        net_step(&net);
        gossip_stats(net.nodes[1].g, &b);
        uint64_t d = b.repair_bytes_sent - a.repair_bytes_sent;
        if (d > max_step)
            max_step = d;
    }
    assert_true(roots_equal(&net, NULL));
    printf("  paced repair: at most %llu bytes per tick\n", (unsigned long long)max_step);
    assert_true(max_step <= 2000 + WIRE_MTU_DEFAULT);
    net_free(&net);
}

/* A bucket a client filled by choosing keys (entry_bucket is public):
 * thousands of entries, sent a datagram's worth per tick. The half-sent
 * bucket resumes at a placement hash, so the repair lists each entry about
 * once (resuming by count re-listed everything already sent each tick:
 * ~n^2 / (2 x entries per tick), 28x more here). */
static void repair_1500_per_tick(int i, struct gossip_config *cfg)
{
    (void)i;
    cfg->repair_bytes_per_tick = 1500; /* one datagram per tick */
}

static void huge_bucket_case(uint64_t bucket_index_min_slots)
{
    struct net net;
    net_start(
        &net, 2,
        &(struct net_opts){.tune = repair_1500_per_tick, .bix_min_slots = bucket_index_min_slots});
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    const uint32_t bucket = (uint32_t)(g_seed % STORE_BUCKETS);
    const int n = 3000;
    char key[32];
    int put = 0;
    for (uint64_t i = 0; put < n; i++) {
        snprintf(key, sizeof(key), "h%llu", (unsigned long long)i);
        if (entry_bucket(key, strlen(key), STORE_BUCKET_BITS) != bucket)
            continue;
        assert_int_equal(
            store_put(net.nodes[1].store, key, strlen(key), "0123456789", 10, net.now, NULL), 0);
        put++;
    }
    struct store_stats ss;
    store_stats(net.nodes[1].store, &ss);
    struct gossip_stats a0, a1;
    gossip_stats(net.nodes[0].g, &a0);
    gossip_stats(net.nodes[1].g, &a1);
    uint64_t took = net_run_until(&net, 60000, roots_equal, NULL);
    assert_true(took != UINT64_MAX);
    struct gossip_stats s0, s1;
    gossip_stats(net.nodes[0].g, &s0);
    gossip_stats(net.nodes[1].g, &s1);
    uint64_t listed = s1.repair_entries_listed - a1.repair_entries_listed;
    printf("  bucket %u, %d entries (index %s): repaired in %llu ms, %llu entries listed "
           "(%.2f per entry), %llu sent\n",
           bucket, n, ss.bucket_index_bytes ? "on" : "off", (unsigned long long)took,
           (unsigned long long)listed, (double)listed / n,
           (unsigned long long)(s1.repair_entries_sent - a1.repair_entries_sent));
    for (uint64_t i = 0, seen = 0; seen < (uint64_t)n; i++) {
        snprintf(key, sizeof(key), "h%llu", (unsigned long long)i);
        if (entry_bucket(key, strlen(key), STORE_BUCKET_BITS) != bucket)
            continue;
        assert_true(has_value(&net.nodes[0], key, "0123456789"));
        seen++;
    }
    assert_true(s1.repair_entries_sent - a1.repair_entries_sent >= (uint64_t)n);
    assert_int_equal(s1.repair_sweeps, a1.repair_sweeps); /* one bucket: a job, not a sweep */
    assert_true(listed >= (uint64_t)n);
    assert_true(listed < 3ull * (uint64_t)n); /* O(n); by count it was O(n^2 / budget) */
    net_free(&net);
}

static void test_gossip_huge_bucket_repair_lists_each_entry_about_once_indexed(void **state)
{
    (void)state;
    huge_bucket_case(1);
}

static void test_gossip_huge_bucket_repair_lists_each_entry_about_once_no_index(void **state)
{
    (void)state;
    huge_bucket_case(UINT64_MAX);
}

static bool tombstone_gone(struct net *net, void *arg)
{
    const char *key = arg;
    struct entry e;
    return store_get(net->nodes[0].store, key, strlen(key), &e) == GKV_ENOTFOUND;
}

static void test_gossip_tombstones_purged_only_when_every_live_member_is_past_them(void **state)
{
    (void)state;
    struct net net;
    /* short, so the gossip bound is what decides; longer than a delta
     * takes to spread (a tombstone past the grace is dropped on receipt) */
    net_start(&net, 3, &(struct net_opts){.grace_ms = 1000});
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    /* 1. Everyone live and talking: a delete is purged once every member
     * advertised an HLC past it by the margin (2 sync intervals + offset). */
    local_set(&net, 0, "gone", "soon");
    struct kv kv = {"gone", "soon"};
    assert_true(net_run_until(&net, 3000, everyone_has, &kv) != UINT64_MAX);
    struct entry e;
    assert_int_equal(store_del(net.nodes[0].store, "gone", 4, net.now, &e, NULL), 0);
    uint64_t t1 = e.hlc;
    assert_int_equal(gossip_local_write(net.nodes[0].g, &e, net.now), 0);
    kv.value = NULL;
    assert_true(net_run_until(&net, 3000, everyone_has, &kv) != UINT64_MAX);
    uint64_t took = net_run_until(&net, 20000, tombstone_gone, "gone");
    assert_true(took != UINT64_MAX);
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_true(st.tombstones_purged >= 1);
    assert_true(st.gc_bound_hlc > t1);
    /* 2. A live member goes silent: its last advertised HLC pins the bound
     * below a new tombstone until it is declared dead. */
    local_set(&net, 0, "held", "x");
    kv.key = "held";
    kv.value = "x";
    assert_true(net_run_until(&net, 3000, everyone_has, &kv) != UINT64_MAX);
    for (int i = 0; i < 2; i++)
        net.cut[i][2] = net.cut[2][i] = true;
    assert_int_equal(store_del(net.nodes[0].store, "held", 4, net.now, &e, NULL), 0);
    uint64_t t2 = e.hlc;
    assert_int_equal(gossip_local_write(net.nodes[0].g, &e, net.now), 0);
    net_run(&net, 3000); /* node 2 still counts as live (suspicion takes 4 s) */
    assert_false(tombstone_gone(&net, "held"));
    gossip_stats(net.nodes[0].g, &st);
    assert_true(st.gc_bound_hlc < t2);
    struct watch w = {0, net.nodes[2].id, GOSSIP_DEAD};
    assert_true(net_run_until(&net, 30000, viewer_sees, &w) != UINT64_MAX);
    assert_true(net_run_until(&net, 20000, tombstone_gone, "held") != UINT64_MAX);
    net_free(&net);
}

/* --------------------------------------------------------- bad input */

static void test_gossip_malformed_and_foreign_packets_are_counted_and_dropped(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 1, false);
    struct gossip *g = net.nodes[0].g;
    struct gkv_rng r;
    gkv_rng_seed(&r, g_seed);
    uint8_t junk[600];
    /* 1. random bytes */
    for (int i = 0; i < 100; i++) {
        size_t len = (size_t)gkv_rng_below(&r, sizeof(junk));
        for (size_t j = 0; j < len; j++)
            junk[j] = (uint8_t)gkv_rng_next(&r);
        gossip_recv(g, "10.9.9.9:1", junk, len, net.now);
    }
    struct gossip_stats st;
    gossip_stats(g, &st);
    assert_int_equal(st.seal_refused, 100);
    /* 2. a well-formed packet from another cluster (other key) */
    struct seal_keyring *other;
    assert_int_equal(seal_keyring_new(&other), 0);
    uint8_t key2[SEAL_KEY_BYTES];
    memset(key2, 0x42, sizeof(key2));
    assert_int_equal(seal_keyring_install(other, key2), 0);
    struct seal_ctx *foreign;
    assert_int_equal(seal_ctx_new(other, NET_LABEL, 4242, 1, &foreign), 0);
    uint8_t pt[256], sealed[512];
    struct wire_encoder enc;
    struct wire_msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->type = WIRE_PING;
    m->version = WIRE_VERSION;
    m->sender_id = 4242;
    m->sender_hlc = HLC_MAKE(net.now, 0);
    m->u.ping.seq = 1;
    m->u.ping.target_id = net.nodes[0].id;
    m->u.ping.source_id = 4242;
    wire_encoder_init(&enc, pt, sizeof(pt));
    assert_int_equal(wire_encode(&enc, m), 0);
    size_t slen = 0;
    assert_int_equal(
        seal_seal(foreign, net.nodes[0].id, pt, enc.len, sealed, sizeof(sealed), &slen), 0);
    gossip_recv(g, "10.9.9.9:1", sealed, slen, net.now);
    gossip_stats(g, &st);
    assert_int_equal(st.seal_refused, 101);
    /* 3. our key, garbage plaintext */
    struct seal_ctx *insider;
    assert_int_equal(seal_ctx_new(net.kr, NET_LABEL, 4243, 1, &insider), 0);
    uint8_t garbage[32];
    memset(garbage, 0xc1, sizeof(garbage)); /* 0xc1 is never valid msgpack */
    assert_int_equal(seal_seal(insider, net.nodes[0].id, garbage, sizeof(garbage), sealed,
                               sizeof(sealed), &slen),
                     0);
    gossip_recv(g, "10.9.9.9:1", sealed, slen, net.now);
    gossip_stats(g, &st);
    assert_int_equal(st.decode_errors, 1);
    /* 4. our key, a message claiming another sender than the envelope */
    assert_int_equal(
        seal_seal(insider, net.nodes[0].id, enc.buf, enc.len, sealed, sizeof(sealed), &slen), 0);
    gossip_recv(g, "10.9.9.9:1", sealed, slen, net.now);
    gossip_stats(g, &st);
    assert_int_equal(st.sender_mismatch, 1);
    /* 5. a PING meant for another node id: not acked */
    m->sender_id = 4243;
    m->u.ping.target_id = 777;
    wire_encoder_init(&enc, pt, sizeof(pt));
    assert_int_equal(wire_encode(&enc, m), 0);
    assert_int_equal(
        seal_seal(insider, net.nodes[0].id, enc.buf, enc.len, sealed, sizeof(sealed), &slen), 0);
    uint64_t out0 = st.datagrams_out;
    gossip_recv(g, "10.9.9.9:1", sealed, slen, net.now);
    gossip_stats(g, &st);
    assert_int_equal(st.wrong_target, 1);
    assert_int_equal(st.datagrams_out, out0);
    /* 6. a replay of an accepted packet: refused by the envelope */
    gossip_recv(g, "10.9.9.9:1", sealed, slen, net.now);
    gossip_stats(g, &st);
    assert_int_equal(st.seal_refused, 102);
    /* 7. an oversized datagram */
    uint8_t *huge = calloc(1, 70000);
    assert_non_null(huge);
    gossip_recv(g, "10.9.9.9:1", huge, 70000, net.now);
    gossip_recv_stream(g, "10.9.9.9:1", huge, 70000, net.now);
    free(huge);
    gossip_stats(g, &st);
    assert_int_equal(st.seal_refused, 104);
    /* and the node still works: nobody was added */
    assert_int_equal(gossip_member_count(g), 1);
    free(m);
    seal_ctx_free(foreign);
    seal_ctx_free(insider);
    seal_keyring_free(other);
    net_free(&net);
}

/* Random but well-formed messages of every type from an insider (someone
 * holding the cluster key): hostile field values must be counted or
 * ignored, never crash, and the real members must end up alive again. */
static void random_member(struct gkv_rng *r, struct net *net, struct wire_member *wm, char *name,
                          char *addr)
{
    int pick = (int)gkv_rng_below(r, 4);
    /* up to 16 made-up members: each is probed, suspected and declared
     * dead within a probe pass plus the suspicion timeout (ids from 1000:
     * the simulator numbers real nodes from 1) */
    wm->id = pick < 3 ? net->nodes[pick % net->n].id : 1000 + gkv_rng_below(r, 16);
    snprintf(name, 16, "n%llu", (unsigned long long)gkv_rng_below(r, 1000));
    if (gkv_rng_below(r, 3) == 0)
        snprintf(addr, 32, "%s", net->nodes[gkv_rng_below(r, (uint64_t)net->n)].addr);
    else
        snprintf(addr, 32, "10.7.%llu.1:1", (unsigned long long)gkv_rng_below(r, 256));
    wm->name = name;
    wm->name_len = (uint32_t)strlen(name);
    wm->addr = addr;
    wm->addr_len = (uint32_t)gkv_rng_below(r, 5) == 0 ? 0 : (uint32_t)strlen(addr);
    /* Members that really exist get plausible incarnations (they can
     * out-bid those); made-up ones also get the extremes. */
    uint64_t incs[] = {0, 1, 2, 7, UINT64_MAX - 1, UINT64_MAX};
    wm->incarnation = incs[gkv_rng_below(r, pick < 3 ? 4 : 6)];
    wm->state = (uint8_t)gkv_rng_below(r, 4);
}

/* Seal a BUCKET_REQ for bucket b as coming from sender (a key holder acting
 * as node `from_id`: what a captured request replayed looks like) for node
 * to_id (0: any receiver). */
static size_t seal_bucket_req(struct seal_ctx *sender, uint64_t from_id, uint64_t to_id, uint32_t b,
                              uint64_t now, uint8_t *out, size_t cap)
{
    struct wire_msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->type = WIRE_BUCKET_REQ;
    m->version = WIRE_VERSION;
    m->sender_id = from_id;
    m->sender_hlc = HLC_MAKE(now, 0);
    m->u.bucket_req.n = 1;
    m->u.bucket_req.buckets[0] = b;
    uint8_t pt[1400];
    struct wire_encoder enc;
    wire_encoder_init(&enc, pt, sizeof(pt));
    assert_int_equal(wire_encode(&enc, m), 0);
    size_t slen = 0;
    assert_int_equal(seal_seal(sender, to_id, pt, enc.len, out, cap, &slen), 0);
    free(m);
    return slen;
}

/* Issue 14 item 5: a BUCKET_REQ makes its receiver send repair (over a
 * stream) to the packet's source. Replayed from, or spoofed as, an address
 * that is not the requesting member's own, it must send nothing there (no
 * reflection); sealed for node 0 it does not open at node 2; sealed for any
 * receiver it is refused. From the member's own address it is served. */
static void test_gossip_bucket_req_from_non_member_address_sends_nothing(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, true);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    net_run(&net, 2000); /* let anti-entropy settle */
    struct node *n0 = &net.nodes[0], *n2 = &net.nodes[2];
    assert_int_equal(store_put(n0->store, "only-on-0", 9, "v", 1, net.now, NULL), 0);
    uint32_t b = entry_bucket("only-on-0", 9, STORE_BUCKET_BITS);
    /* A key holder speaking as node 1 (epoch 2: a "restart", so its counter
     * is fresh at node 0). */
    struct seal_ctx *as1;
    assert_int_equal(seal_ctx_new(net.kr, NET_LABEL, net.nodes[1].id, 2, &as1), 0);
    uint8_t sealed[1600];
    size_t slen = seal_bucket_req(as1, net.nodes[1].id, n0->id, b, net.now, sealed, sizeof(sealed));

    struct gossip_stats st0, st2;
    gossip_stats(n0->g, &st0);
    uint64_t unknown = net_to_unknown(&net), reqs = st0.bucket_reqs_received;
    gossip_recv(n0->g, "10.9.9.9:1", sealed, slen, net.now);
    gossip_stats(n0->g, &st0);
    assert_int_equal(st0.bucket_reqs_received, reqs + 1); /* it opened at node 0 ... */
    assert_int_equal(st0.sync_unvouched, 1);              /* ... and was not served */
    gossip_stats(n2->g, &st2);
    uint64_t refused2 = st2.seal_refused;
    gossip_recv(n2->g, "10.9.9.9:1", sealed, slen, net.now); /* the same bytes at node 2 */
    gossip_stats(n2->g, &st2);
    assert_int_equal(st2.seal_refused, refused2 + 1); /* not for node 2: bad tag */
    net_run(&net, 1000);
    assert_int_equal(net_to_unknown(&net), unknown); /* nothing ever went to 10.9.9.9:1 */

    /* Sealed for any receiver: refused whatever the source. */
    gossip_stats(n0->g, &st0);
    reqs = st0.bucket_reqs_received;
    slen = seal_bucket_req(as1, net.nodes[1].id, 0, b, net.now, sealed, sizeof(sealed));
    gossip_recv(n0->g, net.nodes[1].addr, sealed, slen, net.now);
    gossip_stats(n0->g, &st0);
    assert_int_equal(st0.to_any_refused, 1);
    assert_int_equal(st0.bucket_reqs_received, reqs);

    /* From node 1's own address it is served (vouched). */
    slen = seal_bucket_req(as1, net.nodes[1].id, n0->id, b, net.now, sealed, sizeof(sealed));
    gossip_recv(n0->g, net.nodes[1].addr, sealed, slen, net.now);
    gossip_stats(n0->g, &st0);
    assert_int_equal(st0.bucket_reqs_received, reqs + 1);
    assert_int_equal(st0.sync_unvouched, 1);
    net_run(&net, 1000);
    gossip_stats(n0->g, &st0);
    assert_int_equal(st0.sync_unvouched, 1); /* real sessions are all vouched */
    assert_int_equal(net_to_unknown(&net), unknown);
    seal_ctx_free(as1);
    net_free(&net);
}

static void test_gossip_random_insider_messages_never_break_the_core(void **state)
{
    (void)state;
    struct net net;
    net_init(&net, 3, false);
    join_all(&net);
    assert_true(net_run_until(&net, 5000, all_see_all_alive, NULL) != UINT64_MAX);
    struct seal_ctx *insider;
    assert_int_equal(seal_ctx_new(net.kr, NET_LABEL, 4243, 1, &insider), 0);
    struct wire_msg *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    struct gkv_rng r;
    gkv_rng_seed(&r, g_seed ^ 0x5eed);
    static const uint8_t types[] = {WIRE_PING,       WIRE_PING_REQ, WIRE_ACK,    WIRE_NACK,
                                    WIRE_ALIVE,      WIRE_SUSPECT,  WIRE_DEAD,   WIRE_LEAVE,
                                    WIRE_JOIN,       WIRE_STATE,    WIRE_DELTAS, WIRE_DIGEST,
                                    WIRE_BUCKET_REQ, WIRE_REPAIR};
    char names[8][16], addrs[8][32], keys[4][8], vals[4][8];
    uint32_t encoded = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memset(m, 0, offsetof(struct wire_msg, u) + sizeof(m->u.state));
        m->type = types[gkv_rng_below(&r, sizeof(types))];
        m->version = WIRE_VERSION;
        m->sender_id = gkv_rng_below(&r, 10) == 0 ? 99 : 4243;
        m->sender_hlc = HLC_MAKE(net.now + gkv_rng_below(&r, 2000), 0);
        switch (m->type) {
        case WIRE_PING:
        case WIRE_ACK:
        case WIRE_NACK:
            m->u.ping.seq = (uint32_t)gkv_rng_below(&r, 64);
            m->u.ping.target_id = gkv_rng_below(&r, 2) ? net.nodes[0].id : gkv_rng_next(&r);
            m->u.ping.source_id = net.nodes[gkv_rng_below(&r, 3)].id;
            if (m->type != WIRE_PING) {
                m->u.ack.seq = (uint32_t)gkv_rng_below(&r, 64);
                m->u.ack.source_id = net.nodes[gkv_rng_below(&r, 3)].id;
            }
            break;
        case WIRE_PING_REQ:
            m->u.ping_req.seq = (uint32_t)gkv_rng_below(&r, 64);
            m->u.ping_req.target_id = net.nodes[gkv_rng_below(&r, 3)].id;
            snprintf(addrs[0], 32, "%s", gkv_rng_below(&r, 2) ? net.nodes[1].addr : "nowhere:1");
            m->u.ping_req.target_addr = addrs[0];
            m->u.ping_req.target_addr_len =
                gkv_rng_below(&r, 4) == 0 ? 0 : (uint32_t)strlen(addrs[0]);
            m->u.ping_req.source_id = 4243;
            break;
        case WIRE_ALIVE:
        case WIRE_SUSPECT:
        case WIRE_DEAD:
        case WIRE_LEAVE:
            random_member(&r, &net, &m->u.suspicion.member, names[0], addrs[0]);
            m->u.suspicion.from_id =
                gkv_rng_below(&r, 2) ? m->u.suspicion.member.id : gkv_rng_next(&r);
            break;
        case WIRE_JOIN:
        case WIRE_STATE:
            m->u.state.is_reply = gkv_rng_below(&r, 2);
            m->u.state.n = (uint32_t)gkv_rng_below(&r, 6);
            for (uint32_t i = 0; i < m->u.state.n; i++)
                random_member(&r, &net, &m->u.state.members[i], names[i], addrs[i]);
            break;
        case WIRE_DELTAS:
        case WIRE_REPAIR:
            m->u.entries.n = (uint32_t)gkv_rng_below(&r, 4);
            for (uint32_t i = 0; i < m->u.entries.n; i++) {
                struct entry *e = &m->u.entries.entries[i];
                memset(e, 0, sizeof(*e));
                snprintf(keys[i], 8, "r%llu", (unsigned long long)gkv_rng_below(&r, 20));
                snprintf(vals[i], 8, "v%llu", (unsigned long long)gkv_rng_below(&r, 100));
                e->key = (const uint8_t *)keys[i];
                e->key_len = (uint32_t)strlen(keys[i]);
                e->flags = gkv_rng_below(&r, 4) == 0 ? ENTRY_TOMBSTONE : 0;
                if (!e->flags) {
                    e->value = (const uint8_t *)vals[i];
                    e->value_len = (uint32_t)strlen(vals[i]);
                }
                /* some far in the future: must be refused, not applied */
                uint64_t ahead = gkv_rng_below(&r, 3) == 0 ? 3600000 : 0;
                e->hlc = HLC_MAKE(net.now + ahead, gkv_rng_below(&r, 100));
                e->origin = 1 + gkv_rng_below(&r, 5);
                e->vc.n = 1;
                e->vc.items[0].node = e->origin;
                e->vc.items[0].counter = 1 + gkv_rng_below(&r, 5);
            }
            break;
        case WIRE_DIGEST: {
            static const uint32_t bits[] = {0, 3, 5, 10, 24};
            m->u.digest.bucket_bits = bits[gkv_rng_below(&r, 5)];
            uint64_t total = 1ull << m->u.digest.bucket_bits;
            m->u.digest.n = (uint32_t)gkv_rng_below(&r, 33);
            if (m->u.digest.n > total)
                m->u.digest.n = (uint32_t)total;
            m->u.digest.first_bucket = (uint32_t)gkv_rng_below(&r, total - m->u.digest.n + 1);
            m->u.digest.root = gkv_rng_next(&r);
            for (uint32_t i = 0; i < m->u.digest.n; i++)
                m->u.digest.hashes[i] = gkv_rng_below(&r, 2) ? 0 : gkv_rng_next(&r);
            break;
        }
        case WIRE_BUCKET_REQ:
            m->u.bucket_req.n = (uint32_t)gkv_rng_below(&r, 17);
            for (uint32_t i = 0; i < m->u.bucket_req.n; i++)
                m->u.bucket_req.buckets[i] = (uint32_t)gkv_rng_below(&r, 4096);
            break;
        }
        uint8_t pt[1400], sealed[1600];
        struct wire_encoder enc;
        wire_encoder_init(&enc, pt, sizeof(pt));
        if (wire_encode(&enc, m) != 0)
            continue;
        encoded++;
        size_t slen = 0;
        struct node *target = &net.nodes[gkv_rng_below(&r, 3)];
        assert_int_equal(seal_seal(insider, target->id, pt, enc.len, sealed, sizeof(sealed), &slen),
                         0);
        gossip_recv(target->g, "10.9.9.9:1", sealed, slen, net.now);
        if (iter % 10 == 0)
            net_step(&net);
    }
    assert_true(encoded > 2000);
    struct gossip_stats st;
    gossip_stats(net.nodes[0].g, &st);
    assert_true(st.sender_mismatch > 0);
    assert_true(st.clock_refused > 0);
    /* Left alone, the real members refute whatever was said about them
     * (suspect, dead, left, a wrong address) and everyone sees everyone
     * alive again. (A rumour at incarnation UINT64_MAX could not be
     * out-bid: holding the cluster key is holding the cluster.) */
    uint64_t took = net_run_until(&net, 120000, all_see_all_alive, NULL);
    assert_true(took != UINT64_MAX);
    net_run(&net, 5000); /* and it stays so */
    assert_true(all_see_all_alive(&net, NULL));
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            struct gossip_member_info info;
            assert_int_equal(gossip_member_find(net.nodes[i].g, net.nodes[j].id, &info), 0);
            assert_string_equal(info.addr, net.nodes[j].addr);
        }
    }
    free(m);
    seal_ctx_free(insider);
    net_free(&net);
}

/* A driver that only ticks a core when gossip_next_deadline says so must see
 * the same protocol: the hint may be early, never late. */
static bool deadline_within_a_probe_interval(struct net *net)
{
    for (int i = 0; i < net->n; i++)
        if (!net->nodes[i].down &&
            gossip_next_deadline(net->nodes[i].g, net->now) > 1000) /* never beyond */
            return false;
    return true;
}

static void test_gossip_ticking_only_at_next_deadline_still_detects_a_crash(void **state)
{
    (void)state;
    struct net net;
    net_start(&net, 4, &(struct net_opts){.deadline_ticks = true});
    join_all(&net);
    uint64_t start = net.now;
    bool alive_ok = false;
    while (net.now - start < 60000) {
        net_step(&net);
        assert_true(deadline_within_a_probe_interval(&net));
        if (!alive_ok && all_see_all_alive(&net, NULL)) {
            alive_ok = true;
            node_crash(&net, 3);
            start = net.now;
        }
        if (alive_ok && state_of(&net.nodes[0], net.nodes[3].id) == GOSSIP_DEAD)
            break;
    }
    assert_true(alive_ok);
    assert_int_equal(state_of(&net.nodes[0], net.nodes[3].id), GOSSIP_DEAD);
    /* 7 s to the first suspicion at worst, then at most 24 s */
    assert_true(net.now - start <= 7000 + 24000 + 1000);
    net_free(&net);
}

/* ------------------------------------------------------------ formulas */

static void test_gossip_suspicion_timeout_follows_lifeguard_formula(void **state)
{
    (void)state;
    /* memberlist suspicionTimeout: mult * max(1, log10(max(1, n))) * interval */
    assert_int_equal(suspicion_min_timeout_ms(4, 1, 1000), 4000);
    assert_int_equal(suspicion_min_timeout_ms(4, 10, 1000), 4000);
    assert_int_equal(suspicion_min_timeout_ms(4, 100, 1000), 8000);
    assert_int_equal(suspicion_min_timeout_ms(4, 1000, 1000), 12000);
    struct gossip_suspicion s;
    suspicion_start(&s, 7, 2, 4000, 24000, 100);
    assert_int_equal(suspicion_deadline_ms(&s), 100 + 24000); /* lone accuser: max */
    assert_false(suspicion_confirm(&s, 7));                   /* the accuser again */
    assert_true(suspicion_confirm(&s, 8));
    /* one of k = 2: max - (max - min) * log 2 / log 3 */
    assert_int_equal(suspicion_deadline_ms(&s), 100 + 11381);
    assert_false(suspicion_confirm(&s, 8));
    assert_true(suspicion_confirm(&s, 9));
    assert_int_equal(suspicion_deadline_ms(&s), 100 + 4000);
    assert_false(suspicion_confirm(&s, 10)); /* k reached */
    suspicion_start(&s, 7, 0, 4000, 24000, 0);
    assert_int_equal(suspicion_deadline_ms(&s), 4000); /* nobody can confirm */
}

int main(void)
{
    g_seed = gkv_test_seed("test_gossip", 20261125ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gossip_suspicion_timeout_follows_lifeguard_formula),
        cmocka_unit_test(test_gossip_join_through_one_seed_all_see_all),
        cmocka_unit_test(test_gossip_join_retries_when_seed_comes_up_later),
        cmocka_unit_test(test_gossip_probes_are_acked_and_nobody_is_suspected),
        cmocka_unit_test(test_gossip_crashed_node_suspect_then_dead_within_bound),
        cmocka_unit_test(test_gossip_suspected_node_refutes_and_persists_incarnation),
        cmocka_unit_test(test_gossip_indirect_probe_avoids_false_suspicion),
        cmocka_unit_test(test_gossip_brief_partition_ends_with_everyone_alive),
        cmocka_unit_test(test_gossip_leave_marks_member_left_not_dead),
        cmocka_unit_test(test_gossip_left_member_returns_with_higher_incarnation),
        cmocka_unit_test(test_gossip_dead_member_reclaimed_after_dead_reclaim_ms),
        cmocka_unit_test(test_gossip_member_limit_refuses_and_counts),
        cmocka_unit_test(test_gossip_partition_longer_than_suspicion_heals_by_itself),
        cmocka_unit_test(test_gossip_partition_heals_with_state_over_streams),
        cmocka_unit_test(test_gossip_wall_clock_stepped_back_keeps_probing),
        cmocka_unit_test(test_gossip_local_write_spreads_to_every_node),
        cmocka_unit_test(test_gossip_many_writes_pack_into_few_datagrams),
        cmocka_unit_test(test_gossip_queue_overflow_clears_it_until_the_burst_ends),
        cmocka_unit_test(test_gossip_deep_queue_mid_burst_overflows),
        cmocka_unit_test(test_gossip_bulk_repair_pushes_only_what_the_pull_left),
        cmocka_unit_test(test_gossip_large_entry_goes_over_the_stream),
        cmocka_unit_test(test_gossip_anti_entropy_repairs_divergent_stores),
        cmocka_unit_test(test_gossip_anti_entropy_repairs_over_streams),
        cmocka_unit_test(test_gossip_repair_is_paced_per_tick),
        cmocka_unit_test(test_gossip_huge_bucket_repair_lists_each_entry_about_once_indexed),
        cmocka_unit_test(test_gossip_huge_bucket_repair_lists_each_entry_about_once_no_index),
        cmocka_unit_test(test_gossip_tombstones_purged_only_when_every_live_member_is_past_them),
        cmocka_unit_test(test_gossip_malformed_and_foreign_packets_are_counted_and_dropped),
        cmocka_unit_test(test_gossip_bucket_req_from_non_member_address_sends_nothing),
        cmocka_unit_test(test_gossip_random_insider_messages_never_break_the_core),
        cmocka_unit_test(test_gossip_ticking_only_at_next_deadline_still_detects_a_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
