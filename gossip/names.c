/*
 * names.c: the pool of member strings ("name\0addr\0"), interned.
 *
 * A member record holds a 4-byte handle into a pool instead of its strings.
 * By default each core owns a pool; a driver running many cores in one
 * thread (the simulator) lends one pool to all of them
 * (gossip_config.names), so the N views of a member share one copy of its
 * strings instead of N: at 10,000 simulated nodes that is 10^8 pairs.
 *
 * Layout. Entries live in chunks that never move (chunk k holds
 * NAMES_CHUNK_MIN << min(k, NAMES_CHUNK_GROW_MAX) bytes), so a string's
 * address is stable until its last reference goes: borrowed pointers
 * (gossip_member_info, cfg.name/addr of self) survive any other insert.
 *
 *   OFFSET SIZE DESCRIPTION
 *        0    4 refs (while free: the handle of the next free entry)
 *        4    1 name_len
 *        5    1 addr_len
 *        6    n name, NUL, addr, NUL; the entry is padded to 4 bytes
 *
 * A handle is chunk << 24 | offset; 0 (chunk 0, offset 0) is never an
 * entry. Freed entries go to a free list per size (in 4-byte units) and
 * are reused by the next string of that size. An index (open addressing,
 * linear probing, load <= 3/4, handles as slots, 0 = empty) finds an equal
 * string, so interning the same name twice returns the same handle.
 *
 * Cost per distinct string: 6 + name + addr + 2 bytes rounded up to 4,
 * plus 4/load of index: 24 + 5.3 bytes for "n1\0127.0.0.1:7946\0".
 *
 * Pure: no clock, no I/O. Not thread-safe (one pool per thread of cores).
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/gossip_int.h"

#define NAMES_HDR 6u
#define NAMES_CHUNK_MIN 1024u     /* a small cluster's strings fit the first chunk */
#define NAMES_CHUNK_GROW_MAX 14u  /* chunks stop growing at 16 MiB (offset: 24 bits) */
#define NAMES_CHUNKS_MAX 256u     /* 8 bits of chunk index: ~4 GiB of strings */
#define NAMES_ENTRY_MAX (NAMES_HDR + WIRE_MAX_NAME + WIRE_MAX_ADDR + 2u + 3u)
#define NAMES_CLASSES (NAMES_ENTRY_MAX / 4u + 1u)

struct gossip_names {
    uint8_t *chunks[NAMES_CHUNKS_MAX];
    uint32_t nchunks;
    uint32_t used; /* bytes handed out in the last chunk */
    uint32_t free_head[NAMES_CLASSES];
    uint32_t *index;
    size_t index_cap; /* power of two, or 0 */
    size_t count;     /* distinct strings held */
    size_t bytes;     /* chunk bytes allocated */
};

static size_t chunk_size(uint32_t k)
{
    return (size_t)NAMES_CHUNK_MIN << (k < NAMES_CHUNK_GROW_MAX ? k : NAMES_CHUNK_GROW_MAX);
}

static uint8_t *entry_at(const struct gossip_names *p, uint32_t h)
{
    return p->chunks[h >> 24] + (h & 0xffffffu);
}

static size_t entry_bytes(size_t name_len, size_t addr_len)
{
    return (NAMES_HDR + name_len + addr_len + 2 + 3) & ~(size_t)3;
}

static uint64_t names_hash(const char *name, size_t nl, const char *addr, size_t al)
{
    /* FNV-1a over both strings and their split, then a full mix: ids of
     * the index are chosen by peers, but a long probe run only slows the
     * node that holds it, as with the member index. */
    uint64_t h = 0xcbf29ce484222325ull ^ (nl << 8 | al);
    for (size_t i = 0; i < nl; i++)
        h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < al; i++)
        h = (h ^ (uint8_t)addr[i]) * 0x100000001b3ull;
    return gossip_mix64(h);
}

static uint64_t entry_hash(const struct gossip_names *p, uint32_t h)
{
    const uint8_t *e = entry_at(p, h);
    const char *s = (const char *)e + NAMES_HDR;
    return names_hash(s, e[4], s + e[4] + 1, e[5]);
}

int gossip_names_new(struct gossip_names **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : GKV_ENOMEM;
}

void gossip_names_free(struct gossip_names *p)
{
    if (!p)
        return;
    for (uint32_t k = 0; k < p->nchunks; k++)
        free(p->chunks[k]);
    free(p->index);
    free(p);
}

size_t gossip_names_count(const struct gossip_names *p)
{
    return p->count;
}

size_t gossip_names_bytes(const struct gossip_names *p)
{
    return p->bytes + p->index_cap * sizeof(*p->index) + sizeof(*p);
}

const char *names_str(const struct gossip_names *p, uint32_t h)
{
    return (const char *)entry_at(p, h) + NAMES_HDR;
}

static int index_grow(struct gossip_names *p)
{
    size_t cap = p->index_cap ? p->index_cap * 2 : 64;
    uint32_t *ni = calloc(cap, sizeof(*ni));
    if (!ni)
        return GKV_ENOMEM;
    for (size_t i = 0; i < p->index_cap; i++) {
        uint32_t h = p->index[i];
        if (!h)
            continue;
        size_t s = entry_hash(p, h) & (cap - 1);
        while (ni[s])
            s = (s + 1) & (cap - 1);
        ni[s] = h;
    }
    free(p->index);
    p->index = ni;
    p->index_cap = cap;
    return 0;
}

/* A new entry's space: a freed one of the same size, else the chunk tail. */
static uint32_t entry_alloc(struct gossip_names *p, size_t bytes)
{
    uint32_t *head = &p->free_head[bytes / 4];
    if (*head) {
        uint32_t h = *head;
        memcpy(head, entry_at(p, h), sizeof(*head));
        return h;
    }
    if (p->nchunks == 0 || p->used + bytes > chunk_size(p->nchunks - 1)) {
        if (p->nchunks == NAMES_CHUNKS_MAX)
            return 0;
        uint8_t *c = malloc(chunk_size(p->nchunks));
        if (!c)
            return 0;
        p->bytes += chunk_size(p->nchunks);
        p->chunks[p->nchunks++] = c;
        p->used = p->nchunks == 1 ? 4 : 0; /* handle 0 stays invalid */
    }
    uint32_t h = (p->nchunks - 1) << 24 | p->used;
    p->used += (uint32_t)bytes;
    return h;
}

uint32_t names_intern(struct gossip_names *p, const char *name, size_t name_len, const char *addr,
                      size_t addr_len)
{
    if (name_len > WIRE_MAX_NAME || addr_len > WIRE_MAX_ADDR)
        return 0;
    if ((p->count + 1) * 4 > p->index_cap * 3 && index_grow(p) < 0)
        return 0;
    size_t mask = p->index_cap - 1;
    size_t s = names_hash(name, name_len, addr, addr_len) & mask;
    for (uint32_t h; (h = p->index[s]) != 0; s = (s + 1) & mask) {
        uint8_t *e = entry_at(p, h);
        const char *str = (const char *)e + NAMES_HDR;
        if (e[4] == name_len && e[5] == addr_len && memcmp(str, name, name_len) == 0 &&
            memcmp(str + name_len + 1, addr, addr_len) == 0) {
            uint32_t refs;
            memcpy(&refs, e, 4);
            if (refs == UINT32_MAX)
                return 0;
            refs++;
            memcpy(e, &refs, 4);
            return h;
        }
    }
    /* name/addr may point into a pool entry: entry_alloc never moves one,
     * and a reused free entry is not referenced by anyone. */
    size_t bytes = entry_bytes(name_len, addr_len);
    uint32_t h = entry_alloc(p, bytes);
    if (!h)
        return 0;
    uint8_t *e = entry_at(p, h);
    uint32_t one = 1;
    memcpy(e, &one, 4);
    e[4] = (uint8_t)name_len;
    e[5] = (uint8_t)addr_len;
    char *str = (char *)e + NAMES_HDR;
    memmove(str, name, name_len);
    str[name_len] = 0;
    memmove(str + name_len + 1, addr, addr_len);
    str[name_len + 1 + addr_len] = 0;
    p->index[s] = h;
    p->count++;
    return h;
}

void names_release(struct gossip_names *p, uint32_t h)
{
    if (!h)
        return;
    uint8_t *e = entry_at(p, h);
    uint32_t refs;
    memcpy(&refs, e, 4);
    if (--refs > 0) {
        memcpy(e, &refs, 4);
        return;
    }
    /* Out of the index (backward-shift deletion, Knuth 6.4 algorithm R),
     * then onto its size's free list. */
    size_t mask = p->index_cap - 1;
    size_t s = entry_hash(p, h) & mask;
    while (p->index[s] != h)
        s = (s + 1) & mask;
    size_t hole = s;
    for (size_t j = (s + 1) & mask; p->index[j]; j = (j + 1) & mask) {
        size_t home = entry_hash(p, p->index[j]) & mask;
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            p->index[hole] = p->index[j];
            hole = j;
        }
    }
    p->index[hole] = 0;
    p->count--;
    size_t bytes = entry_bytes(e[4], e[5]);
    memcpy(e, &p->free_head[bytes / 4], 4);
    p->free_head[bytes / 4] = h;
}
