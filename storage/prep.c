/*
 * prep.c: growth ahead of need, as jobs the owner runs off its thread
 * (store_config.external_prep; store.h: store_prep_begin).
 *
 * Why: every call that can wait for the disk (fallocate, msync, fsync,
 * MADV_POPULATE_WRITE of new file space, the release of a retired table)
 * made inside a put stalls every client of the node's event loop for as
 * long as the disk takes (milliseconds, tens of them under load). Redis
 * moves its fsync and the closing of big files to bio threads for the same
 * reason. Here the owner thread only decides and applies (begin, end: no
 * blocking call); run does the I/O on descriptors it owns (dup()s) or on
 * memory the owner does not touch meanwhile.
 *
 * What run may touch, and why that is safe while the owner keeps writing:
 *   heap    fallocate on a dup of values.gkv's descriptor, beyond what the
 *           allocator may use (file_bytes moves only at end), and
 *           MADV_POPULATE_WRITE, which faults pages in without changing
 *           a byte, so it may cover pages the owner writes meanwhile.
 *           The mapping is reserved large (HEAP_RESERVE_EXT_BYTES), so no
 *           remap moves it under the job; if one did (a fallback), the
 *           populate only hits an unmapped or unrelated range, harmlessly.
 *   next    a file and mapping nobody else knows until end.
 *   commit  fdatasync of dups only.
 *   retire  the old table, which the owner handed over (no lookup reads
 *           it after the commit), and a dup of header.gkv.
 * Fallbacks (a job late or failed): the inline paths of table.c and heap.c,
 * counted by store_disk_calls_get under their cause.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/store_int.h"

enum prep_kind { PREP_COMMIT, PREP_RETIRE, PREP_HEAP, PREP_NEXT };

struct store_prep_job {
    enum prep_kind kind;
    bool durable; /* sync != none: fdatasync/fsync as I6 wants */
    int fds[2];   /* dups: commit (values, cur); retire (header); heap (values) */
    int dirfd;    /* dup: retire, next */
    /* heap: grow to target, populate [pf_from, target) at map */
    uint8_t *map;
    uint64_t pf_from, target;
    /* next and retire: the table */
    struct store_table t;
    uint64_t gen, cap;
    bool huge;
    struct store_io io; /* this job's disk calls, added to the store's at end */
};

/* Free room to keep ahead of values.gkv's allocator: an eighth of the
 * file, 16 to 64 MiB. 16 MiB is 80 ms of 200k SET/s of 100-byte values
 * (~200 bytes a record with its clock), eight ticks of margin for a job
 * that takes a few ms on a quiet disk and tens on a busy one; larger files
 * grow by more at a time (fewer jobs), but never by more than 64 MiB of
 * blocks reserved ahead. */
#define PREP_HEAP_AHEAD_MIN_BYTES (16ull << 20)
#define PREP_HEAP_AHEAD_MAX_BYTES (64ull << 20)
#define PREP_HEAP_ALIGN_BYTES (2ull << 20) /* as HEAP_GROW_ALIGN_BYTES */
/* The next table is prepared as soon as a doubling starts (its migration
 * fills the new table to 3/8, the next doubling starts at 3/4), or at 3/8
 * load in a table that did not double since open: 3/8 of the table's
 * writes and more to create, allocate and zero-fill a file of twice its
 * size. The 5/8 of the inline path (store__next_step) leaves too few for a
 * small table at 100k writes/s on a busy disk, and a late job is a stall.
 * The cost: the prepared file (twice the table's bytes, on disk and in the
 * page cache) exists nearly all the time. */
#define PREP_NEXT_START_NUM 3u
#define PREP_NEXT_START_DEN 8u

static struct store_prep_job *job_new(enum prep_kind kind, bool durable)
{
    struct store_prep_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->durable = durable;
    j->io.in_job = true;
    j->fds[0] = j->fds[1] = j->dirfd = -1;
    j->t.fd = -1;
    return j;
}

static void job_free(struct store_prep_job *j)
{
    for (int i = 0; i < 2; i++)
        if (j->fds[i] >= 0)
            close(j->fds[i]);
    if (j->dirfd >= 0)
        close(j->dirfd);
    free(j);
}

static int dup_fd(int fd, int *out)
{
    *out = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return *out < 0 ? store__errno_code(errno) : 0;
}

static uint64_t heap_ahead_bytes(const struct store_heap *h)
{
    uint64_t a = h->file_bytes / 8;
    if (a < PREP_HEAP_AHEAD_MIN_BYTES)
        a = PREP_HEAP_AHEAD_MIN_BYTES;
    if (a > PREP_HEAP_AHEAD_MAX_BYTES)
        a = PREP_HEAP_AHEAD_MAX_BYTES;
    return a;
}

static int begin_heap(struct store *s, bool durable, struct store_prep_job **out)
{
    struct store_heap *h = &s->heap;
    uint64_t ahead = heap_ahead_bytes(h);
    if (h->file_bytes >= h->map_bytes || (h->file_bytes - h->top >= ahead && h->prefaulted >= h->top))
        return 0;
    struct store_prep_job *j = job_new(PREP_HEAP, durable);
    if (!j)
        return GKV_ENOMEM;
    int rc = dup_fd(h->fd, &j->fds[0]);
    if (rc != 0) {
        job_free(j);
        return rc;
    }
    uint64_t target = h->file_bytes;
    if (target - h->top < ahead)
        target = h->top + 2 * ahead;
    target = (target + PREP_HEAP_ALIGN_BYTES - 1) & ~(PREP_HEAP_ALIGN_BYTES - 1);
    if (target > h->map_bytes)
        target = h->map_bytes;
    j->map = h->map;
    j->pf_from = h->prefaulted > h->top ? h->prefaulted : h->top;
    j->target = target;
    *out = j;
    return 0;
}

/* The commit or retire job due now, if any. */
static int begin_table(struct store *s, bool durable, struct store_prep_job **out)
{
    int rc;
    if (s->growing && s->mig_committing) {
        if (!durable) /* nothing to make durable: commit now, no I/O */
            return store__grow_commit_tail(s);
        struct store_prep_job *j = job_new(PREP_COMMIT, durable);
        if (!j)
            return GKV_ENOMEM;
        if ((rc = dup_fd(s->heap.fd, &j->fds[0])) != 0 ||
            (rc = dup_fd(s->cur.fd, &j->fds[1])) != 0) {
            job_free(j);
            return rc;
        }
        *out = j;
        return 0;
    }
    if (s->retire_wait.map) {
        struct store_prep_job *j = job_new(PREP_RETIRE, durable);
        if (!j)
            return GKV_ENOMEM;
        if ((rc = dup_fd(s->dirfd, &j->dirfd)) != 0 ||
            (durable && (rc = dup_fd(s->hfd, &j->fds[0])) != 0)) {
            job_free(j);
            return rc;
        }
        j->t = s->retire_wait; /* the job owns the old table now */
        memset(&s->retire_wait, 0, sizeof s->retire_wait);
        s->retire_wait.fd = -1;
        *out = j;
        return 0;
    }
    return 0;
}

static int begin_next(struct store *s, bool durable, struct store_prep_job **out)
{
    int rc;
    uint64_t gen = s->cur.gen + 1, cap = s->cur.cap * 2;
    /* While a doubling migrates, cur is already the table the next one
     * doubles: prepare it meanwhile (cur fills to 3/8 by the migration). */
    if (s->retiring || s->next.map || s->next_failed_gen == gen || cap > STORE_MAX_CAPACITY ||
        (!s->growing && s->cur.used < s->cur.cap / PREP_NEXT_START_DEN * PREP_NEXT_START_NUM))
        return 0;
    store__seed_drop(s); /* holds this generation's name; jobs take no seed */
    struct store_prep_job *j = job_new(PREP_NEXT, durable);
    if (!j)
        return GKV_ENOMEM;
    if ((rc = dup_fd(s->dirfd, &j->dirfd)) != 0) {
        job_free(j);
        return rc;
    }
    j->gen = gen;
    s->next_gen_in_flight = gen;
    j->cap = cap;
    j->huge = s->cfg.pages == STORE_PAGES_ALL;
    *out = j;
    return 0;
}

int store_prep_begin(struct store *s, struct store_prep_job **out)
{
    *out = NULL;
    if (!s->cfg.external_prep || s->dirfd < 0 || s->cfg.read_only)
        return 0;
    bool durable = s->cfg.sync != STORE_SYNC_NONE;
    int rc = 0;
    if (!s->prep_heap_job) {
        rc = begin_heap(s, durable, out);
        s->prep_heap_job = *out;
        if (*out || rc != 0)
            return rc;
    }
    if (!s->prep_job) {
        rc = begin_table(s, durable, out);
        s->prep_job = *out;
        if (*out || rc != 0)
            return rc;
    }
    if (!s->prep_next_job) {
        rc = begin_next(s, durable, out);
        s->prep_next_job = *out;
        if (*out || rc != 0)
            return rc;
    }
    return s->prep_job && s->prep_heap_job && s->prep_next_job ? GKV_EAGAIN : 0;
}

static int run_heap(struct store_prep_job *j)
{
    int rc = store__file_grow(&j->io, j->fds[0], j->target);
    if (rc != 0)
        return rc;
    /* A populate changes no byte: safe over pages the owner writes. */
    if (j->target > j->pf_from)
        store__prefault(&j->io, j->map, j->pf_from, j->target - j->pf_from);
    return 0;
}

static int run_retire(struct store_prep_job *j)
{
    /* I6: the header that stopped naming this table is durable first. */
    int rc = j->durable ? store__fdatasync(&j->io, j->fds[0]) : 0;
    if (rc != 0)
        return rc; /* the file stays; end unmaps it, the next open deletes it */
    char name[64];
    store__table_name(name, sizeof name, j->t.gen);
    unlinkat(j->dirfd, name, 0);
    if (j->durable)
        rc = store__fsync_dir(&j->io, j->dirfd);
    /* Unmapping and closing an unlinked table frees its pages and blocks:
     * the longest part of a doubling's end (ext4 with discard), here. */
    store__table_unmap(&j->t);
    return rc;
}

static int prep_job_run(struct store_prep_job *j)
{
    switch (j->kind) {
    case PREP_COMMIT: {
        /* I6: everything migrated into cur (records, then slots) is durable
         * before end writes the header that stops naming old. */
        int rc = store__fdatasync(&j->io, j->fds[0]);
        return rc != 0 ? rc : store__fdatasync(&j->io, j->fds[1]);
    }
    case PREP_RETIRE:
        return run_retire(j);
    case PREP_HEAP:
        return run_heap(j);
    case PREP_NEXT:
        return store__table_create_ready(&j->io, j->dirfd, j->gen, j->cap, j->durable, j->huge, &j->t);
    }
    return GKV_EINVAL;
}

int store_prep_job_run(struct store_prep_job *job)
{
    return prep_job_run(job);
}

const char *store_prep_job_kind(const struct store_prep_job *job)
{
    static const char *const names[] = {"commit", "retire", "heap", "next"};
    return names[job->kind];
}

int store_prep_end(struct store *s, struct store_prep_job *job, int run_rc)
{
    if (!job)
        return GKV_EINVAL;
    if (s->prep_job == job) {
        s->prep_job = NULL;
    } else if (s->prep_heap_job == job) {
        s->prep_heap_job = NULL;
    } else if (s->prep_next_job == job) {
        s->prep_next_job = NULL;
    } else {
        job_free(job);
        return GKV_EINVAL;
    }
    s->io.jobs += job->io.jobs;
    int rc = run_rc;
    switch (job->kind) {
    case PREP_COMMIT:
        /* On failure the commit stays due: the next begin retries it. */
        if (run_rc == 0)
            rc = store__grow_commit_tail(s);
        break;
    case PREP_RETIRE:
        if (job->t.map) /* run failed before unmapping */
            store__table_unmap(&job->t);
        /* No slot on disk names the held blocks now (the header stopped
         * naming the old table, durably): they wait one sync, as any free.
         * Unless a new doubling started meanwhile (a late job): its commit
         * releases them, later, which is safe. */
        if (run_rc == 0 && !s->growing)
            store__heap_release_held(&s->heap);
        break;
    case PREP_HEAP:
        if (run_rc == 0) {
            struct store_heap *h = &s->heap;
            if (job->target > h->file_bytes)
                h->file_bytes = job->target;
            if (job->map == h->map && job->target > h->prefaulted)
                h->prefaulted = job->target;
        }
        break;
    case PREP_NEXT:
        s->next_gen_in_flight = 0;
        if (run_rc != 0) {
            s->next_failed_gen = job->gen; /* the inline doubling reports it */
        } else if (job->gen == s->cur.gen + 1 && !s->next.map) {
            s->next = job->t;
            s->next_ready = s->next.map_bytes; /* whole: nothing for next_step */
            job->t.map = NULL;
        } else {
            /* A fallback doubling overtook it (under the next number). */
            store__table_unmap(&job->t);
            char name[64];
            store__table_name(name, sizeof name, job->gen);
            if (job->gen != s->cur.gen && job->gen != s->old.gen)
                unlinkat(s->dirfd, name, 0);
            job->t.map = NULL;
        }
        break;
    }
    job_free(job);
    if (rc == 0 && s->grow_wanted && !s->growing && store__grow_ready(s, s->next.cap)) {
        s->grow_wanted = false;
        rc = store__grow_start(s);
        if (rc != 0)
            s->grow_wanted = true;
    }
    return rc;
}
