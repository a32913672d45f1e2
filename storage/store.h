/*
 * store.h: the mmap'd last-writer-wins table (public API of storage/).
 *
 * One store per node: a data directory holding a hash-table file (or, when
 * dir is NULL, anonymous memory through the same code path, for tests and the
 * simulator). Every key has at most one entry (a value or a tombstone);
 * versions from peers are resolved with entry_merge() (entry.h).
 *
 * storage/ reads no clock and draws no random numbers: every call that needs
 * the time takes now_ms (Unix milliseconds, from node/ or the simulator's
 * virtual clock). File format: docs/FILE_FORMAT.md.
 *
 * Not thread-safe: one thread (the node's loop) owns a store.
 */
#ifndef GKV_STORAGE_STORE_H
#define GKV_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/entry.h"

struct store;

enum store_sync {
    STORE_SYNC_NONE,   /* the OS writes back when it likes */
    /* group commit: every batch_ms the write-ahead log (log.<gen>.gkv) is
     * written and fdatasynced (store_tick, or the store_sync_* job) */
    STORE_SYNC_BATCH,
    /* the log is written and fdatasynced before a write call returns */
    STORE_SYNC_ALWAYS,
    /* Both: the mapped files are msynced only at checkpoints (the log
     * passed wal_checkpoint_bytes, store_sync, store_close); anonymous
     * stores have no log (and nothing to make durable). */
};

/* Anti-entropy buckets: 2^STORE_BUCKET_BITS leaves of the digest tree. */
#define STORE_BUCKET_BITS 10
#define STORE_BUCKETS (1u << STORE_BUCKET_BITS)

enum store_pages {
    /* values.gkv on 2 MiB pages, the tables on 4 KiB: a get's record read
     * then misses the TLB no more (+10-20% on 1M-key gets). */
    STORE_PAGES_VALUES = 0,
    /* Everything on 4 KiB pages: a write fault dirties 4 KiB, not 2 MiB, so
     * a large store with random overwrites writes back less per checkpoint
     * (beyond a ~700 MiB values.gkv), and growth needs no 2 MiB of fresh
     * memory at a time. */
    STORE_PAGES_NONE,
    /* The tables too. Gets do not read them (the lookup index answers), so
     * this helps puts only; every checkpoint writes back whole 2 MiB folios
     * of randomly written slots. */
    STORE_PAGES_ALL,
};

struct store_config {
    const char *dir;           /* data directory; NULL = anonymous memory */
    uint64_t node_id;          /* written into a new store; checked on open if nonzero */
    uint32_t initial_capacity; /* slots, rounded up to a power of two; 0 = default */
    uint32_t max_value_bytes;  /* 0 = GKV_VALUE_MAX_DEFAULT */
    uint64_t max_entries;      /* 0 = unlimited; puts past it fail with GKV_EFULL */
    enum store_sync sync;
    uint32_t batch_ms;             /* STORE_SYNC_BATCH period; 0 = 100 */
    uint64_t max_clock_offset_ms;  /* 0 = HLC_MAX_OFFSET_MS_DEFAULT */
    uint64_t tombstone_grace_ms;   /* 0 = 24 h */
    bool read_only;                /* for inspect: no writes, no header updates */
    /* Secret for the keyed placement hash of a NEW file (ignored when the
     * file exists: the secret is kept in its header). storage/ draws no
     * randomness: node/ fills this from randombytes, the simulator from its
     * seed. All zero is accepted but only sensible in tests. */
    uint8_t placement_secret[16];
    /* Which mapped files use 2 MiB pages (file-backed stores, where the
     * kernel's THP mode allows it; docs/FILE_FORMAT.md "Mappings").
     * Default STORE_PAGES_VALUES. */
    enum store_pages pages;
    /* No read cache (docs/FILE_FORMAT.md "Read cache"): every get takes the
     * SipHash path, and the store keeps 16 bytes per table slot less. */
    bool no_read_cache;
    /* sync=batch only: the caller drives the group commit itself with
     * store_sync_due / store_sync_begin / store_sync_job_run /
     * store_sync_end (node/ runs the job on a worker thread), so store_tick
     * never syncs; it still does growth steps and the HLC lease. Default
     * false (store_tick syncs every batch_ms on the caller's thread, as the
     * simulator and tests want). */
    bool external_batch_sync;
    /* sync=batch/always: checkpoint (msync the mapped files, start a new
     * log) once the log holds this many bytes. 0 = 64 MiB
     * (WAL_CHECKPOINT_BYTES_DEFAULT). Smaller: shorter replay after a
     * crash, more frequent full writebacks. */
    uint64_t wal_checkpoint_bytes;
    /* The caller runs the store's blocking preparation as jobs
     * (store_prep_begin / store_prep_job_run / store_prep_end; node/ on
     * its thread pool): values.gkv grows and is pre-faulted ahead of the
     * allocator, the next table is created, allocated, zero-filled and made
     * durable ahead of the doubling, a doubling's commit waits for a job's
     * fdatasyncs, and the retired table is released by a job; in
     * sync=always, checkpoints are store_sync_* jobs too. The write path
     * and store_tick then make no blocking disk call unless a job is late
     * (the fallback is the synchronous path, counted in
     * store_disk_calls_get). Default false: all of it happens inline, as
     * the simulator and most tests want. File-backed stores only. */
    bool external_prep;
    /* Keep the per-bucket key index (store_bucket_scan in O(bucket)) once
     * the table has this many slots; below it a bucket scan reads the whole
     * table, which is then small. 0 = 16384 (STORE_BIX_MIN_SLOTS_DEFAULT);
     * 1 = always; UINT64_MAX = never. Read-only stores keep none. */
    uint64_t bucket_index_min_slots;
    /* Test hook of this store (tests/unit/test_store_wal.c): called at the
     * end of every synchronous checkpoint, after values, tables and header
     * were msynced and before the previous log file is removed, with the
     * data directory. The test copies the files there to simulate a power
     * loss that reverts them to their last checkpoint. NULL = none. */
    void (*checkpoint_hook)(void *arg, const char *dir);
    void *checkpoint_hook_arg;
};

/* Fill cfg with defaults (anonymous memory, sync=batch). */
void store_config_init(struct store_config *cfg);

/* Bytes for store_open's message: a full directory path and the fault. */
#define STORE_OPEN_ERR_BYTES (4096u + 512u + 8u)

/* Open (creating if absent) a store. now_ms seeds the HLC together with the
 * persisted HLC upper bound. On failure *out is NULL and, if open_err is not
 * NULL, a message naming the file and the fault is written into it
 * (open_err_bytes, STORE_OPEN_ERR_BYTES holds any; e.g. "data/table.gkv:
 * header copy A and B fail checksum"); on success it is "". The store takes
 * an exclusive flock on the directory. */
int store_open(const struct store_config *cfg, uint64_t now_ms, struct store **out,
               char *open_err, size_t open_err_bytes);

/* Flush (msync, a checkpoint), mark the shutdown clean, remove the log,
 * unmap, unlock, free. NULL is fine.
 * GKV_EAGAIN (and nothing freed) while a background sync job is in flight:
 * call store_sync_end first. */
int store_close(struct store *s);

/* Look a key up. On success fills *out (tombstones included: check
 * entry_is_tombstone). out->key and out->value are borrowed: valid until the
 * next call that writes to the store. Returns GKV_ENOTFOUND if absent. */
int store_get(struct store *s, const void *key, size_t key_len, struct entry *out);

/* Look up n keys at once (n <= STORE_GET_BATCH_MAX): rcs[i] and out[i] (if
 * out is not NULL) are exactly what store_get(s, keys[i], key_lens[i],
 * &out[i]) would give, borrowed alike. The point is speed: a single get
 * waits for two dependent memory accesses (index word, then record), and
 * the next get's hash is too long for the CPU to start its accesses
 * meanwhile; here every key's accesses are started before any is waited
 * for ("Batched gets" in `git show 383e9cc:docs/BENCHMARKS.md`).
 * MGET uses it. Returns 0, or
 * GKV_EINVAL (n too large, NULL arrays) with nothing looked up. */
#define STORE_GET_BATCH_MAX 32u
int store_get_batch(struct store *s, uint32_t n, const void *const *keys, const size_t *key_lens,
                    struct entry *out, int *rcs);

/* Local write of a value at wall time now_ms: stamps a new HLC, origin =
 * this node, increments this node's vector-clock counter. If out is not
 * NULL it receives the stored entry (borrowed as for store_get), ready to be
 * gossiped. Errors: GKV_EKEYSIZE, GKV_EVALSIZE, GKV_EFULL, GKV_ENOSPC, GKV_EIO. */
int store_put(struct store *s, const void *key, size_t key_len, const void *value,
              size_t value_len, uint64_t now_ms, struct entry *out);

/* store_put with an expiry: expire_ms is absolute Unix ms on the cluster's
 * clock (node/ adds the HLC's correction; storage/ reads no clock), 0 =
 * none, at most ENTRY_EXPIRE_MAX_MS (entry.h; GKV_EINVAL above). The store keeps and
 * gossips the expiry as part of the version; it never judges whether it
 * passed: readers do, with entry_is_live(e, now_ms). A value whose expiry
 * has passed is kept until purged like a tombstone (store_purge_tombstones). */
int store_put_expire(struct store *s, const void *key, size_t key_len, const void *value,
                     size_t value_len, uint64_t expire_ms, uint64_t now_ms, struct entry *out);

/* Local INCRBY (INCR, DECR, DECRBY too) at wall time now_ms: the key's
 * state becomes a counter (storage/counter.h) holding this node's running
 * total, so increments made at several nodes at once all count after they
 * merge. An absent key counts from 0, a value that reads as an integer
 * from that integer. The key keeps its expiry; one that passed (at the
 * write's HLC time) counts from 0 without one. *result (may be NULL) is
 * the new value; out as for store_put. Errors: GKV_ENOTINT (the key's
 * value is not an integer), GKV_ERANGE (the result would leave int64), and
 * store_put's. */
int store_incrby(struct store *s, const void *key, size_t key_len, long long delta,
                 uint64_t now_ms, long long *result, struct entry *out);

/* Local delete: writes a tombstone (even if the key is absent, so the delete
 * wins over versions still in flight). *existed (may be NULL) tells whether a
 * live value was there. */
int store_del(struct store *s, const void *key, size_t key_len, uint64_t now_ms,
              struct entry *out, bool *existed);

/* Merge a version from a peer (the data is copied). Observes its HLC first:
 * GKV_ECLOCK if it is too far ahead of now_ms (nothing stored, counted).
 * *taken (may be NULL) tells whether the incoming version replaced the local
 * one (or was new). */
int store_merge(struct store *s, const struct entry *incoming, uint64_t now_ms, bool *taken);

/* Scan. Start with *cursor = 0; each call visits up to count slots' worth of
 * entries (tombstones included), calls cb for each, and sets *cursor to the
 * next position, 0 when the scan is complete. Entries present for the whole
 * scan are visited at least once even if the table grows meanwhile (Redis
 * SCAN guarantee). cb returns 0 to continue, nonzero to stop early. Entries
 * passed to cb are borrowed for the duration of the callback; cb must not
 * write to the store. */
typedef int (*store_scan_cb)(void *arg, const struct entry *e);
int store_scan(struct store *s, uint64_t *cursor, uint32_t count, store_scan_cb cb, void *arg);

/* Periodic work, called by node/ about every 10 ms with the current time:
 * group commit in sync=batch mode, incremental growth steps. */
int store_tick(struct store *s, uint64_t now_ms);

/* msync everything now (a checkpoint when there is a log: the next log
 * file starts; also covers an in-flight background sync job, whose
 * store_sync_end then has nothing left to release). */
int store_sync(struct store *s);

/* Background group commit (sync=batch, like Redis appendfsync everysec, whose
 * fsync runs in a bio thread). The owner thread calls store_sync_begin, any
 * thread then calls store_sync_job_run (it only fdatasyncs duplicated file
 * descriptors and touches no store state), and the owner thread finally
 * calls store_sync_end with run's result. Writes may continue between begin
 * and end: what a job makes durable is everything written before begin.
 * Freed value blocks become reusable only at a successful end (the frees
 * captured at begin; later ones wait for the next sync). At most one job is
 * in flight; store_close refuses (GKV_EAGAIN) while one is.
 *
 * With the write-ahead log (a directory store): begin hands over the
 * buffered log bytes, run pwrite()s them and fdatasyncs the log, end marks
 * them durable; the mapped files are not touched. When the log passed
 * wal_checkpoint_bytes (or a log write failed) the job is a checkpoint:
 * begin also switches to a new log file and captures the frees as above,
 * run also fdatasyncs values, tables and header and then removes the old
 * log file. */
struct store_sync_job;

/* True when the owner should start a job now: sync=batch, no job in
 * flight, something to sync, and batch_ms passed since the last one (or a
 * doubling waits for a group commit). Records now_ms as the last sync time
 * when it returns true. */
bool store_sync_due(struct store *s, uint64_t now_ms);
/* Snapshot what the sync must cover. *out is owned by the caller until it
 * passes it to store_sync_end. GKV_EAGAIN: a job is in flight; GKV_EPERM:
 * read-only store; GKV_EIO/GKV_ENOMEM: dup() or allocation failed. */
int store_sync_begin(struct store *s, struct store_sync_job **out);
/* fdatasync the job's files in order (values, tables, header). Thread-safe
 * with respect to the store; blocks for the I/O. Returns 0 or GKV_E*. */
int store_sync_job_run(struct store_sync_job *job);
/* Apply the job's result (run_rc == 0: release the captured frees, advance
 * the durable size, count a sync; otherwise keep them pending and return
 * run_rc), close its descriptors and free it. In external_batch_sync mode a
 * doubling waiting for a group commit starts here. */
int store_sync_end(struct store *s, struct store_sync_job *job, int run_rc);

/* Preparation jobs (external_prep): growth ahead of need. The owner calls
 * store_prep_begin, which returns 0 with *out NULL when nothing is due, or
 * a job; any thread then calls store_prep_job_run (it touches only the
 * job's own descriptors, a new file and mapping, or pages the owner does
 * not write meanwhile); the owner finally calls store_prep_end with run's
 * result. At most three jobs in flight, one per slot: heap, next, and
 * commit or retire (so none waits behind another's I/O); begin returns
 * GKV_EAGAIN when all three are. store_close refuses (GKV_EAGAIN)
 * while one is. Call begin every tick until it gives no job, and again
 * after each end.
 *
 * Kinds, in order of precedence, and the ordering each keeps (invariants
 * of store.c):
 *   commit  a doubling migrated everything: run fdatasyncs values.gkv and
 *           the new table; only end writes the header that stops naming
 *           the old table (I6).
 *   retire  after a commit: run fdatasyncs header.gkv (the header naming
 *           only the new table is durable), then unlinks the old table,
 *           fsyncs the directory, unmaps and closes it; blocks freed during
 *           the doubling are released at end (I6).
 *   heap    values.gkv has less than an eighth of its size (8 to 64 MiB)
 *           free: run fallocates more and pre-faults it; end lets the
 *           allocator use it (I11: blocks exist before a page is touched).
 *   next    the table is half full: run creates the next table file,
 *           allocates and zero-fills it, writes its prologue, fsyncs it and
 *           the directory (I6: whole and durable before any header names
 *           it); end keeps it for the doubling, which then starts without
 *           any I/O when the table reaches 3/4. */
struct store_prep_job;
int store_prep_begin(struct store *s, struct store_prep_job **out);
int store_prep_job_run(struct store_prep_job *job);
/* Applies the result (a failed run leaves the synchronous path to do the
 * work later, counted), frees the job. Returns run_rc or 0. */
int store_prep_end(struct store *s, struct store_prep_job *job, int run_rc);
/* The kind of a job: "commit", "retire", "heap" or "next". */
const char *store_prep_job_kind(const struct store_prep_job *job);

/* Anti-entropy. bucket_hashes: STORE_BUCKETS values, each the XOR of
 * entry_version_hash() over the bucket's entries (tombstones included);
 * kept up to date on every write. Borrowed; valid until the next write. */
const uint64_t *store_bucket_hashes(const struct store *s);
/* The XOR of all bucket hashes (equal stores have equal roots). */
uint64_t store_root_hash(const struct store *s);
/* Visit every entry of one bucket (entry_bucket(key, STORE_BUCKET_BITS)),
 * tombstones included, each exactly once, in O(entries of the bucket) when
 * the store keeps its bucket index (bucket_index_min_slots; otherwise, or
 * after an allocation failure dropped it, by reading every slot). The order
 * is ascending placement hash (the file's keyed hash, store_bucket_scan_from).
 * cb as for store_scan (borrowed entries; cb must not write to the store);
 * a nonzero return stops the scan at once. Returns 0 (also when cb stopped
 * it) or GKV_EINVAL. The same as store_bucket_scan_from from 0, except for
 * how a stop takes effect. */
int store_bucket_scan(struct store *s, uint32_t bucket, store_scan_cb cb, void *arg);
/* Resumable listing of one bucket: visits the bucket's entries whose
 * placement hash is >= *from_hash (0: all of them), in ascending hash
 * order, found by binary search in the bucket index: O(log n + entries
 * visited) per call. Resume a half-sent bucket with what it leaves in
 * *from_hash, never by counting entries.
 *
 * Returns
 *   0                  the listing is complete (*from_hash unchanged);
 *   STORE_SCAN_MORE    cb returned nonzero for an entry with hash h: cb was
 *                      still handed the other entries with hash h (keys
 *                      sharing a 64-bit hash, chance only; their return
 *                      values ignored), and *from_hash = h + 1. The stopping
 *                      entry is NOT listed again on resume;
 *   GKV_EINVAL         bad bucket or NULL cb / from_hash.
 * A stop at the bucket's last hash returns 0. Between calls the store may
 * change in any way (writes, doublings, the index dropped or rebuilt):
 * every entry present from the first call to the last with a hash >= the
 * first *from_hash is listed at least once; entries added meanwhile below
 * the resume point are not (a later anti-entropy round finds them). Without
 * the index (bucket_index_min_slots, or an allocation failure dropped it)
 * a call reads every slot once, and once more per 64 Ki distinct hashes it
 * visits past its first 256; docs/FILE_FORMAT.md "Resumable listing". cb
 * as for store_scan. */
#define STORE_SCAN_MORE 1
int store_bucket_scan_from(struct store *s, uint32_t bucket, uint64_t *from_hash,
                           store_scan_cb cb, void *arg);

/* Tombstones, and values whose expiry passed (dead since the ms after it,
 * entry_dead_since_hlc), go in
 * two steps (docs/ARCHITECTURE.md, "Tombstone purge"):
 *   retire  once dead since before the purge cutoff
 *           (entry_purge_cutoff_hlc(now_ms, tombstone_grace_ms)): out of the
 *           bucket hashes, never offered (store_entry_offered), and
 *           store_merge drops such a version from a peer (counted);
 *   purge   once also below safe_below_hlc (the gossip layer's bound on what
 *           every live member has seen; UINT64_MAX if it has no bound): the
 *           slot and its value space are freed.
 * Each call moves the cutoff to now_ms's (retiring at most 4 * max_slots
 * tombstones, oldest first) and purges at most max_slots, oldest first, in
 * O(log tombstones) each (an age index, not a scan). *purged (may be NULL)
 * counts; *purged == max_slots means more may be due. */
int store_purge_tombstones(struct store *s, uint64_t now_ms, uint64_t safe_below_hlc,
                           uint32_t max_slots, uint64_t *purged);
/* The store's current purge cutoff (an HLC; 0 before any purge call). */
uint64_t store_purge_cutoff_hlc(const struct store *s);
/* False for an entry anti-entropy must not send: retired (dead since before
 * the store's cutoff). e as store_get fills it (borrowed). */
bool store_entry_offered(const struct store *s, const struct entry *e);
/* Is e (a version queued earlier) still what this store would offer for
 * its key: the key is present with e's HLC and origin (or both are counter
 * states, which join), and not retired?
 * For senders of old versions (the gossip delta queue). Not counted as a
 * get. */
bool store_offers_version(struct store *s, const struct entry *e);

struct store_stats {
    uint64_t entries;    /* values (those whose expiry passed included) */
    uint64_t expiring;   /* of entries, values with an expiry */
    uint64_t expired_purged; /* values purged since open, grace after their expiry */
    uint64_t tombstones;
    uint64_t tombstones_purgeable;  /* of which retired: past the cutoff, out of the digest */
    uint64_t tombstones_purged;     /* purged since open */
    uint64_t tombstones_dropped;    /* retired versions from peers dropped by store_merge */
    uint64_t oldest_tombstone_hlc;  /* dead_since of the oldest tombstone (0: none) */
    uint64_t tombstone_index_bytes; /* the age index's memory */
    uint64_t capacity;   /* slots */
    double load;         /* (entries + tombstones) / capacity */
    uint64_t file_bytes; /* all files of the directory; 0 for memory */
    uint64_t value_bytes_used;
    uint64_t value_bytes_free; /* reusable space in the value area */
    uint64_t value_bytes_held; /* of which freed during a sync=batch doubling:
                                * reusable after its commit (FILE_FORMAT.md) */
    uint64_t read_cache_bytes;    /* the read cache in front of the lookups (0: none) */
    uint64_t read_cache_hits;     /* gets it answered */
    uint64_t read_cache_misses;   /* gets that took the SipHash path (then cached) */
    uint64_t puts, gets, dels, merges, merges_taken;
    /* Counters (storage/counter.h) */
    uint64_t incrs;                /* store_incrby writes (also counted in puts) */
    uint64_t counter_rebases;      /* of which became register writes (16 origins, 2^64) */
    uint64_t counter_joins;        /* merges that built a join (MERGE_JOIN) */
    uint64_t counter_joins_refused; /* joins past 255 origins, refused (GKV_ELIMIT) */
    uint64_t clock_refused;       /* remote HLCs refused (GKV_ECLOCK) */
    uint64_t dominance_conflicts; /* see entry_merge() */
    uint64_t full_refused;        /* writes refused by max_entries or disk */
    uint64_t syncs;               /* completed syncs (msync or background job) */
    uint64_t sync_failures;       /* background sync jobs that failed */
    uint64_t growths;             /* completed doublings */
    bool growing;                 /* an incremental growth is in progress */
    uint64_t incarnation;         /* bumped on every unclean open */
    bool recovered;               /* the last shutdown was not clean */
    uint64_t torn_slots_dropped;  /* on the last open */
    enum store_sync sync;
    enum store_pages pages;
    uint64_t node_id;
    uint64_t hlc_last;
    /* Write-ahead log (sync=batch/always with a directory; all 0 otherwise) */
    bool log_enabled;
    uint64_t log_gen;            /* current file log.<gen>.gkv */
    uint64_t log_bytes;          /* its size, buffered bytes included */
    uint64_t log_durable_bytes;  /* of which fdatasynced */
    uint64_t log_records;        /* appended since open */
    uint64_t log_group_commits;  /* fdatasyncs of the log */
    uint64_t log_checkpoints;    /* mapped files msynced, new log started */
    uint64_t log_failures;       /* failed log writes/fdatasyncs */
    uint64_t log_checkpoint_bytes; /* the configured threshold */
    uint64_t log_replayed_records; /* on the last open */
    uint64_t log_replay_torn_bytes; /* dropped after the last good record, on the last open */
    uint64_t log_replay_bad_files;  /* log files with a bad prologue, on the last open */
    /* Per-bucket key index (store_bucket_scan) */
    uint64_t bucket_index_bytes;    /* memory it holds; 0: none (small, read-only, or dropped) */
    uint64_t bucket_index_failures; /* allocation failures that dropped it (rebuilt at the
                                     * next doubling or open) */
    uint64_t bucket_scans_full;     /* bucket scans that read whole tables (no index; one
                                     * per call, which may read them more than once) */
};
void store_stats(const struct store *s, struct store_stats *out);

/* Blocking disk calls: every call the store makes that can wait for the
 * disk (msync, fsync, fdatasync, fallocate, ftruncate, MADV_POPULATE_WRITE,
 * zero-filling pwrite, a write of the log, mremap of a file mapping):
 * those made by the store's own calls (on the owner's thread) by the cause
 * that made them, and those made inside its jobs' run functions
 * (store_sync_job_run, store_prep_job_run; added at their end), wherever
 * they run. The node runs jobs on the libuv
 * pool, so owner[] counts what its event loop waited for (INFO
 * loop_blocking_disk_calls). Counters only grow. */
enum store_io_cause {
    STORE_IO_OTHER,        /* open, close, recovery, a log write past its buffer */
    STORE_IO_CHECKPOINT,   /* msync of the mapped files, a new log file */
    STORE_IO_TABLE_GROW,   /* a doubling: new table, migration, commit, retirement */
    STORE_IO_HEAP_GROW,    /* values.gkv growth and its pre-faulting */
    STORE_IO_FSYNC_ALWAYS, /* sync=always: the log's fdatasync before a reply */
    STORE_IO_CAUSES
};
struct store_disk_calls {
    uint64_t owner[STORE_IO_CAUSES]; /* on the caller's thread, by cause */
    uint64_t jobs;                   /* inside job run functions */
};
void store_disk_calls_get(const struct store *s, struct store_disk_calls *out);
/* "other", "checkpoint", "table-grow", "heap-grow", "fsync-always". */
const char *store_io_cause_name(enum store_io_cause c);
/* "values", "none" or "all" (the node's huge-pages option). */
const char *store_pages_name(enum store_pages p);

/* The store's HLC (for gossip: observe remote timestamps, stamp messages). */
struct hlc *store_hlc(struct store *s);

/* Node identity persisted in the header: node id and incarnation/generation. */
uint64_t store_node_id(const struct store *s);
uint64_t store_incarnation(const struct store *s);
/* Persist a new incarnation (SWIM refutation must survive restarts). */
int store_set_incarnation(struct store *s, uint64_t incarnation);

/* Offline check of a data directory, as `gossipkv inspect DIR`: verifies
 * every header copy and slot, prints a summary (and entries if verbose) to
 * out. Returns 0 when healthy, a negative code otherwise. Never modifies the
 * directory. */
int store_inspect(const char *dir, bool verbose, FILE *out);
/* `gossipkv inspect --salvage DIR`: for each write-ahead log damaged in
 * the middle (a bad record with good ones after it, which store_open
 * refuses), copy it to log.<gen>.gkv.damaged-<n> and rewrite it with every
 * good record, before and after the damage; print what was kept and
 * dropped to out. Takes the directory's lock (GKV_ELOCKED while a node
 * holds it). Tables and values.gkv are left to the next open, which
 * repairs them as always. 0 when every log now passes the open's check. */
int store_salvage(const char *dir, FILE *out);

#endif
