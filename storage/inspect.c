/*
 * inspect.c: store_inspect(), the offline check behind `gossipkv inspect`.
 *
 * Maps every file read-only (PROT_READ, O_RDONLY), takes no lock (a shared,
 * non-blocking probe only tells whether a node holds the directory), and
 * runs the same verification as recovery with repair off (recover.c), so
 * what inspect calls a fault is exactly what an open would repair or drop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/store_int.h"
#include "storage/wal.h"

static void header_copies(FILE *out, const struct store *s, int valid)
{
    for (int i = 0; i < 2; i++) {
        struct fmt_header h;
        memcpy(&h, s->hmap + FMT_HEADER_COPY_OFF(i), sizeof h);
        bool ok = store__header_copy_ok(&h);
        fprintf(out, "header copy %c:   %s", 'A' + i, ok ? "ok" : "FAULT (fails verification)");
        if (ok)
            fprintf(out, " (seq %llu)", (unsigned long long)h.seq);
        fputc('\n', out);
    }
    (void)valid;
}

struct log_view {
    FILE *out;
    uint64_t damaged_files; /* files an open refuses (wal_file_damaged) */
};

/* One line per log file (wal.h). A torn tail is what a crash leaves (bytes
 * never acknowledged as durable): reported, not a fault; the next open
 * replays the records before it. A damaged stretch with good records after
 * it is a fault: the open refuses, --salvage keeps the good records. */
static void log_file_cb(void *arg, const struct wal_file_report *r)
{
    struct log_view *v = arg;
    FILE *out = v->out;
    char name[64];
    wal_name(name, sizeof name, r->gen);
    fprintf(out, "log:             %s, %llu bytes, %llu records", name,
            (unsigned long long)r->file_bytes, (unsigned long long)r->records);
    if (r->bad_prologue && r->records == 0)
        fprintf(out, ", bad prologue and no good record (an open skips the file, counted)");
    if (r->tail_off < r->file_bytes && !r->undecided)
        fprintf(out, ", torn tail: %llu bytes after offset %llu (%s; an open replays the "
                     "records before it)",
                (unsigned long long)(r->file_bytes - r->tail_off), (unsigned long long)r->tail_off,
                r->stop_rc == GKV_ETRUNC ? "short record" : "bad record");
    fputc('\n', out);
    if (!wal_file_damaged(r))
        return;
    v->damaged_files++;
    for (uint64_t i = 0; i < r->damaged && i < WAL_REPORT_DAMAGE; i++) {
        char what[160];
        wal_damage_describe(what, sizeof what, &r->damage[i]);
        fprintf(out, "  FAULT %s: %s; %llu good records (of %llu) follow it%s\n", name, what,
                (unsigned long long)r->damage[i].records_after, (unsigned long long)r->records,
                r->damage[i].zero_pages
                    ? " (pages of zeros: what pages a power loss kept from the disk look like; "
                      "if so, the records after them were never acknowledged either)"
                    : "");
    }
    if (r->damaged > WAL_REPORT_DAMAGE)
        fprintf(out, "  ... %llu damaged stretches in all, %llu bytes\n",
                (unsigned long long)r->damaged, (unsigned long long)r->damaged_bytes);
    if (r->undecided)
        fprintf(out, "  FAULT %s: a bad record at offset %llu, and the search for good records "
                     "after it gave up (record-like bytes past its budget)\n",
                name, (unsigned long long)r->tail_off);
    fprintf(out, "  an open refuses %s (acknowledged writes may be lost); `gossipkv inspect "
                 "--salvage DIR` backs it up and keeps every good record\n",
            name);
}

int store_inspect(const char *dir, bool verbose, FILE *out)
{
    if (!dir || !out)
        return GKV_EINVAL;
    struct store *s = NULL;
    bool in_use = false;
    int valid = 0;
    char err[STORE_ERR_BYTES];
    int rc = store__inspect_open(dir, &s, &in_use, &valid, err, sizeof err);
    if (rc != 0) {
        fprintf(out, "FAULT %s\n", err);
        return rc;
    }
    fprintf(out, "data directory:  %s%s\n", dir,
            in_use ? " (in use by a running node: the view may be mid-write)" : "");
    header_copies(out, s, valid);
    const struct fmt_header *h = &s->hdr;
    fprintf(out, "format version:  %u\n", h->version);
    fprintf(out, "node id:         %llu\n", (unsigned long long)h->node_id);
    fprintf(out, "incarnation:     %llu\n", (unsigned long long)h->incarnation);
    fprintf(out, "clean shutdown:  %s\n", h->clean ? "yes" : "no (the next open recovers)");
    fprintf(out, "hlc bound:       %llu.%llu\n", (unsigned long long)HLC_MS(h->hlc_bound),
            (unsigned long long)HLC_LOGICAL(h->hlc_bound));
    char name[64];
    store__table_name(name, sizeof name, s->cur.gen);
    fprintf(out, "table:           %s, %llu slots, %llu bytes\n", name, (unsigned long long)s->cur.cap,
            (unsigned long long)s->cur.map_bytes);
    if (s->growing) {
        store__table_name(name, sizeof name, s->old.gen);
        fprintf(out, "doubling from:   %s, %llu slots, %llu bytes (in progress)\n", name,
                (unsigned long long)s->old.cap, (unsigned long long)s->old.map_bytes);
    }
    fprintf(out, "values.gkv:      %llu bytes\n", (unsigned long long)s->heap.file_bytes);
    struct log_view logs = {.out = out};
    {
        struct wal_stats ws = {0};
        uint64_t max_gen = 0;
        char lerr[STORE_ERR_BYTES];
        int lrc = wal_scan_dir(s->dirfd, NULL, NULL, log_file_cb, &logs, &ws, &max_gen, lerr,
                               sizeof lerr);
        if (lrc != 0) {
            fprintf(out, "FAULT %s\n", lerr); /* reported; the table check goes on */
            logs.damaged_files++;
        }
        else if (ws.replay_files == 0)
            fprintf(out, "log:             none (clean shutdown, or sync=none)\n");
        else
            fprintf(out, "log totals:      %llu files, %llu records to replay, %llu torn bytes\n",
                    (unsigned long long)ws.replay_files, (unsigned long long)ws.replay_records,
                    (unsigned long long)ws.replay_torn_bytes);
    }
    if (verbose)
        fprintf(out, "entries:\n");

    struct store_vreport rep = {.out = out, .verbose = verbose};
    /* Faults are printed as they are found (FAULT lines). */
    rc = store__verify(s, false, &rep, err, sizeof err);
    if (rc != 0) {
        fprintf(out, "FAULT %s\n", err);
        store__free(s);
        return rc;
    }
    uint64_t used = s->cur.used + (s->growing ? s->old.used : 0);
    uint64_t cap = s->cur.cap + (s->growing ? s->old.cap : 0);
    fprintf(out, "values:          %llu\n", (unsigned long long)s->entries);
    fprintf(out, "tombstones:      %llu\n", (unsigned long long)s->tombstones);
    fprintf(out, "dead slots:      %llu\n",
            (unsigned long long)(s->cur.dead + (s->growing ? s->old.dead : 0)));
    fprintf(out, "load factor:     %.3f (live), %.3f (used slots)\n",
            (double)(s->entries + s->tombstones) / (double)s->cur.cap, (double)used / (double)cap);
    fprintf(out, "value heap:      %llu bytes in records' blocks, %llu free, top at %llu\n",
            (unsigned long long)s->heap.used_bytes, (unsigned long long)s->heap.free_bytes,
            (unsigned long long)s->heap.top);
    bool header_fault = valid < 2;
    uint64_t faults = rep.faults + (header_fault ? 1 : 0) + logs.damaged_files;
    fprintf(out, "checksum/consistency faults: %llu", (unsigned long long)faults);
    if (rep.faults)
        fprintf(out, " (an open would rebuild %llu slots, roll back %llu, drop %llu)",
                (unsigned long long)rep.rebuilt, (unsigned long long)rep.rolled_back,
                (unsigned long long)rep.dropped);
    fputc('\n', out);
    if (rep.vhash_fixed)
        fprintf(out, "stale cached version hashes: %llu (refreshed on open)\n",
                (unsigned long long)rep.vhash_fixed);
    fprintf(out, "status:          %s\n", faults ? "DAMAGED" : "healthy");
    store__free(s);
    return faults ? GKV_ECORRUPT : 0;
}

/* One log file: back it up and rewrite it if it is damaged; print what
 * was kept and dropped. Returns 0 or the error (printed). */
static int salvage_one(int dirfd, uint64_t gen, FILE *out, uint64_t *salvaged)
{
    char name[64], backup[96], err[STORE_ERR_BYTES];
    wal_name(name, sizeof name, gen);
    struct wal_file_report r;
    int rc = wal_salvage_file(dirfd, gen, &r, backup, sizeof backup, err, sizeof err);
    if (rc != 0) {
        fprintf(out, "FAULT %s\n", err);
        return rc;
    }
    if (!backup[0]) {
        fprintf(out, "%s: no damaged stretch, left as it is (%llu records)\n", name,
                (unsigned long long)r.records);
        return 0;
    }
    (*salvaged)++;
    for (uint64_t i = 0; i < r.damaged && i < WAL_REPORT_DAMAGE; i++) {
        char what[160];
        wal_damage_describe(what, sizeof what, &r.damage[i]);
        fprintf(out, "%s: dropped: %s\n", name, what);
    }
    if (r.damaged > WAL_REPORT_DAMAGE)
        fprintf(out, "%s: dropped: %llu damaged stretches in all\n", name,
                (unsigned long long)r.damaged);
    uint64_t tail = r.file_bytes - r.tail_off;
    if (tail)
        fprintf(out, "%s: dropped: %s of %llu bytes at offset %llu\n", name,
                r.undecided ? "the rest of the file (the search for good records gave up)"
                            : "the torn tail",
                (unsigned long long)tail, (unsigned long long)r.tail_off);
    fprintf(out, "%s: kept every good record: %llu; dropped %llu damaged bytes in all; the "
                 "damaged file is saved as %s\n",
            name, (unsigned long long)r.records,
            (unsigned long long)(r.damaged_bytes + tail), backup);
    return 0;
}

int store_salvage(const char *dir, FILE *out)
{
    if (!dir || !out)
        return GKV_EINVAL;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        fprintf(out, "FAULT %s: cannot open the directory: %s\n", dir, strerror(errno));
        return errno == ENOENT ? GKV_ENOTFOUND : store__errno_code(errno);
    }
    /* As store_open: the exclusive lock, never waited for. A running node
     * keeps its directory; salvage it after stopping the node. */
    int rc = 0;
    int lfd = openat(dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        rc = lfd >= 0 && e == EWOULDBLOCK ? GKV_ELOCKED : store__errno_code(e);
        fprintf(out, "FAULT %s/LOCK: %s\n", dir,
                rc == GKV_ELOCKED ? "held by a running node: stop it first" : strerror(e));
        goto out;
    }
    uint64_t gens[WAL_MAX_FILES], salvaged = 0;
    int n = wal_list(dirfd, gens, WAL_MAX_FILES);
    if (n < 0 || (size_t)n > WAL_MAX_FILES) {
        rc = n < 0 ? n : GKV_ELIMIT;
        fprintf(out, "FAULT %s: listing the log files: %s\n", dir,
                n < 0 ? gkv_strerror(n) : "more than WAL_MAX_FILES log files");
        goto out;
    }
    for (int i = 0; i < n && rc == 0; i++)
        rc = salvage_one(dirfd, gens[i], out, &salvaged);
    if (rc == 0) {
        char err[STORE_ERR_BYTES];
        rc = wal_check_dir(dirfd, err, sizeof err); /* what the next open checks */
        if (rc != 0)
            fprintf(out, "FAULT %s\n", err);
        else if (salvaged == 0)
            fprintf(out, "salvage: no log file is damaged in the middle; nothing changed\n");
        else
            fprintf(out, "salvage: %llu log files rewritten; the next start replays them "
                         "(`gossipkv inspect DIR` checks the rest)\n",
                    (unsigned long long)salvaged);
    }
out:
    if (lfd >= 0)
        close(lfd);
    close(dirfd);
    return rc;
}
