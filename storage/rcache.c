/*
 * rcache.c: the read cache in front of the lookup index (store_int.h says
 * what it is for and why it cannot be flooded). Derived state (I10): empty
 * at open, filled by writes and by gets that took the SipHash path, never
 * written to disk.
 */
#include <string.h>
#include <sys/mman.h>

#include "common/errors.h"
#include "storage/store_int.h"

int store__rc_init(struct store_rcache *c, uint64_t cap)
{
    memset(c, 0, sizeof *c);
    /* Two entries per slot: at the table's 3/4 load a bucket then holds 3
     * keys on average, and a Poisson(3) bucket overflows its 8 ways for
     * about 0.1 % of the keys; with one entry per slot (6 on average) 4-5 %
     * were evicted before each doubling and stayed out until read again. */
    uint64_t buckets = 2 * cap / STORE_RC_WAYS;
    unsigned bits = 0;
    while ((2ull << bits) <= buckets)
        bits++;
    buckets = 1ull << bits; /* cap is a power of two: this is 2 * cap / WAYS */
    size_t bytes = (size_t)(buckets * STORE_RC_WAYS * sizeof(uint64_t));
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return GKV_ENOMEM;
    /* Probed at random, like the index: huge pages where the kernel allows. */
    madvise(m, bytes, MADV_HUGEPAGE);
    c->e = m;
    c->buckets = buckets;
    c->bits = bits;
    c->shift = 32 - bits;
    return 0;
}

void store__rc_free(struct store_rcache *c)
{
    if (c->e)
        munmap(c->e, (size_t)(c->buckets * STORE_RC_WAYS * sizeof(uint64_t)));
    memset(c, 0, sizeof *c);
}

const uint64_t *store__rc_bucket_of(const struct store *s, uint64_t fh)
{
    return store__rc_bucket(s, store__rc_tag(fh));
}

void store__rc_prefetch(const struct store *s, uint64_t fh)
{
    uint32_t tag = store__rc_tag(fh);
    const uint64_t *b = store__rc_bucket(s, tag);
    for (unsigned w = 0; w < STORE_RC_WAYS; w++) {
        uint64_t e = b[w];
        if (e == 0 || (uint32_t)(e >> 32) != tag)
            continue;
        uint64_t off = (uint64_t)(uint32_t)e * FMT_GRANULE;
        if (off + 128u > s->heap.map_bytes)
            continue; /* a hint may not touch memory outside the mapping */
        __builtin_prefetch(s->heap.map + off);
        __builtin_prefetch(s->heap.map + off + 64);
    }
}

/* Put e (tag) into bucket b: over the entry with the same tag, else into
 * an empty way, else in front (the last way's entry drops out). */
static void rc_put(uint64_t *b, uint64_t e, uint32_t tag)
{
    unsigned m = store__rc_match(b, tag);
    if (!m)
        m = store__rc_match(b, 0);
    if (m) {
        b[__builtin_ctz(m) >> 1] = e;
        return;
    }
    memmove(b + 1, b, (STORE_RC_WAYS - 1) * sizeof *b);
    b[0] = e;
}

static void rc_del(uint64_t *b, uint32_t tag)
{
    for (unsigned m = store__rc_match(b, tag); m; m &= m - 1)
        b[__builtin_ctz(m) >> 1] = 0;
}

void store__rc_clear(struct store *s, uint64_t fh)
{
    if (!s->rc.e)
        return;
    uint32_t tag = store__rc_tag(fh);
    rc_del(store__rc_bucket(s, tag), tag);
}

void store__rc_set(struct store *s, uint64_t fh, uint64_t off)
{
    if (!s->rc.e)
        return;
    uint64_t g = off / FMT_GRANULE;
    if (off % FMT_GRANULE != 0 || g == 0 || g > UINT32_MAX) {
        store__rc_clear(s, fh); /* past 64 GiB of heap: not cached */
        return;
    }
    uint32_t tag = store__rc_tag(fh);
    /* While a doubling moves the cache, a bucket not moved yet takes the
     * entry in the old layout and carries it along when it splits. */
    rc_put(store__rc_bucket(s, tag), ((uint64_t)tag << 32) | g, tag);
}

void store__rc_open(struct store *s)
{
    uint64_t k0, k1;
    memcpy(&k0, s->secret, 8);
    memcpy(&k1, s->secret + 8, 8);
    for (unsigned i = 0; i < 4; i++) {
        char label[17] = "gossipkv-rcache0";
        label[15] = (char)('0' + i);
        s->rc_k[i] = store__siphash24(label, 16, k0, k1);
    }
    s->rc_inplace_min_bytes = STORE_RC_INPLACE_MIN_BYTES;
    /* With the lookup index only (file-backed, read-write): the simulator's
     * thousands of in-memory stores do without. */
    if (s->rc.e || !s->cur.ix || s->cfg.no_read_cache)
        return;
    (void)store__rc_init(&s->rc, s->cur.cap); /* no memory: no cache */
}

/* Split old bucket b (old geometry) into new buckets 2b and 2b + 1. Every
 * old bucket above b has moved, so those two positions (old buckets
 * 2b and 2b + 1, or the mapping's new half) hold nothing anyone reads; only
 * b = 0 splits onto itself, hence the copy first. */
static void rc_split_into(const struct store_rcache *to, const uint64_t *old)
{
    for (unsigned w = 0; w < STORE_RC_WAYS; w++) {
        uint64_t x = old[w];
        if (x == 0)
            continue;
        /* Eight entries at most over two empty buckets of eight ways each:
         * an empty way is always there, and the ways keep their order. */
        uint64_t *nb = to->e + ((uint64_t)(uint32_t)(x >> 32) >> to->shift) * STORE_RC_WAYS;
        unsigned m = store__rc_match(nb, 0);
        nb[__builtin_ctz(m) >> 1] = x;
    }
}

static void rc_split(struct store *s, uint64_t b)
{
    uint64_t *e = s->rc.e, old[STORE_RC_WAYS];
    memcpy(old, e + b * STORE_RC_WAYS, sizeof old);
    memset(e + 2 * b * STORE_RC_WAYS, 0, 2 * sizeof old);
    rc_split_into(&s->rc, old);
}

static void rc_move_until(struct store *s, uint64_t still_old)
{
    while (s->rc_mig > still_old) {
        s->rc_mig--;
        s->rc_mig_tag = s->rc_mig << s->rc_old_shift; /* bucket rc_mig now reads new */
        rc_split(s, s->rc_mig);
    }
}

/* No cache from here on (the gets take the SipHash path, as without one). */
static void rc_drop(struct store *s)
{
    store__rc_free(&s->rc);
    s->rc_mig = s->rc_mig_tag = 0;
}

void store__rc_grow_start(struct store *s)
{
    if (!s->rc.e)
        return;
    rc_move_until(s, 0); /* (a finished doubling moved every bucket already) */
    uint64_t old_bytes = s->rc.buckets * STORE_RC_WAYS * sizeof(uint64_t);
    /* The size a new cache for cur would have (store__rc_init). */
    uint64_t want = 2 * s->cur.cap / STORE_RC_WAYS;
    if (want != 2 * s->rc.buckets) {
        /* Not one doubling (cannot happen today): start empty at the new
         * size, as a reopen would. */
        rc_drop(s);
        (void)store__rc_init(&s->rc, s->cur.cap);
        return;
    }
    if (old_bytes < s->rc_inplace_min_bytes) {
        /* A small cache lives on 4 KiB pages, and grown in place those
         * would keep the new cache's first 2 MiB off a huge page for good:
         * a fresh one instead, every bucket split into it now (at most
         * 16384 buckets, well under a millisecond). */
        struct store_rcache fresh;
        if (store__rc_init(&fresh, s->cur.cap) != 0) {
            rc_drop(s);
            return;
        }
        for (uint64_t b = 0; b < s->rc.buckets; b++)
            rc_split_into(&fresh, s->rc.e + b * STORE_RC_WAYS);
        store__rc_free(&s->rc);
        s->rc = fresh;
        return;
    }
    void *m = mremap(s->rc.e, (size_t)old_bytes, (size_t)(2 * old_bytes), MREMAP_MAYMOVE);
    if (m == MAP_FAILED) {
        rc_drop(s); /* no memory: no cache, every get as before */
        return;
    }
    /* The new half is a new range of the same mapping (or the mapping
     * moved whole): ask for huge pages over all of it, as store__rc_init. */
    madvise(m, (size_t)(2 * old_bytes), MADV_HUGEPAGE);
    s->rc_old_shift = s->rc.shift;
    s->rc.e = m;
    s->rc.buckets *= 2;
    s->rc.bits++;
    s->rc.shift--;
    s->rc_mig = s->rc.buckets / 2; /* every old bucket still in place */
    s->rc_mig_tag = s->rc_mig << s->rc_old_shift;
}

void store__rc_migrate(struct store *s)
{
    if (!s->rc_mig)
        return;
    uint64_t old_buckets = s->rc.buckets / 2, moved = old_buckets;
    if (s->growing && s->mig_pos < s->old.cap)
        moved = (uint64_t)((unsigned __int128)s->mig_pos * old_buckets / s->old.cap);
    rc_move_until(s, old_buckets - moved);
}
