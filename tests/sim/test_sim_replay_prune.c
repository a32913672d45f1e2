/*
 * test_sim_replay_prune: the replay state of departed members is dropped.
 *
 * A node that crashes for good is declared dead and, dead_reclaim_ms later,
 * reaped from every member table; its sender entry in each survivor's
 * replay table goes with it (seal_ctx_forget_sender), so a cluster that
 * churns through members does not keep one replay window per node it has
 * ever heard. The same for a graceful leave.
 *
 * Bound: death detection as in test_sim_failure is well under 60 s at these
 * settings; then dead_reclaim_ms plus the reclaim walk (a few ticks).
 */
#include <stdlib.h>
#include <string.h>

#include "gossip/seal.h"
#include "tests/sim/sim_test.h"

#define N 6u
#define DEAD_RECLAIM_MS 5000u

struct gone {
    uint32_t a, b; /* the departed nodes */
};

/* Every survivor's replay table holds exactly the other survivors. */
static bool survivors_forgot_departed(struct sim *s, void *arg)
{
    const struct gone *g = arg;
    for (uint32_t v = 0; v < N; v++) {
        if (v == g->a || v == g->b)
            continue;
        const struct seal_stats *st = seal_ctx_stats(sim_node_seal(s, v));
        if (st->senders != N - 3 || st->senders_forgotten != 2)
            return false;
    }
    return true;
}

static void test_reaped_members_leave_no_replay_state_behind(void **state)
{
    (void)state;
    struct sim_config cfg;
    sim_config_init(&cfg, sim_test_begin("test_sim_replay_prune", 14), N);
    cfg.gossip.dead_reclaim_ms = DEAD_RECLAIM_MS;
    struct sim *s = sim_test_form_cluster(&cfg);
    /* N probe periods: every node has probed (and heard from) every other. */
    sim_run_for(s, 2ull * N * 1000);
    for (uint32_t v = 0; v < N; v++)
        SIM_ASSERT(seal_ctx_stats(sim_node_seal(s, v))->senders == N - 1);

    struct gone g = {.a = 2, .b = 4};
    SIM_OK(sim_crash(s, g.a, SIM_CRASH_KEEP_STORE));
    SIM_OK(gossip_leave(sim_node_gossip(s, g.b), sim_now_ms(s)));
    sim_run_for(s, 2000); /* the leave spreads */
    SIM_OK(sim_crash(s, g.b, SIM_CRASH_KEEP_STORE));
    SIM_ASSERT_MSG(sim_run_until(s, survivors_forgot_departed, &g, 60000 + DEAD_RECLAIM_MS),
                   "survivors still hold replay state for the departed nodes");
    for (uint32_t v = 0; v < N; v++) {
        if (v == g.a || v == g.b)
            continue;
        struct gossip_stats gs;
        gossip_stats(sim_node_gossip(s, v), &gs);
        SIM_ASSERT(gs.members_reclaimed == 2);
    }
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reaped_members_leave_no_replay_state_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
