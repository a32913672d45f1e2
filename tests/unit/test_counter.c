/*
 * Unit and property tests for storage/counter.h (counters that converge)
 * and store_incrby.
 *
 * The property tests run random causal histories: replicas make INCRBY,
 * SET and DEL writes and merge each other's versions in random order; every
 * version made goes into a pool, and every pair and triple drawn from it
 * must join commutatively, associatively and idempotently, with
 * entry_merge's decision agreeing with the join. The seed is printed;
 * GKV_SEED=<n> replays a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/rng.h"
#include "storage/counter.h"
#include "storage/entry.h"
#include "storage/store.h"
#include "test_store_util.h"

#define SEED_DEFAULT UINT64_C(20261208)

static struct gkv_rng g_rng;

/* ------------------------------------------------------------ owned versions */

/* A version with its own copy of the value bytes (key "k"). */
struct owned {
    struct entry e;
    uint8_t *bytes;
};

static const uint8_t KEY[] = "k";

static struct owned *own(const struct entry *e)
{
    struct owned *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    o->e = *e;
    o->e.key = KEY;
    o->e.key_len = 1;
    vclock_clear(&o->e.vc);
    if (e->value_len) {
        o->bytes = malloc(e->value_len);
        assert_non_null(o->bytes);
        memcpy(o->bytes, e->value, e->value_len);
        o->e.value = o->bytes;
    } else {
        o->e.value = entry_has_value(e) ? (const uint8_t *)"" : NULL;
    }
    return o;
}

static void own_free(struct owned *o)
{
    if (o) {
        free(o->bytes);
        free(o);
    }
}

static bool same_version(const struct entry *a, const struct entry *b)
{
    return a->hlc == b->hlc && a->origin == b->origin && a->flags == b->flags &&
           a->value_len == b->value_len &&
           (a->value_len == 0 || memcmp(a->value, b->value, a->value_len) == 0);
}

/* The survivor of merging b into a (a NULL: b), as the store computes it. */
static struct owned *join(const struct entry *a, const struct entry *b)
{
    if (!a)
        return own(b);
    enum merge_result r = entry_merge(a, b, NULL);
    if (r == MERGE_KEEP_LOCAL)
        return own(a);
    if (r == MERGE_TAKE_INCOMING)
        return own(b);
    size_t cap = counter_bound(a, b, 0);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    struct entry j;
    assert_int_equal(counter_join(a, b, buf, cap, &j), 0);
    /* MERGE_JOIN means neither side is the join. */
    assert_false(same_version(&j, a));
    assert_false(same_version(&j, b));
    struct owned *o = own(&j);
    free(buf);
    return o;
}

/* How often the properties met each merge decision (each must occur). */
static uint64_t g_decisions[3];

/* counter_join itself (not entry_merge's shortcut), for the properties. */
static struct owned *join_raw(const struct entry *a, const struct entry *b)
{
    if (!entry_is_counter(a) && !entry_is_counter(b))
        return own(entry_merge(a, b, NULL) == MERGE_TAKE_INCOMING ? b : a);
    size_t cap = counter_bound(a, b, 0);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    struct entry j;
    assert_int_equal(counter_join(a, b, buf, cap, &j), 0);
    struct owned *o = own(&j);
    free(buf);
    /* What entry_merge decides agrees with the join. */
    enum merge_result r = entry_merge(a, b, NULL);
    g_decisions[r]++;
    if (r == MERGE_KEEP_LOCAL)
        assert_true(same_version(&o->e, a));
    else if (r == MERGE_TAKE_INCOMING)
        assert_true(same_version(&o->e, b));
    return o;
}

/* GET's reply for a version ("" and false when absent). */
static bool read_as(const struct entry *e, char *out, size_t cap)
{
    static char buf[COUNTER_FMT_MAX];
    if (!e || (entry_is_tombstone(e) && !entry_is_counter(e)))
        return false;
    const uint8_t *p = e->value;
    size_t len = e->value_len;
    if (entry_is_counter(e)) {
        struct counter_view v;
        assert_int_equal(counter_decode(e->value, e->value_len, &v), 0);
        struct counter_read r;
        counter_read(&v, &r);
        len = counter_format(&r, buf, sizeof buf, &p);
        if (!p)
            return false;
    }
    assert_true(len < cap);
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

static long long read_ll(const struct entry *e)
{
    char s[64];
    long long v = 0;
    if (!read_as(e, s, sizeof s))
        return 0;
    assert_true(counter_parse_ll((const uint8_t *)s, strlen(s), &v));
    return v;
}

/* ------------------------------------------------------------ a replica */

struct replica {
    uint64_t id;
    struct owned *v; /* NULL: the key is absent here */
};

static uint64_t g_hlc = 1000;

/* INCRBY at r, as store_incrby does. 0 or the counter_add error. */
static int r_incr(struct replica *r, long long delta, long long *result)
{
    const struct entry *cur = r->v ? &r->v->e : NULL;
    size_t cap = counter_bound(cur, NULL, 24);
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    struct entry out;
    long long res;
    int rc = counter_add(cur, KEY, 1, delta, ++g_hlc, r->id, buf, cap, &out, &res, NULL);
    if (rc == 0) {
        own_free(r->v);
        r->v = own(&out);
        if (result)
            *result = res;
        /* The write reads as what INCR answered. */
        assert_int_equal(read_ll(&r->v->e), res);
    }
    free(buf);
    return rc;
}

/* SET (value) or DEL (NULL) at r, as store_put/store_del do: a plain
 * version unless the key holds a counter. */
static void r_write(struct replica *r, const char *value)
{
    bool tomb = value == NULL;
    uint32_t len = tomb ? 0 : (uint32_t)strlen(value);
    struct entry out = {.key = KEY,
                        .key_len = 1,
                        .hlc = ++g_hlc,
                        .origin = r->id,
                        .flags = tomb ? ENTRY_TOMBSTONE : 0,
                        .value = tomb ? NULL : (const uint8_t *)value,
                        .value_len = len};
    uint8_t *buf = NULL;
    if (r->v && entry_is_counter(&r->v->e)) {
        size_t cap = counter_bound(&r->v->e, NULL, len);
        buf = malloc(cap);
        assert_non_null(buf);
        assert_int_equal(counter_set(&r->v->e, KEY, 1, (const uint8_t *)value, len, tomb, out.hlc,
                                     r->id, buf, cap, &out),
                         0);
    }
    own_free(r->v);
    r->v = own(&out);
    free(buf);
}

static void r_merge(struct replica *dst, const struct replica *src)
{
    if (!src->v)
        return;
    struct owned *j = join(dst->v ? &dst->v->e : NULL, &src->v->e);
    own_free(dst->v);
    dst->v = j;
}

/* ------------------------------------------------------------ the pool */

#define POOL_MAX 4096
static struct owned *g_pool[POOL_MAX];
static size_t g_pool_n;

static void pool_add(const struct replica *r)
{
    if (r->v && g_pool_n < POOL_MAX)
        g_pool[g_pool_n++] = own(&r->v->e);
}

static void pool_clear(void)
{
    for (size_t i = 0; i < g_pool_n; i++)
        own_free(g_pool[i]);
    g_pool_n = 0;
}

static const char *const VALUES[] = {"10", "-3", "abc", "1.5", "0", "007", ""};

/* A random causal history of nreplicas replicas (ids 1..n); with
 * writes_too, SETs and DELs among the increments. Returns the sum of the
 * increments acknowledged. */
static long long history(struct replica *rs, uint32_t nreplicas, int steps, bool writes_too)
{
    long long sum = 0;
    for (int s = 0; s < steps; s++) {
        struct replica *r = &rs[gkv_rng_below(&g_rng, nreplicas)];
        uint64_t op = gkv_rng_below(&g_rng, 10);
        if (op < 5) {
            long long d = (long long)gkv_rng_below(&g_rng, 11) - 5;
            long long res;
            if (r_incr(r, d, &res) == 0)
                sum += d;
        } else if (op < 8 || !writes_too) {
            r_merge(r, &rs[gkv_rng_below(&g_rng, nreplicas)]);
        } else if (op == 8) {
            r_write(r, VALUES[gkv_rng_below(&g_rng, sizeof VALUES / sizeof VALUES[0])]);
        } else {
            r_write(r, NULL);
        }
        pool_add(r);
    }
    return sum;
}

/* Every replica merges every other's final version, twice around. */
static void settle(struct replica *rs, uint32_t n)
{
    for (int round = 0; round < 2; round++)
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < n; j++)
                r_merge(&rs[i], &rs[j]);
}

static void replicas_free(struct replica *rs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        own_free(rs[i].v);
        rs[i].v = NULL;
    }
}

/* ------------------------------------------------------------ properties */

static void check_pool_laws(int pairs)
{
    for (int i = 0; i < pairs && g_pool_n > 0; i++) {
        const struct entry *a = &g_pool[gkv_rng_below(&g_rng, g_pool_n)]->e;
        const struct entry *b = &g_pool[gkv_rng_below(&g_rng, g_pool_n)]->e;
        const struct entry *c = &g_pool[gkv_rng_below(&g_rng, g_pool_n)]->e;
        struct owned *ab = join_raw(a, b), *ba = join_raw(b, a), *aa = join_raw(a, a);
        assert_true(same_version(&ab->e, &ba->e)); /* commutative */
        assert_true(same_version(&aa->e, a));       /* idempotent */
        struct owned *ab_c = join_raw(&ab->e, c), *bc = join_raw(b, c);
        struct owned *a_bc = join_raw(a, &bc->e);
        assert_true(same_version(&ab_c->e, &a_bc->e)); /* associative */
        /* A state absorbs what it joined. */
        struct owned *ab_b = join_raw(&ab->e, b);
        assert_true(same_version(&ab_b->e, &ab->e));
        own_free(ab);
        own_free(ba);
        own_free(aa);
        own_free(ab_c);
        own_free(bc);
        own_free(a_bc);
        own_free(ab_b);
    }
}

static void test_counter_join_laws_on_causal_histories(void **state)
{
    (void)state;
    for (int h = 0; h < 40; h++) {
        struct replica rs[6] = {{1, NULL}, {2, NULL}, {3, NULL}, {4, NULL}, {5, NULL}, {6, NULL}};
        history(rs, 6, 200, true);
        check_pool_laws(300);
        replicas_free(rs, 6);
        pool_clear();
    }
    printf("decisions: keep %llu, take %llu, join %llu\n", (unsigned long long)g_decisions[0],
           (unsigned long long)g_decisions[1], (unsigned long long)g_decisions[2]);
    for (int i = 0; i < 3; i++)
        assert_true(g_decisions[i] > 0);
}

static void test_counter_join_laws_past_the_origin_limit(void **state)
{
    (void)state;
    /* More replicas than COUNTER_ORIGINS_SOFT_MAX: rebases and joins
     * above the soft limit. */
    enum { N = COUNTER_ORIGINS_SOFT_MAX + 8 };
    for (int h = 0; h < 8; h++) {
        struct replica rs[N];
        for (uint32_t i = 0; i < N; i++)
            rs[i] = (struct replica){.id = 100 + i};
        history(rs, N, 600, h & 1);
        check_pool_laws(300);
        settle(rs, N);
        for (uint32_t i = 1; i < N; i++)
            assert_true(same_version(&rs[i].v->e, &rs[0].v->e));
        replicas_free(rs, N);
        pool_clear();
    }
}

static void test_counter_increments_all_count_in_any_merge_order(void **state)
{
    (void)state;
    for (int h = 0; h < 60; h++) {
        struct replica rs[5] = {{11, NULL}, {12, NULL}, {13, NULL}, {14, NULL}, {15, NULL}};
        long long sum = history(rs, 5, 300, false);
        settle(rs, 5);
        for (uint32_t i = 0; i < 5; i++) {
            assert_non_null(rs[i].v);
            assert_true(same_version(&rs[i].v->e, &rs[0].v->e));
            assert_int_equal(read_ll(&rs[i].v->e), sum);
        }
        replicas_free(rs, 5);
        pool_clear();
    }
}

static void test_counter_set_resets_what_it_saw_and_unseen_increments_survive(void **state)
{
    (void)state;
    struct replica a = {1, NULL}, b = {2, NULL};
    assert_int_equal(r_incr(&a, 5, NULL), 0);
    r_merge(&b, &a);
    r_write(&b, "100");          /* saw a's +5 */
    assert_int_equal(r_incr(&a, 2, NULL), 0); /* concurrent, unseen by the SET */
    r_merge(&a, &b);
    r_merge(&b, &a);
    assert_int_equal(read_ll(&a.v->e), 102);
    assert_true(same_version(&a.v->e, &b.v->e));
    /* A DEL that saw everything empties the key; an unseen +3 survives it. */
    r_write(&b, NULL);
    assert_int_equal(r_incr(&a, 3, NULL), 0);
    char s[64];
    assert_false(read_as(&b.v->e, s, sizeof s));
    assert_true(entry_is_tombstone(&b.v->e));
    r_merge(&b, &a);
    assert_int_equal(read_ll(&b.v->e), 3);
    /* A non-number SET keeps its bytes; the increments it did not see stay
     * in the state, and a SET that sees them resets them. */
    r_write(&b, "abc");
    assert_int_equal(r_incr(&a, 4, NULL), 0);
    r_merge(&b, &a);
    assert_true(read_as(&b.v->e, s, sizeof s));
    assert_string_equal(s, "abc");
    assert_int_equal(r_incr(&b, 1, NULL), GKV_ENOTINT);
    r_write(&b, "7");
    assert_int_equal(r_incr(&b, 1, NULL), 0);
    assert_int_equal(read_ll(&b.v->e), 8);
    /* A float register plus integer increments reads as a float. */
    r_merge(&a, &b);
    r_write(&a, "1.5");
    assert_int_equal(r_incr(&b, 2, NULL), 0);
    r_merge(&a, &b);
    assert_true(read_as(&a.v->e, s, sizeof s));
    assert_string_equal(s, "3.5");
    assert_int_equal(r_incr(&a, 1, NULL), GKV_ENOTINT);
    replicas_free(&a, 1);
    replicas_free(&b, 1);
}

static void test_counter_plain_integer_starts_the_counter(void **state)
{
    (void)state;
    struct replica a = {1, NULL}, b = {2, NULL};
    r_write(&a, "41");
    assert_false(entry_is_counter(&a.v->e));
    r_merge(&b, &a);
    long long res;
    assert_int_equal(r_incr(&a, 1, &res), 0);
    assert_int_equal(res, 42);
    assert_int_equal(r_incr(&b, 10, &res), 0);
    assert_int_equal(res, 51);
    r_merge(&a, &b);
    assert_int_equal(read_ll(&a.v->e), 52);
    /* A plain SET from a replica that never saw the counter, written
     * after it (larger HLC): the increments it did not see survive it. */
    struct replica c = {3, NULL};
    r_write(&c, "1000");
    r_merge(&a, &c);
    assert_int_equal(read_ll(&a.v->e), 1011);
    replicas_free(&a, 1);
    replicas_free(&b, 1);
    replicas_free(&c, 1);
}

static void test_counter_errors_and_overflow(void **state)
{
    (void)state;
    struct replica a = {1, NULL};
    r_write(&a, "9223372036854775807");
    assert_int_equal(r_incr(&a, 1, NULL), GKV_ERANGE);
    assert_int_equal(r_incr(&a, -1, NULL), 0);
    assert_int_equal(r_incr(&a, 1, NULL), 0);
    assert_int_equal(r_incr(&a, 1, NULL), GKV_ERANGE);
    r_write(&a, "-9223372036854775808");
    assert_int_equal(r_incr(&a, -1, NULL), GKV_ERANGE);
    const char *bad[] = {"abc", " 1", "1 ", "+1", "01", "-0", "1.0", "", "12345678901234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r_write(&a, bad[i]);
        assert_int_equal(r_incr(&a, 1, NULL), GKV_ENOTINT);
    }
    /* A node's own totals near 2^64: the increment becomes a rebase, and the
     * value stays right. */
    r_write(&a, "0");
    long long res = 0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r_incr(&a, INT64_MAX, &res), 0);
        assert_int_equal(res, INT64_MAX);
        assert_int_equal(r_incr(&a, -INT64_MAX, &res), 0);
        assert_int_equal(res, 0);
    }
    assert_int_equal(r_incr(&a, INT64_MIN, &res), 0);
    assert_int_equal(res, INT64_MIN);
    replicas_free(&a, 1);
}

static void test_counter_origin_limit_rebases(void **state)
{
    (void)state;
    enum { N = COUNTER_ORIGINS_SOFT_MAX + 4 };
    struct replica rs[N];
    for (uint32_t i = 0; i < N; i++)
        rs[i] = (struct replica){.id = 50 + i};
    /* One after the other, each merging the last state first: every
     * increment counts, and the state holds at most the soft limit. */
    for (uint32_t i = 0; i < N; i++) {
        if (i)
            r_merge(&rs[i], &rs[i - 1]);
        assert_int_equal(r_incr(&rs[i], 1, NULL), 0);
        struct counter_view v;
        assert_int_equal(counter_decode(rs[i].v->e.value, rs[i].v->e.value_len, &v), 0);
        assert_true(v.n <= COUNTER_ORIGINS_SOFT_MAX);
    }
    assert_int_equal(read_ll(&rs[N - 1].v->e), N);
    replicas_free(rs, N);
}

static void test_counter_decode_rejects_malformed(void **state)
{
    (void)state;
    struct replica a = {1, NULL}, b = {2, NULL};
    assert_int_equal(r_incr(&a, 3, NULL), 0);
    assert_int_equal(r_incr(&b, -2, NULL), 0);
    r_merge(&a, &b);
    struct counter_view v;
    const struct entry *e = &a.v->e;
    assert_int_equal(counter_decode(e->value, e->value_len, &v), 0);
    assert_int_equal(v.n, 2);
    uint8_t buf[256];
    assert_true(e->value_len <= sizeof buf);
    uint32_t len = e->value_len;
    uint32_t it0 = COUNTER_HDR_BYTES;
    struct {
        uint32_t off;
        uint8_t val;
        int dlen;
    } cases[] = {
        {0, 2, 0},                  /* version */
        {1, 2, 0},                  /* register kind */
        {2, 0, 0},                  /* no items */
        {2, 3, 0},                  /* item count past the bytes */
        {3, 1, 0},                  /* reserved */
        {0, 1, -1},                 /* short by one byte */
        {it0, 2, 0},                /* item 0's node equals item 1's: unsorted */
        {it0 + 24, 9, 0},           /* observed p above p */
        {it0 + 8, 0, 0},            /* p = n = 0 */
        {it0 + 40, 0, 0},           /* node 0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(buf, e->value, len);
        buf[cases[i].off] = cases[i].val;
        assert_int_not_equal(counter_decode(buf, (size_t)((int)len + cases[i].dlen), &v), 0);
    }
    replicas_free(&a, 1);
    replicas_free(&b, 1);
}

static void test_counter_format_as_redis(void **state)
{
    (void)state;
    struct {
        long double f;
        const char *want;
    } cases[] = {{10.5L, "10.5"}, {3.0L, "3"}, {-0.0L, "0"}, {0.1L, "0.1"}, {-1.25L, "-1.25"},
                 {17179869185.5L, "17179869185.5"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[COUNTER_FMT_MAX];
        struct counter_read r = {.kind = COUNTER_READ_FLOAT, .f = cases[i].f};
        const uint8_t *p;
        size_t len = counter_format(&r, buf, sizeof buf, &p);
        assert_non_null(p);
        assert_int_equal(len, strlen(cases[i].want));
        assert_memory_equal(p, cases[i].want, len);
    }
}

/* ------------------------------------------------------------ the store */

static void test_store_incrby_persists_and_merges(void **state)
{
    (void)state;
    char dir[64];
    struct store_config cfg;
    test_mkdtemp(dir, sizeof dir);
    test_cfg(&cfg, dir, 64);
    cfg.sync = STORE_SYNC_BATCH;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    long long res;
    struct entry out;
    assert_int_equal(store_incrby(s, "c", 1, 5, TEST_NOW_MS, &res, &out), 0);
    assert_int_equal(res, 5);
    assert_true(entry_is_counter(&out));
    assert_int_equal(store_incrby(s, "c", 1, -7, TEST_NOW_MS, &res, NULL), 0);
    assert_int_equal(res, -2);
    assert_int_equal(store_put(s, "s", 1, "x", 1, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_incrby(s, "s", 1, 1, TEST_NOW_MS, &res, NULL), GKV_ENOTINT);
    /* A peer's concurrent +10 (node 9) joins in. */
    uint8_t buf[256];
    struct entry peer;
    assert_int_equal(counter_add(NULL, (const uint8_t *)"c", 1, 10, HLC_MAKE(TEST_NOW_MS, 0), 9,
                                 buf, sizeof buf, &peer, &res, NULL),
                     0);
    vclock_clear(&peer.vc);
    vclock_increment(&peer.vc, 9);
    bool taken = false;
    assert_int_equal(store_merge(s, &peer, TEST_NOW_MS, &taken), 0);
    assert_true(taken);
    assert_int_equal(store_merge(s, &peer, TEST_NOW_MS, &taken), 0);
    assert_false(taken); /* idempotent: nothing new */
    struct entry e;
    assert_int_equal(store_get(s, "c", 1, &e), 0);
    assert_int_equal(read_ll(&e), 8);
    /* A DEL on the counter: absent, and a tombstone for DBSIZE. */
    assert_int_equal(store_put(s, "d", 1, "1", 1, TEST_NOW_MS, NULL), 0);
    assert_int_equal(store_incrby(s, "d", 1, 1, TEST_NOW_MS, NULL, NULL), 0);
    bool existed = false;
    assert_int_equal(store_del(s, "d", 1, TEST_NOW_MS, NULL, &existed), 0);
    assert_true(existed);
    assert_int_equal(store_get(s, "d", 1, &e), 0);
    assert_true(entry_is_tombstone(&e) && entry_is_counter(&e));
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.tombstones, 1);
    /* Crash-free reopen (log replay, then a clean close and reopen). */
    assert_int_equal(store_close(s), 0);
    for (int round = 0; round < 2; round++) {
        s = NULL;
        assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
        assert_int_equal(store_get(s, "c", 1, &e), 0);
        assert_int_equal(read_ll(&e), 8 + round);
        assert_int_equal(store_get(s, "d", 1, &e), 0);
        assert_true(entry_is_tombstone(&e));
        assert_int_equal(store_incrby(s, "c", 1, 1, TEST_NOW_MS, &res, NULL), 0);
        assert_int_equal(res, 9 + round);
        assert_int_equal(store_close(s), 0);
        test_inspect_ok(dir);
    }
    /* A bad counter payload from a peer is refused. */
    s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    buf[0] = 9;
    assert_int_equal(store_merge(s, &peer, TEST_NOW_MS, NULL), GKV_EINVAL);
    assert_int_equal(store_close(s), 0);
    test_rmrf(dir);
}

/* INCR keeps the key's expiry (Redis does); a key whose expiry passed
 * counts from 0 again, without one. */
static void test_store_incrby_keeps_expiry_and_restarts_expired(void **state)
{
    (void)state;
    struct store_config cfg;
    store_config_init(&cfg);
    cfg.node_id = 3;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    uint64_t exp = TEST_NOW_MS + 1000;
    assert_int_equal(store_put_expire(s, "e", 1, "5", 1, exp, TEST_NOW_MS, NULL), 0);
    long long res;
    struct entry out;
    assert_int_equal(store_incrby(s, "e", 1, 1, TEST_NOW_MS + 10, &res, &out), 0);
    assert_int_equal(res, 6);
    assert_int_equal(out.expire_ms, exp);
    assert_int_equal(store_incrby(s, "e", 1, 1, TEST_NOW_MS + 20, &res, &out), 0);
    assert_int_equal(res, 7);
    assert_int_equal(out.expire_ms, exp);
    assert_int_equal(store_incrby(s, "e", 1, 2, TEST_NOW_MS + 5000, &res, &out), 0);
    assert_int_equal(res, 2);
    assert_int_equal(out.expire_ms, 0);
    assert_int_equal(read_ll(&out), 2);
    assert_int_equal(store_close(s), 0);
}

/* Past 16 origins a local INCR rebases (INFO incr_rebases) and still
 * counts; joins are counted (incr_joins). */
static void test_store_counts_rebases_and_joins(void **state)
{
    (void)state;
    struct store_config cfg;
    store_config_init(&cfg);
    cfg.node_id = 1;
    struct store *s = NULL;
    assert_int_equal(store_open(&cfg, TEST_NOW_MS, &s, NULL, 0), 0);
    long long res;
    for (uint64_t p = 0; p < COUNTER_ORIGINS_SOFT_MAX; p++) {
        uint8_t buf[256];
        struct entry peer;
        assert_int_equal(counter_add(NULL, (const uint8_t *)"k", 1, 1, HLC_MAKE(TEST_NOW_MS, p), 100 + p,
                                     buf, sizeof buf, &peer, &res, NULL),
                         0);
        vclock_clear(&peer.vc);
        assert_int_equal(store_merge(s, &peer, TEST_NOW_MS, NULL), 0);
    }
    struct store_stats st;
    store_stats(s, &st);
    assert_int_equal(st.counter_joins, COUNTER_ORIGINS_SOFT_MAX - 1);
    assert_int_equal(store_incrby(s, "k", 1, 5, TEST_NOW_MS, &res, NULL), 0);
    assert_int_equal(res, COUNTER_ORIGINS_SOFT_MAX + 5);
    store_stats(s, &st);
    assert_int_equal(st.counter_rebases, 1);
    assert_int_equal(st.incrs, 1);
    assert_int_equal(store_close(s), 0);
}

int main(void)
{
    uint64_t seed = test_rng(&g_rng, SEED_DEFAULT);
    (void)seed;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_join_laws_on_causal_histories),
        cmocka_unit_test(test_counter_join_laws_past_the_origin_limit),
        cmocka_unit_test(test_counter_increments_all_count_in_any_merge_order),
        cmocka_unit_test(test_counter_set_resets_what_it_saw_and_unseen_increments_survive),
        cmocka_unit_test(test_counter_plain_integer_starts_the_counter),
        cmocka_unit_test(test_counter_errors_and_overflow),
        cmocka_unit_test(test_counter_origin_limit_rebases),
        cmocka_unit_test(test_counter_decode_rejects_malformed),
        cmocka_unit_test(test_counter_format_as_redis),
        cmocka_unit_test(test_store_incrby_persists_and_merges),
        cmocka_unit_test(test_store_incrby_keeps_expiry_and_restarts_expired),
        cmocka_unit_test(test_store_counts_rebases_and_joins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
