/*
 * test_sim_partition: splits and heals.
 *
 * 1. Five nodes split 2/3; both sides write the same keys and their own keys
 *    (and delete one); after healing every node holds identical data (equal
 *    root hashes) within the anti-entropy bound, and every key holds exactly
 *    the version the merge rule picks: the expected winner is computed here,
 *    independently, by folding entry_merge() over every write made.
 *
 *    Bound (docs/SIMULATOR.md, "Anti-entropy after a heal"): deltas written
 *    during the split were pushed only inside each side and their retransmit
 *    budget is spent, so the cross-side repair is anti-entropy: every node
 *    exchanges digests with one random member per sync interval. A given node
 *    talks to a node of the other side in one interval with probability at
 *    least 1/2 (2 of 4 peers for a node of the 3-side; and it is also chosen
 *    by others), so missing that for k intervals has probability <= 2^-k;
 *    k = 12 gives 2.4e-4 per node. Plus one round trip per repair:
 *        bound = 12 * sync_interval_ms + 2 s.
 *
 * 2. A split longer than the suspicion timeout: each side declares the other
 *    DEAD (within the detection bound of test_sim_failure); after healing
 *    the cluster re-merges by itself, without any call from the test.
 *    Mechanism (docs/GOSSIP.md, Reconnect): every reconnect_interval_ms R a
 *    node pushes its STATE to one dead member or seed; the receiver answers
 *    with its own; each side applies the other's DEAD records about itself
 *    as SUSPECT, and the accused refute with a higher incarnation, but only
 *    inside their own side (nobody gossips to members it believes dead). The
 *    next cross push after that carries the refuted incarnations, which beat
 *    the DEAD records, and ALIVE spreads. Two pushes, each within R:
 *        bound = 2 R
 *              + probe_interval_ms (the refutation happens)
 *              + (log2 N + ln N + 2) gossip rounds (the ALIVE spreads),
 *    at most 10 s with the default R = 2 s (asserted),
 *    and the data written on both sides converges within the anti-entropy
 *    bound above after that.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

struct rec {
    char key[16];
    char val[24];
    bool tomb;
    uint64_t hlc;
    uint64_t origin;
    struct vclock vc;
};

#define MAX_RECS 256

struct log {
    struct rec r[MAX_RECS];
    uint32_t n;
};

static void record(struct log *lg, const char *key, const char *val, const struct entry *e)
{
    SIM_ASSERT(lg->n < MAX_RECS);
    struct rec *r = &lg->r[lg->n++];
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->val, sizeof r->val, "%s", val ? val : "");
    r->tomb = entry_is_tombstone(e);
    r->hlc = e->hlc;
    r->origin = e->origin;
    r->vc = e->vc;
}

static void to_entry(const struct rec *r, struct entry *e)
{
    memset(e, 0, sizeof *e);
    e->key = (const uint8_t *)r->key;
    e->key_len = (uint32_t)strlen(r->key);
    e->value = r->tomb ? NULL : (const uint8_t *)r->val;
    e->value_len = r->tomb ? 0 : (uint32_t)strlen(r->val);
    e->hlc = r->hlc;
    e->origin = r->origin;
    e->flags = r->tomb ? ENTRY_TOMBSTONE : 0;
    e->vc = r->vc;
}

static void put(struct sim *s, struct log *lg, uint32_t node, const char *key, const char *val)
{
    struct entry e;
    SIM_OK(sim_write(s, node, key, val, &e));
    record(lg, key, val, &e);
}

static void del(struct sim *s, struct log *lg, uint32_t node, const char *key)
{
    struct entry e;
    SIM_OK(sim_delete(s, node, key, &e));
    record(lg, key, NULL, &e);
}

/* Every node holds, for every key written, exactly the merge rule's winner. */
static void check_winners(struct sim *s, const struct log *lg)
{
    for (uint32_t k = 0; k < lg->n; k++) {
        const char *key = lg->r[k].key;
        bool first_of_key = true;
        for (uint32_t j = 0; j < k; j++)
            if (strcmp(lg->r[j].key, key) == 0)
                first_of_key = false;
        if (!first_of_key)
            continue;
        struct entry win;
        to_entry(&lg->r[k], &win);
        uint32_t writes = 1;
        for (uint32_t j = k + 1; j < lg->n; j++) {
            if (strcmp(lg->r[j].key, key) != 0)
                continue;
            struct entry in;
            to_entry(&lg->r[j], &in);
            if (entry_merge(&win, &in, NULL) == MERGE_TAKE_INCOMING)
                win = in;
            writes++;
        }
        for (uint32_t i = 0; i < sim_node_count(s); i++) {
            struct entry got;
            SIM_OK(sim_read(s, i, key, &got));
            SIM_ASSERT_MSG(got.hlc == win.hlc && got.origin == win.origin &&
                               entry_is_tombstone(&got) == entry_is_tombstone(&win),
                           "node %u key %s: holds (hlc %llx, origin %llu), the merge rule "
                           "picks (hlc %llx, origin %llu) among %u writes",
                           i, key, (unsigned long long)got.hlc, (unsigned long long)got.origin,
                           (unsigned long long)win.hlc, (unsigned long long)win.origin, writes);
            SIM_ASSERT(got.value_len == win.value_len);
            SIM_ASSERT(win.value_len == 0 || memcmp(got.value, win.value, win.value_len) == 0);
        }
    }
}

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

static void test_split_2_3_both_sides_write_heal_converges_to_merge_winners(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_partition", 4);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, 5);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);

    /* Node 0 runs 40 ms fast (inside the 500 ms HLC tolerance), so side A
     * wins some of the same-key races and side B others. */
    sim_set_clock_offset(s, 0, 40);
    struct log *lg = calloc(1, sizeof *lg);
    SIM_ASSERT(lg);
    put(s, lg, 4, "pre", "before-split");
    sim_run_for(s, 2000);

    sim_set_group(s, 0, 1);
    sim_set_group(s, 1, 1);
    for (uint32_t i = 2; i < 5; i++)
        sim_set_group(s, i, 2);
    char key[16], val[24];
    for (int round = 0; round < 10; round++) {
        snprintf(key, sizeof key, "same%d", round % 5);
        snprintf(val, sizeof val, "A%d", round);
        put(s, lg, (uint32_t)(round % 2), key, val);
        sim_run_for(s, 7);
        snprintf(val, sizeof val, "B%d", round);
        put(s, lg, (uint32_t)(2 + round % 3), key, val);
        snprintf(key, sizeof key, "onlyA%d", round);
        put(s, lg, (uint32_t)(round % 2), key, "a");
        snprintf(key, sizeof key, "onlyB%d", round);
        put(s, lg, (uint32_t)(2 + round % 3), key, "b");
        sim_run_for(s, 100);
    }
    put(s, lg, 1, "pre", "A-overwrote");
    del(s, lg, 3, "pre"); /* B deletes what A overwrote: the rule decides */
    sim_run_for(s, 1000);
    SIM_ASSERT(!sim_converged(s));

    sim_heal(s);
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t bound = 12ull * gc.sync_interval_ms + 2000;
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, converged, NULL, bound);
    printf("2/3 split healed: converged after %llu ms (bound %llu ms), %u writes\n",
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)bound, lg->n);
    SIM_ASSERT_MSG(ok, "root hashes still differ %llu ms after healing", (unsigned long long)bound);
    check_winners(s, lg);
    free(lg);
    sim_free(s);
}

struct sides {
    uint32_t n, split; /* nodes [0, split) vs [split, n) */
};

static bool each_side_sees_other_dead(struct sim *s, void *arg)
{
    const struct sides *sd = arg;
    for (uint32_t v = 0; v < sd->n; v++)
        for (uint32_t u = 0; u < sd->n; u++) {
            bool other = (v < sd->split) != (u < sd->split);
            if (other && sim_view_state(s, v, u) != GOSSIP_DEAD)
                return false;
        }
    return true;
}

static void test_split_longer_than_suspicion_declares_dead_then_remerges(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_partition", 4);
    const uint32_t n = 6;
    struct sim_config cfg;
    sim_config_init(&cfg, seed + 1, n);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    struct sides sd = {.n = n, .split = 3};
    for (uint32_t i = 0; i < n; i++)
        sim_set_group(s, i, i < sd.split ? 1 : 2);
    double log10n = log10((double)n) > 1 ? log10((double)n) : 1;
    uint32_t hop = cfg.link.latency_ms + cfg.link.jitter_ms;
    double spread = (log2(n) + log(n) + 2) * (gc.gossip_interval_ms + hop);
    uint64_t detect = (uint64_t)(11.0 * gc.probe_interval_ms +
                                 (double)gc.suspicion_max_mult * gc.suspicion_mult * log10n *
                                     gc.probe_interval_ms +
                                 spread);
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, each_side_sees_other_dead, &sd, detect);
    printf("3/3 split: each side sees the other dead after %llu ms (bound %llu ms)\n",
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)detect);
    SIM_ASSERT_MSG(ok, "the sides did not declare each other dead within %llu ms",
                   (unsigned long long)detect);
    SIM_OK(sim_write(s, 0, "left", "L", NULL));
    SIM_OK(sim_write(s, 5, "right", "R", NULL));
    SIM_OK(sim_write(s, 1, "both", "L", NULL));
    SIM_OK(sim_write(s, 4, "both", "R", NULL));
    sim_run_for(s, 5000);

    sim_heal(s);
    uint64_t remerge = 2ull * gc.reconnect_interval_ms + gc.probe_interval_ms + (uint64_t)spread;
    /* With the defaults (R = 2 s) that is 6.3 s; a 30 s R made healed
     * partitions wait up to a minute (docs/EXPERIMENTS.md). */
    SIM_ASSERT_MSG(remerge <= 10000, "the default re-merge bound %llu ms exceeds 10 s",
                   (unsigned long long)remerge);
    t0 = sim_now_ms(s);
    ok = sim_run_until(s, sim_test_all_alive, NULL, remerge);
    printf("healed: all alive after %llu ms (bound %llu ms)\n",
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)remerge);
    SIM_ASSERT_MSG(ok, "the cluster did not re-merge within %llu ms of healing",
                   (unsigned long long)remerge);
    uint64_t sync_bound = 12ull * gc.sync_interval_ms + 2000;
    ok = sim_run_until(s, converged, NULL, sync_bound);
    SIM_ASSERT_MSG(ok, "data did not converge within %llu ms after re-merging",
                   (unsigned long long)sync_bound);
    for (uint32_t i = 0; i < n; i++) {
        SIM_ASSERT(sim_has_value(s, i, "left", "L"));
        SIM_ASSERT(sim_has_value(s, i, "right", "R"));
    }
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_2_3_both_sides_write_heal_converges_to_merge_winners),
        cmocka_unit_test(test_split_longer_than_suspicion_declares_dead_then_remerges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
