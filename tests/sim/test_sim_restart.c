/*
 * test_sim_restart: a node restarts on its old data (its store survives the
 * crash, as with sync=always). The others have declared it DEAD at some
 * incarnation; the restarted core starts from the incarnation persisted in
 * its store, hears that it is dead, refutes with a higher incarnation (and
 * persists it), is seen ALIVE by everyone again, and catches up on the
 * writes it missed.
 *
 * Bounds: death detection as in test_sim_failure; after the restart the node
 * joins through the seed at once, so the refutation needs one join round trip
 * plus (log2 N + ln N + 2) gossip rounds to spread, plus one probe interval
 * of slack; catch-up is the anti-entropy bound of test_sim_partition
 * (12 sync intervals + 2 s).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 8u
#define VICTIM 3u

static bool all_see_victim_dead(struct sim *s, void *arg)
{
    (void)arg;
    return sim_count_views(s, VICTIM, GOSSIP_DEAD) == N - 1;
}

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

/* Highest incarnation any live node holds for the victim. */
static uint64_t others_incarnation_of_victim(struct sim *s)
{
    uint64_t inc = 0;
    for (uint32_t v = 0; v < N; v++) {
        if (v == VICTIM || !sim_node_up(s, v))
            continue;
        struct gossip *g = sim_node_gossip(s, v);
        for (size_t k = 0; k < gossip_member_count(g); k++) {
            struct gossip_member_info m;
            if (gossip_member_get(g, k, &m) == 0 && m.id == sim_node_id(s, VICTIM) &&
                m.incarnation > inc)
                inc = m.incarnation;
        }
    }
    return inc;
}

/* The bounds both scenarios use: one hop, a rumour's spread, and the
 * crash-to-DEAD-everywhere bound (up to 11 probe intervals for the first
 * failed probe round, the longest Lifeguard suspicion timeout
 * max_mult * mult * log10 N * probe, and the spread of the DEAD rumour). */
struct bounds {
    uint64_t hop_ms;
    double spread_ms;
    uint64_t detect_ms;
};

static struct bounds bounds_for(const struct sim_config *cfg, const struct gossip_config *gc)
{
    struct bounds b;
    b.hop_ms = cfg->link.latency_ms + cfg->link.jitter_ms;
    b.spread_ms = (log2(N) + log(N) + 2) * (double)(gc->gossip_interval_ms + b.hop_ms);
    double log10n = log10((double)N) > 1 ? log10((double)N) : 1;
    b.detect_ms = (uint64_t)(11.0 * gc->probe_interval_ms +
                             (double)gc->suspicion_max_mult * gc->suspicion_mult * log10n *
                                 gc->probe_interval_ms +
                             b.spread_ms);
    return b;
}

static void test_restart_on_old_data_refutes_death_and_catches_up(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_restart", 1);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);
    char key[16];
    for (int w = 0; w < 50; w++) {
        snprintf(key, sizeof key, "old%d", w);
        SIM_OK(sim_write(s, (uint32_t)(w % N), key, "v1", NULL));
    }
    SIM_ASSERT(sim_run_until(s, converged, NULL, 30000));

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    struct bounds b = bounds_for(&cfg, &gc);
    uint64_t detect = b.detect_ms;
    SIM_OK(sim_crash(s, VICTIM, SIM_CRASH_KEEP_STORE));
    SIM_ASSERT_MSG(sim_run_until(s, all_see_victim_dead, NULL, detect),
                   "the crashed node was not declared dead within %llu ms",
                   (unsigned long long)detect);
    uint64_t dead_inc = others_incarnation_of_victim(s);

    /* Writes it misses: overwrites of old keys and new keys. */
    for (int w = 0; w < 50; w++) {
        snprintf(key, sizeof key, "old%d", w);
        SIM_OK(sim_write(s, (uint32_t)(w % N == VICTIM ? 0 : w % N), key, "v2", NULL));
        snprintf(key, sizeof key, "new%d", w);
        SIM_OK(sim_write(s, (uint32_t)(w % N == VICTIM ? 1 : w % N), key, "n", NULL));
    }
    sim_run_for(s, 3000);

    SIM_OK(sim_restart(s, VICTIM));
    uint64_t rejoin = 2ull * b.hop_ms + (uint64_t)b.spread_ms + gc.probe_interval_ms;
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, sim_test_all_alive, NULL, rejoin);
    struct gossip_stats me;
    gossip_stats(sim_node_gossip(s, VICTIM), &me);
    printf("restarted node seen alive by all after %llu ms (bound %llu ms); incarnation %llu "
           "(declared dead at %llu), persisted %llu\n",
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)rejoin,
           (unsigned long long)me.incarnation, (unsigned long long)dead_inc,
           (unsigned long long)store_incarnation(sim_node_store(s, VICTIM)));
    SIM_ASSERT_MSG(ok, "the restarted node was not seen alive by all within %llu ms",
                   (unsigned long long)rejoin);
    SIM_ASSERT_MSG(me.incarnation > dead_inc, "refuted with incarnation %llu, not above %llu",
                   (unsigned long long)me.incarnation, (unsigned long long)dead_inc);
    SIM_ASSERT_MSG(store_incarnation(sim_node_store(s, VICTIM)) >= me.incarnation,
                   "the refuting incarnation was not persisted in the store");

    uint64_t sync_bound = 12ull * gc.sync_interval_ms + 2000;
    SIM_ASSERT_MSG(sim_run_until(s, converged, NULL, sync_bound),
                   "the restarted node did not catch up within %llu ms",
                   (unsigned long long)sync_bound);
    for (int w = 0; w < 50; w++) {
        snprintf(key, sizeof key, "old%d", w);
        SIM_ASSERT(sim_has_value(s, VICTIM, key, "v2"));
        snprintf(key, sizeof key, "new%d", w);
        SIM_ASSERT(sim_has_value(s, VICTIM, key, "n"));
    }
    sim_free(s);
}

/* The disk is lost: the node comes back with an empty store (incarnation 0,
 * no data) under the same id. The others hold it DEAD at some incarnation; it
 * must out-bid that, be seen ALIVE by all, and get the whole keyspace back
 * through anti-entropy (no rumour carries old writes). Bounds as above. */
static void test_restart_from_empty_store_refutes_death_and_refills(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_restart", 1);
    struct sim_config cfg;
    sim_config_init(&cfg, seed + 100, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);
    char key[16];
    for (int w = 0; w < 200; w++) {
        snprintf(key, sizeof key, "k%d", w);
        SIM_OK(sim_write(s, (uint32_t)(w % N), key, "v", NULL));
    }
    SIM_ASSERT(sim_run_until(s, converged, NULL, 30000));

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    struct bounds b = bounds_for(&cfg, &gc);
    uint64_t detect = b.detect_ms;
    SIM_OK(sim_crash(s, VICTIM, SIM_CRASH_WIPE_STORE));
    SIM_ASSERT(store_root_hash(sim_node_store(s, VICTIM)) == 0);
    SIM_ASSERT_MSG(sim_run_until(s, all_see_victim_dead, NULL, detect),
                   "the crashed node was not declared dead within %llu ms",
                   (unsigned long long)detect);
    uint64_t dead_inc = others_incarnation_of_victim(s);

    SIM_OK(sim_restart(s, VICTIM));
    uint64_t rejoin = 2ull * b.hop_ms + (uint64_t)b.spread_ms + gc.probe_interval_ms;
    bool ok = sim_run_until(s, sim_test_all_alive, NULL, rejoin);
    struct gossip_stats me;
    gossip_stats(sim_node_gossip(s, VICTIM), &me);
    SIM_ASSERT_MSG(ok, "the wiped node was not seen alive by all within %llu ms",
                   (unsigned long long)rejoin);
    SIM_ASSERT_MSG(me.incarnation > dead_inc, "refuted with incarnation %llu, not above %llu",
                   (unsigned long long)me.incarnation, (unsigned long long)dead_inc);
    uint64_t sync_bound = 12ull * gc.sync_interval_ms + 2000;
    SIM_ASSERT_MSG(sim_run_until(s, converged, NULL, sync_bound),
                   "the wiped node did not refill within %llu ms", (unsigned long long)sync_bound);
    for (int w = 0; w < 200; w++) {
        snprintf(key, sizeof key, "k%d", w);
        SIM_ASSERT(sim_has_value(s, VICTIM, key, "v"));
    }
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart_on_old_data_refutes_death_and_catches_up),
        cmocka_unit_test(test_restart_from_empty_store_refutes_death_and_refills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
