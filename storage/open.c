/*
 * open.c: store_open and store_close: creating a new directory, opening an
 * existing one (with recover.c: verification, torn-slot repair, rebuild of
 * the in-memory state, log replay), mapping the files, taking the LOCK,
 * and the read-only open behind inspect.
 *
 * Owns: the mapping of header.gkv and values.gkv, the defaults a new store
 * gets, and removal of files a crash left behind (I6: a table file the
 * header does not name; I12: logs older than a checkpoint).
 *
 * Invariants kept here (numbered in store.c): I6 a new store's files are
 * whole and their names durable before the header names them; I8 the clock
 * starts above every HLC the store issued; I10 all derived state is rebuilt
 * from verified slots; I11 values.gkv only grows.
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

/* Default table size for a new store (64 KiB of slots). */
#define STORE_DEFAULT_CAPACITY 1024u
#define STORE_MIN_CAPACITY 16u
/* Tombstone grace when the config says 0: 24 h (Cassandra gc_grace is 10 days;
 * a day is enough for a node to come back or be replaced). */
#define STORE_TOMBSTONE_GRACE_DEFAULT_MS ENTRY_TOMBSTONE_GRACE_DEFAULT_MS
#define STORE_BATCH_MS_DEFAULT 100u
/* Initial values.gkv size beyond its prologue page. */
#define STORE_VALUES_INITIAL_BYTES (256u * 1024u)
/* Anonymous stores reserve this much address space for the heap and remap
 * past it (a simulator holds thousands of stores in one process). */
#define STORE_ANON_RESERVE_BYTES (64ull << 20)

/* ------------------------------------------------------- open / close */

void store__free(struct store *s)
{
    if (!s)
        return;
    store__bix_free(s);
    store__tix_free(s);
    store__table_unmap(&s->cur);
    if (s->old.map)
        store__table_unmap(&s->old);
    store__next_discard(s);
    store__retire_step(s, UINT64_MAX);
    if (s->retire_wait.map)
        store__table_unmap(&s->retire_wait);
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
    free(s->ctr_buf);
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
                    (ro ? O_RDONLY : O_RDWR) | (create ? O_CREAT | O_TRUNC : 0) | O_CLOEXEC,
                    STORE_FILE_MODE);
    if (s->hfd < 0) {
        snprintf(err, err_bytes, "%s: cannot open: %s", name, strerror(errno));
        return store__errno_code(errno);
    }
    int rc;
    if (create && (rc = store__file_grow(&s->io, s->hfd, FMT_HEADER_FILE_BYTES)) != 0) {
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
                       (ro ? O_RDONLY : O_RDWR) | (create ? O_CREAT | O_TRUNC : 0) | O_CLOEXEC,
                       STORE_FILE_MODE);
        if (h->fd < 0) {
            int rc = errno == ENOENT ? GKV_ECORRUPT : store__errno_code(errno);
            snprintf(err, err_bytes, "values.gkv: cannot open: %s", strerror(errno));
            return rc;
        }
        int rc;
        if (create && (rc = store__file_grow(&s->io, h->fd, FMT_PAGE + STORE_VALUES_INITIAL_BYTES)) != 0) {
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
        h->map_bytes = s->cfg.external_prep ? HEAP_RESERVE_EXT_BYTES : HEAP_RESERVE_MIN_BYTES;
        h->no_ahead = s->cfg.external_prep;
        while (h->map_bytes < 2 * h->file_bytes)
            h->map_bytes *= 2;
        void *m =
            mmap(NULL, h->map_bytes, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, h->fd, 0);
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
        p->checksum =
            store__checksum64(p, offsetof(struct fmt_values_prologue, checksum), FMT_SEED_VALUES);
        h->top = FMT_PAGE;
        s->durable_values_bytes = h->file_bytes;
        if (h->fd >= 0) {
            int rc = store__msync_range(&s->io, h->map, 0, FMT_PAGE);
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
        p->checksum =
            store__checksum64(p, offsetof(struct fmt_values_prologue, checksum), FMT_SEED_VALUES);
        int rc = store__msync_range(&s->io, h->map, 0, FMT_PAGE);
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
    uint64_t cap =
        round_pow2(s->cfg.initial_capacity ? s->cfg.initial_capacity : STORE_DEFAULT_CAPACITY);
    memcpy(s->secret, s->cfg.placement_secret, sizeof s->secret);
    if ((rc = store__table_open_file(&s->io, s->dirfd, 1, true, cap, false, true,
                                     s->cfg.pages == STORE_PAGES_ALL, &s->cur, err, err_bytes)) !=
        0)
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
    if ((rc = store__hlc_guard_logged(s)) != 0) /* writes both copies */
        goto io;
    if ((rc = store__header_write(s, true)) != 0)
        goto io;
    if (s->dirfd >= 0) {
        /* The header appears under its real name last, whole: a directory
         * with header.gkv is a store; one without is empty or a leftover of
         * an interrupted creation (header.gkv.new), which open discards. */
        if (fsync(s->hfd) != 0 ||
            renameat(s->dirfd, "header.gkv.new", s->dirfd, "header.gkv") != 0) {
            rc = store__errno_code(errno);
            goto io;
        }
        if ((rc = store__fsync_dir(&s->io, s->dirfd)) != 0)
            goto io;
        if (s->cfg.sync != STORE_SYNC_NONE) {
            /* I12: the log; its name is durable before any write. */
            if ((rc = wal_open_new(&s->wal, s->dirfd, 1, err, err_bytes)) != 0)
                return rc;
            if ((rc = store__fsync_dir(&s->io, s->dirfd)) != 0)
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
    if ((rc = store__header_read(s->hfd, FMT_HEADER_FILE_BYTES, s->hmap, &s->hdr, valid_copies, err,
                                 err_bytes)) != 0)
        return rc;
    if (s->cfg.node_id && s->cfg.node_id != s->hdr.node_id) {
        snprintf(err, err_bytes, "header.gkv: node id %llu does not match the configured %llu",
                 (unsigned long long)s->hdr.node_id, (unsigned long long)s->cfg.node_id);
        return GKV_EINVAL;
    }
    memcpy(s->secret, s->hdr.secret, sizeof s->secret);
    bool ro = s->cfg.read_only;
    if (s->hdr.grow_gen) {
        if ((rc = store__table_open_file(&s->io, s->dirfd, s->hdr.table_gen, false, s->hdr.table_capacity,
                                         ro, false, s->cfg.pages == STORE_PAGES_ALL, &s->old, err,
                                         err_bytes)) != 0)
            return rc;
        if ((rc = store__table_open_file(&s->io, s->dirfd, s->hdr.grow_gen, false, s->hdr.grow_capacity, ro,
                                         false, s->cfg.pages == STORE_PAGES_ALL, &s->cur, err,
                                         err_bytes)) != 0)
            return rc;
        s->growing = true;
        s->mig_pos = 0;
        s->mig_empty_end = 0;
    } else if ((rc = store__table_open_file(&s->io,
                    s->dirfd, s->hdr.table_gen, false, s->hdr.table_capacity, ro, false,
                    s->cfg.pages == STORE_PAGES_ALL, &s->cur, err, err_bytes)) != 0) {
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
        rc = wal_scan_dir(s->dirfd, store__replay_apply, s, NULL, NULL, &s->wal.st, &max_gen, err,
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
    if ((rc = store__hlc_guard_logged(s)) != 0 || (rc = store__header_write(s, true)) != 0) {
        snprintf(err, err_bytes, "header.gkv: cannot write: %s", gkv_strerror(rc));
        return rc;
    }
    /* Make the repairs durable before anything new is written (sync=none
     * promises nothing across power loss; an unclean header makes the next
     * open recover again anyway). */
    if ((s->cfg.sync != STORE_SYNC_NONE || replayed) && (rc = store__do_sync(s)) != 0) {
        snprintf(err, err_bytes, "sync after recovery: %s", gkv_strerror(rc));
        return rc;
    }
    if (replayed || s->cfg.sync != STORE_SYNC_NONE) {
        /* The tables now hold everything the logs did (a checkpoint):
         * start the next log (sync=batch/always), then drop the old ones.
         * Table files a replayed doubling created must be named durably
         * too (sync=none during replay skipped the directory fsync). */
        if ((rc = store__fsync_dir(&s->io, s->dirfd)) != 0) {
            snprintf(err, err_bytes, "fsync of the directory: %s", gkv_strerror(rc));
            return rc;
        }
        if (s->cfg.sync != STORE_SYNC_NONE) {
            if ((rc = wal_open_new(&s->wal, s->dirfd, max_gen + 1, err, err_bytes)) != 0)
                return rc;
            if ((rc = store__fsync_dir(&s->io, s->dirfd)) != 0) {
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

int store_open(const struct store_config *cfg, uint64_t now_ms, struct store **out, char *open_err,
               size_t open_err_bytes)
{
    *out = NULL;
    if (open_err && open_err_bytes > 0)
        open_err[0] = '\0';
    char err[STORE_ERR_BYTES] = "";
    if (!cfg)
        return fail(NULL, GKV_EINVAL, "no config", open_err, open_err_bytes);
    if (cfg->max_value_bytes > GKV_VALUE_HARD_MAX)
        return fail(NULL, GKV_EINVAL, "max_value_bytes above GKV_VALUE_HARD_MAX", open_err,
                    open_err_bytes);
    if (cfg->initial_capacity > (1u << 30))
        return fail(NULL, GKV_EINVAL, "initial_capacity above 2^30 slots", open_err,
                    open_err_bytes);
    if (cfg->read_only && !cfg->dir)
        return fail(NULL, GKV_EINVAL, "read_only needs a directory", open_err, open_err_bytes);
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return fail(NULL, GKV_ENOMEM, "out of memory", open_err, open_err_bytes);
    s->cfg = *cfg;
    s->dirfd = s->lockfd = s->hfd = s->heap.fd = -1;
    s->cur.fd = s->old.fd = s->next.fd = s->next_seed_fd = s->retire_wait.fd = -1;
    s->wal.fd = -1;
    s->heap.io = s->wal.io = &s->io;
    if (!s->cfg.dir)
        s->cfg.external_prep = false; /* anonymous memory waits for no disk */
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
        return fail(s, errno == ENOENT ? GKV_ENOTFOUND : store__errno_code(errno), err, open_err,
                    open_err_bytes);
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
            snprintf(err, sizeof err,
                     "LOCK: locked by another process or another open store "
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
        snprintf(err, sizeof err,
                 "header.gkv: missing, but table/values files are present; "
                 "refusing to overwrite them");
        rc = GKV_ECORRUPT;
    }
    if (rc != 0)
        return fail(s, rc, err, open_err, open_err_bytes);
    /* After recovery and the log replay: from the final slots (I10). */
    store__bix_build(s);
    if (!cfg->read_only) {
        /* T2, then T3 up to now's cutoff: the bucket hashes were built with
         * every entry in (cutoff 0). */
        store__tix_build(s);
        store__tix_advance(s, entry_purge_cutoff_hlc(now_ms, s->cfg.tombstone_grace_ms),
                           UINT64_MAX);
    }
    *out = s;
    return 0;
}

int store_close(struct store *s)
{
    if (!s)
        return 0;
    /* A background sync job holds a pointer to nothing of ours, but its
     * end must run on this store: the owner finishes it first. */
    if (s->sync_job || s->prep_job || s->prep_heap_job || s->prep_next_job)
        return GKV_EAGAIN;
    int rc = 0;
    if (!s->cfg.read_only) {
        if (s->growing && s->mig_committing)
            rc = store__grow_commit(s);
        store__retire_wait_now(s);
        /* The final checkpoint needs no next log: close it first, remove it
         * once the clean header is durable (a crash in between replays it,
         * harmlessly, I12). */
        uint64_t log_gen = s->wal.fd >= 0 ? s->wal.gen : 0;
        if (log_gen) {
            close(s->wal.fd);
            s->wal.fd = -1;
        }
        int r2 = store__do_sync(s);
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
            store__fsync_dir(&s->io, s->dirfd);
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
    s->cur.fd = s->old.fd = s->next.fd = s->next_seed_fd = s->retire_wait.fd = -1;
    s->wal.fd = -1;
    s->heap.io = s->wal.io = &s->io;
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
