/*
 * vclock.c: bounded vector clocks (node id -> counter).
 *
 * Items are sorted by node id, unique, with counters > 0, at most
 * GKV_VCLOCK_MAX of them. Everything that reads a clock bounds n by
 * GKV_VCLOCK_MAX, so even a clock that vclock_valid() would reject cannot make
 * these functions read out of bounds (its results are then meaningless, not
 * dangerous).
 *
 * Pruning rule (deterministic, applied by vclock_merge and, when a clock is
 * full, by vclock_increment):
 *
 *   Rank items by counter, larger first; equal counters rank the larger node
 *   id first. Keep the GKV_VCLOCK_MAX best-ranked items.
 *
 * Why this rule: the nodes that wrote a key most are the ones whose history
 * is worth remembering, and the rule depends only on the (node, counter)
 * pairs, not on when or where a merge happened. It makes "merge then prune"
 * order-insensitive:
 *
 *   prune(max(prune(max(a, b)), c)) == prune(max(a, b, c))
 *
 * Proof sketch: an item x dropped by the inner prune is out-ranked by
 * GKV_VCLOCK_MAX items that survive it; pointwise max only raises those
 * items' counters, so they out-rank x (and any smaller counter for x's node
 * coming from c) in the outer union as well. So x cannot be among the kept
 * items of either side, and every item that can be kept has the same counter
 * on both sides. Hence a node's clock after merging a set of versions does
 * not depend on their order, grouping or duplication (tested by
 * test_vclock_prune_is_order_insensitive and the causal-history properties in
 * tests/unit/test_entry.c).
 *
 * Pruning loses causality information, never convergence: entry_merge()
 * decides by the HLC total order; vector clocks are a diagnostic.
 */
#include <string.h>

#include "storage/entry.h"

static uint32_t vclock_len(const struct vclock *vc)
{
    return vc->n < GKV_VCLOCK_MAX ? vc->n : GKV_VCLOCK_MAX;
}

/* True when item a ranks strictly before item b under the pruning rule. */
static bool vclock_item_outranks(const struct vclock_item *a, const struct vclock_item *b)
{
    if (a->counter != b->counter)
        return a->counter > b->counter;
    return a->node > b->node;
}

/* Drop the worst-ranked items of a node-sorted array until at most max
 * remain, keeping node order. n is small (<= 2 * GKV_VCLOCK_MAX), so a
 * repeated linear scan is simplest. Returns the new length. */
static uint32_t vclock_items_prune(struct vclock_item *items, uint32_t n, uint32_t max)
{
    while (n > max) {
        uint32_t worst = 0;
        for (uint32_t i = 1; i < n; i++)
            if (vclock_item_outranks(&items[worst], &items[i]))
                worst = i;
        memmove(&items[worst], &items[worst + 1], (n - worst - 1) * sizeof(items[0]));
        n--;
    }
    return n;
}

void vclock_clear(struct vclock *vc)
{
    memset(vc, 0, sizeof(*vc));
}

uint64_t vclock_get(const struct vclock *vc, uint64_t node)
{
    uint32_t n = vclock_len(vc);
    for (uint32_t i = 0; i < n; i++)
        if (vc->items[i].node == node)
            return vc->items[i].counter;
    return 0;
}

void vclock_increment(struct vclock *vc, uint64_t node)
{
    uint32_t n = vclock_len(vc);
    uint32_t pos = 0;
    while (pos < n && vc->items[pos].node < node)
        pos++;
    if (pos < n && vc->items[pos].node == node) {
        /* A 64-bit counter cannot wrap in practice; saturate rather than
         * wrap to 0, which would break the nonzero invariant. */
        if (vc->items[pos].counter != UINT64_MAX)
            vc->items[pos].counter++;
        return;
    }
    struct vclock_item items[GKV_VCLOCK_MAX + 1];
    memcpy(items, vc->items, pos * sizeof(items[0]));
    items[pos] = (struct vclock_item){.node = node, .counter = 1};
    memcpy(&items[pos + 1], &vc->items[pos], (n - pos) * sizeof(items[0]));
    n++;
    if (n > GKV_VCLOCK_MAX) {
        /* Full: the writer's own new item (counter 1) would rank last, and
         * dropping it would make the write invisible in its own clock. Keep
         * it and evict the worst-ranked other item. A later vclock_merge
         * applies the plain rule again, so clocks still converge. */
        struct vclock_item self = items[pos];
        memmove(&items[pos], &items[pos + 1], (n - pos - 1) * sizeof(items[0]));
        uint32_t m = vclock_items_prune(items, n - 1, GKV_VCLOCK_MAX - 1);
        uint32_t at = 0;
        while (at < m && items[at].node < node)
            at++;
        memmove(&items[at + 1], &items[at], (m - at) * sizeof(items[0]));
        items[at] = self;
        n = m + 1;
    }
    memcpy(vc->items, items, n * sizeof(items[0]));
    vc->n = n;
}

enum vclock_order vclock_compare(const struct vclock *a, const struct vclock *b)
{
    uint32_t na = vclock_len(a), nb = vclock_len(b);
    uint32_t i = 0, j = 0;
    bool a_greater = false, b_greater = false; /* somewhere a > b / b > a */
    while (i < na || j < nb) {
        uint64_t ca, cb;
        if (j >= nb || (i < na && a->items[i].node < b->items[j].node)) {
            ca = a->items[i++].counter;
            cb = 0;
        } else if (i >= na || b->items[j].node < a->items[i].node) {
            ca = 0;
            cb = b->items[j++].counter;
        } else {
            ca = a->items[i++].counter;
            cb = b->items[j++].counter;
        }
        if (ca > cb)
            a_greater = true;
        else if (cb > ca)
            b_greater = true;
    }
    if (a_greater && b_greater)
        return VCLOCK_CONCURRENT;
    if (a_greater)
        return VCLOCK_AFTER;
    if (b_greater)
        return VCLOCK_BEFORE;
    return VCLOCK_EQUAL;
}

void vclock_merge(struct vclock *dst, const struct vclock *src)
{
    uint32_t nd = vclock_len(dst), ns = vclock_len(src);
    struct vclock_item items[2 * GKV_VCLOCK_MAX];
    uint32_t i = 0, j = 0, n = 0;
    while (i < nd || j < ns) {
        if (j >= ns || (i < nd && dst->items[i].node < src->items[j].node)) {
            items[n++] = dst->items[i++];
        } else if (i >= nd || src->items[j].node < dst->items[i].node) {
            items[n++] = src->items[j++];
        } else {
            items[n] = dst->items[i++];
            if (src->items[j].counter > items[n].counter)
                items[n].counter = src->items[j].counter;
            j++;
            n++;
        }
    }
    n = vclock_items_prune(items, n, GKV_VCLOCK_MAX);
    memcpy(dst->items, items, n * sizeof(items[0]));
    if (n < GKV_VCLOCK_MAX)
        memset(&dst->items[n], 0, (GKV_VCLOCK_MAX - n) * sizeof(items[0]));
    dst->n = n;
}

bool vclock_valid(const struct vclock *vc)
{
    if (vc->n > GKV_VCLOCK_MAX)
        return false;
    for (uint32_t i = 0; i < vc->n; i++) {
        if (vc->items[i].counter == 0)
            return false;
        if (i > 0 && vc->items[i - 1].node >= vc->items[i].node)
            return false;
    }
    return true;
}
