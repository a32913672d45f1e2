/*
 * test_sim_snapshot: a cluster formed from a member snapshot
 * (gossip_restore_member through sim_restore_all, what sim_scale uses at
 * 10,000 nodes) is a real SWIM cluster from its first tick.
 *
 *   1. Restoring sends nothing and leaves every node seeing every node ALIVE.
 *   2. gossip_restore_member follows the usual precedence: a member already
 *      known at that incarnation or newer is left alone (GKV_EEXIST), a newer
 *      incarnation is taken (with a new name/address, also one borrowed from
 *      the member's own record), our own id and an empty address are
 *      refused, and max_members is enforced (GKV_ELIMIT, counted).
 *   3. Restored members are probed: a restored member that does not exist
 *      (a "ghost", as a stale snapshot holds) is suspected and declared DEAD
 *      by the node that restored it within
 *        2 passes of the probe order (2 * members probe intervals: the
 *        shuffled round-robin bound of docs/GOSSIP.md, "Probing")
 *        + 1 probe interval (probe, ping-req, then suspect)
 *        + the Lifeguard suspicion maximum
 *          suspicion_max_mult * suspicion_mult * max(1, log10 N) * interval
 *          (nobody confirming). Other nodes may learn the ghost from node
 *          0's push-pulls and accuse it too, which only shortens this.
 *   4. A crashed real node is marked DEAD by every live node within
 *      test_sim_failure's SWIM bound, and nobody else is suspected into
 *      death on the way (the restored views agree).
 *   5. One write reaches every live node within the rumour bound
 *      (log2 N + ln N + 2) * (gossip interval + link delay), as
 *      sim_join_bound_ms's first term (docs/SIMULATOR.md, "Join").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 50u
#define GHOST_ID (N + 1u)
#define VICTIM 7u
#define WRITER 3u

static bool victim_and_ghost_dead(struct sim *s, void *arg)
{
    (void)arg;
    struct gossip_member_info gm;
    if (gossip_member_find(sim_node_gossip(s, 0), GHOST_ID, &gm) != 0 || gm.state != GOSSIP_DEAD)
        return false;
    return sim_count_views(s, VICTIM, GOSSIP_DEAD) == N - 1;
}

static bool victim_dead(struct sim *s, void *arg)
{
    (void)arg;
    return sim_count_views(s, VICTIM, GOSSIP_DEAD) == N - 1;
}

static bool ghost_dead(struct sim *s, void *arg)
{
    (void)arg;
    struct gossip_member_info gm;
    return gossip_member_find(sim_node_gossip(s, 0), GHOST_ID, &gm) == 0 &&
           gm.state == GOSSIP_DEAD;
}

static bool write_everywhere(struct sim *s, void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < N; i++)
        if (sim_node_up(s, i) && !sim_has_value(s, i, "snap", "shot"))
            return false;
    return true;
}

static void test_restored_cluster_runs_real_swim(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_snapshot", 5);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    cfg.gossip.max_members = N + 1; /* room for one ghost on node 0 */
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);

    /* 1. */
    SIM_ASSERT(!sim_all_see_up_alive(s));
    SIM_OK(sim_restore_all(s));
    struct sim_stats st;
    sim_stats(s, &st);
    SIM_ASSERT_MSG(st.datagrams_sent == 0 && st.frames_sent == 0,
                   "restoring sent %llu datagrams, %llu frames",
                   (unsigned long long)st.datagrams_sent, (unsigned long long)st.frames_sent);
    SIM_ASSERT(sim_all_see_up_alive(s));
    SIM_ASSERT(gossip_member_count(sim_node_gossip(s, 0)) == N);

    /* 2. */
    struct gossip *g0 = sim_node_gossip(s, 0);
    uint64_t now = sim_node_now_ms(s, 0);
    struct gossip_member_info m5;
    SIM_OK(gossip_member_find(g0, sim_node_id(s, 5), &m5));
    SIM_ASSERT(gossip_restore_member(g0, m5.id, "n5", "n5", m5.incarnation, now) == GKV_EEXIST);
    SIM_ASSERT(gossip_restore_member(g0, sim_node_id(s, 0), "n0", "n0", 9, now) == GKV_EINVAL);
    SIM_ASSERT(gossip_restore_member(g0, GHOST_ID, "ghost", "", 0, now) == GKV_EINVAL);
    SIM_OK(gossip_restore_member(g0, GHOST_ID, "ghost", "ghost", 0, now));
    SIM_ASSERT(gossip_restore_member(g0, GHOST_ID, "ghost", "ghost", 0, now) == GKV_EEXIST);
    SIM_OK(gossip_restore_member(g0, GHOST_ID, "ghost", "ghost-at-a-much-longer-address", 3, now));
    struct gossip_member_info gm;
    SIM_OK(gossip_member_find(g0, GHOST_ID, &gm));
    SIM_ASSERT(gm.state == GOSSIP_ALIVE && gm.incarnation == 3);
    SIM_ASSERT(strcmp(gm.addr, "ghost-at-a-much-longer-address") == 0 &&
               strcmp(gm.name, "ghost") == 0);
    /* strings borrowed from the record itself: from its heap block (freed
     * by the move back inline), then from the inline copy, swapped */
    SIM_OK(gossip_restore_member(g0, GHOST_ID, gm.name, "gaddr", 4, now));
    SIM_OK(gossip_member_find(g0, GHOST_ID, &gm));
    SIM_ASSERT(strcmp(gm.name, "ghost") == 0 && strcmp(gm.addr, "gaddr") == 0);
    SIM_OK(gossip_restore_member(g0, GHOST_ID, gm.addr, gm.name, 5, now));
    SIM_OK(gossip_member_find(g0, GHOST_ID, &gm));
    SIM_ASSERT(strcmp(gm.name, "gaddr") == 0 && strcmp(gm.addr, "ghost") == 0);
    SIM_ASSERT(gm.state == GOSSIP_ALIVE && gm.incarnation == 5);
    struct gossip_stats gs;
    gossip_stats(g0, &gs);
    uint64_t refused = gs.members_limit_refused;
    SIM_ASSERT(gossip_restore_member(g0, GHOST_ID + 1, "g2", "g2", 0, now) == GKV_ELIMIT);
    gossip_stats(g0, &gs);
    SIM_ASSERT(gs.members_limit_refused == refused + 1);
    SIM_ASSERT(gossip_member_count(g0) == N + 1);

    /* 3 and 4. */
    SIM_OK(sim_crash(s, VICTIM, SIM_CRASH_KEEP_STORE));
    double log10n = log10((double)N) > 1 ? log10((double)N) : 1;
    double hop_ms = cfg.link.latency_ms + cfg.link.jitter_ms;
    double suspicion =
        (double)gc.suspicion_max_mult * gc.suspicion_mult * log10n * gc.probe_interval_ms;
    double spread = (log2(N) + log(N) + 2) * (gc.gossip_interval_ms + hop_ms);
    uint64_t ghost_bound =
        (uint64_t)(2.0 * (N + 1) * gc.probe_interval_ms + gc.probe_interval_ms + suspicion);
    uint64_t victim_bound =
        (uint64_t)(10.0 * gc.probe_interval_ms + gc.probe_interval_ms + suspicion + spread);
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, victim_dead, NULL, victim_bound);
    uint64_t victim_ms = sim_now_ms(s) - t0;
    printf("crashed node %u dead on all %u live nodes after %llu ms (bound %llu ms)\n", VICTIM,
           N - 1, (unsigned long long)victim_ms, (unsigned long long)victim_bound);
    SIM_ASSERT_MSG(ok, "only %u of %u live nodes see node %u dead within %llu ms",
                   sim_count_views(s, VICTIM, GOSSIP_DEAD), N - 1, VICTIM,
                   (unsigned long long)victim_bound);
    if (ghost_bound > sim_now_ms(s) - t0) {
        ok = sim_run_until(s, ghost_dead, NULL, ghost_bound - (sim_now_ms(s) - t0));
    } else {
        ok = ghost_dead(s, NULL);
    }
    printf("ghost dead on node 0 after %llu ms (bound %llu ms)\n",
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)ghost_bound);
    SIM_ASSERT_MSG(ok, "node 0 never declared the restored ghost dead within %llu ms",
                   (unsigned long long)ghost_bound);
    SIM_ASSERT(victim_and_ghost_dead(s, NULL));
    SIM_ASSERT_MSG(sim_all_see_up_alive(s), "a live node was taken down with the victim");
    /* raised by probes that failed: the ghost's and the victim's */
    struct gossip_stats sum;
    sim_gossip_stats_sum(s, &sum);
    SIM_ASSERT(sum.probes_sent > 0 && sum.suspicions_raised >= 2);

    /* 5. */
    SIM_OK(sim_write(s, WRITER, "snap", "shot", NULL));
    uint64_t write_bound = (uint64_t)spread;
    t0 = sim_now_ms(s);
    ok = sim_run_until(s, write_everywhere, NULL, write_bound);
    printf("write on all live nodes after %llu ms (bound %llu ms)\n",
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)write_bound);
    SIM_ASSERT_MSG(ok, "a write did not reach every live node within %llu ms",
                   (unsigned long long)write_bound);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restored_cluster_runs_real_swim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
