/*
 * test_sim_chaos: loss, duplication and reordering are harmless.
 *
 * 12 nodes; every datagram is lost with probability 0.2, duplicated with
 * probability 0.05 (the replay window must drop the copy) and delayed by
 * 5 ms + uniform [0, 80] ms (so datagrams overtake each other). 600 writes
 * and 60 deletes on random nodes over 30 s, on 80 keys, so most keys see
 * concurrent versions from several nodes. Then the network heals and, within
 * the bound, every node holds identical data (equal root hashes) and every
 * key holds exactly the version the merge rule picks, computed here by
 * folding entry_merge() over every write made.
 *
 * Bound (docs/SIMULATOR.md, "Chaos"): the loss stops when the writes stop,
 * so after that this is the anti-entropy bound of test_sim_partition with
 * one more consideration: a node may be SUSPECT or DEAD in some views when
 * the loss stops and must first be seen ALIVE again (refutation, at most the
 * join bound) before peers pick it for sync:
 *     bound = sim_join_bound_ms + 12 * sync_interval_ms + 2 s.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 12u
#define KEYS 80u
#define WRITES 600u
#define DELETES 60u

struct rec {
    char key[16];
    char val[24];
    bool tomb;
    uint64_t hlc;
    uint64_t origin;
    struct vclock vc;
};

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
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

static void test_loss_dup_reorder_converge_to_merge_winners(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_chaos", 10);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);

    struct sim_link chaos = {.latency_ms = 5, .jitter_ms = 80, .loss = 0.2, .dup = 0.05};
    sim_set_link(s, &chaos);
    struct rec *recs = calloc(WRITES + DELETES, sizeof *recs);
    SIM_ASSERT(recs);
    struct gkv_rng rng;
    gkv_rng_seed(&rng, seed * 31 + 7);
    uint32_t n = 0;
    for (uint32_t w = 0; w < WRITES + DELETES; w++) {
        struct rec *r = &recs[n];
        uint32_t node = (uint32_t)gkv_rng_below(&rng, N);
        snprintf(r->key, sizeof r->key, "key%u", (unsigned)gkv_rng_below(&rng, KEYS));
        struct entry e;
        if (w % 11 == 10) {
            SIM_OK(sim_delete(s, node, r->key, &e));
        } else {
            snprintf(r->val, sizeof r->val, "v%u@n%u", w, node);
            SIM_OK(sim_write(s, node, r->key, r->val, &e));
        }
        r->tomb = entry_is_tombstone(&e);
        r->hlc = e.hlc;
        r->origin = e.origin;
        r->vc = e.vc;
        n++;
        sim_run_for(s, 45); /* 660 operations over ~30 s */
    }
    struct sim_stats st;
    sim_stats(s, &st);
    SIM_ASSERT(st.dropped_loss > 0 && st.duplicated > 0);

    sim_set_link(s, &cfg.link);
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t bound = sim_join_bound_ms(&cfg) + 12ull * gc.sync_interval_ms + 2000;
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, converged, NULL, bound);
    printf("%u operations under 20%% loss, 5%% duplication, 80 ms jitter: %llu lost, %llu "
           "duplicated; converged %llu ms after the loss stopped (bound %llu ms)\n",
           n, (unsigned long long)st.dropped_loss, (unsigned long long)st.duplicated,
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)bound);
    SIM_ASSERT_MSG(ok, "root hashes still differ %llu ms after the loss stopped",
                   (unsigned long long)bound);

    /* Every key holds the merge rule's winner among all writes made. */
    for (uint32_t k = 0; k < KEYS; k++) {
        char key[16];
        snprintf(key, sizeof key, "key%u", k);
        struct entry win;
        bool have = false;
        for (uint32_t j = 0; j < n; j++) {
            if (strcmp(recs[j].key, key) != 0)
                continue;
            struct entry in;
            to_entry(&recs[j], &in);
            if (!have || entry_merge(&win, &in, NULL) == MERGE_TAKE_INCOMING)
                win = in;
            have = true;
        }
        for (uint32_t i = 0; i < N; i++) {
            struct entry got;
            int rc = sim_read(s, i, key, &got);
            if (!have) {
                SIM_ASSERT(rc == GKV_ENOTFOUND);
                continue;
            }
            SIM_ASSERT_MSG(rc == 0 && sim_test_same_version(&got, &win),
                           "node %u key %s does not hold the merge rule's winner", i, key);
        }
    }
    free(recs);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_dup_reorder_converge_to_merge_winners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
