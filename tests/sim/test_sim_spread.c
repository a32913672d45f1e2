/*
 * test_sim_spread: one write reaches all 100 nodes within c * log2(N) gossip
 * intervals, c = 2.
 *
 * Why c = 2 (docs/SIMULATOR.md, "Dissemination"): a delta is pushed to
 * gossip_fanout (f = 3) random members per gossip interval by every node that
 * holds it, until each has sent it about retransmit_mult * log(N+1) times.
 * Push gossip with fanout f informs everyone in log_{f+1}(N) + ln(N)/f + O(1)
 * rounds (Pittel 1987; Karp et al. 2000); for N = 100, f = 3 that is
 * 3.3 + 1.5 = 4.8 rounds, while log2(100) = 6.6. A round is one gossip
 * interval plus one link delay, and the writer's first round starts up to one
 * interval after the write. c = 2 gives 13.3 intervals: ~2.7x the expectation,
 * slack for the tail and for the +1 round, and still tight enough to fail a
 * core that only spreads through anti-entropy (one peer per sync interval
 * needs ~log2(N) sync intervals; the test sets that interval to 60 s, since
 * the 1 s default could carry a write nearly as fast as gossip).
 *
 * Several writes from different nodes are measured, each against its own
 * start time, so one lucky write cannot pass the test alone.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 100u
#define WRITES 10u
#define C_ROUNDS 2.0

struct spread {
    uint64_t start_ms[WRITES];
    uint64_t last_ms[WRITES];
    uint32_t have[WRITES];
};

static void on_applied(void *arg, struct sim *s, uint32_t i, const struct entry *e)
{
    struct spread *sp = arg;
    (void)i;
    unsigned w;
    if (e->key_len < 2 || e->key[0] != 'w')
        return;
    char buf[16] = {0};
    memcpy(buf, e->key + 1, e->key_len - 1 < 15 ? e->key_len - 1 : 15);
    w = (unsigned)atoi(buf);
    if (w >= WRITES)
        return;
    sp->have[w]++;
    sp->last_ms[w] = sim_now_ms(s);
}

static bool all_have(struct sim *s, void *arg)
{
    const uint32_t *have = arg;
    (void)s;
    return *have >= N - 1; /* the writer applied it locally, not through gossip */
}

static void test_one_write_reaches_100_nodes_within_2_log2n_intervals(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_spread", 3);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    /* Measure dissemination alone: with the 1 s default sync interval,
     * anti-entropy (whose repairs also reach the applied hook) could carry
     * a write nearly as fast, and the test would no longer fail a core
     * whose gossip does not spread. */
    cfg.gossip.sync_interval_ms = 60000;
    struct sim *s = sim_test_form_cluster(&cfg);
    sim_run_for(s, 5000); /* let membership gossip drain */

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint32_t hop = cfg.link.latency_ms + cfg.link.jitter_ms;
    double intervals = C_ROUNDS * log2(N);
    uint64_t bound = (uint64_t)(intervals * (gc.gossip_interval_ms + hop));

    struct spread sp;
    memset(&sp, 0, sizeof sp);
    sim_set_applied_hook(s, on_applied, &sp);
    uint64_t worst = 0;
    for (uint32_t w = 0; w < WRITES; w++) {
        char key[16];
        snprintf(key, sizeof key, "w%u", w);
        sp.start_ms[w] = sim_now_ms(s);
        SIM_OK(sim_write(s, (w * 37) % N, key, "value", NULL));
        bool ok = sim_run_until(s, all_have, &sp.have[w], bound);
        uint64_t took = sp.last_ms[w] - sp.start_ms[w];
        SIM_ASSERT_MSG(ok, "write %u reached %u of %u nodes within %llu ms (%.1f intervals)", w,
                       sp.have[w] + 1, N, (unsigned long long)bound, intervals);
        if (took > worst)
            worst = took;
        sim_run_for(s, 3000); /* quiet gap: measure each write alone */
    }
    printf("slowest of %u writes reached all %u nodes in %llu ms = %.1f intervals; bound %.1f "
           "(c=%.0f, log2 N=%.2f)\n",
           WRITES, N, (unsigned long long)worst, (double)worst / gc.gossip_interval_ms, intervals,
           C_ROUNDS, log2(N));
    SIM_ASSERT(sim_converged(s)); /* every write reached every node by gossip */
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_write_reaches_100_nodes_within_2_log2n_intervals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
