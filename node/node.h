/*
 * node.h: the process state of `gossipkv serve`, shared by node/ files.
 *
 *   cmd_serve.c  startup, signals, the periodic timer, shutdown
 *   server.c     client listener, connections, read/parse/reply, limits
 *   commands.c   the Redis command table (one function per command)
 *   info.c       INFO text
 *   cluster.c    UDP gossip socket, TCP sync streams, driving the core
 *   identity.c   node id / epoch persistence, keyring loading
 *   peers.c      the remembered cluster (<data>/peers), rejoin on start
 *   config.c, log.c, addr.c, resp.c
 *
 * One libuv loop, one thread: every struct here is touched only from it.
 */
#ifndef GKV_NODE_NODE_H
#define GKV_NODE_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "gossip/gossip.h"
#include "gossip/seal.h"
#include "node/config.h"
#include "node/latency.h"
#include "node/resp.h"
#include "storage/counter.h"
#include "storage/store.h"

struct node_client;

/* Client-side counters (INFO clients / stats). Every limit has one. */
struct node_server_stats {
    uint64_t connections_received;
    uint64_t rejected_connections;   /* maxclients */
    uint64_t accept_errors;          /* accept() failed (EMFILE, ...) */
    uint64_t commands_processed;
    uint64_t output_buffer_disconnects; /* client-output-buffer-limit */
    uint64_t output_limit_cuts;         /* replies stopped at that limit while built */
    uint64_t query_buffer_disconnects;  /* client-query-buffer-limit */
    uint64_t protocol_errors;        /* malformed requests (closed) */
    uint64_t parser_limit_errors;    /* a parser length/count limit hit (closed) */
    uint64_t idle_timeouts;          /* timeout */
    uint64_t slow_reader_disconnects; /* client-output-buffer-soft-limit */
    uint64_t auth_failures;
    uint64_t noauth_refused;         /* commands refused before AUTH */
    uint64_t noperm_refused;         /* admin commands refused to non-admins */
    uint64_t unknown_commands;
    uint64_t arity_errors;
    uint64_t write_errors;           /* store refused a write */
    uint64_t gossip_handoff_errors;  /* stored writes the gossip core refused */
    uint64_t net_input_bytes, net_output_bytes;
    uint64_t keyspace_hits, keyspace_misses;
};

struct node_server {
    struct node *node;
    uv_tcp_t listener;
    bool listening;
    struct node_client *clients; /* doubly linked list */
    uint32_t nclients;
    uint64_t next_client_id;
    struct node_server_stats stats;
    struct resp_buf scratch; /* SCAN/KEYS key collection, reused */
    /* counters.c: the number a counter reads as, formatted (two in turn) */
    char counter_fmt[2][COUNTER_FMT_MAX];
    unsigned counter_fmt_next;
};

/* The keys a node holds, so SIGHUP and KEYRING can diff them (the keyring
 * itself only exposes ids). sodium_malloc'd. */
struct node_keys {
    uint32_t n;
    uint8_t key[SEAL_KEYRING_MAX][SEAL_KEY_BYTES];
};

struct node_cluster; /* cluster.c */
struct node_metrics; /* metrics.c */
struct node_peers;   /* peers.c */

/* clock.c: what the node saw of its own clock and told the operator. */
enum node_clock_level { NODE_CLOCK_OK, NODE_CLOCK_WARN, NODE_CLOCK_SKEWED };
struct node_clock {
    int64_t last_gap_ms;   /* wall minus monotonic at the last tick */
    bool have_gap;
    enum node_clock_level level; /* last logged */
    bool refusing;               /* last logged */
    uint64_t steps;              /* steps of the wall clock seen */
    uint64_t writes_refused;     /* client writes answered -CLOCKSKEW */
};

/* keyspace.c: a FLUSHALL/FLUSHDB in progress (docs/COMMANDS.md). The
 * command walks at most NODE_FLUSH_CALL_SLOTS table slots before it
 * answers; the rest goes NODE_FLUSH_TICK_SLOTS per 10 ms tick. */
#define NODE_FLUSH_CALL_SLOTS 65536u
#define NODE_FLUSH_TICK_SLOTS 8192u
/* strings.c: LCS builds an (alen+1) x (blen+1) table of uint32 (as Redis)
 * and refuses past this size, which also bounds its time (16 M cells). */
#define NODE_LCS_TABLE_MAX_BYTES (64ull * 1024 * 1024)
/* keyspace.c: slots RANDOMKEY walks at most looking for a live key (a
 * table of mostly tombstones answers nil past this, not a whole walk). */
#define NODE_RANDOMKEY_MAX_SLOTS (1u << 20)
struct node_flush {
    bool active;
    uint64_t cursor;        /* store_scan position */
    uint64_t below_hlc;     /* deletes live entries stamped at or before this */
    uint64_t started, completed, failed;
    uint64_t keys_deleted;
};

/* expire.c: DBSIZE's count of live keys while some values expire, kept
 * until the store changes or the first expiry it counted passes. */
struct node_expiry {
    bool count_cached;
    uint64_t count;
    uint64_t count_now_ms;         /* cluster time of the walk */
    uint64_t count_valid_until_ms; /* earliest expiry among the keys counted */
    uint64_t count_changes;        /* the store's writes at the walk */
    uint64_t count_walks;          /* walks DBSIZE made (INFO dbsize_walks) */
};

struct node {
    uv_loop_t *loop;
    struct node_config cfg;
    struct store *store;
    struct seal_keyring *keyring; /* NULL when --insecure */
    struct node_keys *keys;       /* sodium_malloc'd; NULL when --insecure */
    struct seal_ctx *seal;
    struct gossip *gossip;        /* NULL until the cluster is up */
    struct node_cluster *cluster;
    struct node_metrics *metrics; /* NULL unless --metrics */
    struct node_peers *peers;     /* the remembered cluster, <data>/peers */
    struct node_server server;
    struct node_clock clock;
    struct node_flush flush;
    struct node_expiry expiry;
    struct node_latency latency; /* latency.c: slow loop turns by cause */
    uv_prepare_t latency_prepare;
    uint64_t node_id;
    uint64_t epoch;
    uint64_t start_ms;    /* wall clock at start */
    uint64_t start_mono_ms;
    char run_id[41];      /* random hex, as Redis */
    uv_timer_t tick_timer;
    uv_timer_t cron_timer;
    uv_signal_t sig_int, sig_term, sig_hup;
    /* sync=batch group commit on the libuv thread pool (cmd_serve.c): the
     * job in flight (NULL: none), its request and its fdatasync result. */
    struct store_sync_job *sync_job;
    uv_work_t sync_work;
    int sync_rc;
    /* Growth ahead of need and table retirement on the pool (cmd_serve.c,
     * store_prep_begin): the job in flight, its request, its result. */
    struct node_prep_slot {
        struct node *n;
        struct store_prep_job *job;
        uv_work_t work;
        int rc;
        uint64_t run_us; /* how long run took (a debug log line) */
    } prep[3];
    /* storage/'s blocking disk calls on this thread when the store was
     * open (store_disk_calls_get): INFO counts the loop's from there. */
    struct store_disk_calls disk_calls_base;
    bool stopping;
    bool leaving;
    uint64_t leave_deadline_ms;
    /* fill.c */
    uint64_t fill_reads_refused;
    uint64_t fill_logged_ms;
    bool fill_logged_active, fill_logged_initial;
    int exit_code;
    /* INFO tombstones_purged_per_second: sampled by node_info_cron */
    uint64_t purge_rate_count, purge_rate_ms;
    double purge_rate_per_s;
};

/* clock.c: Unix milliseconds (the HLC's clock; CLOCK_REALTIME, cheap via
 * vDSO) plus the offset CLOCKOFFSET injected (0 unless an experiment set
 * one on a node started with clock-offset-control yes). */
uint64_t node_wall_ms(void);
int64_t node_clock_injected_ms(void);

/* server.c */
int node_server_start(struct node_server *srv, struct node *node);
/* Stop accepting and close every client (their close callbacks run later in
 * the loop). */
void node_server_stop(struct node_server *srv);
/* Every second: idle timeouts. */
void node_server_cron(struct node_server *srv, uint64_t now_mono_ms);

/* commands.c: run one parsed command for c; replies go to c's buffer. */
struct node_client_view {
    uint64_t id;
    const char *addr;
    const char *name;
    uint64_t age_s, idle_s;
};
void node_command_exec(struct node_client *c, const struct resp_cmd *cmd);
/* True if the client may run admin command what; otherwise answers NOPERM. */
bool node_command_admin_ok(struct node_client *c, const char *what);
size_t node_command_count(void);
/* "read", "write", "admin" or "other": the latency family of a command
 * (from its table flags; unknown commands are "other"). */
const char *node_command_family(const struct resp_cmd *cmd);
/* clock.c: CLOCKOFFSET SET <ms> | GET, refused unless clock-offset-control. */
void node_cmd_clockoffset(struct node_client *c, const struct resp_cmd *cmd);
/* clock.c: CLOCK: this node's offset and every measured peer's. */
void node_cmd_clock(struct node_client *c, const struct resp_cmd *cmd);
/* latency.c: start the monitor (before uv_run); LATENCY LATEST|HISTORY|RESET|HELP. */
int node_latency_start(struct node *n);
void node_cmd_latency(struct node_client *c, const struct resp_cmd *cmd);
/* Add the time since t0_ns (uv_hrtime) to the current turn's section. */
static inline void node_latency_section(struct node *n, enum node_latency_section s,
                                        uint64_t t0_ns)
{
    n->latency.section_ns[s] += uv_hrtime() - t0_ns;
}
/* clock.c: true (and the -CLOCKSKEW reply written) if a write must be
 * refused because the peers would refuse its version. */
bool node_clock_refuse_write(struct node_client *c);
/* fill.c: the core's fill state with what INFO derives from it. */
struct node_fill_view {
    struct gossip_fill fill;
    uint64_t rate_bytes_s; /* key + value bytes received per second */
    uint64_t eta_ms;       /* at the rate so far; 0 when unknown or done */
    bool reads_refused;    /* read commands answer -LOADING */
};
void node_fill_view(const struct node *n, struct node_fill_view *v);
/* fill.c: true (and the -LOADING reply written) if a read must be refused:
 * the initial fill of a node that started empty has not ended. */
bool node_fill_refuse_read(struct node_client *c);
/* fill.c: every second: log a fill's start, progress and end. */
void node_fill_cron(struct node *n, uint64_t now_mono_ms);
/* clock.c: every tick, before the core's: report wall-clock steps. */
void node_clock_tick(struct node *n, uint64_t now_ms);
/* clock.c: every second: log offsets past half the bound and past it. */
void node_clock_cron(struct node *n);

/* commands.c: GET/SET/DEL's lookup, write path (store, then gossip) and
 * store error replies, for the command files below. Values a lookup fills
 * in are borrowed until the next write to the store. */
bool node_key_lookup(struct node *n, const uint8_t *key, size_t len, struct entry *e);
/* argv[i] is the word lit, in any case (command options). */
static inline bool node_arg_is(const struct resp_cmd *cmd, size_t i, const char *lit)
{
    size_t l = strlen(lit);
    return cmd->argv_len[i] == l && !strncasecmp((const char *)cmd->argv[i], lit, l);
}
/* node_key_put writes a value without an expiry (SET, GETSET, MSET... clear
 * a key's TTL, as in Redis); node_key_put_expire with one (0: none), an
 * absolute time on the cluster's clock. */
int node_key_put(struct node *n, const uint8_t *key, size_t klen, const uint8_t *val,
                 size_t vlen);
int node_key_put_expire(struct node *n, const uint8_t *key, size_t klen, const uint8_t *val,
                        size_t vlen, uint64_t expire_ms);
/* Write e's value (a lookup's, copied first) under key with expire_ms:
 * RENAME, COPY, EXPIRE, PERSIST, GETEX. */
int node_key_put_copy(struct node *n, const uint8_t *key, size_t klen, const struct entry *e,
                      uint64_t expire_ms);
int node_key_del(struct node *n, const uint8_t *key, size_t klen, bool *existed);
void node_reply_store_error(struct node_client *c, int rc);
/* Hand a stored local write to the gossip core (as SET does). */
void node_key_spread(struct node *n, const struct entry *e, uint64_t now_ms);
/* MSET/MSETNX: every key and value within the limits (else false and the
 * error written), checked before any is written. */
bool node_pairs_fit(struct node_client *c, const struct resp_cmd *cmd);
/* strings.c: string commands on today's entries (docs/COMMANDS.md). */
void node_cmd_setnx(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_getset(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_getdel(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_msetnx(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_strlen(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_append(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_getrange(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_setrange(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_lcs(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_setbit(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_getbit(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_bitcount(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_bitpos(struct node_client *c, const struct resp_cmd *cmd);
/* counters.c: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT; and a counter's
 * value as it reads (e->value pointed at the formatted number, borrowed
 * until the second call after this one; false if it reads as absent). */
void node_cmd_incr(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_decr(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_incrby(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_decrby(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_incrbyfloat(struct node_client *c, const struct resp_cmd *cmd);
bool node_counter_present(struct node *n, struct entry *e);
/* expire.c: expiry commands and DBSIZE (docs/COMMANDS.md). */
/* The cluster's time as this node knows it: its wall clock plus the
 * correction the gossip core measured (gossip/clock.c). Expiries are
 * absolute times on it. */
uint64_t node_cluster_ms(struct node *n);
/* SET's and GETEX's options (Redis parseExtendedStringArgumentsOrReply):
 * from argv[first]; set: NX/XX/GET/KEEPTTL allowed, else PERSIST. */
enum node_setx_unit { NODE_SETX_NONE, NODE_SETX_EX, NODE_SETX_PX, NODE_SETX_EXAT, NODE_SETX_PXAT };
struct node_setx {
    bool nx, xx, get, keepttl, persist;
    enum node_setx_unit unit;
    size_t arg; /* argv index of the time when unit != NONE */
};
bool node_setx_parse(struct node_client *c, const struct resp_cmd *cmd, size_t first, bool set,
                     struct node_setx *o);
/* The absolute expiry o asks for at cluster time now_ms; false with the
 * error written ("invalid expire time in '<cmd>' command"). */
bool node_setx_when(struct node_client *c, const struct resp_cmd *cmd, const struct node_setx *o,
                    uint64_t now_ms, uint64_t *when_ms);
void node_cmd_setex(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_getex(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_expire(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_ttl(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_persist(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_dbsize(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_time(struct node_client *c, const struct resp_cmd *cmd);
/* keyspace.c: RENAME/RENAMENX, COPY, RANDOMKEY, FLUSHDB/FLUSHALL. */
void node_cmd_rename(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_copy(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_randomkey(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_flush(struct node_client *c, const struct resp_cmd *cmd);
void node_cmd_function(struct node_client *c, const struct resp_cmd *cmd);
/* keyspace.c: every tick, continue a FLUSHALL that did not finish within
 * its command (a bounded number of slots per call). */
void node_flush_tick(struct node *n);

/* Client accessors for commands.c (defined in server.c). */
struct resp_buf *node_client_out(struct node_client *c);
struct node *node_client_node(struct node_client *c);
bool node_client_authed(const struct node_client *c);
void node_client_set_authed(struct node_client *c, bool authed);
/* Authenticated as the admin user (AUTH admin <admin-password>). */
bool node_client_admin(const struct node_client *c);
void node_client_set_admin(struct node_client *c, bool admin);
void node_client_close_after_reply(struct node_client *c);
const char *node_client_name(const struct node_client *c);
int node_client_set_name(struct node_client *c, const uint8_t *name, size_t len);
uint64_t node_client_id(const struct node_client *c);
/* Visit clients (CLIENT LIST). */
void node_server_each_client(struct node_server *srv,
                             void (*cb)(void *arg, const struct node_client_view *v), void *arg);

/* info.c: the INFO text for the sections named (NULL/"default"/"all"). */
void node_info(struct node *n, const char *section, struct resp_buf *out);
/* Every cron tick (1 s): the rates INFO shows. */
void node_info_cron(struct node *n, uint64_t now_ms);

/* cluster.c */
int node_cluster_start(struct node *n);
void node_cluster_tick(struct node *n, uint64_t now_ms);
/* Close the sockets and streams (their callbacks run later in the loop). */
void node_cluster_stop(struct node *n);
/* After the loop has closed every handle. */
void node_cluster_free(struct node *n);
struct node_cluster_stats {
    uint64_t udp_send_errors, udp_recv_errors, udp_oversize_dropped;
    uint64_t stream_connects, stream_connect_errors, stream_accepts;
    uint64_t stream_frames_out, stream_frames_in;
    uint64_t stream_dropped_buffer_full, stream_frame_errors, stream_limit_refused;
    uint32_t streams_open;
    /* untrusted streams (node/cluster.c, invariants at the top) */
    uint64_t stream_auth_timeouts, stream_frames_refused, stream_frames_stale;
    uint64_t stream_refused_per_addr, stream_refused_unauthenticated, stream_idle_closed;
    uint64_t stream_connect_unvouched; /* no connection: not a member's address or a seed */
    uint32_t streams_unauthenticated;
    uint64_t stream_memory_bytes; /* receive buffers and queues of every stream */
    uint32_t stream_max_per_addr, stream_auth_timeout_ms; /* the settings in force */
};
void node_cluster_stats(const struct node *n, struct node_cluster_stats *out);

/* peers.c: the members this node knew, kept in <data>/peers so a restart
 * rejoins through them (design and file format at the top of peers.c).
 * NODE_PEERS_MAX records at most (docs/OPERATIONS.md, "Restarts"). */
#define NODE_PEERS_MAX 1024u
struct node_peers_stats {
    uint32_t remembered;   /* records held (file + this run) */
    uint32_t live;         /* of those, alive or suspect now */
    uint32_t rejoin_addrs; /* remembered addresses rejoined through at start */
    uint64_t writes, write_errors;
    uint64_t dropped;             /* members not remembered: NODE_PEERS_MAX live ones */
    uint64_t last_rejoin_unix_ms; /* last change from no live member to one (0: never) */
    const char *file_state;       /* ok | missing | unreadable | disabled (static) */
};
/* Read <data>/peers (a bad file is logged and ignored). Before the core. */
int node_peers_open(struct node *n);
/* Up to max remembered addresses, most recently seen alive first, other
 * than our own; borrowed until the next node_peers_* call. */
size_t node_peers_rejoin_addrs(struct node *n, const char **out, size_t max);
/* A member changed state (from the core's member_cb). */
void node_peers_member(struct node *n, const struct gossip_member_info *m);
/* Every cron tick: the debounced write, the "alone" warning. */
void node_peers_cron(struct node *n, uint64_t now_ms);
/* After the loop ended: a last write if needed; frees. */
void node_peers_close(struct node *n);
void node_peers_stats(const struct node *n, struct node_peers_stats *out);
/* When this node last saw a peer alive, from the file read at open: the
 * newest last-alive time (refreshed every minute while any peer is live);
 * 0 when it remembers no peer. */
uint64_t node_peers_last_contact_ms(const struct node *n);

/* identity.c */
/* Load the keyring from --key-file or GOSSIPKV_KEY into n->keyring/keys
 * (the key file is opened, checked and read once: node_keyfile_read). */
int node_keys_load(struct node *n, char *err, size_t err_len);
/* SIGHUP: re-read the key file and make the ring hold exactly its keys, the
 * first primary. All or nothing: on error (message in err) the running
 * keyring and n->keys are unchanged. */
int node_keys_reload(struct node *n, char *err, size_t err_len);
int node_keys_install(struct node *n, const uint8_t key[SEAL_KEY_BYTES]);
int node_keys_use(struct node *n, const uint8_t key[SEAL_KEY_BYTES]);
int node_keys_remove(struct node *n, const uint8_t key[SEAL_KEY_BYTES]);
/* The seal epoch of this start (seal_epoch_next over the last one kept in
 * <data>/epoch), written back and fsynced before it is returned. Refused,
 * with a message naming the way out (--epoch-reset), when the file is
 * missing next to an existing store, is not a number up to 2^64 - 1, or
 * holds seconds past wall_s + SEAL_EPOCH_AHEAD_MAX_S. */
struct node_epoch_args {
    const char *data_dir;
    bool store_exists; /* header.gkv was there before this start */
    bool reset;        /* --epoch-reset: ignore the file's value */
    uint64_t wall_s;   /* wall clock, seconds since 1970 */
    uint32_t boot_random; /* node_random */
};
int node_epoch_next(const struct node_epoch_args *a, uint64_t *epoch, char *err, size_t err_len);
/* Replace <dir>/<name> with buf atomically: <name>.tmp written with mode
 * 0600 and fsynced, renamed over it, the directory fsynced. 0 or GKV_EIO
 * (message in err). Safe on a thread-pool thread. */
int node_file_replace(const char *dir, const char *name, const void *buf, size_t len, char *err,
                      size_t err_len);
/* Random bytes (libsodium) for node ids, seeds, secrets. */
void node_random(void *buf, size_t len);

#endif
