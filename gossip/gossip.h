/*
 * gossip.h: the sans-IO gossip core (public API of gossip/).
 *
 * One struct gossip per node. It owns SWIM membership, write dissemination
 * and anti-entropy for one store. It never touches a socket, a clock or
 * rand(): the driver (node/ with libuv, or tests/sim with a virtual clock)
 *   - feeds it received datagrams with gossip_recv() and stream frames with
 *     gossip_recv_stream(),
 *   - calls gossip_tick() with the current time (every ~10 ms is plenty;
 *     the core runs its own probe/gossip/sync intervals off now_ms),
 *   - hands it local writes with gossip_local_write(),
 *   - and carries out what the core asks through struct gossip_io.
 * Every byte the core emits is already sealed (seal.h), so the simulator runs
 * the real codec and the real crypto.
 */
#ifndef GKV_GOSSIP_GOSSIP_H
#define GKV_GOSSIP_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/seal.h"
#include "gossip/wire.h"
#include "storage/store.h"

struct gossip;

/* Addresses are opaque text ("127.0.0.1:7946", "[::1]:7946", or a simulator
 * name): the core never parses them, only stores, compares and hands them
 * back to the driver. At most WIRE_MAX_ADDR bytes. */

enum gossip_member_state {
    GOSSIP_ALIVE = WIRE_STATE_ALIVE,
    GOSSIP_SUSPECT = WIRE_STATE_SUSPECT,
    GOSSIP_DEAD = WIRE_STATE_DEAD,
    GOSSIP_LEFT = WIRE_STATE_LEFT,
};

struct gossip_member_info {
    uint64_t id;
    const char *name; /* NUL-terminated, borrowed until the next gossip call */
    const char *addr;
    enum gossip_member_state state;
    uint64_t incarnation;
    uint64_t state_since_ms; /* protocol time of the last state change (the
                              * driver's now_ms, minus any backward steps) */
};

/* What the driver does for the core. Each call must not re-enter the core. */
struct gossip_io {
    void *data;
    /* Send one sealed datagram to addr (fire and forget; the driver may drop). */
    void (*send_cb)(void *data, const char *addr, const uint8_t *buf, size_t len);
    /* Send one sealed frame over a stream to addr (TCP for the node); the
     * driver opens/reuses the connection and delivers frames in order or
     * not at all. A frame sent to the address a frame came from must reach
     * that peer (node/ answers on the incoming stream). May be NULL: the
     * core then uses datagrams only (entries larger than a datagram then
     * cannot replicate; counted in deltas_too_large). */
    void (*stream_send_cb)(void *data, const char *addr, const uint8_t *buf, size_t len);
    /* A member changed state (may be NULL). */
    void (*member_cb)(void *data, const struct gossip_member_info *m);
    /* A remote version was merged into the store and won (may be NULL). */
    void (*applied_cb)(void *data, const struct entry *e);
    /* Bytes queued toward addr's stream and not yet taken by the network
     * (0 when no stream is open). May be NULL. Repair without a rate cap
     * stops listing while this is GOSSIP_REPAIR_QUEUE_MAX_BYTES or more:
     * the receiver's pace (TCP flow control) is the repair rate. */
    size_t (*stream_queued_cb)(void *data, const char *addr);
};

struct gossip_config {
    const char *name;     /* this node's name (copied) */
    const char *addr;     /* this node's advertised address (copied) */
    uint64_t node_id;     /* nonzero, unique in the cluster */
    uint64_t epoch;       /* sender epoch for sealing; must grow across restarts */
    uint64_t incarnation; /* starting SWIM incarnation (persisted by the store) */
    uint64_t seed;        /* PRNG seed: every random choice comes from it */
    size_t mtu;           /* datagram plaintext budget; 0 = WIRE_MTU_DEFAULT */
    /* SWIM / Lifeguard (memberlist LAN defaults when 0) */
    uint32_t probe_interval_ms;     /* 1000 */
    uint32_t probe_timeout_ms;      /* 500 */
    uint32_t indirect_checks;       /* k = 3 */
    uint32_t suspicion_mult;        /* 4 */
    uint32_t suspicion_max_mult;    /* 6 */
    uint32_t gossip_interval_ms;    /* 200 */
    uint32_t gossip_fanout;         /* 3 */
    uint32_t retransmit_mult;       /* lambda = 4: sends per delta ~ lambda*log(N+1) */
    uint32_t sync_interval_ms;      /* anti-entropy offer period; 0 = 1000 */
    uint32_t reconnect_interval_ms; /* one STATE push to a dead member or seed
                                     * (scaled past 32 members); 0 = 2000 */
    uint32_t dead_reclaim_ms;       /* forget dead members after this (0 = 24 h) */
    uint32_t max_members;           /* 0 = 100000 */
    uint32_t max_queued_deltas;     /* 0 = 65536; overflow clears it until the burst ends, counted */
    uint32_t repair_bytes_per_tick; /* repair rate cap, bytes per 10 ms; 0 = no cap
                                     * (backpressure from the stream) */
    /* Appended (converge): data deltas are sent
     * max(retransmit_mult, data_retransmit_mult) * ceil(log10(N + 1)) times
     * per holder; 0 = 8. A rumour misses a node with probability about
     * e^-(sends per holder), and deltas share datagrams, so doubling their
     * budget costs bytes, not datagrams (docs/GOSSIP.md, "Dissemination"). */
    uint32_t data_retransmit_mult;
    /* Push-pull with one random live member, scaled past 32 members as
     * memberlist's PushPullInterval; 0 = 30000. */
    uint32_t pushpull_interval_ms;
    /* true turns Lifeguard off (docs/GOSSIP.md, "Lifeguard"): no local
     * health score (probe timeouts unscaled), a fixed suspicion timeout
     * (no confirmations shortening), no buddy system. false (the zero
     * value) = on. For experiments comparing SWIM with and without it. */
    bool lifeguard_off;
    /* Work buffers to borrow (see gossip_scratch_new); NULL = the core
     * allocates its own. */
    struct gossip_scratch *scratch;
    /* The store starts behind the cluster (empty, joining): gossip_fill
     * reports initial = true until an anti-entropy offer finds us in sync
     * or the fill it starts ends (node/ refuses reads meanwhile). */
    bool fill_on_start;
    /* Member strings pool to borrow (see gossip_names_new); NULL = the
     * core keeps its own. */
    struct gossip_names *names;
};

/* The work buffers a core uses only while one of its functions runs: a
 * decoded and an encoded message and an entry batch (~120 KiB, nearly all
 * of a fresh core's memory). By default each core owns a set. A driver
 * that runs many cores in one thread (the simulator: 10,000 cores would
 * hold 1.2 GB of them) may create one set and pass it to all of them in
 * gossip_config.scratch. Then no two of those cores may run at the same
 * time, and no callback of one may call into another (a callback that
 * queues work, as the simulator's do, is fine). The driver owns the set and
 * frees it after the last core that borrows it. */
struct gossip_scratch;
int gossip_scratch_new(struct gossip_scratch **out); /* 0 or GKV_ENOMEM */
void gossip_scratch_free(struct gossip_scratch *s);

/* The pool of member names and addresses: each distinct "name\0addr\0"
 * once, reference-counted (gossip/names.c). By default each core owns one.
 * A driver that runs many cores in one thread (the simulator) may create
 * one pool and pass it to all of them in gossip_config.names, so the N
 * views of a member share its strings (the same rule as the scratch: no
 * two of those cores run at the same time). The driver frees it after the
 * last core that borrows it. */
struct gossip_names;
int gossip_names_new(struct gossip_names **out); /* 0 or GKV_ENOMEM */
void gossip_names_free(struct gossip_names *p);
size_t gossip_names_count(const struct gossip_names *p); /* distinct strings held */
size_t gossip_names_bytes(const struct gossip_names *p); /* memory it holds */

void gossip_config_init(struct gossip_config *cfg);
/* out = cfg with every zero field that has a default replaced by it: the
 * values a core created from cfg runs with (out may be cfg). */
void gossip_config_resolve(const struct gossip_config *cfg, struct gossip_config *out);

/* Create a core. store and seal are borrowed and must outlive it; io and
 * cfg (name and addr included) are copied. The starting incarnation is
 * max(cfg->incarnation, store_incarnation(store)). Design, timers and
 * formulas: docs/GOSSIP.md. */
int gossip_new(const struct gossip_config *cfg, struct store *store, struct seal_ctx *seal,
               const struct gossip_io *io, uint64_t now_ms, struct gossip **out);
void gossip_free(struct gossip *g);

/* Join through seeds (addresses; copied). Seeds are re-contacted periodically
 * while the cluster looks partitioned, so this is safe to call once at start.
 * Our own address and duplicates are skipped. Returns GKV_EINVAL if a seed
 * was empty or longer than WIRE_MAX_ADDR, GKV_ELIMIT past GOSSIP_SEEDS_MAX
 * (64) seeds: the valid ones are used all the same. */
int gossip_join(struct gossip *g, const char *const *seeds, size_t n, uint64_t now_ms);

/* Restore one member from a snapshot of a previous view, the way Serf's
 * snapshot file refills memberlist on restart (or a simulator forms a large
 * cluster without an N^2 join storm). A member this core does not know is
 * inserted ALIVE at `incarnation`, exactly as a learned ALIVE record would
 * insert it (probe order, index, member_cb), except that it is not queued
 * for gossip: a snapshot is not news to the cluster. A known member is
 * raised to ALIVE at `incarnation` only if that is newer than what the core
 * holds (the usual precedence), else nothing changes. name and addr are
 * copied (addr non-empty, at most WIRE_MAX_ADDR; name at most
 * WIRE_MAX_NAME). Returns 0 when the view changed, GKV_EEXIST when the
 * member was already known at that incarnation or newer, GKV_EINVAL for a
 * bad argument or our own id, GKV_ELIMIT past max_members (counted in
 * members_limit_refused), GKV_ENOMEM. */
int gossip_restore_member(struct gossip *g, uint64_t id, const char *name, const char *addr,
                          uint64_t incarnation, uint64_t now_ms);

/* Announce a graceful leave (the caller keeps ticking for a short while so
 * it spreads, then frees the core). */
int gossip_leave(struct gossip *g, uint64_t now_ms);

/* A sealed datagram from src (the real UDP source address). Bad packets are
 * counted and dropped; the return value is informational. */
int gossip_recv(struct gossip *g, const char *src, const uint8_t *buf, size_t len, uint64_t now_ms);
/* A sealed stream frame from src. Returns 0 when the frame opened under the
 * cluster key and decoded (messages of unknown types, from newer peers, are
 * skipped and still 0): the driver may count the stream as authenticated
 * and active. GKV_EREPLAY: refused because its counter was seen or fell
 * behind the sender's replay window (on a stream that already
 * authenticated: a frame delayed behind many datagrams, not proof of an
 * attack). Any other negative code (seal_open's refusals, GKV_EINVAL,
 * GKV_ELIMIT, a decode error) is a bad frame: the driver should close the
 * stream (docs/PROTOCOL.md, "Sync streams"). */
int gossip_recv_stream(struct gossip *g, const char *src, const uint8_t *buf, size_t len,
                       uint64_t now_ms);

/* Advance timers: probes, suspicion timeouts, gossip rounds, anti-entropy.
 * now_ms is wall-clock Unix ms (the store's HLC needs it); if it steps
 * backwards the protocol timers neither freeze nor rewind: they only move
 * by forward steps (docs/GOSSIP.md, "Time"). */
int gossip_tick(struct gossip *g, uint64_t now_ms);

/* The milliseconds until the core next needs a tick (a hint for drivers). */
uint64_t gossip_next_deadline(const struct gossip *g, uint64_t now_ms);

/* A local write (already applied to the store) to disseminate. e is copied. */
int gossip_local_write(struct gossip *g, const struct entry *e, uint64_t now_ms);

/* Membership view. */
size_t gossip_member_count(const struct gossip *g);
/* i in [0, count); the first is this node. */
int gossip_member_get(const struct gossip *g, size_t i, struct gossip_member_info *out);
/* Look a member up by node id (GKV_ENOTFOUND if unknown). Strings borrowed
 * as for gossip_member_get. */
int gossip_member_find(const struct gossip *g, uint64_t id, struct gossip_member_info *out);
/* Does membership vouch for addr: is it the advertised address of a member
 * we know (in any state: dead members are re-contacted) or a configured
 * seed? A driver opens stream connections only to such addresses, never to
 * one it only saw as a packet's source (docs/ENVELOPE.md, "Receiver
 * binding"). O(members + seeds). Only reads: a driver may call it from
 * inside a gossip_io callback. */
bool gossip_addr_vouched(const struct gossip *g, const char *addr);

/* Clocks (docs/ARCHITECTURE.md, "Clocks"; design in gossip/clock.c). The
 * core measures each peer's clock from PING/ACK round trips and takes the
 * median of the members' that have not left and its own as the cluster's
 * time. */
struct gossip_clock_info {
    int64_t offset_ms;      /* this node minus the cluster's median (0 until measured) */
    uint64_t correction_ms; /* added to the HLC's wall time: a node behind the cluster */
    int64_t lead_ms;        /* how far a write stamped at now_ms would lead the cluster */
    uint64_t bound_ms;      /* the HLC bound (store max_clock_offset_ms) */
    uint32_t peers_measured; /* peers in the median */
    bool writes_refused;    /* lead_ms > bound_ms with a peer measured: a write
                             * stamped now would be refused by the peers */
    uint64_t samples;         /* round trips measured */
    uint64_t samples_dropped; /* round trip negative or over 1 s */
    uint64_t steps;           /* steps of our clock the driver reported */
    uint64_t peer_jumps;      /* peers' clock jumps seen in a PING */
};
void gossip_clock_get(const struct gossip *g, uint64_t now_ms, struct gossip_clock_info *out);

struct gossip_peer_clock {
    uint64_t id;
    int64_t offset_ms; /* the peer's clock minus ours (filtered) */
    uint32_t rtt_ms;   /* round trip of that sample: the error is at most half */
    uint64_t samples;
    uint64_t age_ms;   /* since the last sample */
    bool counted;      /* in the median (a member that has not left) */
};
size_t gossip_clock_peer_count(const struct gossip *g);
/* i in [0, count); GKV_ENOTFOUND past it. */
int gossip_clock_peer_get(const struct gossip *g, size_t i, struct gossip_peer_clock *out);
/* The driver's wall clock stepped by step_ms (seen against a monotonic
 * clock: an operator or NTP set it). The measured offsets move with it at
 * once instead of after the next round trips. */
void gossip_clock_stepped(struct gossip *g, int64_t step_ms);

struct gossip_stats {
    uint64_t datagrams_out, datagrams_in, bytes_out, bytes_in;
    uint64_t frames_out, frames_in, frame_bytes_out, frame_bytes_in;
    uint64_t msgs_in, msgs_out;
    uint64_t deltas_sent, deltas_received, deltas_applied;
    uint64_t deltas_dropped_queue_full;
    uint64_t digests_sent, digests_received, buckets_repaired;
    uint64_t repair_entries_sent, repair_entries_received, repair_bytes_sent;
    uint64_t probes_sent, acks_received, indirect_probes_sent;
    uint64_t suspicions_raised, refutations, deaths_declared;
    uint64_t decode_errors, unknown_types, clock_refused;
    uint64_t members_limit_refused;
    uint64_t incarnation;
    uint32_t alive, suspect, dead, left;
    /* Added by the core engineer (appended; the fields above keep their names).
     * Drops, one counter per reason: */
    uint64_t seal_refused;          /* seal_open refused (detail: seal_ctx_stats) */
    uint64_t sender_mismatch;       /* message sender id != sealed sender id */
    uint64_t own_packets;           /* a packet claiming to come from us */
    uint64_t wrong_target;          /* PING meant for another node id */
    uint64_t too_many_msgs;         /* datagram beyond WIRE_MAX_MSGS_DATAGRAM */
    uint64_t relay_table_full;      /* PING_REQ refused: GOSSIP_RELAYS_MAX pending */
    uint64_t repair_jobs_dropped;   /* anti-entropy jobs over the bound */
    uint64_t deltas_too_large;      /* entry larger than a datagram, no stream */
    uint64_t state_records_skipped; /* member record that fits no datagram */
    uint64_t stale_updates;         /* membership updates older than what we know */
    uint64_t unexpected_msgs;       /* well-formed but meaningless here (e.g. ACK for no probe) */
    uint64_t encode_errors;         /* our own message refused by the encoder (bug) */
    uint64_t merge_errors;          /* store_merge refused an entry (key size, full, I/O) */
    /* Activity: */
    uint64_t nacks_sent, nacks_received, acks_relayed, pings_received;
    uint64_t suspicion_confirmations; /* independent accusers counted */
    uint64_t members_reclaimed;       /* dead/left forgotten after dead_reclaim_ms */
    uint64_t joins_sent, joins_received, states_sent, states_received;
    uint64_t reconnects;          /* STATE pushes to a dead member or seed */
    uint64_t pushpulls;           /* periodic STATE pushes to a live member */
    uint64_t random_records_sent; /* ALIVE records of random members in leftover space */
    uint64_t leaves_received;
    uint64_t digests_in_sync; /* DIGEST offers whose root matched ours */
    uint64_t bucket_reqs_sent, bucket_reqs_received;
    uint64_t repair_frames_sent, delta_frames_sent;
    uint64_t tombstones_purged;
    uint64_t repair_retired_skipped; /* retired tombstones left out of repairs */
    uint64_t deltas_superseded;      /* queued deltas not sent: replaced, purged or retired */
    uint64_t gc_bound_hlc; /* last safe_below_hlc given to the store */
    uint32_t awareness;    /* Lifeguard local health score (0 = healthy) */
    uint32_t queued_member_updates, queued_deltas;
    /* Appended (converge): */
    uint64_t sync_offers_dirty; /* offers sent early/undeferred because deltas
                                 * were dropped from a full queue */
    uint64_t repair_jobs_merged; /* repair requests already queued (skipped) */
    uint64_t sync_offers_postponed_busy; /* our offer put off: a write burst here */
    uint64_t sync_offers_declined_busy;  /* a differing offer not answered: burst here */
    uint64_t repair_sweeps;              /* whole-table passes serving many buckets */
    /* Appended (nodeperf): */
    uint64_t data_queue_overflows; /* the full data queue was cleared (a burst
                                    * left to anti-entropy; deltas dropped are
                                    * in deltas_dropped_queue_full) */
    uint64_t repair_pushes_deferred; /* buckets whose push waited for the pull */
    uint64_t repair_pushes_skipped;  /* of those, caught up by the pull or sent
                                      * by a repair job: not pushed */
    uint64_t sync_offers_postponed_pull; /* our offer put off: a bulk repair
                                          * we asked for is still arriving */
    uint64_t repair_push_offers; /* held pushes that still differed: a session
                                  * offered to the peer instead */
    /* Appended (resume): */
    uint64_t repair_entries_listed; /* entries repair listings handed over: a
                                     * job's bucket listing, or every entry of
                                     * a sweep's table pass (what repair reads) */
    /* Appended (streams): */
    uint64_t deltas_dropped_nomem; /* a local write's delta not queued: no
                                    * memory (anti-entropy carries it) */
    uint64_t to_any_refused;       /* a message other than JOIN/STATE sealed for any
                                    * receiver (SEAL_FLAG_TO_ANY) */
    uint64_t sync_unvouched;       /* DIGEST/BUCKET_REQ ignored: the sender is not a
                                    * member at the packet's source address */
    /* Appended (catchup): fills (gossip/fill.c) */
    uint64_t fills_started, fills_done;
    uint64_t fill_pull_offers;              /* group digests sent to pull from a peer */
    uint64_t repair_pulls_claimed;          /* buckets requested under a claim */
    uint64_t repair_pulls_claimed_elsewhere; /* not requested: a claim has it coming */
    uint64_t repair_pulls_over_share;       /* not requested: that peer's share is full */
    uint64_t repair_pull_claims_released;   /* claims whose peer went quiet */
    uint64_t repair_blocked;                /* pumps stopped by a full stream queue */
    uint64_t sync_offers_postponed_fill;    /* our offer put off: we are filling */
};
void gossip_stats(const struct gossip *g, struct gossip_stats *out);

/* Fill state (gossip/fill.c): a node far behind pulls each differing
 * bucket from one peer. While active, buckets_total is what is claimed or
 * done; when not, the figures of the last fill (zero if none). */
struct gossip_fill {
    bool active;
    bool initial; /* cfg.fill_on_start and not yet in sync */
    uint32_t buckets_done, buckets_total;
    uint64_t bytes, entries; /* key + value bytes and entries received */
    uint64_t started_ms;     /* protocol time */
    uint64_t elapsed_ms;
};
void gossip_fill_state(const struct gossip *g, struct gossip_fill *out);
/* Repair work can run now (no cap and no full stream queue holds it): a
 * driver that ticks on a timer may call gossip_tick again at once. */
bool gossip_repair_ready(const struct gossip *g);

#endif
