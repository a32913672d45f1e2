/*
 * test_sim_expiry: expiries converge like values, and expire everywhere at
 * the same time, under partition, loss, duplication, reordering and skewed
 * clocks.
 *
 * 8 nodes; node 1's clock runs 200 ms ahead (inside the 500 ms bound),
 * node 2's 2 s behind (the gossip core corrects it), node 3's 150 ms behind
 * (too little to correct). The cluster is split in two halves, every
 * datagram is lost with probability 0.1, duplicated with 0.02 and delayed
 * 5 ms + [0, 40] ms. For 20 s, operations on random nodes and 30 keys, as
 * node/ makes them, each on the writing node's cluster clock (its wall
 * clock plus its correction): SET with an expiry 0.3-20 s out or none,
 * EXPIRE (the value the node reads, written again with a new expiry),
 * PERSIST, DEL. Then the network heals and:
 *   1. every node holds the same data (equal root hashes, which cover the
 *      expiry) within the anti-entropy bound of test_sim_chaos;
 *   2. every key holds the merge rule's winner among all operations, value
 *      and expiry alike;
 *   3. for 25 s of virtual time, every 50 ms, each node's answer "does the
 *      key read?" (the value's expiry against its own cluster clock) is the
 *      truth (the expiry against the cluster's median clock), except within
 *      the node's clock error of the expiry: so a key stops reading on every
 *      node at the same time within the skew, the 2 s-slow node included.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 8u
#define KEYS 30u
#define OPS 400u
#define STEP_MS 50u
/* A node's clock error after correction: node 1 +200, node 3 -150, node
 * 2 corrected to within the estimate's few ms; 50 ms to spare. */
#define SKEW_TOL_MS 250

/* One acknowledged operation: the stored version, its key and value
 * pointing into the record's own arrays. */
struct rec {
    char key[16];
    char val[24];
    struct entry e;
};

static const int64_t offsets[N] = {0, 200, -2000, -150, 0, 0, 0, 0};

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

/* Node i's cluster clock: what node/ calls node_cluster_ms. */
static uint64_t cluster_ms(struct sim *s, uint32_t i)
{
    return sim_node_now_ms(s, i) + store_hlc(sim_node_store(s, i))->correction_ms;
}

static bool corrected(struct sim *s, void *arg)
{
    (void)arg;
    return store_hlc(sim_node_store(s, 2))->correction_ms >= 1900;
}

/* One operation on node i; false if the node refused it (clock skew) or an
 * EXPIRE/PERSIST found no live key there. */
static bool operate(struct sim *s, struct gkv_rng *rng, uint32_t op, uint32_t i, struct rec *r)
{
    snprintf(r->key, sizeof r->key, "key%u", (unsigned)gkv_rng_below(rng, KEYS));
    uint64_t now = cluster_ms(s, i);
    uint32_t kind = (uint32_t)gkv_rng_below(rng, 10);
    struct entry e;
    int rc;
    if (kind == 0) {
        rc = sim_delete(s, i, r->key, &e);
    } else if (kind <= 5) { /* SET [PX] */
        uint64_t exp = gkv_rng_below(rng, 3) ? now + 300 + gkv_rng_below(rng, 19700) : 0;
        snprintf(r->val, sizeof r->val, "v%u@n%u", op, i);
        rc = sim_write_expire(s, i, r->key, strlen(r->key), r->val, strlen(r->val), exp, &e);
    } else { /* EXPIRE or PERSIST of the value this node holds */
        struct entry cur;
        if (sim_read(s, i, r->key, &cur) != 0 || !entry_is_live(&cur, now))
            return false;
        if (cur.value_len >= sizeof r->val)
            return false;
        memcpy(r->val, cur.value, cur.value_len);
        r->val[cur.value_len] = 0;
        uint64_t exp = kind <= 8 ? now + 300 + gkv_rng_below(rng, 19700) : 0;
        rc = sim_write_expire(s, i, r->key, strlen(r->key), r->val, strlen(r->val), exp, &e);
    }
    if (rc == GKV_ECLOCKSKEW)
        return false;
    SIM_ASSERT_MSG(rc == 0, "op %u on node %u: %d", op, i, rc);
    r->e = e; /* its key and value are the store's: point them at ours */
    r->e.key = (const uint8_t *)r->key;
    r->e.value = entry_is_tombstone(&e) ? NULL : (const uint8_t *)r->val;
    return true;
}

/* 3: each node's judgement against the truth, every 50 ms for 25 s. */
static void check_expiry_times(struct sim *s, const struct entry *wins, const bool *have)
{
    uint64_t checked = 0, within_skew = 0;
    for (uint32_t t = 0; t < 25000; t += 50) {
        uint64_t truth = SIM_EPOCH_MS + sim_now_ms(s); /* the median clock: offset 0 */
        for (uint32_t k = 0; k < KEYS; k++) {
            if (!have[k] || entry_is_tombstone(&wins[k]))
                continue;
            bool want = entry_is_live(&wins[k], truth);
            char key[16];
            snprintf(key, sizeof key, "key%u", k);
            for (uint32_t i = 0; i < N; i++) {
                struct entry got;
                SIM_OK(sim_read(s, i, key, &got));
                bool live = entry_is_live(&got, cluster_ms(s, i));
                checked++;
                if (live == want)
                    continue;
                int64_t miss = (int64_t)truth - (int64_t)got.expire_ms;
                SIM_ASSERT_MSG(llabs(miss) <= SKEW_TOL_MS,
                               "node %u reads %s %s %lld ms from its expiry", i, key,
                               live ? "live" : "absent", (long long)miss);
                within_skew++;
            }
        }
        sim_run_for(s, 50);
    }
    printf("expiry judged %llu times; %llu differed from the truth, all within %d ms of the "
           "expiry\n",
           (unsigned long long)checked, (unsigned long long)within_skew, SKEW_TOL_MS);
    SIM_ASSERT(checked > 0);
}

static void test_expiries_converge_and_expire_together_under_skew(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_expiry", 17);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);
    for (uint32_t i = 0; i < N; i++)
        sim_set_clock_offset(s, i, offsets[i]);
    SIM_ASSERT_MSG(sim_run_until(s, corrected, NULL, 20000), "node 2 never corrected its clock");

    for (uint32_t i = N / 2; i < N; i++)
        sim_set_group(s, i, 1);
    struct sim_link chaos = {.latency_ms = 5, .jitter_ms = 40, .loss = 0.1, .dup = 0.02};
    sim_set_link(s, &chaos);
    struct rec *recs = calloc(OPS, sizeof *recs);
    SIM_ASSERT(recs);
    struct gkv_rng rng;
    gkv_rng_seed(&rng, seed * 131 + 5);
    uint32_t n = 0;
    for (uint32_t op = 0; op < OPS; op++) {
        uint32_t i = (uint32_t)gkv_rng_below(&rng, N);
        if (operate(s, &rng, op, i, &recs[n]))
            n++;
        sim_run_for(s, STEP_MS); /* 400 operations over 20 s */
    }
    sim_heal(s);
    sim_set_link(s, &cfg.link);
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t bound = sim_join_bound_ms(&cfg) + 12ull * gc.sync_interval_ms + 2000;
    uint64_t t0 = sim_now_ms(s);
    bool ok = sim_run_until(s, converged, NULL, bound);
    printf("%u operations (of %u) in two halves under loss: converged %llu ms after the heal "
           "(bound %llu ms)\n",
           n, OPS, (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)bound);
    SIM_ASSERT_MSG(ok, "root hashes still differ %llu ms after the heal", (unsigned long long)bound);

    struct entry wins[KEYS];
    bool have[KEYS] = {false};
    for (uint32_t k = 0; k < KEYS; k++) {
        char key[16];
        snprintf(key, sizeof key, "key%u", k);
        for (uint32_t j = 0; j < n; j++) {
            if (strcmp(recs[j].key, key) != 0)
                continue;
            if (!have[k] || entry_merge(&wins[k], &recs[j].e, NULL) == MERGE_TAKE_INCOMING)
                wins[k] = recs[j].e;
            have[k] = true;
        }
        for (uint32_t i = 0; i < N; i++) {
            struct entry got;
            int rc = sim_read(s, i, key, &got);
            if (!have[k]) {
                SIM_ASSERT(rc == GKV_ENOTFOUND);
                continue;
            }
            SIM_ASSERT_MSG(rc == 0 && sim_test_same_version(&got, &wins[k]),
                           "node %u key %s does not hold the merge rule's winner", i, key);
        }
    }
    check_expiry_times(s, wins, have);
    free(recs);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiries_converge_and_expire_together_under_skew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
