/*
 * storage_bench: the gossipkv store against LMDB, same process, same
 * workload, so that only the ratio matters (docs/BENCHMARKS.md, "Storage").
 *
 *   storage_bench [--keys N] [--seed S]
 *
 * Workload: N random 16-byte keys with 100-byte values, pregenerated from a
 * seeded PRNG before anything is timed. Phases, each run on gossipkv and then
 * on LMDB before the next phase starts (so machine noise hits both alike):
 *
 *   put        N puts into an empty store (gossipkv at its default initial
 *              capacity, so it grows through many doublings); --runs
 *              times per engine (default 3), alternating, each on a new
 *              store, each side's median reported and every run printed
 *              (get_hit, get_miss and get_hit_batch16 likewise, on the
 *              same stores)
 *   get_hit    N gets of present keys, in a shuffled order
 *   get_miss   N gets of absent keys
 *   get_hit_batch16  the get_hit keys, 16 per store_get_batch call (MGET's
 *              path; LMDB, which has no batch read, makes the same mdb_gets)
 *   overwrite  N puts of a new value to every key
 *   delete     N deletes (gossipkv writes tombstones, LMDB removes records)
 *
 * Warm-up (--warmup on, the default): before the timed put phase each
 * engine runs the same put phase once, untimed, on a throwaway store that is
 * then closed and removed. Growing a store from empty is the phase that
 * takes the most new memory, and on a VM whose balloon hands idle memory
 * back to the host (virtio free page reporting, as on the machines these
 * numbers come from) the first touch of such memory costs a host fault on
 * top of the guest kernel's zeroing. Without a warm-up that host cost lands
 * on whichever engine needs more memory, and it varies with how long the
 * machine sat idle; with it, each engine's timed phase reuses memory its own
 * warm-up freed, as a long-running node's growth reuses memory the process
 * or the page cache released. The guest's own costs (page faults, zeroing,
 * file-system block allocation) are still paid in the timed phase: the
 * store is new, so every page it touches is a new page. --warmup off
 * measures the cold case (docs/BENCHMARKS.md records both).
 *
 * Configurations: gossipkv with sync=none; LMDB with MDB_NOSYNC|MDB_WRITEMAP,
 * one write transaction per put/delete and one read transaction for all gets
 * (the nearest LMDB equivalent of "the OS writes back when it likes").
 * Both live in fresh directories under /tmp, removed at the end.
 *
 * After the delete line the full run prints `bucket_scan`: right after the
 * put phase (growth finished), store_bucket_scan (the per-bucket index,
 * storage/bucketix.c) over 64 distinct buckets, each listed once and
 * first (so the first scan's sort of the bucket's hashes is included),
 * against the whole-table bucket scan (store__bucket_scan_full, what
 * store_bucket_scan did before the index) over 16 buckets in the same run:
 * `bucket_scan: gossipkv=N buckets/s (M entries/s), full-table scan=K
 * buckets/s ratio=R`, a line of detail (per-bucket times, a second
 * listing of the same buckets, the index's memory) and one sweep as
 * gossip/sync.c does bulk repairs (store_scan over the whole table, each
 * entry's bucket from its key) against all 1024 buckets through the index.
 * --only bucket_scan runs just that, R times on different buckets.
 *
 * Output: one line per phase, `OP: gossipkv=N/s lmdb=N/s ratio=R` with
 * R = gossipkv/lmdb, then put latency (p99, max) and bytes on disk per entry
 * (allocated blocks, after the put phase) for both. Every put is timed with
 * clock_gettime, which costs both sides the same; the latency max is where
 * growth stalls would show. Correctness of both stores is checked after each
 * timed phase (untimed), so a fast wrong store cannot win.
 */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/rng.h"
#include "storage/store.h"
#include "storage/store_int.h" /* store__bucket_scan_full: the bucket_scan peer */

#ifdef GKV_HAVE_LMDB
#include <lmdb.h>
#endif

#define BENCH_KEY_BYTES 16
#define BENCH_VALUE_BYTES 100
#define BENCH_KEYS_DEFAULT 1000000u
#define BENCH_SEED_DEFAULT 42u
/* The node ticks the store about every 10 ms (store.h); so does the bench. */
#define BENCH_TICK_MS 10u

struct workload {
    uint32_t n;
    uint8_t *keys;      /* n x 16: present keys, in insertion order */
    uint8_t *miss_keys; /* n x 16: keys never inserted */
    uint8_t *values;    /* n x 100: values[i] belongs to keys[i]; overwrite
                           gives key i the value of key (i + 1) % n */
    uint8_t *shuffled;  /* n x 16: the present keys in a random order, for the
                           gets and deletes; a copy rather than an index
                           array so the timed loops read their input
                           sequentially and every cache miss is the store's */
    uint32_t *lat_ns;   /* per-put latency scratch */
};

static const uint8_t *wl_key(const struct workload *w, uint32_t i)
{
    return w->keys + (size_t)i * BENCH_KEY_BYTES;
}

static const uint8_t *wl_miss(const struct workload *w, uint32_t i)
{
    return w->miss_keys + (size_t)i * BENCH_KEY_BYTES;
}

static const uint8_t *wl_shuffled(const struct workload *w, uint32_t i)
{
    return w->shuffled + (size_t)i * BENCH_KEY_BYTES;
}

static const uint8_t *wl_value(const struct workload *w, uint32_t i)
{
    return w->values + (size_t)(i % w->n) * BENCH_VALUE_BYTES;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A phase's elapsed wall time and process CPU time. The headline rates use
 * wall time (it includes I/O waits such as growth's fsyncs); the CPU-time
 * rates are printed too because they barely move when other processes load
 * the machine, which wall-time rates do. */
struct phase {
    uint64_t t0_ns, c0_ns;
    double wall_rate, cpu_rate;
};

/* Most timed runs of a phase per engine (--runs). */
#define RUNS_MAX 15u

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median wall rate and the median CPU rate of n runs (n odd gives a
 * run's own figure; even, the mean of the middle two). */
static struct phase median_phase(const struct phase *runs, uint32_t n)
{
    double wall[RUNS_MAX], cpu[RUNS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        wall[i] = runs[i].wall_rate;
        cpu[i] = runs[i].cpu_rate;
    }
    qsort(wall, n, sizeof wall[0], cmp_double);
    qsort(cpu, n, sizeof cpu[0], cmp_double);
    struct phase m = {0};
    m.wall_rate = (wall[(n - 1) / 2] + wall[n / 2]) / 2;
    m.cpu_rate = (cpu[(n - 1) / 2] + cpu[n / 2]) / 2;
    return m;
}

static void phase_start(struct phase *p)
{
    p->c0_ns = cpu_ns();
    p->t0_ns = mono_ns();
}

static struct phase phase_end(struct phase *p, uint32_t n)
{
    uint64_t t = mono_ns(), c = cpu_ns();
    p->wall_rate = (double)n / ((double)(t - p->t0_ns) / 1e9);
    p->cpu_rate = (double)n / ((double)(c - p->c0_ns) / 1e9);
    return *p;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what, int rc, const char *detail)
{
    fprintf(stderr, "storage_bench: %s failed: %d %s\n", what, rc, detail ? detail : "");
    exit(1);
}

static void fill_random(struct gkv_rng *r, uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x = gkv_rng_next(r);
        size_t take = len - i < 8 ? len - i : 8;
        memcpy(p + i, &x, take);
    }
}

static void workload_init(struct workload *w, uint32_t n, uint64_t seed)
{
    struct gkv_rng r;
    gkv_rng_seed(&r, seed);
    w->n = n;
    w->keys = malloc((size_t)n * BENCH_KEY_BYTES);
    w->miss_keys = malloc((size_t)n * BENCH_KEY_BYTES);
    w->values = malloc((size_t)n * BENCH_VALUE_BYTES);
    w->shuffled = malloc((size_t)n * BENCH_KEY_BYTES);
    uint32_t *order = malloc((size_t)n * sizeof(uint32_t));
    w->lat_ns = malloc((size_t)n * sizeof(uint32_t));
    if (!w->keys || !w->miss_keys || !w->values || !w->shuffled || !order || !w->lat_ns)
        die("malloc", GKV_ENOMEM, "workload");
    /* 128-bit random keys: a collision among 2 x 10^6 has probability about
     * 10^-26, so keys are distinct and misses really miss. */
    fill_random(&r, w->keys, (size_t)n * BENCH_KEY_BYTES);
    fill_random(&r, w->miss_keys, (size_t)n * BENCH_KEY_BYTES);
    fill_random(&r, w->values, (size_t)n * BENCH_VALUE_BYTES);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)gkv_rng_below(&r, i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        memcpy(w->shuffled + (size_t)i * BENCH_KEY_BYTES, wl_key(w, order[i]), BENCH_KEY_BYTES);
    free(order);
}

static void workload_free(struct workload *w)
{
    free(w->keys);
    free(w->miss_keys);
    free(w->values);
    free(w->shuffled);
    free(w->lat_ns);
}

struct latency {
    uint64_t p99_ns, p999_ns, max_ns;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Each percentile's worst over several runs. */
static void latency_worst(struct latency *acc, struct latency l)
{
    acc->p99_ns = l.p99_ns > acc->p99_ns ? l.p99_ns : acc->p99_ns;
    acc->p999_ns = l.p999_ns > acc->p999_ns ? l.p999_ns : acc->p999_ns;
    acc->max_ns = l.max_ns > acc->max_ns ? l.max_ns : acc->max_ns;
}

static struct latency latency_of(uint32_t *lat, uint32_t n)
{
    qsort(lat, n, sizeof(lat[0]), cmp_u32);
    struct latency l = {0};
    if (n > 0) {
        l.p99_ns = lat[(uint64_t)(n - 1) * 99 / 100];
        l.p999_ns = lat[(uint64_t)(n - 1) * 999 / 1000];
        l.max_ns = lat[n - 1];
    }
    return l;
}

static uint32_t clamp_u32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    if (nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "storage_bench: could not remove %s: %s\n", dir, strerror(errno));
}

static uint64_t alloc_bytes_cb_total;
static int du_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        alloc_bytes_cb_total += (uint64_t)sb->st_blocks * 512u;
    return 0;
}

/* Bytes actually allocated on disk under dir (st_blocks, so sparse map
 * files count only what is written). */
static uint64_t disk_bytes(const char *dir)
{
    alloc_bytes_cb_total = 0;
    if (nftw(dir, du_cb, 16, FTW_PHYS) != 0)
        return 0;
    return alloc_bytes_cb_total;
}

/* ------------------------------------------------------------ gossipkv */

struct gkv_side {
    char dir[64];
    struct store *s;
    uint64_t wall_base_ms, mono_base_ns, last_tick_ms;
};

static uint64_t gkv_now_ms(struct gkv_side *g, uint64_t mono)
{
    return g->wall_base_ms + (mono - g->mono_base_ns) / 1000000u;
}

static void gkv_maybe_tick(struct gkv_side *g, uint64_t now)
{
    if (now - g->last_tick_ms >= BENCH_TICK_MS) {
        int rc = store_tick(g->s, now);
        if (rc != 0)
            die("store_tick", rc, gkv_strerror(rc));
        g->last_tick_ms = now;
    }
}

/* --pages: the store's huge-page choice (default, as a node's: values). */
/* --read-cache off: the store without its read cache (as no-read-cache). */
static bool bench_no_read_cache;
static enum store_pages bench_pages = STORE_PAGES_VALUES;
/* --bucket-index off: no per-bucket key index (what maintaining it costs
 * the other phases, A/B in one binary); bucket_scan then reports the full
 * scan on both sides. */
static bool bench_bucket_index = true;
/* --warmup off: no untimed put phase on a throwaway store before the timed
 * one (see the comment at the top). */
static bool bench_warmup = true;
/* --runs R: timed runs per engine of put (each on a new store), get_hit,
 * get_miss and get_hit_batch16, alternating; each OP line reports each
 * side's median. One run's rate moves with the VM (how much of what it
 * touches the host must fault in, what the host's other guests do to the
 * memory bus), by up to 1.5x from run to run of the same binary, even
 * between repetitions in one process; the median of three repeats. */
static uint32_t bench_runs = 3;

static void gkv_open(struct gkv_side *g, uint64_t seed)
{
    snprintf(g->dir, sizeof(g->dir), "/tmp/gkv-bench-XXXXXX");
    if (!mkdtemp(g->dir))
        die("mkdtemp", -errno, strerror(errno));
    struct store_config cfg;
    store_config_init(&cfg);
    cfg.dir = g->dir;
    cfg.node_id = 1;
    cfg.sync = STORE_SYNC_NONE;
    cfg.initial_capacity = 0; /* default: the put phase grows through doublings */
    cfg.pages = bench_pages;
    cfg.no_read_cache = bench_no_read_cache;
    cfg.bucket_index_min_slots = bench_bucket_index ? 0 : UINT64_MAX;
    struct gkv_rng r;
    gkv_rng_seed(&r, seed ^ 0x706c6163ull);
    fill_random(&r, cfg.placement_secret, sizeof(cfg.placement_secret));
    g->wall_base_ms = wall_ms();
    g->mono_base_ns = mono_ns();
    g->last_tick_ms = g->wall_base_ms;
    char msg[STORE_OPEN_ERR_BYTES] = "";
    int rc = store_open(&cfg, g->wall_base_ms, &g->s, msg, sizeof msg);
    if (rc != 0)
        die("store_open", rc, msg[0] ? msg : gkv_strerror(rc));
}

static struct phase gkv_put_phase(struct gkv_side *g, const struct workload *w, uint32_t value_shift,
                            bool record_latency)
{
    struct phase ph;
    phase_start(&ph);
    uint64_t prev = ph.t0_ns;
    for (uint32_t i = 0; i < w->n; i++) {
        uint64_t now = gkv_now_ms(g, prev);
        int rc = store_put(g->s, wl_key(w, i), BENCH_KEY_BYTES, wl_value(w, i + value_shift),
                           BENCH_VALUE_BYTES, now, NULL);
        if (rc != 0)
            die("store_put", rc, gkv_strerror(rc));
        /* A tick runs on the node's loop between client requests, so its time
         * counts as latency of the put that waits behind it. */
        gkv_maybe_tick(g, now);
        if (record_latency) {
            uint64_t t = mono_ns();
            w->lat_ns[i] = clamp_u32(t - prev);
            prev = t;
        } else if ((i & 1023u) == 0) {
            prev = mono_ns(); /* the clock only feeds now_ms: read it rarely */
        }
    }
    return phase_end(&ph, w->n);
}

static struct phase gkv_get_phase(struct gkv_side *g, const struct workload *w, bool hits,
                            uint64_t *sink)
{
    struct entry e;
    uint64_t acc = 0;
    struct phase ph;
    phase_start(&ph);
    for (uint32_t i = 0; i < w->n; i++) {
        int rc = store_get(g->s, hits ? wl_shuffled(w, i) : wl_miss(w, i), BENCH_KEY_BYTES, &e);
        if (hits) {
            if (rc != 0)
                die("store_get (hit)", rc, gkv_strerror(rc));
            acc += e.value[0];
        } else if (rc != GKV_ENOTFOUND) {
            die("store_get (miss)", rc, gkv_strerror(rc));
        }
    }
    phase_end(&ph, w->n);
    *sink += acc;
    return ph;
}

/* get_hit_batch: the same shuffled hits, BENCH_BATCH keys per
 * store_get_batch call (what MGET does); LMDB has no batch read, so its side
 * is the same keys through mdb_get one by one in one read transaction. */
#define BENCH_BATCH 16u
static struct phase gkv_get_batch_phase(struct gkv_side *g, const struct workload *w, uint64_t *sink)
{
    struct entry e[BENCH_BATCH];
    const void *keys[BENCH_BATCH];
    size_t lens[BENCH_BATCH];
    int rcs[BENCH_BATCH];
    uint64_t acc = 0;
    struct phase ph;
    phase_start(&ph);
    for (uint32_t i = 0; i < w->n; i += BENCH_BATCH) {
        uint32_t m = w->n - i < BENCH_BATCH ? w->n - i : BENCH_BATCH;
        for (uint32_t j = 0; j < m; j++) {
            keys[j] = wl_shuffled(w, i + j);
            lens[j] = BENCH_KEY_BYTES;
        }
        int rc = store_get_batch(g->s, m, keys, lens, e, rcs);
        if (rc != 0)
            die("store_get_batch", rc, gkv_strerror(rc));
        for (uint32_t j = 0; j < m; j++) {
            if (rcs[j] != 0)
                die("store_get_batch (hit)", rcs[j], gkv_strerror(rcs[j]));
            acc += e[j].value[0];
        }
    }
    phase_end(&ph, w->n);
    *sink += acc;
    return ph;
}

static struct phase gkv_del_phase(struct gkv_side *g, const struct workload *w)
{
    struct phase ph;
    phase_start(&ph);
    uint64_t prev = ph.t0_ns;
    for (uint32_t i = 0; i < w->n; i++) {
        uint64_t now = gkv_now_ms(g, prev);
        bool existed = false;
        int rc = store_del(g->s, wl_shuffled(w, i), BENCH_KEY_BYTES, now, NULL, &existed);
        if (rc != 0 || !existed)
            die("store_del", rc, gkv_strerror(rc));
        gkv_maybe_tick(g, now);
        if ((i & 1023u) == 0)
            prev = mono_ns();
    }
    return phase_end(&ph, w->n);
}

/* Let a growth still in progress finish before measuring reads/disk, as
 * the node's 10 ms tick would (bounded: a growth moves every slot). */
static void gkv_finish_growth(struct gkv_side *g)
{
    struct store_stats st;
    store_stats(g->s, &st);
    for (uint64_t t = 0; t < 1000000 && st.growing; t++) {
        int rc = store_tick(g->s, gkv_now_ms(g, mono_ns()) + BENCH_TICK_MS);
        if (rc != 0)
            die("store_tick", rc, gkv_strerror(rc));
        store_stats(g->s, &st);
    }
}

/* Untimed: every key holds value (i + value_shift), or a tombstone. */
static void gkv_verify(struct gkv_side *g, const struct workload *w, uint32_t value_shift,
                       bool deleted)
{
    struct entry e;
    for (uint32_t i = 0; i < w->n; i++) {
        int rc = store_get(g->s, wl_key(w, i), BENCH_KEY_BYTES, &e);
        if (rc != 0)
            die("verify store_get", rc, "key missing");
        if (deleted) {
            if (!entry_is_tombstone(&e))
                die("verify", i, "gossipkv: deleted key is not a tombstone");
        } else if (entry_is_tombstone(&e) || e.value_len != BENCH_VALUE_BYTES ||
                   memcmp(e.value, wl_value(w, i + value_shift), BENCH_VALUE_BYTES) != 0) {
            die("verify", i, "gossipkv: wrong value");
        }
    }
}

/* Buckets listed per bucket_scan measurement: 64 through the index (about
 * 1000 entries each at 1M keys), 16 by whole-table scans (each reads every
 * slot: 128 MiB at 1M keys, so 16 already take about a second). */
#define BENCH_SCAN_BUCKETS 64u
#define BENCH_SCAN_FULL_BUCKETS 16u

struct scan_count {
    uint64_t entries, bytes;
};

static int scan_count_cb(void *arg, const struct entry *e)
{
    struct scan_count *c = arg;
    c->entries++;
    c->bytes += e->key_len + e->value_len + e->key[0]; /* reads the record, as a repair would */
    return 0;
}

/* gossip/sync.c's sweep: store_scan steps of 1024 slots over the whole
 * table, each entry's bucket from its key, kept if its bit is set (here
 * every bucket's: the "every bucket differs" case a sweep is for). */
static int sweep_cb(void *arg, const struct entry *e)
{
    struct scan_count *c = arg;
    uint32_t b = entry_bucket(e->key, e->key_len, STORE_BUCKET_BITS);
    if (b < STORE_BUCKETS) {
        c->entries++;
        c->bytes += e->key_len + e->value_len;
    }
    return 0;
}

struct scan_result {
    double ix_rate, ix_entry_rate, again_rate, full_rate, sweep_ms;
    uint64_t entries;
    struct store_stats st; /* at the measurement */
};

/* One bucket_scan measurement; round picks a different set of buckets.
 * Checked untimed: the index lists as many entries as the full scan for
 * the full scan's buckets. */
static struct scan_result gkv_bucket_scan_phase(struct gkv_side *g, uint32_t round)
{
    struct scan_count c = {0}, cf = {0}, check = {0};
    uint64_t t0 = mono_ns();
    for (uint32_t i = 0; i < BENCH_SCAN_BUCKETS; i++)
        store_bucket_scan(g->s, (i * (STORE_BUCKETS / BENCH_SCAN_BUCKETS) + round) % STORE_BUCKETS,
                          scan_count_cb, &c);
    uint64_t t1 = mono_ns();
    /* the same buckets again: their hashes are sorted now (what a resumed
     * half-sent bucket costs per entry) */
    struct scan_count c2 = {0};
    for (uint32_t i = 0; i < BENCH_SCAN_BUCKETS; i++)
        store_bucket_scan(g->s, (i * (STORE_BUCKETS / BENCH_SCAN_BUCKETS) + round) % STORE_BUCKETS,
                          scan_count_cb, &c2);
    uint64_t t1b = mono_ns();
    if (c2.entries != c.entries)
        die("verify bucket_scan", -1, "two scans of the same buckets differ");
    for (uint32_t i = 0; i < BENCH_SCAN_FULL_BUCKETS; i++)
        store__bucket_scan_full(g->s,
                                (i * (STORE_BUCKETS / BENCH_SCAN_FULL_BUCKETS) + 7 + round) %
                                    STORE_BUCKETS,
                                scan_count_cb, &cf);
    uint64_t t2 = mono_ns();
    for (uint32_t i = 0; i < BENCH_SCAN_FULL_BUCKETS; i++)
        store_bucket_scan(g->s,
                          (i * (STORE_BUCKETS / BENCH_SCAN_FULL_BUCKETS) + 7 + round) %
                              STORE_BUCKETS,
                          scan_count_cb, &check);
    if (check.entries != cf.entries || check.bytes != cf.bytes)
        die("verify bucket_scan", -1, "the index and the full scan list different entries");
    struct scan_count sw = {0};
    uint64_t cursor = 0, t3 = mono_ns();
    do {
        store_scan(g->s, &cursor, 1024, sweep_cb, &sw);
    } while (cursor != 0);
    uint64_t t4 = mono_ns();
    struct scan_result r;
    r.sweep_ms = (double)(t4 - t3) / 1e6;
    r.ix_rate = BENCH_SCAN_BUCKETS / ((double)(t1 - t0) / 1e9);
    r.ix_entry_rate = (double)c.entries / ((double)(t1 - t0) / 1e9);
    r.again_rate = BENCH_SCAN_BUCKETS / ((double)(t1b - t1) / 1e9);
    r.full_rate = BENCH_SCAN_FULL_BUCKETS / ((double)(t2 - t1b) / 1e9);
    r.entries = c.entries;
    store_stats(g->s, &r.st);
    return r;
}

static void print_bucket_scan(const struct scan_result *r)
{
    const struct store_stats st = r->st;
    uint64_t keys = st.entries + st.tombstones;
    printf("bucket_scan: gossipkv=%.0f buckets/s (%.0f entries/s), full-table scan=%.0f buckets/s "
           "ratio=%.1f\n",
           r->ix_rate, r->ix_entry_rate, r->full_rate, r->full_rate > 0 ? r->ix_rate / r->full_rate : 0.0);
    printf("bucket_scan: %u buckets, %.0f entries per bucket, %.1f us per bucket (index; %.1f us "
           "again, hashes sorted) vs %.1f ms (full, capacity %" PRIu64 "); index %" PRIu64
           " bytes = %.1f per key\n",
           BENCH_SCAN_BUCKETS, (double)r->entries / BENCH_SCAN_BUCKETS, 1e6 / r->ix_rate,
           1e6 / r->again_rate, 1e3 / r->full_rate, st.capacity, st.bucket_index_bytes,
           keys ? (double)st.bucket_index_bytes / (double)keys : 0.0);
    printf("bucket_scan: every bucket: one store_scan sweep %.0f ms (gossip/sync.c, GOSSIP_SWEEP_MIN_BUCKETS "
           "or more buckets) vs %.0f ms for %u buckets through the index (at the rate above)\n",
           r->sweep_ms, 1e3 * STORE_BUCKETS / r->ix_rate, STORE_BUCKETS);
    fflush(stdout);
}

/* ---------------------------------------------------------------- LMDB */

#ifdef GKV_HAVE_LMDB
struct lmdb_side {
    char dir[64];
    MDB_env *env;
    MDB_dbi dbi;
};

static void lmdb_check(const char *what, int rc)
{
    if (rc != 0)
        die(what, rc, mdb_strerror(rc));
}

static void lmdb_open(struct lmdb_side *l, uint32_t n)
{
    snprintf(l->dir, sizeof(l->dir), "/tmp/lmdb-bench-XXXXXX");
    if (!mkdtemp(l->dir))
        die("mkdtemp", -errno, strerror(errno));
    lmdb_check("mdb_env_create", mdb_env_create(&l->env));
    /* Map size: generous (1 KiB per entry + 64 MiB); with MDB_WRITEMAP the
     * file is sparse, and disk usage is measured in allocated blocks. */
    lmdb_check("mdb_env_set_mapsize",
               mdb_env_set_mapsize(l->env, (size_t)n * 1024u + ((size_t)64 << 20)));
    lmdb_check("mdb_env_open", mdb_env_open(l->env, l->dir, MDB_NOSYNC | MDB_WRITEMAP, 0644));
    MDB_txn *txn;
    lmdb_check("mdb_txn_begin", mdb_txn_begin(l->env, NULL, 0, &txn));
    lmdb_check("mdb_dbi_open", mdb_dbi_open(txn, NULL, 0, &l->dbi));
    lmdb_check("mdb_txn_commit", mdb_txn_commit(txn));
}

static void lmdb_close(struct lmdb_side *l)
{
    mdb_env_close(l->env);
    rm_tree(l->dir);
}

static struct phase lmdb_put_phase(struct lmdb_side *l, const struct workload *w, uint32_t value_shift,
                             bool record_latency)
{
    struct phase ph;
    phase_start(&ph);
    uint64_t prev = ph.t0_ns;
    for (uint32_t i = 0; i < w->n; i++) {
        MDB_txn *txn;
        MDB_val k = {BENCH_KEY_BYTES, (void *)wl_key(w, i)};
        MDB_val v = {BENCH_VALUE_BYTES, (void *)wl_value(w, i + value_shift)};
        lmdb_check("mdb_txn_begin", mdb_txn_begin(l->env, NULL, 0, &txn));
        lmdb_check("mdb_put", mdb_put(txn, l->dbi, &k, &v, 0));
        lmdb_check("mdb_txn_commit", mdb_txn_commit(txn));
        if (record_latency) {
            uint64_t t = mono_ns();
            w->lat_ns[i] = clamp_u32(t - prev);
            prev = t;
        }
    }
    return phase_end(&ph, w->n);
}

static struct phase lmdb_get_phase(struct lmdb_side *l, const struct workload *w, bool hits,
                             uint64_t *sink)
{
    uint64_t acc = 0;
    struct phase ph;
    phase_start(&ph);
    MDB_txn *txn;
    lmdb_check("mdb_txn_begin", mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn));
    for (uint32_t i = 0; i < w->n; i++) {
        MDB_val k = {BENCH_KEY_BYTES, (void *)(hits ? wl_shuffled(w, i) : wl_miss(w, i))};
        MDB_val v;
        int rc = mdb_get(txn, l->dbi, &k, &v);
        if (hits) {
            lmdb_check("mdb_get (hit)", rc);
            acc += ((const uint8_t *)v.mv_data)[0];
        } else if (rc != MDB_NOTFOUND) {
            lmdb_check("mdb_get (miss)", rc ? rc : -1);
        }
    }
    mdb_txn_abort(txn);
    phase_end(&ph, w->n);
    *sink += acc;
    return ph;
}

static struct phase lmdb_del_phase(struct lmdb_side *l, const struct workload *w)
{
    struct phase ph;
    phase_start(&ph);
    for (uint32_t i = 0; i < w->n; i++) {
        MDB_txn *txn;
        MDB_val k = {BENCH_KEY_BYTES, (void *)wl_shuffled(w, i)};
        lmdb_check("mdb_txn_begin", mdb_txn_begin(l->env, NULL, 0, &txn));
        lmdb_check("mdb_del", mdb_del(txn, l->dbi, &k, NULL));
        lmdb_check("mdb_txn_commit", mdb_txn_commit(txn));
    }
    return phase_end(&ph, w->n);
}

static void lmdb_verify(struct lmdb_side *l, const struct workload *w, uint32_t value_shift,
                        bool deleted)
{
    MDB_txn *txn;
    lmdb_check("mdb_txn_begin", mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn));
    for (uint32_t i = 0; i < w->n; i++) {
        MDB_val k = {BENCH_KEY_BYTES, (void *)wl_key(w, i)};
        MDB_val v;
        int rc = mdb_get(txn, l->dbi, &k, &v);
        if (deleted ? rc != MDB_NOTFOUND
                    : rc != 0 || v.mv_size != BENCH_VALUE_BYTES ||
                          memcmp(v.mv_data, wl_value(w, i + value_shift), BENCH_VALUE_BYTES))
            die("verify", i, "lmdb: wrong value");
    }
    mdb_txn_abort(txn);
}
#endif

/* The untimed put phases of the warm-up (see the comment at the top): each
 * on its own new store, closed and removed, so the timed store starts
 * empty as before. */
static void gkv_close_remove(struct gkv_side *g)
{
    int rc = store_close(g->s);
    if (rc != 0)
        die("store_close", rc, gkv_strerror(rc));
    rm_tree(g->dir);
}

static void gkv_warmup(const struct workload *w, uint64_t seed)
{
    struct gkv_side g;
    gkv_open(&g, seed);
    gkv_put_phase(&g, w, 0, false);
    gkv_close_remove(&g);
}

static void lmdb_warmup(const struct workload *w)
{
    struct lmdb_side l;
    lmdb_open(&l, w->n);
    lmdb_put_phase(&l, w, 0, false);
    lmdb_close(&l);
}

/* How much of values.gkv this process maps with 2 MiB entries
 * (FilePmdMapped in /proc/self/smaps): a get's record read misses the TLB
 * unless it is most of the file. Kernels or file systems without large
 * page-cache folios show 0. */
static void print_huge_mapped(const char *dir)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return;
    char line[512], want[128];
    snprintf(want, sizeof want, "%s/values.gkv", dir);
    bool in = false;
    unsigned long long rss = 0, pmd = 0, anon = 0, anon_huge = 0, v;
    while (fgets(line, sizeof line, f)) {
        if (isxdigit((unsigned char)line[0]) && strchr(line, '-') && strchr(line, ' '))
            in = strstr(line, want) != NULL; /* a mapping's first line */
        else if (in && sscanf(line, "Rss: %llu kB", &v) == 1)
            rss += v;
        else if (in && sscanf(line, "FilePmdMapped: %llu kB", &v) == 1)
            pmd += v;
        else if (sscanf(line, "Anonymous: %llu kB", &v) == 1)
            anon += v;
        else if (sscanf(line, "AnonHugePages: %llu kB", &v) == 1)
            anon_huge += v;
    }
    fclose(f);
    /* Anonymous memory: the store's read cache, lookup index and bucket
     * index, LMDB's and the workload's arrays. A get's read-cache bucket on
     * a 4 KiB page costs a TLB miss (a two-level walk on a VM) besides its
     * cache miss: when this falls, get_hit does. */
    printf("values.gkv resident: %.1f MiB, of which mapped by 2 MiB entries: %.1f MiB; "
           "anonymous memory %.1f MiB, on 2 MiB pages %.1f MiB\n",
           rss / 1024.0, pmd / 1024.0, anon / 1024.0, anon_huge / 1024.0);
}

/* The latency of one dependent random load from memory: a pointer chase
 * through a random cycle over the cache lines of a 256 MiB buffer on huge
 * pages (far beyond any cache here). A get cannot beat the number of
 * dependent misses it makes times this, so the bench prints each side's
 * get_hit time in these units: gossipkv's hit is two (index word, record),
 * LMDB's a walk down its B-tree. The same run, so the same machine state. */
static double dependent_load_ns(uint64_t seed)
{
    const size_t bytes = 256u << 20, lines = bytes / 64;
    uint64_t *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t *perm = malloc(lines * sizeof *perm);
    if (a == MAP_FAILED || !perm)
        die("memory probe", GKV_ENOMEM, "256 MiB");
    madvise(a, bytes, MADV_HUGEPAGE);
    struct gkv_rng r;
    gkv_rng_seed(&r, seed ^ 0x6d656d6c6174ull);
    for (size_t i = 0; i < lines; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = lines - 1; i > 0; i--) {
        size_t j = (size_t)gkv_rng_below(&r, i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < lines; i++)
        a[(size_t)perm[i] * 8] = (uint64_t)perm[(i + 1) % lines] * 8;
    free(perm);
    const uint32_t loads = 2000000;
    uint64_t p = 0;
    uint64_t t0 = mono_ns();
    for (uint32_t i = 0; i < loads; i++)
        p = a[p];
    uint64_t t1 = mono_ns();
    munmap(a, bytes);
    return p == UINT64_MAX ? 0.0 : (double)(t1 - t0) / loads; /* p keeps the chase */
}

/* ---------------------------------------------------------------- main */

static void print_op(const char *op, double gkv, double lmdb)
{
    printf("%s: gossipkv=%.0f/s lmdb=%.0f/s ratio=%.2f\n", op, gkv, lmdb,
           lmdb > 0 ? gkv / lmdb : 0.0);
    fflush(stdout);
}

/* The op line from each side's median of runs (gp[op], lp[op]), then every
 * run when there were several. */
static void print_runs(const char *op, const struct phase *gruns, const struct phase *lruns,
                       struct phase *gmed, struct phase *lmed)
{
    *gmed = median_phase(gruns, bench_runs);
    *lmed = median_phase(lruns, bench_runs);
    print_op(op, gmed->wall_rate, lmed->wall_rate);
    if (bench_runs > 1) {
        printf("%s runs (the line above has each side's median):", op);
        for (uint32_t r = 0; r < bench_runs; r++)
            printf(" %.0f/%.0f", gruns[r].wall_rate, lruns[r].wall_rate);
        printf(" (gossipkv/lmdb per run, alternating)\n");
    }
}

/* A read phase (which: 1 get_hit, 2 get_miss, 5 get_hit_batch16) --runs
 * times per engine, alternating, on the stores the put phase left. */
static void read_runs(struct gkv_side *g, struct lmdb_side *l, const struct workload *w, int which,
                      uint64_t *sink, struct phase *gp, struct phase *lp,
                      const char *const *ops)
{
    struct phase gruns[RUNS_MAX], lruns[RUNS_MAX];
    for (uint32_t r = 0; r < bench_runs; r++) {
        gruns[r] = which == 5 ? gkv_get_batch_phase(g, w, sink) : gkv_get_phase(g, w, which == 1, sink);
        lruns[r] = lmdb_get_phase(l, w, which != 2, sink);
    }
    print_runs(ops[which], gruns, lruns, &gp[which], &lp[which]);
}

static void usage(void)
{
    fprintf(stderr, "usage: storage_bench [--keys N] [--seed S] [--pages values|none|all]\n"
                    "                     [--read-cache on|off] [--bucket-index on|off]\n"
                    "                     [--warmup on|off] [--runs R] [--only OP [--repeat R]]\n"
                    "  --read-cache off: the store without its read cache (the node's\n"
                    "           no-read-cache option; default on)\n"
                    "  --bucket-index off: the store keeps no per-bucket key index (A/B of\n"
                    "           its cost to the other phases; default on)\n"
                    "  --runs R: timed runs per engine of put (each on a new store), get_hit,\n"
                    "           get_miss and get_hit_batch16, alternating; each reports each\n"
                    "           side's median (default 3, max 15)\n"
                    "  --warmup off: no untimed put phase per engine on a throwaway store\n"
                    "           before the timed one (the cold case; default on)\n"
                    "  --pages: which gossipkv files use 2 MiB pages (the node's huge-pages\n"
                    "           option; default values)\n"
                    "  --only OP: gossipkv alone, for profiling: the phases OP needs, then OP\n"
                    "             R times (default 5); OP is put, get_hit, get_miss, overwrite,\n"
                    "             delete, get_hit_batch16 or bucket_scan. Prints one rate per\n"
                    "             repetition, no ratios (bucket_scan: its own ratio to the\n"
                    "             full-table scan).\n");
    exit(2);
}

/* --only OP: gossipkv alone, so `perf stat` / `perf record` see one
 * operation. A put-only run measures a fresh store each repetition (put
 * needs an empty store); the others run put once (untimed as far as the
 * report goes), then repeat OP; overwrite alternates between two values and
 * delete is repeated on tombstones (a delete of a tombstone rewrites it). */
static int run_only(struct workload *w, uint64_t seed, const char *op, uint32_t repeat)
{
    static const char *const known[] = {"put",    "get_hit",         "get_miss",   "overwrite",
                                        "delete", "get_hit_batch16", "bucket_scan"};
    int which = -1;
    for (int i = 0; i < 7; i++)
        if (strcmp(op, known[i]) == 0)
            which = i;
    if (which < 0)
        usage();
    uint64_t sink = 0;
    struct gkv_side g;
    int rc;
    for (uint32_t r = 0; which == 0 && r < repeat; r++) {
        gkv_open(&g, seed);
        struct phase ph = gkv_put_phase(&g, w, 0, false);
        printf("only put #%u: gossipkv=%.0f/s cpu=%.0f/s\n", r, ph.wall_rate, ph.cpu_rate);
        if ((rc = store_close(g.s)) != 0)
            die("store_close", rc, gkv_strerror(rc));
        rm_tree(g.dir);
    }
    if (which == 0)
        return 0;
    gkv_open(&g, seed);
    gkv_put_phase(&g, w, 0, false);
    gkv_finish_growth(&g);
    for (uint32_t r = 0; which == 6 && r < repeat; r++) {
        struct scan_result sr = gkv_bucket_scan_phase(&g, r);
        print_bucket_scan(&sr);
    }
    for (uint32_t r = 0; which != 0 && which != 6 && r < repeat; r++) {
        struct phase ph;
        if (which == 1 || which == 2)
            ph = gkv_get_phase(&g, w, which == 1, &sink);
        else if (which == 3)
            ph = gkv_put_phase(&g, w, 1 + (r & 1), false);
        else if (which == 5)
            ph = gkv_get_batch_phase(&g, w, &sink);
        else
            ph = gkv_del_phase(&g, w);
        printf("only %s #%u: gossipkv=%.0f/s cpu=%.0f/s\n", op, r, ph.wall_rate, ph.cpu_rate);
    }
    struct store_stats st;
    store_stats(g.s, &st);
    printf("read cache: %.1f MiB, %" PRIu64 " gets answered, %" PRIu64 " not\n",
           (double)st.read_cache_bytes / (1 << 20), st.read_cache_hits, st.read_cache_misses);
    rc = store_close(g.s);
    if (rc != 0)
        die("store_close", rc, gkv_strerror(rc));
    rm_tree(g.dir);
    printf("(checksum %" PRIu64 ")\n", sink);
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t n = BENCH_KEYS_DEFAULT;
    uint64_t seed = BENCH_SEED_DEFAULT;
    const char *only = NULL;
    uint32_t repeat = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v == 0 || v > 100000000ull)
                usage();
            n = (uint32_t)v;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "values") == 0)
                bench_pages = STORE_PAGES_VALUES;
            else if (strcmp(v, "none") == 0)
                bench_pages = STORE_PAGES_NONE;
            else if (strcmp(v, "all") == 0)
                bench_pages = STORE_PAGES_ALL;
            else
                usage();
        } else if (strcmp(argv[i], "--read-cache") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "on") == 0)
                bench_no_read_cache = false;
            else if (strcmp(v, "off") == 0)
                bench_no_read_cache = true;
            else
                usage();
        } else if (strcmp(argv[i], "--bucket-index") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "on") == 0)
                bench_bucket_index = true;
            else if (strcmp(v, "off") == 0)
                bench_bucket_index = false;
            else
                usage();
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v == 0 || v > RUNS_MAX)
                usage();
            bench_runs = (uint32_t)v;
        } else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "on") == 0)
                bench_warmup = true;
            else if (strcmp(v, "off") == 0)
                bench_warmup = false;
            else
                usage();
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v == 0 || v > 1000)
                usage();
            repeat = (uint32_t)v;
        } else {
            usage();
        }
    }
#ifndef GKV_HAVE_LMDB
    fprintf(stderr, "storage_bench: built without LMDB (install liblmdb-dev)\n");
    return 1;
#else
    struct workload w;
    workload_init(&w, n, seed);
    if (only) {
        int rc = run_only(&w, seed, only, repeat);
        workload_free(&w);
        return rc;
    }
    printf("storage_bench: keys=%u key_bytes=%u value_bytes=%u seed=%" PRIu64
           " gossipkv sync=none huge-pages=%s read-cache=%s%s, lmdb MDB_NOSYNC|MDB_WRITEMAP,"
           " warm-up=%s\n",
           n, BENCH_KEY_BYTES, BENCH_VALUE_BYTES, seed, store_pages_name(bench_pages),
           bench_no_read_cache ? "off" : "on", bench_bucket_index ? "" : " bucket-index=off",
           bench_warmup ? "on (one untimed put phase per engine on a throwaway store)" : "off");

    struct gkv_side g;
    struct lmdb_side l;
    uint64_t sink = 0;
    struct store_stats st;
    struct phase gp[6], lp[6];
    static const char *const ops[6] = {"put",       "get_hit", "get_miss",
                                       "overwrite", "delete",  "get_hit_batch16"};
    /* The put phase, --runs times per engine, alternating, each on a new
     * store; the last stores stay open for the phases after. */
    struct phase gruns[RUNS_MAX], lruns[RUNS_MAX];
    struct latency gl = {0}, ll = {0};
    uint64_t cap0 = 0;
    /* Each engine's previous store is removed just before its next run, as
     * the warm-up's is, so that every run meets memory its own side has
     * just freed (see the warm-up at the top): removing it right after its
     * run would leave it to the VM's balloon while the other side runs. */
    for (uint32_t r = 0; r < bench_runs; r++) {
        if (r == 0 && bench_warmup)
            gkv_warmup(&w, seed);
        if (r > 0)
            gkv_close_remove(&g);
        gkv_open(&g, seed);
        store_stats(g.s, &st);
        cap0 = st.capacity;
        gruns[r] = gkv_put_phase(&g, &w, 0, true);
        latency_worst(&gl, latency_of(w.lat_ns, n));
        if (r == 0 && bench_warmup)
            lmdb_warmup(&w);
        if (r > 0)
            lmdb_close(&l);
        lmdb_open(&l, n);
        lruns[r] = lmdb_put_phase(&l, &w, 0, true);
        latency_worst(&ll, latency_of(w.lat_ns, n));
    }
    print_runs(ops[0], gruns, lruns, gp, lp);
    store_stats(g.s, &st);
    printf("put latency%s: gossipkv p99=%.1fus p99.9=%.1fus max=%.1fus (capacity %" PRIu64
           " -> %" PRIu64 ", %" PRIu64 " doublings) lmdb p99=%.1fus p99.9=%.1fus max=%.1fus\n",
           bench_runs > 1 ? " (worst run)" : "", gl.p99_ns / 1e3, gl.p999_ns / 1e3,
           gl.max_ns / 1e3, cap0, st.capacity, st.growths,
           ll.p99_ns / 1e3, ll.p999_ns / 1e3, ll.max_ns / 1e3);
    gkv_verify(&g, &w, 0, false);
    lmdb_verify(&l, &w, 0, false);
    gkv_finish_growth(&g);
    /* measured now (the store as the put phase left it), printed at the end
     * so the lines before keep their place */
    struct scan_result scan = gkv_bucket_scan_phase(&g, 0);
    uint64_t gdisk = disk_bytes(g.dir), ldisk = disk_bytes(l.dir);
    printf("bytes on disk per entry: gossipkv=%.1f lmdb=%.1f (allocated blocks after the put "
           "phase; payload %u)\n",
           (double)gdisk / n, (double)ldisk / n, BENCH_KEY_BYTES + BENCH_VALUE_BYTES);

    print_huge_mapped(g.dir);

    read_runs(&g, &l, &w, 1, &sink, gp, lp, ops);
    store_stats(g.s, &st);
    printf("read cache: %.1f MiB; of the gets so far it answered %" PRIu64 ", the SipHash path "
           "%" PRIu64 "\n",
           (double)st.read_cache_bytes / (1 << 20), st.read_cache_hits, st.read_cache_misses);
    double load_ns = dependent_load_ns(seed);
    printf("memory: one dependent random load %.0f ns; a get_hit costs gossipkv=%.2f lmdb=%.2f "
           "such loads (CPU time)\n",
           load_ns, 1e9 / gp[1].cpu_rate / load_ns, 1e9 / lp[1].cpu_rate / load_ns);
    read_runs(&g, &l, &w, 2, &sink, gp, lp, ops);
    read_runs(&g, &l, &w, 5, &sink, gp, lp, ops);

    gp[3] = gkv_put_phase(&g, &w, 1, false);
    lp[3] = lmdb_put_phase(&l, &w, 1, false);
    print_op(ops[3], gp[3].wall_rate, lp[3].wall_rate);
    gkv_verify(&g, &w, 1, false);
    lmdb_verify(&l, &w, 1, false);

    gp[4] = gkv_del_phase(&g, &w);
    lp[4] = lmdb_del_phase(&l, &w);
    print_op(ops[4], gp[4].wall_rate, lp[4].wall_rate);
    gkv_verify(&g, &w, 0, true);
    lmdb_verify(&l, &w, 0, true);

    printf("cpu-time rates (process CPU time, less sensitive to other load on the machine):\n");
    for (int i = 0; i < 6; i++)
        printf("  cpu %s gossipkv=%.0f/s lmdb=%.0f/s ratio=%.2f\n", ops[i], gp[i].cpu_rate,
               lp[i].cpu_rate, lp[i].cpu_rate > 0 ? gp[i].cpu_rate / lp[i].cpu_rate : 0.0);

    store_stats(g.s, &st);
    printf("gossipkv after delete: entries=%" PRIu64 " tombstones=%" PRIu64 " capacity=%" PRIu64
           " (checksum %" PRIu64 ")\n",
           st.entries, st.tombstones, st.capacity, sink);
    print_bucket_scan(&scan);
    int rc = store_close(g.s);
    if (rc != 0)
        die("store_close", rc, gkv_strerror(rc));
    rm_tree(g.dir);
    lmdb_close(&l);
    workload_free(&w);
    return 0;
#endif
}
