/*
 * test_sim_failure: SWIM failure detection, both ways it can go wrong.
 *
 * 1. A crashed node is marked DEAD by every live node within the SWIM bound
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
 * 2. With 10% of datagrams lost, for 10 virtual minutes no live node ever
 *    declares another live node DEAD: member_cb never reports DEAD and
 *    deaths_declared stays 0. (A suspicion may be raised; the suspect must
 *    refute it with a higher incarnation before the timeout, which is what
 *    Lifeguard's long initial timeout is for.)
 */
#include <math.h>
#include <stdlib.h>

#include "tests/sim/sim_test.h"

#define N 20u

static bool all_alive(struct sim *s, void *arg)
{
    (void)arg;
    return sim_all_see_up_alive(s);
}

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
    double suspicion = (double)gc->suspicion_max_mult * gc->suspicion_mult * log10n *
                       gc->probe_interval_ms;
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
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_join_all(s, 0));
    SIM_ASSERT_MSG(sim_run_until(s, all_alive, NULL, 30000), "cluster did not form");

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

struct fp_arg {
    uint64_t false_deaths;
    uint64_t suspicions;
};

static void on_member(void *arg, struct sim *s, uint32_t i, const struct gossip_member_info *m)
{
    struct fp_arg *fp = arg;
    (void)i;
    if (m->id < 1 || m->id > sim_node_count(s) || !sim_node_up(s, (uint32_t)(m->id - 1)))
        return;
    if (m->state == GOSSIP_DEAD)
        fp->false_deaths++;
    if (m->state == GOSSIP_SUSPECT)
        fp->suspicions++;
}

static void test_ten_percent_loss_ten_minutes_no_false_death(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_failure", 2);
    struct sim_config cfg;
    sim_config_init(&cfg, seed + 1, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_join_all(s, 0));
    SIM_ASSERT_MSG(sim_run_until(s, all_alive, NULL, 30000), "cluster did not form");

    struct fp_arg fp = {0};
    sim_set_member_hook(s, on_member, &fp);
    struct sim_link lossy = cfg.link;
    lossy.loss = 0.10;
    sim_set_link(s, &lossy);
    for (int minute = 0; minute < 10; minute++) {
        sim_run_for(s, 60000);
        SIM_ASSERT_MSG(fp.false_deaths == 0, "a live node was declared dead in minute %d",
                       minute);
    }
    struct gossip_stats gs;
    sim_gossip_stats_sum(s, &gs);
    struct sim_stats st;
    sim_stats(s, &st);
    printf("10%% loss, 10 min: %llu datagrams lost, %llu suspicions, %llu refutations, "
           "%llu deaths\n",
           (unsigned long long)st.dropped_loss, (unsigned long long)fp.suspicions,
           (unsigned long long)gs.refutations, (unsigned long long)gs.deaths_declared);
    SIM_ASSERT(st.dropped_loss > 0);
    SIM_ASSERT(gs.deaths_declared == 0);
    /* A suspicion may be in flight at the last instant; once the loss stops,
     * its refutation lands within a few gossip rounds. */
    sim_set_link(s, &cfg.link);
    SIM_ASSERT(sim_run_until(s, all_alive, NULL, 10000));
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crashed_node_marked_dead_by_all_within_swim_bound),
        cmocka_unit_test(test_ten_percent_loss_ten_minutes_no_false_death),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
