/*
 * sim.h: the deterministic cluster simulator (tests/sim, bench/sim_*).
 *
 * One process, one thread, one seed. N nodes, each a REAL struct gossip over
 * a REAL struct store (anonymous memory) and a REAL seal_ctx: every datagram
 * is encoded by the real codec and sealed with XChaCha20-Poly1305 by the real
 * envelope. Only the world around them is simulated:
 *
 *   - a virtual clock (milliseconds since the simulation began); node i sees
 *     now_ms = SIM_EPOCH_MS + virtual time + its clock offset;
 *   - an event queue: a binary heap keyed by (time, sequence number), so two
 *     events at the same millisecond always run in the order they were queued;
 *   - a network: every datagram a core sends goes through a link model
 *     (latency = base + uniform jitter, loss, duplication; jitter reorders),
 *     and through the partition map (nodes in different groups cannot talk);
 *     stream frames arrive in order after the base latency, or are dropped
 *     when the link is partitioned;
 *   - failures: crash (drop the core; keep the store = restart on old data,
 *     or wipe it = rejoin from empty), restart (a new core with a higher
 *     sealing epoch and the incarnation persisted in the store), per-node
 *     clock offsets.
 *
 * Every random choice of the simulator comes from one gkv_rng seeded from the
 * seed; each core and store gets its own seed/secret derived from it. So the
 * same seed replays the same run, event for event: sim_event_log_hash() folds
 * every delivered datagram and frame (time, from, to, length, bytes) into a
 * 64-bit hash that two runs can compare.
 *
 * Scheduling: a node is ticked when its core asks (gossip_next_deadline,
 * floored at 1 ms and capped at SIM_TICK_MAX_MS), or every tick_ms if the
 * config fixes a period. A delivery that moves the deadline earlier re-arms
 * the tick; stale tick events are skipped by a per-node generation. That keeps
 * 10,000 idle nodes cheap: the cost follows the protocol's work, not N.
 *
 * Memory: struct sim owns every node, store, core, seal context and in-flight
 * packet; sim_free() releases all of it. Every core borrows the simulator's
 * one set of work buffers and one pool of member strings (gossip.h), so a
 * (node, member) pair costs the 40-byte member record and its index and
 * probe-order slots. Nothing here is thread-safe.
 *
 * Design anchors (read, not copied): canonical/raft's raft_fixture (step one
 * event at a time, step-until helpers, per-link network control) and
 * tarantool's swim test harness (fake event loop, run-until-status helpers).
 */
#ifndef GKV_TESTS_SIM_H
#define GKV_TESTS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "gossip/gossip.h"
#include "storage/store.h"

/* Node wall clocks start here (2023-11-14T22:13:20Z): HLCs hold Unix
 * milliseconds, and a node with a negative clock offset must not wrap. */
#define SIM_EPOCH_MS 1700000000000ull
/* Longest a node sleeps between ticks when its core asks for nothing sooner:
 * a safety net against a deadline hint that is too lazy. */
#define SIM_TICK_MAX_MS 1000u
/* Slots of each node's store when the config says 0: small, so 10,000 stores
 * fit in memory; stores grow by doubling as data arrives. */
#define SIM_STORE_CAPACITY_DEFAULT 64u
/* How often (virtual ms) sim_run_until() evaluates its predicate. */
#define SIM_CHECK_MS_DEFAULT 10u
/* Cluster label every node seals with. */
#define SIM_LABEL "gossipkv-sim"
/* Most nodes one simulation holds (ids and memory are sized by this). */
#define SIM_MAX_NODES 100000u

struct sim;
struct seal_keyring;

/* One direction of traffic between two nodes. */
struct sim_link {
    uint32_t latency_ms; /* base one-way delay */
    uint32_t jitter_ms;  /* plus uniform [0, jitter_ms]: reorders datagrams */
    double loss;         /* probability a datagram is dropped */
    double dup;          /* probability a datagram is delivered twice */
};

struct sim_config {
    uint64_t seed;
    uint32_t nodes;
    struct sim_link link;         /* default for every link */
    uint32_t tick_ms;             /* 0 = tick at the core's deadline (default) */
    uint32_t check_ms;            /* predicate period of sim_run_until; 0 = 10 */
    uint32_t store_capacity;      /* initial slots; 0 = SIM_STORE_CAPACITY_DEFAULT */
    uint64_t max_clock_offset_ms; /* store HLC tolerance; 0 = store default */
    bool streams;                 /* give cores a stream_send_cb (default true) */
    /* Template for every core: name, addr, node_id, epoch, incarnation and
     * seed are filled in per node by the simulator. */
    struct gossip_config gossip;
    uint64_t tombstone_grace_ms;     /* stores' grace; 0 = store default */
    uint64_t bucket_index_min_slots; /* stores' bucket index; 0 = store default */
    /* Optional, for tests that need them (NULL = none; arg is borrowed for
     * the sim's life):
     *   node_config_cb  adjusts node i's core config after the template is
     *                   copied and before the core starts (every start);
     *   cut_cb          true when from's traffic to `to` is lost, on top
     *                   of the partition groups (a per-pair cut). */
    void (*node_config_cb)(void *arg, uint32_t i, struct gossip_config *cfg);
    bool (*cut_cb)(void *arg, uint32_t from, uint32_t to);
    void *cb_arg;
};

/* Defaults: 1 ms latency, 0 jitter, no loss, streams on, gossip defaults. */
void sim_config_init(struct sim_config *cfg, uint64_t seed, uint32_t nodes);

/* Create the nodes (stores, seal contexts, cores), all up, none joined yet.
 * cfg is copied. */
int sim_new(const struct sim_config *cfg, struct sim **out);
void sim_free(struct sim *s);

/* ------------------------------------------------------------- time */

uint64_t sim_now_ms(const struct sim *s); /* virtual ms since the start */
/* What node i's clock reads now: SIM_EPOCH_MS + virtual time + offset. */
uint64_t sim_node_now_ms(const struct sim *s, uint32_t i);

/* Run one event. Returns false when the queue is empty. */
bool sim_step(struct sim *s);
/* Run every event up to virtual time now+ms; the clock ends at now+ms. */
void sim_run_for(struct sim *s, uint64_t ms);
/* Run until pred(s, arg) holds (checked every check_ms of virtual time, and
 * once before anything runs) or max_ms pass. Returns whether pred held. */
typedef bool (*sim_pred_fn)(struct sim *s, void *arg);
bool sim_run_until(struct sim *s, sim_pred_fn pred, void *arg, uint64_t max_ms);

/* Call cb(s, arg) at virtual time now+delay_ms (workload generators). */
typedef void (*sim_timer_cb)(struct sim *s, void *arg);
void sim_at(struct sim *s, uint64_t delay_ms, sim_timer_cb cb, void *arg);

/* ----------------------------------------------------- membership */

/* Node i joins through node seed's address (seed may equal i: no-op join). */
int sim_join(struct sim *s, uint32_t i, uint32_t seed);
/* Every node joins through node `seed`; remembered as the seed for restarts. */
int sim_join_all(struct sim *s, uint32_t seed);

/* Form the cluster from a member snapshot instead of a join storm: every up
 * node restores every other up node as ALIVE at its current incarnation
 * (gossip_restore_member), as Serf refills memberlist from its snapshot
 * file on restart. Nothing is sent; from then on the cores run the real
 * protocol (probes, suspicion, gossip, push-pull, anti-entropy). Costs
 * O(N^2) inserts, not the join storm's N^2 * L rumour receptions; the join
 * itself is measured by sim_join_all (test_sim_join, sim_scale --join). */
int sim_restore_all(struct sim *s);

/* Node viewer's opinion of node subject: enum gossip_member_state, or -1 if
 * viewer does not know subject (or viewer is down). O(1): gossip_member_find. */
int sim_view_state(const struct sim *s, uint32_t viewer, uint32_t subject);
/* Every up node sees every up node ALIVE (and knows nothing else as alive
 * among down nodes). O(N * members). */
bool sim_all_see_up_alive(const struct sim *s);
/* Number of up nodes (other than subject) whose view has subject in state. */
uint32_t sim_count_views(const struct sim *s, uint32_t subject, int state);

/* --------------------------------------------------------- failures */

enum sim_crash_mode {
    SIM_CRASH_KEEP_STORE, /* restart on old data (sync=always semantics) */
    SIM_CRASH_WIPE_STORE, /* the disk is lost: restart from empty */
};
/* Drop node i's core (and its seal state). In-flight packets to it are
 * dropped on arrival; packets it already sent still arrive. */
int sim_crash(struct sim *s, uint32_t i, enum sim_crash_mode mode);
/* A new core for node i: epoch + 1, incarnation = store_incarnation(), joins
 * through the sim's seed node (if it is another node). */
int sim_restart(struct sim *s, uint32_t i);
/* The same, but joining through addrs (copied) instead of the seed: what a
 * node does with the peers it remembered (node/peers.c). */
int sim_restart_through(struct sim *s, uint32_t i, const char *const *addrs, size_t n);
bool sim_node_up(const struct sim *s, uint32_t i);

/* Partition: nodes with different group ids cannot exchange anything. */
void sim_set_group(struct sim *s, uint32_t i, uint32_t group);
void sim_heal(struct sim *s); /* every node back in group 0 */
bool sim_linked(const struct sim *s, uint32_t from, uint32_t to);

void sim_set_link(struct sim *s, const struct sim_link *link); /* default */
/* Links from or to node i use this model (NULL: back to the default). The
 * sender's override wins over the receiver's. */
void sim_set_node_link(struct sim *s, uint32_t i, const struct sim_link *link);

/* Node i's clock reads offset_ms away from virtual time (may be negative). */
void sim_set_clock_offset(struct sim *s, uint32_t i, int64_t offset_ms);

/* ------------------------------------------------------------- data */

/* A local write on node i: store_put, then gossip_local_write. If out is
 * not NULL it receives the stored entry (borrowed from node i's store until
 * its next write or merge). */
int sim_write(struct sim *s, uint32_t i, const char *key, const char *value, struct entry *out);
int sim_write_bytes(struct sim *s, uint32_t i, const void *key, size_t key_len, const void *value,
                    size_t value_len, struct entry *out);
/* sim_write_bytes with an expiry (absolute ms on the cluster's clock, 0 =
 * none), as node/ writes SET EX, EXPIRE and PERSIST. */
int sim_write_expire(struct sim *s, uint32_t i, const void *key, size_t key_len, const void *value,
                     size_t value_len, uint64_t expire_ms, struct entry *out);
int sim_delete(struct sim *s, uint32_t i, const char *key, struct entry *out);
/* INCRBY on node i: store_incrby, then gossip_local_write. Returns the
 * store's result (0: the increment is stored, i.e. acknowledged; a gossip
 * refusal is left to anti-entropy), *result the new value. */
int sim_incrby(struct sim *s, uint32_t i, const char *key, long long delta, long long *result);
/* The number node i's key reads as (0 when absent); false if it is not an
 * integer. */
bool sim_read_ll(struct sim *s, uint32_t i, const char *key, long long *out);
/* store_get on node i (borrowed as store_get says). */
int sim_read(struct sim *s, uint32_t i, const char *key, struct entry *out);
/* Node i holds key with exactly this value (not a tombstone). */
bool sim_has_value(struct sim *s, uint32_t i, const char *key, const char *value);
/* Every up node's store has the same root hash. */
bool sim_converged(const struct sim *s);

/* ------------------------------------------------------- accessors */

uint32_t sim_node_count(const struct sim *s);
uint64_t sim_node_id(const struct sim *s, uint32_t i); /* i + 1 */
const char *sim_node_addr(const struct sim *s, uint32_t i);
struct gossip *sim_node_gossip(struct sim *s, uint32_t i); /* NULL when down */
struct store *sim_node_store(struct sim *s, uint32_t i);
struct seal_ctx *sim_node_seal(struct sim *s, uint32_t i); /* NULL when down */
uint64_t sim_seed(const struct sim *s);
/* The keyring every node seals with (SIM_LABEL): a test can seal as an
 * insider that holds the cluster key. Borrowed for the sim's life. */
struct seal_keyring *sim_keyring(struct sim *s);

/* Hooks run inside a node's gossip call. They may read and record, but must
 * not call into any node (sim_write, sim_step...): all cores borrow one set
 * of work buffers (gossip_config.scratch), so a nested call would clobber
 * the running core's. */

/* Called after a remote version won on node i (the core's applied_cb). */
typedef void (*sim_applied_hook)(void *arg, struct sim *s, uint32_t i, const struct entry *e);
void sim_set_applied_hook(struct sim *s, sim_applied_hook hook, void *arg);
/* Called when node i's core reports a member state change (member_cb). */
typedef void (*sim_member_hook)(void *arg, struct sim *s, uint32_t i,
                                const struct gossip_member_info *m);
void sim_set_member_hook(struct sim *s, sim_member_hook hook, void *arg);

struct sim_stats {
    uint64_t events;         /* events run */
    uint64_t ticks;          /* gossip_tick calls */
    uint64_t datagrams_sent; /* send_cb calls */
    uint64_t datagram_bytes_sent;
    uint64_t datagrams_delivered; /* handed to gossip_recv */
    uint64_t datagram_bytes_delivered;
    uint64_t dropped_loss;
    uint64_t dropped_partition;
    uint64_t dropped_down;     /* receiver crashed */
    uint64_t dropped_bad_addr; /* an address that names no node */
    uint64_t duplicated;
    uint64_t frames_sent, frame_bytes_sent, frames_delivered, frames_dropped;
    uint64_t max_queue; /* largest event queue seen */
};
void sim_stats(const struct sim *s, struct sim_stats *out);

/* Every delivered datagram and frame folded into one hash (see top). */
uint64_t sim_event_log_hash(const struct sim *s);

/* Sum of every up node's gossip_stats (counters only; the alive/suspect/...
 * views are summed too). */
void sim_gossip_stats_sum(const struct sim *s, struct gossip_stats *out);

/* The gossip parameters a core runs with for cfg: each field that is 0
 * ("core default") replaced by the default gossip.h documents for it. The
 * tests derive their bounds from these values. */
void sim_gossip_resolve(const struct gossip_config *cfg, struct gossip_config *out);

/* The bound within which N nodes joining through one seed all see each
 * other ALIVE (test_sim_join's derivation, docs/SIMULATOR.md "Join"):
 * rumour rounds (log2 N + ln N + 2)(G + d), plus the first membership
 * push-pull (within R) and one more (R * m(N), m = memberlist's
 * pushPullScale). Tests use it as the time to wait for a cluster to form. */
uint64_t sim_join_bound_ms(const struct sim_config *cfg);

/* --------------------------------------------------------- seeds */

/* The seed to use: GKV_SEED from the environment (decimal or 0x-hex) if set,
 * else default_seed. Prints "<name>: seed=<seed>" and the replay command. */
uint64_t sim_seed_from_env(const char *name, uint64_t default_seed);
/* The one-line replay command for a failing run (to stderr). */
void sim_print_replay(const char *name, uint64_t seed);

/* 64-bit mixing hash of bytes (deterministic, not cryptographic). */
uint64_t sim_hash_bytes(const void *buf, size_t len, uint64_t h);

#endif
