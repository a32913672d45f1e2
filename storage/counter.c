/*
 * counter.c: the counter entry kind (contract and payload layout in
 * storage/counter.h; the rules in docs/ARCHITECTURE.md, "Counters").
 *
 * Every function here works on counter "views": a payload decoded in place,
 * or a plain version seen as a register without items. Outputs are always
 * built by one encoder (enc_*), which writes items in ascending node order
 * and drops none, so a state has exactly one encoding.
 *
 * Why a join-semilattice: the state is the product of three parts, each
 * with its own join: the register (the maximum in entry_version_order, with
 * the observed totals it carries), the items (per-origin maximum of p and
 * of n) and the top stamp (maximum (hlc, origin)). A product of
 * semilattices is one, so the join is commutative, associative and
 * idempotent; observed <= totals holds after a join because the winner's
 * observed were <= its own totals, which the join only raises.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/strnum.h"
#include "storage/counter.h"

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void wr64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------ decode */

void counter_item_at(const struct counter_view *v, uint32_t i, struct counter_item *out)
{
    const uint8_t *p = v->items + (size_t)i * COUNTER_ITEM_BYTES;
    out->node = rd64(p);
    out->p = rd64(p + 8);
    out->n = rd64(p + 16);
    out->op = rd64(p + 24);
    out->on = rd64(p + 32);
}

int counter_decode(const uint8_t *p, size_t len, struct counter_view *v)
{
    if (!p || len < COUNTER_HDR_BYTES || p[0] != COUNTER_VERSION || p[1] > 1 || p[2] == 0 ||
        p[3] != 0)
        return GKV_EINVAL;
    v->reg_tomb = p[1] == 1;
    v->n = p[2];
    v->reg_len = rd32(p + 4);
    v->reg_hlc = rd64(p + 8);
    v->reg_origin = rd64(p + 16);
    if ((v->reg_tomb && v->reg_len) || v->reg_len > GKV_VALUE_HARD_MAX)
        return GKV_EINVAL;
    if (v->reg_hlc == 0 && v->reg_origin == 0 && !v->reg_tomb)
        return GKV_EINVAL; /* (0, 0) is only the register of a key never set */
    if ((uint64_t)len != COUNTER_HDR_BYTES + (uint64_t)v->reg_len +
                             (uint64_t)v->n * COUNTER_ITEM_BYTES)
        return GKV_EINVAL;
    v->reg_value = v->reg_len ? p + COUNTER_HDR_BYTES : NULL;
    v->items = p + COUNTER_HDR_BYTES + v->reg_len;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        struct counter_item it;
        counter_item_at(v, i, &it);
        if (it.node == 0 || (i > 0 && it.node <= prev) || (it.p == 0 && it.n == 0) ||
            it.op > it.p || it.on > it.n)
            return GKV_EINVAL;
        prev = it.node;
    }
    return 0;
}

int counter_view_of(const struct entry *e, struct counter_view *v)
{
    if (e && entry_is_counter(e))
        return counter_decode(e->value, e->value_len, v);
    *v = (struct counter_view){.reg_tomb = true};
    if (e) {
        v->reg_tomb = entry_is_tombstone(e);
        v->reg_hlc = e->hlc;
        v->reg_origin = e->origin;
        v->reg_value = v->reg_tomb ? NULL : e->value;
        v->reg_len = v->reg_tomb ? 0 : e->value_len;
    }
    return 0;
}

/* The register of a view as a plain version, for entry_version_order. */
static struct entry reg_entry(const struct counter_view *v)
{
    return (struct entry){.value = v->reg_value,
                          .value_len = v->reg_len,
                          .hlc = v->reg_hlc,
                          .origin = v->reg_origin,
                          .flags = v->reg_tomb ? ENTRY_TOMBSTONE : 0};
}

static int top_order(const struct entry *a, const struct entry *b)
{
    uint64_t ah = a ? a->hlc : 0, ao = a ? a->origin : 0;
    uint64_t bh = b ? b->hlc : 0, bo = b ? b->origin : 0;
    if (ah != bh)
        return ah < bh ? -1 : 1;
    if (ao != bo)
        return ao < bo ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------ numbers */

bool counter_parse_ll(const uint8_t *s, size_t len, long long *out)
{
    return gkv_str2ll(s, len, out);
}

bool counter_parse_ld(const uint8_t *s, size_t len, long double *out)
{
    char buf[COUNTER_FMT_MAX + 1];
    if (len == 0 || len > COUNTER_FMT_MAX)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(s, '\0', len) || buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r'))
        return false;
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    /* As Redis: an overflow or an underflow to zero is not a number. */
    if ((size_t)(end - buf) != len || isnan(v) ||
        (errno == ERANGE && (isinf(v) || v == 0.0L)))
        return false;
    *out = v;
    return true;
}

void counter_read(const struct counter_view *v, struct counter_read *out)
{
    __int128 unseen = 0;
    bool any = false;
    for (uint32_t i = 0; i < v->n; i++) {
        struct counter_item it;
        counter_item_at(v, i, &it);
        unseen += (__int128)(it.p - it.op) - (__int128)(it.n - it.on);
        any = any || it.p != it.op || it.n != it.on;
    }
    *out = (struct counter_read){.kind = COUNTER_READ_BYTES,
                                 .bytes = v->reg_value,
                                 .len = v->reg_len};
    if (!any) {
        if (v->reg_tomb)
            out->kind = COUNTER_READ_ABSENT;
        return;
    }
    long long base = 0;
    if (!v->reg_tomb && !counter_parse_ll(v->reg_value, v->reg_len, &base)) {
        long double f;
        if (!counter_parse_ld(v->reg_value, v->reg_len, &f))
            return; /* not a number: the register's bytes */
        f += (long double)unseen;
        if (isfinite(f)) {
            out->kind = COUNTER_READ_FLOAT;
            out->f = f;
        }
        return;
    }
    __int128 t = (__int128)base + unseen;
    out->kind = COUNTER_READ_INT;
    out->i = t > LLONG_MAX ? LLONG_MAX : t < LLONG_MIN ? LLONG_MIN : (long long)t;
}

size_t counter_format(const struct counter_read *r, char *buf, size_t cap, const uint8_t **out)
{
    *out = NULL;
    int l;
    switch (r->kind) {
    case COUNTER_READ_ABSENT:
        return 0;
    case COUNTER_READ_BYTES:
        *out = r->bytes;
        return r->len;
    case COUNTER_READ_INT:
        l = snprintf(buf, cap, "%lld", r->i);
        break;
    default:
        /* Redis ld2string(LD_STR_HUMAN): 17 digits after the point, then
         * the trailing zeros (and a bare point) go. */
        l = snprintf(buf, cap, "%.17Lf", r->f);
        if (l > 0 && (size_t)l < cap && memchr(buf, '.', (size_t)l)) {
            while (buf[l - 1] == '0')
                l--;
            if (buf[l - 1] == '.')
                l--;
        }
        if (l == 2 && buf[0] == '-' && buf[1] == '0') {
            buf[0] = '0';
            l = 1;
        }
        break;
    }
    if (l <= 0 || (size_t)l >= cap)
        return 0;
    *out = (const uint8_t *)buf;
    return (size_t)l;
}

/* ------------------------------------------------------------ encode */

struct enc {
    uint8_t *buf;
    size_t cap, len;
    uint32_t n;
    int rc;
};

static void enc_reg(struct enc *e, bool tomb, uint64_t hlc, uint64_t origin, const uint8_t *value,
                    uint32_t len)
{
    e->len = 0;
    e->n = 0;
    e->rc = 0;
    if (e->cap < COUNTER_HDR_BYTES + (size_t)len) {
        e->rc = GKV_EINVAL;
        return;
    }
    uint8_t *p = e->buf;
    p[0] = COUNTER_VERSION;
    p[1] = tomb ? 1 : 0;
    p[2] = 0;
    p[3] = 0;
    p[4] = (uint8_t)len;
    p[5] = (uint8_t)(len >> 8);
    p[6] = (uint8_t)(len >> 16);
    p[7] = (uint8_t)(len >> 24);
    wr64(p + 8, hlc);
    wr64(p + 16, origin);
    if (len)
        memcpy(p + COUNTER_HDR_BYTES, value, len);
    e->len = COUNTER_HDR_BYTES + len;
}

static void enc_item(struct enc *e, const struct counter_item *it)
{
    if (e->rc)
        return;
    if (e->n >= COUNTER_ITEMS_MAX) {
        e->rc = GKV_ELIMIT;
        return;
    }
    if (e->cap - e->len < COUNTER_ITEM_BYTES) {
        e->rc = GKV_EINVAL;
        return;
    }
    uint8_t *p = e->buf + e->len;
    wr64(p, it->node);
    wr64(p + 8, it->p);
    wr64(p + 16, it->n);
    wr64(p + 24, it->op);
    wr64(p + 32, it->on);
    e->len += COUNTER_ITEM_BYTES;
    e->n++;
}

/* Finish: *out describes the state (top stamp hlc/origin). No items left
 * means a plain version: its register as the entry. absent: whether the
 * state reads as absent when the caller knows it (0 or 1; local writes),
 * -1 to decode and read it (joins). */
static int enc_finish(struct enc *e, const uint8_t *key, uint32_t key_len, uint64_t hlc,
                      uint64_t origin, int absent, struct entry *out)
{
    if (e->rc)
        return e->rc;
    *out = (struct entry){.key = key, .key_len = key_len, .hlc = hlc, .origin = origin};
    struct counter_view v;
    if (e->n == 0) {
        bool tomb = e->buf[1] == 1;
        uint32_t len = rd32(e->buf + 4);
        out->flags = tomb ? ENTRY_TOMBSTONE : 0;
        out->value = tomb ? NULL : e->buf + COUNTER_HDR_BYTES;
        out->value_len = tomb ? 0 : len;
        return 0;
    }
    e->buf[2] = (uint8_t)e->n;
    if (absent < 0) {
        if (counter_decode(e->buf, e->len, &v) != 0)
            return GKV_EINVAL;
        struct counter_read r;
        counter_read(&v, &r);
        absent = r.kind == COUNTER_READ_ABSENT;
    }
    out->flags = ENTRY_COUNTER | (absent ? ENTRY_TOMBSTONE : 0);
    out->value = e->buf;
    out->value_len = (uint32_t)e->len;
    return 0;
}

size_t counter_bound(const struct entry *a, const struct entry *b, size_t reg_len)
{
    size_t n = 1, reg = reg_len;
    const struct entry *es[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const struct entry *e = es[i];
        if (!e)
            continue;
        n += entry_is_counter(e) ? e->value_len / COUNTER_ITEM_BYTES : 0;
        if (e->value_len > reg)
            reg = e->value_len;
    }
    return COUNTER_HDR_BYTES + reg + n * COUNTER_ITEM_BYTES;
}

/* ------------------------------------------------------------ join */

/* Walk the items of two views in node order: calls fn for each node with
 * the item of each side (NULL where absent). */
struct pair_walk {
    const struct counter_view *a, *b;
    uint32_t i, j;
    struct counter_item ia, ib;
};

static bool pair_next(struct pair_walk *w, const struct counter_item **pa,
                      const struct counter_item **pb)
{
    bool ha = w->i < w->a->n, hb = w->j < w->b->n;
    if (!ha && !hb)
        return false;
    if (ha)
        counter_item_at(w->a, w->i, &w->ia);
    if (hb)
        counter_item_at(w->b, w->j, &w->ib);
    *pa = *pb = NULL;
    if (ha && (!hb || w->ia.node <= w->ib.node)) {
        *pa = &w->ia;
        w->i++;
    }
    if (hb && (!ha || w->ib.node <= w->ia.node)) {
        *pb = &w->ib;
        w->j++;
    }
    return true;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

int counter_join(const struct entry *a, const struct entry *b, uint8_t *buf, size_t cap,
                 struct entry *out)
{
    struct counter_view va, vb;
    if (counter_view_of(a, &va) != 0 || counter_view_of(b, &vb) != 0)
        return GKV_EINVAL;
    struct entry ra = reg_entry(&va), rb = reg_entry(&vb);
    int order = entry_version_order(&ra, &rb);
    bool a_wins = order >= 0;
    const struct counter_view *w = a_wins ? &va : &vb;
    struct enc e = {.buf = buf, .cap = cap};
    enc_reg(&e, w->reg_tomb, w->reg_hlc, w->reg_origin, w->reg_value, w->reg_len);
    struct pair_walk pw = {.a = &va, .b = &vb};
    const struct counter_item *pa, *pb;
    while (pair_next(&pw, &pa, &pb)) {
        const struct counter_item *pw_item = a_wins ? pa : pb; /* the winner's observed */
        struct counter_item it = {.node = pa ? pa->node : pb->node};
        it.p = max64(pa ? pa->p : 0, pb ? pb->p : 0);
        it.n = max64(pa ? pa->n : 0, pb ? pb->n : 0);
        it.op = pw_item ? pw_item->op : 0;
        it.on = pw_item ? pw_item->on : 0;
        if (order == 0) {
            /* The same register on both sides observed the same totals in
             * any causal history; should a peer send otherwise, the join
             * takes the maximum so it stays commutative (still <= p, n). */
            it.op = max64(pa ? pa->op : 0, pb ? pb->op : 0);
            it.on = max64(pa ? pa->on : 0, pb ? pb->on : 0);
        }
        enc_item(&e, &it);
    }
    const struct entry *top = top_order(a, b) >= 0 ? a : b;
    int rc = enc_finish(&e, a->key, a->key_len, top->hlc, top->origin, -1, out);
    /* The expiry belongs to the latest write (the top stamp); a state that
     * reads as absent has none (a tombstone never expires). */
    if (rc == 0 && !entry_is_tombstone(out))
        out->expire_ms = top->expire_ms;
    return rc;
}

enum merge_result counter_merge_decide(const struct entry *local, const struct entry *incoming)
{
    struct counter_view vl, vi;
    if (counter_view_of(local, &vl) != 0 || counter_view_of(incoming, &vi) != 0)
        return MERGE_KEEP_LOCAL;
    struct entry rl = reg_entry(&vl), ri = reg_entry(&vi);
    int reg = entry_version_order(&rl, &ri);
    int top = top_order(local, incoming);
    bool l_ge = true, i_ge = true; /* local's totals >= incoming's, and back */
    struct pair_walk pw = {.a = &vl, .b = &vi};
    const struct counter_item *pl, *pi;
    while (pair_next(&pw, &pl, &pi)) {
        /* With the same register the observed totals join too (counter_join). */
        bool obs = reg == 0;
        if (!pl || (pi && (pi->p > pl->p || pi->n > pl->n ||
                           (obs && (pi->op > pl->op || pi->on > pl->on)))))
            l_ge = false;
        if (!pi || (pl && (pl->p > pi->p || pl->n > pi->n ||
                           (obs && (pl->op > pi->op || pl->on > pi->on)))))
            i_ge = false;
    }
    if (reg >= 0 && l_ge && top >= 0)
        return MERGE_KEEP_LOCAL;
    if (reg <= 0 && i_ge && top <= 0)
        return MERGE_TAKE_INCOMING;
    return MERGE_JOIN;
}

/* ------------------------------------------------------------ writes */

/* A new register (hlc, self) over every item of v, all observed. */
static int write_register(const struct counter_view *v, const uint8_t *key, uint32_t key_len,
                          const uint8_t *value, uint32_t value_len, bool tomb, uint64_t hlc,
                          uint64_t self, uint8_t *buf, size_t cap, struct entry *out)
{
    struct enc e = {.buf = buf, .cap = cap};
    enc_reg(&e, tomb, hlc, self, value, tomb ? 0 : value_len);
    for (uint32_t i = 0; i < v->n; i++) {
        struct counter_item it;
        counter_item_at(v, i, &it);
        it.op = it.p;
        it.on = it.n;
        enc_item(&e, &it);
    }
    /* Every item observed: it reads as the register. */
    return enc_finish(&e, key, key_len, hlc, self, tomb, out);
}

int counter_set(const struct entry *cur, const uint8_t *key, uint32_t key_len,
                const uint8_t *value, uint32_t value_len, bool tomb, uint64_t hlc, uint64_t self,
                uint8_t *buf, size_t cap, struct entry *out)
{
    struct counter_view v;
    if (counter_view_of(cur, &v) != 0)
        return GKV_EINVAL;
    return write_register(&v, key, key_len, value, value_len, tomb, hlc, self, buf, cap, out);
}

/* The integer a view reads as, as INCR sees it: GET's reply parsed. */
static int read_integer(const struct counter_view *v, long long *out)
{
    struct counter_read r;
    counter_read(v, &r);
    if (r.kind == COUNTER_READ_ABSENT) {
        *out = 0;
        return 0;
    }
    if (r.kind == COUNTER_READ_INT) {
        *out = r.i;
        return 0;
    }
    char buf[COUNTER_FMT_MAX];
    const uint8_t *s;
    size_t len = counter_format(&r, buf, sizeof buf, &s);
    return s && counter_parse_ll(s, len, out) ? 0 : GKV_ENOTINT;
}

int counter_add(const struct entry *cur, const uint8_t *key, uint32_t key_len, long long delta,
                uint64_t hlc, uint64_t self, uint8_t *buf, size_t cap, struct entry *out,
                long long *result, bool *rebased)
{
    struct counter_view v;
    long long now;
    int rc;
    if (counter_view_of(cur, &v) != 0)
        return GKV_EINVAL;
    if ((rc = read_integer(&v, &now)) != 0)
        return rc;
    if ((delta > 0 && now > LLONG_MAX - delta) || (delta < 0 && now < LLONG_MIN - delta))
        return GKV_ERANGE;
    *result = now + delta;
    /* |delta| as the amount added to p or n (LLONG_MIN has no positive). */
    uint64_t mag = delta < 0 ? (uint64_t)(-(delta + 1)) + 1 : (uint64_t)delta;
    bool found = false, rebase = delta == 0;
    for (uint32_t i = 0; i < v.n && !rebase; i++) {
        struct counter_item it;
        counter_item_at(&v, i, &it);
        if (it.node != self)
            continue;
        found = true;
        uint64_t total = delta > 0 ? it.p : it.n;
        rebase = total > UINT64_MAX - mag;
    }
    if (!found && v.n >= COUNTER_ORIGINS_SOFT_MAX)
        rebase = true;
    if (rebased)
        *rebased = rebase;
    if (rebase) {
        char num[24];
        int l = snprintf(num, sizeof num, "%lld", *result);
        return write_register(&v, key, key_len, (const uint8_t *)num, (uint32_t)l, false, hlc,
                              self, buf, cap, out);
    }
    struct enc e = {.buf = buf, .cap = cap};
    enc_reg(&e, v.reg_tomb, v.reg_hlc, v.reg_origin, v.reg_value, v.reg_len);
    struct counter_item mine = {.node = self};
    if (delta > 0)
        mine.p = mag;
    else
        mine.n = mag;
    for (uint32_t i = 0; i <= v.n; i++) {
        struct counter_item it;
        if (i < v.n)
            counter_item_at(&v, i, &it);
        if (!found && (i == v.n || it.node > self)) {
            enc_item(&e, &mine);
            found = true;
        }
        if (i == v.n)
            break;
        if (it.node == self) {
            it.p += mine.p;
            it.n += mine.n;
        }
        enc_item(&e, &it);
    }
    /* self's item now holds more than the register observed: it reads as
     * a number, never as absent. */
    return enc_finish(&e, key, key_len, hlc, self, 0, out);
}
