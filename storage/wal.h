/*
 * wal.h: the write-ahead log of sync=batch and sync=always (internal to
 * storage/; write.c, checkpoint.c and open.c are its only users besides the tests).
 *
 * Why: with the table and values.gkv mmap'd MAP_SHARED, a group commit that
 * msyncs (or fdatasyncs) them writes back every 4 KiB page random writes
 * dirtied, and each written-back page is write-protected and faults again
 * on the next write (docs/BENCHMARKS.md, client_bench). A log appended with
 * write() and made durable with one fdatasync costs the ~200 bytes of each
 * change instead (Redis AOF appendfsync everysec/always does the same).
 * The mapped files are then written back only at checkpoints.
 *
 * A data directory holds at most a few log files, log.<gen>.gkv: normally
 * one; two only while a checkpoint is switching from one to the next.
 * Every record after a file's 32-byte prologue describes one state change:
 *
 *   VERSION  the full entry a put, delete or merge stored
 *   PURGE    a tombstone purge (key + the purged tombstone's HLC)
 *   HLC      a new HLC lease (I8: the header is synced only at checkpoints)
 *
 * Recovery replays every log file in generation order through the merge
 * rule (write.c). Replaying a change whose effect already reached the
 * table is harmless: the LWW merge is idempotent, and replaying a whole
 * log in order reproduces every purge after the writes it removes.
 *
 * Layouts: docs/FILE_FORMAT.md ("log.<gen>.gkv"). Little-endian, like the
 * rest of the directory.
 *
 * Threads: one owner thread appends; a struct wal_job (group commit) can
 * be run on any thread, it touches only its own buffer and descriptor.
 */
#ifndef GKV_STORAGE_WAL_H
#define GKV_STORAGE_WAL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/entry.h"

struct store_io; /* store_int.h */

#define WAL_MAGIC "GKVLOG01" /* 8 bytes, no NUL stored */
#define WAL_VERSION 1u
#define WAL_REC_MAGIC 0x4c564b47u /* "GKVL" read as little-endian u32 */
/* Checksum seeds (arbitrary odd constants, distinct from format.h's). */
#define WAL_SEED_PROLOGUE 0x9b05688c2b3e6c1full
#define WAL_SEED_RECORD 0x1f83d9abfb41bd6bull

/* In-memory append buffer: starts at 1 MiB and doubles up to
 * WAL_BUF_MAX_BYTES before the owner writes it itself; normally the group
 * commit job takes it and writes it on its own thread. A group commit
 * every 100 ms at 200k SET/s of ~175-byte records carries ~3.5 MB, so the
 * owner (the node's event loop) does not write(2) the log at all then:
 * a write to a file another thread is fdatasyncing can block for as long
 * as the disk is busy (Redis delays its AOF write while a background fsync
 * runs for the same reason). 64 MiB: a checkpoint job (fdatasync of the
 * mapped files) delays the next group commit, by a few hundred ms on a
 * busy disk, which is ~35 MB of log at 200k SET/s. Two buffers (owner +
 * job): at most 128 MiB, only while the disk lags that far. */
#define WAL_BUF_BYTES (1u << 20)
#define WAL_BUF_MAX_BYTES (64u << 20)
/* Default checkpoint threshold: 64 MiB of log (about 330k 100-byte SETs;
 * Redis rewrites its AOF at 64 MB by default, auto-aof-rewrite-min-size). */
#define WAL_CHECKPOINT_BYTES_DEFAULT (64ull << 20)

enum wal_rec_type {
    WAL_REC_VERSION = 1,
    WAL_REC_PURGE = 2,
    WAL_REC_HLC = 3,
};

/* First 32 bytes of a log file. */
struct wal_prologue {
    char magic[8];     /*  0 "GKVLOG01" */
    uint32_t version;  /*  8 WAL_VERSION */
    uint32_t reserved; /* 12 zero */
    uint64_t gen;      /* 16 must equal the <gen> in the file name */
    uint64_t checksum; /* 24 over bytes 0..23, seed WAL_SEED_PROLOGUE */
};
static_assert(sizeof(struct wal_prologue) == 32, "log prologue layout");

/* A record header, followed by vc_n * 16 bytes of vector clock, the key and
 * the value, and with WAL_REC_EXPIRES the value's expire_ms (u64); no
 * padding: the log is read with read/mmap, never in place. */
#define WAL_REC_EXPIRES 0x80u /* flags: an expiry follows the value (as FMT_REC_EXPIRES) */
struct wal_rec_hdr {
    uint32_t magic;     /*  0 WAL_REC_MAGIC */
    uint8_t type;       /*  4 enum wal_rec_type */
    uint8_t flags;      /*  5 ENTRY_TOMBSTONE | WAL_REC_EXPIRES (VERSION) */
    uint8_t vc_n;       /*  6 vector clock items (VERSION), else 0 */
    uint8_t reserved;   /*  7 zero */
    uint16_t key_len;   /*  8 1..GKV_KEY_MAX (0 for HLC) */
    uint16_t reserved2; /* 10 zero */
    uint32_t value_len; /* 12 (VERSION, not a tombstone), else 0 */
    uint64_t hlc;       /* 16 version HLC; purged tombstone's HLC; lease */
    uint64_t origin;    /* 24 writer node id (VERSION), else 0 */
    uint64_t checksum;  /* 32 over bytes 0..31 and 40..end, seeded with (gen, offset) */
};
static_assert(sizeof(struct wal_rec_hdr) == 40, "log record layout");

#define WAL_REC_BYTES(vc_n, key_len, value_len)                                               \
    ((uint64_t)sizeof(struct wal_rec_hdr) + 16u * (uint64_t)(vc_n) + (uint64_t)(key_len) + \
     (uint64_t)(value_len))

/* ------------------------------------------------------ encode / decode */

/* Bytes the record of e takes (type VERSION; PURGE drops vc and value,
 * HLC is a bare header). */
uint64_t wal_rec_bytes(uint8_t type, const struct entry *e);
/* Encode a record of e at dst (wal_rec_bytes bytes; the caller sizes dst).
 * gen and off (the record's offset in its file) seed the checksum, so a
 * record from another file or position never verifies. */
void wal_rec_encode(uint8_t *dst, uint8_t type, const struct entry *e, uint64_t gen,
                    uint64_t off);
/* Decode the record at buf (len bytes available from it). On success
 * *type, *out (key/value borrowed from buf) and *used. GKV_ETRUNC: the
 * bytes end inside the record (a torn tail); GKV_ECORRUPT: bad magic,
 * type, lengths, vector clock or checksum. Never reads past buf+len. */
int wal_rec_decode(const uint8_t *buf, size_t len, uint64_t gen, uint64_t off, uint8_t *type,
                   struct entry *out, size_t *used);
void wal_prologue_init(struct wal_prologue *p, uint64_t gen);
bool wal_prologue_ok(const struct wal_prologue *p, uint64_t gen);

/* ---------------------------------------------------------- the writer */

struct wal_stats {
    uint64_t records;       /* appended since open */
    uint64_t appended_bytes;
    uint64_t group_commits; /* completed fdatasyncs of the log */
    uint64_t checkpoints;   /* log switches after the table was made durable */
    uint64_t failures;      /* failed writes or fdatasyncs of the log */
    /* the last open's replay */
    uint64_t replay_files;
    uint64_t replay_records;
    uint64_t replay_torn_bytes; /* bytes after the last good record (torn tails) */
    uint64_t replay_bad_files;  /* files whose prologue failed (skipped, counted) */
};

struct wal {
    int dirfd;        /* borrowed from the store */
    int fd;           /* log.<gen>.gkv; -1 = no log (closed or sync=none) */
    uint64_t gen;
    uint64_t end;     /* logical file size: bytes written + buffered */
    uint64_t written; /* bytes handed to pwrite; buf holds [written, end) */
    uint64_t durable; /* bytes made durable by fdatasync */
    uint8_t *buf;
    size_t len, cap;
    uint8_t *spare; /* the other buffer (a job holds one while it runs) */
    size_t spare_cap;
    /* A log write or fdatasync failed: what the file holds is unknown, so
     * the next sync must be a checkpoint (the table, msynced, covers it).
     * Until then nothing more is written to the file and wal_sync fails
     * (wal.c W5): records past a gap must never be acknowledged. */
    bool broken;
    struct wal_stats st;
    struct store_io *io; /* the store's counters of blocking disk calls */
};

/* Name of a log file: "log.<gen>.gkv". */
void wal_name(char *buf, size_t n, uint64_t gen);
/* Create log.<gen>.gkv (truncating a leftover of that name) and queue its
 * prologue. The directory entry is not yet durable: the caller fsyncs the
 * directory before it acknowledges anything written to the new log
 * (checkpoint.c does it in the checkpoint). err names the file. */
int wal_open_new(struct wal *w, int dirfd, uint64_t gen, char *err, size_t err_bytes);
/* Append a record (copied into the buffer; a full buffer is written first).
 * GKV_EIO/GKV_ENOSPC when that write fails (w->broken set). */
int wal_append(struct wal *w, uint8_t type, const struct entry *e);
/* Write the buffer; then (wal_sync) fdatasync: everything appended so far
 * is durable when it returns 0. */
int wal_flush(struct wal *w);
int wal_sync(struct wal *w);
/* Close the descriptor and free the buffers (the file stays). */
void wal_close(struct wal *w);
/* Does something wait to be made durable? */
static inline bool wal_pending(const struct wal *w)
{
    return w->fd >= 0 && w->durable < w->end;
}

/* A group commit of the log: the owner takes the buffer (wal_job_take),
 * any thread writes it and fdatasyncs (wal_job_run), the owner applies the
 * result (wal_job_finish). The job holds a dup of the log descriptor, so a
 * checkpoint that switches files meanwhile does not disturb it. */
struct wal_job {
    int fd; /* dup; -1 = nothing to do */
    uint64_t gen;
    uint8_t *buf; /* owned by the job until finish */
    size_t len, cap;
    uint64_t off; /* file offset of buf */
    uint64_t end; /* durable up to here after a successful run */
    struct store_io *io; /* the running job's counters (set by its owner) */
};
int wal_job_take(struct wal *w, struct wal_job *j);
int wal_job_run(struct wal_job *j);
/* rc: run's result. Recycles the buffer, closes the dup. */
void wal_job_finish(struct wal *w, struct wal_job *j, int rc);

/* ------------------------------------------------------------- replay */

/* Called for each good record in order; the entry is borrowed for the
 * call. A nonzero return stops the replay and is returned. */
typedef int (*wal_apply_cb)(void *arg, uint8_t type, const struct entry *e);

/* A damaged stretch of a log file: bytes [off, off + bytes) that belong to
 * no good record, with a good record right after them (a stretch that runs
 * to the end of the file is the torn tail, not a wal_damage). See
 * docs/FILE_FORMAT.md ("Damage in the middle of a log") for the rule. */
struct wal_damage {
    uint64_t off;
    uint64_t bytes;
    uint64_t record;        /* 1-based number, in file order, of the record that
                             * should start at off; 0: the prologue */
    uint64_t records_after; /* good records after it in the file */
    int why;                /* GKV_ETRUNC (its length runs past the next good
                             * record) or GKV_ECORRUPT (header or checksum) */
    uint64_t zero_pages;    /* whole 4 KiB file pages of zeros in it (what a
                             * page that never reached the disk reads as) */
};

/* "record 17 at offset 4242 is damaged (57 bytes, ...)" into buf. */
void wal_damage_describe(char *buf, size_t n, const struct wal_damage *d);

/* Damaged stretches a report keeps (more are counted, not kept). */
#define WAL_REPORT_DAMAGE 8u
/* The resync search (wal.c) hashes at most this many candidate bytes per
 * file, plus the file's size times WAL_RESYNC_WORK_FACTOR: records whose
 * headers are embedded in values can make it quadratic otherwise. Past it
 * the rest of the file counts as undecided (refused, never dropped
 * silently). */
#define WAL_RESYNC_WORK_BYTES (64ull << 20)
#define WAL_RESYNC_WORK_FACTOR 8u

/* Per-file summary (replay, check, inspect and salvage). */
struct wal_file_report {
    uint64_t gen;
    uint64_t file_bytes;
    uint64_t records;    /* good records */
    uint64_t good_bytes; /* prologue (if good) + good records */
    bool bad_prologue;
    int stop_rc;        /* 0, or why the torn tail starts (GKV_ETRUNC/GKV_ECORRUPT) */
    uint64_t tail_off;  /* where the torn tail starts; file_bytes if none */
    bool undecided;     /* the resync search gave up at tail_off (budget): what
                         * follows is unknown, so it counts as damage */
    uint64_t damaged;   /* damaged stretches (each refuses the open) */
    uint64_t damaged_bytes;
    struct wal_damage damage[WAL_REPORT_DAMAGE]; /* the first ones */
};
typedef void (*wal_file_cb)(void *arg, const struct wal_file_report *r);

/* Does this file hold damage that an open must refuse (wal_check_dir)? */
static inline bool wal_file_damaged(const struct wal_file_report *r)
{
    return r->damaged > 0 || r->undecided;
}

/* The generations of the log files in dirfd, ascending, into gens (at most
 * max). Returns the count (more than max: only max stored) or GKV_E*. */
int wal_list(int dirfd, uint64_t *gens, size_t max);
/* Scan (apply != NULL: replay) every log file in generation order. A file
 * ends at its torn tail (counted in st->replay_torn_bytes if st is not
 * NULL); file_cb, if set, gets each file's summary. A damaged stretch
 * (wal_damage) stops a replay with GKV_ECORRUPT (wal_check_dir first keeps
 * it from starting). */
#define WAL_MAX_FILES 16u /* a checkpoint leaves one or two; more = leftovers */
int wal_scan_dir(int dirfd, wal_apply_cb apply, void *arg, wal_file_cb file_cb, void *file_arg,
                 struct wal_stats *st, uint64_t *max_gen, char *err, size_t err_bytes);
/* Read every log file without applying anything: 0 when each ends at most
 * in a torn tail; GKV_ECORRUPT when one holds a damaged stretch followed by
 * good records (err names the file, the offset, the record number and how
 * many good records follow, and the way out). Writes nothing. */
int wal_check_dir(int dirfd, char *err, size_t err_bytes);

/* Salvage log.<gen>.gkv (the caller holds the directory's lock): copy it to
 * log.<gen>.gkv.damaged-<n> (the first unused n), then replace it, through
 * a fsynced temporary file and a rename, by its good records alone,
 * re-encoded at their new offsets: every good record before, between and
 * after the damaged stretches, in order (its torn tail is dropped too).
 * *r describes the file as found; backup (backup_bytes) receives the
 * copy's name, "" when nothing was done: a file without damage
 * (wal_file_damaged false) is left as it is, the open handles a torn tail. */
int wal_salvage_file(int dirfd, uint64_t gen, struct wal_file_report *r, char *backup,
                     size_t backup_bytes, char *err, size_t err_bytes);

#endif
