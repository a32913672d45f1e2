/*
 * ycsb_bench: a YCSB-style load generator that speaks RESP to any
 * Redis-protocol server (gossipkv or redis-server), for bench/run.
 *
 *   ycsb_bench --server HOST:PORT[,HOST:PORT...] --workload W [--load]
 *              [--records N] [--value-bytes B] [--conns C] [--duration-s S]
 *              [--warmup-s S] [--rate OPS_S] [--seed S] [--hist FILE]
 *
 * Workloads (YCSB core workloads; keys "user<hash>" as YCSB names them):
 *   A  50% read, 50% update, zipfian keys
 *   B  95% read,  5% update, zipfian keys
 *   C  100% read, zipfian keys
 *   D  95% read,  5% insert, reads skewed to the latest inserts
 *   F  50% read, 50% read-modify-write (GET then SET of the same key, one
 *      operation), zipfian keys
 *   W  100% update, zipfian keys (not YCSB: the cluster write load)
 * Zipfian constant 0.99 (Gray et al., "Quickly generating billion-record
 * synthetic databases", 1994, the generator YCSB uses), scrambled: the rank
 * drawn is hashed (FNV-1a 64) onto the key space so that the hot keys are
 * spread over it. --load first SETs every record 0..N-1 (closed loop).
 *
 * Timing. Each connection has one request in flight. With --rate R (ops/s
 * over all connections) the run is open loop: connection c's i-th operation
 * is due at t0 + (i * C + c) / R, and its latency is measured from that due
 * time, not from when it could be sent, so a server that stalls is charged
 * for every operation that queued behind the stall (coordinated omission;
 * wrk2 and HdrHistogram's "expected interval" do the same). Without --rate
 * the run is closed loop (each connection sends as soon as its previous
 * reply arrived) and a latency is send-to-reply: use it for throughput.
 * Latencies go into a log-bucket histogram (HDR style: 64 linear
 * sub-buckets per power of two of nanoseconds, so a reported value is at
 * most 1/64 = 1.6 % above the true one); operations in the first
 * --warmup-s seconds are not recorded.
 *
 * Output: one line
 *   ycsb: workload=A ops=N seconds=S ops_s=R p50_us=.. p90_us=.. p99_us=..
 *         p999_us=.. max_us=.. mean_us=.. errors=E misses=M
 * and with --hist FILE the percentile curve (percentile, latency_us) at
 * HDR's ticks per half-distance, for plotting.
 * Exit status 0, 1 if any request failed or the server went away.
 * --selftest checks the histogram and the zipfian generator (ctest).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/rng.h"

#define YB_CONNS_MAX 256u
#define YB_SERVERS_MAX 16u
#define YB_VALUE_MAX (64u * 1024u)
#define YB_KEY_MAX 32u
#define YB_RBUF (YB_VALUE_MAX + 256u)
/* Histogram: values up to 2^40 ns (18 minutes): below 128 ns one bucket
 * per ns, above 64 per power of two. */
#define YB_SUB_BITS 7u
#define YB_SUB (1u << YB_SUB_BITS)
#define YB_EXP 41u
#define YB_ZIPF_THETA 0.99
/* Bound on how long a run waits for the replies in flight at its end. */
#define YB_DRAIN_NS (10ull * 1000000000ull)

static uint64_t yb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ histogram */

struct yb_hist {
    uint64_t counts[YB_EXP * YB_SUB];
    uint64_t total, max_ns;
    double sum_ns;
};

/* Values below 128 ns are exact; above, bucket (e, sub) holds
 * [sub << e, (sub + 1) << e) with sub in [64, 128): 64 buckets per doubling. */
static uint32_t yb_hist_index(uint64_t v)
{
    if (v < YB_SUB)
        return (uint32_t)v;
    uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);
    uint32_t e = msb - (YB_SUB_BITS - 1u); /* 1.. */
    if (e >= YB_EXP)
        return YB_EXP * YB_SUB - 1u;
    return e * YB_SUB + (uint32_t)((v >> e) & (YB_SUB - 1u));
}

/* The largest value bucket i holds. */
static uint64_t yb_hist_upper(uint32_t i)
{
    uint32_t e = i / YB_SUB, sub = i % YB_SUB;
    if (e == 0)
        return sub;
    return ((uint64_t)sub << e) + ((1ull << e) - 1u);
}

static void yb_hist_add(struct yb_hist *h, uint64_t v)
{
    h->counts[yb_hist_index(v)]++;
    h->total++;
    h->sum_ns += (double)v;
    if (v > h->max_ns)
        h->max_ns = v;
}

/* Value at quantile q (0..1]: the upper bound of the bucket holding it. */
static uint64_t yb_hist_at(const struct yb_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->total);
    if (want == 0)
        want = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < YB_EXP * YB_SUB; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t u = yb_hist_upper(i);
            return u < h->max_ns ? u : h->max_ns;
        }
    }
    return h->max_ns;
}

/* HDR's percentile distribution: 5 ticks per halving of what remains. */
static void yb_hist_write(const struct yb_hist *h, FILE *f)
{
    fprintf(f, "percentile,latency_us\n");
    for (int k = 0; k < 5 * 20; k++) {
        double q = 1.0 - pow(0.5, (double)k / 5.0);
        if (q * (double)h->total > (double)h->total - 0.5)
            break;
        fprintf(f, "%.6f,%.3f\n", q * 100.0, (double)yb_hist_at(h, q) / 1e3);
    }
    fprintf(f, "100.000000,%.3f\n", (double)h->max_ns / 1e3);
}

/* ------------------------------------------------------------ key choice */

struct yb_zipf {
    uint64_t items;
    double zetan, zeta2, alpha, eta;
};

static double yb_zeta(uint64_t from, uint64_t to, double sum)
{
    for (uint64_t i = from; i < to; i++)
        sum += 1.0 / pow((double)(i + 1), YB_ZIPF_THETA);
    return sum;
}

/* Grows the generator to items (the zeta sum is extended, not redone). */
static void yb_zipf_grow(struct yb_zipf *z, uint64_t items)
{
    if (z->items == 0 || items < z->items) {
        z->zeta2 = yb_zeta(0, 2, 0.0);
        z->zetan = yb_zeta(0, items, 0.0);
    } else if (items > z->items) {
        z->zetan = yb_zeta(z->items, items, z->zetan);
    }
    z->items = items;
    z->alpha = 1.0 / (1.0 - YB_ZIPF_THETA);
    z->eta = (1.0 - pow(2.0 / (double)items, 1.0 - YB_ZIPF_THETA)) / (1.0 - z->zeta2 / z->zetan);
}

/* A rank in [0, items): 0 is the most popular. */
static uint64_t yb_zipf_next(const struct yb_zipf *z, struct gkv_rng *rng)
{
    double u = (double)(gkv_rng_next(rng) >> 11) * 0x1.0p-53;
    double uz = u * z->zetan;
    if (uz < 1.0)
        return 0;
    if (uz < 1.0 + pow(0.5, YB_ZIPF_THETA))
        return 1;
    uint64_t r = (uint64_t)((double)z->items * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return r < z->items ? r : z->items - 1;
}

static uint64_t yb_fnv64(uint64_t v)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) {
        h ^= v & 0xff;
        h *= 0x100000001b3ull;
        v >>= 8;
    }
    return h;
}

static size_t yb_key(char *out, uint64_t keynum)
{
    return (size_t)snprintf(out, YB_KEY_MAX, "user%" PRIu64, yb_fnv64(keynum));
}

/* ------------------------------------------------------------ workload */

enum yb_op { YB_READ, YB_UPDATE, YB_INSERT, YB_RMW };

struct yb_mix {
    char name;
    double read, update, insert; /* the rest is read-modify-write */
    bool latest;
};

static const struct yb_mix yb_mixes[] = {
    {'A', 0.50, 0.50, 0.0, false}, {'B', 0.95, 0.05, 0.0, false}, {'C', 1.00, 0.0, 0.0, false},
    {'D', 0.95, 0.0, 0.05, true},  {'F', 0.50, 0.0, 0.0, false},  {'W', 0.0, 1.0, 0.0, false},
};

struct yb_conn {
    int fd;
    enum yb_op op;
    int stage;        /* RMW: 0 = waiting for the GET, 1 = for the SET */
    uint64_t keynum;  /* key of the operation in flight */
    uint64_t due_ns;  /* intended start (open loop) or send time */
    uint64_t next_ns; /* when the next operation is due (open loop) */
    uint64_t seq;     /* operations this connection has started */
    bool busy;
    size_t rlen;
    char *rbuf;
    char *wbuf;
    size_t wlen, woff;
};

struct yb {
    const struct yb_mix *mix;
    uint64_t records, inserted;
    uint32_t value_bytes, conns;
    double rate;
    uint64_t start_ns, warm_ns, end_ns;
    struct gkv_rng rng;
    struct yb_zipf zipf;
    char *value;
    int ep;
    struct yb_conn c[YB_CONNS_MAX];
    struct yb_hist *hist;
    uint64_t ops, errors, misses, load_next;
    bool loading;
};

static void yb_die(const char *what)
{
    fprintf(stderr, "ycsb_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int yb_connect(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) {
        fprintf(stderr, "ycsb_bench: bad server %s (want HOST:PORT)\n", hostport);
        exit(2);
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
        fprintf(stderr, "ycsb_bench: cannot resolve %s\n", hostport);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        yb_die(hostport);
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Appends a RESP command of argc arguments to c's write buffer. */
static void yb_cmd(struct yb_conn *c, int argc, const char *const *argv, const size_t *lens)
{
    c->wlen = c->woff = 0;
    c->wlen += (size_t)sprintf(c->wbuf + c->wlen, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        c->wlen += (size_t)sprintf(c->wbuf + c->wlen, "$%zu\r\n", lens[i]);
        memcpy(c->wbuf + c->wlen, argv[i], lens[i]);
        c->wlen += lens[i];
        memcpy(c->wbuf + c->wlen, "\r\n", 2);
        c->wlen += 2;
    }
}

static void yb_send_get(struct yb_conn *c)
{
    char key[YB_KEY_MAX];
    size_t klen = yb_key(key, c->keynum);
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, klen};
    yb_cmd(c, 2, argv, lens);
}

static void yb_send_set(struct yb *y, struct yb_conn *c)
{
    char key[YB_KEY_MAX];
    size_t klen = yb_key(key, c->keynum);
    /* a few bytes of the value change per write, so writes differ */
    uint64_t r = gkv_rng_next(&y->rng);
    size_t off = (size_t)(r % (y->value_bytes - 7u));
    for (size_t k = 0; k < 7; k++)
        y->value[off + k] = (char)(33 + ((r >> (8 * k)) & 0xff) % 94);
    const char *argv[] = {"SET", key, y->value};
    size_t lens[] = {3, klen, y->value_bytes};
    yb_cmd(c, 3, argv, lens);
}

/* Draws the next operation for c and fills its write buffer. */
static void yb_start(struct yb *y, struct yb_conn *c, uint64_t due_ns)
{
    c->busy = true;
    c->stage = 0;
    c->due_ns = due_ns;
    c->seq++;
    if (y->loading) {
        c->op = YB_INSERT;
        c->keynum = y->load_next++;
        yb_send_set(y, c);
        return;
    }
    double u = (double)(gkv_rng_next(&y->rng) >> 11) * 0x1.0p-53;
    const struct yb_mix *m = y->mix;
    if (u < m->read)
        c->op = YB_READ;
    else if (u < m->read + m->update)
        c->op = YB_UPDATE;
    else if (u < m->read + m->update + m->insert)
        c->op = YB_INSERT;
    else
        c->op = YB_RMW;
    if (c->op == YB_INSERT) {
        c->keynum = y->inserted++;
        yb_send_set(y, c);
        return;
    }
    if (m->latest) {
        /* the newest keys are the most popular; keys still being inserted
         * (one per connection at most) are left out */
        uint64_t known = y->inserted > y->conns ? y->inserted - y->conns : 1;
        if (known > y->zipf.items + 1024 || known < y->zipf.items)
            yb_zipf_grow(&y->zipf, known);
        uint64_t r = yb_zipf_next(&y->zipf, &y->rng);
        c->keynum = r < known ? known - 1 - r : 0;
    } else {
        c->keynum = yb_fnv64(yb_zipf_next(&y->zipf, &y->rng)) % y->records;
    }
    if (c->op == YB_UPDATE)
        yb_send_set(y, c);
    else
        yb_send_get(c);
}

static bool yb_flush(struct yb_conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return true; /* rare with one request in flight: resend later */
            return false;
        }
        c->woff += (size_t)n;
    }
    return true;
}

/* Length of one complete reply at the start of buf, 0 if incomplete, and
 * its kind: '+', '-', ':', '$' (nil: *nil = true). Only the replies GET and
 * SET give are expected. */
static size_t yb_reply(const char *buf, size_t len, char *kind, bool *nil)
{
    const char *eol = memchr(buf, '\n', len);
    if (!eol)
        return 0;
    size_t head = (size_t)(eol - buf) + 1;
    *kind = buf[0];
    *nil = false;
    if (buf[0] != '$')
        return head;
    long n = strtol(buf + 1, NULL, 10);
    if (n < 0) {
        *nil = true;
        return head;
    }
    return len >= head + (size_t)n + 2 ? head + (size_t)n + 2 : 0;
}

static void yb_done(struct yb *y, struct yb_conn *c, uint64_t now)
{
    c->busy = false;
    if (y->loading || now < y->warm_ns || c->due_ns < y->warm_ns)
        return;
    y->ops++;
    yb_hist_add(y->hist, now > c->due_ns ? now - c->due_ns : 0);
}

/* Reads and handles replies on c; false if the connection failed. */
static bool yb_read(struct yb *y, struct yb_conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, YB_RBUF - c->rlen, MSG_DONTWAIT);
        if (n == 0)
            return false;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->rlen += (size_t)n;
        char kind;
        bool nil;
        size_t used = yb_reply(c->rbuf, c->rlen, &kind, &nil);
        if (used == 0)
            continue;
        if (used != c->rlen || !c->busy) {
            fprintf(stderr, "ycsb_bench: unexpected reply bytes\n");
            return false;
        }
        c->rlen = 0;
        uint64_t now = yb_now_ns();
        if (kind == '-')
            y->errors++;
        if (nil && !y->loading)
            y->misses++;
        if (c->op == YB_RMW && c->stage == 0) {
            c->stage = 1;
            yb_send_set(y, c);
            if (!yb_flush(c))
                return false;
            continue;
        }
        yb_done(y, c, now);
        return true;
    }
}

/* Starts every idle connection whose next operation is due; returns the
 * earliest future due time (UINT64_MAX if none). */
static uint64_t yb_dispatch(struct yb *y, uint64_t now, bool accepting)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < y->conns; i++) {
        struct yb_conn *c = &y->c[i];
        if (c->busy || !accepting)
            continue;
        if (y->loading && y->load_next >= y->records)
            continue;
        uint64_t due = now;
        if (y->rate > 0) {
            due = c->next_ns;
            if (due > now) {
                next = due < next ? due : next;
                continue;
            }
            c->next_ns += (uint64_t)(1e9 * y->conns / y->rate);
        }
        yb_start(y, c, due);
        if (!yb_flush(c)) {
            fprintf(stderr, "ycsb_bench: send failed: %s\n", strerror(errno));
            exit(1);
        }
    }
    return next;
}

static bool yb_idle(const struct yb *y)
{
    for (uint32_t i = 0; i < y->conns; i++)
        if (y->c[i].busy)
            return false;
    return true;
}

/* One phase: the load (closed loop until every record is in) or a timed run. */
static void yb_run(struct yb *y)
{
    uint64_t now = yb_now_ns();
    for (uint32_t i = 0; i < y->conns; i++)
        y->c[i].next_ns = now + (uint64_t)(y->rate > 0 ? 1e9 * i / y->rate : 0);
    struct epoll_event evs[YB_CONNS_MAX];
    uint64_t stop_ns = 0; /* when the phase stopped starting operations */
    for (;;) {
        now = yb_now_ns();
        bool accepting = y->loading ? y->load_next < y->records : now < y->end_ns;
        if (!accepting && yb_idle(y))
            break;
        if (!accepting && stop_ns == 0)
            stop_ns = now;
        if (!accepting && now > stop_ns + YB_DRAIN_NS) {
            fprintf(stderr, "ycsb_bench: replies still missing %.0f s after the end\n",
                    YB_DRAIN_NS / 1e9);
            exit(1);
        }
        uint64_t next = yb_dispatch(y, now, accepting);
        if (accepting && !y->loading && y->end_ns < next)
            next = y->end_ns;
        struct timespec ts = {0, 0}, *tp = NULL;
        now = yb_now_ns();
        if (next != UINT64_MAX) {
            uint64_t d = next > now ? next - now : 0;
            ts.tv_sec = (time_t)(d / 1000000000ull);
            ts.tv_nsec = (long)(d % 1000000000ull);
            tp = &ts;
        } else {
            ts.tv_sec = 1;
            tp = &ts;
        }
        int n = epoll_pwait2(y->ep, evs, YB_CONNS_MAX, tp, NULL);
        if (n < 0 && errno != EINTR)
            yb_die("epoll_pwait2");
        for (int k = 0; k < n; k++) {
            struct yb_conn *c = &y->c[evs[k].data.u32];
            if (!yb_read(y, c)) {
                fprintf(stderr, "ycsb_bench: connection %u lost\n", evs[k].data.u32);
                exit(1);
            }
        }
    }
}

static int yb_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* --selftest: the two pieces every figure rests on. The histogram must
 * report each percentile at or above the exact one and at most 1/64 above
 * it; the zipfian generator must draw ranks 0 and 1 with probability
 * 1/zeta(n) and 2^-theta/zeta(n) (Gray et al.'s construction makes both
 * exact). Returns the exit status. */
static int yb_selftest(void)
{
    enum { N = 200000, ITEMS = 1000, DRAWS = 2000000 };
    static struct yb_hist h;
    uint64_t *v = malloc(N * sizeof *v);
    if (!v)
        yb_die("malloc");
    struct gkv_rng rng;
    gkv_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++) { /* log-uniform over 50 ns .. 1 s */
        double u = (double)(gkv_rng_next(&rng) >> 11) * 0x1.0p-53;
        v[i] = (uint64_t)(50.0 * pow(2e7, u));
        yb_hist_add(&h, v[i]);
    }
    qsort(v, N, sizeof *v, yb_cmp_u64);
    int bad = 0;
    const double qs[] = {0.001, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        uint64_t exact = v[(size_t)ceil(qs[k] * N) - 1], got = yb_hist_at(&h, qs[k]);
        bool ok = got >= exact && (double)got <= (double)exact * (1.0 + 1.0 / 64) + 1;
        printf("selftest: p%g exact %" PRIu64 " ns, histogram %" PRIu64 " ns %s\n", qs[k] * 100,
               exact, got, ok ? "ok" : "WRONG");
        bad += !ok;
    }
    free(v);
    struct yb_zipf z = {0};
    yb_zipf_grow(&z, ITEMS);
    uint64_t c0 = 0, c1 = 0;
    for (int i = 0; i < DRAWS; i++) {
        uint64_t r = yb_zipf_next(&z, &rng);
        c0 += r == 0;
        c1 += r == 1;
        if (r >= ITEMS) {
            printf("selftest: zipf drew %" PRIu64 " of %d items WRONG\n", r, ITEMS);
            return 1;
        }
    }
    double want0 = 1.0 / z.zetan, want1 = pow(0.5, YB_ZIPF_THETA) / z.zetan;
    double got0 = (double)c0 / DRAWS, got1 = (double)c1 / DRAWS;
    bool ok = fabs(got0 - want0) < 0.02 * want0 && fabs(got1 - want1) < 0.03 * want1;
    printf("selftest: zipf(%d, 0.99) rank 0 %.4f (want %.4f), rank 1 %.4f (want %.4f) %s\n", ITEMS,
           got0, want0, got1, want1, ok ? "ok" : "WRONG");
    bad += !ok;
    return bad ? 1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ycsb_bench --server HOST:PORT[,...] --workload A|B|C|D|F|W [--load]\n"
                    "       [--records N] [--value-bytes B] [--conns C] [--duration-s S]\n"
                    "       [--warmup-s S] [--rate OPS_S] [--seed S] [--hist FILE]\n");
    exit(2);
}

static double yb_num(const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v >= lo && v <= hi))
        usage();
    return v;
}

int main(int argc, char **argv)
{
    static struct yb y;
    static struct yb_hist hist;
    char *servers = NULL;
    const char *hist_file = NULL;
    char workload = 0;
    bool load = false;
    double duration_s = 10, warmup_s = 1;
    uint64_t seed = 42;
    y.records = 10000;
    y.value_bytes = 1000;
    y.conns = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--load")) {
            load = true;
            continue;
        }
        if (!strcmp(a, "--selftest"))
            return yb_selftest();
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--server"))
            servers = strdup(v);
        else if (!strcmp(a, "--workload") && strlen(v) == 1)
            workload = v[0];
        else if (!strcmp(a, "--records"))
            y.records = (uint64_t)yb_num(v, 1, 1e9);
        else if (!strcmp(a, "--value-bytes"))
            y.value_bytes = (uint32_t)yb_num(v, 8, YB_VALUE_MAX);
        else if (!strcmp(a, "--conns"))
            y.conns = (uint32_t)yb_num(v, 1, YB_CONNS_MAX);
        else if (!strcmp(a, "--duration-s"))
            duration_s = yb_num(v, 0.1, 3600);
        else if (!strcmp(a, "--warmup-s"))
            warmup_s = yb_num(v, 0, 3600);
        else if (!strcmp(a, "--rate"))
            y.rate = yb_num(v, 0, 1e9);
        else if (!strcmp(a, "--seed"))
            seed = (uint64_t)yb_num(v, 0, 1e18);
        else if (!strcmp(a, "--hist"))
            hist_file = v;
        else
            usage();
    }
    for (size_t m = 0; m < sizeof yb_mixes / sizeof yb_mixes[0]; m++)
        if (yb_mixes[m].name == workload)
            y.mix = &yb_mixes[m];
    if (!servers || (!y.mix && !load))
        usage();

    char *list[YB_SERVERS_MAX];
    uint32_t nserv = 0;
    for (char *tok = strtok(servers, ","); tok && nserv < YB_SERVERS_MAX; tok = strtok(NULL, ","))
        list[nserv++] = tok;
    y.ep = epoll_create1(EPOLL_CLOEXEC);
    if (y.ep < 0)
        yb_die("epoll_create1");
    for (uint32_t i = 0; i < y.conns; i++) {
        struct yb_conn *c = &y.c[i];
        c->fd = yb_connect(list[i % nserv]); /* connections spread over the servers */
        c->rbuf = malloc(YB_RBUF);
        c->wbuf = malloc(YB_RBUF);
        if (!c->rbuf || !c->wbuf)
            yb_die("malloc");
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(y.ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            yb_die("epoll_ctl");
    }
    gkv_rng_seed(&y.rng, seed);
    y.value = malloc(y.value_bytes);
    if (!y.value)
        yb_die("malloc");
    for (uint32_t i = 0; i < y.value_bytes; i++)
        y.value[i] = (char)(33 + gkv_rng_below(&y.rng, 94));
    y.hist = &hist;
    y.inserted = y.records;
    yb_zipf_grow(&y.zipf, y.records);

    if (load) {
        double rate = y.rate;
        y.loading = true;
        y.rate = 0;
        uint64_t t0 = yb_now_ns();
        yb_run(&y);
        printf("ycsb: load records=%" PRIu64 " seconds=%.2f errors=%" PRIu64 "\n", y.records,
               (yb_now_ns() - t0) / 1e9, y.errors);
        y.loading = false;
        y.rate = rate;
    }
    if (y.mix) {
        y.start_ns = yb_now_ns();
        y.warm_ns = y.start_ns + (uint64_t)(warmup_s * 1e9);
        y.end_ns = y.warm_ns + (uint64_t)(duration_s * 1e9);
        yb_run(&y);
        double secs = duration_s;
        const struct yb_hist *h = &hist;
        printf("ycsb: workload=%c ops=%" PRIu64 " seconds=%.2f ops_s=%.0f p50_us=%.1f "
               "p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f errors=%" PRIu64
               " misses=%" PRIu64 " rate=%.0f conns=%u\n",
               y.mix->name, y.ops, secs, (double)y.ops / secs, yb_hist_at(h, 0.50) / 1e3,
               yb_hist_at(h, 0.90) / 1e3, yb_hist_at(h, 0.99) / 1e3, yb_hist_at(h, 0.999) / 1e3,
               h->max_ns / 1e3, h->total ? h->sum_ns / (double)h->total / 1e3 : 0.0, y.errors,
               y.misses, y.rate, y.conns);
        if (hist_file) {
            FILE *f = fopen(hist_file, "w");
            if (!f)
                yb_die(hist_file);
            yb_hist_write(h, f);
            fclose(f);
        }
    }
    for (uint32_t i = 0; i < y.conns; i++) {
        close(y.c[i].fd);
        free(y.c[i].rbuf);
        free(y.c[i].wbuf);
    }
    free(y.value);
    free(servers);
    close(y.ep);
    return y.errors ? 1 : 0;
}
