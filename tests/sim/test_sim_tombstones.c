/*
 * test_sim_tombstones: deletes at a high rate on every node with a short
 * grace; tombstones are collected cluster-wide as fast as they are made
 * (issue 25, docs/ARCHITECTURE.md "Tombstone purge").
 *
 * Four nodes, grace GRACE_MS. Every STEP_MS each node writes PER_STEP new
 * keys and deletes the keys another node wrote one step before, so the
 * cluster makes DELETES_PER_S tombstones a second, every one on every node.
 * Over RUN_MS (many graces) it checks:
 *   - bounded: after the first grace no node ever holds more than
 *         DELETES_PER_S * (grace + slack)
 *     tombstones, slack = one cutoff step (grace/16) + the gossip GC bound's
 *     margin (2 sync intervals + the 500 ms clock tolerance) + 1 s of purge
 *     pacing + 2 s for deltas and anti-entropy; without collection the count
 *     grows by DELETES_PER_S a second for the whole run;
 *   - no deleted key comes back: a node that applied a key's tombstone never
 *     applies a live version of it afterwards, and at the end no node reads
 *     a value for any deleted key;
 *   - no purged tombstone reappears: once a node purged a key (sampled every
 *     second), no version of it is ever applied there again (anti-entropy
 *     from a node that had not purged yet must not bring it back);
 *   - after the deletes stop, every node purges every tombstone within
 *     grace + slack.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 4u
#define GRACE_MS 30000u
#define STEP_MS 100u
#define PER_STEP 2u
#define RUN_MS 300000u
#define DELETES_PER_S (N * PER_STEP * (1000u / STEP_MS))
#define KEYS (N * PER_STEP * (RUN_MS / STEP_MS) + N * PER_STEP)

struct key_state {
    uint8_t deleted_on; /* nodes that applied (or made) its tombstone */
    uint8_t purged_on;  /* nodes seen without it after that */
    uint8_t written;
    uint32_t del_ms; /* virtual time of the delete */
};

struct world {
    struct sim *s;
    struct key_state *k;
    uint32_t next_key;   /* keys [0, next_key) written */
    uint32_t deleted_to; /* keys [0, deleted_to) deleted */
    uint64_t resurrected, reappeared, steps;
    uint64_t max_tombstones, max_tombstones_at;
    uint64_t max_spread_ms; /* longest a delete took to reach every node */
    bool stop;
};

static void key_name(char *buf, size_t n, uint32_t k)
{
    snprintf(buf, n, "t%08u", k);
}

static bool key_index(const struct entry *e, uint32_t *k)
{
    if (e->key_len != 9 || e->key[0] != 't')
        return false;
    uint32_t v = 0;
    for (int i = 1; i < 9; i++)
        v = v * 10 + (uint32_t)(e->key[i] - '0');
    *k = v;
    return v < KEYS;
}

static void applied(void *arg, struct sim *s, uint32_t i, const struct entry *e)
{
    struct world *w = arg;
    uint32_t k;
    if (!key_index(e, &k))
        return;
    struct key_state *ks = &w->k[k];
    if (ks->purged_on & (1u << i))
        w->reappeared++;
    if (entry_is_tombstone(e)) {
        ks->deleted_on |= (uint8_t)(1u << i);
        if (ks->deleted_on == (1u << N) - 1 && sim_now_ms(s) - ks->del_ms > w->max_spread_ms)
            w->max_spread_ms = sim_now_ms(s) - ks->del_ms;
    }
    else if (ks->deleted_on & (1u << i)) {
        if (!w->resurrected++) /* the first one, for whoever replays the seed */
            printf("first resurrection k=%u node=%u t=%llu hlc_ms=%llu origin=%llu deleted_on=%x purged_on=%x\n", k, i,
                   (unsigned long long)sim_now_ms(s), (unsigned long long)(HLC_MS(e->hlc) - SIM_EPOCH_MS),
                   (unsigned long long)e->origin, ks->deleted_on, ks->purged_on);
    }
}

static void step(struct sim *s, void *arg)
{
    struct world *w = arg;
    if (w->stop)
        return;
    char key[16];
    uint32_t first_new = w->next_key;
    /* delete what the previous step wrote, each key on the next node over */
    for (uint32_t k = w->deleted_to; k < first_new; k++) {
        uint32_t node = (k / PER_STEP + 1) % N;
        key_name(key, sizeof key, k);
        SIM_OK(sim_delete(s, node, key, NULL));
        w->k[k].deleted_on |= (uint8_t)(1u << node);
        w->k[k].del_ms = (uint32_t)sim_now_ms(s);
    }
    w->deleted_to = first_new;
    for (uint32_t i = 0; i < N; i++)
        for (uint32_t j = 0; j < PER_STEP; j++) {
            uint32_t k = w->next_key++;
            key_name(key, sizeof key, k);
            SIM_OK(sim_write(s, i, key, "value-to-be-deleted", NULL));
            w->k[k].written = 1;
        }
    w->steps++;
    sim_at(s, STEP_MS, step, w);
}

/* Once a second: which nodes purged which deleted keys (a sample: every
 * 7th key), and the tombstone high-water mark. */
static void sample(struct sim *s, void *arg)
{
    struct world *w = arg;
    char key[16];
    for (uint32_t k = 0; k < w->deleted_to; k += 7) {
        struct key_state *ks = &w->k[k];
        for (uint32_t i = 0; i < N; i++) {
            uint8_t bit = (uint8_t)(1u << i);
            if (!(ks->deleted_on & bit) || (ks->purged_on & bit))
                continue;
            key_name(key, sizeof key, k);
            struct entry e;
            if (sim_read(s, i, key, &e) == GKV_ENOTFOUND)
                ks->purged_on |= bit;
        }
    }
    if (sim_now_ms(s) > GRACE_MS) {
        for (uint32_t i = 0; i < N; i++) {
            struct store_stats st;
            store_stats(sim_node_store(s, i), &st);
            if (st.tombstones > w->max_tombstones) {
                w->max_tombstones = st.tombstones;
                w->max_tombstones_at = sim_now_ms(s);
            }
        }
    }
    sim_at(s, 1000, sample, w);
}

static bool all_purged(struct sim *s, void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < N; i++) {
        struct store_stats st;
        store_stats(sim_node_store(s, i), &st);
        if (st.tombstones > 0)
            return false;
    }
    return true;
}

static void test_tombstones_stay_bounded_and_never_come_back(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_tombstones", 25);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 1, .jitter_ms = 2, .loss = 0.01};
    cfg.tombstone_grace_ms = GRACE_MS;
    struct sim *s = sim_test_form_cluster(&cfg);
    struct world *w = calloc(1, sizeof *w);
    SIM_ASSERT(w != NULL);
    w->s = s;
    w->k = calloc(KEYS, sizeof *w->k);
    SIM_ASSERT(w->k != NULL);
    sim_set_applied_hook(s, applied, w);
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t slack_ms = GRACE_MS / 16 + 2ull * gc.sync_interval_ms + 500 + 1000 + 2000;
    uint64_t bound = (uint64_t)DELETES_PER_S * (GRACE_MS + slack_ms) / 1000;

    sim_at(s, 0, step, w);
    sim_at(s, 0, sample, w);
    sim_run_for(s, RUN_MS);
    w->stop = true;
    uint64_t t_stop = sim_now_ms(s);
    bool drained = sim_run_until(s, all_purged, NULL, GRACE_MS + slack_ms + STEP_MS);
    uint64_t drain_ms = sim_now_ms(s) - t_stop;

    /* no node reads a value for a deleted key */
    uint64_t live_deleted = 0, purged_seen = 0;
    char key[16];
    for (uint32_t k = 0; k < w->deleted_to; k++) {
        key_name(key, sizeof key, k);
        for (uint32_t i = 0; i < N; i++) {
            struct entry e;
            if (sim_read(s, i, key, &e) == 0 && !entry_is_tombstone(&e))
                live_deleted++;
        }
        purged_seen += (uint64_t)__builtin_popcount(w->k[k].purged_on);
    }
    uint64_t dropped = 0, purged_total = 0, skipped = 0, superseded = 0;
    for (uint32_t i = 0; i < N; i++) {
        struct store_stats st;
        store_stats(sim_node_store(s, i), &st);
        dropped += st.tombstones_dropped;
        purged_total += st.tombstones_purged;
        struct gossip_stats gs;
        gossip_stats(sim_node_gossip(s, i), &gs);
        skipped += gs.repair_retired_skipped;
        superseded += gs.deltas_superseded;
    }
    printf("%llu steps, %u deletes/s for %u s, grace %u ms: %u keys deleted; max tombstones on a "
           "node %llu at %llu ms (bound %llu; unbounded would end at %u); purged everywhere %llu "
           "ms after the deletes stopped; %llu purges sampled, %llu purged in all; retired "
           "versions dropped on receipt %llu, left out of repairs %llu, stale deltas not sent %llu; "
           "resurrected %llu, reappeared %llu, deleted keys readable %llu\n",
           (unsigned long long)w->steps, DELETES_PER_S, RUN_MS / 1000, GRACE_MS, w->deleted_to,
           (unsigned long long)w->max_tombstones, (unsigned long long)w->max_tombstones_at,
           (unsigned long long)bound, w->deleted_to, (unsigned long long)drain_ms,
           (unsigned long long)purged_seen, (unsigned long long)purged_total,
           (unsigned long long)dropped, (unsigned long long)skipped,
           (unsigned long long)superseded,
           (unsigned long long)w->resurrected, (unsigned long long)w->reappeared,
           (unsigned long long)live_deleted);
    printf("longest a delete took to reach every node: %llu ms\n",
           (unsigned long long)w->max_spread_ms);
    SIM_ASSERT_MSG(w->deleted_to > 8 * bound, "too few deletes to tell bounded from not");
    SIM_ASSERT_MSG(w->max_tombstones <= bound, "a node held %llu tombstones (bound %llu)",
                   (unsigned long long)w->max_tombstones, (unsigned long long)bound);
    SIM_ASSERT_MSG(w->reappeared == 0, "%llu purged versions came back",
                   (unsigned long long)w->reappeared);
    SIM_ASSERT_MSG(w->resurrected == 0 && live_deleted == 0,
                   "deleted keys came back: %llu applied after the delete, %llu readable",
                   (unsigned long long)w->resurrected, (unsigned long long)live_deleted);
    SIM_ASSERT_MSG(purged_seen > w->deleted_to / 7, "the sample saw too few purges");
    SIM_ASSERT_MSG(drained, "tombstones left %llu ms after the deletes stopped",
                   (unsigned long long)drain_ms);
    free(w->k);
    free(w);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tombstones_stay_bounded_and_never_come_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
