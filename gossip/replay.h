/*
 * replay.h: anti-replay state for the sealed envelope (internal to gossip/,
 * used by seal.c; tests may use it directly).
 *
 * Two pieces:
 *   - struct replay_window: RFC 6479's sliding bitmap for one (sender, epoch).
 *     It remembers which of the last REPLAY_WINDOW_COUNTERS packet counters
 *     were accepted. A counter above the highest seen slides the window
 *     forward; one inside it is accepted once; one below it is refused.
 *   - struct replay_table: at most `max_senders` windows, one per sender id,
 *     holding the newest epoch seen from that sender: a dense array found
 *     through an open-addressing index, both grown by doubling (starting
 *     small, so a simulator with thousands of nodes does not pay for 16384
 *     windows per node up front). The senders are also kept in a list by
 *     last use (every recorded packet moves its sender to the newest end),
 *     so a full table evicts the idlest sender in O(1) and without a clock.
 *
 * Check and update are separate on purpose: the caller checks before
 * spending CPU on the AEAD, and updates only after the tag verified, so a
 * forged packet can never move a window (WireGuard does the same).
 *
 * Pure: no clock, no randomness, no I/O. Not thread-safe.
 */
#ifndef GKV_GOSSIP_REPLAY_H
#define GKV_GOSSIP_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/seal.h"

/* RFC 6479 section 2: a bitmap of N 64-bit blocks guarantees a window of
 * (N - 1) * 64 counters, because the block holding the newest counter is only
 * partly in the window. N = 17 gives exactly SEAL_REPLAY_WINDOW = 1024. */
#define REPLAY_BLOCK_BITS 64u
#define REPLAY_WINDOW_COUNTERS SEAL_REPLAY_WINDOW
#define REPLAY_BLOCKS (REPLAY_WINDOW_COUNTERS / REPLAY_BLOCK_BITS + 1u)

struct replay_window {
    uint64_t top; /* highest accepted counter; 0 = none yet (counters start at 1) */
    uint64_t bitmap[REPLAY_BLOCKS];
};

/* Verdicts of replay_window_check / replay_table_check. */
enum replay_verdict {
    REPLAY_OK = 0,        /* new counter: accept (after the tag verifies) */
    REPLAY_DUPLICATE,     /* inside the window, already accepted */
    REPLAY_TOO_OLD,       /* below the window: cannot tell, so refuse */
    REPLAY_OLD_EPOCH,     /* sender restarted since: this epoch is over */
};

void replay_window_reset(struct replay_window *w);
/* Would counter be accepted? Never modifies w. Counter 0 is never valid. */
enum replay_verdict replay_window_check(const struct replay_window *w, uint64_t counter);
/* Record counter as accepted. Precondition: replay_window_check said OK. */
void replay_window_update(struct replay_window *w, uint64_t counter);

/* One sender: 168 bytes, of which 136 are the bitmap RFC 6479 needs for a
 * guaranteed 1024-counter window. Kept densely (no empty slots, no flag). */
struct replay_sender {
    uint64_t sender_id;
    uint64_t epoch; /* newest epoch seen from this sender */
    uint32_t newer, older; /* use-order list: position in senders[] + 1, 0 = end */
    struct replay_window window;
};

/* senders[0..count) dense, found through index[]: open addressing, linear
 * probing, slot = position in senders[] + 1, 0 = empty, load <= 1/2. A
 * sender costs 160 bytes plus 8-16 bytes of index, instead of a 168-byte
 * slot at a load between 3/8 and 3/4 (224-448 bytes): a simulated node
 * hears from thousands of senders. senders[] grows by doubling with
 * realloc; a large block's untouched tail is never resident. */
struct replay_table {
    struct replay_sender *senders; /* owned */
    uint32_t senders_cap;
    uint32_t *index; /* owned; cap slots, a power of two */
    uint32_t cap;
    uint32_t count;
    uint32_t max_senders;
    uint32_t newest, oldest; /* ends of the use-order list: position + 1, 0 = empty */
    uint64_t evicted;        /* senders dropped to admit a new one (full table) */
};

/* max_senders: 1..SEAL_MAX_SENDERS. Allocates a small table; GKV_ENOMEM. */
int replay_table_init(struct replay_table *t, uint32_t max_senders);
void replay_table_close(struct replay_table *t);
/* Lower or raise the sender limit. Lowering below the current count keeps
 * the tracked senders until the next new sender arrives, which evicts the
 * idlest down to the limit. GKV_EINVAL outside 1..SEAL_MAX_SENDERS. */
int replay_table_set_max(struct replay_table *t, uint32_t max_senders);

/* Pure check of (sender, epoch, counter) against the table. */
enum replay_verdict replay_table_check(const struct replay_table *t, uint64_t sender_id,
                                       uint64_t epoch, uint64_t counter);
/* Record an authenticated packet. Precondition: check said REPLAY_OK. A newer
 * epoch replaces the sender's window; the sender becomes the most recently
 * used. An unknown sender arriving at a full table evicts the least recently
 * used one (evicted++). GKV_ENOMEM if the table could not grow (the packet
 * must then be dropped). */
int replay_table_update(struct replay_table *t, uint64_t sender_id, uint64_t epoch,
                        uint64_t counter);
/* Drop a sender's state. 0 or GKV_ENOTFOUND. After this the sender's old
 * packets could be accepted once more: call only for members that are gone. */
int replay_table_forget(struct replay_table *t, uint64_t sender_id);
uint32_t replay_table_count(const struct replay_table *t);

#endif
