/*
 * bucket_resume_bench.c: paging through one huge anti-entropy bucket, a
 * budget at a time, the way gossip/sync.c sends a half-sent bucket, by
 * count (before: store_bucket_scan from the start each call, skipping the
 * entries already sent) and by placement hash (now: store_bucket_scan_from
 * resuming at the hash it handed back). Same store, same process, same
 * run; the by-count side is the peer, the ratio is by-count / by-hash.
 *
 *   bucket_resume_bench [--keys N] [--other N] [--per-call B[,B...]]
 *                       [--index on|off|both]
 *
 * --keys      entries in the one bucket (default 100,000: a client that
 *             chooses keys; entry_bucket is public). Finding them hashes
 *             about 1,024 candidate keys each (a few seconds per 100,000).
 * --other     keys in other buckets (default 400,000), so the bucket's
 *             entries are scattered through a table of realistic size.
 * --per-call  entries listed per call before the callback stops (what one
 *             tick's repair_bytes_per_tick holds: about 25 for one 1,400-byte
 *             datagram of ~55-byte entries, about 4,700 for the default
 *             256 KiB). Default 100,4700.
 * --index     the bucket index on (bucket_index_min_slots = 1), off (the
 *             whole-table fallback), or both (default).
 *
 * Per line: entries handed to the callback (visited) and CPU time for the
 * whole listing, each way. Timings are process CPU time (clock_gettime
 * CLOCK_PROCESS_CPUTIME_ID), so other load on the machine moves them little.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/errors.h"
#include "storage/store.h"

/* The bucket the keys are chosen for (any one will do). */
#define BENCH_BUCKET 123u
#define BENCH_VALUE "0123456789abcdefghijklmnopqrstuv" /* 32 bytes */
#define BENCH_NOW_MS UINT64_C(1767225600000)
#define BENCH_MAX_PER_CALL 8

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bucket_resume_bench: %s failed: %d\n", what, rc);
    exit(1);
}

struct pager {
    uint32_t per_call;
    uint32_t seen_call; /* entries sent in this call */
    uint32_t index;     /* by count: entries handed over in this call */
    uint64_t skip;      /* by count: entries sent in earlier calls */
    uint64_t visited;   /* entries handed to the callback, all calls */
    uint64_t sent;
    uint64_t sink;      /* keeps the reads from being optimized out */
};

/* sync.c's old repair_visit: skip what earlier calls sent, then send. */
static int by_count_cb(void *arg, const struct entry *e)
{
    struct pager *p = arg;
    p->visited++;
    if (p->index++ < p->skip)
        return 0;
    p->sink += e->key[0] + e->value_len;
    p->sent++;
    if (++p->seen_call == p->per_call) {
        p->skip = p->index;
        return 1;
    }
    return 0;
}

static int by_hash_cb(void *arg, const struct entry *e)
{
    struct pager *p = arg;
    p->visited++;
    p->sink += e->key[0] + e->value_len;
    p->sent++;
    return ++p->seen_call >= p->per_call;
}

static struct store *build(uint64_t min_slots, uint32_t keys, uint32_t other)
{
    struct store_config cfg;
    store_config_init(&cfg);
    cfg.dir = NULL;
    cfg.node_id = 1;
    cfg.sync = STORE_SYNC_NONE;
    cfg.bucket_index_min_slots = min_slots;
    uint64_t want = ((uint64_t)keys + other) * 2;
    uint32_t cap = 1024;
    while (cap < want && cap < (1u << 30))
        cap *= 2;
    cfg.initial_capacity = cap;
    for (int i = 0; i < 16; i++)
        cfg.placement_secret[i] = (uint8_t)(i * 41 + 3);
    struct store *s;
    int rc = store_open(&cfg, BENCH_NOW_MS, &s, NULL, 0);
    if (rc != 0)
        die("store_open", rc);
    char k[32];
    uint32_t in = 0, out = 0;
    for (uint64_t i = 0; in < keys || out < other; i++) {
        int kl = snprintf(k, sizeof k, "key:%" PRIu64, i);
        bool mine = entry_bucket(k, (size_t)kl, STORE_BUCKET_BITS) == BENCH_BUCKET;
        if (mine ? in >= keys : out >= other)
            continue;
        rc = store_put(s, k, (size_t)kl, BENCH_VALUE, sizeof BENCH_VALUE - 1, BENCH_NOW_MS, NULL);
        if (rc != 0)
            die("store_put", rc);
        in += mine;
        out += !mine;
    }
    for (int t = 0; t < 100000; t++) { /* finish any doubling in progress */
        struct store_stats st;
        store_stats(s, &st);
        if (!st.growing)
            break;
        store_tick(s, BENCH_NOW_MS);
    }
    return s;
}

static void run(struct store *s, const char *index, uint32_t keys, uint32_t per_call)
{
    /* warm: one full listing, so both sides start with a sorted vector */
    struct pager w = {.per_call = UINT32_MAX};
    uint64_t from = 0;
    store_bucket_scan_from(s, BENCH_BUCKET, &from, by_hash_cb, &w);

    struct pager c = {.per_call = per_call};
    uint64_t calls_c = 0, t0 = cpu_ns();
    for (;;) { /* bounded: each call sends per_call or ends the listing */
        c.index = 0;
        c.seen_call = 0;
        int rc = store_bucket_scan(s, BENCH_BUCKET, by_count_cb, &c);
        calls_c++;
        if (rc < 0)
            die("store_bucket_scan", rc);
        if (c.seen_call < per_call)
            break;
    }
    uint64_t ns_c = cpu_ns() - t0;

    struct pager h = {.per_call = per_call};
    uint64_t calls_h = 0;
    from = 0;
    t0 = cpu_ns();
    for (;;) {
        h.seen_call = 0;
        int rc = store_bucket_scan_from(s, BENCH_BUCKET, &from, by_hash_cb, &h);
        calls_h++;
        if (rc < 0)
            die("store_bucket_scan_from", rc);
        if (rc == 0)
            break;
    }
    uint64_t ns_h = cpu_ns() - t0;
    if (c.sent != keys || h.sent != keys) {
        fprintf(stderr, "bucket_resume_bench: sent %" PRIu64 " by count, %" PRIu64
                        " by hash, want %u\n", c.sent, h.sent, keys);
        exit(1);
    }
    printf("bucket_resume: keys=%u per_call=%u index=%s: by_count visited=%" PRIu64
           " calls=%" PRIu64 " cpu_ms=%.1f  by_hash visited=%" PRIu64 " calls=%" PRIu64
           " cpu_ms=%.1f  visited_ratio=%.1f time_ratio=%.1f\n",
           keys, per_call, index, c.visited, calls_c, (double)ns_c / 1e6, h.visited, calls_h,
           (double)ns_h / 1e6, (double)c.visited / (double)h.visited,
           (double)ns_c / (double)(ns_h ? ns_h : 1));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    uint32_t keys = 100000, other = 400000;
    uint32_t per_call[BENCH_MAX_PER_CALL] = {100, 4700};
    int nper = 2;
    const char *index = "both";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) {
            keys = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--other") == 0 && i + 1 < argc) {
            other = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--per-call") == 0 && i + 1 < argc) {
            nper = 0;
            for (char *p = argv[++i]; *p && nper < BENCH_MAX_PER_CALL;) {
                char *end;
                unsigned long v = strtoul(p, &end, 10);
                if (end == p || v == 0) {
                    fprintf(stderr, "bucket_resume_bench: bad --per-call\n");
                    return 2;
                }
                per_call[nper++] = (uint32_t)v;
                p = *end == ',' ? end + 1 : end;
            }
        } else if (strcmp(argv[i], "--index") == 0 && i + 1 < argc) {
            index = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: bucket_resume_bench [--keys N] [--other N] [--per-call B[,B...]] "
                    "[--index on|off|both]\n");
            return 2;
        }
    }
    if (keys == 0 || nper == 0)
        return 2;
    const char *modes[2] = {"on", "off"};
    for (int m = 0; m < 2; m++) {
        if (strcmp(index, "both") != 0 && strcmp(index, modes[m]) != 0)
            continue;
        struct store *s = build(m == 0 ? 1 : UINT64_MAX, keys, other);
        struct store_stats st;
        store_stats(s, &st);
        printf("store: %" PRIu64 " entries, %" PRIu64 " slots, bucket index %" PRIu64 " bytes\n",
               st.entries, st.capacity, st.bucket_index_bytes);
        for (int p = 0; p < nper; p++)
            run(s, modes[m], keys, per_call[p]);
        store_close(s);
    }
    return 0;
}
