/*
 * gossip_int.h: internals of the gossip core, shared by gossip.c, member.c,
 * probe.c, suspicion.c, spread.c and sync.c. Not part of the public API (gossip.h).
 *
 * Invariants (checked by asserts in debug builds where cheap):
 *   1. members[0] is this node; its state is ALIVE unless we are leaving.
 *   2. idx[] maps every member id to its index in members[] (open addressing,
 *      linear probing, 0 = empty slot, otherwise index + 1).
 *   3. A member is SUSPECT iff it is in suspects[] (at most once); susps[i]
 *      is its timer.
 *   4. Every queued broadcast is in exactly one transmit list (tx[]) and in the
 *      age list; transmits < limit at the time it was last sent.
 *   5. Only the probe and the ping-req relay table wait for ACK sequence
 *      numbers, both drawn from one counter, so they never collide.
 *
 * Sizes are bounded by the config (max_members, max_queued_deltas) or by the
 * GOSSIP_*_MAX constants below; whatever hits a limit is counted in stats.
 */
#ifndef GKV_GOSSIP_GOSSIP_INT_H
#define GKV_GOSSIP_GOSSIP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/rng.h"
#include "gossip/gossip.h"

/* ----------------------------------------------------------- constants */

/* Seeds remembered by gossip_join (a deployment lists a handful). */
#define GOSSIP_SEEDS_MAX 64u
/* Pending ping-req relays (we ping a target for someone else). One probe per
 * interval per member asks k relays, so a node relays about k per interval on
 * average; 256 leaves room for bursts. Overflow counted. */
#define GOSSIP_RELAYS_MAX 256u
/* Lifeguard local-health multiplier ceiling (memberlist
 * AwarenessMaxMultiplier = 8): timeouts scale by (score + 1), score < 8. */
#define GOSSIP_AWARENESS_MAX 8u
/* Confirmations tracked per suspicion; memberlist wants k = mult - 2 of them
 * (2 with the default mult 4), so 16 covers any sane config. */
#define GOSSIP_CONFIRM_MAX 16u
/* Transmit lists: retransmit limits above this are clamped. */
#define GOSSIP_TX_LISTS 64u
/* Items a fill pass examines without finding one that fits before it gives
 * up (keeps one datagram's cost bounded with a huge queue). */
#define GOSSIP_SCAN_MAX 256u
/* Pending anti-entropy repair jobs (peer, bucket). Two full-keyspace repairs
 * (2 x 1024 buckets) fit; beyond that jobs are dropped and counted, the next
 * anti-entropy round finds the difference again. */
#define GOSSIP_REPAIR_JOBS_MAX 2048u
/* The digest tree: leaves are the store's 2^STORE_BUCKET_BITS buckets; the
 * upper level groups them by 2^GOSSIP_SYNC_GROUP_BITS (32 groups of 32 with
 * 10-bit buckets), so one datagram carries a whole level (32 x 9 bytes). */
#define GOSSIP_SYNC_GROUP_BITS 5u
/* An anti-entropy offer waits for the data queue to drain only while it
 * holds at most this many deltas: about what one gossip round's datagrams
 * carry (3 peers x ~9 deltas of ~150 bytes in 1400) times the 8-16 sends
 * each needs, i.e. a queue that drains within an interval or two. A deeper
 * queue is a burst that gossip will not deliver soon. */
#define GOSSIP_SYNC_DEFER_MAX_QUEUED 512u
/* A write burst: more deltas queued in one gossip interval than this, or
 * any dropped from a full queue. A round carries at most fanout datagrams
 * of ~9 deltas each and every delta needs 8-16 sends, so gossip sustains a
 * few new deltas per round; 64 is well past that. While a node saw a burst
 * within the last GOSSIP_BURST_QUIET_INTERVALS gossip intervals it neither
 * starts nor answers anti-entropy sessions (every bucket differs and moves:
 * a session would ship the whole keyspace for nothing), at most GOSSIP_SYNC_BUSY_MAX_INTERVALS sync
 * intervals in a row; the first quiet tick after a dropping burst starts a
 * session at once (the "dirty" hint). */
#define GOSSIP_BURST_DELTAS_PER_ROUND 64u
/* A burst is over after this many quiet gossip intervals (400 ms with the
 * defaults). It was one sync interval (1 s): the repair of a burst that
 * overflowed the queue only starts when the burst is over, so that second
 * was most of the time between the end of a 3-node client_bench burst and
 * identical nodes ("a burst left to anti-entropy" in
 * `git show 383e9cc:docs/BENCHMARKS.md`). Two intervals, not one: burst_check
 * measures whole intervals, so one quiet interval can be the tail of the
 * last busy one; a client that pauses longer than this mid-burst gets one
 * anti-entropy session in the pause (it repairs what is already written). */
#define GOSSIP_BURST_QUIET_INTERVALS 2u
/* During a write burst, a data queue this deep overflows (see spread_entry
 * in gossip.c) even below max_queued_deltas: a gossip round sends each of
 * fanout datagrams ~9 deltas and each delta needs Ld (8 at N = 3) sends,
 * so 4096 queued deltas take gossip minutes, where anti-entropy carries
 * them within seconds of the burst's end. Queueing a burst's first 65,536
 * writes only to clear them cost 2 % of the writer's CPU per SET in the
 * 3-node client_bench ("Client API" in `git show 383e9cc:docs/BENCHMARKS.md`). */
#define GOSSIP_BURST_QUEUE_MAX 4096u
/* A dirty offer (the queue dropped deltas since our last offer) goes to
 * gossip_fanout peers, at most this many (the fanout's own clamp in a
 * gossip round is 64; a session per peer costs a few digest datagrams and
 * the repair of what differs, which a dirty node owes them all anyway). */
#define GOSSIP_DIRTY_OFFERS_MAX 16u
/* The old default period (10 x 1 s): under sustained overload anti-entropy
 * still runs this often. */
#define GOSSIP_SYNC_BUSY_MAX_INTERVALS 10u
/* Stream frames for repair and large deltas: this much data per frame,
 * unless one entry needs more (then up to WIRE_MAX_FRAME). */
#define GOSSIP_FRAME_TARGET (64u * 1024u)
/* Repair pacing period: repair_bytes_per_tick is spent at most once per this
 * many ms, whatever the driver's tick rate (gossip.h suggests ticking every
 * ~10 ms, so "per tick" holds for a well-behaved driver and a fast one
 * cannot multiply the rate). */
#define GOSSIP_REPAIR_PERIOD_MS 10u
/* Membership anti-entropy piggyback (tarantool swim.c's third component):
 * each datagram's leftover space carries up to this many ALIVE records of
 * random alive members, so a member a rumour missed is repaired within
 * about N / (this x datagrams per second) seconds rather than a push-pull
 * period. 8 records are ~400 bytes: they fit beside any PING or ACK. */
#define GOSSIP_RANDOM_RECORDS 8u
/* Tombstone purge: tombstones purged per call (the store finds them in
 * O(log n) each with its age index, about 1 us apiece, so a batch holds
 * the loop for a few ms), and the pause before the next batch while more
 * are due: up to ~500k purges a second, ten times the deletes one node
 * takes (docs/OPERATIONS.md, "Tombstones"). */
#define GOSSIP_PURGE_BATCH 4096u
#define GOSSIP_PURGE_BUSY_MS 5u
/* Reclaim check: members examined per tick for dead_reclaim_ms. */
#define GOSSIP_RECLAIM_STEP 32u
/* A fill pass stops looking for another delta once less room than this is
 * left: no entry (1-byte key, no value, one-item clock) encodes smaller. */
#define GOSSIP_ENTRY_MIN_BYTES 24u

/* splitmix64's finalizer: spreads ids and hashes over table slots. */
static inline uint64_t gossip_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Fill (fill.c): peers one fill pulls from at once, each sending its
 * share of the buckets in parallel. 4: past that the puller's own merge
 * rate, not the senders, bounds a fill. */
#define GOSSIP_PULL_PEERS_MAX 4u
/* A peer's claims are released at once when it is no longer live, after
 * this many sync intervals without a REPAIR from it once it has sent us
 * one (5 s with the defaults), and after GOSSIP_SYNC_BUSY_MAX_INTERVALS if
 * it never has: a sender finishes the repairs queued before ours first (a
 * node that just took a bulk load has a long FIFO; 2 s was too short, and
 * the released buckets were sent twice), while a sender that dropped our
 * request (repair_jobs_dropped) must not hold up the fill for long. */
#define GOSSIP_PULL_STALL_INTERVALS 5u
/* A group digest in which at least this many of the 32 groups differ
 * means we are far behind (a new node, a wiped one, or a bulk load
 * elsewhere): start a fill. Half the groups: a burst of a few hundred
 * keys touches fewer, a node that missed thousands of writes all. */
#define GOSSIP_FILL_MIN_GROUPS 16u
/* Repair without a rate cap (repair_bytes_per_tick 0): at most this many
 * bytes are encoded per call (one frame, a fraction of a millisecond of
 * work, so client requests interleave; sync.c, repair_pump), and at most
 * GOSSIP_REPAIR_QUEUE_MAX_BYTES wait in the driver's stream queue
 * (backpressure: a receiver slower than us makes our queue full, and we
 * stop listing until it drains). 4 MiB: a few ms of loopback or 10 GbE,
 * and 16 frames of GOSSIP_FRAME_TARGET; per peer being repaired. */
#define GOSSIP_REPAIR_SLICE_BYTES (64u * 1024u)
#define GOSSIP_REPAIR_QUEUE_MAX_BYTES (4u * 1024u * 1024u)

/* ----------------------------------------------------------- suspicion */

/* Lifeguard suspicion timer (Dasgupta et al. 2017; memberlist suspicion.go):
 * starts at max_ms and falls toward min_ms as independent confirmations
 * arrive: timeout = max(min, max - (max - min) * log(n+1) / log(k+1)). */
struct gossip_suspicion {
    uint64_t start_ms;
    uint64_t min_ms, max_ms;
    uint32_t k; /* confirmations wanted to reach min_ms */
    uint32_t n; /* confirmations seen (not counting the first accuser) */
    uint32_t nconf;
    uint64_t confirmers[GOSSIP_CONFIRM_MAX]; /* ids that accused, first included */
};

void suspicion_start(struct gossip_suspicion *s, uint64_t from_id, uint32_t k, uint64_t min_ms,
                     uint64_t max_ms, uint64_t now_ms);
/* Returns true if from_id is a new, counted confirmation. */
bool suspicion_confirm(struct gossip_suspicion *s, uint64_t from_id);
/* Absolute time at which the suspect is declared dead. */
uint64_t suspicion_deadline_ms(const struct gossip_suspicion *s);
/* memberlist suspicionTimeout: mult * max(1, log10(max(1, n))) * interval. */
uint64_t suspicion_min_timeout_ms(uint32_t mult, size_t n, uint32_t interval_ms);

/* ------------------------------------------------------------ members */

/* One member: 40 bytes, what a node has to hold about a peer (a node keeps
 * N of them: 10^8 in a 10,000-node simulation): id, incarnation, state and
 * since when (the reclaim timer), the highest HLC it advertised (the
 * tombstone GC bound), and a handle to its "name\0addr\0" in the string
 * pool (names.c), whose lengths (<= WIRE_MAX_NAME 128 and WIRE_MAX_ADDR 64)
 * fit a byte each. A SUSPECT member's Lifeguard timer lives in the
 * suspects table (suspicion_of), not here: few members are ever suspect.
 * Pool strings never move, so member_name/member_addr pointers are valid
 * until that member's strings change or it is removed. */
struct gossip_member {
    uint64_t id;
    uint64_t incarnation;
    uint64_t state_since_ms;
    uint64_t last_hlc; /* highest sender HLC it advertised (GC bound) */
    uint32_t str;      /* handle in g->names */
    uint8_t state;     /* enum gossip_member_state */
    uint8_t name_len, addr_len;
};
_Static_assert(sizeof(struct gossip_member) == 40, "member record size (memory per pair)");

/* names.c: the string pool (gossip.h, gossip_names_new). Handles are
 * nonzero; 0 means "could not intern" (out of memory, or too long). */
uint32_t names_intern(struct gossip_names *p, const char *name, size_t name_len, const char *addr,
                      size_t addr_len);
/* Drop one reference; the last one frees the entry. */
void names_release(struct gossip_names *p, uint32_t h);
const char *names_str(const struct gossip_names *p, uint32_t h);

static inline const char *member_name(const struct gossip *g, const struct gossip_member *m);
static inline const char *member_addr(const struct gossip *g, const struct gossip_member *m);

/* ----------------------------------------------------------- spreading */

enum spread_kind {
    SPREAD_MEMBER, /* a membership update about member id */
    SPREAD_DATA,   /* a copy of an entry */
};

struct spread_item {
    struct spread_item *tx_prev, *tx_next;   /* list tx[transmits] */
    struct spread_item *age_prev, *age_next; /* oldest first */
    struct spread_item *hnext;               /* hash chain */
    uint64_t hash;
    uint32_t transmits;
    uint32_t size_hint; /* conservative encoded bytes */
    uint64_t stamp;     /* fill pass that last sent it (one copy per datagram) */
    /* SPREAD_MEMBER: the member and who raised the update (SUSPECT/DEAD);
     * member_pos is a hint (members[] index), checked before use */
    uint64_t member_id, from_id;
    size_t member_pos;
};

/* A data item: the queue links plus an owned copy of the entry, whose key
 * and value point into the allocation's tail. Member items are a bare
 * struct spread_item (~100 bytes instead of ~280 per queued update). */
struct spread_data_item {
    struct spread_item it; /* first: a data item's spread_item * is its address */
    struct entry e;
};

static inline struct entry *spread_item_entry(struct spread_item *it)
{
    return &((struct spread_data_item *)it)->e;
}

/* A transmit-limited queue (memberlist TransmitLimitedQueue): items are sent
 * fewest-transmits first (newest first among equals); each is dropped after
 * `limit` sends; a newer item with the same key replaces the queued one. */
struct spread_queue {
    enum spread_kind kind;
    struct spread_item *tx[GOSSIP_TX_LISTS];
    struct spread_item *age_head, *age_tail;
    struct spread_item **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    size_t max_count;
    uint64_t dropped; /* dropped because the queue was full (oldest, or
                       * all of them and the refused ones: overflow) */
    bool refuse_when_full; /* spread_data answers GKV_ELIMIT instead of
                            * dropping the oldest (the data queue) */
};

/* ---------------------------------------------------------- probing */

struct gossip_probe {
    bool active;
    bool acked;
    bool indirect_sent;
    uint64_t target_id;
    uint32_t seq;
    uint64_t sent_ms;
    uint64_t direct_deadline_ms; /* probe timeout: then ping-req */
    uint64_t end_ms;             /* probe interval: then suspect */
    uint32_t expected_nacks, nacks;
};

struct gossip_relay {
    bool used;
    uint32_t seq;        /* the seq we used pinging the target */
    uint32_t origin_seq; /* the seq the asker used */
    uint64_t target_id;
    uint64_t deadline_ms;
    uint64_t origin_id; /* the asker (its ACK/NACK are sealed for it) */
    char origin_addr[WIRE_MAX_ADDR + 1];
};

/* --------------------------------------------------------- anti-entropy */

struct gossip_repair_job {
    uint64_t peer_id; /* who asked: the repair is sealed for it */
    char addr[WIRE_MAX_ADDR + 1];
    uint32_t bucket;
    /* A half-sent bucket resumes at the first entry whose placement hash
     * is >= from_hash (store_bucket_scan_from: O(log n + sent) per tick).
     * It resumed by counting entries once, re-listing everything already
     * sent: O(n^2 / budget) lookups for a bucket of n entries, which a
     * client can fill by choosing keys (entry_bucket is public), and an
     * insert before the resume point made it skip an unsent entry. */
    uint64_t from_hash;
    bool started; /* some of it was sent: no longer merged with new requests */
};

/* store_bucket_scan lists one bucket in O(entries of the bucket) through
 * the store's bucket index, but each entry costs a random lookup (index
 * word, slot, record). When at least GOSSIP_SWEEP_MIN_BUCKETS jobs for one
 * peer wait, they are taken out of the FIFO into one sweep: a single
 * store_scan pass over the table that sends the entries of every requested
 * bucket (after a write burst every bucket differs: one pass over the
 * table is no dearer than 1024 sets of random lookups and cheaper on large
 * stores: 188-197 vs 164-212 ms at 1M keys, 3.2-3.3 vs 3.5-4.0 s at 10M,
 * "Bucket scans" in `git show 383e9cc:docs/BENCHMARKS.md`). 8 dates from
 * when one bucket cost a whole-table read; with the index, per-bucket
 * scans stay cheaper than a sweep up to several hundred buckets, so this
 * could be far higher. Below it a half-sent bucket's resume point is
 * exact. */
#define GOSSIP_SWEEP_MIN_BUCKETS 8u
/* Slots' worth of the table visited per store_scan call of a sweep (a
 * step that runs out of budget is resumed next tick, so this only sizes
 * the work between cursor moves). */
#define GOSSIP_SWEEP_STEP_SLOTS 1024u
struct gossip_repair_sweep {
    bool active;
    uint64_t peer_id;
    char addr[WIRE_MAX_ADDR + 1];
    uint64_t cursor; /* store_scan position */
    /* Entries of the current step already visited. A step is one
     * store_scan call over GOSSIP_SWEEP_STEP_SLOTS homes, so a resume
     * re-visits at most one step's entries per tick (O(step), not a
     * re-listing of everything sent). Counting is exact while the step's
     * slots do not change between ticks; a write or a migration step in
     * its hash range can shift it, so an entry may be skipped until the
     * next anti-entropy round (store_scan gives no resume point inside a
     * step). */
    uint32_t skip;
    uint32_t nbuckets;
    uint64_t want[STORE_BUCKETS / 64]; /* requested buckets */
};

/* A fill's claims (fill.c): owner[b] is 0 or the index + 1 of the peer
 * in peers[] bucket b is pulled from, want_hash[b] that peer's leaf when
 * it was claimed. */
struct gossip_pull_peer {
    uint64_t id;
    uint64_t last_rx_ms; /* last REPAIR from it (or when first claimed) */
    bool heard;          /* it has sent us a REPAIR since the slot was taken */
    uint32_t nclaimed;   /* 0: the slot is free */
};
struct gossip_pull {
    struct gossip_pull_peer peers[GOSSIP_PULL_PEERS_MAX];
    uint8_t owner[STORE_BUCKETS];
    uint64_t want_hash[STORE_BUCKETS];
    uint64_t started_ms;
    uint64_t last_change_ms; /* the last claim or bucket left over a share */
    bool claimed, skipped;   /* a claim was made; a bucket was left over a share */
    uint32_t buckets_done;
    uint64_t bytes, entries; /* REPAIR payload received during the fill */
    bool fill;               /* we are far behind (else: claims only) */
    bool offers_due;         /* fill_tick sends the pull offers */
    uint64_t offers_except_id;
};

/* Push after pull. In a session the responder B both pulls the initiator
 * A's entries of the differing buckets (BUCKET_REQ) and pushes its own to
 * A. After a write burst on A every bucket differs and B's side is simply
 * older: its push shipped the keyspace back to A for nothing (in the
 * 3-node client_bench, 100,000 entries from each peer merged and lost on
 * the writer during the next benchmark phase). So B holds its push until
 * A's repair has arrived (at least a sync interval after the request, and
 * GOSSIP_PUSH_QUIET_INTERVALS gossip intervals after the last REPAIR from
 * A, at most GOSSIP_SYNC_BUSY_MAX_INTERVALS sync intervals), then pushes
 * only the buckets whose hash is not the one A advertised: a bucket that
 * now hashes to A's digest holds exactly what A held, and A only moves
 * forward. One wait per peer (by node id: A's REPAIR frames arrive on a
 * stream whose address is not A's gossip address), at most
 * GOSSIP_PUSH_WAITS_MAX; beyond that a push goes out at once, as before. */
#define GOSSIP_PUSH_QUIET_INTERVALS 2u
/* Only a bulk difference waits: at least this many of a group's 32 leaves
 * differ in one digest message (half: 43 writes made during a partition
 * touch ~1.3 leaves per group and are pushed at once, as a delayed push
 * made their heal 0.6 s slower in test_sim_partition and sim_broadcast's
 * partition median 1.56 -> 1.99 s; a burst or a wiped node differs in all
 * 32). */
#define GOSSIP_PUSH_DEFER_MIN_LEAVES 16u
#define GOSSIP_PUSH_WAITS_MAX 8u
struct gossip_push_wait {
    uint64_t peer_id;
    char addr[WIRE_MAX_ADDR + 1]; /* where the push goes (the digest's source) */
    uint64_t created_ms;
    uint64_t last_rx_ms; /* last REPAIR from the peer (0: none yet) */
    uint64_t want[STORE_BUCKETS / 64];
    uint64_t peer_hash[STORE_BUCKETS]; /* the peer's leaf hashes from its digest */
};

/* ---------------------------------------------------------- clocks */

/* Peers whose clock offsets a node keeps (clock.c): the median of 32 is
 * robust, and the table is 3.3 KiB, allocated on the first sample. */
#define GOSSIP_CLOCK_PEERS_MAX 32u
/* Samples per peer; the one with the shortest round trip is used (NTP's
 * clock filter keeps 8 at 64 s polls; SWIM probes a peer every N seconds,
 * so 4 keeps the filter's memory in the tens of seconds). */
#define GOSSIP_CLOCK_WINDOW 4u
struct gossip_clock_peer {
    uint64_t id;
    uint64_t last_ms; /* protocol time of the last sample */
    uint64_t samples;
    int64_t off_ms[GOSSIP_CLOCK_WINDOW]; /* peer minus us */
    uint64_t at_ms[GOSSIP_CLOCK_WINDOW]; /* protocol time it was taken */
    uint32_t rtt_ms[GOSSIP_CLOCK_WINDOW];
    uint32_t n, pos;
    int64_t offset_ms; /* filtered: the sample with the shortest round trip */
    uint32_t rtt_best_ms;
};
struct gossip_clock {
    struct gossip_clock_peer peers[GOSSIP_CLOCK_PEERS_MAX];
    uint32_t npeers;
    uint32_t measured; /* peers in the last median */
    int64_t offset_ms; /* us minus the median of the peers and us */
    uint64_t next_update_ms;
    uint64_t samples, samples_dropped, steps;
    uint64_t jumps_seen; /* peers' clock jumps seen in a PING */
};

/* Extra counters not in the public struct (copied out by gossip_stats). */

/* ------------------------------------------------------------- gossip */

struct gossip {
    struct gossip_config cfg; /* defaults applied; name/addr point into self */
    struct store *store;
    struct seal_ctx *seal;
    struct gossip_io io;
    struct gkv_rng rng;
    /* Two clocks from the one now_ms the driver passes. wall_ms is the last
     * value given (Unix ms): for the store and the HLC. now_ms is protocol
     * time: it advances by forward steps of wall_ms only, so a wall clock
     * stepped back (NTP) neither freezes the timers until it catches up nor
     * runs them backwards. All timers and deadlines use now_ms. */
    uint64_t now_ms;
    uint64_t wall_ms;
    bool leaving;

    /* membership */
    struct gossip_names *names;     /* cfg.names, or own_names */
    struct gossip_names *own_names; /* NULL when the driver lends a pool */
    struct gossip_member *members;  /* [0] = self */
    size_t nmembers, members_cap;
    /* id -> index in members[] + 1, 0 = empty (open addressing, load <=
     * 3/4: linear probing then averages ~2.5 slots a hit, and 10,000
     * members take 16,384 slots instead of 32,768). 4 bytes a slot, not
     * 16: a node keeps one per member (10^8 of them in a 10,000-node
     * simulation); a lookup compares members[pos].id, which the caller
     * reads next anyway. */
    uint32_t *idx;
    size_t idx_cap;
    /* probe order: positions in members[], shuffled per pass (4 bytes,
     * not an 8-byte id: member_remove renumbers the one member it moves) */
    uint32_t *order;
    size_t order_n, order_pos, order_cap;
    uint64_t *suspects; /* ids of SUSPECT members */
    struct gossip_suspicion *susps; /* susps[i]: the timer of suspects[i] */
    size_t nsuspects, suspects_cap;
    size_t reclaim_pos;
    uint32_t awareness; /* Lifeguard local health score, < GOSSIP_AWARENESS_MAX */
    struct gossip_probe probe;
    struct gossip_clock *clk; /* clock.c; NULL until the first sample */
    struct gossip_relay *relays; /* GOSSIP_RELAYS_MAX slots, allocated on the
                                  * first PING_REQ (26 KiB a healthy node may
                                  * never need) */
    size_t nrelays;              /* slots in use */
    bool quiet;     /* applying a STATE reply as a fresh joiner: learn, do not re-broadcast */
    uint64_t join_reply_until_ms; /* STATE replies before this answer our JOIN sent alone */
    bool rx_stream; /* the packet being processed came as a stream frame */
    uint32_t next_seq;
    char *seeds[GOSSIP_SEEDS_MAX];
    size_t nseeds;

    /* timers (absolute ms) */
    uint64_t next_probe_ms, next_gossip_ms, next_sync_ms, next_reconnect_ms, next_join_ms;
    uint64_t next_pushpull_ms;
    uint64_t next_gc_ms;

    /* dissemination */
    struct spread_queue mq; /* membership updates */
    struct spread_queue dq; /* data deltas */
    uint64_t fill_stamp;

    /* anti-entropy */
    struct gossip_repair_job *jobs; /* FIFO: jobs[jobs_head .. jobs_head + jobs_count) */
    size_t jobs_head, jobs_count, jobs_cap;
    struct gossip_repair_sweep sweep;
    struct gossip_push_wait *push_waits[GOSSIP_PUSH_WAITS_MAX]; /* heap, 8.3 KiB each */
    size_t npush_waits;
    uint8_t *arena; /* copies of entries batched for one REPAIR message */
    size_t arena_cap;
    uint64_t gc_bound;         /* cached sync_gc_bound() */
    uint64_t sync_deferred_ms; /* how long the current round waited for the data queue */
    uint64_t sync_dropped_seen; /* dq.dropped at the last offer: more means "dirty" */
    uint64_t burst_dropped_seen; /* dq.dropped at the last burst check */
    uint64_t burst_queued;       /* deltas queued since the last burst check */
    uint64_t next_burst_check_ms;
    uint64_t last_burst_ms;  /* when a burst was last seen (0: never) */
    uint64_t burst_start_ms; /* when the current burst began */
    bool burst_seen;         /* last_burst_ms is valid */
    /* The data queue overflowed during the current burst: it was cleared
     * and deltas are not queued until the burst ends (see spread_entry). */
    bool dq_overflow;
    uint64_t last_offer_ms;  /* our last anti-entropy offer */
    uint64_t last_answer_ms; /* our last answer to a root offer that differed */
    uint64_t next_repair_ms;
    uint64_t next_gc_bound_ms;
    bool repair_blocked;      /* the last pump stopped on a full stream queue */
    struct gossip_pull *pull; /* fill.c: the claims of a fill, NULL when none */
    struct gossip_fill last_fill;
    bool fill_initial; /* cfg.fill_on_start, until in sync or filled */
    bool fill_first_offer; /* fill_initial: the first offer went out at once */

    /* scratch (reused; wire_msg is ~50 KiB): rx, tx, ebuf and picked point
     * into cfg.scratch when the driver lends one, else into own_scratch */
    struct gossip_scratch *own_scratch;
    struct wire_msg *rx;
    struct wire_msg *tx;
    struct entry *ebuf; /* WIRE_MAX_ENTRIES_MSG entries for packing */
    struct spread_item **picked;
    uint8_t *pt;     /* plaintext datagram being built, cfg.mtu */
    uint8_t *sealed; /* sealed datagram, cfg.mtu + seal_overhead() */
    uint8_t *rxbuf;  /* opened plaintext of a received datagram */
    size_t rxbuf_cap;
    uint8_t *fbuf; /* stream frame plaintext, lazily allocated */
    size_t fbuf_cap;
    uint8_t *fsealed;
    size_t fsealed_cap;
    char info_name[WIRE_MAX_NAME + 1];

    struct gossip_stats st;
};

static inline const char *member_name(const struct gossip *g, const struct gossip_member *m)
{
    return names_str(g->names, m->str);
}

static inline const char *member_addr(const struct gossip *g, const struct gossip_member *m)
{
    return member_name(g, m) + m->name_len + 1;
}

/* The Lifeguard timer of a SUSPECT member (NULL if id is not suspect). */
struct gossip_suspicion *suspicion_of(const struct gossip *g, uint64_t id);

/* The work buffers (gossip.h, gossip_scratch_new). picked[] serves both
 * spread fills (WIRE_MAX_MSGS_DATAGRAM) and entry batches. */
#define GOSSIP_PICKED_MAX                                                                        \
    (WIRE_MAX_ENTRIES_MSG > WIRE_MAX_MSGS_DATAGRAM ? WIRE_MAX_ENTRIES_MSG : WIRE_MAX_MSGS_DATAGRAM)
struct gossip_scratch {
    struct wire_msg rx;
    struct wire_msg tx;
    struct entry ebuf[WIRE_MAX_ENTRIES_MSG];
    struct spread_item *picked[GOSSIP_PICKED_MAX];
};

/* -------------------------------------------------------- clock.c */

/* An ACK that may carry round-trip times: take a clock sample. */
void clock_on_ack(struct gossip *g, const struct wire_msg *m);
/* A PING's send time: a jump of the sender's clock restarts its record. */
void clock_on_ping(struct gossip *g, const struct wire_msg *m);
/* Recompute the median offset and the HLC correction. */
void clock_update(struct gossip *g);
/* Refresh the median once a probe interval (members change state). */
void clock_tick(struct gossip *g);
void clock_free(struct gossip *g);

/* ------------------------------------------------------- gossip.c */

/* Advance the clocks to the driver's now_ms (see struct gossip). */
void gossip_clock(struct gossip *g, uint64_t now_ms);
/* Our HLC for stamping messages (never mutates the store's clock). */
uint64_t gossip_hlc_now(const struct gossip *g);
/* Seal the plaintext in enc for node to_id and send it to addr as a
 * datagram. to_id 0 (any receiver) only for JOIN/STATE to a seed. */
void gossip_send_datagram(struct gossip *g, uint64_t to_id, const char *addr,
                          struct wire_encoder *enc);
/* Seal and send a stream frame (io.stream_send_cb must be set). */
void gossip_send_frame(struct gossip *g, uint64_t to_id, const char *addr, const uint8_t *pt,
                       size_t len);
/* Start a datagram in g->pt. */
void gossip_dgram_begin(struct gossip *g, struct wire_encoder *enc);
/* Fill a header for a message of type t from us. */
void gossip_msg_init(struct gossip *g, struct wire_msg *m, uint8_t type);
/* A stream frame buffer of at least cap bytes (NULL if out of memory). */
uint8_t *gossip_frame_buf(struct gossip *g, size_t cap);
/* Free the frame buffers (64 KiB to 1 MiB each): frames are occasional (a
 * state exchange every push-pull period, a repair, a large delta), so an
 * idle core keeps none; with 1000 simulated nodes that is 128 MB. */
void gossip_frame_release(struct gossip *g);
/* Merge one remote entry: counts, applied_cb, optional re-queue. */
void gossip_apply_entry(struct gossip *g, const struct entry *e, bool requeue, bool from_repair);
size_t gossip_retransmit_limit(const struct gossip *g);
/* The data queue's limit: max(retransmit_mult, data_retransmit_mult) *
 * ceil(log10(N + 1)), clamped like gossip_retransmit_limit. */
size_t gossip_data_retransmit_limit(const struct gossip *g);

/* sync.c: a write burst is happening now (see GOSSIP_BURST_DELTAS_PER_ROUND). */
void sync_note_burst(struct gossip *g);
/* sync.c: a burst was seen within the last GOSSIP_BURST_QUIET_INTERVALS
 * gossip intervals. */
bool sync_burst_active(const struct gossip *g);

/* ------------------------------------------- member.c, probe.c */

int member_table_init(struct gossip *g);
void member_table_free(struct gossip *g);
struct gossip_member *member_find(const struct gossip *g, uint64_t id);
/* Cache hints for a coming member_find(id): the first index slot, then
 * (once that slot is cached) the record it points to. No effect on state. */
void member_prefetch_slot(const struct gossip *g, uint64_t id);
void member_prefetch_record(const struct gossip *g, uint64_t id);
/* Live = ALIVE or SUSPECT (probed, gossiped to, counted in N). */
size_t member_live_count(const struct gossip *g);
/* Pick up to want distinct random live members other than self and except_id;
 * fills out[] with indexes, returns how many. */
size_t member_pick_random(struct gossip *g, size_t want, uint64_t except_id, size_t *out);
/* Apply a record (from ALIVE/SUSPECT/DEAD/LEAVE messages or STATE). type is
 * the wire message type that carried it; from_id the accuser. */
void member_apply(struct gossip *g, const struct wire_member *wm, uint8_t type, uint64_t from_id,
                  uint64_t sender_id);
/* The message type that describes m's current state. */
uint8_t member_msg_type(const struct gossip_member *m);
void member_fill_wire(const struct gossip *g, const struct gossip_member *m,
                      struct wire_member *wm);
/* Handle PING/PING_REQ/ACK/NACK. */
void member_on_ping(struct gossip *g, const char *src, const struct wire_msg *m);
void member_on_ping_req(struct gossip *g, const char *src, const struct wire_msg *m);
void member_on_ack(struct gossip *g, const struct wire_msg *m);
void member_on_nack(struct gossip *g, const struct wire_msg *m);
/* JOIN and STATE. */
void member_on_state(struct gossip *g, const char *src, const struct wire_msg *m);
/* Send our whole member list as JOIN/STATE messages to addr, in datagrams or
 * (via_stream and the driver has streams) in frames of GOSSIP_FRAME_TARGET,
 * sealed for node to_id (0: any receiver, for a seed whose id we do not
 * know). */
void member_send_state(struct gossip *g, uint64_t to_id, const char *addr, uint8_t type,
                       bool is_reply, bool via_stream);
/* Timers: probes, relays, suspicion, reclaim, join retry, reconnect. */
void member_tick(struct gossip *g);
uint64_t member_next_deadline(const struct gossip *g);
/* Refute a rumour about ourselves: bump and persist incarnation, gossip alive. */
void member_refute(struct gossip *g, uint64_t heard_incarnation);
int member_leave(struct gossip *g);
void member_set_state(struct gossip *g, struct gossip_member *m, uint8_t state,
                      uint64_t incarnation);
/* For probe.c: drop member i from the table; queue m's state for
 * piggybacking (from_id: who told us); apply a SUSPECT rumour. */
void member_remove(struct gossip *g, size_t i);
void member_broadcast(struct gossip *g, const struct gossip_member *m, uint64_t from_id);
void member_on_suspect(struct gossip *g, const struct wire_member *wm, uint64_t from_id);

/* ------------------------------------------------------- spread.c */

void spread_init(struct spread_queue *q, enum spread_kind kind, size_t max_count);
void spread_free(struct spread_queue *q);
/* Queue (or replace) the update about member id (at members[pos]). */
int spread_member(struct spread_queue *q, uint64_t member_id, uint64_t from_id, size_t pos);
/* Queue a copy of e, replacing a queued older version of the same key.
 * A full queue drops its oldest item, or (refuse_when_full) refuses a new
 * key with GKV_ELIMIT and queues nothing. */
int spread_data(struct spread_queue *q, const struct entry *e, size_t size_hint);
/* Drop every queued item (counted in q->dropped); returns how many. */
size_t spread_clear(struct spread_queue *q);
/* Pack queued items into enc: membership first up to a third of the budget,
 * then data, then membership again with what is left. Returns messages added. */
uint32_t spread_fill(struct gossip *g, struct wire_encoder *enc);
/* Estimated encoded size of one entry in a DELTAS message. */
/* Exact encoded bytes of e inside a DELTAS/REPAIR message (wire.h); a
 * message adds at most WIRE_ENTRIES_OVERHEAD_MAX. */
size_t spread_entry_size(const struct entry *e);

/* ------------------------------------------------------- sync.c */

int sync_init(struct gossip *g);
void sync_free(struct gossip *g);
void sync_tick(struct gossip *g);
void sync_on_digest(struct gossip *g, const char *src, const struct wire_msg *m);
void sync_on_bucket_req(struct gossip *g, const char *src, const struct wire_msg *m);
void sync_on_repair(struct gossip *g, const struct wire_msg *m);
uint64_t sync_next_deadline(const struct gossip *g);
/* Send our group hashes (DIGEST bits=5): the peer answers with the leaves
 * that differ, and we pull from it (a pull offer). */
void sync_send_groups(struct gossip *g, uint64_t to_id, const char *addr);

/* ------------------------------------------------------- fill.c */

/* May we request bucket b from peer_id (whose leaf is peer_hash)? bulk: the
 * session shows a bulk difference (starts a fill). Claims it if so. */
bool fill_claim(struct gossip *g, uint64_t peer_id, uint32_t b, uint64_t peer_hash, bool bulk);
/* A digest showed `differing` buckets (or groups) differ, of which we hold
 * nothing in ours_empty: perhaps far behind (starts a fill). */
void fill_note_behind(struct gossip *g, uint32_t differing, uint32_t ours_empty,
                      uint64_t except_id);
/* A REPAIR from peer_id arrived (progress, keeps its claims alive). */
void fill_on_repair(struct gossip *g, uint64_t peer_id, const struct wire_msg *m);
/* A peer's root offer matched ours. */
void fill_in_sync(struct gossip *g);
void fill_tick(struct gossip *g);
void fill_free(struct gossip *g);
/* Tombstone GC: min over live members of their advertised HLC, minus margin. */
uint64_t sync_gc_bound(const struct gossip *g);

#endif
