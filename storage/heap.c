/*
 * heap.c: values.gkv, the record heap.
 *
 * Every version of a key is one record (struct fmt_record + vector clock +
 * key + value) in a block of a size class. A write never modifies a live
 * record: it allocates a new block, writes the record, then points the slot
 * at it, and only then frees the old block (store.c, I2). Free blocks sit on
 * one free list per class, in memory only; recovery rebuilds the lists from
 * the records that live slots reference (everything else is free), so the
 * file never needs a persistent allocator state that could tear.
 *
 * Classes (store__heap_class): 64..256 bytes in 16-byte steps, then four
 * per doubling. They are in memory only, but recovery counts each live
 * record's block by its class, so a change of classes is a change of
 * values.gkv's version (format.h FMT_VALUES_VERSION).
 *
 * Reuse is exact-class: an overwrite with a value of similar size reuses the
 * block the previous version freed, which is what bounds the file size under
 * overwrites (tests: test_store_space_reuse). Blocks freed in sync=batch wait
 * on a pending list until the next sync, so a power loss can still roll a
 * slot back to its last durable record (I3).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/errors.h"
#include "storage/checksum.h"
#include "storage/store_int.h"

/* Classes 0..12 are 64..256 bytes in 16-byte (FMT_GRANULE) steps; above
 * 256 there are four per doubling: 2^d + j * 2^(d-2), j = 1..4 (320, 384,
 * 448, 512, 640, ...). The common small record (48-byte head, a short key,
 * a value of about 100 bytes: 164 bytes in storage_bench) then wastes at
 * most 15 bytes instead of up to 31 (176-byte block, was 192). */
#define HEAP_SMALL_MAX_BYTES 256u
#define HEAP_SMALL_CLASSES 13u /* 64, 80, ..., 256 */

uint32_t store__heap_class(uint64_t bytes)
{
    if (bytes <= 64)
        return 0;
    if (bytes <= HEAP_SMALL_MAX_BYTES)
        return (uint32_t)((bytes - 64 + 15) / 16);
    unsigned d = 63u - (unsigned)__builtin_clzll(bytes - 1); /* 2^d < bytes <= 2^(d+1), d >= 8 */
    uint64_t base = 1ull << d, step = base >> 2;
    uint64_t j = (bytes - base + step - 1) / step; /* 1..4 */
    return HEAP_SMALL_CLASSES - 1u + (d - 8u) * 4u + (uint32_t)j;
}

uint64_t store__heap_class_bytes(uint32_t cls)
{
    if (cls < HEAP_SMALL_CLASSES)
        return 64u + 16u * cls;
    uint32_t t = cls - (HEAP_SMALL_CLASSES - 1u); /* 1.. */
    unsigned d = 8u + (t - 1) / 4;
    uint64_t j = (t - 1) % 4 + 1;
    return (1ull << d) + j * (1ull << (d - 2));
}

/* The largest record (GKV_VALUE_HARD_MAX value, GKV_KEY_MAX key, a full
 * vector clock) must have a class below HEAP_CLASSES, and the class must
 * fit the 8 bits the pending and held lists keep it in. */
static_assert(HEAP_CLASSES <= 256, "class kept in 8 bits of (off << 8 | class)");

int store__offvec_push(struct store_offvec *v, uint64_t x)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 64;
        uint64_t *nv = realloc(v->v, ncap * sizeof *nv);
        if (!nv)
            return GKV_ENOMEM;
        v->v = nv;
        v->cap = ncap;
    }
    v->v[v->n++] = x;
    return 0;
}

/* Make the mapping cover at least need bytes (msync, then mremap). */
static int heap_map_cover(struct store_heap *h, uint64_t need)
{
    if (need <= h->map_bytes)
        return 0;
    uint64_t nb = h->map_bytes * 2;
    while (nb < need)
        nb *= 2;
    if (h->fd >= 0) {
        int rc = store__msync_range(h->io, h->map, 0, h->file_bytes);
        if (rc != 0)
            return rc;
    }
    if (h->fd >= 0)
        store__io_count(h->io); /* a file mapping's remap */
    void *m = mremap(h->map, h->map_bytes, nb, MREMAP_MAYMOVE);
    if (m == MAP_FAILED)
        return GKV_ENOMEM;
    h->map = m;
    h->map_bytes = nb;
    return 0;
}

/* Grow values.gkv by a quarter of its size, at least 1 MiB and at most
 * 2 MiB: few fallocate calls, none long (an 8 MiB posix_fallocate cost
 * about 2.5 ms inside one put on our test VM, a 40 MiB one several ms). */
#define HEAP_GROW_MIN_BYTES (1ull << 20)
#define HEAP_GROW_MAX_BYTES (2ull << 20)
/* The file ends on a 2 MiB boundary (the x86-64 and aarch64 PMD size): the
 * page cache builds a 2 MiB folio (mapped by one PMD, one TLB entry) only
 * where the whole folio lies inside the file. */
#define HEAP_GROW_ALIGN_BYTES (2ull << 20)

static int heap_extend_cause(struct store_heap *h, uint64_t need_end);

static int heap_extend(struct store_heap *h, uint64_t need_end)
{
    unsigned pc = store__io_cause_enter(h->io, STORE_IO_HEAP_GROW);
    int rc = heap_extend_cause(h, need_end);
    store__io_cause_leave(h->io, pc);
    return rc;
}

static int heap_extend_cause(struct store_heap *h, uint64_t need_end)
{
    uint64_t grow = h->file_bytes / 4;
    if (grow < HEAP_GROW_MIN_BYTES)
        grow = HEAP_GROW_MIN_BYTES;
    if (grow > HEAP_GROW_MAX_BYTES)
        grow = HEAP_GROW_MAX_BYTES;
    uint64_t target = h->file_bytes + grow;
    if (target < need_end)
        target = need_end;
    target = (target + HEAP_GROW_ALIGN_BYTES - 1) & ~(uint64_t)(HEAP_GROW_ALIGN_BYTES - 1);
    int rc = heap_map_cover(h, target);
    if (rc != 0)
        return rc;
    if (h->fd >= 0) {
        rc = store__file_grow(h->io, h->fd, target);
        if (rc == GKV_ENOSPC && target > need_end) {
            /* The disk may still hold exactly what this record needs. */
            target = (need_end + FMT_PAGE - 1) & ~(uint64_t)(FMT_PAGE - 1);
            rc = store__file_grow(h->io, h->fd, target);
        }
        if (rc != 0)
            return rc;
        /* The new bytes hold nothing yet: on a huge mapping (h->huge:
         * MADV_HUGEPAGE, open_values) make them resident now with
         * MADV_POPULATE_WRITE. The file ends on 2 MiB boundaries, so each
         * fault reads a
         * fallocated (unwritten) 2 MiB range into one 2 MiB folio and maps
         * it with one TLB entry (Linux 6.16+ ext4/xfs large folios): random
         * gets then miss the TLB on their record no more (+10-20% get_hit,
         * "Session 3" in `git show 383e9cc:docs/BENCHMARKS.md`). This
         * costs 0.3 ns/byte here; writing zeros
         * instead (store__zero_fill) would build the same folios but copy
         * 3-15x slower into them. Where the kernel makes 4 KiB pages it is
         * the old first-touch cost, paid here instead of in later puts.
         * Without h->huge (STORE_PAGES_NONE) the allocator's 64 KiB
         * zero-fill ahead of the bump pointer makes the pages resident. */
        if (h->huge) {
            uint64_t from = h->file_bytes > h->prefaulted ? h->file_bytes : h->prefaulted;
            if (target > from) {
                store__prefault(h->io, h->map, from, target - from);
                h->prefaulted = target;
            }
        }
    }
    h->file_bytes = target;
    return 0;
}

int store__heap_alloc(struct store_heap *h, uint64_t bytes, uint64_t *off)
{
    uint32_t c = store__heap_class(bytes);
    uint64_t cb = store__heap_class_bytes(c);
    if (h->free[c].n > 0) {
        *off = h->free[c].v[--h->free[c].n];
        h->free_bytes -= cb;
        h->used_bytes += cb;
        return 0;
    }
    uint64_t end = h->top + cb;
    if (end > h->file_bytes) {
        int rc = heap_extend(h, end);
        if (rc != 0)
            return rc;
    }
    *off = h->top;
    h->top = end;
    h->used_bytes += cb;
    if (end + STORE_PREFAULT_BYTES > h->prefaulted && h->fd >= 0 && !h->read_only &&
        !h->no_ahead) {
        /* The bump pointer walks forward: make the next chunk resident
         * with one zero-fill instead of a page fault every few puts.
         * Everything at or above top is unused, so zeroing it loses
         * nothing. */
        uint64_t from = h->prefaulted > end ? h->prefaulted : end;
        uint64_t to = from + STORE_PREFAULT_BYTES;
        if (to > h->file_bytes)
            to = h->file_bytes;
        unsigned pc = store__io_cause_enter(h->io, STORE_IO_HEAP_GROW);
        if (to > from && store__zero_fill(h->io, h->fd, h->map, from, to - from) != 0)
            store__prefault(h->io, h->map, from, to - from);
        store__io_cause_leave(h->io, pc);
        h->prefaulted = to;
    }
    return 0;
}

void store__heap_free(struct store_heap *h, uint64_t off, uint64_t bytes, bool defer)
{
    uint32_t c = store__heap_class(bytes);
    uint64_t cb = store__heap_class_bytes(c);
    h->used_bytes -= cb;
    /* On ENOMEM the block is leaked until the next open rebuilds the lists. */
    if (defer) {
        if (store__offvec_push(&h->pending, off << 8 | c) == 0) {
            h->free_bytes += cb;
            h->pending_bytes += cb;
        }
    } else if (store__offvec_push(&h->free[c], off) == 0) {
        h->free_bytes += cb;
    }
}

void store__heap_hold(struct store_heap *h, uint64_t off, uint64_t bytes)
{
    uint32_t c = store__heap_class(bytes);
    uint64_t cb = store__heap_class_bytes(c);
    h->used_bytes -= cb;
    /* On ENOMEM the block is leaked until the next open rebuilds the lists. */
    if (store__offvec_push(&h->held, off << 8 | c) == 0) {
        h->free_bytes += cb;
        h->held_bytes += cb;
    }
}

void store__heap_release_held(struct store_heap *h)
{
    for (size_t i = 0; i < h->held.n; i++) {
        uint64_t x = h->held.v[i];
        uint64_t cb = store__heap_class_bytes((uint32_t)(x & 0xff));
        if (store__offvec_push(&h->pending, x) == 0)
            h->pending_bytes += cb;
        else
            h->free_bytes -= cb; /* leaked until the next open rebuilds */
    }
    h->held.n = 0;
    h->held_bytes = 0;
}

void store__heap_release_pending(struct store_heap *h)
{
    for (size_t i = 0; i < h->pending.n; i++) {
        uint64_t x = h->pending.v[i];
        uint32_t c = (uint32_t)(x & 0xff);
        if (store__offvec_push(&h->free[c], x >> 8) != 0)
            h->free_bytes -= store__heap_class_bytes(c);
    }
    h->pending.n = 0;
    h->pending_bytes = 0;
}

/* Carve [from, to) into the largest classes that fit (the tail below 64
 * bytes cannot hold a record and stays unused until the next rebuild). */
static int heap_carve(struct store_heap *h, uint64_t from, uint64_t to)
{
    while (to - from >= 64) {
        uint64_t g = to - from;
        uint32_t c = store__heap_class(g);
        if (c >= HEAP_CLASSES)
            c = HEAP_CLASSES - 1;
        while (store__heap_class_bytes(c) > g)
            c--;
        int rc = store__offvec_push(&h->free[c], from);
        if (rc != 0)
            return rc;
        h->free_bytes += store__heap_class_bytes(c);
        from += store__heap_class_bytes(c);
    }
    return 0;
}

int store__heap_rebuild(struct store_heap *h, uint64_t *offs, uint64_t *lens, size_t n)
{
    for (unsigned c = 0; c < HEAP_CLASSES; c++)
        h->free[c].n = 0;
    h->pending.n = 0;
    h->pending_bytes = 0;
    h->used_bytes = 0;
    h->free_bytes = 0;
    uint64_t cursor = FMT_PAGE;
    for (size_t i = 0; i < n; i++) {
        if (offs[i] > cursor) {
            int rc = heap_carve(h, cursor, offs[i]);
            if (rc != 0)
                return rc;
        }
        uint64_t end = offs[i] + lens[i];
        if (end > cursor) {
            h->used_bytes += end - (offs[i] > cursor ? offs[i] : cursor);
            cursor = end;
        }
    }
    h->top = cursor;
    return 0;
}

void store__heap_release(struct store_heap *h)
{
    for (unsigned c = 0; c < HEAP_CLASSES; c++) {
        free(h->free[c].v);
        h->free[c].v = NULL;
        h->free[c].n = h->free[c].cap = 0;
    }
    free(h->pending.v);
    h->pending.v = NULL;
    h->pending.n = h->pending.cap = 0;
    free(h->held.v);
    h->held.v = NULL;
    h->held.n = h->held.cap = 0;
    h->held_bytes = 0;
    if (h->map)
        munmap(h->map, h->map_bytes);
    h->map = NULL;
}

uint64_t store__record_checksum(const struct fmt_record *r, uint64_t off)
{
    uint64_t len = FMT_RECORD_BYTES(r->flags, r->vc_n, r->key_len, r->value_len);
    uint64_t h =
        store__checksum64_inline(r, offsetof(struct fmt_record, checksum), FMT_SEED_RECORD ^ off);
    return store__checksum64((const uint8_t *)r + sizeof *r, (size_t)(len - sizeof *r), h);
}

bool store__record_valid(const struct store_heap *h, uint64_t off)
{
    if (off < FMT_PAGE || off % FMT_GRANULE != 0 || off > h->file_bytes ||
        h->file_bytes - off < sizeof(struct fmt_record))
        return false;
    const struct fmt_record *r = store__rec(h, off);
    if (r->magic != FMT_RECORD_MAGIC || r->key_len == 0 || r->key_len > GKV_KEY_MAX ||
        r->vc_n > GKV_VCLOCK_MAX || r->value_len > GKV_VALUE_HARD_MAX ||
        (r->flags & ~(ENTRY_FLAGS_ALL | FMT_REC_EXPIRES)) != 0 ||
        (r->flags & (ENTRY_TOMBSTONE | FMT_REC_EXPIRES)) == (ENTRY_TOMBSTONE | FMT_REC_EXPIRES))
        return false;
    uint64_t len = FMT_RECORD_BYTES(r->flags, r->vc_n, r->key_len, r->value_len);
    if (h->file_bytes - off < len)
        return false;
    return store__record_checksum(r, off) == r->checksum;
}
