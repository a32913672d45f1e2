/*
 * recover.c: opening a data directory: verify every slot and the record it
 * names, repair what a crash can leave behind, rebuild what lives in memory.
 *
 * What a crash can leave (store.c invariants):
 *  - a torn slot (bad checksum): killed in the middle of a 64-byte slot
 *    write. Its rec_off (old or new, one aligned 8-byte store) names a whole
 *    record (I2), so the slot is rebuilt from that record, or from prev_off.
 *  - a slot whose record is missing or older (power loss in sync=batch: the
 *    slot page reached the disk, the record page did not): fall back to
 *    prev_off, the last durable record (I3), or drop the slot.
 *  - a key in both tables of an interrupted doubling: keep cur's (I5, I7).
 * Dropping writes DEAD, never EMPTY, so probe chains stay whole (I1).
 *
 * Two passes per table: pass 1 classifies every slot and turns torn ones
 * DEAD (so pass 2 never follows an unverified slot); pass 2 rebuilds torn
 * slots from their records when the record verifies, belongs on this chain
 * and its key is not already present. inspect.c runs the same code with
 * repair off and only reports.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "storage/store_int.h"

struct extent {
    uint64_t off, len;
};

struct torn {
    uint64_t idx;
    struct fmt_slot img; /* as found */
};

struct vctx {
    struct store *s;
    bool repair;
    struct store_vreport *rep;
    struct extent *ext;
    size_t n_ext, cap_ext;
    uint64_t max_hlc;
    uint32_t max_epoch;
};

static void report(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void report(struct vctx *v, const char *fmt, ...)
{
    if (!v->rep->out || v->rep->printed >= STORE_REPORT_LINES) {
        if (v->rep->out && v->rep->printed == STORE_REPORT_LINES) {
            fprintf(v->rep->out, "  ... (further faults counted, not printed)\n");
            v->rep->printed++;
        }
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fputs("  FAULT ", v->rep->out);
    vfprintf(v->rep->out, fmt, ap);
    fputc('\n', v->rep->out);
    va_end(ap);
    v->rep->printed++;
}

static const uint8_t *rec_key(const struct fmt_record *r)
{
    return (const uint8_t *)(r + 1) + 16u * r->vc_n;
}

/* Does the record at off verify and agree with the slot's copy of its
 * header? (Key hash and bucket are checked by the caller.) */
static bool record_matches(const struct store *s, const struct fmt_slot *sl)
{
    if (!store__record_valid(&s->heap, sl->rec_off))
        return false;
    const struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
    bool tomb = (r->flags & ENTRY_TOMBSTONE) != 0;
    return r->key_len == sl->key_len && r->value_len == sl->value_len && r->vc_n == sl->vc_n &&
           r->hlc == sl->hlc && r->origin == sl->origin && tomb == (sl->state == FMT_SLOT_TOMB);
}

/* A slot image rebuilt from the (verified) record at off. */
static void image_from_record(const struct store *s, uint64_t off, struct fmt_slot *img)
{
    const struct fmt_record *r = store__rec(&s->heap, off);
    memset(img, 0, sizeof *img);
    img->hash = store__key_hash(s, rec_key(r), r->key_len);
    img->hlc = r->hlc;
    img->origin = r->origin;
    img->rec_off = off;
    img->value_len = r->value_len;
    img->key_len = r->key_len;
    img->bucket = (uint16_t)entry_bucket(rec_key(r), r->key_len, STORE_BUCKET_BITS);
    img->state = (r->flags & ENTRY_TOMBSTONE) ? FMT_SLOT_TOMB : FMT_SLOT_VALUE;
    img->vc_n = r->vc_n;
}

/* Can slot idx hold a key whose home is home(hash)? Only if no EMPTY slot
 * lies between the home and idx (linear probing never skips one). */
static bool on_chain(const struct store_table *t, uint64_t idx, uint64_t hash)
{
    uint64_t i = store__home(t, hash);
    for (uint64_t n = 0; n < t->cap; n++, i = (i + 1) & t->mask) {
        if (i == idx)
            return true;
        if (t->slots[i].state == FMT_SLOT_EMPTY)
            return false;
    }
    return false;
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static int put_slot(struct vctx *v, struct store_table *t, uint64_t idx, struct fmt_slot *img)
{
    if (!v->repair)
        return 0;
    return store__slot_put(t, idx, img, false);
}

static int make_dead(struct vctx *v, struct store_table *t, uint64_t idx)
{
    struct fmt_slot dead = {0};
    dead.state = FMT_SLOT_DEAD;
    return put_slot(v, t, idx, &dead);
}

/* Try to rebuild slot idx of t from the record at off (pass 2). */
static bool try_rebuild(struct vctx *v, struct store_table *t, uint64_t idx, uint64_t off,
                        struct fmt_slot *out)
{
    struct store *s = v->s;
    if (off == 0 || !store__record_valid(&s->heap, off))
        return false;
    image_from_record(s, off, out);
    if (!on_chain(t, idx, out->hash))
        return false;
    const struct fmt_record *r = store__rec(&s->heap, off);
    int64_t j = store__find(s, t, out->hash, rec_key(r), r->key_len, NULL);
    return j < 0 || (uint64_t)j == idx;
}

static int verify_table(struct vctx *v, struct store_table *t)
{
    struct store *s = v->s;
    char name[64];
    store__table_name(name, sizeof name, t->gen);
    struct torn *torn = NULL;
    size_t n_torn = 0, cap_torn = 0;
    int rc = 0;

    /* Pass 1: classify; torn slots become DEAD for now. */
    for (uint64_t i = 0; i < t->cap; i++) {
        struct fmt_slot *sl = &t->slots[i];
        if (sl->state == FMT_SLOT_EMPTY && all_zero(sl, sizeof *sl))
            continue;
        bool ck = sl->checksum == store__slot_checksum(t, i, sl) && sl->state >= FMT_SLOT_VALUE &&
                  sl->state <= FMT_SLOT_DEAD;
        if (ck && sl->state == FMT_SLOT_DEAD)
            continue;
        if (ck && sl->rec_off >= s->heap.file_bytes) {
            /* values.gkv only grows (I11) and records are written inside it
             * before a slot names them: the file was cut short. */
            v->rep->beyond_eof++;
            report(v, "values.gkv: truncated: %s slot %llu names offset %llu, past its end (%llu bytes)",
                   name, (unsigned long long)i, (unsigned long long)sl->rec_off,
                   (unsigned long long)s->heap.file_bytes);
        }
        if (ck && record_matches(s, sl)) {
            const struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
            uint64_t h = store__key_hash(s, rec_key(r), r->key_len);
            uint16_t b = (uint16_t)entry_bucket(rec_key(r), r->key_len, STORE_BUCKET_BITS);
            if (h == sl->hash && b == sl->bucket)
                continue; /* good */
            v->rep->faults++;
            report(v, "%s: slot %llu key hash or bucket does not match its key", name,
                   (unsigned long long)i);
        } else if (ck) {
            v->rep->faults++;
            report(v, "%s: slot %llu names a record at values.gkv offset %llu that %s", name,
                   (unsigned long long)i, (unsigned long long)sl->rec_off,
                   store__record_valid(&s->heap, sl->rec_off) ? "belongs to another version"
                                                               : "fails verification");
        } else {
            v->rep->faults++;
            report(v, "%s: slot %llu checksum mismatch", name, (unsigned long long)i);
        }
        if (n_torn == cap_torn) {
            size_t nc = cap_torn ? cap_torn * 2 : 16;
            struct torn *nt = realloc(torn, nc * sizeof *nt);
            if (!nt) {
                rc = GKV_ENOMEM;
                goto out;
            }
            torn = nt;
            cap_torn = nc;
        }
        torn[n_torn].idx = i;
        torn[n_torn].img = *sl;
        n_torn++;
        if ((rc = make_dead(v, t, i)) != 0)
            goto out;
    }

    /* Pass 2: rebuild torn slots from the record they name (the newer
     * version), else from prev_off (the last durable one), else leave DEAD. */
    for (size_t k = 0; k < n_torn; k++) {
        struct fmt_slot img;
        uint64_t idx = torn[k].idx;
        const struct fmt_slot *was = &torn[k].img;
        /* The hash field is the same in the old and new image of an
         * overwrite, and 0 or the new key's in a torn insert (no sector
         * tears a 64-byte slot; a process crash stops between stores): a
         * record whose key hashes elsewhere is not this slot's. */
        uint64_t h0 = was->hash;
        if (try_rebuild(v, t, idx, was->rec_off, &img) && (img.hash == h0 || h0 == 0)) {
            img.prev_off = was->prev_off;
            v->rep->rebuilt++;
        } else if (try_rebuild(v, t, idx, was->prev_off, &img) && img.hash == h0) {
            v->rep->rolled_back++;
        } else {
            v->rep->dropped++;
            if (v->rep->out)
                report(v, "%s: slot %llu cannot be rebuilt; recovery drops it", name,
                       (unsigned long long)idx);
            continue;
        }
        if ((rc = put_slot(v, t, idx, &img)) != 0)
            goto out;
    }
out:
    free(torn);
    return rc;
}

/* Remove the old-table copies of keys that cur also holds (I7). */
static int dedupe_old(struct vctx *v)
{
    struct store *s = v->s;
    struct store_table *o = &s->old;
    for (uint64_t i = 0; i < o->cap; i++) {
        struct fmt_slot *sl = &o->slots[i];
        if (sl->state != FMT_SLOT_VALUE && sl->state != FMT_SLOT_TOMB)
            continue;
        const struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
        if (store__find(s, &s->cur, sl->hash, rec_key(r), r->key_len, NULL) >= 0) {
            v->rep->dups++;
            int rc = make_dead(v, o, i);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int push_extent(struct vctx *v, uint64_t off, uint64_t len)
{
    if (v->n_ext == v->cap_ext) {
        size_t nc = v->cap_ext ? v->cap_ext * 2 : 1024;
        struct extent *ne = realloc(v->ext, nc * sizeof *ne);
        if (!ne)
            return GKV_ENOMEM;
        v->ext = ne;
        v->cap_ext = nc;
    }
    v->ext[v->n_ext].off = off;
    v->ext[v->n_ext].len = len;
    v->n_ext++;
    return 0;
}

static void print_bytes(FILE *out, const uint8_t *p, size_t n, size_t max)
{
    fputc('"', out);
    for (size_t i = 0; i < n && i < max; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
            fputc(p[i], out);
        else
            fprintf(out, "\\x%02x", p[i]);
    }
    fputc('"', out);
    if (n > max)
        fprintf(out, "...(%zu bytes)", n);
}

/* Counts, buckets, extents, HLC floor and epoch from the (now sound) slots. */
static int collect(struct vctx *v, struct store_table *t, bool is_old)
{
    struct store *s = v->s;
    t->used = t->dead = 0;
    for (uint64_t i = 0; i < t->cap; i++) {
        struct fmt_slot *sl = &t->slots[i];
        if (sl->state == FMT_SLOT_EMPTY)
            continue;
        t->used++;
        if (sl->state != FMT_SLOT_VALUE && sl->state != FMT_SLOT_TOMB) {
            t->dead++;
            continue;
        }
        /* In report-only mode torn slots are still in place: skip what
         * pass 1 would have dropped. */
        if (!v->repair && (sl->checksum != store__slot_checksum(t, i, sl) || !record_matches(s, sl)))
            continue;
        if (is_old && !v->repair) {
            const struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
            if (store__find(s, &s->cur, sl->hash, rec_key(r), r->key_len, NULL) >= 0)
                continue; /* a crash duplicate: cur's version counts */
        }
        struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
        struct entry e;
        store__entry_from_slot(s, sl, &e);
        uint64_t vh = entry_version_hash(&e);
        if (vh != r->vhash) {
            /* Cached by a build whose entry_version_hash differed. */
            v->rep->vhash_fixed++;
            if (v->repair) {
                r->vhash = vh;
                r->checksum = store__record_checksum(r, sl->rec_off);
            }
        }
        s->buckets[sl->bucket] ^= vh;
        if (sl->state == FMT_SLOT_TOMB)
            s->tombstones++;
        else
            s->entries++;
        s->expiring += e.expire_ms != 0;
        if (sl->hlc > v->max_hlc)
            v->max_hlc = sl->hlc;
        if (sl->epoch > v->max_epoch)
            v->max_epoch = sl->epoch;
        int rc = push_extent(v, sl->rec_off,
                             store__heap_class_bytes(store__heap_class(
                                 store__record_bytes(store__rec(&s->heap, sl->rec_off)))));
        if (rc != 0)
            return rc;
        if (v->rep->out && v->rep->verbose) {
            fprintf(v->rep->out, "  %s ",
                    entry_is_counter(&e) ? (entry_is_tombstone(&e) ? "ctr-0" : "ctr  ")
                                         : (entry_is_tombstone(&e) ? "tomb " : "value"));
            print_bytes(v->rep->out, e.key, e.key_len, 64);
            if (entry_has_value(&e)) {
                fputs(" = ", v->rep->out);
                print_bytes(v->rep->out, e.value, e.value_len, 64);
            }
            fprintf(v->rep->out, " hlc=%llu.%llu origin=%llu",
                    (unsigned long long)HLC_MS(e.hlc), (unsigned long long)HLC_LOGICAL(e.hlc),
                    (unsigned long long)e.origin);
            if (e.expire_ms)
                fprintf(v->rep->out, " expire_ms=%llu", (unsigned long long)e.expire_ms);
            fputs(" vc=[", v->rep->out);
            for (uint32_t k = 0; k < e.vc.n; k++)
                fprintf(v->rep->out, "%s%llu:%llu", k ? "," : "",
                        (unsigned long long)e.vc.items[k].node,
                        (unsigned long long)e.vc.items[k].counter);
            fputs("]\n", v->rep->out);
        }
    }
    return 0;
}

static int cmp_extent(const void *a, const void *b)
{
    const struct extent *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int store__verify(struct store *s, bool repair, struct store_vreport *rep, char *err,
                  size_t err_bytes)
{
    struct vctx v = {.s = s, .repair = repair, .rep = rep};
    int rc;
    memset(s->buckets, 0, sizeof s->buckets);
    s->entries = s->tombstones = s->expiring = 0;
    if ((rc = verify_table(&v, &s->cur)) != 0)
        goto out;
    if (s->growing) {
        if ((rc = verify_table(&v, &s->old)) != 0)
            goto out;
        if (repair && (rc = dedupe_old(&v)) != 0)
            goto out;
    }
    if ((rc = collect(&v, &s->cur, false)) != 0)
        goto out;
    if (s->growing && (rc = collect(&v, &s->old, true)) != 0)
        goto out;
    if (v.n_ext > 1)
        qsort(v.ext, v.n_ext, sizeof *v.ext, cmp_extent);
    /* One record may be named by two slots (the same key in both tables of
     * an interrupted doubling, before dedupe): keep one extent. Different
     * records overlapping is corruption. */
    size_t w = 0;
    for (size_t i = 0; i < v.n_ext; i++) {
        if (w > 0 && v.ext[i].off == v.ext[w - 1].off)
            continue;
        if (w > 0 && v.ext[i].off < v.ext[w - 1].off + v.ext[w - 1].len) {
            rep->overlaps++;
            rep->faults++;
            report(&v, "values.gkv: records at offsets %llu and %llu overlap",
                   (unsigned long long)v.ext[w - 1].off, (unsigned long long)v.ext[i].off);
        }
        v.ext[w++] = v.ext[i];
    }
    uint64_t *offs = malloc((w ? w : 1) * sizeof *offs), *lens = malloc((w ? w : 1) * sizeof *lens);
    if (!offs || !lens) {
        free(offs);
        free(lens);
        rc = GKV_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < w; i++) {
        offs[i] = v.ext[i].off;
        lens[i] = v.ext[i].len;
    }
    rc = store__heap_rebuild(&s->heap, offs, lens, w);
    free(offs);
    free(lens);
    if (rc != 0)
        goto out;
    if (s->heap.top > s->heap.file_bytes)
        s->heap.top = s->heap.file_bytes; /* a block rounded past EOF: never allocate there */
    s->hlc.last = v.max_hlc;
    s->epoch = (uint64_t)v.max_epoch + 1;
out:
    free(v.ext);
    if (rc != 0)
        snprintf(err, err_bytes, "recovery: %s", gkv_strerror(rc));
    return rc;
}

int store__recover(struct store *s, char *err, size_t err_bytes)
{
    struct store_vreport rep = {0};
    bool repair = !s->cfg.read_only;
    int rc = store__verify(s, repair, &rep, err, err_bytes);
    if (rc != 0)
        return rc;
    s->st.torn_slots_dropped = rep.dropped;
    if (!repair && rep.faults > 0) {
        snprintf(err, err_bytes, "%llu faults need recovery; open it read-write once (or see "
                                 "gossipkv inspect)",
                 (unsigned long long)rep.faults);
        return GKV_ECORRUPT;
    }
    return 0;
}
