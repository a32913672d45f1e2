/*
 * table.c: slot arrays (table.<gen>.gkv): files, probing, slot images, and
 * incremental doubling.
 *
 * Growth follows Redis dict.c: while a doubling is in progress two tables
 * are live, `old` (being drained) and `cur` (twice the size, receiving every
 * write). Each write op migrates STORE_GROW_STEP_WRITE positions of old and
 * store_tick STORE_GROW_STEP_TICK more, so no single call pays for the whole
 * table. Lookups try cur first, then old. Invariants (store.c, I5..I7): a
 * key lives in at most one table outside a migration step; if a crash leaves
 * it in both, cur holds the newer version and recovery discards the old one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/checksum.h"
#include "storage/store_int.h"


void store__table_name(char *buf, size_t n, uint64_t gen)
{
    snprintf(buf, n, "table.%llu.gkv", (unsigned long long)gen);
}

uint64_t store__slot_checksum(const struct store_table *t, uint64_t idx, const struct fmt_slot *sl)
{
    /* Seeded with (gen, index): a slot image that lands in the wrong slot or
     * the wrong table (a misdirected write) does not verify. The golden-ratio
     * multiplier spreads gen over the seed (Knuth, TAOCP 6.4). */
    uint64_t seed = FMT_SEED_SLOT ^ (t->gen * 0x9e3779b97f4a7c15ull) ^ idx;
    return store__checksum64_inline(sl, offsetof(struct fmt_slot, checksum), seed);
}

int store__slot_put(struct store_table *t, uint64_t idx, struct fmt_slot *img, bool sync)
{
    img->reserved = 0;
    img->checksum = store__slot_checksum(t, idx, img);
    memcpy(&t->slots[idx], img, sizeof *img);
    if (t->ix)
        t->ix[idx] = store__ix_word(img);
    /* sync: sync=always without a log (write-through), which a node never
     * runs (it always logs): not counted (no store here). */
    if (sync && t->fd >= 0)
        return store__msync_range(NULL, t->map, FMT_PAGE + idx * sizeof(struct fmt_slot),
                                  sizeof(struct fmt_slot));
    return 0;
}

bool store__kills_in_index(const struct store *s)
{
    /* sync=always with a log treats the tables as sync=batch does: the log
     * makes each write durable, the tables reach the disk at checkpoints. */
    return s->growing && (s->cfg.sync == STORE_SYNC_BATCH || s->wal.fd >= 0) && s->old.ix &&
           s->old.fd >= 0;
}

int store__kill_old(struct store *s, uint64_t i, bool sync)
{
    struct store_table *o = &s->old;
    o->dead++;
    if (store__kills_in_index(s)) {
        o->ix[i] = FMT_SLOT_DEAD;
        return 0;
    }
    struct fmt_slot dead = {0};
    dead.state = FMT_SLOT_DEAD;
    return store__slot_put(o, i, &dead, sync);
}

static unsigned log2_u64(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

static void prologue_fill(struct fmt_table_prologue *p, uint64_t gen, uint64_t cap)
{
    memset(p, 0, sizeof *p);
    memcpy(p->magic, FMT_TABLE_MAGIC, 8);
    p->version = FMT_VERSION;
    p->slot_bytes = sizeof(struct fmt_slot);
    p->gen = gen;
    p->capacity = cap;
    p->checksum = store__checksum64(p, offsetof(struct fmt_table_prologue, checksum), FMT_SEED_TABLE);
}

/* An all-EMPTY index for t (anonymous memory reads as zero). Huge pages
 * where the kernel allows them: the index is probed at random. */
static void ix_alloc(struct store_table *t)
{
    size_t bytes = (size_t)t->cap * sizeof(uint32_t);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        t->ix = NULL;
        return;
    }
    madvise(m, bytes, MADV_HUGEPAGE);
    t->ix = m;
}

static void ix_free(struct store_table *t)
{
    if (t->ix)
        munmap(t->ix, (size_t)t->cap * sizeof(uint32_t));
    t->ix = NULL;
}

void store__ix_build_all(struct store *s)
{
    if (s->dirfd < 0 || s->cfg.read_only)
        return;
    struct store_table *ts[2] = {&s->cur, s->old.map ? &s->old : NULL};
    for (int k = 0; k < 2; k++) {
        struct store_table *t = ts[k];
        if (!t || !t->map || t->ix)
            continue;
        ix_alloc(t);
        if (!t->ix)
            continue;
        for (uint64_t i = 0; i < t->cap; i++)
            t->ix[i] = store__ix_word(&t->slots[i]);
    }
}

/* An existing table's prologue: magic, checksum, format version and the
 * generation and capacity header.gkv names. 0 or a negative GKV_E* code
 * with err naming the file. */
static int prologue_check(const struct fmt_table_prologue *p, const char *name, uint64_t gen,
                          uint64_t cap, char *err, size_t err_bytes)
{
    if (memcmp(p->magic, FMT_TABLE_MAGIC, 8) != 0) {
        snprintf(err, err_bytes, "%s: bad magic in the prologue", name);
        return GKV_ECORRUPT;
    }
    if (p->checksum !=
        store__checksum64(p, offsetof(struct fmt_table_prologue, checksum), FMT_SEED_TABLE)) {
        snprintf(err, err_bytes, "%s: prologue checksum mismatch", name);
        return GKV_ECORRUPT;
    }
    if (p->version != FMT_VERSION || p->slot_bytes != sizeof(struct fmt_slot)) {
        snprintf(err, err_bytes, "%s: format version %u (slot %u bytes) not supported (expected %u)",
                 name, p->version, p->slot_bytes, FMT_VERSION);
        return GKV_EVERSION;
    }
    if (p->gen != gen || p->capacity != cap) {
        snprintf(err, err_bytes, "%s: prologue says gen %llu capacity %llu, header says %llu/%llu",
                 name, (unsigned long long)p->gen, (unsigned long long)p->capacity,
                 (unsigned long long)gen, (unsigned long long)cap);
        return GKV_ECORRUPT;
    }
    return 0;
}

/* Anonymous store: the same layout in private memory, no fd (a simulator
 * runs thousands of stores; fds would run out). */
static int table_map_anon(struct store_table *t, uint64_t gen, uint64_t cap, char *err,
                          size_t err_bytes)
{
    void *m = mmap(NULL, t->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        snprintf(err, err_bytes, "(memory): cannot map %llu bytes for a table",
                 (unsigned long long)t->map_bytes);
        return GKV_ENOMEM;
    }
    t->map = m;
    prologue_fill((struct fmt_table_prologue *)t->map, gen, cap);
    t->slots = (struct fmt_slot *)(t->map + FMT_PAGE);
    return 0;
}

/* The body of store__table_open_file, plus the two halves of a prepared
 * table: finish=false stops after mapping a new file (no prologue yet);
 * prepared (not NULL) is such a file, taken over and finished. */
static int table_open(struct store_io *io, int dirfd, uint64_t gen, bool create, uint64_t cap, bool read_only,
                      bool durable, bool huge, bool finish, struct store_table *prepared,
                      int seed_fd, struct store_table *t, char *err, size_t err_bytes)
{
    char name[64];
    store__table_name(name, sizeof name, gen);
    memset(t, 0, sizeof *t);
    t->fd = -1;
    t->gen = gen;
    t->cap = cap;
    t->mask = cap - 1;
    t->bits = log2_u64(cap);
    t->map_bytes = FMT_PAGE + cap * sizeof(struct fmt_slot);
    int rc;

    if (dirfd < 0)
        return table_map_anon(t, gen, cap, err, err_bytes);

    if (create && prepared) {
        /* store__next_step made the file (fallocated, mapped, zero-filled):
         * only the prologue and the durability steps below remain. */
        t->fd = prepared->fd;
        t->map = prepared->map;
        t->slots = prepared->slots;
        t->prefaulted = t->map_bytes;
        memset(prepared, 0, sizeof *prepared);
        prepared->fd = -1;
        goto created;
    }
    if (create) {
        /* A seed (the retired table's file, already under this name) is
         * grown, never truncated: its blocks are reused. */
        t->fd = seed_fd >= 0 ? seed_fd
                             : openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE);
        if (t->fd < 0) {
            rc = store__errno_code(errno);
            snprintf(err, err_bytes, "%s: cannot create: %s", name, strerror(errno));
            return rc;
        }
        rc = store__file_grow(io, t->fd, t->map_bytes);
        if (rc != 0) {
            snprintf(err, err_bytes, "%s: cannot allocate %llu bytes: %s", name,
                     (unsigned long long)t->map_bytes, gkv_strerror(rc));
            goto fail;
        }
    } else {
        t->fd = openat(dirfd, name, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (t->fd < 0) {
            rc = errno == ENOENT ? GKV_ECORRUPT : store__errno_code(errno);
            snprintf(err, err_bytes, "%s: cannot open: %s (named by header.gkv)", name, strerror(errno));
            return rc;
        }
        struct stat st;
        if (fstat(t->fd, &st) != 0) {
            rc = store__errno_code(errno);
            snprintf(err, err_bytes, "%s: fstat: %s", name, strerror(errno));
            goto fail;
        }
        if ((uint64_t)st.st_size < t->map_bytes) {
            /* Never map past the end: touching it would SIGBUS. */
            rc = GKV_ECORRUPT;
            snprintf(err, err_bytes, "%s: truncated: %llu bytes, expected %llu for %llu slots", name,
                     (unsigned long long)st.st_size, (unsigned long long)t->map_bytes,
                     (unsigned long long)cap);
            goto fail;
        }
    }
    void *m = mmap(NULL, t->map_bytes, read_only ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
                   t->fd, 0);
    if (m == MAP_FAILED) {
        rc = store__errno_code(errno);
        snprintf(err, err_bytes, "%s: mmap: %s", name, strerror(errno));
        goto fail;
    }
    t->map = m;
    t->slots = (struct fmt_slot *)(t->map + FMT_PAGE);
    /* Probes land on random pages: no readahead (on a fresh, fallocated file
     * readahead zero-fills whole windows on every fault, milliseconds per
     * put at the start of a doubling). Or, when asked, huge pages. */
    madvise(t->map, t->map_bytes, huge ? MADV_HUGEPAGE : MADV_RANDOM);
    if (create && !finish)
        return 0; /* store__next_step: prologue and durability at grow_start */
created:;
    struct fmt_table_prologue *p = (struct fmt_table_prologue *)t->map;
    if (create) {
        /* A new table is all EMPTY, and so is a new index. */
        ix_alloc(t);
        prologue_fill(p, gen, cap);
        /* The file must be whole and durable before header.gkv names it
         * (I6; skipped in sync=none, which promises nothing on power loss). */
        rc = durable ? store__msync_range(io, t->map, 0, FMT_PAGE) : 0;
        if (rc == 0 && durable)
            rc = store__fsync(io, t->fd);
        if (rc != 0) {
            snprintf(err, err_bytes, "%s: sync: %s", name, gkv_strerror(rc));
            goto fail;
        }
        return 0;
    }
    if ((rc = prologue_check(p, name, gen, cap, err, err_bytes)) != 0)
        goto fail;
    return 0;
fail:
    store__table_unmap(t);
    return rc;
}

int store__table_open_file(struct store_io *io, int dirfd, uint64_t gen, bool create, uint64_t cap, bool read_only,
                           bool durable, bool huge, struct store_table *t, char *err,
                           size_t err_bytes)
{
    return table_open(io, dirfd, gen, create, cap, read_only, durable, huge, true, NULL, -1, t, err,
                      err_bytes);
}

void store__table_unmap(struct store_table *t)
{
    ix_free(t);
    if (t->map)
        munmap(t->map, t->map_bytes);
    if (t->fd >= 0)
        close(t->fd);
    t->map = NULL;
    t->slots = NULL;
    t->fd = -1;
}

/* Does slot sl hold key (hash, key bytes)? */
static bool slot_holds(const struct store *s, const struct fmt_slot *sl, uint64_t hash,
                       const void *key, uint32_t key_len)
{
    if (sl->hash != hash || sl->key_len != key_len)
        return false;
    uint64_t kend = sl->rec_off + sizeof(struct fmt_record) + 16u * sl->vc_n + key_len;
    if (sl->rec_off > s->heap.file_bytes || kend > s->heap.file_bytes)
        return false;
    return store__key_equal(s->heap.map + sl->rec_off + sizeof(struct fmt_record) + 16u * sl->vc_n, key,
                     key_len);
}

/* store__find through the index: probes 4-byte words, reads the record
 * only on a 4-bit hash match (a miss reads a record for about one in 16
 * live entries it passes), and the slot never. */
static int64_t find_ix(const struct store *s, const struct store_table *t, uint64_t hash,
                       const void *key, uint32_t key_len, uint64_t *ins)
{
    uint64_t i = store__home(t, hash);
    uint64_t first_free = UINT64_MAX;
    uint32_t tag = (uint32_t)(hash & 0xfu);
    for (uint64_t n = 0; n < t->cap; n++, i = (i + 1) & t->mask) {
        uint32_t w = t->ix[i];
        uint32_t st = w & 3u;
        if (st == FMT_SLOT_EMPTY) {
            if (first_free == UINT64_MAX)
                first_free = i;
            break;
        }
        if (st == FMT_SLOT_DEAD) {
            if (first_free == UINT64_MAX)
                first_free = i;
            continue;
        }
        if (((w >> 2) & 0xfu) != tag)
            continue;
        if (ins) {
            /* A write reads and rewrites this slot if the key is here:
             * start that miss now, beside the record's. */
            __builtin_prefetch(&t->slots[i], 1);
        }
        bool hit;
        uint64_t g = w >> 6;
        if (g == STORE_IX_ESCAPE) {
            hit = slot_holds(s, &t->slots[i], hash, key, key_len);
        } else {
            uint64_t off = g * FMT_GRANULE;
            const uint8_t *r = s->heap.map + off;
            /* The key follows the clock, whose length is in the record's
             * first bytes: ask for the next line too now, so the two
             * misses overlap instead of running one after the other. */
            __builtin_prefetch(r + 64);
            hit = off + sizeof(struct fmt_record) <= s->heap.file_bytes;
            if (hit) {
                const struct fmt_record *rh = (const struct fmt_record *)r;
                uint64_t kend = off + sizeof(struct fmt_record) + 16u * rh->vc_n + key_len;
                hit = rh->key_len == key_len && kend <= s->heap.file_bytes &&
                      store__key_equal(r + sizeof(struct fmt_record) + 16u * rh->vc_n, key, key_len);
            }
        }
        if (hit) {
            if (ins)
                *ins = first_free;
            return (int64_t)i;
        }
    }
    if (ins) {
        *ins = first_free;
        /* A new key's slot is written next: start that miss now. */
        if (first_free != UINT64_MAX)
            __builtin_prefetch(&t->slots[first_free], 1);
    }
    return -1;
}

void store__prefetch_lookup(const struct store *s, const struct store_table *t, uint64_t hash)
{
    if (!t->ix)
        return;
    uint64_t i = store__home(t, hash);
    uint32_t tag = (uint32_t)(hash & 0xfu);
    for (uint32_t n = 0; n < STORE_PREFETCH_PROBES; n++, i = (i + 1) & t->mask) {
        uint32_t w = t->ix[i];
        uint32_t st = w & 3u;
        if (st == FMT_SLOT_EMPTY)
            return;
        if (st == FMT_SLOT_DEAD || ((w >> 2) & 0xfu) != tag || (w >> 6) == STORE_IX_ESCAPE)
            continue;
        uint64_t off = (uint64_t)(w >> 6) * FMT_GRANULE;
        if (off + 128u > s->heap.map_bytes)
            continue; /* a hint may not touch memory outside the mapping */
        /* find_ix reads the record's head, then its key (next line). */
        __builtin_prefetch(s->heap.map + off);
        __builtin_prefetch(s->heap.map + off + 64);
    }
}

int64_t store__find(const struct store *s, const struct store_table *t, uint64_t hash,
                    const void *key, uint32_t key_len, uint64_t *ins)
{
    if (t->ix)
        return find_ix(s, t, hash, key, key_len, ins);
    uint64_t i = store__home(t, hash);
    uint64_t first_free = UINT64_MAX;
    for (uint64_t n = 0; n < t->cap; n++, i = (i + 1) & t->mask) {
        const struct fmt_slot *sl = &t->slots[i];
        if (sl->state == FMT_SLOT_EMPTY) {
            if (first_free == UINT64_MAX)
                first_free = i;
            break;
        }
        if (sl->state == FMT_SLOT_DEAD) {
            if (first_free == UINT64_MAX)
                first_free = i;
            continue;
        }
        /* Hash first (same cache line), key bytes only on a 64-bit match. */
        if (sl->hash == hash && sl->key_len == key_len) {
            /* Bounds check (only on a hash match, so off the hot path of
             * misses): recovery and inspect probe tables that may still hold
             * unverified slots. */
            uint64_t kend = sl->rec_off + sizeof(struct fmt_record) + 16u * sl->vc_n + key_len;
            if (sl->rec_off > s->heap.file_bytes || kend > s->heap.file_bytes)
                continue;
            /* The key's position from the slot's vc_n (recovery verified
             * that it matches the record): the compare reads key bytes
             * only, which share a cache line with the value's start. */
            const uint8_t *k = s->heap.map + sl->rec_off + sizeof(struct fmt_record) + 16u * sl->vc_n;
            if (store__key_equal(k, key, key_len)) {
                if (ins)
                    *ins = first_free;
                return (int64_t)i;
            }
        }
    }
    if (ins)
        *ins = first_free;
    return -1;
}

void store__entry_from_slot(const struct store *s, const struct fmt_slot *sl, struct entry *e)
{
    /* From the slot's fields, so filling the entry reads no record byte
     * besides the vector clock and the flags byte beside it (the slot has
     * no room for the counter kind). */
    const struct fmt_record *r = store__rec(&s->heap, sl->rec_off);
    uint32_t flags = (sl->state == FMT_SLOT_TOMB ? ENTRY_TOMBSTONE : 0) |
                     (r->flags & ENTRY_COUNTER);
    store__entry_fill(e, (const uint8_t *)(r + 1), sl->vc_n, sl->key_len, sl->value_len, flags,
                      sl->hlc, sl->origin);
}

void store__entry_at(const struct store *s, const struct store_table *t, uint64_t idx,
                     struct entry *e)
{
    uint32_t w = t->ix ? t->ix[idx] : 0;
    if (!t->ix || (w >> 6) == STORE_IX_ESCAPE) {
        store__entry_from_slot(s, &t->slots[idx], e);
        return;
    }
    /* The record repeats what the slot holds (hlc, origin, lengths, clock,
     * tombstone flag; written together, rebuilt from each other by
     * recovery). */
    store__entry_from_rec(store__rec(&s->heap, (uint64_t)(w >> 6) * FMT_GRANULE), e);
}

/* ------------------------------------------------------------- growth */

/* First empty-or-dead slot on hash's chain in t (the key is known absent). */
static uint64_t find_free(const struct store_table *t, uint64_t hash)
{
    uint64_t i = store__home(t, hash);
    for (uint64_t n = 0; n < t->cap; n++, i = (i + 1) & t->mask) {
        uint32_t st = t->ix ? (uint32_t)(t->ix[i] & 3u) : t->slots[i].state;
        if (st == FMT_SLOT_EMPTY || st == FMT_SLOT_DEAD)
            return i;
    }
    return UINT64_MAX;
}

/* ------------------------------------------------- the next table, ahead */

void store__next_discard(struct store *s)
{
    if (!s->next.map)
        return;
    store__table_unmap(&s->next);
    if (s->dirfd >= 0) {
        char name[64];
        store__table_name(name, sizeof name, s->next.gen);
        unlinkat(s->dirfd, name, 0);
    }
    memset(&s->next, 0, sizeof s->next);
    s->next.fd = -1;
    s->next_ready = 0;
    s->next_credit = 0;
}

void store__seed_drop(struct store *s)
{
    if (s->next_seed_fd < 0)
        return;
    char name[64];
    store__table_name(name, sizeof name, s->cur.gen + 1);
    unlinkat(s->dirfd, name, 0);
    close(s->next_seed_fd);
    s->next_seed_fd = -1;
}

static void next_step_cause(struct store *s, uint64_t credit);

void store__next_step(struct store *s, uint64_t credit)
{
    unsigned pc = store__io_cause_enter(&s->io, STORE_IO_TABLE_GROW);
    next_step_cause(s, credit);
    store__io_cause_leave(&s->io, pc);
}

static void next_step_cause(struct store *s, uint64_t credit)
{
    /* Not while a retired table is still being released: it may become
     * this table's seed. */
    if (s->dirfd < 0 || s->cfg.read_only || s->growing || s->retiring)
        return;
    uint64_t gen = s->cur.gen + 1, cap = s->cur.cap * 2;
    if (!s->next.map) {
        if (s->cur.used < s->cur.cap / STORE_NEXT_START_DEN * STORE_NEXT_START_NUM ||
            s->next_failed_gen == gen || cap > STORE_MAX_CAPACITY)
            return;
        char name[64], err[STORE_ERR_BYTES];
        store__table_name(name, sizeof name, gen);
        /* Not named by header.gkv until grow_start: a crash leaves an
         * orphan that the next open deletes (I6), like a doubling that
         * crashed before its header write. */
        int seed = s->next_seed_fd;
        s->next_seed_fd = -1; /* table_open owns it now (closes it on failure) */
        if (seed < 0)
            unlinkat(s->dirfd, name, 0);
        if (table_open(&s->io, s->dirfd, gen, true, cap, false, false, s->cfg.pages == STORE_PAGES_ALL, false, NULL,
                       seed, &s->next, err, sizeof err) != 0) {
            /* Out of disk, most likely: grow_start will try (and report)
             * again in its own time; do not retry every write. */
            s->next_failed_gen = gen;
            memset(&s->next, 0, sizeof s->next);
            s->next.fd = -1;
            unlinkat(s->dirfd, name, 0);
            return;
        }
        if (seed >= 0)
            s->seed_taken++;
        s->next_ready = 0;
        s->next_credit = 0;
        return;
    }
    if (s->next_ready >= s->next.map_bytes)
        return;
    s->next_credit += credit;
    if (s->next_credit < STORE_NEXT_CHUNK_BYTES)
        return;
    uint64_t n = s->next_credit / STORE_NEXT_CHUNK_BYTES * STORE_NEXT_CHUNK_BYTES;
    if (n > s->next.map_bytes - s->next_ready)
        n = s->next.map_bytes - s->next_ready;
    /* A failed fill only loses the speed-up: the blocks are fallocated,
     * so the pages still fault in when the doubling touches them. With
     * STORE_PAGES_ALL the mapping is MADV_HUGEPAGE and a populate builds
     * 2 MiB folios (zero-writes would build folios the size of each write). */
    if (s->cfg.pages == STORE_PAGES_ALL)
        store__prefault(&s->io, s->next.map, s->next_ready, n);
    else
        (void)store__zero_fill(&s->io, s->next.fd, s->next.map, s->next_ready, n);
    s->next_ready += n;
    s->next_credit -= n < s->next_credit ? n : s->next_credit;
}


static int grow_start_cause(struct store *s);

int store__grow_start(struct store *s)
{
    unsigned pc = store__io_cause_enter(&s->io, STORE_IO_TABLE_GROW);
    int rc = grow_start_cause(s);
    store__io_cause_leave(&s->io, pc);
    return rc;
}

static int grow_start_cause(struct store *s)
{
    uint64_t live = s->entries + s->tombstones;
    uint64_t cap = s->cur.cap;
    /* Double until the live entries fill at most half the new table (the
     * trigger is 3/4, so a table full of live entries doubles once; a table
     * clogged with dead slots is rebuilt at the same size to clear them). */
    while ((live + 1) * 2 > cap)
        cap *= 2;
    if (cap > STORE_MAX_CAPACITY)
        return GKV_EFULL;
    struct store_table nt;
    char err[STORE_ERR_BYTES];
    uint64_t gen = s->cur.gen + 1;
    /* A prep job is creating that generation's file: skip a number rather
     * than race it for the name (its end then discards its table). */
    if (s->next_gen_in_flight == gen)
        gen++;
    struct store_table *prepared = NULL;
    if (store__grow_ready(s, cap)) {
        /* A prep job made it whole and durable with its name (I6): the
         * header may name it now without an msync; with the old table's
         * slots killed in its index only (store__kills_in_index) the old
         * table on disk stays whole until the commit, whichever header
         * copy a power loss leaves. */
        nt = s->next;
        memset(&s->next, 0, sizeof s->next);
        s->next.fd = -1;
        s->next_taken++;
        s->hdr.grow_gen = gen;
        s->hdr.grow_capacity = cap;
        int rc = store__header_write(s, false);
        if (rc != 0) {
            s->hdr.grow_gen = 0;
            s->hdr.grow_capacity = 0;
            store__table_unmap(&nt);
            return rc;
        }
        goto started;
    }
    /* The last doubling's retired file may still be unmapping under this
     * generation's name (it is the seed of this table): settle it first. */
    store__retire_step(s, UINT64_MAX);
    if (s->next.map && s->next.gen == gen && s->next.cap == cap) {
        /* Zero-filled ahead by store__next_step; finish what is left (only
         * if writes outran the step budget). */
        s->next_credit = UINT64_MAX / 2;
        store__next_step(s, 0);
        prepared = &s->next;
    } else {
        store__next_discard(s);
        store__seed_drop(s); /* it holds this generation's name */
    }
    if (s->dirfd >= 0 && !prepared) {
        char name[64];
        store__table_name(name, sizeof name, gen);
        /* A file of this generation can only be the leftover of a doubling
         * that crashed before header.gkv named it (I6): it holds nothing. */
        unlinkat(s->dirfd, name, 0);
    }
    bool durable = s->cfg.sync != STORE_SYNC_NONE;
    int rc = table_open(&s->io, s->dirfd, gen, true, cap, false, durable, s->cfg.pages == STORE_PAGES_ALL, true, prepared,
                        -1, &nt, err, sizeof err);
    s->next_ready = 0;
    s->next_credit = 0;
    if (rc == 0 && prepared)
        s->next_taken++;
    if (rc != 0) {
        if (s->dirfd >= 0) {
            char name[64];
            store__table_name(name, sizeof name, gen);
            unlinkat(s->dirfd, name, 0);
        }
        return rc;
    }
    rc = durable ? store__fsync_dir(&s->io, s->dirfd) : 0;
    if (rc == 0) {
        s->hdr.grow_gen = gen;
        s->hdr.grow_capacity = cap;
        rc = store__header_write(s, durable);
    }
    if (rc != 0) {
        s->hdr.grow_gen = 0;
        s->hdr.grow_capacity = 0;
        store__table_unmap(&nt);
        return rc;
    }
started:
    s->old = s->cur;
    s->cur = nt;
    s->growing = true;
    s->mig_pos = 0;
    s->mig_empty_end = 0;
    s->mig_committing = false;
    /* The store may just have reached the bucket index's size, or may have
     * dropped it for lack of memory (bucketix.c, B4). */
    store__bix_build(s);
    store__rc_grow_start(s);
    return 0;
}

static int grow_step_cause(struct store *s, uint64_t positions);

int store__grow_step(struct store *s, uint64_t positions)
{
    unsigned pc = store__io_cause_enter(&s->io, STORE_IO_TABLE_GROW);
    int rc = grow_step_cause(s, positions);
    store__io_cause_leave(&s->io, pc);
    return rc;
}

static int grow_step_cause(struct store *s, uint64_t positions)
{
    if (!s->growing || s->mig_committing)
        return 0;
    bool sync = s->cfg.sync == STORE_SYNC_ALWAYS && s->dirfd >= 0 && s->wal.fd < 0;
    struct store_table *o = &s->old, *c = &s->cur;
    int rc;
    uint64_t first = s->mig_pos, end = s->mig_pos + positions;
    if (end > o->cap || end < first)
        end = o->cap;
    /* The sweep writes cur roughly in order (old position i lands near 2i,
     * homes being the hash's high bits): fault cur in ahead of it. */
    if (c->fd >= 0) {
        uint64_t want = FMT_PAGE + (2 * end + 64) * sizeof(struct fmt_slot);
        if (want > c->map_bytes)
            want = c->map_bytes;
        if (want > c->prefaulted) {
            uint64_t to = want + STORE_PREFAULT_BYTES;
            if (to > c->map_bytes)
                to = c->map_bytes;
            store__prefault(&s->io, c->map, c->prefaulted, to - c->prefaulted);
            c->prefaulted = to;
        }
    }
    /* Pass 1: copy the live slots of [first, end) into cur. I5: the keys
     * are not in cur (a write moves a key out of old when it writes it to
     * cur, and recovery removes crash duplicates), so no lookup is needed:
     * take the first free slot of the chain. */
    bool any = false;
    for (uint64_t i = first; i < end; i++) {
        struct fmt_slot *sl = &o->slots[i];
        uint32_t st = store__slot_state(o, i);
        if (st == FMT_SLOT_EMPTY)
            s->mig_empty_end = i + 1;
        if (st != FMT_SLOT_VALUE && st != FMT_SLOT_TOMB)
            continue;
        uint64_t j = find_free(c, sl->hash);
        if (j == UINT64_MAX)
            return GKV_EFULL; /* cannot happen: cur is at most ~3/8 + 1/16 full */
        struct fmt_slot img = *sl;
        if (c->slots[j].state == FMT_SLOT_DEAD)
            c->dead--;
        else
            c->used++;
        store__slot_put(c, j, &img, false);
        any = true;
    }
    if (!any) {
        s->mig_pos = end;
        goto done;
    }
    /* I5/I7: the copies are durable (sync=always) before the originals die;
     * a crash in between leaves keys in both tables with the same record.
     * One msync per table per step, not one per slot. */
    if (sync && (rc = store__msync_range(&s->io, c->map, 0, c->map_bytes)) != 0)
        return rc;
    /* Pass 2: kill the originals (in the index only in sync=batch). */
    for (uint64_t i = first; i < end; i++) {
        uint32_t st = store__slot_state(o, i);
        if (st != FMT_SLOT_VALUE && st != FMT_SLOT_TOMB)
            continue;
        (void)store__kill_old(s, i, false);
    }
    if (sync && (rc = store__msync_range(&s->io, o->map, FMT_PAGE + first * sizeof(struct fmt_slot),
                                         (end - first) * sizeof(struct fmt_slot))) != 0)
        return rc;
    s->mig_pos = end;
done:
    store__rc_migrate(s);
    if (s->mig_pos >= o->cap) {
        s->mig_committing = true;
        /* In sync=batch the commit needs a full msync of cur: do it at the
         * next store_tick (which syncs anyway), not inside a put; with
         * external_prep a job makes cur durable first (prep.c). */
        if (s->cfg.sync != STORE_SYNC_BATCH && !s->cfg.external_prep)
            return store__grow_commit(s);
    }
    return 0;
}

static int grow_commit_cause(struct store *s);

int store__grow_commit(struct store *s)
{
    unsigned pc = store__io_cause_enter(&s->io, STORE_IO_TABLE_GROW);
    int rc = grow_commit_cause(s);
    store__io_cause_leave(&s->io, pc);
    return rc;
}

static int grow_commit_cause(struct store *s)
{
    if (!s->growing || !s->mig_committing)
        return 0;
    int rc;
    /* I6: before header.gkv stops naming old, every entry moved into cur
     * must be as durable as the sync mode promises. sync=always wrote each
     * slot through already; sync=none promises nothing across power loss. */
    if ((s->cfg.sync == STORE_SYNC_BATCH || s->wal.fd >= 0) && s->dirfd >= 0) {
        if ((rc = store__msync_range(&s->io, s->heap.map, 0, s->heap.top)) != 0)
            return rc;
        if ((rc = store__msync_range(&s->io, s->cur.map, 0, s->cur.map_bytes)) != 0)
            return rc;
    }
    s->hdr.table_gen = s->cur.gen;
    s->hdr.table_capacity = s->cur.cap;
    s->hdr.grow_gen = 0;
    s->hdr.grow_capacity = 0;
    bool durable = s->cfg.sync != STORE_SYNC_NONE;
    if ((rc = store__header_write(s, durable)) != 0) {
        s->hdr.table_gen = s->old.gen;
        s->hdr.table_capacity = s->old.cap;
        s->hdr.grow_gen = s->cur.gen;
        s->hdr.grow_capacity = s->cur.cap;
        return rc;
    }
    /* The old file is dead from here on (the header no longer names it):
     * its name goes now; its mapping and blocks are released chunk by
     * chunk by store__retire_step, because unmapping and freeing a large
     * table at once is the longest pause a doubling would otherwise cause.
     * No msync: nothing in it needs to reach the disk any more. */
    store__retire_step(s, UINT64_MAX); /* finish a previous one, if any */
    uint64_t gen = s->old.gen;
    s->retired_seed = false;
    if (s->dirfd >= 0) {
        char name[64], seed[64];
        store__table_name(name, sizeof name, gen);
        store__table_name(seed, sizeof seed, s->cur.gen + 1);
        /* Kept as the next table's seed (next_seed_fd) under the next
         * generation's name, where open treats it as a leftover (I6);
         * otherwise its name goes. */
        store__seed_drop(s);
        s->retired_seed = s->old.fd >= 0 && renameat(s->dirfd, name, s->dirfd, seed) == 0;
        if (!s->retired_seed)
            unlinkat(s->dirfd, name, 0);
        if (durable)
            store__fsync_dir(&s->io, s->dirfd);
    }
    ix_free(&s->old); /* nothing looks anything up in it any more */
    store__rc_migrate(s); /* moved every bucket already (mig_pos = old.cap) */
    s->retired = s->old;
    s->retired_mapped = s->old.map_bytes;
    s->retired_file = s->old.fd >= 0 && !s->retired_seed ? s->old.map_bytes : 0;
    s->retiring = true;
    memset(&s->old, 0, sizeof s->old);
    s->old.fd = -1;
    s->growing = false;
    s->mig_committing = false;
    s->mig_pos = 0;
    s->st.growths++;
    /* No slot on disk names the held blocks any more (the header stopped
     * naming the old table, durably): they wait for one sync, as any free. */
    store__heap_release_held(&s->heap);
    return 0;
}

static void retire_step_cause(struct store *s, uint64_t bytes);

void store__retire_step(struct store *s, uint64_t bytes)
{
    unsigned pc = store__io_cause_enter(&s->io, STORE_IO_TABLE_GROW);
    retire_step_cause(s, bytes);
    store__io_cause_leave(&s->io, pc);
}

static void retire_step_cause(struct store *s, uint64_t bytes)
{
    if (!s->retiring)
        return;
    struct store_table *t = &s->retired;
    /* Unmap from the end (page-aligned chunks of the mapping), then shrink
     * the unlinked file from the end (I11 holds: nothing maps it any more). */
    while (bytes > 0 && s->retired_mapped > 0) {
        uint64_t n = s->retired_mapped < STORE_RETIRE_CHUNK_BYTES ? s->retired_mapped
                                                                  : STORE_RETIRE_CHUNK_BYTES;
        uint64_t from = s->retired_mapped - n;
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
        if (from % page != 0) {
            n += from % page;
            from -= from % page;
        }
        munmap(t->map + from, n);
        s->retired_mapped = from;
        bytes = bytes > n ? bytes - n : 0;
    }
    while (bytes > 0 && s->retired_file > 0) {
        uint64_t n = s->retired_file < STORE_RETIRE_CHUNK_BYTES ? s->retired_file
                                                                : STORE_RETIRE_CHUNK_BYTES;
        s->retired_file -= n;
        store__io_count(&s->io);
        if (ftruncate(t->fd, (off_t)s->retired_file) != 0)
            s->retired_file = 0; /* give up shrinking; close frees it all */
        bytes = bytes > n ? bytes - n : 0;
    }
    if (s->retired_mapped == 0 && s->retired_file == 0) {
        if (t->fd >= 0 && s->retired_seed) {
            if (s->next_seed_fd < 0 && !s->next.map) {
                s->next_seed_fd = t->fd; /* blocks kept for the next table */
            } else {
                /* Not wanted after all: its name goes (unless the prepared
                 * table, created meanwhile, took that name over). */
                if (!s->next.map) {
                    char name[64];
                    store__table_name(name, sizeof name, s->cur.gen + 1);
                    unlinkat(s->dirfd, name, 0);
                }
                close(t->fd);
            }
        } else if (t->fd >= 0) {
            close(t->fd);
        }
        s->retired_seed = false;
        memset(t, 0, sizeof *t);
        t->fd = -1;
        s->retiring = false;
    }
}

/* ------------------------------------------------ external_prep (prep.c) */

bool store__grow_ready(const struct store *s, uint64_t cap)
{
    return s->cfg.external_prep && s->next.map && s->next.gen == s->cur.gen + 1 &&
           s->next.cap == cap && !s->retire_wait.map && !s->retiring;
}

int store__table_create_ready(struct store_io *io, int dirfd, uint64_t gen, uint64_t cap,
                              bool durable, bool huge, struct store_table *t)
{
    char name[64], err[STORE_ERR_BYTES];
    store__table_name(name, sizeof name, gen);
    /* A file of this generation is a leftover nothing names (I6). */
    unlinkat(dirfd, name, 0);
    int rc = table_open(io, dirfd, gen, true, cap, false, false, huge, false, NULL, -1, t, err,
                        sizeof err);
    if (rc != 0) {
        unlinkat(dirfd, name, 0);
        return rc;
    }
    prologue_fill((struct fmt_table_prologue *)t->map, gen, cap);
    /* Durable (I6) before the zero-fill dirties the page cache: the
     * fdatasync then writes one page and the allocation, not the zeros. */
    if (durable) {
        rc = store__msync_range(io, t->map, 0, FMT_PAGE);
        if (rc == 0)
            rc = store__fdatasync(io, t->fd);
        if (rc == 0)
            rc = store__fsync_dir(io, dirfd);
        if (rc != 0) {
            store__table_unmap(t);
            unlinkat(dirfd, name, 0);
            return rc;
        }
    }
    /* Resident before the doubling sweeps it (store__next_step says why
     * zeros, or a populate for 2 MiB folios). */
    if (huge)
        store__prefault(io, t->map, FMT_PAGE, t->map_bytes - FMT_PAGE);
    else
        (void)store__zero_fill(io, t->fd, t->map, FMT_PAGE, t->map_bytes - FMT_PAGE);
    t->prefaulted = t->map_bytes;
    ix_alloc(t);
#ifdef MADV_POPULATE_WRITE
    /* anonymous memory: no disk, but the doubling's sweep need not fault */
    if (t->ix)
        (void)madvise(t->ix, (size_t)cap * sizeof(uint32_t), MADV_POPULATE_WRITE);
#endif
    return 0;
}

int store__grow_commit_tail(struct store *s)
{
    if (!s->growing || !s->mig_committing)
        return 0;
    if (s->retire_wait.map)
        store__retire_wait_now(s); /* a doubling in between (a late job) */
    s->hdr.table_gen = s->cur.gen;
    s->hdr.table_capacity = s->cur.cap;
    s->hdr.grow_gen = 0;
    s->hdr.grow_capacity = 0;
    int rc = store__header_write(s, false);
    if (rc != 0) {
        s->hdr.table_gen = s->old.gen;
        s->hdr.table_capacity = s->old.cap;
        s->hdr.grow_gen = s->cur.gen;
        s->hdr.grow_capacity = s->cur.cap;
        return rc;
    }
    ix_free(&s->old);
    store__rc_migrate(s);
    s->retire_wait = s->old;
    memset(&s->old, 0, sizeof s->old);
    s->old.fd = -1;
    s->growing = false;
    s->mig_committing = false;
    s->mig_pos = 0;
    s->st.growths++;
    return 0;
}

void store__retire_wait_now(struct store *s)
{
    struct store_table *t = &s->retire_wait;
    if (!t->map)
        return;
    unsigned pc = store__io_cause_enter(&s->io, STORE_IO_TABLE_GROW);
    bool durable = s->cfg.sync != STORE_SYNC_NONE;
    /* I6: the header naming only cur is durable before the old name goes. */
    int rc = durable ? store__msync_range(&s->io, s->hmap, 0, FMT_HEADER_FILE_BYTES) : 0;
    char name[64];
    store__table_name(name, sizeof name, t->gen);
    if (rc == 0) {
        unlinkat(s->dirfd, name, 0);
        if (durable)
            (void)store__fsync_dir(&s->io, s->dirfd);
    }
    /* On failure the file stays: not named by the header once that is
     * durable, so the next open deletes it (I6). */
    store__table_unmap(t);
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (!s->growing)
        store__heap_release_held(&s->heap);
    store__io_cause_leave(&s->io, pc);
}
