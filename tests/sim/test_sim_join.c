/*
 * test_sim_join: 50 nodes join through one seed; every node sees every node
 * ALIVE within a bound derived from the protocol parameters.
 *
 * Bound (docs/SIMULATOR.md, "Join"): every node sends JOIN to node 0 at t=0.
 * Node 0 learns each newcomer one link delay later and answers with its member
 * table (a STATE push/pull), so after one round trip (2 * (latency + jitter))
 * every newcomer knows node 0 and the members node 0 knew, and node 0 knows
 * everyone. Every ALIVE record node 0 learned is then a queued broadcast:
 * it rides on gossip rounds (gossip_fanout random members every
 * gossip_interval_ms), and an epidemic with fanout f >= 1 reaches all N nodes
 * within log2(N) rounds when every informed node keeps forwarding (each round
 * at least doubles the informed set), plus ln(N) rounds for the tail
 * (Pittel 1987: log2(N) + ln(N) + O(1) for push gossip with f = 1). A round
 * is one gossip interval plus one link delay. So
 *
 *     bound = 2 * (latency + jitter)
 *           + (log2(N) + ln(N) + 2) * (gossip_interval_ms + latency + jitter)
 *
 * which for N = 50, 200 ms intervals and 10 ms links is 2*20 + 11.5 * 220 =
 * 2.6 s. The anti-entropy/push-pull sync (sync_interval_ms) is a second,
 * slower path and is not needed for this bound; if the core relied on it
 * alone the test would fail, which is the point.
 *
 * Then 30 more seconds with no loss: nobody is ever SUSPECT or DEAD.
 */
#include <math.h>
#include <stdlib.h>

#include "tests/sim/sim_test.h"

#define N 50u

static bool all_alive(struct sim *s, void *arg)
{
    (void)arg;
    return sim_all_see_up_alive(s);
}

static void test_join_50_through_one_seed_all_see_all_alive(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_join", 1);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_join_all(s, 0));

    /* The template's zeros mean "core defaults": resolve them to the values
     * gossip.h documents. */
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    double hop = cfg.link.latency_ms + cfg.link.jitter_ms;
    double rounds = log2(N) + log(N) + 2;
    uint64_t bound = (uint64_t)(2 * hop + rounds * (gc.gossip_interval_ms + hop));

    bool ok = sim_run_until(s, all_alive, NULL, bound);
    uint64_t took = sim_now_ms(s);
    printf("all %u nodes see all alive after %llu ms (bound %llu ms)\n", N,
           (unsigned long long)took, (unsigned long long)bound);
    SIM_ASSERT_MSG(ok, "not every node sees every node alive within %llu ms",
                   (unsigned long long)bound);

    /* No loss: no suspicion, ever. Checked every 10 ms for 30 s. */
    for (int i = 0; i < 3000; i++) {
        sim_run_for(s, 10);
        SIM_ASSERT_MSG(sim_all_see_up_alive(s), "a node lost sight of another at %llu ms",
                       (unsigned long long)sim_now_ms(s));
    }
    struct gossip_stats gs;
    sim_gossip_stats_sum(s, &gs);
    SIM_ASSERT(gs.deaths_declared == 0);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_50_through_one_seed_all_see_all_alive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
