/*
 * test_sim_memory: what a simulated node holds per member stays small and
 * keeps working (docs/GOSSIP.md, "Cost per node"; bench/sim_scale).
 *
 *   1. Every view of a member shares one copy of its "name\0addr\0": the
 *      simulator lends one string pool to all cores (gossip_config.names),
 *      so the name and address pointers node v reports for member j are the
 *      ones node j reports for itself, for every v and j. A record that
 *      copies the strings (each view its own) fails this.
 *   2. A member reclaimed from the table (dead longer than dead_reclaim_ms)
 *      releases its strings, and the member moved into its position keeps
 *      being probed (the probe order holds positions, renumbered on
 *      removal): after node A is reclaimed everywhere, a second crashed
 *      node B is still declared DEAD by every live node within
 *      test_sim_failure's bound,
 *        10 P + P + beta * alpha * max(1, log10 N) * P
 *        + (log2 N + ln N + 2)(G + d).
 *   3. Cores started together do not push their views to a dead member in
 *      the same millisecond: each core's first reconnect is drawn in
 *      (0, R], so over two scaled reconnect periods after a crash no 10 ms
 *      holds more than a quarter of the live nodes' state pushes (each is
 *      a frame per WIRE_MAX_MEMBERS_MSG members at least). All of them
 *      pushed in the same millisecond every R before: at 10,000 nodes, 3 GB
 *      of frames in flight at once (bench/sim_scale's peak RSS).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 24u
#define RECLAIM_MS 4000u

static void test_member_strings_shared_by_all_views(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_memory", 3);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_restore_all(s));
    for (uint32_t j = 0; j < N; j++) {
        struct gossip_member_info own;
        SIM_OK(gossip_member_get(sim_node_gossip(s, j), 0, &own));
        SIM_ASSERT(strcmp(own.addr, sim_node_addr(s, j)) == 0);
        for (uint32_t v = 0; v < N; v++) {
            if (v == j)
                continue;
            struct gossip_member_info m;
            SIM_OK(gossip_member_find(sim_node_gossip(s, v), sim_node_id(s, j), &m));
            SIM_ASSERT_MSG(m.name == own.name && m.addr == own.addr,
                           "node %u's view of node %u holds its own copy of the strings", v, j);
        }
    }
    sim_free(s);
}

struct count_arg {
    uint32_t subject;
    uint32_t want;
};

static bool reclaimed_everywhere(struct sim *s, void *arg)
{
    const struct count_arg *a = arg;
    for (uint32_t v = 0; v < N; v++)
        if (v != a->subject && sim_node_up(s, v) && sim_view_state(s, v, a->subject) != -1)
            return false;
    return true;
}

static bool dead_everywhere(struct sim *s, void *arg)
{
    const struct count_arg *a = arg;
    return sim_count_views(s, a->subject, GOSSIP_DEAD) == a->want;
}

static void test_reclaimed_member_leaves_probe_order_working(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_memory", 4);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    cfg.gossip.dead_reclaim_ms = RECLAIM_MS;
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_restore_all(s));
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    double p = gc.probe_interval_ms, g = gc.gossip_interval_ms, d = 10;
    double detect = 11 * p + (double)gc.suspicion_max_mult * gc.suspicion_mult * fmax(1, log10(N)) * p +
                    (log2(N) + log(N) + 2) * (g + d);

    /* A: crash, DEAD everywhere, then reclaimed everywhere. Member 1 of
     * every table other than A's own; a low position, so removing it moves
     * the last member into it. */
    struct count_arg a = {1, N - 1};
    SIM_OK(sim_crash(s, 1, SIM_CRASH_KEEP_STORE));
    SIM_ASSERT(sim_run_until(s, dead_everywhere, &a, (uint64_t)detect));
    SIM_ASSERT(sim_run_until(s, reclaimed_everywhere, &a, RECLAIM_MS + 2 * (uint64_t)p));
    for (uint32_t v = 0; v < N; v++)
        if (v != 1)
            SIM_ASSERT(gossip_member_count(sim_node_gossip(s, v)) == N - 1);

    /* B: the member that was last in most tables, now moved. */
    struct count_arg b = {N - 1, N - 2};
    SIM_OK(sim_crash(s, N - 1, SIM_CRASH_KEEP_STORE));
    SIM_ASSERT_MSG(sim_run_until(s, dead_everywhere, &b, (uint64_t)detect),
                   "%u of %u live nodes hold node %u DEAD after %.0f ms",
                   sim_count_views(s, N - 1, GOSSIP_DEAD), N - 2, N - 1, detect);
    sim_free(s);
}

static void test_reconnect_pushes_are_spread(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_memory", 5);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.gossip.pushpull_interval_ms = 3600000; /* only reconnects send frames */
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_restore_all(s));
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    struct count_arg a = {2, N - 1};
    SIM_OK(sim_crash(s, 2, SIM_CRASH_KEEP_STORE));
    SIM_ASSERT(sim_run_until(s, dead_everywhere, &a, 120000));
    /* scaled period: R * (1 + ceil(log2(N / 32))) past 32 members, R below */
    uint64_t period = gc.reconnect_interval_ms * (N > 32 ? 2u : 1u);
    struct sim_stats st;
    sim_stats(s, &st);
    uint64_t last = st.frames_sent, most = 0, total = 0;
    for (uint64_t t = 0; t < 2 * period; t += 10) {
        sim_run_for(s, 10);
        sim_stats(s, &st);
        uint64_t k = st.frames_sent - last;
        last = st.frames_sent;
        total += k;
        if (k > most)
            most = k;
    }
    SIM_ASSERT_MSG(total >= N - 1, "only %llu state frames in two reconnect periods",
                   (unsigned long long)total);
    SIM_ASSERT_MSG(most <= (N - 1) / 4, "%llu of %llu state frames within 10 ms",
                   (unsigned long long)most, (unsigned long long)total);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_strings_shared_by_all_views),
        cmocka_unit_test(test_reclaimed_member_leaves_probe_order_working),
        cmocka_unit_test(test_reconnect_pushes_are_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
