/*
 * config.h: the settings of `gossipkv serve`.
 *
 * Every setting has one name, used both as a flag (`--name VALUE`, or
 * `--name=VALUE`) and as a line of the config file (`name value`, as in
 * redis.conf: '#' starts a comment, values may be "double quoted"). Flags
 * given on the command line override the file; `join` accumulates.
 * docs/OPERATIONS.md lists every name.
 */
#ifndef GKV_NODE_CONFIG_H
#define GKV_NODE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/seal.h"
#include "gossip/wire.h"
#include "node/addr.h"
#include "node/log.h"
#include "storage/store.h"

#define NODE_MAX_SEEDS 32u /* --join addresses (more is a config error) */
#define NODE_PATH_MAX 1024u
#define NODE_PASS_MAX 512u

struct node_config {
    char name[WIRE_MAX_NAME + 1]; /* "" = hostname:gossip-port */
    char data_dir[NODE_PATH_MAX];
    char gossip_addr[NODE_ADDR_TEXT_MAX];
    char advertise_addr[NODE_ADDR_TEXT_MAX]; /* "" = gossip_addr */
    char client_addr[NODE_ADDR_TEXT_MAX];
    char join[NODE_MAX_SEEDS][NODE_ADDR_TEXT_MAX];
    uint32_t join_count;
    char key_file[NODE_PATH_MAX];
    char label[SEAL_LABEL_MAX + 1];
    enum store_sync sync;
    enum store_pages pages;           /* huge-pages: values (default), none, all */
    bool no_read_cache;               /* no-read-cache: the store without its read cache */
    char requirepass[NODE_PASS_MAX];
    char admin_password[NODE_PASS_MAX]; /* "" = admin commands refused to all */
    bool protected_mode;                /* refuse non-loopback clients without requirepass */
    bool insecure_network;              /* --insecure accepted on a non-loopback gossip address */
    enum node_log_level log_level;
    bool insecure;
    bool clock_offset_control;        /* experiments only: enables CLOCKOFFSET */
    bool epoch_reset;                 /* epoch-reset: start without a trusted <data>/epoch */
    /* Client limits (Redis names). */
    uint32_t maxclients;              /* 10000, as Redis */
    uint32_t timeout_s;               /* idle seconds; 0 = never (Redis default) */
    uint64_t client_output_buffer_limit_bytes; /* hard cap per client */
    uint64_t client_query_buffer_limit_bytes;  /* one request */
    uint64_t client_output_buffer_soft_limit_bytes; /* slow reader: 0 = off */
    uint32_t client_output_buffer_soft_seconds;     /* ... for this long in a row */
    uint32_t max_value_bytes;
    uint64_t max_keys;                /* store max_entries; 0 = unlimited */
    uint32_t tcp_backlog;             /* 511, as Redis */
    /* Storage. */
    uint32_t sync_batch_ms;           /* group commit period (store) */
    uint64_t wal_checkpoint_bytes;    /* log size that triggers a checkpoint; 0 = 64 MiB */
    uint32_t latency_monitor_threshold_ms; /* LATENCY: slow loop turns; 0 = off */
    uint32_t initial_capacity;
    uint64_t tombstone_grace_ms;      /* tombstones older than this are purged (store) */
    bool stale_data_ok;               /* start on data older than the grace anyway */
    /* Gossip (0 = the core's defaults, gossip.h). */
    uint32_t mtu;
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t gossip_interval_ms;
    uint32_t sync_interval_ms;
    uint32_t gossip_fanout;
    uint32_t retransmit_mult;
    uint32_t data_retransmit_mult;
    uint32_t suspicion_mult;
    bool lifeguard;                 /* false: gossip_config.lifeguard_off */
    uint32_t reconnect_interval_ms; /* 0 = core default */
    uint32_t max_queued_deltas;
    uint32_t repair_bytes_per_tick; /* anti-entropy repair bytes per 10 ms (0 = no cap) */
    bool fill_serve_reads;          /* serve reads during the initial fill (node/fill.c) */
    uint32_t leave_timeout_ms;        /* how long a graceful leave keeps gossiping */
    bool no_rejoin;                   /* start without rejoining through <data>/peers */
    uint32_t peers_retention_s;       /* keep a member not seen alive this long in <data>/peers */
    uint64_t stream_buffer_limit_bytes; /* queued bytes per outgoing sync stream */
    uint32_t stream_auth_timeout_ms;    /* an accepted stream's first frame must open by then */
    uint32_t stream_max_per_addr;       /* accepted streams open from one source host */
    /* Operations (node/metrics.c, node/log.c). */
    char metrics_addr[NODE_ADDR_TEXT_MAX]; /* "" = no metrics listener */
    uint32_t metrics_max_connections;
    char log_format[8]; /* "text" (key=value) or "json" */
};

void node_config_defaults(struct node_config *cfg);
/* "500ms", "30s", "10m", "24h", "7d"; a bare number is seconds. */
int node_config_parse_duration_ms(const char *s, uint64_t *out);

/* Apply one setting by name (without dashes). Returns 0, or GKV_EINVAL with
 * a message in err. */
int node_config_set(struct node_config *cfg, const char *name, const char *value, char *err,
                    size_t err_len);

/* Read a config file. Errors name the file and line. */
int node_config_load_file(struct node_config *cfg, const char *path, char *err, size_t err_len);

/* Parse `serve` arguments (argv[0] = "serve"): --config first, then the
 * flags over it. Returns 0, 1 if --help was printed, or GKV_EINVAL. */
int node_config_from_args(struct node_config *cfg, int argc, char **argv, char *err,
                          size_t err_len);

/* Check cross-field rules and fill derived defaults (name, advertise). */
int node_config_finish(struct node_config *cfg, char *err, size_t err_len);

/* The value of a setting as text (CONFIG GET). Returns false if unknown. */
bool node_config_get(const struct node_config *cfg, const char *name, char *out, size_t out_len);
/* Names of all settings, NULL-terminated (CONFIG GET patterns, docs). */
const char *const *node_config_names(void);

/* "64mb" style sizes, as redis.conf (k/kb/m/mb/g/gb, 1k = 1000, 1kb = 1024). */
int node_config_parse_bytes(const char *s, uint64_t *out);

void node_config_usage(void);

#endif
