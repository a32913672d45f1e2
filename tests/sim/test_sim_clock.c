/*
 * test_sim_clock: wrong clocks (docs/ARCHITECTURE.md, "Clocks").
 *
 * A client workload writes shared keys (a register each) and fresh keys (a
 * set) on random nodes while one or two nodes' clocks are skewed, jump and
 * strobe, across a partition. A write a node refuses (GKV_ECLOCKSKEW: its
 * clock or HLC is past the bound ahead of the cluster's) is not
 * acknowledged; every other write is. At the end:
 *   1. the nodes converge and every acknowledged fresh key is on every node
 *      (no acknowledged write stranded);
 *   2. each shared key's value everywhere is an acknowledged write, and no
 *      acknowledged write to it came more than the bound (500 ms) later in
 *      real (virtual) time: a later write separated by more than the bound
 *      never loses;
 *   3. each node's acknowledged writes have strictly increasing HLCs, also
 *      across its own clock jumping back;
 *   4. every node's estimate of its offset from the cluster's median, and of
 *      each peer's offset, is within CLOCK_TOL_MS of the truth;
 *   5. (fixed skews) at every step no HLC leads its node's corrected wall
 *      clock by more than the bound: a bad clock drags nobody forward.
 * Links: 5 ms + [0, 5] ms jitter each way, so a round trip's asymmetry, and
 * the error bound of one sample, is a few ms.
 */
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "tests/sim/sim_test.h"

#define MAX_NODES 5u
#define KEYS 16u
#define MAX_ACKS 4096u
#define STEP_MS 40u
#define BOUND_MS ((uint64_t)HLC_MAX_OFFSET_MS_DEFAULT)
#define CLOCK_TOL_MS 5
#define CONVERGE_MS 30000u

struct ack {
    uint32_t node;
    uint32_t key; /* KEYS..: a fresh key */
    uint64_t at_ms;
    uint64_t hlc;
    uint32_t seq;
};

struct run {
    struct sim *s;
    uint32_t n;
    struct gkv_rng rng;
    int64_t off[MAX_NODES];
    struct ack acks[MAX_ACKS];
    uint32_t nacks;
    uint32_t seq;
    uint64_t refused[MAX_NODES];
    bool check_hlc; /* no HLC jumps: see hlc_bounded */
};

/* No node's HLC runs past its (corrected) wall clock plus the bound: a bad
 * clock never drags the others forward. (Not while a node's own clock
 * jumps back uncorrected: its HLC rightly stays where it was.) */
static void hlc_bounded(struct run *r)
{
    for (uint32_t i = 0; i < r->n; i++) {
        const struct hlc *h = store_hlc(sim_node_store(r->s, i));
        uint64_t limit = sim_node_now_ms(r->s, i) + h->correction_ms + BOUND_MS;
        SIM_ASSERT_MSG(HLC_MS(h->last) <= limit, "node %u's HLC is %llu ms past its clock + bound",
                       i, (unsigned long long)(HLC_MS(h->last) - limit));
    }
}

static void run_begin(struct run *r, const char *what, uint32_t n, uint64_t seed_default)
{
    memset(r, 0, sizeof(*r));
    uint64_t seed = sim_test_begin("test_sim_clock", seed_default);
    printf("--- %s (seed %llu)\n", what, (unsigned long long)seed);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, n);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    r->n = n;
    r->s = sim_test_form_cluster(&cfg);
    gkv_rng_seed(&r->rng, seed ^ 0x636c6f636bu);
    /* Every node probes every peer a few times: offsets are known. */
    sim_run_for(r->s, 8000);
}

static void set_offset(struct run *r, uint32_t i, int64_t ms)
{
    r->off[i] = ms;
    sim_set_clock_offset(r->s, i, ms);
}

static void key_name(char *buf, size_t cap, uint32_t key, uint32_t seq)
{
    if (key < KEYS)
        snprintf(buf, cap, "k%u", key);
    else
        snprintf(buf, cap, "u%u", seq);
}

/* ms of workload: one write every STEP_MS on a random node. */
static void workload(struct run *r, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += STEP_MS) {
        uint32_t i = (uint32_t)gkv_rng_below(&r->rng, r->n);
        uint32_t key = gkv_rng_below(&r->rng, 2) ? (uint32_t)gkv_rng_below(&r->rng, KEYS) : KEYS;
        uint32_t seq = ++r->seq;
        char k[32], v[32];
        key_name(k, sizeof(k), key, seq);
        snprintf(v, sizeof(v), "v%u", seq);
        struct entry e;
        int rc = sim_write(r->s, i, k, v, &e);
        if (rc == GKV_ECLOCKSKEW) {
            r->refused[i]++;
        } else {
            SIM_ASSERT_MSG(rc == 0, "write on node %u: %d", i, rc);
            SIM_ASSERT(r->nacks < MAX_ACKS);
            r->acks[r->nacks++] = (struct ack){.node = i, .key = key, .at_ms = sim_now_ms(r->s),
                                               .hlc = e.hlc, .seq = seq};
        }
        sim_run_for(r->s, STEP_MS);
        if (r->check_hlc)
            hlc_bounded(r);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* 4. Estimates against the truth: node i minus the (lower) median of all
 * clocks, and peer j minus node i. */
static void check_offsets(struct run *r)
{
    int64_t sorted[MAX_NODES];
    memcpy(sorted, r->off, sizeof(sorted));
    qsort(sorted, r->n, sizeof(sorted[0]), cmp_i64);
    int64_t worst = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        /* node i's view: the others relative to it, itself at 0 */
        int64_t rel[MAX_NODES];
        for (uint32_t j = 0; j < r->n; j++)
            rel[j] = r->off[j] - r->off[i];
        qsort(rel, r->n, sizeof(rel[0]), cmp_i64);
        int64_t truth = -rel[(r->n - 1) / 2];
        struct gossip *g = sim_node_gossip(r->s, i);
        struct gossip_clock_info ci;
        gossip_clock_get(g, sim_node_now_ms(r->s, i), &ci);
        int64_t err = llabs(ci.offset_ms - truth);
        worst = err > worst ? err : worst;
        SIM_ASSERT_MSG(err <= CLOCK_TOL_MS, "node %u: offset %lld ms, truth %lld ms", i,
                       (long long)ci.offset_ms, (long long)truth);
        SIM_ASSERT_MSG(ci.peers_measured == r->n - 1, "node %u measured %u peers", i,
                       ci.peers_measured);
        for (size_t k = 0; k < gossip_clock_peer_count(g); k++) {
            struct gossip_peer_clock p;
            SIM_OK(gossip_clock_peer_get(g, k, &p));
            uint32_t j = (uint32_t)(p.id - 1);
            int64_t perr = llabs(p.offset_ms - (r->off[j] - r->off[i]));
            worst = perr > worst ? perr : worst;
            SIM_ASSERT_MSG(perr <= CLOCK_TOL_MS, "node %u's estimate of node %u: %lld ms, truth %lld",
                           i, j, (long long)p.offset_ms, (long long)(r->off[j] - r->off[i]));
        }
    }
    printf("offsets: worst estimate error %lld ms (tolerance %d)\n", (long long)worst,
           CLOCK_TOL_MS);
}

static bool fresh_keys_everywhere(struct run *r)
{
    for (uint32_t a = 0; a < r->nacks; a++) {
        if (r->acks[a].key < KEYS)
            continue;
        char k[32], v[32];
        key_name(k, sizeof(k), r->acks[a].key, r->acks[a].seq);
        snprintf(v, sizeof(v), "v%u", r->acks[a].seq);
        for (uint32_t i = 0; i < r->n; i++)
            if (!sim_has_value(r->s, i, k, v))
                return false;
    }
    return true;
}

/* 1-3 */
static void check_history(struct run *r)
{
    uint64_t t0 = sim_now_ms(r->s);
    bool done = false;
    while (!done && sim_now_ms(r->s) - t0 < CONVERGE_MS) {
        sim_run_for(r->s, 100);
        done = sim_converged(r->s) && fresh_keys_everywhere(r);
    }
    uint64_t refused = 0;
    for (uint32_t i = 0; i < r->n; i++)
        refused += r->refused[i];
    printf("%u writes acknowledged, %llu refused; converged %s %llu ms after the workload\n",
           r->nacks, (unsigned long long)refused, done ? "in" : "NOT in",
           (unsigned long long)(sim_now_ms(r->s) - t0));
    SIM_ASSERT_MSG(done, "no convergence (or an acknowledged fresh key missing) within %u ms",
                   CONVERGE_MS);
    uint32_t lost = 0;
    for (uint32_t key = 0; key < KEYS; key++) {
        char k[32];
        key_name(k, sizeof(k), key, 0);
        struct entry e;
        if (sim_read(r->s, 0, k, &e) != 0)
            continue;
        const struct ack *win = NULL;
        for (uint32_t a = 0; a < r->nacks && !win; a++) {
            char v[32];
            int len = snprintf(v, sizeof(v), "v%u", r->acks[a].seq);
            if (r->acks[a].key == key && e.value_len == (size_t)len &&
                memcmp(e.value, v, (size_t)len) == 0)
                win = &r->acks[a];
        }
        SIM_ASSERT_MSG(win, "key %s holds a value nobody acknowledged", k);
        for (uint32_t a = 0; a < r->nacks; a++) {
            if (r->acks[a].key == key && r->acks[a].at_ms > win->at_ms + BOUND_MS) {
                lost++;
                printf("key %s: v%u (node %u, t=%llu) beat v%u (node %u, t=%llu)\n", k, win->seq,
                       win->node, (unsigned long long)win->at_ms, r->acks[a].seq, r->acks[a].node,
                       (unsigned long long)r->acks[a].at_ms);
            }
        }
    }
    SIM_ASSERT_MSG(lost == 0, "%u acknowledged writes lost to earlier ones", lost);
    for (uint32_t i = 0; i < r->n; i++) {
        uint64_t last = 0;
        for (uint32_t a = 0; a < r->nacks; a++) {
            if (r->acks[a].node != i)
                continue;
            SIM_ASSERT_MSG(r->acks[a].hlc > last, "node %u stamped v%u below its previous write",
                           i, r->acks[a].seq);
            last = r->acks[a].hlc;
        }
    }
}

/* Skew `skewed` nodes (the last ones) by skew_ms, write through a partition
 * {0, 1} | {2..} and after it, check everything. */
static void skew_scenario(uint32_t n, uint32_t skewed, int64_t skew_ms, uint64_t seed)
{
    struct run *r = calloc(1, sizeof(*r));
    SIM_ASSERT(r);
    char what[96];
    snprintf(what, sizeof(what), "%u of %u nodes skewed %+lld ms", skewed, n, (long long)skew_ms);
    run_begin(r, what, n, seed);
    r->check_hlc = true;
    check_offsets(r);
    for (uint32_t i = n - skewed; i < n; i++)
        set_offset(r, i, skew_ms);
    workload(r, 3000);
    for (uint32_t i = 2; i < n; i++)
        sim_set_group(r->s, i, 1);
    workload(r, 4000);
    sim_heal(r->s);
    workload(r, 3000);
    /* Two probe rounds without writes: every peer re-measured after the
     * heal. */
    sim_run_for(r->s, 2000ull * n);
    check_offsets(r);
    /* Who refused: the nodes whose clock leads the cluster's by more than
     * the bound. Others only while they had not yet re-measured peers that
     * jumped with them (two of three: each fast node sees the other's jump
     * as its own lead until it hears from it). */
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_clock_info ci;
        gossip_clock_get(sim_node_gossip(r->s, i), sim_node_now_ms(r->s, i), &ci);
        printf("node %u: clock %+lld ms, offset %+lld ms, correction %llu ms, refused %llu\n", i,
               (long long)r->off[i], (long long)ci.offset_ms,
               (unsigned long long)ci.correction_ms, (unsigned long long)r->refused[i]);
        bool ahead = ci.offset_ms > (int64_t)BOUND_MS;
        SIM_ASSERT_MSG(ahead ? r->refused[i] > 0 : skewed > 1 || r->refused[i] == 0,
                       "node %u: offset %lld, %llu writes refused", i, (long long)ci.offset_ms,
                       (unsigned long long)r->refused[i]);
    }
    check_history(r);
    sim_free(r->s);
    free(r);
}

struct skew_case {
    uint32_t n, skewed;
    int64_t skew_ms;
    uint64_t seed;
};

/* One of five skewed by 0.2 s (inside the bound), 5 s, 30 s, -30 s; two of
 * five +30 s and -30 s; two of three +30 s: those two are the cluster's
 * time, the third node follows them (HLC corrected forward), nobody
 * refuses writes and nothing is lost. */
static const struct skew_case skew_cases[] = {
    {5, 1, 200, 21},    {5, 1, 5000, 22},   {5, 1, 30000, 23}, {5, 1, -30000, 24},
    {5, 2, 30000, 25},  {5, 2, -30000, 26}, {3, 2, 30000, 27},
};

static void test_skewed_clocks(void **state)
{
    const struct skew_case *c = *state;
    skew_scenario(c->n, c->skewed, c->skew_ms, c->seed);
}

/* One node's clock jumps ahead, back, behind, strobes and slews while the
 * workload runs, with a partition in the middle. */
static void test_clock_jumps_strobes_and_slews(void **state)
{
    (void)state;
    struct run *r = calloc(1, sizeof(*r));
    SIM_ASSERT(r);
    run_begin(r, "node 4 jumps, strobes and slews", 5, 28);
    static const int64_t jumps[] = {30000, 0, -30000, 5000, -200, 0, 30000, -5000};
    for (size_t k = 0; k < sizeof(jumps) / sizeof(jumps[0]); k++) {
        set_offset(r, 4, jumps[k]);
        if (k == 3)
            for (uint32_t i = 2; i < 5; i++)
                sim_set_group(r->s, i, 1);
        if (k == 6)
            sim_heal(r->s);
        workload(r, 1500);
    }
    for (uint32_t k = 0; k < 10; k++) { /* strobe */
        set_offset(r, 4, k % 2 ? 2000 : -2000);
        workload(r, 300);
    }
    for (int64_t ms = -2000; ms <= 1000; ms += 5) { /* slew: 5 ms every 10 ms */
        set_offset(r, 4, ms);
        sim_run_for(r->s, 10);
        if (ms % 200 == 0)
            workload(r, STEP_MS);
    }
    set_offset(r, 4, 0);
    workload(r, 3000);
    sim_run_for(r->s, 10000); /* two probe rounds: every peer re-measured */
    check_offsets(r);
    printf("node 4 refused %llu writes\n", (unsigned long long)r->refused[4]);
    SIM_ASSERT(r->refused[4] > 0);
    check_history(r);
    sim_free(r->s);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define SKEW_TEST(k) cmocka_unit_test_prestate(test_skewed_clocks, (void *)&skew_cases[k])
        SKEW_TEST(0), SKEW_TEST(1), SKEW_TEST(2), SKEW_TEST(3),
        SKEW_TEST(4), SKEW_TEST(5), SKEW_TEST(6),
        cmocka_unit_test(test_clock_jumps_strobes_and_slews),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
