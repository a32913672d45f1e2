/*
 * header.c: header.gkv, two checksummed copies of struct fmt_header.
 *
 * Every header write rewrites both copies in a fixed order, A then B, each
 * with the same new seq, and (when the change is structural) msyncs A
 * before touching B. So at any instant at least one copy is whole: during
 * the write of A, B holds the previous state; during the write of B, A holds
 * the new one. Readers take the valid copy with the larger seq (A on a tie).
 * Keeping both copies equal (rather than strictly alternating) also means a
 * bit flip in either copy loses nothing.
 *
 * The HLC lease (I8): hlc_bound is written ahead of the clock by
 * STORE_HLC_LEASE_MS, so the header is rewritten at most about
 * 1000/STORE_HLC_LEASE_MS times a second under load, never per put.
 */
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "storage/store_int.h"

/* 200 ms: after a crash and a fast restart our clock may run up to this far
 * ahead of the wall clock; it must stay well under the cluster's tolerated
 * offset (HLC_MAX_OFFSET_MS_DEFAULT, 500 ms) or peers would refuse us. */
#define STORE_HLC_LEASE_MS 200u

void store__header_checksum_set(struct fmt_header *h)
{
    h->checksum = store__checksum64(h, offsetof(struct fmt_header, checksum), FMT_SEED_HEADER);
}

static bool is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* A copy whose checksum holds but whose fields are impossible is treated as
 * corrupt too (a bug or a deliberate edit must not drive the open). */
static const char *copy_fault(const struct fmt_header *h)
{
    if (memcmp(h->magic, FMT_HEADER_MAGIC, 8) != 0)
        return "bad magic";
    if (h->checksum !=
        store__checksum64(h, offsetof(struct fmt_header, checksum), FMT_SEED_HEADER))
        return "checksum mismatch";
    if (h->version != FMT_VERSION)
        return "unsupported version";
    if (h->header_bytes != sizeof(struct fmt_header))
        return "bad header size";
    if (!is_pow2(h->table_capacity) || h->table_capacity < 16 || h->table_capacity > (1ull << 32))
        return "bad table capacity";
    if (h->table_gen == 0)
        return "bad table generation";
    if (h->grow_gen != 0 &&
        (h->grow_gen != h->table_gen + 1 || !is_pow2(h->grow_capacity) ||
         h->grow_capacity < h->table_capacity || h->grow_capacity > (1ull << 32)))
        return "bad growth state";
    return NULL;
}

bool store__header_copy_ok(const struct fmt_header *h)
{
    return copy_fault(h) == NULL;
}

int store__header_read(int fd, uint64_t file_bytes, const uint8_t *map, struct fmt_header *out,
                       int *valid_copies, char *err, size_t err_bytes)
{
    (void)fd;
    if (file_bytes < FMT_HEADER_FILE_BYTES) {
        snprintf(err, err_bytes, "header.gkv: truncated: %llu bytes, expected %u",
                 (unsigned long long)file_bytes, FMT_HEADER_FILE_BYTES);
        return GKV_ECORRUPT;
    }
    struct fmt_header c[2];
    const char *fault[2];
    for (int i = 0; i < 2; i++) {
        memcpy(&c[i], map + FMT_HEADER_COPY_OFF(i), sizeof c[i]);
        fault[i] = copy_fault(&c[i]);
    }
    *valid_copies = (fault[0] == NULL) + (fault[1] == NULL);
    if (fault[0] == NULL && (fault[1] != NULL || c[0].seq >= c[1].seq)) {
        *out = c[0];
        return 0;
    }
    if (fault[1] == NULL) {
        *out = c[1];
        return 0;
    }
    /* Neither copy is usable: say why as precisely as we can. */
    bool magic0 = strcmp(fault[0], "bad magic") == 0, magic1 = strcmp(fault[1], "bad magic") == 0;
    if (magic0 && magic1) {
        snprintf(err, err_bytes, "header.gkv: bad magic in copy A and B (not a gossipkv data directory?)");
        return GKV_ECORRUPT;
    }
    for (int i = 0; i < 2; i++) {
        if (strcmp(fault[i], "unsupported version") == 0) {
            snprintf(err, err_bytes, "header.gkv: format version %u not supported (this build reads %u)",
                     c[i].version, FMT_VERSION);
            return GKV_EVERSION;
        }
    }
    snprintf(err, err_bytes, "header.gkv: header copy A and B both corrupt (A: %s, B: %s)", fault[0],
             fault[1]);
    return GKV_ECORRUPT;
}

int store__header_write(struct store *s, bool sync)
{
    if (s->cfg.read_only)
        return GKV_EPERM;
    s->hdr.seq++;
    s->hdr.entries = s->entries;
    s->hdr.tombstones = s->tombstones;
    s->hdr.values_bytes = s->durable_values_bytes;
    store__header_checksum_set(&s->hdr);
    bool do_sync = sync && s->hfd >= 0;
    for (int i = 0; i < 2; i++) {
        memcpy(s->hmap + FMT_HEADER_COPY_OFF(i), &s->hdr, sizeof s->hdr);
        if (do_sync) {
            int rc = store__msync_range(&s->io, s->hmap, FMT_HEADER_COPY_OFF(i), sizeof s->hdr);
            if (rc != 0)
                return rc;
        }
    }
    s->dirty = true;
    return 0;
}

int store__hlc_guard(struct store *s)
{
    if (s->hlc.last <= s->hdr.hlc_bound || s->cfg.read_only)
        return 0;
    s->hdr.hlc_bound = HLC_MAKE(HLC_MS(s->hlc.last) + STORE_HLC_LEASE_MS, 0);
    return store__header_write(s, s->cfg.sync == STORE_SYNC_ALWAYS);
}
