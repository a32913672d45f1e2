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

static inline uint64_t rc_bucket_no(const struct store_rcache *c, uint32_t tag)
{
    return (uint64_t)tag >> c->shift;
}

static inline uint64_t *rc_bucket(const struct store_rcache *c, uint32_t tag)
{
    return c->e + rc_bucket_no(c, tag) * STORE_RC_WAYS;
}

/* While a doubling moves the cache: the old bucket of tag if it has not
 * moved yet, else NULL. */
static uint64_t *rc_old_bucket(const struct store *s, uint32_t tag)
{
    if (!s->rc_old.e)
        return NULL;
    uint64_t b = rc_bucket_no(&s->rc_old, tag);
    return b >= s->rc_mig ? s->rc_old.e + b * STORE_RC_WAYS : NULL;
}

static const struct fmt_record *rc_probe(const struct store *s, const uint64_t *b, uint32_t tag,
                                         const void *key, uint32_t len)
{
    for (unsigned w = 0; w < STORE_RC_WAYS; w++) {
        uint64_t e = b[w];
        if (e == 0 || (uint32_t)(e >> 32) != tag)
            continue;
        uint64_t off = (uint64_t)(uint32_t)e * FMT_GRANULE;
        const uint8_t *r = s->heap.map + off;
        if (off + sizeof(struct fmt_record) > s->heap.file_bytes)
            continue;
        /* The key follows the clock, whose length is in the record's first
         * line: ask for the next line now (as find_ix does). */
        __builtin_prefetch(r + 64);
        const struct fmt_record *rh = (const struct fmt_record *)r;
        uint64_t kend = off + sizeof *rh + 16u * rh->vc_n + len;
        if (rh->key_len == len && kend <= s->heap.file_bytes &&
            store__key_equal(r + sizeof *rh + 16u * rh->vc_n, key, len))
            return rh;
    }
    return NULL;
}

const struct fmt_record *store__rc_find_old(const struct store *s, uint64_t fh, const void *key,
                                            uint32_t key_len)
{
    uint32_t tag = store__rc_tag(fh);
    const uint64_t *ob = rc_old_bucket(s, tag);
    return ob ? rc_probe(s, ob, tag, key, key_len) : NULL;
}

const uint64_t *store__rc_bucket_of(const struct store *s, uint64_t fh)
{
    return rc_bucket(&s->rc, store__rc_tag(fh));
}

void store__rc_prefetch(const struct store *s, uint64_t fh)
{
    uint32_t tag = store__rc_tag(fh);
    const uint64_t *b = rc_bucket(&s->rc, tag);
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
    rc_del(rc_bucket(&s->rc, tag), tag);
    uint64_t *ob = rc_old_bucket(s, tag);
    if (ob)
        rc_del(ob, tag);
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
    rc_put(rc_bucket(&s->rc, tag), ((uint64_t)tag << 32) | g, tag);
    /* An old bucket that has not moved yet must not carry the key's
     * previous record into the new cache. */
    uint64_t *ob = rc_old_bucket(s, tag);
    if (ob)
        rc_del(ob, tag);
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
    /* With the lookup index only (file-backed, read-write): the simulator's
     * thousands of in-memory stores do without. */
    if (s->rc.e || !s->cur.ix || s->cfg.no_read_cache)
        return;
    (void)store__rc_init(&s->rc, s->cur.cap); /* no memory: no cache */
}

void store__rc_grow_start(struct store *s)
{
    if (!s->rc.e)
        return;
    store__rc_free(&s->rc_old); /* (a finished doubling freed it already) */
    struct store_rcache n;
    if (store__rc_init(&n, s->cur.cap) != 0) {
        store__rc_free(&s->rc); /* no memory: no cache, every get as before */
        return;
    }
    s->rc_old = s->rc;
    s->rc = n;
    s->rc_mig = 0;
}

void store__rc_migrate(struct store *s)
{
    if (!s->rc_old.e)
        return;
    uint64_t target = s->rc_old.buckets;
    if (s->growing && s->mig_pos < s->old.cap)
        target = (uint64_t)((unsigned __int128)s->mig_pos * s->rc_old.buckets / s->old.cap);
    for (; s->rc_mig < target; s->rc_mig++) {
        uint64_t *ob = s->rc_old.e + s->rc_mig * STORE_RC_WAYS;
        /* Oldest first, so the newest ends in front if the bucket fills. */
        for (unsigned w = STORE_RC_WAYS; w-- > 0;) {
            uint64_t e = ob[w];
            if (e == 0)
                continue;
            uint32_t tag = (uint32_t)(e >> 32);
            /* No entry of the new cache has this tag: every set and clear
             * since the doubling began removed the tag from the old bucket
             * while it had not moved (store__rc_set). So no tag check. */
            uint64_t *nb = rc_bucket(&s->rc, tag);
            unsigned m = store__rc_match(nb, 0);
            if (m) {
                nb[__builtin_ctz(m) >> 1] = e;
            } else {
                memmove(nb + 1, nb, (STORE_RC_WAYS - 1) * sizeof *nb);
                nb[0] = e;
            }
        }
    }
    if (s->rc_mig >= s->rc_old.buckets) {
        store__rc_free(&s->rc_old);
        s->rc_mig = 0;
    }
}
