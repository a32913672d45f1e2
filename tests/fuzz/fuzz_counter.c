/*
 * fuzz_counter.c: libFuzzer target for counter states (storage/counter.c),
 * the bytes a peer sends as a counter entry's value.
 *
 * Input: a 2-byte length n, then two payloads (the first n bytes, the
 * rest). Each is decoded; a payload that decodes must read and format
 * without fault, and every pair that decodes must join commutatively and
 * idempotently, with entry_merge's decision agreeing with the join (the
 * properties of tests/unit/test_counter.c, on hostile bytes). A payload
 * also goes through counter_add as the current state of a key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/counter.h"

static bool same(const struct entry *a, const struct entry *b)
{
    return a->hlc == b->hlc && a->origin == b->origin && a->flags == b->flags &&
           a->value_len == b->value_len &&
           (a->value_len == 0 || memcmp(a->value, b->value, a->value_len) == 0);
}

static void entry_of(const uint8_t *p, size_t n, uint64_t hlc, uint64_t origin, struct entry *e)
{
    memset(e, 0, sizeof *e);
    e->key = (const uint8_t *)"k";
    e->key_len = 1;
    e->value = p;
    e->value_len = (uint32_t)n;
    e->hlc = hlc;
    e->origin = origin;
    e->flags = ENTRY_COUNTER;
    struct counter_view v;
    struct counter_read r;
    counter_decode(p, n, &v);
    counter_read(&v, &r);
    if (r.kind == COUNTER_READ_ABSENT)
        e->flags |= ENTRY_TOMBSTONE;
}

/* join(a, b) into a fresh buffer (caller frees *buf); 0 or the error. */
static int join(const struct entry *a, const struct entry *b, uint8_t **buf, struct entry *out)
{
    size_t cap = counter_bound(a, b, 0);
    *buf = malloc(cap);
    if (!*buf)
        abort();
    return counter_join(a, b, *buf, cap, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (n > size)
        n = size;
    const uint8_t *pa = data, *pb = data + n;
    size_t na = n, nb = size - n;
    struct counter_view va, vb;
    bool oka = counter_decode(pa, na, &va) == 0, okb = counter_decode(pb, nb, &vb) == 0;
    char fmt[COUNTER_FMT_MAX];
    for (int i = 0; i < 2; i++) {
        if (!(i ? okb : oka))
            continue;
        struct counter_read r;
        counter_read(i ? &vb : &va, &r);
        const uint8_t *s;
        size_t len = counter_format(&r, fmt, sizeof fmt, &s);
        if (s && len > sizeof fmt && s == (const uint8_t *)fmt)
            abort();
        struct entry cur;
        entry_of(i ? pb : pa, i ? nb : na, 7, 1, &cur);
        size_t cap = counter_bound(&cur, NULL, 24);
        uint8_t *buf = malloc(cap);
        if (!buf)
            abort();
        struct entry out;
        long long res;
        if (counter_add(&cur, cur.key, 1, i ? -3 : 5, 9, 2, buf, cap, &out, &res, NULL) == 0) {
            struct counter_view vo;
            if (entry_is_counter(&out) && counter_decode(out.value, out.value_len, &vo) != 0)
                abort(); /* a local write must produce a valid state */
        }
        free(buf);
    }
    if (!oka || !okb)
        return 0;
    struct entry a, b;
    entry_of(pa, na, 5, 1, &a);
    entry_of(pb, nb, 6, 2, &b);
    uint8_t *b1, *b2, *b3;
    struct entry ab, ba, aa;
    int r1 = join(&a, &b, &b1, &ab), r2 = join(&b, &a, &b2, &ba), r3 = join(&a, &a, &b3, &aa);
    if (r1 != r2 || r3 != 0)
        abort();
    if (r1 == 0 && !same(&ab, &ba))
        abort(); /* commutative */
    if (!same(&aa, &a))
        abort(); /* idempotent */
    if (r1 == 0) {
        enum merge_result m = entry_merge(&a, &b, NULL);
        if ((m == MERGE_KEEP_LOCAL && !same(&ab, &a)) || (m == MERGE_TAKE_INCOMING && !same(&ab, &b)))
            abort();
    }
    free(b1);
    free(b2);
    free(b3);
    return 0;
}
