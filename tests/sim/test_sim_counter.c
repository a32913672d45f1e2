/*
 * test_sim_counter: counters that converge (storage/counter.h) under the
 * faults gossip must survive.
 *
 * Five nodes increment three keys (INCRBY with random deltas, both signs)
 * while the network loses 20% of datagrams, duplicates 10% and reorders
 * them (jitter 30 ms over a 5 ms base); midway the cluster splits 2/3 and
 * both sides keep incrementing the same keys, and one node crashes and
 * restarts on its data. After healing, every node must read, for every key,
 * exactly the sum of the increments that were acknowledged (store_incrby
 * returned 0): none lost, none counted twice. Under last-writer-wins one
 * side's increments would vanish; this test fails on such a rule.
 *
 * Bound: as test_sim_partition (docs/SIMULATOR.md, "Anti-entropy after a
 * heal"), 12 sync intervals + 2 s, doubled for the 20% loss (each repair
 * round trip is lost with probability below 0.36, and the bound's 2^-k
 * argument needs twice the intervals for the same confidence).
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define KEYS 3
#define NODES 5

struct work {
    long long acked[KEYS];
    uint64_t incrs, refused;
    struct gkv_rng rng;
};

static const char *const KEY[KEYS] = {"hits", "stock", "balance"};

static void incr_burst(struct sim *s, struct work *w, uint32_t lo, uint32_t hi, int n)
{
    for (int k = 0; k < n; k++) {
        uint32_t node = lo + (uint32_t)gkv_rng_below(&w->rng, hi - lo);
        if (!sim_node_up(s, node))
            continue;
        uint32_t key = (uint32_t)gkv_rng_below(&w->rng, KEYS);
        long long d = (long long)gkv_rng_below(&w->rng, 21) - 10;
        long long res;
        if (sim_incrby(s, node, KEY[key], d, &res) == 0) {
            w->acked[key] += d;
            w->incrs++;
        } else {
            w->refused++;
        }
        sim_run_for(s, 1 + gkv_rng_below(&w->rng, 20));
    }
}

static bool sums_match(struct sim *s, void *arg)
{
    const struct work *w = arg;
    for (uint32_t i = 0; i < sim_node_count(s); i++)
        for (uint32_t k = 0; k < KEYS; k++) {
            long long v;
            if (!sim_read_ll(s, i, KEY[k], &v) || v != w->acked[k])
                return false;
        }
    return true;
}

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

static void test_counter_increments_all_count_after_partition_loss_dup_reorder(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_counter", 11);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, NODES);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 30, .loss = 0.2, .dup = 0.1};
    struct sim *s = sim_test_form_cluster(&cfg);
    struct work *w = calloc(1, sizeof *w);
    SIM_ASSERT(w);
    gkv_rng_seed(&w->rng, seed ^ 0xc0c0);

    incr_burst(s, w, 0, NODES, 150); /* everyone, lossy network */
    sim_set_group(s, 0, 1);
    sim_set_group(s, 1, 1);
    for (uint32_t i = 2; i < NODES; i++)
        sim_set_group(s, i, 2);
    for (int r = 0; r < 4; r++) {
        incr_burst(s, w, 0, 2, 40);     /* side A */
        incr_burst(s, w, 2, NODES, 40); /* side B, the same keys */
    }
    SIM_OK(sim_crash(s, 4, SIM_CRASH_KEEP_STORE));
    incr_burst(s, w, 0, NODES, 60);
    SIM_ASSERT(!sums_match(s, w)); /* the sides differ while split */
    sim_heal(s);
    SIM_OK(sim_restart(s, 4));
    incr_burst(s, w, 0, NODES, 100);

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t bound = 2 * (12ull * gc.sync_interval_ms + 2000);
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, sums_match, w, bound);
    printf("%llu increments acknowledged (%llu refused); sums %lld %lld %lld on every node "
           "after %llu ms (bound %llu ms)\n",
           (unsigned long long)w->incrs, (unsigned long long)w->refused, w->acked[0],
           w->acked[1], w->acked[2], (unsigned long long)(sim_now_ms(s) - t0),
           (unsigned long long)bound);
    for (uint32_t i = 0; i < NODES && !ok; i++)
        for (uint32_t k = 0; k < KEYS; k++) {
            long long v;
            bool num = sim_read_ll(s, i, KEY[k], &v);
            printf("node %u %s: %s%lld, acknowledged %lld\n", i, KEY[k], num ? "" : "(not a number) ",
                   v, w->acked[k]);
        }
    SIM_ASSERT_MSG(ok, "counters differ from the acknowledged sums %llu ms after healing",
                   (unsigned long long)bound);
    SIM_ASSERT(sim_run_until(s, converged, NULL, bound)); /* equal root hashes too */
    free(w);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_increments_all_count_after_partition_loss_dup_reorder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
