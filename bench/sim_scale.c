/*
 * sim_scale: how one write spreads as the cluster grows, in the simulator
 * (real cores, real stores, real codec and crypto; virtual clock).
 *
 * For N = 10, 100, 1000, 10000 (up to --max-nodes): N nodes join through
 * node 0 (or, from N = --snapshot-from, 5000 by default, each node gets the
 * full member list from a snapshot: see SNAPSHOT_FROM_DEFAULT) and the run
 * waits until every node counts N-1 alive peers; then
 * W writes, each on a random node, 500 ms apart. For each write: the virtual
 * time until the last node applied it, in ms and in gossip rounds (time /
 * gossip_interval_ms), p50/p99/max over the writes, next to log2(N). Also the
 * traffic per node per second over the write phase (datagrams and bytes, out),
 * false positives (members declared SUSPECT or DEAD: nothing crashes here),
 * and the wall time each N took.
 *
 * Then a membership change: one random node crashes; the time until every
 * live node holds it DEAD (detection + suspicion + dissemination), and the
 * rounds from the first DEAD verdict to the last view (dissemination); then
 * it restarts on its data and rejoins: the rounds until every other node
 * holds it ALIVE again at a newer incarnation. Last, the cost: peak RSS of
 * the process per (node, member) pair, the member record's size, and
 * simulated events per second of wall time.
 *
 * The "peer" here is the epidemic bound itself: the METRIC line prints the
 * largest N's p99 rounds against 2*log2(N) (test_sim_spread's c = 2).
 *
 * Issue 19's scale target, one seed: 10,000 nodes in at most 8 GB and 15
 * minutes (the change line's peak_rss_mb and wall_s), 1,000 in a minute:
 *   build/release/bench/sim_scale --only 10000 --seed 1 --snapshot-from 3000
 *
 *   build/release/bench/sim_scale [--max-nodes N] [--only N] [--writes W] [--seed S]
 *                                 [--latency MS] [--jitter MS]
 *                                 [--gossip-interval MS] [--fanout F]
 *                                 [--csv FILE]
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/gossip_int.h" /* sizeof(struct gossip_member): bytes per pair */
#include "gossip/seal.h"
#include "tests/sim/sim.h"

#define MAX_WRITES 1000u
/* From this N on the cluster forms from a member snapshot (sim_restore_all)
 * instead of a join storm through node 0: the storm costs N^2 * L rumour
 * receptions (L = lambda * ceil(log10(N + 1)) = 20 at 10,000), ~40 minutes
 * of CPU at 10,000, while the snapshot costs N^2 inserts. Below it (10,
 * 100 and 1000 by default; every N with a large --snapshot-from) the join
 * storm runs through the real protocol; --snapshot-from 0 restores every N.
 * The last column of each row says which one formed it. */
#define SNAPSHOT_FROM_DEFAULT 5000u
/* Memory a snapshot-formed cluster needs per (node, member) pair, for the
 * guard below when no smaller snapshot run measured it: the peak RSS of the
 * whole run at N = 10,000 was 71.6 bytes a pair (40-byte member record,
 * index and probe-order slots, replay windows, stores, the event queue;
 * docs/BENCHMARKS.md), rounded up. */
#define SNAPSHOT_BYTES_PER_PAIR 80.0

struct tracker {
    uint32_t n_writes;
    uint64_t start_ms[MAX_WRITES];
    uint64_t last_ms[MAX_WRITES];
    uint32_t have[MAX_WRITES];
    uint64_t false_suspect, false_dead;
    /* the membership change: victim_id crashes (phase 1), rejoins (phase 2) */
    uint64_t victim_id;
    int phase;
    uint64_t victim_inc; /* its incarnation when it crashed */
    uint8_t *seen;       /* per viewer: already counted in this phase */
    uint32_t views;      /* viewers that hold the phase's verdict */
    uint64_t first_ms, last_ms_change;
};

static void on_applied(void *arg, struct sim *s, uint32_t i, const struct entry *e)
{
    struct tracker *t = arg;
    (void)i;
    if (e->key_len < 2 || e->key_len > 8 || e->key[0] != 'w')
        return;
    uint32_t w = 0;
    for (uint32_t k = 1; k < e->key_len; k++)
        w = w * 10 + (uint32_t)(e->key[k] - '0');
    if (w >= t->n_writes)
        return;
    t->have[w]++;
    t->last_ms[w] = sim_now_ms(s);
}

static void on_member(void *arg, struct sim *s, uint32_t i, const struct gossip_member_info *m)
{
    struct tracker *t = arg;
    if (t->phase && m->id == t->victim_id) {
        if (sim_node_id(s, i) == t->victim_id)
            return; /* its own view: the others' are what converges */
        bool verdict = t->phase == 1 ? m->state == GOSSIP_DEAD
                                     : m->state == GOSSIP_ALIVE && m->incarnation > t->victim_inc;
        if (verdict && !t->seen[i]) {
            t->seen[i] = 1;
            if (t->views++ == 0)
                t->first_ms = sim_now_ms(s);
            t->last_ms_change = sim_now_ms(s);
        }
        return;
    }
    if (m->id < 1 || m->id > sim_node_count(s) || !sim_node_up(s, (uint32_t)(m->id - 1)))
        return;
    if (m->state == GOSSIP_SUSPECT)
        t->false_suspect++;
    else if (m->state == GOSSIP_DEAD)
        t->false_dead++;
}

/* Every node counts all n members alive (gossip_stats.alive counts the node
 * itself). O(N). */
static bool members_complete(struct sim *s, void *arg)
{
    (void)arg;
    uint32_t n = sim_node_count(s);
    for (uint32_t i = 0; i < n; i++) {
        struct gossip_stats gs;
        gossip_stats(sim_node_gossip(s, i), &gs);
        if (gs.alive < n)
            return false;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *sorted, uint32_t n, double p)
{
    if (n == 0)
        return 0;
    uint32_t idx = (uint32_t)ceil(p * n) - 1;
    if (idx >= n)
        idx = n - 1;
    return sorted[idx];
}

/* A "Field: N kB" line of /proc/self/status, in bytes (0 if unreadable):
 * VmRSS (resident now) or VmHWM (the peak so far). */
static uint64_t status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    size_t n = strlen(field);
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':' &&
            sscanf(line + n + 1, " %" SCNu64 " kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

static uint64_t rss_bytes(void)
{
    return status_bytes("VmRSS");
}

static uint64_t peak_rss_bytes(void)
{
    return status_bytes("VmHWM");
}

static uint64_t mem_total_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %" SCNu64 " kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

/* CPU time of this process (user + system), s: the machine may be shared. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct opts {
    uint32_t max_nodes;
    uint32_t only;   /* run just this N (any size) */
    uint32_t writes; /* 0 = by N */
    uint64_t seed;
    uint32_t latency_ms, jitter_ms;
    uint32_t gossip_interval_ms, fanout;
    const char *csv;
    uint32_t snapshot_from; /* N at or above which the cluster forms from a snapshot */
};

struct result {
    uint32_t n;
    double p50_rounds, p99_rounds, max_rounds;
    uint64_t p50_ms, p99_ms, max_ms;
    uint32_t reached_all, writes;
    double dgrams_node_s, bytes_node_s;
    uint64_t false_suspect, false_dead;
    uint64_t join_ms;
    double wall_s;
    double join_wall_s;
    uint64_t rss_joined; /* process RSS growth from before sim_new to membership complete */
    bool snapshot;       /* cluster formed by sim_restore_all, not a join storm */
    /* the membership change (0 views: not measured or never converged) */
    uint32_t dead_views, alive_views; /* of n - 1 */
    uint64_t dead_ms;                 /* crash -> last live view DEAD */
    double dead_rounds;               /* first DEAD verdict -> last view */
    double rejoin_rounds;             /* restart -> last view ALIVE */
    uint64_t peak_rss, events;
    double events_s;     /* simulated events per second of wall time */
    double cpu_s;        /* CPU time of the run (user + system) */
    double events_cpu_s; /* simulated events per second of CPU time */
    uint64_t replay_senders; /* replay windows held by all nodes at the end */
};

struct change_wait {
    struct tracker *t;
    uint32_t want;
};

static bool change_done(struct sim *s, void *arg)
{
    (void)s;
    const struct change_wait *w = arg;
    return w->t->views >= w->want;
}

/* Crash node v, wait until every live node holds it DEAD; restart it on
 * its data, wait until every other node holds it ALIVE at a newer
 * incarnation. Bounded: 300 s of virtual time each. */
static void membership_change(struct sim *s, struct tracker *t, uint32_t v, uint32_t interval_ms,
                              struct result *r)
{
    uint32_t n = sim_node_count(s);
    struct gossip_member_info self;
    if (gossip_member_get(sim_node_gossip(s, v), 0, &self) != 0)
        return;
    t->seen = calloc(n, 1);
    if (!t->seen)
        return;
    t->victim_id = sim_node_id(s, v);
    t->victim_inc = self.incarnation;
    struct change_wait w = {t, n - 1};
    t->phase = 1;
    uint64_t t0 = sim_now_ms(s);
    sim_crash(s, v, SIM_CRASH_KEEP_STORE);
    if (sim_run_until(s, change_done, &w, 300000)) {
        r->dead_ms = t->last_ms_change - t0;
        r->dead_rounds = (double)(t->last_ms_change - t->first_ms) / interval_ms;
    }
    r->dead_views = t->views;
    fprintf(stderr, "  N=%u: node %u crashed: %u of %u live nodes hold it DEAD after %.1f s\n", n,
            v, t->views, n - 1, (sim_now_ms(s) - t0) / 1000.0);
    t->phase = 2;
    t->views = 0;
    memset(t->seen, 0, n);
    t0 = sim_now_ms(s);
    sim_restart(s, v);
    if (sim_run_until(s, change_done, &w, 300000))
        r->rejoin_rounds = (double)(t->last_ms_change - t0) / interval_ms;
    r->alive_views = t->views;
    fprintf(stderr,
            "  N=%u: node %u restarted: %u of %u nodes hold it ALIVE after %.1f s (first "
            "view after %.1f s)\n",
            n, v, t->views, n - 1, (sim_now_ms(s) - t0) / 1000.0,
            t->views ? (t->first_ms - t0) / 1000.0 : 0.0);
    t->phase = 0;
    free(t->seen);
    t->seen = NULL;
}

static int run_one(const struct opts *o, uint32_t n, struct result *r)
{
    double w0 = wall_s(), c0 = cpu_s();
    memset(r, 0, sizeof *r);
    uint64_t rss0 = rss_bytes();
    r->n = n;
    struct sim_config cfg;
    sim_config_init(&cfg, o->seed ^ n, n);
    cfg.link = (struct sim_link){.latency_ms = o->latency_ms, .jitter_ms = o->jitter_ms};
    cfg.check_ms = n >= 1000 ? 200 : 50;
    if (o->gossip_interval_ms)
        cfg.gossip.gossip_interval_ms = o->gossip_interval_ms;
    if (o->fanout)
        cfg.gossip.gossip_fanout = o->fanout;
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    struct sim *s = NULL;
    int rc = sim_new(&cfg, &s);
    if (rc != 0) {
        fprintf(stderr, "sim_new(%u): %d\n", n, rc);
        return rc;
    }
    struct tracker *t = calloc(1, sizeof *t);
    if (!t) {
        sim_free(s);
        return -1;
    }
    sim_set_member_hook(s, on_member, t);
    r->snapshot = n >= o->snapshot_from;
    rc = r->snapshot ? sim_restore_all(s) : sim_join_all(s, 0);
    bool joined = rc == 0 && sim_run_until(s, members_complete, NULL, 600000);
    r->join_ms = sim_now_ms(s);
    r->join_wall_s = wall_s() - w0;
    uint64_t rss1 = rss_bytes();
    r->rss_joined = rss1 > rss0 ? rss1 - rss0 : 0;
    fprintf(stderr, "  N=%u: membership (%s) %s after %.1f s virtual, %.1f s wall\n", n,
            r->snapshot ? "restored from a snapshot" : "join storm through node 0",
            joined ? "complete" : "INCOMPLETE", r->join_ms / 1000.0, wall_s() - w0);
    {
        /* where the join's memory and CPU go: updates still queued, and
         * membership records that told a node nothing new */
        struct gossip_stats sum = {0};
        for (uint32_t i = 0; i < n; i++) {
            struct gossip_stats gs;
            gossip_stats(sim_node_gossip(s, i), &gs);
            sum.queued_member_updates += gs.queued_member_updates;
            sum.stale_updates += gs.stale_updates;
            sum.msgs_in += gs.msgs_in;
            sum.datagrams_in += gs.datagrams_in;
            sum.frames_in += gs.frames_in;
            sum.random_records_sent += gs.random_records_sent;
        }
        fprintf(stderr,
                "  N=%u: at join: %.0f member updates queued per node, %.1f stale updates "
                "per (node, member) pair, %.0f bytes RSS per pair; %.0f datagrams, %.1f frames, "
                "%.0f msgs received per node (%.0f random records)\n",
                n, (double)sum.queued_member_updates / n,
                (double)sum.stale_updates / ((double)n * n),
                (double)r->rss_joined / ((double)n * n), (double)sum.datagrams_in / n,
                (double)sum.frames_in / n, (double)sum.msgs_in / n,
                (double)sum.random_records_sent / n);
    }
    sim_run_for(s, 5000); /* let membership broadcasts drain */

    uint32_t writes = o->writes ? o->writes : (n >= 10000 ? 20 : n >= 1000 ? 50 : 100);
    if (writes > MAX_WRITES)
        writes = MAX_WRITES;
    t->n_writes = writes;
    r->writes = writes;
    sim_set_applied_hook(s, on_applied, t);
    struct sim_stats st0;
    sim_stats(s, &st0);
    uint64_t t0 = sim_now_ms(s);
    struct gkv_rng rng;
    gkv_rng_seed(&rng, o->seed + n);
    for (uint32_t w = 0; w < writes; w++) {
        char key[16];
        snprintf(key, sizeof key, "w%u", w);
        t->start_ms[w] = sim_now_ms(s);
        sim_write(s, (uint32_t)gkv_rng_below(&rng, n), key, "0123456789abcdef", NULL);
        sim_run_for(s, 500);
    }
    /* Wait for the tail (bounded: 60 s virtual). */
    for (int k = 0; k < 600; k++) {
        bool all = true;
        for (uint32_t w = 0; w < writes && all; w++)
            all = t->have[w] >= n - 1;
        if (all)
            break;
        sim_run_for(s, 100);
    }
    uint64_t t1 = sim_now_ms(s);
    struct sim_stats st1;
    sim_stats(s, &st1);

    uint64_t *ms = calloc(writes, sizeof *ms);
    uint32_t done = 0;
    for (uint32_t w = 0; w < writes; w++)
        if (t->have[w] >= n - 1)
            ms[done++] = t->last_ms[w] - t->start_ms[w];
    qsort(ms, done, sizeof *ms, cmp_u64);
    r->reached_all = done;
    r->p50_ms = pct(ms, done, 0.50);
    r->p99_ms = pct(ms, done, 0.99);
    r->max_ms = done ? ms[done - 1] : 0;
    r->p50_rounds = (double)r->p50_ms / gc.gossip_interval_ms;
    r->p99_rounds = (double)r->p99_ms / gc.gossip_interval_ms;
    r->max_rounds = (double)r->max_ms / gc.gossip_interval_ms;
    double secs = (double)(t1 - t0) / 1000.0;
    r->dgrams_node_s = (double)(st1.datagrams_sent - st0.datagrams_sent) / n / secs;
    r->bytes_node_s = (double)(st1.datagram_bytes_sent - st0.datagram_bytes_sent +
                               st1.frame_bytes_sent - st0.frame_bytes_sent) /
                      n / secs;
    r->false_suspect = t->false_suspect;
    r->false_dead = t->false_dead;
    free(ms);
    sim_set_applied_hook(s, NULL, NULL);
    if (n >= 2)
        membership_change(s, t, 1 + (uint32_t)gkv_rng_below(&rng, n - 1), gc.gossip_interval_ms,
                          r);
    struct sim_stats st2;
    sim_stats(s, &st2);
    r->events = st2.events;
    /* replay windows (seal): one per sender a node has heard from */
    for (uint32_t i = 0; i < n; i++)
        if (sim_node_seal(s, i))
            r->replay_senders += seal_ctx_stats(sim_node_seal(s, i))->senders;
    r->peak_rss = peak_rss_bytes();
    free(t);
    sim_free(s);
    r->wall_s = wall_s() - w0;
    r->events_s = r->wall_s > 0 ? (double)r->events / r->wall_s : 0;
    r->cpu_s = cpu_s() - c0;
    r->events_cpu_s = r->cpu_s > 0 ? (double)r->events / r->cpu_s : 0;
    return joined ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sim_scale [--max-nodes N] [--only N] [--writes W] [--seed S] [--latency MS] "
            "[--jitter MS] [--gossip-interval MS] [--fanout F] [--snapshot-from N] "
            "[--csv FILE]\n");
}

int main(int argc, char **argv)
{
    struct opts o = {.max_nodes = 10000,
                     .seed = 42,
                     .latency_ms = 5,
                     .jitter_ms = 5,
                     .snapshot_from = SNAPSHOT_FROM_DEFAULT};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (!strcmp(a, "--max-nodes"))
            o.max_nodes = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--only"))
            o.only = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--writes"))
            o.writes = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--latency"))
            o.latency_ms = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--jitter"))
            o.jitter_ms = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--gossip-interval"))
            o.gossip_interval_ms = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--fanout"))
            o.fanout = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--snapshot-from"))
            o.snapshot_from = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--csv"))
            o.csv = v;
        else {
            usage();
            return 2;
        }
        i++;
    }
    printf("sim_scale: seed=%" PRIu64 ", links %u ms + [0,%u] ms jitter, no loss\n", o.seed,
           o.latency_ms, o.jitter_ms);
    printf("form: join = the N nodes join through node 0 (the real join storm); snap = each "
           "node's member list restored from a snapshot (N >= %u: sim_restore_all, "
           "gossip_restore_member), then the real protocol runs (probes, suspicion, "
           "gossip, push-pull, anti-entropy; false suspicions counted)\n",
           o.snapshot_from);
    printf("member record: %zu bytes (struct gossip_member); names shared by all simulated "
           "nodes (gossip_config.names)\n",
           sizeof(struct gossip_member));
    printf("%7s %7s %9s %9s %9s %7s %8s %8s %8s %10s %11s %6s %6s %8s %8s %7s %9s %5s\n", "N",
           "log2N", "p50rnd", "p99rnd", "maxrnd", "2log2N", "p50ms", "p99ms", "maxms", "dgram/n/s", "bytes/n/s",
           "susp", "dead", "join_s", "joinwall", "wall_s", "MB_joined", "form");
    FILE *csv = o.csv ? fopen(o.csv, "w") : NULL;
    if (csv)
        fprintf(csv, "# N log2N p50_rounds p99_rounds max_rounds dgrams_node_s bytes_node_s\n");
    uint32_t sizes[] = {10, 100, 1000, 10000};
    size_t nsizes = sizeof sizes / sizeof sizes[0];
    if (o.only) {
        sizes[0] = o.only;
        nsizes = 1;
    }
    struct result last = {0};
    int status = 0;
    for (size_t k = 0; k < nsizes; k++) {
        uint32_t n = sizes[k];
        if (n > o.max_nodes && !o.only)
            break;
        /* Full-membership SWIM keeps N views of N members: memory grows as
         * N^2. Project this N from the previous size (all of it charged to
         * the pairs, so an overestimate) and refuse to start a run that
         * would need more than 3/4 of the machine's memory, rather than push
         * a shared machine into OOM. */
        bool snapshot = n >= o.snapshot_from;
        double per_view = 0;
        uint32_t measured_n = 0;
        if (last.n && last.rss_joined && last.snapshot == snapshot) {
            per_view = (double)last.rss_joined / ((double)last.n * last.n);
            measured_n = last.n;
        } else if (snapshot) {
            per_view = SNAPSHOT_BYTES_PER_PAIR;
        }
        if (per_view > 0) {
            double projected = per_view * (double)n * n;
            uint64_t total = mem_total_bytes();
            if (total && projected > 0.75 * (double)total) {
                if (measured_n)
                    printf("%7u  skipped: projected %.1f GB (%.0f bytes per member per node, "
                           "measured at N=%u) > 75%% of the %.1f GB of MemTotal\n",
                           n, projected / 1e9, per_view, measured_n, total / 1e9);
                else
                    printf("%7u  skipped: projected %.1f GB (%.0f bytes per member per node "
                           "for a snapshot-formed cluster) > 75%% of the %.1f GB of MemTotal\n",
                           n, projected / 1e9, per_view, total / 1e9);
                status = 1;
                break;
            }
        }
        struct result r;
        if (run_one(&o, n, &r) != 0)
            status = 1;
        printf("%7u %7.2f %9.2f %9.2f %9.2f %7.2f %8" PRIu64 " %8" PRIu64 " %8" PRIu64
               " %10.1f %11.0f %6" PRIu64 " %6" PRIu64 " %8.1f %8.1f %7.1f %9.0f %5s%s\n",
               n, log2(n), r.p50_rounds, r.p99_rounds, r.max_rounds, 2 * log2(n), r.p50_ms,
               r.p99_ms, r.max_ms,
               r.dgrams_node_s, r.bytes_node_s, r.false_suspect, r.false_dead, r.join_ms / 1000.0,
               r.join_wall_s, r.wall_s, r.rss_joined / 1e6, r.snapshot ? "snap" : "join",
               r.reached_all == r.writes ? "" : "  (some writes never reached all)");
        /* One line bench/run reads: the membership change and the cost. */
        double pairs = (double)n * n;
        printf("change N=%u: crash->all DEAD %.1f s, dead_rounds=%.2f (first verdict -> last "
               "view), rejoin_rounds=%.2f (restart -> all ALIVE), bound 2log2N=%.2f; cost: "
               "peak_rss_mb=%.0f bytes_per_pair=%.1f (record %zu) events=%" PRIu64
               " events_per_s=%.0f wall_s=%.1f cpu_s=%.1f events_per_cpu_s=%.0f"
               " replay_windows_per_node=%.0f\n",
               n, r.dead_ms / 1000.0, r.dead_rounds, r.rejoin_rounds, 2 * log2(n),
               r.peak_rss / 1e6, r.peak_rss / pairs, sizeof(struct gossip_member), r.events,
               r.events_s, r.wall_s, r.cpu_s, r.events_cpu_s, (double)r.replay_senders / n);
        if (n >= 2 && (r.dead_views < n - 1 || r.alive_views < n - 1)) {
            printf("change N=%u: NOT converged: %u/%u DEAD views, %u/%u ALIVE views\n", n,
                   r.dead_views, n - 1, r.alive_views, n - 1);
            status = 1;
        }
        fflush(stdout);
        if (csv)
            fprintf(csv, "%u %.3f %.3f %.3f %.3f %.2f %.1f\n", n, log2(n), r.p50_rounds,
                    r.p99_rounds, r.max_rounds, r.dgrams_node_s, r.bytes_node_s);
        if (r.reached_all != r.writes || r.false_dead)
            status = 1;
        last = r;
    }
    if (csv)
        fclose(csv);
    if (last.n)
        printf("METRIC: gossipkv=%.2f target=%.2f (p99 rounds for one write to reach all %u "
               "nodes vs 2*log2(N))\n",
               last.p99_rounds, 2 * log2(last.n), last.n);
    return status;
}
