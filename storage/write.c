/*
 * write.c: the write path of the store: store_put, store_del, store_merge,
 * tombstone purging and the replay of log records on open.
 *
 * Owns: write_version (one new version of one key: record, slot, derived
 * state, log record), the per-write maintenance that drives a doubling
 * (maintain) and the load limits behind it.
 *
 * Invariants kept here (numbered in store.c): I2 record before slot, old
 * block freed last; I3 prev_off keeps the durable fallback of a slot within
 * a sync epoch (and pins it while a checkpoint job runs); I5 a key new to
 * cur is written there before its old-table slot dies; I10 entry counts,
 * bucket hashes and the read cache follow every slot change; I12 every
 * change is appended to the log after it is applied.
 *
 * Hot path: store_put -> local_write -> write_version all live in this
 * translation unit (static, inlined by the compiler); the lookup they share
 * with the read path (store__locate) is static inline in store_int.h, so
 * splitting the store across files added no call to a put.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "storage/counter.h"
#include "storage/store_int.h"

/* Grow when a table's used slots (values, tombstones, dead) pass 3/4:
 * linear probing at load a costs about (1 + 1/(1-a)^2)/2 probes for a miss
 * (Knuth), 8.5 at 3/4; we are usually well below. */
#define STORE_LOAD_NUM 3u
#define STORE_LOAD_DEN 4u
/* Past 15/16 a write refuses rather than degrade probing to a crawl (only
 * reachable when growth cannot allocate its new file). */
#define STORE_HARD_LOAD_NUM 15u
#define STORE_HARD_LOAD_DEN 16u
/* In sync=batch, a write forces a group commit early when the pending
 * (not yet reusable) freed blocks exceed this, so a caller that never ticks
 * cannot grow the file without bound. 64 MiB. */
#define STORE_PENDING_MAX_BYTES (64ull << 20)

/* Pending frees past this force a synchronous sync inside a write: the
 * backstop for callers that never sync. With a log, twice the checkpoint
 * threshold, so the background checkpoint normally comes first. */
static uint64_t pending_max_bytes(const struct store *s)
{
    uint64_t m = STORE_PENDING_MAX_BYTES;
    if (s->wal.fd >= 0 && 2 * store__wal_ckpt_bytes(s) > m)
        m = 2 * store__wal_ckpt_bytes(s);
    return m;
}

/* Before each write: a migration step, and a new doubling if cur is full. */
static int maintain(struct store *s)
{
    int rc;
    bool ext = s->cfg.external_prep;
    if (s->retiring)
        store__retire_step(s, STORE_RETIRE_CHUNK_BYTES);
    if (!ext)
        store__next_step(s, STORE_NEXT_CREDIT_BYTES);
    if (s->growing) {
        if ((rc = store__grow_step(s, STORE_GROW_STEP_WRITE)) != 0)
            return rc;
        unsigned num = ext ? STORE_HARD_LOAD_NUM : STORE_LOAD_NUM;
        unsigned den = ext ? STORE_HARD_LOAD_DEN : STORE_LOAD_DEN;
        if (s->growing && s->mig_committing && s->cur.used + 1 > s->cur.cap / den * num) {
            /* Batch mode waits for a tick to commit; if cur fills first (no
             * ticks), commit now. */
            if ((rc = store__grow_commit(s)) != 0)
                return rc;
        }
    }
    bool hard = s->cur.used + 1 > s->cur.cap / STORE_HARD_LOAD_DEN * STORE_HARD_LOAD_NUM;
    bool full = !s->growing && s->cur.used + 1 > s->cur.cap / STORE_LOAD_DEN * STORE_LOAD_NUM;
    if (full && ext && !hard) {
        /* A prep job made the next table: start with no I/O, or wait for
         * the job (its end starts the doubling) up to the hard limit. */
        if (store__grow_ready(s, s->next.cap)) {
            s->grow_wanted = false;
            if ((rc = store__grow_start(s)) != 0)
                s->grow_wanted = true;
        } else {
            s->grow_wanted = true;
        }
    } else if (full && s->cfg.sync == STORE_SYNC_BATCH && !hard) {
        /* sync=batch: starting a doubling fsyncs the new file and the
         * directory, which on ext4 (data=ordered) flushes every dirty page
         * first. Leave it to the next tick, right after its group commit,
         * when little is dirty; writes continue into this table meanwhile. */
        s->grow_wanted = true;
    } else if (!s->growing && s->cur.used + 1 > s->cur.cap / STORE_LOAD_DEN * STORE_LOAD_NUM &&
               s->st.puts + s->st.dels + s->st.merges >= s->grow_retry_after) {
        s->grow_wanted = false;
        rc = store__grow_start(s);
        if (rc != 0) {
            /* Out of disk for the new table: keep using this one up to the
             * hard limit, retry the doubling after another 1024 writes. */
            s->grow_retry_after = s->st.puts + s->st.dels + s->st.merges + 1024;
            if (rc == GKV_ENOSPC)
                s->st.full_refused++;
            if (s->cur.used + 1 > s->cur.cap / STORE_HARD_LOAD_DEN * STORE_HARD_LOAD_NUM)
                return rc;
        }
    }
    if (s->growing && !s->mig_committing &&
        s->cur.used + 1 > s->cur.cap / STORE_HARD_LOAD_DEN * STORE_HARD_LOAD_NUM) {
        /* Cannot happen with the step sizes above; finish synchronously. */
        while (s->growing && !s->mig_committing)
            if ((rc = store__grow_step(s, s->old.cap)) != 0)
                return rc;
        if ((rc = store__grow_commit(s)) != 0)
            return rc;
    }
    if ((s->cfg.sync == STORE_SYNC_BATCH || s->wal.fd >= 0) &&
        s->heap.pending_bytes > pending_max_bytes(s))
        return store__do_sync(s);
    /* A caller that never ticks still gets a checkpoint before the log
     * reaches twice its limit (external_batch_sync callers checkpoint
     * through their jobs; the pending-frees limit above backs them up). */
    if (s->wal.fd >= 0 && !s->sync_job && s->wal.end >= 2 * store__wal_ckpt_bytes(s) &&
        !(s->cfg.sync == STORE_SYNC_BATCH && s->cfg.external_batch_sync))
        return store__do_sync(s);
    return 0;
}

/* ------------------------------------------------------------- writes */

/* What the write path stores: the new version of one key. */
struct version {
    uint64_t hash;
    uint64_t fh; /* the read cache's hash of the key (store__rc_start_write) */
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *value;
    uint32_t value_len;
    uint64_t hlc, origin;
    uint64_t expire_ms; /* 0 = none (always 0 for a tombstone) */
    bool tomb;
    bool counter; /* value is a counter state (ENTRY_COUNTER) */
    const struct vclock *vc;
};

/* The flags a version's record and entry carry. */
static inline uint8_t version_flags(const struct version *v)
{
    return (uint8_t)((v->tomb ? ENTRY_TOMBSTONE : 0) | (v->counter ? ENTRY_COUNTER : 0));
}

/* Copy key/value into the scratch buffer if they point into our heap (an
 * entry from store_get fed back to store_merge): the allocation below may
 * remap the heap, or reuse the block they live in. */
static int version_detach(struct store *s, struct version *v)
{
    if (!store__in_heap(s, v->key) && !store__in_heap(s, v->value))
        return 0;
    size_t need = (size_t)v->key_len + v->value_len;
    if (need > s->scratch_bytes) {
        uint8_t *n = realloc(s->scratch, need);
        if (!n)
            return GKV_ENOMEM;
        s->scratch = n;
        s->scratch_bytes = need;
    }
    memcpy(s->scratch, v->key, v->key_len);
    if (v->value_len)
        memcpy(s->scratch + v->key_len, v->value, v->value_len);
    v->key = s->scratch;
    v->value = v->value_len ? s->scratch + v->key_len : NULL;
    return 0;
}

/* Release a superseded record's block: at once, after the next sync
 * (defer), or, while a sync=batch doubling leaves old-table slots on disk
 * that may name it (store__kill_old), after the doubling's commit. */
static void free_record(struct store *s, uint64_t off, uint64_t bytes, bool defer)
{
    if (store__kills_in_index(s))
        store__heap_hold(&s->heap, off, bytes);
    else
        store__heap_free(&s->heap, off, bytes, defer);
}

/* The version a write replaces (all zero when the key was absent). */
struct old_version {
    uint64_t off, bytes, vhash;
    uint64_t dead; /* store__slot_dead_since: in the digest or retired (T1) */
    bool tomb;
    bool expires; /* a value with an expiry */
    /* With a log, a record written since the last checkpoint (the slot's
     * epoch is the current one) is neither a durable fallback (prev_off is
     * older) nor being made durable by a checkpoint job: its block is
     * reusable at once. A power loss that leaves the slot naming it while
     * the block holds something else falls back to prev_off, and the log
     * brings the key forward (I12). Only the checkpoint's record waits.
     * Reusing the hot block, as sync=none does, spares a cache miss and a
     * fresh page per overwrite (client_bench). */
    bool fresh;
};

/* (2) of I2: the whole record of v into the block at off, with its version
 * hash and checksum, before any slot names it. *e describes the record
 * (without its vector clock: entry_version_hash covers key, hlc, origin,
 * flags, value). */
static inline struct fmt_record *record_write(struct store *s, const struct version *v,
                                              uint64_t off, struct entry *e)
{
    struct fmt_record *r = store__rec(&s->heap, off);
    r->magic = FMT_RECORD_MAGIC;
    r->key_len = (uint16_t)v->key_len;
    r->flags = (uint8_t)(version_flags(v) | (v->expire_ms ? FMT_REC_EXPIRES : 0u));
    r->vc_n = (uint8_t)v->vc->n;
    r->value_len = v->value_len;
    r->reserved = 0;
    r->hlc = v->hlc;
    r->origin = v->origin;
    uint8_t *p = (uint8_t *)(r + 1);
    memcpy(p, v->vc->items, 16u * v->vc->n);
    p += 16u * v->vc->n;
    memcpy(p, v->key, v->key_len);
    if (v->value_len)
        memcpy(p + v->key_len, v->value, v->value_len);
    if (v->expire_ms)
        memcpy(p + v->key_len + v->value_len, &v->expire_ms, 8u); /* LE, unaligned */
    *e = (struct entry){.key = p,
                        .key_len = v->key_len,
                        .value = v->value_len ? p + v->key_len : NULL,
                        .value_len = v->value_len,
                        .hlc = v->hlc,
                        .origin = v->origin,
                        .flags = version_flags(v),
                        .expire_ms = v->expire_ms};
    e->vc.n = 0;
    r->vhash = entry_version_hash(e);
    r->checksum = store__record_checksum(r, off);
    return r;
}

/* The slot image naming the record at off, and (key present at l) what it
 * replaces. I3: prev_off keeps the durable fallback while the slot was
 * already written in this (unsynced) epoch; otherwise the current record
 * is it. 0, or GKV_ENOMEM when a pin cannot be recorded (nothing changed). */
static inline int slot_image(struct store *s, const struct version *v, const struct store_loc *l,
                             bool wal, uint64_t off, struct fmt_slot *img, struct old_version *old)
{
    *img = (struct fmt_slot){0};
    img->hash = v->hash;
    img->hlc = v->hlc;
    img->origin = v->origin;
    img->rec_off = off;
    img->value_len = v->value_len;
    img->epoch = (uint32_t)s->epoch;
    img->key_len = (uint16_t)v->key_len;
    img->state = v->tomb ? FMT_SLOT_TOMB : FMT_SLOT_VALUE;
    img->vc_n = (uint8_t)v->vc->n;
    *old = (struct old_version){0};
    if (!l->t) {
        img->bucket = (uint16_t)entry_bucket(v->key, v->key_len, STORE_BUCKET_BITS);
        return 0;
    }
    const struct fmt_slot *o = &l->t->slots[l->idx];
    const struct fmt_record *orec = store__rec(&s->heap, o->rec_off);
    old->off = o->rec_off;
    old->bytes = store__record_bytes(orec);
    old->vhash = orec->vhash;
    old->tomb = o->state == FMT_SLOT_TOMB;
    old->expires = (orec->flags & FMT_REC_EXPIRES) != 0;
    old->dead = store__slot_dead_since(s, o);
    old->fresh = wal && o->epoch == (uint32_t)s->epoch;
    img->bucket = o->bucket;
    img->prev_off = o->epoch == (uint32_t)s->epoch ? o->prev_off : o->rec_off;
    if (o->epoch != (uint32_t)s->epoch && s->sync_job && s->sync_job->tables &&
        !s->sync_job->covered && o->epoch == (uint32_t)s->sync_job->epoch) {
        /* The slot was last written in the epoch a background job is
         * making durable right now: its record is not a durable
         * fallback yet, its prev_off still is. Keep that, and pin its
         * block so the job's end does not release it (it was freed in
         * that epoch, so the job captured it). */
        img->prev_off = o->prev_off;
        if (store__offvec_push(&s->sync_pins, o->prev_off) != 0)
            return GKV_ENOMEM;
    }
    return 0;
}

/* (3) of I2: img into cur, over the key's slot there, or (new to cur:
 * absent, or still in the old table: I5, cur first) at its insertion
 * point, and then the old table's copy dies. */
static inline int slot_place(struct store *s, const struct store_loc *l, struct fmt_slot *img,
                             bool always)
{
    if (l->t == &s->cur)
        return store__slot_put(&s->cur, (uint64_t)l->idx, img, always);
    /* From the index if there is one: the slot's line may still be on
     * its way (store__find prefetched it). */
    uint8_t prior = s->cur.ix ? (uint8_t)(s->cur.ix[l->ins] & 3u) : s->cur.slots[l->ins].state;
    int rc = store__slot_put(&s->cur, l->ins, img, always);
    if (rc == 0) {
        if (prior == FMT_SLOT_DEAD)
            s->cur.dead--;
        else
            s->cur.used++;
    }
    if (rc == 0 && l->t)
        rc = store__kill_old(s, (uint64_t)l->idx, always);
    return rc;
}

/* (4) of I2, once the slot names the new record (vhash): the old block,
 * and the in-memory derived state (I10). */
static inline void derived_update(struct store *s, const struct version *v, uint16_t bucket,
                                  uint64_t vhash, const struct old_version *old, bool existed,
                                  bool defer_old)
{
    uint64_t *bh = &s->buckets[bucket];
    if (existed) {
        free_record(s, old->off, old->bytes, defer_old);
        if (store__in_digest(s, old->dead)) /* T1 (tombix.c) */
            *bh ^= old->vhash;
        else
            s->tix.retired--;
        if (old->tomb)
            s->tombstones--;
        else
            s->entries--;
        s->expiring -= old->expires;
    }
    /* entry_dead_since_hlc: a tombstone since its HLC, a value with an
     * expiry since the ms after it */
    uint64_t dead = v->tomb ? v->hlc
                    : v->expire_ms && v->expire_ms < (UINT64_C(1) << 48) - 1
                        ? HLC_MAKE(v->expire_ms + 1, 0)
                        : UINT64_MAX;
    if (store__in_digest(s, dead))
        *bh ^= vhash;
    else
        s->tix.retired++;
    /* T2: the age index, unless this rewrites the same tombstone */
    if (dead != UINT64_MAX && !(existed && old->dead == dead))
        store__tix_push(s, v->hash, dead);
    if (v->tomb)
        s->tombstones++;
    else
        s->entries++;
    s->expiring += v->expire_ms != 0;
    s->dirty = true;
}

/* Write version v of a key located at l (I2, I3, I5). */
static int write_version(struct store *s, struct version *v, const struct store_loc *l)
{
    int rc = version_detach(s, v);
    if (rc != 0)
        return rc;
    /* always: write through the mapping (msync per write) only without a
     * log; with one, the log record is what sync=always makes durable, and
     * frees wait for the next checkpoint (I12). */
    bool wal = store__wal_on(s);
    bool always = s->cfg.sync == STORE_SYNC_ALWAYS && !wal;
    bool defer = s->cfg.sync == STORE_SYNC_BATCH || wal;
    bool existed = l->t != NULL;
    if (!existed && s->cfg.max_entries && s->entries + s->tombstones >= s->cfg.max_entries) {
        s->st.full_refused++;
        return GKV_EFULL;
    }
    if (l->t != &s->cur && l->ins == UINT64_MAX) {
        /* no free slot on the chain in cur (cannot happen below the hard
         * load limit, which maintain enforces) */
        s->st.full_refused++;
        return GKV_EFULL;
    }
    uint64_t bytes = FMT_RECORD_BYTES(v->expire_ms ? FMT_REC_EXPIRES : 0u, v->vc->n, v->key_len,
                                      v->value_len);
    uint64_t off;
    if ((rc = store__heap_alloc(&s->heap, bytes, &off)) != 0) {
        if (rc == GKV_ENOSPC)
            s->st.full_refused++;
        return rc;
    }
    struct entry e;
    struct fmt_record *r = record_write(s, v, off, &e);
    if (always && s->dirfd >= 0) {
        /* A data sync of the range also makes a size change durable. */
        if ((rc = store__msync_range(&s->io, s->heap.map, off, bytes)) != 0)
            goto undo;
        s->durable_values_bytes = s->heap.file_bytes;
    }
    struct fmt_slot img;
    struct old_version old;
    if ((rc = slot_image(s, v, l, wal, off, &img, &old)) != 0)
        goto undo;
    rc = slot_place(s, l, &img, always);
    if (!existed)
        store__bix_add(s, img.bucket, v->hash); /* B1 (bucketix.c); the slot is written */
    if (rc != 0) {
        /* msync failed after the slot changed: the data is in the page
         * cache and the slot names it; report the I/O error, keep the
         * memory state true. */
        store__rc_clear(s, v->fh);
        derived_update(s, v, img.bucket, r->vhash, &old, existed, defer);
        return rc;
    }
    /* The read cache names the new record before the old block can be
     * reused. */
    store__rc_set(s, v->fh, off);
    derived_update(s, v, img.bucket, r->vhash, &old, existed, defer && !old.fresh);
    if (always)
        s->epoch++; /* the write is durable: it is the fallback from now on */
    if (s->wal.fd >= 0) {
        /* I12: the full version into the log (sync=always: durable now). */
        e.vc = *v->vc;
        if ((rc = store__wal_log(s, WAL_REC_VERSION, &e)) != 0)
            return rc;
    }
    return 0;
undo:
    store__heap_free(&s->heap, off, bytes, false);
    return rc;
}

/* Room for a counter state of bytes in s->ctr_buf. */
static int ctr_reserve(struct store *s, size_t bytes)
{
    if (bytes <= s->ctr_bytes)
        return 0;
    uint8_t *n = realloc(s->ctr_buf, bytes);
    if (!n)
        return GKV_ENOMEM;
    s->ctr_buf = n;
    s->ctr_bytes = bytes;
    return 0;
}

/* An INCRBY for local_write (NULL for SET and DEL). */
struct ctr_op {
    long long delta;
    long long result;
    bool rebased; /* the increment became a register write */
};

/* The new state of a key whose current version (cur; NULL when absent) is
 * a counter, or that an INCRBY (op) writes: counter.h builds it into
 * s->ctr_buf and v takes it. */
static int counter_version(struct store *s, const struct entry *cur, struct ctr_op *op,
                           struct version *v)
{
    size_t reg = op ? 24 : v->value_len;
    int rc = ctr_reserve(s, counter_bound(cur, NULL, reg));
    if (rc != 0)
        return rc;
    struct entry out, reset;
    uint8_t *tmp = NULL;
    if (op && cur && entry_is_expired(cur, HLC_MS(v->hlc))) {
        /* An expired key counts from 0 again, as in Redis: first a DEL
         * that observes every item (in its own buffer: counter_add reads
         * it while writing s->ctr_buf). */
        size_t cap = counter_bound(cur, NULL, 0);
        if (!(tmp = malloc(cap)))
            return GKV_ENOMEM;
        rc = counter_set(cur, v->key, v->key_len, NULL, 0, true, v->hlc, v->origin, tmp, cap,
                         &reset);
        cur = &reset;
        reset.expire_ms = 0;
    }
    if (op) {
        if (rc == 0)
            rc = counter_add(cur, v->key, v->key_len, op->delta, v->hlc, v->origin, s->ctr_buf,
                             s->ctr_bytes, &out, &op->result, &op->rebased);
        /* INCR keeps the key's expiry, as Redis does. */
        v->expire_ms = cur ? cur->expire_ms : 0;
        free(tmp);
    } else
        rc = counter_set(cur, v->key, v->key_len, v->value, v->value_len, v->tomb, v->hlc,
                         v->origin, s->ctr_buf, s->ctr_bytes, &out);
    if (rc != 0)
        return rc;
    v->value = out.value;
    v->value_len = out.value_len;
    v->tomb = entry_is_tombstone(&out);
    v->counter = entry_is_counter(&out);
    return 0;
}

static int local_write(struct store *s, const void *key, size_t key_len, const void *value,
                       size_t value_len, bool tomb, uint64_t expire_ms, struct ctr_op *op,
                       uint64_t now_ms,
                       struct entry *out, bool *existed)
{
    int rc;
    if (s->cfg.read_only)
        return GKV_EPERM;
    if ((rc = store__check_key(key, key_len)) != 0)
        return rc;
    if (expire_ms > ENTRY_EXPIRE_MAX_MS)
        return GKV_EINVAL;
    if (!tomb && value_len > s->cfg.max_value_bytes)
        return GKV_EVALSIZE;
    if (!tomb && value_len > 0 && !value)
        return GKV_EINVAL;
    if ((rc = maintain(s)) != 0)
        return rc;
    struct version v = {.fh = store__rc_start_write(s, key, key_len),
                        .hash = store__key_hash(s, key, key_len),
                        .key = key,
                        .key_len = (uint32_t)key_len,
                        .value = tomb ? NULL : value,
                        .value_len = tomb ? 0 : (uint32_t)value_len,
                        .origin = s->hdr.node_id,
                        .expire_ms = tomb ? 0 : expire_ms,
                        .tomb = tomb};
    struct store_loc l;
    store__locate(s, v.hash, key, v.key_len, &l);
    struct vclock vc;
    bool cur_counter = false;
    struct entry cur;
    if (l.t) {
        const struct fmt_slot *sl = &l.t->slots[l.idx];
        const struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
        vc.n = sl->vc_n;
        memcpy(vc.items, r + 1, 16u * sl->vc_n);
        if (existed)
            *existed = sl->state == FMT_SLOT_VALUE;
        cur_counter = (r->flags & ENTRY_COUNTER) != 0;
        if (cur_counter || op)
            store__entry_from_slot(s, sl, &cur);
    } else {
        vclock_clear(&vc);
        if (existed)
            *existed = false;
    }
    vclock_increment(&vc, s->hdr.node_id);
    v.vc = &vc;
    v.hlc = hlc_now(&s->hlc, now_ms);
    if ((rc = store__hlc_guard_logged(s)) != 0)
        return rc;
    if (cur_counter || op) {
        if ((rc = counter_version(s, l.t ? &cur : NULL, op, &v)) != 0)
            return rc;
        /* The state is the value every node stores and gossips: it keeps
         * to the value limit like any value (docs/COMMANDS.md). */
        if (v.value_len > s->cfg.max_value_bytes)
            return GKV_EVALSIZE;
    }
    if ((rc = write_version(s, &v, &l)) != 0)
        return rc;
    if (out) {
        store__locate(s, v.hash, key, v.key_len, &l);
        store__entry_from_slot(s, &l.t->slots[l.idx], out);
    }
    return 0;
}

int store_put(struct store *s, const void *key, size_t key_len, const void *value, size_t value_len,
              uint64_t now_ms, struct entry *out)
{
    return store_put_expire(s, key, key_len, value, value_len, 0, now_ms, out);
}

int store_put_expire(struct store *s, const void *key, size_t key_len, const void *value,
                     size_t value_len, uint64_t expire_ms, uint64_t now_ms, struct entry *out)
{
    int rc = local_write(s, key, key_len, value, value_len, false, expire_ms, NULL, now_ms, out,
                         NULL);
    if (rc == 0)
        s->st.puts++;
    return rc;
}

int store_incrby(struct store *s, const void *key, size_t key_len, long long delta,
                 uint64_t now_ms, long long *result, struct entry *out)
{
    struct ctr_op op = {.delta = delta};
    int rc = local_write(s, key, key_len, NULL, 0, false, 0, &op, now_ms, out, NULL);
    if (rc == 0) {
        s->st.puts++;
        s->st.incrs++;
        if (op.rebased)
            s->st.counter_rebases++;
        if (result)
            *result = op.result;
    }
    return rc;
}

int store_del(struct store *s, const void *key, size_t key_len, uint64_t now_ms, struct entry *out,
              bool *existed)
{
    int rc = local_write(s, key, key_len, NULL, 0, true, 0, NULL, now_ms, out, existed);
    if (rc == 0)
        s->st.dels++;
    return rc;
}

/* An incoming counter's state must decode, and read as absent exactly when
 * it is flagged a tombstone. */
static int counter_check(const struct entry *in)
{
    struct counter_view cv;
    if (counter_decode(in->value, in->value_len, &cv) != 0)
        return GKV_EINVAL;
    struct counter_read r;
    counter_read(&cv, &r);
    if ((r.kind == COUNTER_READ_ABSENT) != entry_is_tombstone(in))
        return GKV_EINVAL;
    return 0;
}

/* v becomes the join of local and in (MERGE_JOIN), built in s->ctr_buf. */
static int counter_join_version(struct store *s, const struct entry *local,
                                const struct entry *in, struct version *v)
{
    int rc = ctr_reserve(s, counter_bound(local, in, 0));
    if (rc != 0)
        return rc;
    struct entry j;
    if ((rc = counter_join(local, in, s->ctr_buf, s->ctr_bytes, &j)) != 0) {
        if (rc == GKV_ELIMIT)
            s->st.counter_joins_refused++;
        return rc;
    }
    s->st.counter_joins++;
    v->value = j.value;
    v->value_len = j.value_len;
    v->expire_ms = j.expire_ms;
    v->hlc = j.hlc;
    v->origin = j.origin;
    v->tomb = entry_is_tombstone(&j);
    v->counter = entry_is_counter(&j);
    return 0;
}

/* store_merge; replay (a log record at recovery) skips the clock check
 * (the record was accepted once) and the value limit (the store may have
 * been reopened with a smaller one), and only raises the HLC floor. */
static int merge_entry(struct store *s, const struct entry *in, uint64_t now_ms, bool *taken,
                       bool replay)
{
    int rc;
    if (taken)
        *taken = false;
    if (s->cfg.read_only)
        return GKV_EPERM;
    if (!in)
        return GKV_EINVAL;
    if ((rc = store__check_key(in->key, in->key_len)) != 0)
        return rc;
    bool tomb = entry_is_tombstone(in);
    bool ctr = entry_is_counter(in);
    if ((in->flags & ~ENTRY_FLAGS_ALL) != 0 || (tomb && !ctr && in->value_len != 0) ||
        (in->value_len > 0 && !in->value) || !vclock_valid(&in->vc) ||
        (tomb && in->expire_ms != 0) || in->expire_ms > ENTRY_EXPIRE_MAX_MS)
        return GKV_EINVAL;
    if (ctr && (rc = counter_check(in)) != 0)
        return rc;
    if (replay) {
        if (in->hlc > s->hlc.last)
            s->hlc.last = in->hlc;
    } else {
        if (in->value_len > s->cfg.max_value_bytes)
            return GKV_EVALSIZE;
        /* Never re-accept what this node purges or would purge (retired,
         * T1 of tombix.c): a peer that has not moved its cutoff yet would
         * otherwise bring back what we purged, forever (issue 25). */
        uint64_t cut = entry_purge_cutoff_hlc(now_ms, s->cfg.tombstone_grace_ms);
        if (entry_purgeable_at(in, cut > s->tix.cutoff ? cut : s->tix.cutoff)) {
            s->st.tombstones_dropped++;
            return 0;
        }
        if (hlc_observe(&s->hlc, in->hlc, now_ms) != 0) {
            s->st.clock_refused++;
            return GKV_ECLOCK;
        }
        if ((rc = store__hlc_guard_logged(s)) != 0)
            return rc;
    }
    if ((rc = maintain(s)) != 0)
        return rc;
    uint64_t fh = store__rc_start_write(s, in->key, in->key_len);
    uint64_t hash = store__key_hash(s, in->key, in->key_len);
    struct store_loc l;
    store__locate(s, hash, in->key, in->key_len, &l);
    struct version v = {.fh = fh,
                        .hash = hash,
                        .key = in->key,
                        .key_len = in->key_len,
                        .value = in->value,
                        .value_len = in->value_len,
                        .hlc = in->hlc,
                        .origin = in->origin,
                        .expire_ms = in->expire_ms,
                        .tomb = tomb,
                        .counter = ctr,
                        .vc = &in->vc};
    bool take = true;
    struct vclock merged;
    if (l.t) {
        struct entry local;
        store__entry_from_slot(s, &l.t->slots[l.idx], &local);
        bool conflict = false;
        enum merge_result mr = entry_merge(&local, in, &conflict);
        take = mr != MERGE_KEEP_LOCAL;
        if (conflict)
            s->st.dominance_conflicts++;
        merged = local.vc;
        vclock_merge(&merged, &in->vc);
        if (mr == MERGE_JOIN && (rc = counter_join_version(s, &local, in, &v)) != 0)
            return rc;
        if (!take) {
            s->st.merges++;
            /* Same data; rewrite only if the clock learned something. */
            if (vclock_compare(&merged, &local.vc) == VCLOCK_EQUAL)
                return 0;
            v.key = local.key;
            v.value = local.value;
            v.value_len = local.value_len;
            v.hlc = local.hlc;
            v.origin = local.origin;
            v.expire_ms = local.expire_ms;
            v.tomb = entry_is_tombstone(&local);
            v.counter = entry_is_counter(&local);
        }
        v.vc = &merged;
    }
    if ((rc = write_version(s, &v, &l)) != 0)
        return rc;
    if (take) {
        s->st.merges++;
        s->st.merges_taken++;
        if (taken)
            *taken = true;
    }
    return 0;
}

int store_merge(struct store *s, const struct entry *in, uint64_t now_ms, bool *taken)
{
    return merge_entry(s, in, now_ms, taken, false);
}

/* Turn the tombstone in slot i of t into DEAD (I1) and release its record;
 * with a log, a PURGE record first (I12: a replay must remove it again
 * after replaying the writes that made it). */
static int purge_slot(struct store *s, struct store_table *t, uint64_t i)
{
    bool wal = store__wal_on(s);
    bool always = s->cfg.sync == STORE_SYNC_ALWAYS && !wal;
    bool defer = s->cfg.sync == STORE_SYNC_BATCH || wal;
    struct fmt_slot *sl = &t->slots[i];
    uint64_t off = sl->rec_off;
    uint16_t b = sl->bucket;
    bool in_digest = store__in_digest(s, store__slot_dead_since(s, sl));
    bool value = sl->state == FMT_SLOT_VALUE; /* an expired value (store__slot_dead_since) */
    const struct fmt_record *r = store__rec(&s->heap, off);
    uint64_t bytes = store__record_bytes(r);
    uint64_t vh = r->vhash;
    int lrc = 0;
    if (s->wal.fd >= 0) {
        struct entry e = {
            .key = (const uint8_t *)(r + 1) + 16u * r->vc_n, .key_len = r->key_len, .hlc = sl->hlc};
        lrc = wal_append(&s->wal, WAL_REC_PURGE, &e);
    }
    if (s->rc.e)
        store__rc_clear(s, store__rc_hash(s, (const uint8_t *)(r + 1) + 16u * r->vc_n, r->key_len));
    struct fmt_slot dead = {0};
    dead.state = FMT_SLOT_DEAD; /* I1: DEAD, never EMPTY */
    int rc = store__slot_put(t, i, &dead, always);
    store__bix_remove(s, b); /* B2 (bucketix.c) */
    if (in_digest) /* T1 (tombix.c) */
        s->buckets[b] ^= vh;
    else
        s->tix.retired--;
    if (value) {
        s->entries--;
        s->expiring--;
        s->st.expired_purged++;
    } else {
        s->tombstones--;
    }
    t->dead++;
    free_record(s, off, bytes, defer);
    s->dirty = true;
    return rc ? rc : lrc;
}

int store_purge_tombstones(struct store *s, uint64_t now_ms, uint64_t safe_below_hlc,
                           uint32_t max_slots, uint64_t *purged)
{
    if (purged)
        *purged = 0;
    if (s->cfg.read_only)
        return GKV_EPERM;
    store__tix_maintain(s);
    uint64_t target = entry_purge_cutoff_hlc(now_ms, s->cfg.tombstone_grace_ms);
    /* Not while a doubling leaves old-table copies on disk: purged here, a
     * key's stale copy there would be what a power loss leaves (I5). The
     * purge resumes after the commit; retiring (bucket hashes only) goes
     * on. */
    bool may_purge = !store__kills_in_index(s);
    uint64_t n = 0, budget = 4ull * max_slots;
    int rc = 0;
    struct store_table *t;
    uint64_t i;
    struct store_tix_item it;
    /* T3: tombstones crossing the cutoff. One already below the safe bound
     * is purged at once (out of its bucket hash with its slot), saving the
     * retired heap a push, a pop and a lookup. */
    if (target > store_purge_cutoff_hlc(s)) {
        /* once max_slots are purged, the rest waits for the next call */
        while (budget-- && n < max_slots && store__tix_next_crossing(s, target, &t, &i, &it) == 1) {
            if (may_purge && it.dead < safe_below_hlc && t == &s->cur) {
                if ((rc = purge_slot(s, t, i)) != 0)
                    break;
                n++;
            } else {
                store__tix_retire(s, t, i, &it);
            }
        }
        store__tix_set_cutoff(s, target);
    }
    uint64_t limit = store_purge_cutoff_hlc(s);
    if (safe_below_hlc < limit)
        limit = safe_below_hlc;
    while (rc == 0 && may_purge && n < max_slots && store__tix_pop_due(s, limit, &t, &i) == 1) {
        rc = purge_slot(s, t, i);
        n++;
    }
    /* sync=always with a log: one fdatasync for the whole batch. */
    if (rc == 0 && n && s->wal.fd >= 0 && s->cfg.sync == STORE_SYNC_ALWAYS) {
        unsigned pc = store__io_cause_enter(&s->io, STORE_IO_FSYNC_ALWAYS);
        rc = wal_sync(&s->wal);
        store__io_cause_leave(&s->io, pc);
    }
    s->st.tombstones_purged += n;
    if (purged)
        *purged = n;
    return rc;
}

/* Replay one log record (recovery, I12). */
int store__replay_apply(void *arg, uint8_t type, const struct entry *e)
{
    struct store *s = arg;
    switch (type) {
    case WAL_REC_VERSION: {
        int rc = merge_entry(s, e, 0, NULL, true);
        /* A record the store cannot hold any more (max_entries lowered,
         * disk full) is an error the open reports, not a silent drop. */
        return rc;
    }
    case WAL_REC_PURGE: {
        uint64_t hash = store__key_hash(s, e->key, e->key_len);
        struct store_loc l;
        store__locate(s, hash, e->key, e->key_len, &l);
        /* a tombstone, or a value whose expiry made it one */
        if (l.t && store__slot_dead_since(s, &l.t->slots[l.idx]) != UINT64_MAX &&
            l.t->slots[l.idx].hlc <= e->hlc)
            return purge_slot(s, l.t, (uint64_t)l.idx);
        return 0;
    }
    case WAL_REC_HLC:
        if (e->hlc > s->hlc.last)
            s->hlc.last = e->hlc;
        return 0;
    default:
        return 0;
    }
}
