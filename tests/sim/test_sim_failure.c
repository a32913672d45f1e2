/*
 * test_sim_failure: SWIM failure detection of a crashed node.
 *
 * A crashed node is marked DEAD by every live node within the SWIM bound
 *    (docs/SIMULATOR.md, "Failure detection"):
 *
 *      first probe   every live node probes one member per probe interval,
 *                    so the crashed node escapes all N-1 probers for k
 *                    intervals with probability about e^-k; k = 10 (4.5e-5).
 *      suspect       an unanswered probe (probe_timeout_ms, then k indirect
 *                    probes) raises a suspicion by the end of that interval:
 *                    + 1 probe interval.
 *      suspicion     Lifeguard: the timeout starts at
 *                    suspicion_max_mult * suspicion_mult * max(1, log10 N) *
 *                    probe_interval and shrinks toward suspicion_mult *
 *                    max(1, log10 N) * probe_interval as other members
 *                    confirm; the maximum is the bound.
 *      spread        the DEAD record then rides gossip rounds:
 *                    (log2 N + ln N + 2) * (gossip_interval + link delay).
 *
 * The other way it can go wrong, a live node declared dead under loss, is
 * test_sim_false_positive.
 */
#include <math.h>
#include <stdlib.h>

#include "tests/sim/sim_test.h"

#define N 20u

struct dead_arg {
    uint32_t victim;
};

static bool all_see_dead(struct sim *s, void *arg)
{
    struct dead_arg *d = arg;
    uint32_t up = 0;
    for (uint32_t i = 0; i < sim_node_count(s); i++)
        up += sim_node_up(s, i);
    return sim_count_views(s, d->victim, GOSSIP_DEAD) == up;
}

static uint64_t detection_bound_ms(const struct gossip_config *gc, uint32_t n, uint32_t hop_ms)
{
    double log10n = log10((double)n) > 1 ? log10((double)n) : 1;
    double first_probe = 10.0 * gc->probe_interval_ms;
    double suspect = gc->probe_interval_ms;
    double suspicion =
        (double)gc->suspicion_max_mult * gc->suspicion_mult * log10n * gc->probe_interval_ms;
    double spread = (log2(n) + log(n) + 2) * (gc->gossip_interval_ms + hop_ms);
    return (uint64_t)(first_probe + suspect + suspicion + spread);
}

static void test_crashed_node_marked_dead_by_all_within_swim_bound(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_failure", 2);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t bound = detection_bound_ms(&gc, N, cfg.link.latency_ms + cfg.link.jitter_ms);
    struct dead_arg d = {.victim = 7};
    SIM_OK(sim_crash(s, d.victim, SIM_CRASH_KEEP_STORE));
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, all_see_dead, &d, bound);
    printf("all %u live nodes see node %u dead after %llu ms (bound %llu ms)\n", N - 1, d.victim,
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)bound);
    SIM_ASSERT_MSG(ok, "only %u of %u live nodes see the crashed node dead within %llu ms",
                   sim_count_views(s, d.victim, GOSSIP_DEAD), N - 1, (unsigned long long)bound);
    /* And nobody else was taken down with it. */
    SIM_ASSERT(sim_all_see_up_alive(s));
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crashed_node_marked_dead_by_all_within_swim_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
