/*
 * checkpoint.c: durability. Group commits and checkpoints, run inline
 * (store__do_sync, store_sync) or as a background job (store_sync_begin /
 * store_sync_job_run / store_sync_end), and the periodic work of store_tick.
 *
 * Owns: when a checkpoint is due, switching to log.<gen+1>.gkv after one,
 * the sync epoch and the release of deferred frees.
 *
 * Invariants kept here (numbered in store.c): I3 the epoch advances only
 * when a sync made the slots written in it durable, and freed blocks become
 * reusable only after that (pinned blocks wait one more sync); I6 the
 * header is written after what it names is durable; I12 log.<gen> is
 * removed only after the checkpoint that covers it and the start of
 * log.<gen+1>.
 *
 * Nothing here is on the put/get path: a write calls store__do_sync only
 * when its backstops (pending frees, log size) are passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/store_int.h"

/* Time for a checkpoint: the log passed its limit, a log write failed (its
 * tail is unknown: only the table can cover it), or the deferred frees
 * (reusable only after a checkpoint, I12) passed the same limit. Only a
 * slot's checkpoint-time record waits (write_version), at most one block
 * per key, so the frees rarely decide it; before that rule they did, at
 * half the backstop, twice as often as the log in client_bench. */
static bool wal_checkpoint_due(const struct store *s)
{
    return s->wal.fd >= 0 && (s->wal.end >= store__wal_ckpt_bytes(s) || s->wal.broken ||
                              s->heap.pending_bytes >= store__wal_ckpt_bytes(s));
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
    if ((rc = store__fsync_dir(&s->io, s->dirfd)) != 0)
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

static int do_sync_cause(struct store *s);

int store__do_sync(struct store *s)
{
    unsigned pc = store__io_cause_enter(&s->io, STORE_IO_CHECKPOINT);
    int rc = do_sync_cause(s);
    store__io_cause_leave(&s->io, pc);
    return rc;
}

static int do_sync_cause(struct store *s)
{
    int rc = 0;
    if (s->dirfd >= 0 && !s->cfg.read_only) {
        /* Records before slots before the header: a power loss mid-sync
         * leaves slots whose records are durable, or falls back (I3). */
        uint64_t vbytes = s->heap.file_bytes;
        if ((rc = store__msync_range(&s->io, s->heap.map, 0, s->heap.top)) != 0)
            goto out;
        s->durable_values_bytes = vbytes;
        if ((rc = store__msync_range(&s->io, s->cur.map, 0, s->cur.map_bytes)) != 0)
            goto out;
        if (s->growing && (rc = store__msync_range(&s->io, s->old.map, 0, s->old.map_bytes)) != 0)
            goto out;
        if ((rc = store__msync_range(&s->io, s->hmap, 0, FMT_HEADER_FILE_BYTES)) != 0)
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
    job->io.in_job = true;
    job->log.io = &job->io;
    int rc = wal_job_run(&job->log);
    if (rc != 0)
        return rc;
    for (int i = 0; i < job->nfds; i++) {
        rc = store__fdatasync(&job->io, job->fds[i]);
        if (rc != 0)
            return rc;
    }
    if (job->checkpoint) {
        /* The tables hold everything the old log did (I12): drop it, and
         * make the new log's name (created at begin) durable. */
        char name[64];
        wal_name(name, sizeof name, job->old_log_gen);
        unlinkat(job->dirfd, name, 0);
        if ((rc = store__fsync_dir(&job->io, job->dirfd)) != 0)
            return rc;
    }
    return 0;
}

/* Start the doubling that writes asked for (grow_wanted). On failure
 * (ENOSPC counted in full_refused) keep writing into this table and ask
 * again at a later tick. */
static int grow_start_wanted(struct store *s)
{
    /* external_prep: only with the next table ready (no I/O here); a prep
     * job's end starts it otherwise (write.c, maintain). */
    if (s->cfg.external_prep && !store__grow_ready(s, s->next.cap))
        return 0;
    s->grow_wanted = false;
    int rc = store__grow_start(s);
    if (rc != 0) {
        if (rc == GKV_ENOSPC)
            s->st.full_refused++;
        s->grow_wanted = true;
    }
    return rc;
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
    if (s->sync_job == NULL || rc != GKV_EINVAL)
        s->io.jobs += job->io.jobs;
    for (int i = 0; i < job->nfds; i++)
        close(job->fds[i]);
    if (job->dirfd >= 0)
        close(job->dirfd);
    free(job->frees.v);
    free(job);
    if (rc == 0 && s->cfg.external_batch_sync && s->grow_wanted && !s->growing) {
        /* The doubling waited for this group commit (little is dirty now):
         * see maintain in write.c. */
        rc = grow_start_wanted(s);
    }
    return rc;
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
        if (s->mig_committing && s->cfg.external_prep)
            rc = 0; /* a prep job makes cur durable first (prep.c) */
        else if (s->mig_committing)
            rc = store__grow_commit(s);
        else
            rc = store__grow_step(s, STORE_GROW_STEP_TICK);
        if (rc != 0)
            return rc;
    }
    if ((rc = store__hlc_guard_logged(s)) != 0)
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
                    rc = store__do_sync(s);
            } else if (s->dirty || s->heap.pending.n) {
                rc = store__do_sync(s);
            }
        }
    } else if (s->cfg.sync == STORE_SYNC_ALWAYS && wal_checkpoint_due(s) && !s->sync_job) {
        rc = store__do_sync(s);
    }
    /* External sync: the doubling starts at the end of the next group
     * commit (store_sync_end), or here when there is nothing to commit. */
    bool ext_wait =
        s->cfg.sync == STORE_SYNC_BATCH && s->cfg.external_batch_sync &&
        (s->sync_job || (s->wal.fd >= 0 ? wal_pending(&s->wal) : s->dirty || s->heap.pending.n));
    if (rc == 0 && s->grow_wanted && !s->growing && !ext_wait)
        rc = grow_start_wanted(s);
    return rc;
}

int store_sync(struct store *s)
{
    if (s->cfg.read_only)
        return 0;
    return store__do_sync(s);
}
