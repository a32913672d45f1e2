/*
 * store.c: the public API of the mmap'd LWW table and its write path.
 *
 * Design notes (read with docs/FILE_FORMAT.md, which draws every layout).
 *
 * A data directory holds header.gkv (two header copies), one or two slot
 * tables table.<gen>.gkv (open addressing, linear probing, 64-byte slots,
 * power-of-two capacity, keyed SipHash placement) and values.gkv (a heap of
 * self-describing records: vector clock, key, value). Everything is mmap'd
 * MAP_SHARED, so a process crash (SIGKILL) loses nothing that was stored to
 * memory; the sync mode decides what survives a power loss.
 *
 * Crash-safety invariants. Each code path that writes says which it keeps.
 *
 * I1  Slots. An all-zero slot is EMPTY and ends a probe chain. Every other
 *     state (VALUE, TOMB, DEAD) continues it. No write ever turns a non-empty
 *     slot back into EMPTY, so a chain can only be broken by a doubling,
 *     which builds a fresh table. Deleting (purge) or dropping a torn slot
 *     writes DEAD. Each slot carries a checksum seeded with (table gen,
 *     index), so a torn or misdirected slot write is detected.
 *
 * I2  Records are never modified in place. A write (1) allocates a block,
 *     (2) writes the whole record with its checksum [sync=always: msync],
 *     (3) writes the 64-byte slot image [sync=always: msync], (4) frees the
 *     old block. At every instant the slot's rec_off, old or new, names a
 *     whole record, and records are self-describing, so a slot torn by a
 *     crash in (3) is rebuilt from the record it names (recover.c).
 *
 * I3  prev_off names the last record of the slot that a completed sync made
 *     durable (kept across writes within one sync epoch). Blocks freed in
 *     sync=batch wait on a pending list and become reusable only after the
 *     next sync, so prev_off's record is intact until its successor is
 *     durable. After a power loss, a slot whose record did not reach the disk
 *     falls back to prev_off (sync=batch loses at most the writes since the
 *     last group commit, as promised).
 *
 * I4  A key lives in at most one slot of one table, except transiently
 *     inside one migration step or one write during growth (I5, I7).
 *
 * I5  While the table doubles, every write goes to the new table (cur). A
 *     write of a key still in the old table inserts it into cur first and
 *     only then marks the old slot DEAD. Migration copies a slot into cur,
 *     then marks the original DEAD. So if a key is in both tables, the cur
 *     version is at least as new. In sync=batch the DEAD mark is made in
 *     the index only (store__kill_old): writeback order is the kernel's, and
 *     a DEAD slot on disk without cur's copy would lose a key written before
 *     the last checkpoint. Blocks freed meanwhile are held until the commit
 *     and tombstones are not purged, so the leftover slots stay harmless.
 *
 * I6  header.gkv names the live table(s). A new table file is whole
 *     (fallocated, prologue written, fsynced, directory fsynced) before a
 *     header write names it; the header stops naming the old table only after
 *     everything migrated is as durable as the sync mode promises; the old
 *     file is unlinked only after that header write is durable. A table file
 *     the header does not name is a leftover and is deleted on open.
 *
 * I7  Recovery removes the old-table copy of any key present in both tables
 *     (cur wins, I5) and resumes the migration from position 0 (migrated
 *     positions are DEAD or EMPTY, so the restart costs a scan, no copies).
 *
 * I8  The header's hlc_bound is at least every HLC the store has issued. It
 *     is written ahead of the clock (a 200 ms lease, header.c), so it costs a
 *     header write a few times a second, not per put. On open the clock
 *     starts at max(hlc_bound, the largest HLC in any slot): a restart never
 *     issues an HLC at or below one issued before.
 *
 * I9  The two header copies are written A then B (header.c): one is always
 *     whole.
 *
 * I10 Entry counts, per-table usage, the anti-entropy bucket hashes and the
 *     heap free lists live in memory only and are rebuilt from the verified
 *     slots on every open, so they cannot disagree with the slots after a
 *     crash. (header.gkv's counts are advisory, for inspect.)
 *
 * I11 No mapped file is ever truncated or shrunk (SIGBUS). Tables are
 *     created at full size; values.gkv only grows, with posix_fallocate, so
 *     its new pages have real blocks and a page fault cannot SIGBUS on a full
 *     disk. A mapping is msynced before it is remapped. Nothing past EOF is
 *     ever touched.
 *
 * I12 Write-ahead log (wal.h; sync=batch/always with a directory). Every
 *     state change is appended to log.<gen>.gkv after it is applied to the
 *     mapping; a group commit (sync=batch) or every write (sync=always)
 *     makes the log durable. The mapped files are msynced only at a
 *     checkpoint (store_do_sync), which then starts log.<gen+1> and only
 *     after that removes log.<gen>. So the epoch of I3 and the release of
 *     deferred frees follow checkpoints: a record durable at the last
 *     checkpoint keeps its block until the next one, and a slot torn by a
 *     power loss falls back to it; the log (replayed on open through the
 *     merge rule, idempotent) brings it forward again.
 *
 * Performance shape: one SipHash of the key per op (in line, checksum.c); a
 * file-backed store probes a 4-byte-per-slot lookup index in memory (I10,
 * table.c) and reads the record only on a 4-bit hash match, so a get reads
 * one index word and one record and never the 64-byte slot (an anonymous
 * store probes the slots, whose 64-bit hash saves the record reads); a put
 * writes one record and one slot, with a checksum of each (tens of ns), on
 * pages made resident ahead by zero-filling (fileio.c); no malloc per op.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/store_int.h"

/* Positions of the old table migrated per write op and per store_tick. Per
 * write: 8 keeps the added put cost small, yet a doubling that starts at
 * 3/4 load ends after cap/8 writes, by when cur holds at most
 * 3/8 + 1/16 of its slots (store__grow_start). Per tick (about every 10 ms):
 * 4096 slots, about 100 us of work. */
#define STORE_GROW_STEP_WRITE 8u
#define STORE_GROW_STEP_TICK 4096u
/* Grow when a table's used slots (values, tombstones, dead) pass 3/4:
 * linear probing at load a costs about (1 + 1/(1-a)^2)/2 probes for a miss
 * (Knuth), 8.5 at 3/4; we are usually well below. */
#define STORE_LOAD_NUM 3u
#define STORE_LOAD_DEN 4u
/* Past 15/16 a write refuses rather than degrade probing to a crawl (only
 * reachable when growth cannot allocate its new file). */
#define STORE_HARD_LOAD_NUM 15u
#define STORE_HARD_LOAD_DEN 16u
/* Default table size for a new store (64 KiB of slots). */
#define STORE_DEFAULT_CAPACITY 1024u
#define STORE_MIN_CAPACITY 16u
/* In sync=batch, a write forces a group commit early when the pending
 * (not yet reusable) freed blocks exceed this, so a caller that never ticks
 * cannot grow the file without bound. 64 MiB. */
#define STORE_PENDING_MAX_BYTES (64ull << 20)
/* Tombstone grace when the config says 0: 24 h (Cassandra gc_grace is 10 days;
 * a day is enough for a node to come back or be replaced). */
#define STORE_TOMBSTONE_GRACE_DEFAULT_MS (24ull * 3600 * 1000)
#define STORE_BATCH_MS_DEFAULT 100u
/* Initial values.gkv size beyond its prologue page. */
#define STORE_VALUES_INITIAL_BYTES (256u * 1024u)
/* Anonymous stores reserve this much address space for the heap and remap
 * past it (a simulator holds thousands of stores in one process). */
#define STORE_ANON_RESERVE_BYTES (64ull << 20)

void store_config_init(struct store_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sync = STORE_SYNC_BATCH;
}

uint64_t store__key_hash(const struct store *s, const void *key, size_t key_len)
{
    /* crypto_shorthash(key, secret), computed in line (checksum.c says why). */
    uint64_t k0, k1;
    memcpy(&k0, s->secret, 8);
    memcpy(&k1, s->secret + 8, 8);
    return store__siphash24(key, key_len, k0, k1);
}

/* ------------------------------------------------------------- lookup */

struct loc {
    struct store_table *t; /* table holding the key, or NULL */
    int64_t idx;           /* its slot */
    uint64_t ins;          /* insertion point in cur if the key is new to cur */
};

/* Where key lives (l->t NULL when absent). With want_ins, also the first
 * free slot on its chain in the current table for a write (l->ins), and the
 * probe prefetches the slot the write will touch; reads pass false, so a
 * get costs no slot access at all. */
static void locate_for(struct store *s, uint64_t hash, const void *key, uint32_t key_len,
                       bool want_ins, struct loc *l)
{
    l->t = NULL;
    l->ins = UINT64_MAX;
    l->idx = store__find(s, &s->cur, hash, key, key_len, want_ins ? &l->ins : NULL);
    if (l->idx >= 0) {
        l->t = &s->cur;
        return;
    }
    /* Skip the old table when the key's chain there lies wholly in the
     * migrated part (see mig_empty_end): most lookups late in a doubling. */
    if (s->growing && !s->mig_committing && store__home(&s->old, hash) >= s->mig_empty_end) {
        int64_t j = store__find(s, &s->old, hash, key, key_len, NULL);
        if (j >= 0) {
            l->t = &s->old;
            l->idx = j;
        }
    }
}

static void locate(struct store *s, uint64_t hash, const void *key, uint32_t key_len, struct loc *l)
{
    locate_for(s, hash, key, key_len, true, l);
}

static bool in_heap(const struct store *s, const void *p)
{
    const uint8_t *b = p;
    return p && b >= s->heap.map && b < s->heap.map + s->heap.map_bytes;
}

/* --------------------------------------------------- write-ahead log */

/* Does this store log its writes (or is recovery replaying a log)? */
static bool wal_on(const struct store *s)
{
    return s->wal.fd >= 0 || s->replaying;
}

static uint64_t wal_ckpt_bytes(const struct store *s)
{
    return s->cfg.wal_checkpoint_bytes ? s->cfg.wal_checkpoint_bytes
                                       : WAL_CHECKPOINT_BYTES_DEFAULT;
}

/* Time for a checkpoint: the log passed its limit, a log write failed (its
 * tail is unknown: only the table can cover it), or the deferred frees
 * (reusable only after a checkpoint, I12) passed the same limit. Only a
 * slot's checkpoint-time record waits (write_version), at most one block
 * per key, so the frees rarely decide it; before that rule they did, at
 * half the backstop, twice as often as the log in client_bench. */
static bool wal_checkpoint_due(const struct store *s)
{
    return s->wal.fd >= 0 && (s->wal.end >= wal_ckpt_bytes(s) || s->wal.broken ||
                              s->heap.pending_bytes >= wal_ckpt_bytes(s));
}

/* Pending frees past this force a synchronous sync inside a write: the
 * backstop for callers that never sync. With a log, twice the checkpoint
 * threshold, so the background checkpoint normally comes first. */
static uint64_t pending_max_bytes(const struct store *s)
{
    uint64_t m = STORE_PENDING_MAX_BYTES;
    if (s->wal.fd >= 0 && 2 * wal_ckpt_bytes(s) > m)
        m = 2 * wal_ckpt_bytes(s);
    return m;
}

/* Append a record; sync=always makes it durable before returning. */
static int wal_log(struct store *s, uint8_t type, const struct entry *e)
{
    if (s->wal.fd < 0)
        return 0;
    int rc = wal_append(&s->wal, type, e);
    if (rc == 0 && s->cfg.sync == STORE_SYNC_ALWAYS)
        rc = wal_sync(&s->wal);
    return rc;
}

/* store__hlc_guard, plus a log record of each new lease: with a log the
 * header is msynced only at checkpoints, so the log carries I8. */
static int hlc_guard(struct store *s)
{
    uint64_t before = s->hdr.hlc_bound;
    int rc = store__hlc_guard(s);
    if (rc == 0 && s->hdr.hlc_bound != before && s->wal.fd >= 0) {
        struct entry e = {.hlc = s->hdr.hlc_bound};
        rc = wal_log(s, WAL_REC_HLC, &e);
    }
    return rc;
}

/* Start log.<gen+1>.gkv after a checkpoint made the mapped files durable,
 * then remove log.<gen> (the checkpoint hook runs in between: store.h). A
 * crash before the removal leaves both; replaying the old one again is
 * harmless (I12). */
static int wal_switch(struct store *s)
{
    uint64_t old = s->wal.gen;
    char err[STORE_ERR_BYTES];
    int rc = wal_open_new(&s->wal, s->dirfd, old + 1, err, sizeof err);
    if (rc != 0)
        return rc;
    /* The new file's name must be durable before anything in it is
     * acknowledged. */
    if ((rc = store__fsync_dir(s->dirfd)) != 0)
        return rc;
    if (s->cfg.checkpoint_hook)
        s->cfg.checkpoint_hook(s->cfg.checkpoint_hook_arg, s->dir);
    char name[64];
    wal_name(name, sizeof name, old);
    unlinkat(s->dirfd, name, 0);
    s->wal.st.checkpoints++;
    return 0;
}

/* --------------------------------------------------------- maintenance */

/* Release the frees a background job captured, except the pinned ones
 * (kept as some slot's prev_off by a write during the job, I3), which go
 * back to the pending list for the next sync. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void sync_release_job_frees(struct store *s, struct store_sync_job *job, bool honour_pins)
{
    struct store_heap *h = &s->heap;
    if (honour_pins && s->sync_pins.n > 1)
        qsort(s->sync_pins.v, s->sync_pins.n, sizeof *s->sync_pins.v, cmp_u64);
    struct store_offvec keep = h->pending;
    uint64_t keep_bytes = h->pending_bytes;
    struct store_offvec rel = {0};
    uint64_t rel_bytes = 0;
    for (size_t i = 0; i < job->frees.n; i++) {
        uint64_t x = job->frees.v[i];
        uint64_t cb = store__heap_class_bytes((uint32_t)(x & 0xff));
        uint64_t off = x >> 8;
        bool pinned = honour_pins && s->sync_pins.n &&
                      bsearch(&off, s->sync_pins.v, s->sync_pins.n, sizeof off, cmp_u64);
        if (pinned) {
            if (store__offvec_push(&keep, x) == 0)
                keep_bytes += cb;
            else
                h->free_bytes -= cb; /* leaked until the next open rebuilds */
        } else {
            /* reuse the job's vector in place: rel never outgrows it */
            job->frees.v[rel.n++] = x;
            rel_bytes += cb;
        }
    }
    rel.v = job->frees.v;
    rel.cap = job->frees.cap;
    /* store__heap_release_pending moves h->pending onto the free lists. */
    h->pending = rel;
    h->pending_bytes = rel_bytes;
    store__heap_release_pending(h);
    job->frees = h->pending; /* emptied, still owns the buffer */
    h->pending = keep;
    h->pending_bytes = keep_bytes;
    job->frees_bytes = 0;
    s->sync_pins.n = 0;
}

static int store_do_sync(struct store *s)
{
    int rc = 0;
    if (s->dirfd >= 0 && !s->cfg.read_only) {
        /* Records before slots before the header: a power loss mid-sync
         * leaves slots whose records are durable, or falls back (I3). */
        uint64_t vbytes = s->heap.file_bytes;
        if ((rc = store__msync_range(s->heap.map, 0, s->heap.top)) != 0)
            goto out;
        s->durable_values_bytes = vbytes;
        if ((rc = store__msync_range(s->cur.map, 0, s->cur.map_bytes)) != 0)
            goto out;
        if (s->growing && (rc = store__msync_range(s->old.map, 0, s->old.map_bytes)) != 0)
            goto out;
        if ((rc = store__msync_range(s->hmap, 0, FMT_HEADER_FILE_BYTES)) != 0)
            goto out;
    }
    s->epoch++;
    store__heap_release_pending(&s->heap);
    if (s->sync_job && !s->sync_job->covered) {
        /* Everything the background job covers is durable now, and every
         * slot's current record too: its frees (pins included) are free. */
        sync_release_job_frees(s, s->sync_job, false);
        s->sync_job->covered = true;
    }
    s->dirty = false;
    s->st.syncs++;
    if (s->wal.fd >= 0 && !s->cfg.read_only)
        rc = wal_switch(s); /* a checkpoint: the log starts afresh */
out:
    return rc;
}

bool store_sync_due(struct store *s, uint64_t now_ms)
{
    if (s->cfg.read_only || s->cfg.sync != STORE_SYNC_BATCH || s->sync_job)
        return false;
    if (now_ms < s->last_sync_ms)
        s->last_sync_ms = now_ms; /* the clock stepped back */
    if (now_ms - s->last_sync_ms < s->cfg.batch_ms && !s->grow_wanted)
        return false;
    s->last_sync_ms = now_ms;
    if (s->wal.fd >= 0)
        return wal_pending(&s->wal) || wal_checkpoint_due(s);
    return s->dirty || s->heap.pending.n;
}

int store_sync_begin(struct store *s, struct store_sync_job **out)
{
    *out = NULL;
    if (s->cfg.read_only)
        return GKV_EPERM;
    if (s->sync_job)
        return GKV_EAGAIN;
    struct store_sync_job *job = calloc(1, sizeof *job);
    if (!job)
        return GKV_ENOMEM;
    job->dirfd = -1;
    job->log.fd = -1;
    bool wal = s->wal.fd >= 0;
    job->tables = !wal || wal_checkpoint_due(s);
    if (wal) {
        int rc = wal_job_take(&s->wal, &job->log);
        if (rc != 0) {
            if (job->log.fd >= 0)
                close(job->log.fd);
            free(job->log.buf);
            free(job);
            return rc;
        }
        if (job->tables) {
            /* A checkpoint: appends from now on go to log.<gen+1>, whose
             * name run makes durable (directory fsync) along with the
             * removal of log.<gen>, once the tables are durable. If the new
             * file cannot be created the job still syncs the tables and
             * the old log goes on. */
            char err[STORE_ERR_BYTES];
            uint64_t old = s->wal.gen;
            int dfd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 0);
            if (dfd >= 0 && wal_open_new(&s->wal, s->dirfd, old + 1, err, sizeof err) == 0) {
                job->checkpoint = true;
                job->dirfd = dfd;
                job->old_log_gen = old;
            } else if (dfd >= 0) {
                close(dfd);
            }
        }
    }
    if (job->tables && s->dirfd >= 0) {
        /* I3 order: records, slots (cur, then old while growing), header.
         * dup()s: the job must not depend on the store's descriptors, which
         * a doubling's commit or a close may close meanwhile. */
        int src[STORE_SYNC_JOB_FDS] = {s->heap.fd, s->cur.fd, s->growing ? s->old.fd : -1, s->hfd};
        for (int i = 0; i < STORE_SYNC_JOB_FDS; i++) {
            if (src[i] < 0)
                continue;
            int fd = fcntl(src[i], F_DUPFD_CLOEXEC, 0);
            if (fd < 0) {
                int rc = store__errno_code(errno);
                for (int k = 0; k < job->nfds; k++)
                    close(job->fds[k]);
                /* Hand the log bytes back as a failed job: offsets stay
                 * consistent, the next job is a checkpoint (broken). */
                wal_job_finish(&s->wal, &job->log, rc);
                s->wal.broken = s->wal.fd >= 0;
                if (job->dirfd >= 0)
                    close(job->dirfd);
                free(job);
                return rc;
            }
            job->fds[job->nfds++] = fd;
        }
    }
    job->values_bytes = s->heap.file_bytes;
    if (!job->tables) {
        /* Log only: no epoch, no frees (they wait for a checkpoint, I12). */
        s->sync_job = job;
        *out = job;
        return 0;
    }
    /* The frees so far become reusable once this job made their slots'
     * successors durable; later frees wait for the next sync. */
    job->frees = s->heap.pending;
    job->frees_bytes = s->heap.pending_bytes;
    memset(&s->heap.pending, 0, sizeof s->heap.pending);
    s->heap.pending_bytes = 0;
    /* Writes from now on belong to the next epoch: this job makes epoch
     * `epoch` durable, and a slot written in it is not a durable fallback
     * until the job ends (write_version keeps its prev_off meanwhile). */
    job->epoch = s->epoch;
    s->epoch++;
    job->was_dirty = s->dirty;
    s->dirty = false;
    s->sync_pins.n = 0;
    s->sync_job = job;
    *out = job;
    return 0;
}

int store_sync_job_run(struct store_sync_job *job)
{
    /* Runs on any thread: only the job's own descriptors, in I3 order. */
    int rc = wal_job_run(&job->log);
    if (rc != 0)
        return rc;
    for (int i = 0; i < job->nfds; i++) {
        rc = store__fdatasync(job->fds[i]);
        if (rc != 0)
            return rc;
    }
    if (job->checkpoint) {
        /* The tables hold everything the old log did (I12): drop it, and
         * make the new log's name (created at begin) durable. */
        char name[64];
        wal_name(name, sizeof name, job->old_log_gen);
        unlinkat(job->dirfd, name, 0);
        if ((rc = store__fsync_dir(job->dirfd)) != 0)
            return rc;
    }
    return 0;
}

int store_sync_end(struct store *s, struct store_sync_job *job, int run_rc)
{
    if (!job)
        return GKV_EINVAL;
    int rc = 0;
    if (s->sync_job == job && s->wal.fd >= 0) {
        wal_job_finish(&s->wal, &job->log, run_rc);
        if (run_rc != 0)
            s->wal.broken = true; /* what reached the log is unknown */
        else if (job->checkpoint)
            s->wal.st.checkpoints++;
    } else {
        if (job->log.fd >= 0) /* not this store's job (rc below) */
            close(job->log.fd);
        free(job->log.buf);
    }
    if (s->sync_job == job && !job->tables) {
        if (run_rc != 0) {
            s->st.sync_failures++;
            rc = run_rc;
        }
        s->sync_job = NULL;
    } else if (s->sync_job == job) {
        if (job->covered) {
            /* a synchronous sync made it all durable already */
        } else if (run_rc == 0) {
            sync_release_job_frees(s, job, true);
            if (job->values_bytes > s->durable_values_bytes)
                s->durable_values_bytes = job->values_bytes;
            s->st.syncs++;
        } else {
            /* Keep every captured free pending for the next sync. The epoch
             * stays advanced: after an I/O error from fdatasync the kernel
             * may have dropped the dirty pages, so no guarantee survives it
             * (counted, returned; the node logs it). */
            struct store_heap *h = &s->heap;
            for (size_t i = 0; i < job->frees.n; i++) {
                uint64_t x = job->frees.v[i];
                uint64_t cb = store__heap_class_bytes((uint32_t)(x & 0xff));
                if (store__offvec_push(&h->pending, x) == 0)
                    h->pending_bytes += cb;
                else
                    h->free_bytes -= cb;
            }
            s->sync_pins.n = 0;
            if (job->was_dirty)
                s->dirty = true;
            s->st.sync_failures++;
            rc = run_rc;
        }
        s->sync_job = NULL;
    } else {
        rc = GKV_EINVAL; /* not this store's job: still free it */
    }
    for (int i = 0; i < job->nfds; i++)
        close(job->fds[i]);
    if (job->dirfd >= 0)
        close(job->dirfd);
    free(job->frees.v);
    free(job);
    if (rc == 0 && s->cfg.external_batch_sync && s->grow_wanted && !s->growing) {
        /* The doubling waited for this group commit (little is dirty now):
         * see store_maintain. */
        s->grow_wanted = false;
        rc = store__grow_start(s);
        if (rc != 0) {
            if (rc == GKV_ENOSPC)
                s->st.full_refused++;
            s->grow_wanted = true;
        }
    }
    return rc;
}

/* Before each write: a migration step, and a new doubling if cur is full. */
static int store_maintain(struct store *s)
{
    int rc;
    if (s->retiring)
        store__retire_step(s, STORE_RETIRE_CHUNK_BYTES);
    store__next_step(s, STORE_NEXT_CREDIT_BYTES);
    if (s->growing) {
        if ((rc = store__grow_step(s, STORE_GROW_STEP_WRITE)) != 0)
            return rc;
        if (s->growing && s->mig_committing &&
            s->cur.used + 1 > s->cur.cap / STORE_LOAD_DEN * STORE_LOAD_NUM) {
            /* Batch mode waits for a tick to commit; if cur fills first (no
             * ticks), commit now. */
            if ((rc = store__grow_commit(s)) != 0)
                return rc;
        }
    }
    bool hard = s->cur.used + 1 > s->cur.cap / STORE_HARD_LOAD_DEN * STORE_HARD_LOAD_NUM;
    if (!s->growing && s->cur.used + 1 > s->cur.cap / STORE_LOAD_DEN * STORE_LOAD_NUM &&
        s->cfg.sync == STORE_SYNC_BATCH && !hard) {
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
        return store_do_sync(s);
    /* A caller that never ticks still gets a checkpoint before the log
     * reaches twice its limit (external_batch_sync callers checkpoint
     * through their jobs; the pending-frees limit above backs them up). */
    if (s->wal.fd >= 0 && !s->sync_job && s->wal.end >= 2 * wal_ckpt_bytes(s) &&
        !(s->cfg.sync == STORE_SYNC_BATCH && s->cfg.external_batch_sync))
        return store_do_sync(s);
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
    bool tomb;
    const struct vclock *vc;
};

/* Copy key/value into the scratch buffer if they point into our heap (an
 * entry from store_get fed back to store_merge): the allocation below may
 * remap the heap, or reuse the block they live in. */
static int version_detach(struct store *s, struct version *v)
{
    if (!in_heap(s, v->key) && !in_heap(s, v->value))
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

/* Write version v of a key located at l (I2, I3, I5). */
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

static int write_version(struct store *s, struct version *v, const struct loc *l)
{
    int rc = version_detach(s, v);
    if (rc != 0)
        return rc;
    /* always: write through the mapping (msync per write) only without a
     * log; with one, the log record is what sync=always makes durable, and
     * frees wait for the next checkpoint (I12). */
    bool wal = wal_on(s);
    bool always = s->cfg.sync == STORE_SYNC_ALWAYS && !wal;
    bool defer = s->cfg.sync == STORE_SYNC_BATCH || wal;
    bool existed = l->t != NULL;
    if (!existed && s->cfg.max_entries && s->entries + s->tombstones >= s->cfg.max_entries) {
        s->st.full_refused++;
        return GKV_EFULL;
    }
    if (l->t != &s->cur && l->ins == UINT64_MAX) {
        /* no free slot on the chain in cur (cannot happen below the hard
         * load limit, which store_maintain enforces) */
        s->st.full_refused++;
        return GKV_EFULL;
    }
    uint64_t bytes = FMT_RECORD_BYTES(v->vc->n, v->key_len, v->value_len);
    uint64_t off;
    if ((rc = store__heap_alloc(&s->heap, bytes, &off)) != 0) {
        if (rc == GKV_ENOSPC)
            s->st.full_refused++;
        return rc;
    }
    /* (2) the record, whole, before any slot names it. */
    struct fmt_record *r = store__rec(&s->heap, off);
    r->magic = FMT_RECORD_MAGIC;
    r->key_len = (uint16_t)v->key_len;
    r->flags = v->tomb ? ENTRY_TOMBSTONE : 0;
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
    struct entry e = {.key = p,
                      .key_len = v->key_len,
                      .value = v->value_len ? p + v->key_len : NULL,
                      .value_len = v->value_len,
                      .hlc = v->hlc,
                      .origin = v->origin,
                      .flags = v->tomb ? ENTRY_TOMBSTONE : 0};
    e.vc.n = 0; /* entry_version_hash covers key, hlc, origin, flags, value */
    r->vhash = entry_version_hash(&e);
    r->checksum = store__record_checksum(r, off);
    if (always && s->dirfd >= 0) {
        /* A data sync of the range also makes a size change durable. */
        if ((rc = store__msync_range(s->heap.map, off, bytes)) != 0)
            goto undo;
        s->durable_values_bytes = s->heap.file_bytes;
    }

    /* (3) the slot. */
    struct fmt_slot img = {0};
    img.hash = v->hash;
    img.hlc = v->hlc;
    img.origin = v->origin;
    img.rec_off = off;
    img.value_len = v->value_len;
    img.epoch = (uint32_t)s->epoch;
    img.key_len = (uint16_t)v->key_len;
    img.state = v->tomb ? FMT_SLOT_TOMB : FMT_SLOT_VALUE;
    img.vc_n = (uint8_t)v->vc->n;
    uint64_t old_off = 0, old_bytes = 0, old_vhash = 0;
    bool old_tomb = false;
    /* With a log, a record written since the last checkpoint (the slot's
     * epoch is the current one) is neither a durable fallback (prev_off is
     * older) nor being made durable by a checkpoint job: its block is
     * reusable at once. A power loss that leaves the slot naming it while
     * the block holds something else falls back to prev_off, and the log
     * brings the key forward (I12). Only the checkpoint's record waits.
     * Reusing the hot block, as sync=none does, spares a cache miss and a
     * fresh page per overwrite (client_bench). */
    bool old_fresh = false;
    if (existed) {
        const struct fmt_slot *o = &l->t->slots[l->idx];
        const struct fmt_record *orec = store__rec(&s->heap, o->rec_off);
        old_off = o->rec_off;
        old_bytes = FMT_RECORD_BYTES(o->vc_n, o->key_len, o->value_len);
        old_vhash = orec->vhash;
        old_tomb = o->state == FMT_SLOT_TOMB;
        old_fresh = wal && o->epoch == (uint32_t)s->epoch;
        img.bucket = o->bucket;
        /* I3: keep the durable fallback while the slot was already written
         * in this (unsynced) epoch; otherwise the current record is it. */
        img.prev_off = o->epoch == (uint32_t)s->epoch ? o->prev_off : o->rec_off;
        if (o->epoch != (uint32_t)s->epoch && s->sync_job && s->sync_job->tables &&
            !s->sync_job->covered && o->epoch == (uint32_t)s->sync_job->epoch) {
            /* The slot was last written in the epoch a background job is
             * making durable right now: its record is not a durable
             * fallback yet, its prev_off still is. Keep that, and pin its
             * block so the job's end does not release it (it was freed in
             * that epoch, so the job captured it). */
            img.prev_off = o->prev_off;
            if (store__offvec_push(&s->sync_pins, o->prev_off) != 0) {
                rc = GKV_ENOMEM;
                goto undo;
            }
        }
    } else {
        img.bucket = (uint16_t)entry_bucket(v->key, v->key_len, STORE_BUCKET_BITS);
    }
    if (existed && l->t == &s->cur) {
        rc = store__slot_put(&s->cur, (uint64_t)l->idx, &img, always);
    } else {
        /* New to cur (absent, or still in the old table: I5, cur first). */
        /* From the index if there is one: the slot's line may still be on
         * its way (store__find prefetched it). */
        uint8_t prior = s->cur.ix ? (uint8_t)(s->cur.ix[l->ins] & 3u) : s->cur.slots[l->ins].state;
        rc = store__slot_put(&s->cur, l->ins, &img, always);
        if (rc == 0) {
            if (prior == FMT_SLOT_DEAD)
                s->cur.dead--;
            else
                s->cur.used++;
        }
        if (rc == 0 && existed)
            rc = store__kill_old(s, (uint64_t)l->idx, always);
    }
    if (!existed)
        store__bix_add(s, img.bucket, v->hash); /* B1 (bucketix.c); the slot is written */
    if (rc != 0)
        goto undo_slot;

    /* (4) the old block, and the in-memory derived state (I10): the read
     * cache names the new record before the old block can be reused. */
    store__rc_set(s, v->fh, off);
    uint64_t *bh = &s->buckets[img.bucket];
    if (existed) {
        free_record(s, old_off, old_bytes, defer && !old_fresh);
        *bh ^= old_vhash;
        if (old_tomb)
            s->tombstones--;
        else
            s->entries--;
    }
    *bh ^= r->vhash;
    if (v->tomb)
        s->tombstones++;
    else
        s->entries++;
    s->dirty = true;
    if (always)
        s->epoch++; /* the write is durable: it is the fallback from now on */
    if (s->wal.fd >= 0) {
        /* I12: the full version into the log (sync=always: durable now). */
        e.vc = *v->vc;
        if ((rc = wal_log(s, WAL_REC_VERSION, &e)) != 0)
            return rc;
    }
    return 0;

undo_slot:
    /* msync failed after the slot changed: the data is in the page cache and
     * the slot names it; report the I/O error, keep the memory state true. */
    store__rc_clear(s, v->fh);
    if (existed) {
        free_record(s, old_off, old_bytes, defer);
        s->buckets[img.bucket] ^= old_vhash ^ r->vhash;
        if (old_tomb)
            s->tombstones--;
        else
            s->entries--;
    } else {
        s->buckets[img.bucket] ^= r->vhash;
    }
    if (v->tomb)
        s->tombstones++;
    else
        s->entries++;
    s->dirty = true;
    return rc;
undo:
    store__heap_free(&s->heap, off, bytes, false);
    return rc;
}

static int check_key(const void *key, size_t key_len)
{
    if (!key || key_len == 0 || key_len > GKV_KEY_MAX)
        return GKV_EKEYSIZE;
    return 0;
}

static int local_write(struct store *s, const void *key, size_t key_len, const void *value,
                       size_t value_len, bool tomb, uint64_t now_ms, struct entry *out,
                       bool *existed)
{
    int rc;
    if (s->cfg.read_only)
        return GKV_EPERM;
    if ((rc = check_key(key, key_len)) != 0)
        return rc;
    if (!tomb && value_len > s->cfg.max_value_bytes)
        return GKV_EVALSIZE;
    if (!tomb && value_len > 0 && !value)
        return GKV_EINVAL;
    if ((rc = store_maintain(s)) != 0)
        return rc;
    struct version v = {.fh = store__rc_start_write(s, key, key_len),
                        .hash = store__key_hash(s, key, key_len),
                        .key = key,
                        .key_len = (uint32_t)key_len,
                        .value = tomb ? NULL : value,
                        .value_len = tomb ? 0 : (uint32_t)value_len,
                        .origin = s->hdr.node_id,
                        .tomb = tomb};
    struct loc l;
    locate(s, v.hash, key, v.key_len, &l);
    struct vclock vc;
    if (l.t) {
        const struct fmt_slot *sl = &l.t->slots[l.idx];
        vc.n = sl->vc_n;
        memcpy(vc.items, store__rec(&s->heap, sl->rec_off) + 1, 16u * sl->vc_n);
        if (existed)
            *existed = sl->state == FMT_SLOT_VALUE;
    } else {
        vclock_clear(&vc);
        if (existed)
            *existed = false;
    }
    vclock_increment(&vc, s->hdr.node_id);
    v.vc = &vc;
    v.hlc = hlc_now(&s->hlc, now_ms);
    if ((rc = hlc_guard(s)) != 0)
        return rc;
    if ((rc = write_version(s, &v, &l)) != 0)
        return rc;
    if (out) {
        locate(s, v.hash, key, v.key_len, &l);
        store__entry_from_slot(s, &l.t->slots[l.idx], out);
    }
    return 0;
}

int store_put(struct store *s, const void *key, size_t key_len, const void *value,
              size_t value_len, uint64_t now_ms, struct entry *out)
{
    int rc = local_write(s, key, key_len, value, value_len, false, now_ms, out, NULL);
    if (rc == 0)
        s->st.puts++;
    return rc;
}

int store_del(struct store *s, const void *key, size_t key_len, uint64_t now_ms,
              struct entry *out, bool *existed)
{
    int rc = local_write(s, key, key_len, NULL, 0, true, now_ms, out, existed);
    if (rc == 0)
        s->st.dels++;
    return rc;
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
    if ((rc = check_key(in->key, in->key_len)) != 0)
        return rc;
    bool tomb = entry_is_tombstone(in);
    if ((in->flags & ~ENTRY_TOMBSTONE) != 0 || (tomb && in->value_len != 0) ||
        (in->value_len > 0 && !in->value) || !vclock_valid(&in->vc))
        return GKV_EINVAL;
    if (replay) {
        if (in->hlc > s->hlc.last)
            s->hlc.last = in->hlc;
    } else {
        if (in->value_len > s->cfg.max_value_bytes)
            return GKV_EVALSIZE;
        if (hlc_observe(&s->hlc, in->hlc, now_ms) != 0) {
            s->st.clock_refused++;
            return GKV_ECLOCK;
        }
        if ((rc = hlc_guard(s)) != 0)
            return rc;
    }
    if ((rc = store_maintain(s)) != 0)
        return rc;
    uint64_t fh = store__rc_start_write(s, in->key, in->key_len);
    uint64_t hash = store__key_hash(s, in->key, in->key_len);
    struct loc l;
    locate(s, hash, in->key, in->key_len, &l);
    struct version v = {.fh = fh,
                        .hash = hash,
                        .key = in->key,
                        .key_len = in->key_len,
                        .value = in->value,
                        .value_len = in->value_len,
                        .hlc = in->hlc,
                        .origin = in->origin,
                        .tomb = tomb,
                        .vc = &in->vc};
    bool take = true;
    struct vclock merged;
    if (l.t) {
        struct entry local;
        store__entry_from_slot(s, &l.t->slots[l.idx], &local);
        bool conflict = false;
        take = entry_merge(&local, in, &conflict) == MERGE_TAKE_INCOMING;
        if (conflict)
            s->st.dominance_conflicts++;
        merged = local.vc;
        vclock_merge(&merged, &in->vc);
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
            v.tomb = entry_is_tombstone(&local);
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

/* --------------------------------------------------------------- reads */

/* The record offset of slot idx of t (from its index word when it has one). */
static uint64_t slot_rec_off(const struct store_table *t, uint64_t idx)
{
    uint32_t w = t->ix ? t->ix[idx] : 0;
    if (!t->ix || (w >> 6) == STORE_IX_ESCAPE)
        return t->slots[idx].rec_off;
    return (uint64_t)(w >> 6) * FMT_GRANULE;
}

/* A get the read cache could not answer (or a store without one): the
 * SipHash path, and the answer into the cache. Out of line, so the cached
 * path of store_get saves no registers. */
__attribute__((noinline)) static int get_slow(struct store *s, const void *key, size_t key_len,
                                              uint64_t fh, struct entry *out)
{
    if (s->rc.e)
        s->rc_misses++;
    struct loc l;
    locate_for(s, store__key_hash(s, key, key_len), key, (uint32_t)key_len, false, &l);
    if (!l.t)
        return GKV_ENOTFOUND;
    if (s->rc.e)
        store__rc_set(s, fh, slot_rec_off(l.t, (uint64_t)l.idx));
    if (out)
        store__entry_at(s, l.t, (uint64_t)l.idx, out);
    return 0;
}

/* One key of store_get / store_get_batch, whose key is checked. fh: its
 * read-cache hash (unused without a cache). */
static inline int get_one(struct store *s, const void *key, size_t key_len, uint64_t fh,
                          struct entry *out)
{
    s->st.gets++;
    if (s->rc.e) {
        const struct fmt_record *r = store__rc_find(s, fh, key, (uint32_t)key_len);
        if (r) {
            if (out)
                store__entry_from_rec(r, out);
            return 0;
        }
    }
    return get_slow(s, key, key_len, fh, out);
}

int store_get(struct store *s, const void *key, size_t key_len, struct entry *out)
{
    if (!key || key_len == 0 || key_len > GKV_KEY_MAX)
        return GKV_EKEYSIZE; /* check_key, in line */
    return get_one(s, key, key_len, s->rc.e ? store__rc_hash(s, key, key_len) : 0, out);
}

int store_get_batch(struct store *s, uint32_t n, const void *const *keys, const size_t *key_lens,
                    struct entry *out, int *rcs)
{
    if (n > STORE_GET_BATCH_MAX || (n > 0 && (!keys || !key_lens || !rcs)))
        return GKV_EINVAL;
    uint64_t h[STORE_GET_BATCH_MAX];
    if (s->rc.e) {
        /* With the read cache: every key's cache bucket on its way, then
         * the records its entries name, then the lookups (store_get's). */
        for (uint32_t i = 0; i < n; i++) {
            if ((rcs[i] = check_key(keys[i], key_lens[i])) != 0)
                continue;
            h[i] = store__rc_hash(s, keys[i], key_lens[i]);
            __builtin_prefetch(store__rc_bucket_of(s, h[i]));
        }
        for (uint32_t i = 0; i < n; i++)
            if (rcs[i] == 0)
                store__rc_prefetch(s, h[i]);
        for (uint32_t i = 0; i < n; i++)
            if (rcs[i] == 0)
                rcs[i] = get_one(s, keys[i], key_lens[i], h[i], out ? &out[i] : NULL);
        return 0;
    }
    const struct store_table *c = &s->cur, *o = &s->old;
    bool old = s->growing && !s->mig_committing;
    /* 1. Every key's hash, and the first index word of each on its way: n
     * hashes take longer than one memory access, so the words have arrived
     * by the time step 2 reads them. */
    for (uint32_t i = 0; i < n; i++) {
        if ((rcs[i] = check_key(keys[i], key_lens[i])) != 0)
            continue;
        h[i] = store__key_hash(s, keys[i], key_lens[i]);
        if (c->ix)
            __builtin_prefetch(&c->ix[store__home(c, h[i])]);
        if (old && o->ix && store__home(o, h[i]) >= s->mig_empty_end)
            __builtin_prefetch(&o->ix[store__home(o, h[i])]);
    }
    /* 2. The candidate records of every key on their way, all at once. */
    for (uint32_t i = 0; i < n; i++) {
        if (rcs[i] != 0)
            continue;
        store__prefetch_lookup(s, c, h[i]);
        if (old && store__home(o, h[i]) >= s->mig_empty_end)
            store__prefetch_lookup(s, o, h[i]);
    }
    /* 3. The lookups, exactly as store_get's: steps 1 and 2 only moved
     * memory into the cache, so the answers cannot differ. */
    for (uint32_t i = 0; i < n; i++) {
        if (rcs[i] != 0)
            continue;
        s->st.gets++;
        struct loc l;
        locate_for(s, h[i], keys[i], (uint32_t)key_lens[i], false, &l);
        if (!l.t) {
            rcs[i] = GKV_ENOTFOUND;
            continue;
        }
        if (out)
            store__entry_at(s, l.t, (uint64_t)l.idx, &out[i]);
    }
    return 0;
}

/* Visit the entries of table t whose hash lies in [lo, hi] (inclusive). The
 * walk starts at lo's home and runs until it has passed hi's home and met an
 * EMPTY slot: every entry's slot is in the non-empty run that starts at its
 * home, so the walk covers all of them (I1). */
static int scan_range(struct store *s, const struct store_table *t, uint64_t lo, uint64_t hi,
                      store_scan_cb cb, void *arg)
{
    uint64_t first = store__home(t, lo), last = store__home(t, hi);
    for (uint64_t p = first, n = 0; n < t->cap; p++, n++) {
        const struct fmt_slot *sl = &t->slots[p & t->mask];
        uint32_t st = store__slot_state(t, p & t->mask);
        if (st == FMT_SLOT_EMPTY) {
            if (p >= last)
                break;
            continue;
        }
        if ((st == FMT_SLOT_VALUE || st == FMT_SLOT_TOMB) && sl->hash >= lo && sl->hash <= hi) {
            struct entry e;
            store__entry_from_slot(s, sl, &e);
            int r = cb(arg, &e);
            if (r != 0)
                return r;
        }
    }
    return 0;
}

int store_scan(struct store *s, uint64_t *cursor, uint32_t count, store_scan_cb cb, void *arg)
{
    if (!cursor || !cb)
        return GKV_EINVAL;
    if (count == 0)
        count = 1;
    /* The cursor is a position in hash space, not a slot index: "every hash
     * below the cursor has been visited". Homes are the hash's high bits in
     * every table size (store__home), so the cursor means the same thing
     * after a doubling, and during one both tables are walked for the same
     * hash range (Redis SCAN's guarantee, without its reverse-bit trick). */
    uint64_t lo = *cursor;
    unsigned shift = 64 - s->cur.bits;
    uint64_t span = count >= s->cur.cap ? 0 : ((uint64_t)count << shift);
    bool last = span == 0 || lo > UINT64_MAX - span || lo + span == 0;
    uint64_t hi = last ? UINT64_MAX : lo + span - 1;
    int r = scan_range(s, &s->cur, lo, hi, cb, arg);
    if (r == 0 && s->growing && !s->mig_committing)
        r = scan_range(s, &s->old, lo, hi, cb, arg);
    if (r != 0)
        return 0; /* stopped early: the cursor stays (a resume revisits the range) */
    *cursor = last ? 0 : hi + 1;
    return 0;
}

/* store_bucket_scan: bucketix.c */

const uint64_t *store_bucket_hashes(const struct store *s)
{
    return s->buckets;
}

uint64_t store_root_hash(const struct store *s)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < STORE_BUCKETS; i++)
        r ^= s->buckets[i];
    return r;
}

/* ------------------------------------------------------ periodic work */

int store_tick(struct store *s, uint64_t now_ms)
{
    if (s->cfg.read_only)
        return 0;
    int rc = 0;
    if (s->retiring)
        store__retire_step(s, 16 * STORE_RETIRE_CHUNK_BYTES);
    if (s->growing) {
        if (s->mig_committing)
            rc = store__grow_commit(s);
        else
            rc = store__grow_step(s, STORE_GROW_STEP_TICK);
        if (rc != 0)
            return rc;
    }
    if ((rc = hlc_guard(s)) != 0)
        return rc;
    if (s->cfg.sync == STORE_SYNC_BATCH && !s->cfg.external_batch_sync) {
        if (now_ms < s->last_sync_ms)
            s->last_sync_ms = now_ms; /* the clock stepped back */
        if (now_ms - s->last_sync_ms >= s->cfg.batch_ms || s->grow_wanted) {
            s->last_sync_ms = now_ms;
            if (s->wal.fd >= 0) {
                /* group commit of the log; the tables only at checkpoints */
                rc = wal_sync(&s->wal);
                if (wal_checkpoint_due(s))
                    rc = store_do_sync(s);
            } else if (s->dirty || s->heap.pending.n) {
                rc = store_do_sync(s);
            }
        }
    } else if (s->cfg.sync == STORE_SYNC_ALWAYS && wal_checkpoint_due(s) && !s->sync_job) {
        rc = store_do_sync(s);
    }
    /* External sync: the doubling starts at the end of the next group
     * commit (store_sync_end), or here when there is nothing to commit. */
    bool ext_wait = s->cfg.sync == STORE_SYNC_BATCH && s->cfg.external_batch_sync &&
                    (s->sync_job || (s->wal.fd >= 0 ? wal_pending(&s->wal)
                                                     : s->dirty || s->heap.pending.n));
    if (rc == 0 && s->grow_wanted && !s->growing && !ext_wait) {
        s->grow_wanted = false;
        rc = store__grow_start(s);
        if (rc != 0) {
            if (rc == GKV_ENOSPC)
                s->st.full_refused++;
            /* keep writing into this table; retry at a later tick */
            s->grow_wanted = true;
        }
    }
    return rc;
}

int store_sync(struct store *s)
{
    if (s->cfg.read_only)
        return 0;
    return store_do_sync(s);
}

/* Turn the tombstone in slot i of t into DEAD (I1) and release its record;
 * with a log, a PURGE record first (I12: a replay must remove it again
 * after replaying the writes that made it). */
static int purge_slot(struct store *s, struct store_table *t, uint64_t i)
{
    bool wal = wal_on(s);
    bool always = s->cfg.sync == STORE_SYNC_ALWAYS && !wal;
    bool defer = s->cfg.sync == STORE_SYNC_BATCH || wal;
    struct fmt_slot *sl = &t->slots[i];
    uint64_t off = sl->rec_off;
    uint64_t bytes = FMT_RECORD_BYTES(sl->vc_n, sl->key_len, sl->value_len);
    uint16_t b = sl->bucket;
    const struct fmt_record *r = store__rec(&s->heap, off);
    uint64_t vh = r->vhash;
    int lrc = 0;
    if (s->wal.fd >= 0) {
        struct entry e = {.key = (const uint8_t *)(r + 1) + 16u * r->vc_n,
                          .key_len = r->key_len,
                          .hlc = sl->hlc};
        lrc = wal_append(&s->wal, WAL_REC_PURGE, &e);
    }
    if (s->rc.e)
        store__rc_clear(s, store__rc_hash(s, (const uint8_t *)(r + 1) + 16u * r->vc_n, r->key_len));
    struct fmt_slot dead = {0};
    dead.state = FMT_SLOT_DEAD; /* I1: DEAD, never EMPTY */
    int rc = store__slot_put(t, i, &dead, always);
    store__bix_remove(s, b); /* B2 (bucketix.c) */
    s->buckets[b] ^= vh;
    s->tombstones--;
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
    uint64_t grace = s->cfg.tombstone_grace_ms;
    uint64_t limit = now_ms > grace ? HLC_MAKE(now_ms - grace, 0) : 0;
    if (safe_below_hlc < limit)
        limit = safe_below_hlc;
    uint64_t n = 0;
    int rc = 0;
    /* Not while a doubling leaves old-table copies on disk: purged here, a
     * key's stale copy there would be what a power loss leaves (I5). The
     * purge resumes after the commit. */
    if (store__kills_in_index(s))
        return 0;
    /* Only cur: tombstones still in the old table are purged once migrated. */
    struct store_table *t = &s->cur;
    for (uint32_t k = 0; k < max_slots && k < t->cap; k++) {
        uint64_t i = s->purge_pos++ & t->mask;
        struct fmt_slot *sl = &t->slots[i];
        if (sl->state != FMT_SLOT_TOMB || sl->hlc >= limit)
            continue;
        rc = purge_slot(s, t, i);
        n++;
        if (rc != 0)
            break;
    }
    /* sync=always with a log: one fdatasync for the whole batch. */
    if (rc == 0 && n && s->wal.fd >= 0 && s->cfg.sync == STORE_SYNC_ALWAYS)
        rc = wal_sync(&s->wal);
    if (purged)
        *purged = n;
    return rc;
}

/* Replay one log record (recovery, I12). */
static int replay_apply(void *arg, uint8_t type, const struct entry *e)
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
        struct loc l;
        locate(s, hash, e->key, e->key_len, &l);
        if (l.t && l.t->slots[l.idx].state == FMT_SLOT_TOMB && l.t->slots[l.idx].hlc <= e->hlc)
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

/* ------------------------------------------------------------- stats */

const char *store_pages_name(enum store_pages p)
{
    return p == STORE_PAGES_NONE ? "none" : p == STORE_PAGES_ALL ? "all" : "values";
}

void store_stats(const struct store *s, struct store_stats *out)
{
    *out = s->st;
    out->entries = s->entries;
    out->tombstones = s->tombstones;
    out->capacity = s->cur.cap;
    out->load = s->cur.cap ? (double)(s->entries + s->tombstones) / (double)s->cur.cap : 0;
    out->file_bytes = 0;
    if (s->dirfd >= 0) {
        out->file_bytes = FMT_HEADER_FILE_BYTES + s->heap.file_bytes + s->cur.map_bytes;
        if (s->growing)
            out->file_bytes += s->old.map_bytes;
    }
    out->value_bytes_used = s->heap.used_bytes;
    out->value_bytes_free = s->heap.free_bytes;
    out->value_bytes_held = s->heap.held_bytes;
    out->read_cache_bytes = s->rc.buckets * STORE_RC_WAYS * sizeof(uint64_t);
    out->read_cache_hits = s->rc.e ? s->st.gets - s->rc_misses : 0;
    out->read_cache_misses = s->rc_misses;
    out->clock_refused = s->st.clock_refused;
    out->growing = s->growing;
    out->incarnation = s->hdr.incarnation;
    out->sync = s->cfg.sync;
    out->pages = s->cfg.pages;
    out->node_id = s->hdr.node_id;
    out->hlc_last = s->hlc.last;
    out->log_enabled = s->wal.fd >= 0;
    out->log_gen = s->wal.fd >= 0 ? s->wal.gen : 0;
    out->log_bytes = s->wal.fd >= 0 ? s->wal.end : 0;
    out->log_durable_bytes = s->wal.fd >= 0 ? s->wal.durable : 0;
    out->log_records = s->wal.st.records;
    out->log_group_commits = s->wal.st.group_commits;
    out->log_checkpoints = s->wal.st.checkpoints;
    out->log_failures = s->wal.st.failures;
    out->log_checkpoint_bytes = s->wal.fd >= 0 ? wal_ckpt_bytes(s) : 0;
    out->log_replayed_records = s->wal.st.replay_records;
    out->log_replay_torn_bytes = s->wal.st.replay_torn_bytes;
    out->log_replay_bad_files = s->wal.st.replay_bad_files;
    out->bucket_index_bytes = s->bix.bytes;
    out->bucket_index_failures = s->bix.failures;
    out->bucket_scans_full = s->bix.full_scans;
}

struct hlc *store_hlc(struct store *s)
{
    return &s->hlc;
}

uint64_t store_node_id(const struct store *s)
{
    return s->hdr.node_id;
}

uint64_t store_incarnation(const struct store *s)
{
    return s->hdr.incarnation;
}

int store_set_incarnation(struct store *s, uint64_t incarnation)
{
    s->hdr.incarnation = incarnation;
    return store__header_write(s, true);
}

/* ------------------------------------------------------- open / close */

void store__free(struct store *s)
{
    if (!s)
        return;
    store__bix_free(s);
    store__table_unmap(&s->cur);
    if (s->old.map)
        store__table_unmap(&s->old);
    store__next_discard(s);
    store__retire_step(s, UINT64_MAX);
    store__seed_drop(s);
    store__heap_release(&s->heap);
    store__rc_free(&s->rc);
    s->rc_mig = s->rc_mig_tag = 0;
    if (s->heap.fd >= 0)
        close(s->heap.fd);
    if (s->hmap)
        munmap(s->hmap, FMT_HEADER_FILE_BYTES);
    if (s->hfd >= 0)
        close(s->hfd);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->scratch);
    free(s->sync_pins.v);
    wal_close(&s->wal);
    free(s);
}

/* Messages from the helpers start with a file name ("table.3.gkv: ...");
 * prefix the directory so the message names the full path. */
static bool names_file(const char *msg)
{
    const char *colon = strchr(msg, ':');
    if (!colon)
        return false;
    if (strncmp(msg, "LOCK:", 5) == 0)
        return true;
    const char *dot = memchr(msg, '.', (size_t)(colon - msg));
    return dot != NULL && memchr(msg, ' ', (size_t)(colon - msg)) == NULL;
}

static int fail(struct store *s, int rc, const char *msg, char *open_err, size_t open_err_bytes)
{
    if (open_err && open_err_bytes > 0) {
        if (s && s->dir[0])
            snprintf(open_err, open_err_bytes, "%.4095s%s%.511s", s->dir,
                     names_file(msg) ? "/" : ": ", msg);
        else
            snprintf(open_err, open_err_bytes, "%.511s", msg);
    }
    store__free(s);
    return rc;
}

static int map_header(struct store *s, bool create, char *err, size_t err_bytes)
{
    if (s->dirfd < 0) {
        void *m = mmap(NULL, FMT_HEADER_FILE_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return GKV_ENOMEM;
        s->hmap = m;
        return 0;
    }
    const char *name = create ? "header.gkv.new" : "header.gkv";
    int ro = s->cfg.read_only;
    s->hfd = openat(s->dirfd, name,
                    (ro ? O_RDONLY : O_RDWR) | (create ? O_CREAT | O_TRUNC : 0) | O_CLOEXEC, STORE_FILE_MODE);
    if (s->hfd < 0) {
        snprintf(err, err_bytes, "%s: cannot open: %s", name, strerror(errno));
        return store__errno_code(errno);
    }
    int rc;
    if (create && (rc = store__file_grow(s->hfd, FMT_HEADER_FILE_BYTES)) != 0) {
        snprintf(err, err_bytes, "%s: cannot allocate: %s", name, gkv_strerror(rc));
        return rc;
    }
    struct stat st;
    if (fstat(s->hfd, &st) != 0) {
        snprintf(err, err_bytes, "%s: fstat: %s", name, strerror(errno));
        return store__errno_code(errno);
    }
    if ((uint64_t)st.st_size < FMT_HEADER_FILE_BYTES) {
        snprintf(err, err_bytes, "%s: truncated: %llu bytes, expected %u", name,
                 (unsigned long long)st.st_size, FMT_HEADER_FILE_BYTES);
        return GKV_ECORRUPT;
    }
    void *m = mmap(NULL, FMT_HEADER_FILE_BYTES, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                   s->hfd, 0);
    if (m == MAP_FAILED) {
        snprintf(err, err_bytes, "%s: mmap: %s", name, strerror(errno));
        return store__errno_code(errno);
    }
    s->hmap = m;
    return 0;
}

static int open_values(struct store *s, bool create, char *err, size_t err_bytes)
{
    struct store_heap *h = &s->heap;
    h->read_only = s->cfg.read_only;
    if (s->dirfd < 0) {
        h->map_bytes = STORE_ANON_RESERVE_BYTES;
        void *m = mmap(NULL, h->map_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            snprintf(err, err_bytes, "(memory): cannot reserve the value heap");
            return GKV_ENOMEM;
        }
        h->map = m;
        h->file_bytes = FMT_PAGE + STORE_VALUES_INITIAL_BYTES;
    } else {
        int ro = s->cfg.read_only;
        h->fd = openat(s->dirfd, "values.gkv",
                       (ro ? O_RDONLY : O_RDWR) | (create ? O_CREAT | O_TRUNC : 0) | O_CLOEXEC, STORE_FILE_MODE);
        if (h->fd < 0) {
            int rc = errno == ENOENT ? GKV_ECORRUPT : store__errno_code(errno);
            snprintf(err, err_bytes, "values.gkv: cannot open: %s", strerror(errno));
            return rc;
        }
        int rc;
        if (create && (rc = store__file_grow(h->fd, FMT_PAGE + STORE_VALUES_INITIAL_BYTES)) != 0) {
            snprintf(err, err_bytes, "values.gkv: cannot allocate: %s", gkv_strerror(rc));
            return rc;
        }
        struct stat st;
        if (fstat(h->fd, &st) != 0) {
            snprintf(err, err_bytes, "values.gkv: fstat: %s", strerror(errno));
            return store__errno_code(errno);
        }
        if ((uint64_t)st.st_size < FMT_PAGE) {
            snprintf(err, err_bytes, "values.gkv: truncated: %llu bytes, shorter than its prologue",
                     (unsigned long long)st.st_size);
            return GKV_ECORRUPT;
        }
        h->file_bytes = (uint64_t)st.st_size;
        h->map_bytes = HEAP_RESERVE_MIN_BYTES;
        while (h->map_bytes < 2 * h->file_bytes)
            h->map_bytes *= 2;
        void *m = mmap(NULL, h->map_bytes, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                       h->fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, err_bytes, "values.gkv: mmap: %s", strerror(errno));
            return store__errno_code(errno);
        }
        h->map = m;
        /* values.gkv is read at random by every get: 2 MiB mappings unless
         * the configuration says none (heap.c populates new space in 2 MiB
         * folios; a reopened file gets them from fault-time readahead). */
        h->huge = !ro && s->cfg.pages != STORE_PAGES_NONE;
        if (h->huge)
            madvise(m, h->map_bytes, MADV_HUGEPAGE);
    }
    struct fmt_values_prologue *p = (struct fmt_values_prologue *)h->map;
    if (create) {
        memset(p, 0, sizeof *p);
        memcpy(p->magic, FMT_VALUES_MAGIC, 8);
        p->version = FMT_VALUES_VERSION;
        p->granule = FMT_GRANULE;
        p->checksum = store__checksum64(p, offsetof(struct fmt_values_prologue, checksum),
                                        FMT_SEED_VALUES);
        h->top = FMT_PAGE;
        s->durable_values_bytes = h->file_bytes;
        if (h->fd >= 0) {
            int rc = store__msync_range(h->map, 0, FMT_PAGE);
            if (rc == 0 && fsync(h->fd) != 0)
                rc = store__errno_code(errno);
            if (rc != 0) {
                snprintf(err, err_bytes, "values.gkv: sync: %s", gkv_strerror(rc));
                return rc;
            }
        }
        return 0;
    }
    if (memcmp(p->magic, FMT_VALUES_MAGIC, 8) != 0) {
        snprintf(err, err_bytes, "values.gkv: bad magic in the prologue");
        return GKV_ECORRUPT;
    }
    if (p->checksum !=
        store__checksum64(p, offsetof(struct fmt_values_prologue, checksum), FMT_SEED_VALUES)) {
        snprintf(err, err_bytes, "values.gkv: prologue checksum mismatch");
        return GKV_ECORRUPT;
    }
    if (p->version < FMT_VALUES_VERSION_MIN || p->version > FMT_VALUES_VERSION ||
        p->granule != FMT_GRANULE) {
        snprintf(err, err_bytes,
                 "values.gkv: format version %u not supported (expected %u to %u, granule %u)",
                 p->version, FMT_VALUES_VERSION_MIN, FMT_VALUES_VERSION, FMT_GRANULE);
        return GKV_EVERSION;
    }
    if (p->version < FMT_VALUES_VERSION && !h->read_only) {
        /* Before this build allocates anything: from here on a build with
         * the version-1 size classes must refuse the file (format.h). The
         * prologue is 24 bytes of one sector, made durable before any
         * block of the new classes can be. */
        p->version = FMT_VALUES_VERSION;
        p->checksum = store__checksum64(p, offsetof(struct fmt_values_prologue, checksum),
                                        FMT_SEED_VALUES);
        int rc = store__msync_range(h->map, 0, FMT_PAGE);
        if (rc == 0 && fsync(h->fd) != 0)
            rc = store__errno_code(errno);
        if (rc != 0) {
            snprintf(err, err_bytes, "values.gkv: upgrading the prologue: %s", gkv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static uint64_t round_pow2(uint64_t x)
{
    uint64_t c = STORE_MIN_CAPACITY;
    while (c < x)
        c *= 2;
    return c;
}

static bool file_exists(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, 0) == 0;
}

/* Names of store files in dir other than the header (tables and values). */
static bool has_store_files(int dirfd, const char *dir)
{
    (void)dir;
    if (file_exists(dirfd, "values.gkv"))
        return true;
    uint64_t gens[1];
    if (wal_list(dirfd, gens, 1) > 0)
        return true;
    for (uint64_t g = 1; g < 64; g++) {
        char name[64];
        store__table_name(name, sizeof name, g);
        if (file_exists(dirfd, name))
            return true;
    }
    return false;
}

static void remove_store_files(int dirfd)
{
    unlinkat(dirfd, "values.gkv", 0);
    uint64_t gens[WAL_MAX_FILES];
    int n = wal_list(dirfd, gens, WAL_MAX_FILES);
    for (int i = 0; i < n && i < (int)WAL_MAX_FILES; i++) {
        char name[64];
        wal_name(name, sizeof name, gens[i]);
        unlinkat(dirfd, name, 0);
    }
    for (uint64_t g = 1; g < 64; g++) {
        char name[64];
        store__table_name(name, sizeof name, g);
        unlinkat(dirfd, name, 0);
    }
}

static int create_new(struct store *s, uint64_t now_ms, char *err, size_t err_bytes)
{
    int rc;
    uint64_t cap = round_pow2(s->cfg.initial_capacity ? s->cfg.initial_capacity
                                                      : STORE_DEFAULT_CAPACITY);
    memcpy(s->secret, s->cfg.placement_secret, sizeof s->secret);
    if ((rc = store__table_open_file(s->dirfd, 1, true, cap, false, true, s->cfg.pages == STORE_PAGES_ALL, &s->cur,
                                     err, err_bytes)) != 0)
        return rc;
    if ((rc = open_values(s, true, err, err_bytes)) != 0)
        return rc;
    if ((rc = map_header(s, true, err, err_bytes)) != 0)
        return rc;
    struct fmt_header *h = &s->hdr;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, FMT_HEADER_MAGIC, 8);
    h->version = FMT_VERSION;
    h->header_bytes = sizeof *h;
    h->node_id = s->cfg.node_id;
    h->incarnation = 0;
    h->hlc_bound = 0;
    h->table_gen = 1;
    h->table_capacity = cap;
    h->clean = 0;
    h->max_value_bytes = s->cfg.max_value_bytes;
    memcpy(h->secret, s->secret, sizeof h->secret);
    hlc_init(&s->hlc, s->cfg.max_clock_offset_ms);
    s->hlc.last = HLC_MAKE(now_ms, 0);
    h->hlc_bound = 0;
    if ((rc = hlc_guard(s)) != 0) /* writes both copies */
        goto io;
    if ((rc = store__header_write(s, true)) != 0)
        goto io;
    if (s->dirfd >= 0) {
        /* The header appears under its real name last, whole: a directory
         * with header.gkv is a store; one without is empty or a leftover of
         * an interrupted creation (header.gkv.new), which open discards. */
        if (fsync(s->hfd) != 0 || renameat(s->dirfd, "header.gkv.new", s->dirfd, "header.gkv") != 0) {
            rc = store__errno_code(errno);
            goto io;
        }
        if ((rc = store__fsync_dir(s->dirfd)) != 0)
            goto io;
        if (s->cfg.sync != STORE_SYNC_NONE) {
            /* I12: the log; its name is durable before any write. */
            if ((rc = wal_open_new(&s->wal, s->dirfd, 1, err, err_bytes)) != 0)
                return rc;
            if ((rc = store__fsync_dir(s->dirfd)) != 0)
                goto io;
        }
    }
    s->epoch = 1;
    return 0;
io:
    snprintf(err, err_bytes, "header.gkv: cannot write: %s", gkv_strerror(rc));
    return rc;
}

static void remove_orphan_tables(struct store *s)
{
    /* I6: tables the header does not name are leftovers of a doubling that
     * crashed before its header write, or after the commit's header write
     * but before the unlink. Generations are consecutive, so a small window
     * around the live ones covers every leftover. */
    uint64_t keep1 = s->hdr.table_gen, keep2 = s->hdr.grow_gen;
    uint64_t lo = keep1 > 8 ? keep1 - 8 : 1;
    for (uint64_t g = lo; g <= keep1 + 8; g++) {
        if (g == keep1 || g == keep2)
            continue;
        char name[64];
        store__table_name(name, sizeof name, g);
        unlinkat(s->dirfd, name, 0);
    }
    unlinkat(s->dirfd, "header.gkv.new", 0);
}

/* Map header.gkv, the tables it names and values.gkv; verify the header
 * and the file prologues (no slot is looked at yet). */
static int open_files(struct store *s, int *valid_copies, char *err, size_t err_bytes)
{
    int rc;
    if ((rc = map_header(s, false, err, err_bytes)) != 0)
        return rc;
    if ((rc = store__header_read(s->hfd, FMT_HEADER_FILE_BYTES, s->hmap, &s->hdr, valid_copies,
                                 err, err_bytes)) != 0)
        return rc;
    if (s->cfg.node_id && s->cfg.node_id != s->hdr.node_id) {
        snprintf(err, err_bytes, "header.gkv: node id %llu does not match the configured %llu",
                 (unsigned long long)s->hdr.node_id, (unsigned long long)s->cfg.node_id);
        return GKV_EINVAL;
    }
    memcpy(s->secret, s->hdr.secret, sizeof s->secret);
    bool ro = s->cfg.read_only;
    if (s->hdr.grow_gen) {
        if ((rc = store__table_open_file(s->dirfd, s->hdr.table_gen, false, s->hdr.table_capacity, ro,
                                         false, s->cfg.pages == STORE_PAGES_ALL, &s->old, err, err_bytes)) != 0)
            return rc;
        if ((rc = store__table_open_file(s->dirfd, s->hdr.grow_gen, false, s->hdr.grow_capacity, ro,
                                         false, s->cfg.pages == STORE_PAGES_ALL, &s->cur, err, err_bytes)) != 0)
            return rc;
        s->growing = true;
        s->mig_pos = 0;
        s->mig_empty_end = 0;
    } else if ((rc = store__table_open_file(s->dirfd, s->hdr.table_gen, false,
                                            s->hdr.table_capacity, ro, false, s->cfg.pages == STORE_PAGES_ALL,
                                            &s->cur, err, err_bytes)) != 0) {
        return rc;
    }
    if ((rc = open_values(s, false, err, err_bytes)) != 0)
        return rc;
    s->durable_values_bytes = s->heap.file_bytes;
    if (s->heap.file_bytes < s->hdr.values_bytes) {
        /* values.gkv never shrinks (I11): it was cut short. Refuse before
         * recovery could drop the entries whose records are gone. */
        snprintf(err, err_bytes, "values.gkv: truncated: %llu bytes, header.gkv recorded %llu",
                 (unsigned long long)s->heap.file_bytes, (unsigned long long)s->hdr.values_bytes);
        return GKV_ECORRUPT;
    }
    return 0;
}

static int open_existing(struct store *s, uint64_t now_ms, char *err, size_t err_bytes)
{
    int rc, valid = 0;
    bool ro = s->cfg.read_only;
    /* W3: a log damaged in the middle (good records after a bad one) is
     * refused before anything in the directory is written, so the
     * operator can salvage from the files exactly as they were. */
    if (!ro && (rc = wal_check_dir(s->dirfd, err, err_bytes)) != 0)
        return rc;
    if ((rc = open_files(s, &valid, err, err_bytes)) != 0)
        return rc;
    if (!ro)
        remove_orphan_tables(s);
    hlc_init(&s->hlc, s->cfg.max_clock_offset_ms);
    if ((rc = store__recover(s, err, err_bytes)) != 0) /* sets hlc.last to the largest slot HLC */
        return rc;
    s->st.recovered = s->hdr.clean == 0;
    /* I8 */
    if (s->hdr.hlc_bound > s->hlc.last)
        s->hlc.last = s->hdr.hlc_bound;
    if (ro)
        return 0;
    /* I10: the lookup indexes, from the verified slots (before the log
     * replay, whose writes keep them up to date). */
    store__ix_build_all(s);
    store__rc_open(s); /* empty; the log replay's writes fill it */
    /* I12: replay the logs (whatever the sync mode now: a store last run
     * with sync=batch may be reopened with sync=none) through the merge
     * rule, in generation order, a torn tail ending each. */
    uint64_t max_gen = 0;
    bool replayed = false;
    {
        struct store_stats saved = s->st;
        enum store_sync mode = s->cfg.sync;
        /* Replay writes like sync=none (no msync per write, growth started
         * right away); the checkpoint below makes the result durable. */
        s->cfg.sync = STORE_SYNC_NONE;
        s->replaying = true;
        rc = wal_scan_dir(s->dirfd, replay_apply, s, NULL, NULL, &s->wal.st, &max_gen, err,
                          err_bytes);
        s->replaying = false;
        s->cfg.sync = mode;
        replayed = s->wal.st.replay_files > 0;
        uint64_t torn = s->st.torn_slots_dropped;
        s->st = saved;
        s->st.torn_slots_dropped = torn;
        if (rc != 0)
            return rc;
        /* A doubling the replay finished waits for its commit. */
        if (s->growing && s->mig_committing && (rc = store__grow_commit(s)) != 0) {
            snprintf(err, err_bytes, "committing a doubling after the log replay: %s",
                     gkv_strerror(rc));
            return rc;
        }
    }
    if (s->hdr.clean == 0)
        s->hdr.incarnation++;
    s->hdr.clean = 0;
    (void)now_ms;
    s->hdr.hlc_bound = 0; /* forces a fresh lease from the restored clock */
    if ((rc = hlc_guard(s)) != 0 || (rc = store__header_write(s, true)) != 0) {
        snprintf(err, err_bytes, "header.gkv: cannot write: %s", gkv_strerror(rc));
        return rc;
    }
    /* Make the repairs durable before anything new is written (sync=none
     * promises nothing across power loss; an unclean header makes the next
     * open recover again anyway). */
    if ((s->cfg.sync != STORE_SYNC_NONE || replayed) && (rc = store_do_sync(s)) != 0) {
        snprintf(err, err_bytes, "sync after recovery: %s", gkv_strerror(rc));
        return rc;
    }
    if (replayed || s->cfg.sync != STORE_SYNC_NONE) {
        /* The tables now hold everything the logs did (a checkpoint):
         * start the next log (sync=batch/always), then drop the old ones.
         * Table files a replayed doubling created must be named durably
         * too (sync=none during replay skipped the directory fsync). */
        if ((rc = store__fsync_dir(s->dirfd)) != 0) {
            snprintf(err, err_bytes, "fsync of the directory: %s", gkv_strerror(rc));
            return rc;
        }
        if (s->cfg.sync != STORE_SYNC_NONE) {
            if ((rc = wal_open_new(&s->wal, s->dirfd, max_gen + 1, err, err_bytes)) != 0)
                return rc;
            if ((rc = store__fsync_dir(s->dirfd)) != 0) {
                snprintf(err, err_bytes, "fsync of the directory: %s", gkv_strerror(rc));
                return rc;
            }
        }
        uint64_t gens[WAL_MAX_FILES];
        int n = wal_list(s->dirfd, gens, WAL_MAX_FILES);
        for (int i = 0; i < n && i < (int)WAL_MAX_FILES; i++) {
            if (gens[i] > max_gen)
                continue;
            char name[64];
            wal_name(name, sizeof name, gens[i]);
            unlinkat(s->dirfd, name, 0);
        }
    }
    s->epoch++; /* whatever the mode: slots written before the open count as older */
    s->st.syncs = 0;
    return 0;
}

int store_open(const struct store_config *cfg, uint64_t now_ms, struct store **out,
               char *open_err, size_t open_err_bytes)
{
    *out = NULL;
    if (open_err && open_err_bytes > 0)
        open_err[0] = '\0';
    char err[STORE_ERR_BYTES] = "";
    if (!cfg)
        return fail(NULL, GKV_EINVAL, "no config", open_err, open_err_bytes);
    if (cfg->max_value_bytes > GKV_VALUE_HARD_MAX)
        return fail(NULL, GKV_EINVAL, "max_value_bytes above GKV_VALUE_HARD_MAX", open_err, open_err_bytes);
    if (cfg->initial_capacity > (1u << 30))
        return fail(NULL, GKV_EINVAL, "initial_capacity above 2^30 slots", open_err, open_err_bytes);
    if (cfg->read_only && !cfg->dir)
        return fail(NULL, GKV_EINVAL, "read_only needs a directory", open_err, open_err_bytes);
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return fail(NULL, GKV_ENOMEM, "out of memory", open_err, open_err_bytes);
    s->cfg = *cfg;
    s->dirfd = s->lockfd = s->hfd = s->heap.fd = -1;
    s->cur.fd = s->old.fd = s->next.fd = s->next_seed_fd = -1;
    s->wal.fd = -1;
    if (!s->cfg.max_value_bytes)
        s->cfg.max_value_bytes = GKV_VALUE_MAX_DEFAULT;
    if (!s->cfg.batch_ms)
        s->cfg.batch_ms = STORE_BATCH_MS_DEFAULT;
    if (!s->cfg.max_clock_offset_ms)
        s->cfg.max_clock_offset_ms = HLC_MAX_OFFSET_MS_DEFAULT;
    if (!s->cfg.tombstone_grace_ms)
        s->cfg.tombstone_grace_ms = STORE_TOMBSTONE_GRACE_DEFAULT_MS;
    s->last_sync_ms = now_ms;
    s->cfg.dir = NULL; /* borrowed by the caller; we keep our own copy */
    int rc;
    if (!cfg->dir) {
        if ((rc = create_new(s, now_ms, err, sizeof err)) != 0)
            return fail(s, rc, err, open_err, open_err_bytes);
        store__bix_build(s);
        *out = s;
        return 0;
    }
    if (strlen(cfg->dir) >= sizeof s->dir)
        return fail(s, GKV_EINVAL, "directory path too long", open_err, open_err_bytes);
    snprintf(s->dir, sizeof s->dir, "%s", cfg->dir);
    if (!cfg->read_only && mkdir(cfg->dir, STORE_DIR_MODE) != 0 && errno != EEXIST) {
        snprintf(err, sizeof err, "cannot create the directory: %s", strerror(errno));
        return fail(s, store__errno_code(errno), err, open_err, open_err_bytes);
    }
    s->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, sizeof err, "cannot open the directory: %s", strerror(errno));
        return fail(s, errno == ENOENT ? GKV_ENOTFOUND : store__errno_code(errno), err, open_err, open_err_bytes);
    }
    /* One owner per directory: flock on LOCK. A second process, or a second
     * open in this process (a different open file description), fails. */
    s->lockfd = openat(s->dirfd, "LOCK", (cfg->read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC,
                       STORE_FILE_MODE);
    if (s->lockfd < 0 && !cfg->read_only) {
        snprintf(err, sizeof err, "LOCK: cannot open: %s", strerror(errno));
        return fail(s, store__errno_code(errno), err, open_err, open_err_bytes);
    }
    if (s->lockfd >= 0 && flock(s->lockfd, (cfg->read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            snprintf(err, sizeof err, "LOCK: locked by another process or another open store "
                                      "(flock); one store per directory");
            return fail(s, GKV_ELOCKED, err, open_err, open_err_bytes);
        }
        snprintf(err, sizeof err, "LOCK: flock: %s", strerror(errno));
        return fail(s, store__errno_code(errno), err, open_err, open_err_bytes);
    }
    if (file_exists(s->dirfd, "header.gkv")) {
        rc = open_existing(s, now_ms, err, sizeof err);
    } else if (cfg->read_only) {
        snprintf(err, sizeof err, "header.gkv: missing (not a gossipkv data directory)");
        rc = GKV_ENOTFOUND;
    } else if (file_exists(s->dirfd, "header.gkv.new") || !has_store_files(s->dirfd, s->dir)) {
        /* Empty, or a creation that crashed before its header was renamed
         * into place (nothing can have been acknowledged): start afresh. */
        remove_store_files(s->dirfd);
        unlinkat(s->dirfd, "header.gkv.new", 0);
        rc = create_new(s, now_ms, err, sizeof err);
        if (rc == 0)
            store__rc_open(s);
    } else {
        snprintf(err, sizeof err, "header.gkv: missing, but table/values files are present; "
                                  "refusing to overwrite them");
        rc = GKV_ECORRUPT;
    }
    if (rc != 0)
        return fail(s, rc, err, open_err, open_err_bytes);
    /* After recovery and the log replay: from the final slots (I10). */
    store__bix_build(s);
    *out = s;
    return 0;
}

int store_close(struct store *s)
{
    if (!s)
        return 0;
    /* A background sync job holds a pointer to nothing of ours, but its
     * end must run on this store: the owner finishes it first. */
    if (s->sync_job)
        return GKV_EAGAIN;
    int rc = 0;
    if (!s->cfg.read_only) {
        if (s->growing && s->mig_committing)
            rc = store__grow_commit(s);
        /* The final checkpoint needs no next log: close it first, remove it
         * once the clean header is durable (a crash in between replays it,
         * harmlessly, I12). */
        uint64_t log_gen = s->wal.fd >= 0 ? s->wal.gen : 0;
        if (log_gen) {
            close(s->wal.fd);
            s->wal.fd = -1;
        }
        int r2 = store_do_sync(s);
        if (rc == 0)
            rc = r2;
        if (rc == 0) {
            /* Clean only if everything before it is durable. */
            s->hdr.clean = 1;
            rc = store__header_write(s, true);
        }
        if (rc == 0 && log_gen) {
            char name[64];
            wal_name(name, sizeof name, log_gen);
            unlinkat(s->dirfd, name, 0);
            store__fsync_dir(s->dirfd);
        }
    }
    store__free(s);
    return rc;
}

int store__inspect_open(const char *dir, struct store **out, bool *in_use, int *valid_copies,
                        char *err, size_t err_bytes)
{
    *out = NULL;
    *in_use = false;
    *valid_copies = 0;
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return GKV_ENOMEM;
    store_config_init(&s->cfg);
    s->cfg.read_only = true;
    s->cfg.max_value_bytes = GKV_VALUE_HARD_MAX;
    s->dirfd = s->lockfd = s->hfd = s->heap.fd = -1;
    s->cur.fd = s->old.fd = s->next.fd = s->next_seed_fd = -1;
    s->wal.fd = -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    int rc;
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        rc = errno == ENOENT ? GKV_ENOTFOUND : store__errno_code(errno);
        snprintf(err, err_bytes, "%s: cannot open the directory: %s", dir, strerror(errno));
        store__free(s);
        return rc;
    }
    /* A shared, non-blocking check only: inspect never waits and never
     * creates LOCK. If a node holds the directory, say so and read anyway. */
    int lfd = openat(s->dirfd, "LOCK", O_RDONLY | O_CLOEXEC);
    if (lfd >= 0) {
        if (flock(lfd, LOCK_SH | LOCK_NB) != 0)
            *in_use = true;
        close(lfd);
    }
    if (!file_exists(s->dirfd, "header.gkv")) {
        snprintf(err, err_bytes, "%s/header.gkv: missing (not a gossipkv data directory)", dir);
        store__free(s);
        return GKV_ENOTFOUND;
    }
    char e2[STORE_ERR_BYTES];
    if ((rc = open_files(s, valid_copies, e2, sizeof e2)) != 0) {
        snprintf(err, err_bytes, "%s/%s", dir, e2);
        store__free(s);
        return rc;
    }
    *out = s;
    return 0;
}
