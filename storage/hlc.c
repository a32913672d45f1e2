/*
 * hlc.c: hybrid logical clock (Kulkarni, Demirbas et al., "Logical Physical
 * Clocks and Consistent Snapshots in Globally Distributed Databases", 2014).
 *
 * A timestamp is (ms << 16) | logical, so it compares as a plain uint64_t and
 * the paper's two-field update rules collapse to integer arithmetic:
 *
 *   send/local event:  l' = max(last + 1, (wall_ms << 16))
 *   receive:           last' = max(last, remote)   (the next local event is
 *                      then above both; observing is not itself an event
 *                      that needs a timestamp here)
 *
 * Invariants:
 *   1. hlc_now() returns a value strictly greater than every value it
 *      returned before and every remote value hlc_observe() accepted.
 *   2. A remote value whose ms part leads wall_ms by more than max_offset_ms
 *      never enters the clock (refused, counted), so one node with a bad
 *      clock cannot drag every other clock (and every later write) forward.
 *   3. Logical overflow: when the logical part is 0xffff and the wall clock
 *      has not moved, last + 1 carries into the ms part (ms + 1, logical 0).
 *      That is the "advance ms by one" rule: the clock stays strictly
 *      increasing and runs at most a little ahead of wall time; it needs more
 *      than 65,536 local events in one millisecond to happen at all, and the
 *      wall clock catches up as soon as the burst ends.
 *   4. correction_ms (set by the gossip core on a node measured behind the
 *      cluster) is added to every wall_ms first: such a node stamps its
 *      writes and judges remote ones on the cluster's time. Invariant 1
 *      holds whatever the correction does (last only grows).
 *   5. Wall times beyond 48 bits (year 10889) are clamped to the largest
 *      representable ms; a clock at UINT64_MAX stays there (it cannot
 *      increase any further; unreachable in practice).
 *
 * Pure code: wall_ms is passed in by the caller (node/ or the simulator).
 */
#include "storage/entry.h"

#include "common/errors.h"

/* Largest ms value that fits the 48-bit field. */
#define HLC_MS_MAX ((UINT64_C(1) << (64 - HLC_LOGICAL_BITS)) - 1)

/* wall_ms + correction_ms, saturating (invariant 5 then clamps it). */
static uint64_t hlc_wall_ms(const struct hlc *h, uint64_t wall_ms)
{
    return wall_ms > UINT64_MAX - h->correction_ms ? UINT64_MAX : wall_ms + h->correction_ms;
}

static uint64_t hlc_wall_ts(uint64_t wall_ms)
{
    if (wall_ms > HLC_MS_MAX)
        wall_ms = HLC_MS_MAX;
    return HLC_MAKE(wall_ms, 0);
}

void hlc_init(struct hlc *h, uint64_t max_offset_ms)
{
    h->last = 0;
    h->max_offset_ms = max_offset_ms ? max_offset_ms : HLC_MAX_OFFSET_MS_DEFAULT;
    h->refused = 0;
    h->correction_ms = 0;
}

uint64_t hlc_now(struct hlc *h, uint64_t wall_ms)
{
    uint64_t wall = hlc_wall_ts(hlc_wall_ms(h, wall_ms));
    /* last + 1 carries a full logical counter into the ms part (invariant 3). */
    uint64_t next = h->last == UINT64_MAX ? UINT64_MAX : h->last + 1;
    if (wall > next)
        next = wall;
    h->last = next;
    return next;
}

int hlc_observe(struct hlc *h, uint64_t remote, uint64_t wall_ms)
{
    uint64_t remote_ms = HLC_MS(remote);
    wall_ms = hlc_wall_ms(h, wall_ms);
    /* Written as a subtraction so wall_ms + max_offset_ms cannot overflow. */
    if (remote_ms > wall_ms && remote_ms - wall_ms > h->max_offset_ms) {
        h->refused++;
        return GKV_ECLOCK;
    }
    if (remote > h->last)
        h->last = remote;
    return 0;
}
