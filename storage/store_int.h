/*
 * store_int.h: internals shared by the files of the store (not a public
 * header; store.h is). One concern per file, and the few entry points each
 * offers to the others:
 *
 *   file         offers                                   called by
 *   -----------  ---------------------------------------  -------------------
 *   open.c       store_open/close, store__inspect_open,   node, inspect.c
 *                store__free: create, map, lock, recover
 *   write.c      store_put/del/merge, purge;              node, gossip;
 *                store__replay_apply (log replay)         open.c
 *   read.c       store_get/get_batch/scan, bucket hashes  node, gossip
 *   checkpoint.c store__do_sync, store_sync*, store_tick  write.c, open.c,
 *                (group commits, checkpoints)             node
 *   store.c      the invariants I1..I12 (its top comment), everyone
 *                config, store__key_hash, stats, accessors
 *   recover.c    store__recover, store__verify: torn-slot open.c, inspect.c
 *                repair, rebuild of the derived state
 *   inspect.c    store_inspect (read-only verification)   node (cmd_inspect)
 *   table.c      slot files, store__find, store__slot_put, write/read/open/
 *                doubling (store__grow_*), lookup index   checkpoint, recover
 *   bucketix.c   store__bix_*: per-bucket key index for   write.c (in line),
 *                store_bucket_scan                        open.c, table.c
 *   rcache.c     store__rc_*: the read cache              read.c, write.c,
 *                                                         open.c, table.c
 *   heap.c       values.gkv: store__heap_alloc/free/...   write.c, recover.c,
 *                                                         table.c, checkpoint
 *   header.c     header.gkv, store__hlc_guard (HLC lease) open/write/table
 *   wal.c        log.<gen>.gkv (wal.h)                    write/checkpoint/
 *                                                         open/inspect
 *   fileio.c     mmap/fallocate/msync helpers, errno ->   all file users
 *                GKV_E* codes
 *   checksum.c   XXH64-style checksum, SipHash-2-4        all
 *
 * Calls go one way: open -> write -> checkpoint -> table -> {heap, rcache,
 * header} -> {fileio, checksum}; read -> {table, rcache}. What more than
 * one of open, write, read and checkpoint needs (the lookup, the log
 * append, the logged HLC lease, key checks) is static inline below, which
 * also keeps the put/get path free of calls across files. One cycle is
 * left, table.c <-> bucketix.c: the bucket index looks keys up in the
 * table (store__find), and the table rebuilds the index when a doubling
 * starts (store__grow_start -> store__bix_build), the one moment the store
 * may cross the index's size threshold. They are one part (the table and
 * an index derived from it, like the lookup index inside table.c); a seam
 * (a growth callback) would hide that one call, not remove the coupling.
 */
#ifndef GKV_STORAGE_STORE_INT_H
#define GKV_STORAGE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/errors.h"
#include "storage/checksum.h"
#include "storage/format.h"
#include "storage/store.h"
#include "storage/wal.h"

/* ------------------------------------------------------------ checksum.c */

/* A fast 64-bit non-cryptographic hash (XXH64, words read little-endian;
 * storage/checksum.h has it in line) for torn-write and bit-flip detection
 * and, under public seeds, entry_version_hash. Not BLAKE2b: it runs on
 * every put over ~200 bytes and must cost tens of nanoseconds. */
uint64_t store__checksum64(const void *data, size_t len, uint64_t seed);
/* SipHash-2-4 with the 128-bit key (k0, k1) (the 16 key bytes read as two
 * little-endian u64): bit-for-bit libsodium's crypto_shorthash, inlined into
 * the store's hot paths. */
uint64_t store__siphash24(const void *data, size_t len, uint64_t k0, uint64_t k1);

/* -------------------------------------------------------------- fileio.c */

/* Error text buffer size for messages naming a file and a fault. */
#define STORE_ERR_BYTES 512
/* Modes of what the store creates: the files hold every value and the
 * placement secret, so only the owner may read them (docs/OPERATIONS.md). */
#define STORE_FILE_MODE 0600
#define STORE_DIR_MODE 0700

/* All return 0 or a negative GKV_E* code; ENOSPC/EDQUOT/EFBIG map to
 * GKV_ENOSPC, everything else to GKV_EIO. */
int store__errno_code(int err);
/* Grow fd to new_bytes with posix_fallocate (blocks really allocated, so a
 * later page fault cannot SIGBUS on a full disk). Never shrinks. */
int store__file_grow(struct store_io *io, int fd, uint64_t new_bytes);
/* msync(MS_SYNC) of [addr+off, addr+off+len) rounded out to pages. */
int store__msync_range(struct store_io *io, void *addr, uint64_t off, uint64_t len);
int store__fsync_dir(struct store_io *io, int dirfd);
/* fdatasync(fd), retried on EINTR. */
int store__fdatasync(struct store_io *io, int fd);
/* Fault in [addr+off, addr+off+len) for writing in one call
 * (MADV_POPULATE_WRITE, Linux 5.14): far cheaper than one page fault per
 * page. Best effort; errors (older kernels) are ignored. */
void store__prefault(struct store_io *io, void *addr, uint64_t off, uint64_t len);
/* Make [off, off+len) of a file mapped at addr resident and writable the
 * cheap way: pwrite() zeros through the page cache (it builds large folios
 * and skips a page fault, a read of an unwritten extent and a
 * page_mkwrite per 4 KiB page), then MADV_POPULATE_WRITE the already
 * cached pages into the mapping. On this VM that costs 0.2-0.3 ns per byte
 * against 1.1-1.3 ns for first-touch page faults ("What changed in this
 * round" in `git show 383e9cc:docs/BENCHMARKS.md`).
 * Only for bytes that hold nothing (pages wholly inside the range; partial
 * end pages are skipped). 0 or a negative GKV_E* code (the pages then
 * fault in as before). */
int store__zero_fill(struct store_io *io, int fd, void *addr, uint64_t off, uint64_t len);
/* Counting of blocking disk calls (store_disk_calls_get): every helper
 * above takes the counters to charge (NULL: none) and each other call that
 * can wait for the disk calls store__io_count once. The store's counters
 * (s->io) charge owner[cause]; a job has its own (in_job), added to the
 * store's at its end, so no counter is shared between threads.
 * store__io_cause_enter sets the cause and returns the previous one for
 * store__io_cause_leave. */
struct store_io {
    uint64_t owner[STORE_IO_CAUSES];
    uint64_t jobs;
    unsigned cause; /* enum store_io_cause of what runs now */
    bool in_job;
};
void store__io_count(struct store_io *io);
unsigned store__io_cause_enter(struct store_io *io, enum store_io_cause c);
void store__io_cause_leave(struct store_io *io, unsigned prev);
int store__fsync(struct store_io *io, int fd);
/* Chunk faulted in ahead of sequential writers (the heap's bump pointer,
 * a doubling's sweep through the new table): 64 KiB, 16 pages. */
#define STORE_PREFAULT_BYTES (64u * 1024u)

/* ---------------------------------------------------------------- heap.c */

/* Size classes (heap.c): 64..256 bytes in 16-byte steps (13 classes; a
 * block wastes at most 15 bytes), then four classes per doubling (a block
 * wastes less than a quarter of its record). The largest record
 * (GKV_VALUE_HARD_MAX + GKV_KEY_MAX + a full vector clock + header, just
 * over 2^26 bytes) is class 85; 96 leaves room and keeps a class in the 8
 * bits that the pending and held lists give it (test_store_classes). */
#define HEAP_CLASSES 96
/* Mapping reservation of values.gkv: the file grows inside it without a
 * remap; it is remapped (msync first) only when the file outgrows it. */
#define HEAP_RESERVE_MIN_BYTES (1ull << 30)
/* With external_prep: 64 GiB of address space (page tables only where
 * touched), so a prep job's populate never races a remap (prep.c). */
#define HEAP_RESERVE_EXT_BYTES (64ull << 30)

struct store_offvec {
    uint64_t *v;
    size_t n, cap;
};
/* Append x, doubling the array (64 first); GKV_ENOMEM leaves v as it was. */
int store__offvec_push(struct store_offvec *v, uint64_t x);


struct store_heap {
    int fd;
    uint8_t *map;
    uint64_t map_bytes;  /* length of the mapping (>= file_bytes) */
    uint64_t file_bytes; /* allocated size of values.gkv */
    uint64_t top;        /* every byte at or above top is unused */
    uint64_t prefaulted; /* pages below this offset were faulted in ahead */
    bool no_ahead;       /* external_prep: prep jobs fault in ahead, not the allocator */
    struct store_io *io; /* the store's counters (s->io) */
    struct store_offvec free[HEAP_CLASSES];
    struct store_offvec pending; /* (off << 8 | class) freed, reusable after a sync */
    uint64_t used_bytes;         /* bytes in live records' blocks */
    uint64_t free_bytes;         /* bytes on the free lists and pending */
    uint64_t pending_bytes;      /* of which pending */
    struct store_offvec held;    /* (off << 8 | class) freed during a sync=batch
                                  * doubling: an old-table slot on disk may
                                  * still name them (store__kill_old), so they
                                  * wait for the commit, then go pending */
    uint64_t held_bytes;         /* of free_bytes, held */
    bool read_only;
    bool huge;                   /* mapped MADV_HUGEPAGE: new space is populated in 2 MiB folios */
};

uint32_t store__heap_class(uint64_t bytes);
uint64_t store__heap_class_bytes(uint32_t cls);
/* Allocate a block of at least bytes; *off receives its offset. May extend
 * the file (GKV_ENOSPC) and remap (pointers into the heap become invalid). */
int store__heap_alloc(struct store_heap *h, uint64_t bytes, uint64_t *off);
/* Free a record block; with defer it becomes reusable only after the next
 * store__heap_release_pending (i.e. after a sync made its successor durable). */
void store__heap_free(struct store_heap *h, uint64_t off, uint64_t bytes, bool defer);
void store__heap_release_pending(struct store_heap *h);
/* Free a record block that must not be reused before the doubling in
 * progress commits (see held above). */
void store__heap_hold(struct store_heap *h, uint64_t off, uint64_t bytes);
/* The doubling committed: the held blocks become pending (reusable after
 * the next sync, like any other sync=batch free). */
void store__heap_release_held(struct store_heap *h);
/* Rebuild free lists from the sorted, deduplicated extents of live records
 * (off, bytes pairs); everything between them below top becomes free. */
int store__heap_rebuild(struct store_heap *h, uint64_t *offs, uint64_t *lens, size_t n);
void store__heap_release(struct store_heap *h);

static inline struct fmt_record *store__rec(const struct store_heap *h, uint64_t off)
{
    return (struct fmt_record *)(h->map + off);
}
/* Bytes of the record at r (header, clock, key, value, expiry). */
static inline uint64_t store__record_bytes(const struct fmt_record *r)
{
    return FMT_RECORD_BYTES(r->flags, r->vc_n, r->key_len, r->value_len);
}
/* Checksum of a record in place (excludes its own checksum field). */
uint64_t store__record_checksum(const struct fmt_record *r, uint64_t off);
/* Is [off, off+len of record) inside the file and the record whole and
 * checksummed? Safe on arbitrary off (bounds-checked before reading). */
bool store__record_valid(const struct store_heap *h, uint64_t off);

/* --------------------------------------------------------------- table.c */

struct store_table {
    uint64_t gen;
    uint32_t bits;
    uint64_t cap, mask;
    int fd;
    uint8_t *map;
    uint64_t map_bytes;
    struct fmt_slot *slots;
    uint64_t used; /* non-empty slots (value, tombstone or dead) */
    uint64_t prefaulted; /* bytes of the mapping faulted in ahead by a doubling's sweep */
    uint64_t dead; /* dead slots */
    /* The lookup index: one 4-byte word per slot, in anonymous memory
     * (file-backed read-write stores only; NULL otherwise, and lookups read
     * the slots). Derived state like the counts (I10): built from the
     * verified slots at open, kept equal to them by store__slot_put, never
     * written to disk. A lookup probes these words and goes straight to the
     * record; a get never touches the 64-byte slot. At 1/16 of the table's
     * bytes the index of a 1M-key store is 8 MiB, small enough to stay in
     * the last-level cache while records stream through it, so a hit costs
     * about one memory access instead of two. Layout (STORE_IX_*):
     *   bits  0..1   slot state (enum fmt_slot_state); 0 = EMPTY
     *   bits  2..5   4 low bits of the key's hash (homes use high bits)
     *   bits  6..31  rec_off / FMT_GRANULE, or STORE_IX_ESCAPE when the
     *                record lies past 1 GiB: that slot is compared through
     *                the slot itself */
    uint32_t *ix;
};

#define STORE_IX_ESCAPE 0x3ffffffu /* 26 bits of offset / 16: 1 GiB of heap */

/* Key bytes equal? Keys of 8..16 bytes (the common short key) compare as
 * two overlapping 8-byte words in line; a libc memcmp call is most of the
 * instructions of a hit otherwise. */
static inline bool store__key_equal(const uint8_t *a, const void *b, uint32_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, (const uint8_t *)b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

/* The index word of a slot image (its checksum is not looked at). */
static inline uint32_t store__ix_word(const struct fmt_slot *sl)
{
    if (sl->state == FMT_SLOT_EMPTY || sl->state == FMT_SLOT_DEAD)
        return sl->state;
    uint64_t g = sl->rec_off / FMT_GRANULE;
    if (g >= STORE_IX_ESCAPE || sl->rec_off % FMT_GRANULE != 0)
        g = STORE_IX_ESCAPE;
    return (uint32_t)((sl->state & 3u) | (sl->hash & 0xfu) << 2 | g << 6);
}

static inline uint64_t store__home(const struct store_table *t, uint64_t hash)
{
    /* High bits, not low: a key's home in a doubled table is 2*home or
     * 2*home+1, so "hash order" is the same in both tables and a scan cursor
     * in hash space survives growth (store_scan). */
    return hash >> (64 - t->bits);
}
/* Slot i's state as lookups, scans and the migration see it: the index's
 * word when t has an index (store__kill_old may have killed the slot there
 * only), else the slot's own byte. */
static inline uint32_t store__slot_state(const struct store_table *t, uint64_t i)
{
    return t->ix ? (t->ix[i] & 3u) : t->slots[i].state;
}
uint64_t store__slot_checksum(const struct store_table *t, uint64_t idx, const struct fmt_slot *sl);
/* Write an image into slot idx: computes the checksum, stores the body, then
 * the checksum (compiler barrier between), and msyncs the slot's page when
 * sync is set. */
int store__slot_put(struct store_table *t, uint64_t idx, struct fmt_slot *img, bool sync);
/* A doubling is done with slot i of the old table (migrated, or its key
 * rewritten into cur): mark it DEAD (I5). In sync=batch with an index the
 * mark goes into the index only and the slot on disk keeps its entry until
 * the doubling commits and the file retires, because a power loss may write
 * back the old table's page without cur's: a DEAD mark on disk could then
 * outlive the only durable copy of a key written before the last
 * checkpoint. Recovery removes the leftover copies (I7). Otherwise the slot
 * is written DEAD (msynced when sync; sync=always made the copy durable
 * first). */
int store__kill_old(struct store *s, uint64_t i, bool sync);
/* Does store__kill_old leave the old table's slots on disk (see above)?
 * While it does, tombstones are not purged: a purged key's stale copy in the
 * old table would come back after a power loss. */
bool store__kills_in_index(const struct store *s);
int store__table_open_file(struct store_io *io, int dirfd, uint64_t gen, bool create, uint64_t cap, bool read_only,
                           bool durable, bool huge, struct store_table *t, char *err,
                           size_t err_bytes);
void store__table_unmap(struct store_table *t);
/* Give each mapped table of a file-backed read-write store its index, built
 * from its slots (store_open, after recovery). Best effort: without memory
 * a table keeps working from its slots. */
void store__ix_build_all(struct store *s);
void store__table_name(char *buf, size_t n, uint64_t gen);

/* ------------------------------------------------------------ bucketix.c */

/* The per-bucket key index (bucketix.c has the design notes): in memory
 * only, derived from the slots like the counts (I10), so store_bucket_scan
 * lists one anti-entropy bucket in O(entries of the bucket) instead of
 * reading every slot of the table(s).
 *
 * Per bucket, a vector of 64-bit placement hashes (store__key_hash, the
 * same in every table size, so a doubling changes nothing here). Invariant:
 * the hash of every key present in the bucket (either table) is in its
 * vector. The vector may also hold stale hashes (of keys removed since the
 * last compaction) and duplicates; the scan skips both. */
struct store_bix_bucket {
    uint64_t *v;    /* malloc'd, cap elements; NULL when cap == 0 */
    uint32_t n;     /* hashes in v */
    uint32_t cap;
    uint32_t stale; /* keys of this bucket removed since its last compaction */
    bool sorted;    /* v[0..n) ascending (duplicates adjacent) */
};

/* Default of store_config.bucket_index_min_slots: below 16384 slots (1 MiB
 * of slots) a full-table bucket scan reads under 1 MiB sequentially
 * (under ~0.1 ms), and the index's fixed 24 KiB of bucket headers would be
 * over 1/43 of the table it saves reading; a simulator running 10,000
 * small stores should not pay 240 MB for it. */
#define STORE_BIX_MIN_SLOTS_DEFAULT 16384u

struct store_bix {
    /* STORE_BUCKETS headers (calloc'd), or NULL: no index, and
     * store_bucket_scan reads the whole table(s). */
    struct store_bix_bucket *b;
    uint64_t bytes;       /* heap bytes held: headers + every vector's capacity */
    uint64_t failures;    /* allocation failures, each of which dropped the index */
    uint64_t full_scans;  /* store_bucket_scan calls that read whole tables */
    uint64_t compactions; /* buckets compacted (stale hashes dropped) */
    /* Test hook (store__bix_fail_after): the countdown-th allocation from
     * now fails; 0 = none fails. */
    uint64_t fail_countdown;
};

/* Build the index if the store wants one and has none: a read-write store
 * whose current table has at least bucket_index_min_slots slots. One pass
 * over the live slots of both tables (store_open after recovery and log
 * replay; store__grow_start, which is where a store crosses the size, and
 * where an index dropped for lack of memory is retried). */
void store__bix_build(struct store *s);
void store__bix_free(struct store *s);
/* A key entered the store (bucket, hash of its slot): every write that
 * inserts a key that was absent from both tables. */
void store__bix_add_slow(struct store *s, uint32_t bucket, uint64_t hash);
/* A key left the store (a purged tombstone: any path that makes a present
 * key absent). The hash stays in the vector as stale until the bucket is
 * compacted, which happens once stale hashes could be half of it (amortized
 * O(1) chain walks per removal, and no O(bucket) search per removal). */
void store__bix_remove(struct store *s, uint32_t bucket);
/* The whole-table bucket scan (the fallback, and the oracle in tests and
 * the peer in storage_bench; not counted in bix.full_scans). */
int store__bucket_scan_full(struct store *s, uint32_t bucket, store_scan_cb cb, void *arg);
/* Test hook: the n-th allocation of the index from now fails (0: none). */
void store__bix_fail_after(struct store *s, uint64_t n);

/* -------------------------------------------------------------- tombix.c */

/* The tombstone age index (tombix.c has the design notes T1..T4). */
struct store_tix_item {
    uint64_t dead; /* dead_since HLC (entry_dead_since_hlc) */
    uint64_t hash; /* placement hash (store__key_hash) */
};
struct store_tix_heap {
    struct store_tix_item *v; /* binary min-heap on (dead, hash) */
    size_t n, cap;
};
struct store_tix {
    struct store_tix_heap live; /* tombstones in the digest (and stale items) */
    struct store_tix_heap gone; /* retired, awaiting the purge (and stale items) */
    uint64_t cutoff;            /* HLC: dead since before it = out of the digest */
    uint64_t retired;           /* present tombstones below the cutoff */
    bool lost;                  /* an allocation failed: rebuild at the next purge call */
    struct store_tix_item last; /* the last item popped from live (duplicates, T4) */
    bool have_last;
    uint64_t failures, rebuilds, compactions;
};

/* A tombstone was written (T2). Failures set tix.lost. */
void store__tix_push(struct store *s, uint64_t hash, uint64_t dead);
/* Rebuild both heaps from the slots under the current cutoff. */
void store__tix_build(struct store *s);
/* Move the cutoff towards target (T3), retiring at most budget items. */
void store__tix_advance(struct store *s, uint64_t target, uint64_t budget);
/* The same in steps, for a caller that purges some at once (write.c). */
int store__tix_next_crossing(struct store *s, uint64_t target, struct store_table **t,
                             uint64_t *idx, struct store_tix_item *it);
void store__tix_retire(struct store *s, const struct store_table *t, uint64_t idx,
                       const struct store_tix_item *it);
void store__tix_set_cutoff(struct store *s, uint64_t target);
/* Per purge call: rebuild if lost, compact if due. */
void store__tix_maintain(struct store *s);
/* The next tombstone to purge (1: *t, *idx; 0: none due). */
int store__tix_pop_due(struct store *s, uint64_t limit, struct store_table **t, uint64_t *idx);
uint64_t store__tix_oldest(const struct store *s);
uint64_t store__tix_bytes(const struct store *s);
void store__tix_free(struct store *s);

/* --------------------------------------------------------------- store.c */

/* A background group commit (store_sync_begin .. store_sync_end). Owned by
 * the caller between begin and end; store.c frees it in end. */
#define STORE_SYNC_JOB_FDS 4 /* values, cur table, old table, header */
struct store_sync_job {
    int fds[STORE_SYNC_JOB_FDS]; /* dup()s, in I3 order; nfds used */
    int nfds;
    uint64_t epoch;        /* the epoch this job makes durable (bumped at begin) */
    uint64_t values_bytes; /* values.gkv size at begin (durable after run) */
    /* The deferred frees captured at begin ((off << 8 | class), as in
     * store_heap.pending), released at a successful end. */
    struct store_offvec frees;
    uint64_t frees_bytes;
    /* A synchronous store__do_sync ran meanwhile and covered all of it (the
     * frees are already released; end has nothing left to apply). */
    bool covered;
    bool was_dirty; /* s->dirty at begin, restored if the job fails */
    /* Write-ahead log (sync=batch with a directory): the log bytes this
     * job writes and fdatasyncs. A job syncs the tables too (tables: the
     * fds above, the frees, the epoch) only without a log, or when it is a
     * checkpoint: then the log switched to a new file at begin, and run
     * unlinks old_log_gen after the tables are durable. */
    struct wal_job log;
    struct store_io io; /* this job's disk calls (in_job), added to the store's at end */
    bool tables;
    bool checkpoint;
    int dirfd; /* dup, checkpoint only */
    uint64_t old_log_gen;
};

/*
 * The read cache (rcache.c): in anonymous memory, derived state like the
 * lookup index (I10), never on disk. store_get asks it first; a hit skips
 * the SipHash placement hash and the probe of the table's index.
 *
 * Why: a get that misses the CPU caches waits for two dependent memory
 * accesses (index word, then record). The next get could start its own two
 * meanwhile, but only if its instructions up to its first access fit the
 * CPU's reorder window together with this get's remaining ones, and
 * SipHash-2-4 alone (~160 instructions for a 16-byte key) does not: gets
 * ran one after the other ("Why get_hit stays below 3x" in
 * `git show 383e9cc:docs/BENCHMARKS.md`). The cache is placed by a multiply hash of ~15 instructions keyed
 * with a secret derived from the placement secret, so consecutive gets
 * overlap.
 *
 * Why a cache and not a second index: a multiply hash is not a PRF, and a
 * client who found colliding keys could lengthen an index's probe chains.
 * Here a bucket (one cache line) holds STORE_RC_WAYS entries and nothing else: colliding
 * keys evict each other and their gets take the SipHash path, as every get
 * did before. No chain can grow.
 *
 * Entry: (tag << 32) | granule, 0 = empty. tag = the fast hash's high 32
 * bits made odd (store__rc_tag); the bucket is the tag's top `bits` bits, so a doubling moves an
 * entry without its key. granule = the record's offset / FMT_GRANULE.
 * Invariant: an entry points to the current record of the last key with
 * that tag written to (or looked up into) its bucket. Every write of a key
 * updates its entry (store__rc_set), every purge removes it
 * (store__rc_clear): a freed block is never named. A hit still compares
 * the key in the record (two keys may share a tag).
 *
 * Size: two entries per table slot (STORE_RC_WAYS per bucket), 16 bytes
 * per slot: 32 MiB for the 2M slots of a 1M-key store (rcache.c says why
 * two). While the table doubles the cache doubles with it, in place: its
 * mapping grows (mremap) and old bucket b splits into new buckets 2b and
 * 2b + 1, the highest old buckets first, in step with the table's migration
 * (store__rc_migrate); a bucket not moved yet is used in the old layout
 * (store__rc_bucket). The old buckets' memory thus becomes the new cache's
 * first half, and a doubling touches only the second half as new memory
 * (a fresh cache each time allocated 64 MiB over a 1M-key load, in place
 * 32 MiB).
 */
#define STORE_RC_WAYS 8u /* 64 bytes: a bucket is one cache line */
/* A cache smaller than this doubles into a fresh mapping, larger ones in
 * place (rcache.c): 2 MiB, the x86-64 and aarch64 huge page (PMD) size. */
#define STORE_RC_INPLACE_MIN_BYTES (2ull << 20)
static_assert(STORE_RC_WAYS == 8, "store__rc_find compares eight ways at once");
/* A fast hash's tag: its high 32 bits, made odd so that no tag is 0. */
static inline uint32_t store__rc_tag(uint64_t fh)
{
    return (uint32_t)(fh >> 32) | 1u;
}
/* The ways of bucket b whose tag is t, as bit 2w+1 for way w (0 finds the
 * empty ways: no tag is 0). All eight compared at once, without a branch
 * per way. */
static inline unsigned store__rc_match(const uint64_t *b, uint32_t t)
{
    unsigned m = 0;
#if defined(__SSE2__)
    __m128i tv = _mm_set1_epi32((int)t);
    for (unsigned q = 0; q < 4; q++) {
        __m128i w = _mm_load_si128((const __m128i *)(const void *)(b + 2 * q));
        m |= (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(w, tv))) << (4 * q);
    }
    m &= 0xaaaau; /* the high half of each entry (little-endian) */
#else
    for (unsigned w = 0; w < STORE_RC_WAYS; w++)
        m |= (unsigned)((uint32_t)(b[w] >> 32) == t) << (2 * w + 1);
#endif
    return m;
}
struct store_rcache {
    uint64_t *e;     /* buckets * STORE_RC_WAYS entries, or NULL (no cache) */
    uint64_t buckets;
    unsigned bits;   /* log2(buckets) */
    unsigned shift;  /* 32 - bits: a tag's bucket is tag >> shift (as 64 bits) */
};
/* Create an empty cache for a table of cap slots (0, or GKV_ENOMEM). */
int store__rc_init(struct store_rcache *c, uint64_t cap);
void store__rc_free(struct store_rcache *c);

struct store {
    struct store_config cfg;
    char dir[4096];
    int dirfd;  /* -1 for anonymous memory */
    int lockfd; /* -1 for anonymous memory */

    /* header.gkv */
    int hfd;
    uint8_t *hmap;
    struct fmt_header hdr; /* the current header (both copies equal it) */

    /* tables: cur is the live table, or the new one while growing; old is
     * the table being drained by an incremental doubling (old.map != NULL). */
    struct store_table cur, old;
    bool growing;
    uint64_t mig_pos;     /* next position of old to migrate */
    /* 1 + the highest position below mig_pos that is EMPTY in old (0: none
     * yet). A key whose home in old is at or before it cannot be in old:
     * its whole chain ends at that empty slot, inside the migrated part. */
    uint64_t mig_empty_end;
    bool mig_committing; /* old drained, header switch pending (batch mode: at tick) */
    bool grow_wanted;    /* sync=batch: cur passed 3/4; the next tick starts the doubling */
    /* The table the next doubling will create (gen cur.gen + 1, twice
     * cur's capacity), made ahead by store__next_step: fallocated, mapped,
     * and zero-filled up to next_ready (bytes). next.map == NULL: none. */
    struct store_table next;
    uint64_t next_ready, next_credit;
    uint64_t next_failed_gen; /* creating this generation ahead failed; wait */
    uint64_t next_taken;      /* doublings that took a prepared table (tests) */
    /* The retired table's file, kept for the next table instead of freed:
     * renamed to table.<cur.gen + 1>.gkv at the commit (an orphan to open,
     * I6), unmapped by store__retire_step, then handed here; the next
     * store__next_step grows and zero-fills it. -1: none. ext4 mounted with
     * `discard` frees blocks with synchronous discards (0.85 ms per 256 KiB
     * chunk on our VM), which shrinking the retired file inside puts paid. */
    int next_seed_fd;
    bool retired_seed; /* the retired table's fd becomes next_seed_fd */
    uint64_t seed_taken; /* prepared tables grown from a seed (tests) */
    /* the table a finished doubling left behind, released incrementally */
    struct store_table retired;
    bool retiring;
    uint64_t retired_mapped, retired_file;

    struct store_heap heap;

    uint8_t secret[16];
    struct hlc hlc;
    uint64_t epoch; /* sync epoch: bumped after every completed sync */
    /* values.gkv size as of the last completed sync (its size change is
     * durable): what header.gkv records, so a power loss cannot leave the
     * file shorter than the header claims. */
    uint64_t durable_values_bytes;
    uint64_t last_sync_ms;
    bool dirty;
    /* The background sync job in flight (NULL: none); owned by the caller,
     * the store keeps the pointer to coordinate with synchronous syncs. */
    struct store_sync_job *sync_job;
    /* Offsets of blocks in sync_job->frees that a write during the job kept
     * as a slot's prev_off (I3): not released by this job's end, they go
     * back to the pending list for the next sync. */
    struct store_offvec sync_pins;

    uint64_t entries, tombstones;
    uint64_t expiring; /* of entries, values with an expiry (passed or not) */
    uint64_t buckets[STORE_BUCKETS];
    struct store_bix bix; /* which keys each bucket holds (bucketix.c) */
    struct store_tix tix; /* tombstones by age, the purge cutoff (tombix.c) */

    /* scratch: incoming data copied when it points into our own mapping */
    uint8_t *scratch;
    size_t scratch_bytes;
    /* counter states being built (counter.h: joins and local writes) */
    uint8_t *ctr_buf;
    size_t ctr_bytes;

    uint64_t grow_retry_after; /* puts count; growth failed on ENOSPC */

    /* Write-ahead log (wal.h): open (wal.fd >= 0) for a directory store in
     * sync=batch or sync=always. replaying: recovery is applying the logs
     * (writes behave as with a log: no per-write msync, deferred frees). */
    struct wal wal;
    bool replaying;

    struct store_stats st;
    /* The read cache (above). While a doubling moves its buckets in place,
     * rc has the new size and old buckets 0 .. rc_mig - 1 (old geometry: a
     * tag's old bucket is tag >> rc_old_shift) have not moved yet; rc_mig is
     * 0 when no doubling moves it. rc_mig_tag = rc_mig << rc_old_shift: the
     * tags below it are those of unmoved buckets (one compare per lookup). rc_k: the fast hash's secret, derived
     * from the placement secret at open. */
    struct store_rcache rc;
    uint64_t rc_mig, rc_mig_tag;
    unsigned rc_old_shift;
    uint64_t rc_inplace_min_bytes; /* STORE_RC_INPLACE_MIN_BYTES (tests lower it) */
    uint64_t rc_k[4];
    uint64_t rc_misses; /* gets the cache did not answer */

    /* external_prep (prep.c): the job in flight (NULL: none); the table a
     * doubling's commit left named by the file system, waiting for a
     * retire job (retire_wait.map NULL: none). */
    struct store_io io; /* blocking disk calls (store_disk_calls_get) */
    /* one job per slot, so none waits behind another's I/O */
    struct store_prep_job *prep_job;      /* commit or retire */
    struct store_prep_job *prep_heap_job; /* heap */
    struct store_prep_job *prep_next_job; /* next */
    uint64_t next_gen_in_flight; /* the table generation a next job creates */
    struct store_table retire_wait;
};

/* Since when the entry of a slot is dead, as an HLC: the slot form of
 * entry_dead_since_hlc (the two must agree). A tombstone since its own HLC,
 * a value whose expiry passed since the ms after its expiry (purged as a
 * tombstone dated at its expiry: docs/ARCHITECTURE.md, "Expiry"), any other
 * value never (UINT64_MAX). A value's expiry is in its record only, read
 * when the record has one. */
static inline uint64_t store__slot_dead_since(const struct store *s, const struct fmt_slot *sl)
{
    if (sl->state == FMT_SLOT_TOMB)
        return sl->hlc;
    if (sl->state != FMT_SLOT_VALUE || !s->expiring)
        return UINT64_MAX;
    const struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
    if (!(r->flags & FMT_REC_EXPIRES))
        return UINT64_MAX;
    uint64_t expire_ms;
    memcpy(&expire_ms, (const uint8_t *)(r + 1) + 16u * r->vc_n + r->key_len + r->value_len, 8u);
    return expire_ms < (UINT64_C(1) << 48) - 1 ? HLC_MAKE(expire_ms + 1, 0) : UINT64_MAX;
}

/* T1: does a version dead since dead_since count in its bucket hash? */
static inline bool store__in_digest(const struct store *s, uint64_t dead_since)
{
    return dead_since >= s->tix.cutoff;
}

/* Header writes (header.c). Both copies are rewritten, A then B; sync forces
 * msync of each copy before the next step (structural changes always sync). */
int store__header_write(struct store *s, bool sync);
int store__header_read(int fd, uint64_t file_bytes, const uint8_t *map, struct fmt_header *out,
                       int *valid_copies, char *err, size_t err_bytes);
void store__header_checksum_set(struct fmt_header *h);
bool store__header_copy_ok(const struct fmt_header *h);
/* Extend the HLC lease if the clock passed it (write.c calls after every
 * hlc_now / hlc_observe). */
int store__hlc_guard(struct store *s);

/* Verification (recover.c): checks every slot of the mapped tables and the
 * record each names; with repair, fixes what it can (I1, I2, I3, I7). Both
 * modes rebuild counts, bucket hashes, heap free lists, the epoch and the
 * HLC floor (s->hlc.last = largest slot HLC). Reports each fault to out
 * (if not NULL), at most STORE_REPORT_LINES lines. */
#define STORE_REPORT_LINES 50u
struct store_vreport {
    FILE *out;
    bool verbose;            /* print every entry */
    uint64_t faults;         /* checksum failures and mismatches found */
    uint64_t printed;
    uint64_t rebuilt;        /* torn slots rebuilt from their record */
    uint64_t rolled_back;    /* slots falling back to prev_off */
    uint64_t dropped;        /* slots made DEAD (nothing to rebuild from) */
    uint64_t dups;           /* old-table copies of keys also in cur */
    uint64_t vhash_fixed;    /* records whose cached version hash was stale */
    uint64_t overlaps;       /* records overlapping other records */
    uint64_t beyond_eof;     /* checksummed slots naming offsets past values.gkv's end */
};
int store__verify(struct store *s, bool repair, struct store_vreport *rep, char *err,
                  size_t err_bytes);
int store__recover(struct store *s, char *err, size_t err_bytes);

/* Lookup helpers (table.c). Returns the slot index holding the key or -1;
 * *ins (if not NULL) receives the first dead-or-empty slot on the chain (the
 * insertion point), or UINT64_MAX if the chain covered the whole table. */
/* Start the memory accesses a lookup of hash in t will make: the index
 * words of its chain (already requested, see store_get_batch) and the first
 * lines of every record whose tag matches. A hint only: reads, no effect on
 * any state; stops at the chain's first EMPTY word or after
 * STORE_PREFETCH_PROBES words. */
#define STORE_PREFETCH_PROBES 8u
void store__prefetch_lookup(const struct store *s, const struct store_table *t, uint64_t hash);
int64_t store__find(const struct store *s, const struct store_table *t, uint64_t hash,
                    const void *key, uint32_t key_len, uint64_t *ins);
/* Fill an entry from a slot (borrowing key and value from the heap). */
void store__entry_from_slot(const struct store *s, const struct fmt_slot *sl, struct entry *e);
/* The same for slot idx of t as store__find returned it, from the index
 * word and the record when t has an index (the slot is not read). */
void store__entry_at(const struct store *s, const struct store_table *t, uint64_t idx,
                     struct entry *e);

/* Incremental growth (table.c). */
int store__grow_start(struct store *s);
int store__grow_step(struct store *s, uint64_t positions);
int store__grow_commit(struct store *s);
/* Release up to bytes of the retired table (munmap, then shrink the
 * unlinked file); UINT64_MAX finishes. Each write op releases
 * STORE_RETIRE_CHUNK_BYTES, each tick 16 times that. 256 KiB: unmapping or
 * truncating 1 MiB of dirty pages took about 1.5 ms in one put. */
#define STORE_RETIRE_CHUNK_BYTES (256u * 1024u)
void store__retire_step(struct store *s, uint64_t bytes);
/* Prepare the next doubling's table ahead of time (file-backed stores,
 * not while growing; starts once cur is 5/8 full). A doubling otherwise
 * pays first-touch page faults for every page of its new table, the
 * largest kernel cost of a put ("What changed in this round" in
 * `git show 383e9cc:docs/BENCHMARKS.md`); zero-filling the file
 * with pwrite ahead costs a quarter of that and is spread over the writes
 * between 5/8 and 3/4 load. Late rather than early because a store that
 * settles in that band keeps the prepared file (twice its table's bytes)
 * on disk and in memory until it grows. Each write op adds credit bytes; a
 * chunk of STORE_NEXT_CHUNK_BYTES is filled when the credit covers it.
 * Needed: 2 * cap * 64 bytes over cap/8 writes, 1 KiB per write; the
 * credit per write, STORE_NEXT_CREDIT_BYTES, is twice that (what is left at
 * the doubling is filled then, in one go). */
#define STORE_NEXT_START_NUM 5u
#define STORE_NEXT_START_DEN 8u
#define STORE_NEXT_CHUNK_BYTES (64u * 1024u)
#define STORE_NEXT_CREDIT_BYTES 2048u
void store__next_step(struct store *s, uint64_t credit);
/* Largest table: 2^32 slots (256 GiB of slots); past it puts get GKV_EFULL. */
#define STORE_MAX_CAPACITY (1ull << 32)
/* prep.c and table.c, external_prep. Create table gen of cap slots whole
 * in t: file allocated (fallocate), mapped, zero-filled, lookup index
 * allocated, prologue written and, when durable, fsynced with the
 * directory. Touches no store: runs on a job's thread. */
int store__table_create_ready(struct store_io *io, int dirfd, uint64_t gen, uint64_t cap,
                              bool durable, bool huge, struct store_table *t);
/* The in-memory part of a doubling's commit, after a job made values.gkv
 * and cur durable: the header names cur only (written, not msynced: the
 * retire job fsyncs it before the old file goes), the old table waits in
 * retire_wait. No blocking call. */
int store__grow_commit_tail(struct store *s);
/* Release retire_wait on this thread (a second commit before its job). */
void store__retire_wait_now(struct store *s);
/* Can a doubling start now with no I/O (the next table is ready)? */
bool store__grow_ready(const struct store *s, uint64_t cap);

/* Drop the prepared table (unmap, close, unlink). */
void store__next_discard(struct store *s);
/* Drop the kept retired file, if any (unlink its name, close). */
void store__seed_drop(struct store *s);

uint64_t store__key_hash(const struct store *s, const void *key, size_t key_len);

/* store__bix_add_slow's fast path, in line on the put path: one append. */
static inline void store__bix_add(struct store *s, uint32_t bucket, uint64_t hash)
{
    if (!s->bix.b)
        return;
    struct store_bix_bucket *bk = &s->bix.b[bucket];
    if (bk->n == bk->cap) {
        store__bix_add_slow(s, bucket, hash);
        return;
    }
    if (bk->n && bk->v[bk->n - 1] > hash)
        bk->sorted = false;
    bk->v[bk->n++] = hash;
}


/* Read cache operations (rcache.c); all no-ops without a cache. */
/* The bucket that holds tag's entry: its old bucket while a doubling has
 * not moved that yet (position b of the old layout, which the split of
 * bucket b overwrites only after reading it), else its new one. */
static inline uint64_t *store__rc_bucket(const struct store *s, uint32_t tag)
{
    if (__builtin_expect(tag < s->rc_mig_tag, 0)) /* never while rc_mig is 0 */
        return s->rc.e + ((uint64_t)tag >> s->rc_old_shift) * STORE_RC_WAYS;
    return s->rc.e + ((uint64_t)tag >> s->rc.shift) * STORE_RC_WAYS;
}
/* The record of key if the cache names it (key compared), else NULL. In
 * line: the whole point of the cache is a short instruction path. */
static inline const struct fmt_record *store__rc_find(const struct store *s, uint64_t fh,
                                                      const void *key, uint32_t key_len)
{
    uint32_t tag = store__rc_tag(fh);
    const uint64_t *b = store__rc_bucket(s, tag);
    /* Which ways carry the tag, without a branch per way: the way that
     * holds a key is random, and a mispredicted branch on the bucket's
     * words would throw away the next get's work the CPU had started.
     * Tags are odd, so an empty way (0) never matches. */
    unsigned m = store__rc_match(b, tag);
    while (m) {
        uint64_t e = b[__builtin_ctz(m) >> 1];
        m &= m - 1;
        uint64_t off = (uint64_t)(uint32_t)e * FMT_GRANULE;
        const uint8_t *r = s->heap.map + off;
        /* The key follows the clock, whose length is in the record's first
         * line: ask for the next line now (as find_ix does). */
        __builtin_prefetch(r + 64);
        const struct fmt_record *rh = (const struct fmt_record *)r;
        if (off + sizeof *rh > s->heap.file_bytes)
            continue;
        uint64_t kend = off + sizeof *rh + 16u * rh->vc_n + key_len;
        if (rh->key_len == key_len && kend <= s->heap.file_bytes &&
            store__key_equal(r + sizeof *rh + 16u * rh->vc_n, key, key_len))
            return rh;
    }
    return NULL;
}
/* key (fast hash fh) now has its current record at off. */
void store__rc_set(struct store *s, uint64_t fh, uint64_t off);
/* key (fast hash fh) left the store. */
void store__rc_clear(struct store *s, uint64_t fh);
/* At open (after the lookup indexes are built): an empty cache for cur. */
void store__rc_open(struct store *s);
/* A doubling started (cur is the new table): the cache's mapping doubles
 * (mremap), its buckets to move in place. Without the memory: no cache. */
void store__rc_grow_start(struct store *s);
/* Move the old cache's buckets in step with the table migration (mig_pos
 * of old.cap positions done); all of them once mig_pos reaches old.cap. */
void store__rc_migrate(struct store *s);
/* The cache bucket of fast hash fh (for a prefetch), and a prefetch of the
 * records its entries with fh's tag name. Only with a cache. */
const uint64_t *store__rc_bucket_of(const struct store *s, uint64_t fh);
void store__rc_prefetch(const struct store *s, uint64_t fh);
/* The fast hash of key under the store's cache secret. */
/* 64x64 -> 128-bit multiply, folded: the mixing step of the fast hash. */
static inline uint64_t rc_mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* A keyed multiply hash in the style of wyhash (Wang Yi): one folded
 * 128-bit multiply per 16 bytes and one to finish, ~15 instructions for a
 * 16-byte key. Not a PRF: that is why its users are a cache (store_int.h). */
static inline uint64_t store__rc_hash(const struct store *s, const void *key, size_t len)
{
    const uint8_t *p = key;
    const uint64_t *k = s->rc_k;
    uint64_t h = k[0] ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
    uint64_t a, b;
    if (len <= 16) {
        if (len >= 8) {
            a = gkv_ck_load64(p);
            b = gkv_ck_load64(p + len - 8);
        } else if (len >= 4) {
            a = gkv_ck_load32(p);
            b = gkv_ck_load32(p + len - 4);
        } else if (len > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t left = len;
        while (left > 16) {
            h = rc_mix(gkv_ck_load64(p) ^ k[1], gkv_ck_load64(p + 8) ^ h);
            p += 16;
            left -= 16;
        }
        a = gkv_ck_load64(p + left - 16);
        b = gkv_ck_load64(p + left - 8);
    }
    h = rc_mix(a ^ k[2], b ^ h);
    return rc_mix(h ^ k[3], (uint64_t)len ^ k[1] ^ 0xe7037ed1a0b428dbull);
}

/* A write of key begins: its fast hash (0 without a cache), and its cache
 * bucket requested now, so that store__rc_set finds it in the CPU cache
 * when the write ends instead of waiting for memory then (a put's one
 * other random access, the lookup index's word, overlaps with it). */
static inline uint64_t store__rc_start_write(const struct store *s, const void *key, size_t len)
{
    if (!s->rc.e)
        return 0;
    uint64_t fh = store__rc_hash(s, key, len);
    __builtin_prefetch(store__rc_bucket(s, store__rc_tag(fh)), 1);
    return fh;
}

/* Fill e from a record's clock and key bytes (vp: just past the record
 * header) and the given lengths, flags and stamps: the one place that lays
 * an entry over a record, whether its fields come from the record itself
 * or from the slot that repeats them. Clock items are copied one by one: a
 * variable-length memcpy is a libc call, and clocks hold one or two items. */
static inline void store__entry_fill(struct entry *e, const uint8_t *vp, uint32_t vc_n,
                                     uint32_t key_len, uint32_t value_len, uint32_t flags,
                                     uint64_t hlc, uint64_t origin)
{
    uint32_t vcn = vc_n < GKV_VCLOCK_MAX ? vc_n : GKV_VCLOCK_MAX;
    const struct fmt_record *r = (const struct fmt_record *)vp - 1;
    e->key = vp + 16u * vc_n;
    e->key_len = key_len;
    e->flags = flags & ENTRY_FLAGS_ALL;
    /* A counter keeps its state bytes also when it reads as absent. */
    bool bytes = entry_has_value(e);
    e->value = bytes ? e->key + key_len : NULL;
    e->value_len = bytes ? value_len : 0;
    e->expire_ms = 0;
    if (r->flags & FMT_REC_EXPIRES) /* the 8 bytes after the value */
        memcpy(&e->expire_ms, e->key + key_len + value_len, 8u);
    e->hlc = hlc;
    e->origin = origin;
    e->vc.n = vcn;
    for (uint32_t i = 0; i < vcn; i++)
        memcpy(&e->vc.items[i], vp + 16u * i, 16u);
}

/* Fill an entry from a record (as store__entry_at does from the index). */
static inline void store__entry_from_rec(const struct fmt_record *r, struct entry *e)
{
    store__entry_fill(e, (const uint8_t *)(r + 1), r->vc_n, r->key_len, r->value_len, r->flags,
                      r->hlc, r->origin);
}


/* ------------------------------------- shared by write.c, read.c, open.c */

/* Positions of the old table migrated per write op and per store_tick. Per
 * write: 8 keeps the added put cost small, yet a doubling that starts at
 * 3/4 load ends after cap/8 writes, by when cur holds at most
 * 3/8 + 1/16 of its slots (store__grow_start). Per tick (about every 10 ms):
 * 4096 slots, about 100 us of work. */
#define STORE_GROW_STEP_WRITE 8u
#define STORE_GROW_STEP_TICK 4096u

struct store_loc {
    struct store_table *t; /* table holding the key, or NULL */
    int64_t idx;           /* its slot */
    uint64_t ins;          /* insertion point in cur if the key is new to cur */
};

/* Where key lives (l->t NULL when absent). With want_ins, also the first
 * free slot on its chain in the current table for a write (l->ins), and the
 * probe prefetches the slot the write will touch; reads pass false, so a
 * get costs no slot access at all. */
static inline void store__locate_for(struct store *s, uint64_t hash, const void *key,
                                     uint32_t key_len, bool want_ins, struct store_loc *l)
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

static inline void store__locate(struct store *s, uint64_t hash, const void *key, uint32_t key_len,
                                 struct store_loc *l)
{
    store__locate_for(s, hash, key, key_len, true, l);
}

static inline bool store__in_heap(const struct store *s, const void *p)
{
    const uint8_t *b = p;
    return p && b >= s->heap.map && b < s->heap.map + s->heap.map_bytes;
}

/* Does this store log its writes (or is recovery replaying a log)? */
static inline bool store__wal_on(const struct store *s)
{
    return s->wal.fd >= 0 || s->replaying;
}

static inline uint64_t store__wal_ckpt_bytes(const struct store *s)
{
    return s->cfg.wal_checkpoint_bytes ? s->cfg.wal_checkpoint_bytes : WAL_CHECKPOINT_BYTES_DEFAULT;
}

/* Append a record; sync=always makes it durable before returning. */
static inline int store__wal_log(struct store *s, uint8_t type, const struct entry *e)
{
    if (s->wal.fd < 0)
        return 0;
    int rc = wal_append(&s->wal, type, e);
    if (rc == 0 && s->cfg.sync == STORE_SYNC_ALWAYS) {
        unsigned pc = store__io_cause_enter(&s->io, STORE_IO_FSYNC_ALWAYS);
        rc = wal_sync(&s->wal);
        store__io_cause_leave(&s->io, pc);
    }
    return rc;
}

/* store__hlc_guard (header.c), plus a log record of each new lease: with a
 * log the header is msynced only at checkpoints, so the log carries I8. */
static inline int store__hlc_guard_logged(struct store *s)
{
    uint64_t before = s->hdr.hlc_bound;
    int rc = store__hlc_guard(s);
    if (rc == 0 && s->hdr.hlc_bound != before && s->wal.fd >= 0) {
        struct entry e = {.hlc = s->hdr.hlc_bound};
        rc = store__wal_log(s, WAL_REC_HLC, &e);
    }
    return rc;
}

static inline int store__check_key(const void *key, size_t key_len)
{
    if (!key || key_len == 0 || key_len > GKV_KEY_MAX)
        return GKV_EKEYSIZE;
    return 0;
}

/* write.c: applies one log record on open (wal_replay's callback). */
int store__replay_apply(void *arg, uint8_t type, const struct entry *e);

/* checkpoint.c: a synchronous group commit or checkpoint (I3, I12): the
 * write path's backstops, store_sync, store_tick, open and close. */
int store__do_sync(struct store *s);

void store__free(struct store *s);

/* Map a directory read-only for inspect (no recovery, no lock taken; *in_use
 * tells whether another process holds LOCK). */
int store__inspect_open(const char *dir, struct store **out, bool *in_use, int *valid_copies,
                        char *err, size_t err_bytes);

#endif
