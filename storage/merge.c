/*
 * merge.c: the merge rule, entry_merge() (contract in storage/entry.h).
 *
 * The decision is a total order on versions, compared field by field:
 *
 *   1. hlc          larger wins
 *   2. origin       larger wins
 *   3. tombstone    a tombstone beats a value (a delete wins an exact tie)
 *   4. value_len    longer wins
 *   5. value bytes  larger memcmp wins
 *   6. expire_ms    later wins, 0 (never) counting as the latest
 *   7. flags        larger wins (only reachable through flag bits this
 *                   version does not define; keeps the order total anyway)
 *
 * An expiry is part of the version: every change of it (EXPIRE, PERSIST,
 * SET with or without EX) is a new write with a new HLC, so step 1 decides
 * between expiries like between values. Step 6 is reached only by two
 * different versions under one (hlc, origin), which no correct node makes;
 * it keeps the order total anyway.
 *
 * Versions equal on all seven are the same write: the local one is kept. Since
 * every pair is ordered the same way whichever side is "local", merging is
 * commutative, associative and idempotent: the survivor of any set of
 * versions is the set's maximum, whatever order they arrive in.
 *
 * Vector clocks do not decide; they are checked. *dominance_conflict is set
 * when the clocks contradict the decision:
 *   - local's clock dominates (or equals) incoming's, yet incoming wins, or
 *   - incoming's clock strictly dominates local's, yet local wins,
 * except when the two are the same write (step 7 tie), because a node
 * forwards its stored version with its merged clock, so one write legitimately
 * travels with different clocks. For causally produced histories with at
 * most GKV_VCLOCK_MAX writers this never fires (property-tested in
 * tests/unit/test_entry.c); pruning and clocks that went backwards can make
 * it fire, and callers count it.
 */
#include <string.h>

#include "storage/counter.h"
#include "storage/entry.h"

/* <0: a orders before b, 0: the same write, >0: a orders after b. */
int entry_version_order(const struct entry *a, const struct entry *b)
{
    if (a->hlc != b->hlc)
        return a->hlc < b->hlc ? -1 : 1;
    if (a->origin != b->origin)
        return a->origin < b->origin ? -1 : 1;
    bool ta = entry_is_tombstone(a), tb = entry_is_tombstone(b);
    if (ta != tb)
        return ta ? 1 : -1;
    if (a->value_len != b->value_len)
        return a->value_len < b->value_len ? -1 : 1;
    if (a->value_len > 0) { /* memcmp(NULL, NULL, 0) is undefined */
        int c = memcmp(a->value, b->value, a->value_len);
        if (c != 0)
            return c < 0 ? -1 : 1;
    }
    if (a->expire_ms != b->expire_ms) {
        uint64_t xa = a->expire_ms ? a->expire_ms : UINT64_MAX;
        uint64_t xb = b->expire_ms ? b->expire_ms : UINT64_MAX;
        return xa < xb ? -1 : 1;
    }
    if (a->flags != b->flags)
        return a->flags < b->flags ? -1 : 1;
    return 0;
}

enum merge_result entry_merge(const struct entry *local, const struct entry *incoming,
                              bool *dominance_conflict)
{
    if ((local->flags | incoming->flags) & ENTRY_COUNTER) {
        if (dominance_conflict)
            *dominance_conflict = false;
        return counter_merge_decide(local, incoming);
    }
    int order = entry_version_order(local, incoming);
    enum merge_result result = order < 0 ? MERGE_TAKE_INCOMING : MERGE_KEEP_LOCAL;
    if (dominance_conflict) {
        bool conflict = false;
        if (order != 0) {
            enum vclock_order vo = vclock_compare(&local->vc, &incoming->vc);
            if (result == MERGE_TAKE_INCOMING)
                conflict = vo == VCLOCK_AFTER || vo == VCLOCK_EQUAL;
            else
                conflict = vo == VCLOCK_BEFORE;
        }
        *dominance_conflict = conflict;
    }
    return result;
}
