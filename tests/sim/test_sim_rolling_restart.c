/*
 * test_sim_rolling_restart: every node of a 100-node cluster, one after the
 * other, leaves gracefully (SIGTERM), is stopped on its data, and comes back
 * (issue 22). Its peers hold it LEFT and never contact it; it finds them
 * through the members it remembered (node/peers.c; here the addresses its
 * core knew before the stop), and it must be readmitted on its JOIN alone:
 * the leave persisted an incarnation above its LEFT record's, so no
 * refutation is needed. Writes made while it was down reach it.
 *
 * Bounds per node (as test_sim_restart): held alive by nobody within the
 * leave time plus a rumour's spread (or, for a node the rumour missed, two
 * probe passes: it then suspects the node itself); alive again everywhere within two hops plus
 * a rumour's spread, (log2 N + ln N + 2)(G + d), plus one probe interval;
 * caught up within the anti-entropy bound (12 sync intervals + 2 s).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 100u
/* Remembered addresses a node rejoins through (node/cluster.c's
 * NODE_REJOIN_ADDRS_MAX). */
#define REJOIN_ADDRS 32u
#define LEAVE_MS 500u /* tests/cluster's leave-timeout-ms */
#define WRITES_WHILE_DOWN 3

struct victim {
    uint32_t i;
};

/* Nobody holds the stopped node alive: LEFT for those the leave reached; a
 * node the rumour missed (it is probabilistic) suspects it on its own. */
static bool none_see_alive(struct sim *s, void *arg)
{
    const struct victim *v = arg;
    return sim_count_views(s, v->i, GOSSIP_ALIVE) == 0;
}

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

static void test_rolling_restart_of_100_nodes_readmits_each_on_its_join(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_rolling_restart", 22);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 2, .jitter_ms = 3};
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_restore_all(s));
    SIM_ASSERT_MSG(sim_run_until(s, sim_test_all_alive, NULL, 10000), "cluster did not form");

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t hop_ms = cfg.link.latency_ms + cfg.link.jitter_ms;
    double spread_ms = (log2(N) + log(N) + 2) * (double)(gc.gossip_interval_ms + hop_ms);
    /* the leave's spread, or for a node it missed, its first failed probe
     * (every member is probed within two passes of N probe intervals) */
    uint64_t left_bound = LEAVE_MS + (uint64_t)spread_ms + 2ull * N * gc.probe_interval_ms;
    uint32_t missed_leave = 0;
    uint64_t rejoin_bound = 2 * hop_ms + (uint64_t)spread_ms + gc.probe_interval_ms;
    uint64_t sync_bound = 12ull * gc.sync_interval_ms + 2000;
    uint64_t worst_rejoin = 0, worst_sync = 0;
    char key[32], val[32];
    int nwrites = 0;

    for (uint32_t i = 0; i < N; i++) {
        /* What the node remembers: the members its core knows. */
        struct gossip *g = sim_node_gossip(s, i);
        char addrs[REJOIN_ADDRS][WIRE_MAX_ADDR + 1];
        const char *ptrs[REJOIN_ADDRS];
        size_t na = 0;
        for (size_t k = 1; k < gossip_member_count(g) && na < REJOIN_ADDRS; k++) {
            struct gossip_member_info m;
            SIM_OK(gossip_member_get(g, k, &m));
            snprintf(addrs[na], sizeof addrs[na], "%s", m.addr);
            ptrs[na] = addrs[na];
            na++;
        }
        SIM_OK(gossip_leave(g, sim_node_now_ms(s, i)));
        sim_run_for(s, LEAVE_MS);
        SIM_OK(sim_crash(s, i, SIM_CRASH_KEEP_STORE));
        struct victim v = {i};
        SIM_ASSERT_MSG(sim_run_until(s, none_see_alive, &v, left_bound),
                       "node %u still seen alive after %llu ms (left %u alive %u "
                       "suspect %u dead %u)",
                       i, (unsigned long long)left_bound, sim_count_views(s, i, GOSSIP_LEFT),
                       sim_count_views(s, i, GOSSIP_ALIVE), sim_count_views(s, i, GOSSIP_SUSPECT),
                       sim_count_views(s, i, GOSSIP_DEAD));
        missed_leave += N - 1 - sim_count_views(s, i, GOSSIP_LEFT);
        for (int w = 0; w < WRITES_WHILE_DOWN; w++, nwrites++) {
            snprintf(key, sizeof key, "down%d", nwrites);
            snprintf(val, sizeof val, "v%u", i);
            SIM_OK(sim_write(s, (i + 1 + (uint32_t)w) % N, key, val, NULL));
        }

        SIM_OK(sim_restart_through(s, i, ptrs, na));
        uint64_t t0 = sim_now_ms(s);
        SIM_ASSERT_MSG(sim_run_until(s, sim_test_all_alive, NULL, rejoin_bound),
                       "node %u was not seen alive by all within %llu ms", i,
                       (unsigned long long)rejoin_bound);
        uint64_t took = sim_now_ms(s) - t0;
        worst_rejoin = took > worst_rejoin ? took : worst_rejoin;
        struct gossip_stats me;
        gossip_stats(sim_node_gossip(s, i), &me);
        SIM_ASSERT_MSG(me.refutations == 0,
                       "node %u needed %llu refutations: not readmitted on its JOIN", i,
                       (unsigned long long)me.refutations);
        t0 = sim_now_ms(s);
        SIM_ASSERT_MSG(sim_run_until(s, converged, NULL, sync_bound),
                       "node %u did not catch up within %llu ms", i,
                       (unsigned long long)sync_bound);
        took = sim_now_ms(s) - t0;
        worst_sync = took > worst_sync ? took : worst_sync;
        for (int w = nwrites - WRITES_WHILE_DOWN; w < nwrites; w++) {
            snprintf(key, sizeof key, "down%d", w);
            snprintf(val, sizeof val, "v%u", i);
            SIM_ASSERT(sim_has_value(s, i, key, val));
        }
    }
    printf("rolling restart of %u nodes: slowest readmission %llu ms (bound %llu), slowest "
           "catch-up %llu ms (bound %llu), leaves missed %u of %u, virtual time %llu s\n",
           N, (unsigned long long)worst_rejoin, (unsigned long long)rejoin_bound,
           (unsigned long long)worst_sync, (unsigned long long)sync_bound, missed_leave,
           N * (N - 1), (unsigned long long)(sim_now_ms(s) / 1000));
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rolling_restart_of_100_nodes_readmits_each_on_its_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
