/*
 * inspect.c: store_inspect(), the offline check behind `gossipkv inspect`.
 *
 * Maps every file read-only (PROT_READ, O_RDONLY), takes no lock (a shared,
 * non-blocking probe only tells whether a node holds the directory), and
 * runs the same verification as recovery with repair off (recover.c), so
 * what inspect calls a fault is exactly what an open would repair or drop.
 */
#include <stdio.h>
#include <string.h>

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

/* One line per log file (wal.h). A torn tail is what a crash leaves (bytes
 * never acknowledged as durable): reported, not a fault; the next open
 * replays the records before it. */
static void log_file_cb(void *arg, const struct wal_file_report *r)
{
    FILE *out = arg;
    char name[64];
    wal_name(name, sizeof name, r->gen);
    fprintf(out, "log:             %s, %llu bytes, %llu records", name,
            (unsigned long long)r->file_bytes, (unsigned long long)r->records);
    if (r->bad_prologue)
        fprintf(out, ", bad prologue (an open skips the file, counted)");
    else if (r->file_bytes > r->good_bytes)
        fprintf(out, ", torn tail: %llu bytes after offset %llu (%s; an open replays the "
                     "records before it)",
                (unsigned long long)(r->file_bytes - r->good_bytes),
                (unsigned long long)r->good_bytes,
                r->stop_rc == GKV_ETRUNC ? "short record" : "bad record");
    fputc('\n', out);
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
    {
        struct wal_stats ws = {0};
        uint64_t max_gen = 0;
        char lerr[STORE_ERR_BYTES];
        int lrc = wal_scan_dir(s->dirfd, NULL, NULL, log_file_cb, out, &ws, &max_gen, lerr,
                               sizeof lerr);
        if (lrc != 0)
            fprintf(out, "FAULT %s\n", lerr); /* reported; the table check goes on */
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
    uint64_t faults = rep.faults + (header_fault ? 1 : 0);
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
