/*
 * store.c: the design notes of the mmap'd LWW table (its crash-safety
 * invariants, which write.c, checkpoint.c, open.c and recover.c cite by
 * number), store_config defaults, key hashing, stats and accessors.
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
 *     checkpoint (store__do_sync, checkpoint.c), which then starts
 *     log.<gen+1> and only after that removes log.<gen>. So the epoch of I3
 *     and the release of deferred frees follow checkpoints: a record
 *     durable at the last checkpoint keeps its block until the next one,
 *     and a slot torn by a power loss falls back to it; the log (replayed
 *     on open through the merge rule, idempotent) brings it forward again.
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
    out->expiring = s->expiring;
    out->tombstones_purgeable = s->tix.retired;
    out->oldest_tombstone_hlc = s->tombstones ? store__tix_oldest(s) : 0;
    out->tombstone_index_bytes = store__tix_bytes(s);
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
    out->log_checkpoint_bytes = s->wal.fd >= 0 ? store__wal_ckpt_bytes(s) : 0;
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
