/*
 * test_sim_burst: a write burst that overflows the delta queue converges
 * soon after it ends, without anti-entropy sessions during the burst.
 *
 * Three nodes (as bench/client_bench.sh), max_queued_deltas = 256 so a
 * burst of 20,000 writes on node 0 (1000 every 50 ms for 1 s) drops most of
 * its deltas, as 100,000-400,000 redis-benchmark SETs drop them from the
 * default 65,536-entry queue. What the rule in sync.c promises
 * (docs/GOSSIP.md, "Write bursts"):
 *   - during the burst node 0 postpones its offers and declines differing
 *     ones (sync_offers_postponed_busy / sync_offers_declined_busy > 0), and
 *     sends no repair bytes (it ships nothing while the keyspace moves);
 *   - after it, all three hold identical data within
 *         bound = sync_interval_ms (quiet for GOSSIP_BURST_QUIET_INTERVALS
 *                 gossip intervals, less than one sync interval; then the
 *                 offer)
 *               + 12 * sync_interval_ms (every pair must hold a session;
 *                 each node offers to a random peer every interval, so a
 *                 given pair waits k intervals with probability ~2^-k, the
 *                 argument of test_sim_partition)
 *               + missed_bytes * 3 / repair_bytes_per_tick ticks of 10 ms
 *                 (the 3x of test_sim_catchup, per peer: x2)
 *               + 2 s (digest round trips, scheduling)
 *     Observed (seeds 1-12): printed by the test; 0.54-0.65 s since the
 *     quiet period is 2 gossip intervals, the dirty offer goes to every
 *     peer (fanout) and an overflowing queue is emptied (3.1-7.0 s before).
 *   - the repair went through sweeps (repair_sweeps > 0), one store_scan
 *     pass per peer instead of one whole-table scan per bucket.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 3u
#define WRITES 20000u
#define PER_STEP 1000u
#define STEP_MS 50u
#define VALUE_BYTES 64u
#define QUEUE_MAX 256u

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

static void test_burst_overflowing_the_queue_converges_soon_after_it_ends(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_burst", 5);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 1, .jitter_ms = 1};
    cfg.gossip.max_queued_deltas = QUEUE_MAX;
    struct sim *s = sim_test_form_cluster(&cfg);
    sim_run_for(s, 3000);

    struct gossip_stats before;
    gossip_stats(sim_node_gossip(s, 0), &before);
    uint64_t missed_bytes = 0;
    char key[32];
    uint8_t val[VALUE_BYTES];
    for (uint32_t w = 0; w < WRITES; w++) {
        snprintf(key, sizeof key, "burst%05u", w);
        for (uint32_t b = 0; b < VALUE_BYTES; b++)
            val[b] = (uint8_t)(w * 7 + b);
        struct entry e;
        SIM_OK(sim_write_bytes(s, 0, key, strlen(key), val, sizeof val, &e));
        missed_bytes += e.key_len + e.value_len + 16 + 16ull * e.vc.n;
        if (w % PER_STEP == PER_STEP - 1)
            sim_run_for(s, STEP_MS);
    }
    struct gossip_stats during;
    gossip_stats(sim_node_gossip(s, 0), &during);

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t t0 = sim_now_ms(s);
    uint64_t bound = 13ull * gc.sync_interval_ms +
                     missed_bytes * 3 * 2 / (gc.repair_bytes_per_tick ? gc.repair_bytes_per_tick : 256u * 1024u) * 10 + 2000;
    bool ok = sim_run_until(s, converged, NULL, bound);
    struct gossip_stats after;
    sim_gossip_stats_sum(s, &after);
    printf("burst of %u writes: %llu deltas dropped on node 0; offers postponed %llu, declined "
           "%llu, repair bytes during the burst %llu; identical %llu ms after it (bound %llu "
           "ms); %llu sweeps\n",
           WRITES, (unsigned long long)(during.deltas_dropped_queue_full -
                                        before.deltas_dropped_queue_full),
           (unsigned long long)(during.sync_offers_postponed_busy -
                                before.sync_offers_postponed_busy),
           (unsigned long long)(during.sync_offers_declined_busy -
                                before.sync_offers_declined_busy),
           (unsigned long long)(during.repair_bytes_sent - before.repair_bytes_sent),
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)bound,
           (unsigned long long)after.repair_sweeps);
    SIM_ASSERT_MSG(during.deltas_dropped_queue_full > before.deltas_dropped_queue_full,
                   "the burst did not overflow the queue: the test tests nothing");
    SIM_ASSERT_MSG(during.sync_offers_postponed_busy + during.sync_offers_declined_busy >
                       before.sync_offers_postponed_busy + before.sync_offers_declined_busy,
                   "node 0 neither postponed nor declined a session during the burst");
    SIM_ASSERT_MSG(during.repair_bytes_sent == before.repair_bytes_sent,
                   "node 0 shipped repair bytes while the burst was running");
    SIM_ASSERT_MSG(ok, "not identical within %llu ms of the burst's end",
                   (unsigned long long)bound);
    SIM_ASSERT_MSG(after.repair_sweeps > 0, "the repair used no sweep");
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_overflowing_the_queue_converges_soon_after_it_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
