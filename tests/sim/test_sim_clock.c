/*
 * test_sim_clock: one node's clock runs 10 s fast.
 *
 * The merge rule (docs/ARCHITECTURE.md, HLC): a remote version whose HLC is
 * more than max_offset_ms (500 ms) ahead of the receiver's wall clock is
 * refused with GKV_ECLOCK and counted, never stored. So while node 4 is
 * 10 s fast:
 *   - its writes are refused by every other node (clock_refused grows on
 *     them, the key is absent there);
 *   - no other node's HLC jumps: at every 10 ms step, for every other node i,
 *     HLC_MS(store_hlc(i)->last) <= wall_i + max_offset_ms;
 *   - node 4 refuses nothing from the others (they are behind it).
 * Convergence, defined: node 4's clock is corrected (offset 0) after its last
 * skewed write. Its HLC stays ahead by up to the skew (hlc_now never goes
 * back), so the skewed versions become acceptable to the others once their
 * wall clocks pass HLC - max_offset_ms, i.e. at most skew_ms after they were
 * written; anti-entropy then delivers them. So every node holds every key's
 * merge winner within skew_ms + 12 * sync_interval_ms + 2 s of the last
 * skewed write (the 12-interval anti-entropy bound of test_sim_partition).
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 5u
#define SKEWED 4u
#define SKEW_MS 10000

static uint64_t max_offset_ms(void)
{
    return HLC_MAX_OFFSET_MS_DEFAULT;
}

/* Run ms of virtual time, checking the no-jump invariant every 10 ms. */
static void run_checking_hlc(struct sim *s, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 10) {
        sim_run_for(s, 10);
        for (uint32_t i = 0; i < N; i++) {
            if (i == SKEWED || !sim_node_up(s, i))
                continue;
            uint64_t hlc_ms = HLC_MS(store_hlc(sim_node_store(s, i))->last);
            uint64_t wall = sim_node_now_ms(s, i);
            SIM_ASSERT_MSG(hlc_ms <= wall + max_offset_ms(),
                           "node %u's HLC jumped to %llu ms, %llu ms past its wall clock", i,
                           (unsigned long long)hlc_ms, (unsigned long long)(hlc_ms - wall));
        }
    }
}

static uint64_t refused_on_others(struct sim *s)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (i == SKEWED)
            continue;
        struct store_stats ss;
        store_stats(sim_node_store(s, i), &ss);
        sum += ss.clock_refused;
    }
    return sum;
}

static void test_fast_clock_writes_refused_no_hlc_jump_converges_after_skew(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_clock", 7);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);

    sim_set_clock_offset(s, SKEWED, SKEW_MS);
    run_checking_hlc(s, 1000);
    SIM_OK(sim_write(s, SKEWED, "fast", "from the future", NULL));
    SIM_OK(sim_write(s, 0, "shared", "normal", NULL));
    run_checking_hlc(s, 5);
    SIM_OK(sim_write(s, SKEWED, "shared", "future wins later", NULL));
    SIM_OK(sim_write(s, 1, "normal", "n", NULL));
    run_checking_hlc(s, 3000);

    /* Refused and counted on the others; accepted the other way round. */
    struct gossip_stats gs;
    sim_gossip_stats_sum(s, &gs);
    printf("refused on others: store %llu, gossip %llu\n", (unsigned long long)refused_on_others(s),
           (unsigned long long)gs.clock_refused);
    SIM_ASSERT_MSG(refused_on_others(s) > 0, "no node refused the fast clock's versions");
    for (uint32_t i = 0; i < N; i++) {
        if (i == SKEWED)
            continue;
        struct entry e;
        SIM_ASSERT_MSG(sim_read(s, i, "fast", &e) == GKV_ENOTFOUND,
                       "node %u stored a version 10 s in its future", i);
        /* The fast clock's version of a shared key is refused too: a node
         * holds the normal version or (if that rumour has not reached it
         * yet; anti-entropy repairs it later) nothing. */
        SIM_ASSERT_MSG(!sim_has_value(s, i, "shared", "future wins later"),
                       "node %u took a version 10 s in its future", i);
    }
    /* The other way round nothing is refused: everyone else is behind it. */
    struct store_stats fast_st;
    store_stats(sim_node_store(s, SKEWED), &fast_st);
    SIM_ASSERT(fast_st.clock_refused == 0);
    SIM_ASSERT(sim_all_see_up_alive(s)); /* membership does not care about HLCs */

    /* Correct the clock; within the skew plus the anti-entropy bound every
     * node holds the fast node's versions (they win: higher HLC). */
    sim_set_clock_offset(s, SKEWED, 0);
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t bound = SKEW_MS + 12ull * gc.sync_interval_ms + 2000;
    uint64_t t0 = sim_now_ms(s);
    bool done = false;
    while (!done && sim_now_ms(s) - t0 < bound) {
        run_checking_hlc(s, 100);
        done = sim_converged(s);
        for (uint32_t i = 0; done && i < N; i++)
            done = sim_has_value(s, i, "fast", "from the future") &&
                   sim_has_value(s, i, "shared", "future wins later");
    }
    printf("converged %llu ms after the clock was corrected (bound %llu ms)\n",
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)bound);
    SIM_ASSERT_MSG(done, "no convergence within %llu ms of correcting the clock",
                   (unsigned long long)bound);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_clock_writes_refused_no_hlc_jump_converges_after_skew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
