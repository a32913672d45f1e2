/*
 * replay.c: RFC 6479 sliding windows, one per sender, in a bounded table.
 *
 * Invariants:
 *   1. A window's bitmap bit for counter c lives in block (c / 64) % REPLAY_BLOCKS.
 *      Every block strictly between the block of `top - REPLAY_WINDOW_COUNTERS`
 *      and the block of `top` holds only counters inside the window, so a set
 *      bit always means "accepted" for any counter the check lets through.
 *   2. Blocks are cleared when the window slides over them, never otherwise.
 *   3. The table never holds more than max_senders senders; senders[0..count)
 *      is dense and index[] maps each sender id to its position + 1, at a
 *      load of at most 1/2 (linear probing stays short).
 *   4. Nothing here changes on a check; only update/forget write.
 *   5. The use-order list links exactly the count senders, newest first;
 *      every update moves its sender to the newest end, so the oldest end is
 *      the sender that has gone longest without a recorded packet.
 */
#include "gossip/replay.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

/* Initial table size: enough for a small cluster without any growth. */
#define REPLAY_TABLE_INITIAL_CAP 16u

void replay_window_reset(struct replay_window *w)
{
    memset(w, 0, sizeof(*w));
}

static inline uint32_t replay_block_of(uint64_t counter)
{
    return (uint32_t)((counter / REPLAY_BLOCK_BITS) % REPLAY_BLOCKS);
}

static inline uint64_t replay_bit_of(uint64_t counter)
{
    return (uint64_t)1 << (counter % REPLAY_BLOCK_BITS);
}

enum replay_verdict replay_window_check(const struct replay_window *w, uint64_t counter)
{
    if (counter == 0)
        return REPLAY_TOO_OLD; /* seal never sends counter 0 */
    if (counter > w->top)
        return REPLAY_OK;
    if (w->top - counter >= REPLAY_WINDOW_COUNTERS)
        return REPLAY_TOO_OLD;
    if (w->bitmap[replay_block_of(counter)] & replay_bit_of(counter))
        return REPLAY_DUPLICATE;
    return REPLAY_OK;
}

void replay_window_update(struct replay_window *w, uint64_t counter)
{
    if (counter > w->top) {
        uint64_t cur = w->top / REPLAY_BLOCK_BITS;
        uint64_t diff = counter / REPLAY_BLOCK_BITS - cur;
        if (diff > REPLAY_BLOCKS)
            diff = REPLAY_BLOCKS; /* jumped past the whole bitmap: clear it all */
        for (uint64_t i = 1; i <= diff; i++)
            w->bitmap[(cur + i) % REPLAY_BLOCKS] = 0;
        w->top = counter;
    }
    w->bitmap[replay_block_of(counter)] |= replay_bit_of(counter);
}

/* splitmix64's finalizer (Steele et al. 2014): sender ids are chosen by key
 * holders only (state is created after the tag verifies), so a fast mixer is
 * enough; no keyed hash is needed against outsiders. */
static inline uint64_t replay_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

int replay_table_init(struct replay_table *t, uint32_t max_senders)
{
    memset(t, 0, sizeof(*t));
    if (max_senders == 0 || max_senders > SEAL_MAX_SENDERS)
        return GKV_EINVAL;
    t->index = calloc(REPLAY_TABLE_INITIAL_CAP, sizeof(*t->index));
    if (!t->index)
        return GKV_ENOMEM;
    t->cap = REPLAY_TABLE_INITIAL_CAP;
    t->max_senders = max_senders;
    return 0;
}

void replay_table_close(struct replay_table *t)
{
    free(t->index);
    free(t->senders);
    memset(t, 0, sizeof(*t));
}

int replay_table_set_max(struct replay_table *t, uint32_t max_senders)
{
    if (max_senders == 0 || max_senders > SEAL_MAX_SENDERS)
        return GKV_EINVAL;
    t->max_senders = max_senders;
    return 0;
}

uint32_t replay_table_count(const struct replay_table *t)
{
    return t->count;
}

/* The index slot holding sender_id, or the empty slot where it would go.
 * The index is never full (load <= 1/2), so the loop ends within cap steps. */
static uint32_t replay_table_probe(const struct replay_table *t, uint64_t sender_id)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = (uint32_t)replay_mix(sender_id) & mask;
    for (uint32_t n = 0; n < t->cap; n++, i = (i + 1) & mask) {
        uint32_t pos = t->index[i];
        if (pos == 0 || t->senders[pos - 1].sender_id == sender_id)
            return i;
    }
    return UINT32_MAX; /* unreachable while invariant 3 holds */
}

static struct replay_sender *replay_table_find(const struct replay_table *t, uint64_t sender_id)
{
    uint32_t i = replay_table_probe(t, sender_id);
    if (i == UINT32_MAX || t->index[i] == 0)
        return NULL;
    return &t->senders[t->index[i] - 1];
}

enum replay_verdict replay_table_check(const struct replay_table *t, uint64_t sender_id,
                                       uint64_t epoch, uint64_t counter)
{
    const struct replay_sender *s = replay_table_find(t, sender_id);
    if (!s)
        return counter == 0 ? REPLAY_TOO_OLD : REPLAY_OK; /* a full table evicts */
    if (epoch < s->epoch)
        return REPLAY_OLD_EPOCH;
    if (epoch > s->epoch)
        return counter == 0 ? REPLAY_TOO_OLD : REPLAY_OK; /* a restart: fresh window */
    return replay_window_check(&s->window, counter);
}

static int replay_index_grow(struct replay_table *t)
{
    uint32_t ncap = t->cap * 2;
    uint32_t *ni = calloc(ncap, sizeof(*ni));
    if (!ni)
        return GKV_ENOMEM;
    free(t->index);
    t->index = ni;
    t->cap = ncap;
    for (uint32_t k = 0; k < t->count; k++)
        t->index[replay_table_probe(t, t->senders[k].sender_id)] = k + 1;
    return 0;
}

/* Use-order list (invariant 5). Links are positions + 1; 0 ends the list. */
static void replay_lru_unlink(struct replay_table *t, uint32_t pos)
{
    struct replay_sender *s = &t->senders[pos];
    if (s->newer)
        t->senders[s->newer - 1].older = s->older;
    else
        t->newest = s->older;
    if (s->older)
        t->senders[s->older - 1].newer = s->newer;
    else
        t->oldest = s->newer;
    s->newer = s->older = 0;
}

static void replay_lru_push_newest(struct replay_table *t, uint32_t pos)
{
    struct replay_sender *s = &t->senders[pos];
    s->newer = 0;
    s->older = t->newest;
    if (t->newest)
        t->senders[t->newest - 1].newer = pos + 1;
    else
        t->oldest = pos + 1;
    t->newest = pos + 1;
}

/* The sender at `from` moved to position `to` (dense array compaction):
 * repoint its neighbours and the list ends. */
static void replay_lru_moved(struct replay_table *t, uint32_t from, uint32_t to)
{
    struct replay_sender *s = &t->senders[to];
    if (s->newer)
        t->senders[s->newer - 1].older = to + 1;
    else if (t->newest == from + 1)
        t->newest = to + 1;
    if (s->older)
        t->senders[s->older - 1].newer = to + 1;
    else if (t->oldest == from + 1)
        t->oldest = to + 1;
}

int replay_table_update(struct replay_table *t, uint64_t sender_id, uint64_t epoch,
                        uint64_t counter)
{
    struct replay_sender *s = replay_table_find(t, sender_id);
    if (s) {
        if (epoch > s->epoch) {
            s->epoch = epoch;
            replay_window_reset(&s->window);
        }
        replay_window_update(&s->window, counter);
        uint32_t pos = (uint32_t)(s - t->senders);
        if (t->newest != pos + 1) {
            replay_lru_unlink(t, pos);
            replay_lru_push_newest(t, pos);
        }
        return 0;
    }
    /* Full: drop the idlest (bounded by count; more than one only after
     * replay_table_set_max lowered the limit). */
    while (t->count >= t->max_senders && t->oldest) {
        replay_table_forget(t, t->senders[t->oldest - 1].sender_id);
        t->evicted++;
    }
    if (t->count == t->senders_cap) {
        uint32_t ncap = t->senders_cap ? t->senders_cap * 2 : REPLAY_TABLE_INITIAL_CAP / 2;
        struct replay_sender *ns = realloc(t->senders, (size_t)ncap * sizeof(*ns));
        if (!ns)
            return GKV_ENOMEM;
        t->senders = ns;
        t->senders_cap = ncap;
    }
    /* Keep the index load at or below 1/2 after this insert. */
    if ((uint64_t)(t->count + 1) * 2 > t->cap) {
        int rc = replay_index_grow(t);
        if (rc)
            return rc;
    }
    uint32_t i = replay_table_probe(t, sender_id);
    s = &t->senders[t->count];
    memset(s, 0, sizeof(*s));
    s->sender_id = sender_id;
    s->epoch = epoch;
    replay_window_update(&s->window, counter);
    t->count++;
    t->index[i] = t->count;
    replay_lru_push_newest(t, t->count - 1);
    return 0;
}

int replay_table_forget(struct replay_table *t, uint64_t sender_id)
{
    uint32_t i = replay_table_probe(t, sender_id);
    if (i == UINT32_MAX || t->index[i] == 0)
        return GKV_ENOTFOUND;
    uint32_t pos = t->index[i] - 1;
    replay_lru_unlink(t, pos);
    /* Backward-shift deletion (Knuth 6.4 algorithm R): pull later members of
     * the probe run into the hole so no lookup ever stops early. */
    uint32_t mask = t->cap - 1;
    uint32_t hole = i;
    uint32_t j = i;
    for (uint32_t n = 0; n < t->cap; n++) {
        j = (j + 1) & mask;
        if (t->index[j] == 0)
            break;
        uint32_t home = (uint32_t)replay_mix(t->senders[t->index[j] - 1].sender_id) & mask;
        /* j may move into hole if its home is not in (hole, j] cyclically. */
        bool in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            t->index[hole] = t->index[j];
            hole = j;
        }
    }
    t->index[hole] = 0;
    /* Keep senders[] dense: the last record moves into the freed position. */
    uint32_t last = t->count - 1;
    if (pos != last) {
        t->senders[pos] = t->senders[last];
        t->index[replay_table_probe(t, t->senders[pos].sender_id)] = pos + 1;
        replay_lru_moved(t, last, pos);
    }
    t->count--;
    return 0;
}
