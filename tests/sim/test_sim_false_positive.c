/*
 * test_sim_false_positive: with 10% of datagrams lost, for 10 virtual
 * minutes, no live node ever declares another live node DEAD: member_cb
 * never reports DEAD about a live node and deaths_declared stays 0.
 *
 * Suspicions may be raised (about 0.19 * 0.04 = 0.8% of probes fail both the
 * direct and all k = 3 indirect paths at 10% loss); the suspect must hear
 * the rumour and refute it with a higher incarnation, and the refutation
 * must reach every node that suspects it, before Lifeguard's timeout, which
 * starts at its maximum (6 * 4 * log10(20) * 1 s = 31 s for N = 20) exactly
 * to leave time for that. No timing bound: an invariant.
 */
#include <stdlib.h>

#include "tests/sim/sim_test.h"

#define N 20u

struct fp_arg {
    uint64_t false_deaths;
    uint64_t suspicions;
    uint32_t first_viewer, first_subject; /* the first false death seen */
    uint64_t first_ms, first_incarnation;
};

static void on_member(void *arg, struct sim *s, uint32_t i, const struct gossip_member_info *m)
{
    struct fp_arg *fp = arg;
    if (m->id < 1 || m->id > sim_node_count(s) || !sim_node_up(s, (uint32_t)(m->id - 1)))
        return;
    if (m->state == GOSSIP_DEAD && fp->false_deaths++ == 0) {
        fp->first_viewer = i;
        fp->first_subject = (uint32_t)(m->id - 1);
        fp->first_ms = sim_now_ms(s);
        fp->first_incarnation = m->incarnation;
    }
    if (m->state == GOSSIP_SUSPECT)
        fp->suspicions++;
}

static void test_ten_percent_loss_ten_minutes_no_false_death(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_false_positive", 3);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);

    struct fp_arg fp = {0};
    sim_set_member_hook(s, on_member, &fp);
    struct sim_link lossy = cfg.link;
    lossy.loss = 0.10;
    sim_set_link(s, &lossy);
    for (int minute = 0; minute < 10; minute++) {
        sim_run_for(s, 60000);
        SIM_ASSERT_MSG(fp.false_deaths == 0,
                       "minute %d: at %llu ms node %u declared live node %u DEAD "
                       "(incarnation %llu)",
                       minute, (unsigned long long)fp.first_ms, fp.first_viewer, fp.first_subject,
                       (unsigned long long)fp.first_incarnation);
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
    SIM_ASSERT(sim_run_until(s, sim_test_all_alive, NULL, 10000));
    sim_free(s);
}

/* Lifeguard on vs off (gossip_config.lifeguard_off): one slow node (its
 * datagrams take 300-700 ms each way, a third of them lost, as a node whose
 * CPU or NIC is overloaded) in a cluster with 5 % loss everywhere. The slow
 * node's probes of healthy members time out, so it accuses them; Lifeguard
 * raises its own health score (longer probe timeouts, fewer accusations)
 * and gives a lone accuser's suspicion the long timer, so the accused can
 * refute. Same seed for both runs; the difference is the switch alone. */
struct lg_count {
    uint64_t suspicions; /* a healthy node reported SUSPECT by anyone */
    uint64_t deaths;     /* a healthy node reported DEAD by anyone */
};

static void on_member_healthy(void *arg, struct sim *s, uint32_t i,
                              const struct gossip_member_info *m)
{
    (void)s;
    (void)i;
    struct lg_count *c = arg;
    if (m->id < 2 || m->id > N) /* node 0 (id 1) is the slow one */
        return;
    if (m->state == GOSSIP_SUSPECT)
        c->suspicions++;
    if (m->state == GOSSIP_DEAD)
        c->deaths++;
}

static struct lg_count run_slow_node(uint64_t seed, bool lifeguard_off)
{
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    cfg.gossip.lifeguard_off = lifeguard_off;
    struct sim *s = sim_test_form_cluster(&cfg);
    struct lg_count c = {0};
    sim_set_member_hook(s, on_member_healthy, &c);
    struct sim_link lossy = cfg.link;
    lossy.loss = 0.05;
    sim_set_link(s, &lossy);
    struct sim_link slow = {.latency_ms = 300, .jitter_ms = 400, .loss = 0.33};
    sim_set_node_link(s, 0, &slow);
    sim_run_for(s, 5 * 60000);
    struct gossip_stats gs;
    gossip_stats(sim_node_gossip(s, 0), &gs);
    printf("lifeguard %s: healthy nodes suspected %llu times, declared dead %llu times; "
           "slow node's awareness %u\n",
           lifeguard_off ? "off" : "on ", (unsigned long long)c.suspicions,
           (unsigned long long)c.deaths, gs.awareness);
    sim_free(s);
    return c;
}

static void test_slow_node_lifeguard_fewer_false_suspicions(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_false_positive", 11);
    struct lg_count on = run_slow_node(seed, false);
    struct lg_count off = run_slow_node(seed, true);
    /* Measured (seeds 1-11): about 14 times fewer with Lifeguard; the
     * assertion asks for 4 times. Deaths are rare either way at this loss
     * (the refutation usually beats even SWIM's fixed 5.2 s timer), so they
     * are only required not to be more. */
    SIM_ASSERT_MSG(off.suspicions > 0,
                   "the slow node should cause false suspicions without Lifeguard");
    SIM_ASSERT_MSG(4 * on.suspicions < off.suspicions,
                   "suspicions with Lifeguard %llu, without %llu: not under a quarter",
                   (unsigned long long)on.suspicions, (unsigned long long)off.suspicions);
    SIM_ASSERT_MSG(on.deaths <= off.deaths, "deaths with Lifeguard %llu, without %llu",
                   (unsigned long long)on.deaths, (unsigned long long)off.deaths);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ten_percent_loss_ten_minutes_no_false_death),
        cmocka_unit_test(test_slow_node_lifeguard_fewer_false_suspicions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
