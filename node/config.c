/* config.c: flags and redis.conf-style files (see config.h). */
#include "node/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/errors.h"

enum opt_type {
    OPT_STR,
    OPT_SECRET, /* a string CONFIG GET does not show */
    OPT_BOOL,
    OPT_U32,
    OPT_BYTES,
    OPT_DURATION, /* uint64_t ms: N[ms|s|m|h|d], a bare number is seconds */
    OPT_SYNC,
    OPT_PAGES,
    OPT_LEVEL,
    OPT_JOIN,
    OPT_ADDR
};

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    size_t size; /* OPT_STR / OPT_ADDR capacity */
    const char *help;
};

#define F(field) offsetof(struct node_config, field), sizeof(((struct node_config *)0)->field)

static const struct opt opts[] = {
    {"name", OPT_STR, F(name), "node name (default: hostname:gossip-port)"},
    {"data", OPT_STR, F(data_dir), "data directory (default ./gossipkv-data)"},
    {"gossip", OPT_ADDR, F(gossip_addr), "UDP gossip and TCP sync address (default 127.0.0.1:7946)"},
    {"advertise", OPT_ADDR, F(advertise_addr), "address other nodes should use (default: gossip)"},
    {"client", OPT_ADDR, F(client_addr), "Redis-protocol listener (default 127.0.0.1:7379)"},
    {"join", OPT_JOIN, 0, 0, "seeds to join through, HOST:PORT[,...] (repeatable)"},
    {"key-file", OPT_STR, F(key_file), "keyring file (one base64 key per line, first = primary)"},
    {"label", OPT_STR, F(label), "cluster label bound into every packet"},
    {"epoch-reset", OPT_BOOL, F(epoch_reset),
     "start although <data>/epoch is missing or unreadable (docs/ENVELOPE.md)"},
    {"sync", OPT_SYNC, F(sync), "none|batch|always (default batch)"},
    {"requirepass", OPT_SECRET, F(requirepass), "clients must AUTH with this password"},
    {"admin-password", OPT_SECRET, F(admin_password),
     "AUTH admin <password> allows KEYRING, CONFIG SET/RESETSTAT (default: none, refused)"},
    {"protected-mode", OPT_BOOL, F(protected_mode),
     "refuse to serve clients on a non-loopback address without requirepass (default yes)"},
    {"log-level", OPT_LEVEL, F(log_level), "debug|info|warn|error (default info)"},
    {"insecure", OPT_BOOL, F(insecure), "run without a key (logs a warning)"},
    {"insecure-network", OPT_BOOL, F(insecure_network),
     "accept --insecure with gossip on a non-loopback address (cleartext, forgeable)"},
    {"maxclients", OPT_U32, F(maxclients), "client connections (default 10000)"},
    {"timeout", OPT_U32, F(timeout_s), "close clients idle this many seconds (0 = never)"},
    {"client-output-buffer-limit", OPT_BYTES, F(client_output_buffer_limit_bytes),
     "reply bytes queued per client before it is closed (default 256mb)"},
    {"client-query-buffer-limit", OPT_BYTES, F(client_query_buffer_limit_bytes),
     "bytes of one request (default 64mb)"},
    {"client-output-buffer-soft-limit", OPT_BYTES, F(client_output_buffer_soft_limit_bytes),
     "reply bytes queued for soft-seconds in a row before a client is closed (default 32mb, "
     "0 = off)"},
    {"client-output-buffer-soft-seconds", OPT_U32, F(client_output_buffer_soft_seconds),
     "seconds over the soft limit before the client is closed (default 60)"},
    {"max-value-bytes", OPT_BYTES, F(max_value_bytes), "largest value (default 1mb)"},
    {"max-keys", OPT_BYTES, F(max_keys), "entries the store accepts (0 = unlimited)"},
    {"tcp-backlog", OPT_U32, F(tcp_backlog), "listen backlog (default 511)"},
    {"sync-batch-ms", OPT_U32, F(sync_batch_ms), "group-commit period for sync batch (default 100)"},
    {"wal-checkpoint-bytes", OPT_BYTES, F(wal_checkpoint_bytes),
     "write-ahead log size that triggers a checkpoint, sync batch/always (default 64mb)"},
    {"tombstone-grace", OPT_DURATION, F(tombstone_grace_ms),
     "how long a delete is kept before its tombstone is purged, e.g. 30s, 10m, 24h; a node "
     "away longer must rejoin empty (default 24h)"},
    {"stale-data-ok", OPT_BOOL, F(stale_data_ok),
     "start on data last used longer ago than tombstone-grace (deleted keys may come back; "
     "default no)"},
    {"initial-capacity", OPT_U32, F(initial_capacity), "slots of a new table (0 = store default)"},
    {"latency-monitor-threshold", OPT_U32, F(latency_monitor_threshold_ms),
     "ms: event-loop turns at least this long are recorded for LATENCY (0 = off, default)"},
    {"huge-pages", OPT_PAGES, F(pages),
     "values|none|all: data files mapped with 2 MiB pages (default values)"},
    {"no-read-cache", OPT_BOOL, F(no_read_cache),
     "no read cache before lookups: saves 16 bytes per table slot, gets slower"},
    {"mtu", OPT_U32, F(mtu), "gossip datagram budget in bytes (default 1400)"},
    {"probe-interval-ms", OPT_U32, F(probe_interval_ms), "SWIM probe period (default 1000)"},
    {"probe-timeout-ms", OPT_U32, F(probe_timeout_ms), "SWIM probe timeout (default 500)"},
    {"gossip-interval-ms", OPT_U32, F(gossip_interval_ms), "gossip round period (default 200)"},
    {"sync-interval-ms", OPT_U32, F(sync_interval_ms), "anti-entropy period (default 1000)"},
    {"gossip-fanout", OPT_U32, F(gossip_fanout), "members per gossip round (default 3)"},
    {"retransmit-mult", OPT_U32, F(retransmit_mult),
     "lambda: each membership update is sent about lambda*log10(N+1) times (default 4)"},
    {"data-retransmit-mult", OPT_U32, F(data_retransmit_mult),
     "lambda for data deltas (at least retransmit-mult; default 8)"},
    {"suspicion-mult", OPT_U32, F(suspicion_mult), "SWIM suspicion timeout multiplier (default 4)"},
    {"lifeguard", OPT_BOOL, F(lifeguard),
     "Lifeguard local health: probe timeouts and suspicion timers (default yes)"},
    {"reconnect-interval-ms", OPT_U32, F(reconnect_interval_ms),
     "push state to one dead member or seed per period, so a healed partition re-merges "
     "(default 2000)"},
    {"repair-bytes-per-tick", OPT_BYTES, F(repair_bytes_per_tick),
     "cap on anti-entropy repair bytes sent per 10 ms, e.g. 256kb = 25.6 MB/s (default 0: "
     "no cap, paced by the receiver)"},
    {"fill-serve-reads", OPT_BOOL, F(fill_serve_reads),
     "a node that starts empty serves reads while it fills from its peers, instead of "
     "-LOADING (default no)"},
    {"max-queued-deltas", OPT_U32, F(max_queued_deltas),
     "writes waiting to be gossiped; overflow leaves the burst to anti-entropy (default 65536)"},
    {"leave-timeout-ms", OPT_U32, F(leave_timeout_ms),
     "how long a graceful leave keeps gossiping (default 1000)"},
    {"no-rejoin", OPT_BOOL, F(no_rejoin),
     "start without rejoining through the peers remembered in <data>/peers (default no)"},
    {"peers-retention-s", OPT_U32, F(peers_retention_s),
     "remember a member not seen alive for this long in <data>/peers (default 259200, 72 h)"},
    {"stream-buffer-limit", OPT_BYTES, F(stream_buffer_limit_bytes),
     "bytes queued per outgoing sync stream (default 64mb)"},
    {"clock-offset-control", OPT_BOOL, F(clock_offset_control),
     "experiments only: CLOCKOFFSET SET <ms> shifts this node's clock (default no)"},
    {"stream-auth-timeout-ms", OPT_U32, F(stream_auth_timeout_ms),
     "an accepted sync stream whose first frame has not opened under the key by then is "
     "closed (default 2000)"},
    {"stream-max-per-addr", OPT_U32, F(stream_max_per_addr),
     "accepted sync streams open at once from one source host (default 32)"},
    {"metrics", OPT_ADDR, F(metrics_addr),
     "serve Prometheus metrics on HTTP GET /metrics at HOST:PORT (default: off)"},
    {"metrics-max-connections", OPT_U32, F(metrics_max_connections),
     "metrics HTTP connections open at once (default 16)"},
    {"log-format", OPT_STR, F(log_format), "text|json: key=value or JSON lines (default text)"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const *make_names(void)
{
    static const char *names[NOPTS + 1];
    for (size_t i = 0; i < NOPTS; i++)
        names[i] = opts[i].name;
    names[NOPTS] = NULL;
    return names;
}

const char *const *node_config_names(void)
{
    static const char *const *names;
    if (!names)
        names = make_names();
    return names;
}

void node_config_defaults(struct node_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./gossipkv-data");
    snprintf(cfg->gossip_addr, sizeof(cfg->gossip_addr), "127.0.0.1:7946");
    snprintf(cfg->client_addr, sizeof(cfg->client_addr), "127.0.0.1:7379");
    cfg->sync = STORE_SYNC_BATCH;
    cfg->log_level = NODE_LOG_INFO;
    cfg->protected_mode = true;              /* Redis default */
    cfg->lifeguard = true;                   /* docs/GOSSIP.md, "Lifeguard" */
    cfg->maxclients = 10000;                 /* Redis default */
    cfg->timeout_s = 0;                      /* Redis default */
    /* Redis's normal class is unlimited; a cap is what keeps one slow reader
     * from eating the node's memory. 256 MiB fits 256 max-size values. */
    cfg->client_output_buffer_limit_bytes = 256ull * 1024 * 1024;
    cfg->client_query_buffer_limit_bytes = 64ull * 1024 * 1024;
    /* Redis's pubsub class (8mb 60s) scaled to gossipkv's 1 MiB values: a
     * reader that keeps 32 values unread for a minute is not reading. */
    cfg->client_output_buffer_soft_limit_bytes = 32ull * 1024 * 1024;
    cfg->client_output_buffer_soft_seconds = 60;
    cfg->max_value_bytes = GKV_VALUE_MAX_DEFAULT;
    cfg->tcp_backlog = 511; /* Redis default */
    cfg->leave_timeout_ms = 1000;
    cfg->tombstone_grace_ms = ENTRY_TOMBSTONE_GRACE_DEFAULT_MS;
    cfg->peers_retention_s = 72 * 3600; /* Serf's reconnect_timeout */
    cfg->stream_buffer_limit_bytes = 64ull * 1024 * 1024;
    /* A peer's first frame is queued before it connects: it arrives within
     * one round trip plus its own size; 2 s leaves room for a 1 MiB frame
     * on a slow link while an outsider holds a slot only that long. */
    cfg->stream_auth_timeout_ms = 2000;
    /* Honest peers open one stream to us per node: a host running many
     * nodes stays far below 32; one host without the key takes no more. */
    cfg->stream_max_per_addr = 32;
    /* A few scrapers (Prometheus pairs, an ad-hoc curl) at once. */
    cfg->metrics_max_connections = 16;
    snprintf(cfg->log_format, sizeof(cfg->log_format), "text");
}

static int errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return GKV_EINVAL;
}

/* The leading decimal number of s (digits first, no sign), and where its
 * suffix starts. */
static int parse_leading_number(const char *s, unsigned long long *v, char **end)
{
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return GKV_EINVAL;
    *v = strtoull(s, end, 10);
    return errno ? GKV_EINVAL : 0;
}

int node_config_parse_duration_ms(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
                 {"d", 86400000}};
    char *end;
    unsigned long long v;
    if (parse_leading_number(s, &v, &end) != 0)
        return GKV_EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].unit) != 0)
            continue;
        /* HLC milliseconds have 48 bits: anything longer is nonsense */
        if (v > (1ull << 48) / units[i].ms)
            return GKV_EINVAL;
        *out = v * units[i].ms;
        return 0;
    }
    return GKV_EINVAL;
}

int node_config_parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (parse_leading_number(s, &v, &end) != 0)
        return GKV_EINVAL;
    unsigned long long mul = 1;
    if (*end) {
        if (!strcasecmp(end, "k"))
            mul = 1000ull;
        else if (!strcasecmp(end, "kb"))
            mul = 1024ull;
        else if (!strcasecmp(end, "m"))
            mul = 1000ull * 1000;
        else if (!strcasecmp(end, "mb"))
            mul = 1024ull * 1024;
        else if (!strcasecmp(end, "g"))
            mul = 1000ull * 1000 * 1000;
        else if (!strcasecmp(end, "gb"))
            mul = 1024ull * 1024 * 1024;
        else
            return GKV_EINVAL;
    }
    if (v > UINT64_MAX / mul)
        return GKV_EINVAL;
    *out = v * mul;
    return 0;
}

static const struct opt *find_opt(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcasecmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static int add_join(struct node_config *cfg, const char *value, char *err, size_t err_len)
{
    char tmp[NODE_MAX_SEEDS * NODE_ADDR_TEXT_MAX];
    if (strlen(value) >= sizeof(tmp))
        return errf(err, err_len, "join: list too long");
    snprintf(tmp, sizeof(tmp), "%s", value);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (cfg->join_count >= NODE_MAX_SEEDS)
            return errf(err, err_len, "join: more than %u seeds", NODE_MAX_SEEDS);
        char host[NODE_ADDR_TEXT_MAX];
        int port;
        if (strlen(tok) >= NODE_ADDR_TEXT_MAX ||
            node_addr_split(tok, host, sizeof(host), &port) != 0 || port == 0)
            return errf(err, err_len, "join: '%s' is not HOST:PORT", tok);
        snprintf(cfg->join[cfg->join_count++], NODE_ADDR_TEXT_MAX, "%s", tok);
    }
    return 0;
}

int node_config_set(struct node_config *cfg, const char *name, const char *value, char *err,
                    size_t err_len)
{
    const struct opt *o = find_opt(name);
    if (!o)
        return errf(err, err_len, "unknown setting '%s'", name);
    void *field = (char *)cfg + o->off;
    uint64_t v64;
    switch (o->type) {
    case OPT_STR:
    case OPT_SECRET:
        if (strlen(value) >= o->size)
            return errf(err, err_len, "%s: value longer than %zu bytes", name, o->size - 1);
        snprintf(field, o->size, "%s", value);
        return 0;
    case OPT_ADDR: {
        char host[NODE_ADDR_TEXT_MAX];
        int port;
        if (strlen(value) >= o->size || node_addr_split(value, host, sizeof(host), &port) != 0)
            return errf(err, err_len, "%s: '%s' is not HOST:PORT (IPv6 in brackets)", name, value);
        snprintf(field, o->size, "%s", value);
        return 0;
    }
    case OPT_BOOL:
        if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1"))
            *(bool *)field = true;
        else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0"))
            *(bool *)field = false;
        else
            return errf(err, err_len, "%s: expected yes or no, got '%s'", name, value);
        return 0;
    case OPT_U32:
    case OPT_BYTES:
        if (node_config_parse_bytes(value, &v64) != 0)
            return errf(err, err_len, "%s: '%s' is not a number", name, value);
        if (o->size == sizeof(uint32_t)) {
            if (v64 > UINT32_MAX)
                return errf(err, err_len, "%s: %s is too large", name, value);
            *(uint32_t *)field = (uint32_t)v64;
        } else {
            *(uint64_t *)field = v64;
        }
        return 0;
    case OPT_DURATION:
        if (node_config_parse_duration_ms(value, &v64) != 0 || v64 == 0)
            return errf(err, err_len, "%s: '%s' is not a duration (e.g. 500ms, 30s, 10m, 24h, 7d)",
                        name, value);
        *(uint64_t *)field = v64;
        return 0;
    case OPT_SYNC:
        if (!strcasecmp(value, "none"))
            cfg->sync = STORE_SYNC_NONE;
        else if (!strcasecmp(value, "batch"))
            cfg->sync = STORE_SYNC_BATCH;
        else if (!strcasecmp(value, "always"))
            cfg->sync = STORE_SYNC_ALWAYS;
        else
            return errf(err, err_len, "sync: expected none, batch or always, got '%s'", value);
        return 0;
    case OPT_PAGES:
        if (!strcasecmp(value, "values"))
            cfg->pages = STORE_PAGES_VALUES;
        else if (!strcasecmp(value, "none"))
            cfg->pages = STORE_PAGES_NONE;
        else if (!strcasecmp(value, "all"))
            cfg->pages = STORE_PAGES_ALL;
        else
            return errf(err, err_len, "huge-pages: expected values, none or all, got '%s'", value);
        return 0;
    case OPT_LEVEL:
        if (node_log_parse_level(value, &cfg->log_level) != 0)
            return errf(err, err_len, "log-level: expected debug, info, warn or error, got '%s'",
                        value);
        return 0;
    case OPT_JOIN:
        return add_join(cfg, value, err, err_len);
    }
    return GKV_EINVAL;
}

/* Split a config line into name and value; handles "double quoted" values
 * with \" and \\ escapes. Returns 0 (name empty = blank line) or -1. */
static int split_line(char *line, char **name, char **value)
{
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    *name = p;
    *value = NULL;
    if (*p == 0 || *p == '#') {
        **name = 0;
        return 0;
    }
    while (*p && !isspace((unsigned char)*p))
        p++;
    if (*p)
        *p++ = 0;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '"') {
        char *out = ++p, *start = p;
        while (*p && *p != '"') {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            *out++ = *p++;
        }
        if (*p != '"')
            return -1;
        p++;
        *out = 0;
        while (isspace((unsigned char)*p))
            p++;
        if (*p && *p != '#')
            return -1;
        *value = start;
        return 0;
    }
    char *start = p;
    /* Unquoted: up to a comment or the end, trailing space trimmed. */
    char *hash = strstr(p, " #");
    if (hash)
        *hash = 0;
    size_t n = strlen(start);
    while (n && isspace((unsigned char)start[n - 1]))
        start[--n] = 0;
    *value = start;
    return 0;
}

int node_config_load_file(struct node_config *cfg, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errf(err, err_len, "%s: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            rc = errf(err, err_len, "%s:%d: line too long", path, lineno);
            break;
        }
        char *name, *value;
        if (split_line(line, &name, &value) != 0) {
            rc = errf(err, err_len, "%s:%d: unbalanced quotes", path, lineno);
            break;
        }
        if (!*name)
            continue;
        const struct opt *o = find_opt(name);
        if (o && o->type == OPT_BOOL && (!value || !*value))
            value = "yes";
        if (!value || (!*value && o && o->type != OPT_STR && o->type != OPT_SECRET)) {
            rc = errf(err, err_len, "%s:%d: '%s' needs a value", path, lineno, name);
            break;
        }
        char e[256];
        if (node_config_set(cfg, name, value, e, sizeof(e)) != 0) {
            rc = errf(err, err_len, "%s:%d: %s", path, lineno, e);
            break;
        }
    }
    fclose(f);
    return rc;
}

void node_config_usage(void)
{
    printf("usage: gossipkv serve [--config FILE] [options]\n\n"
           "Runs a node in the foreground. Every option is also a config-file name\n"
           "(without the dashes, one `name value` per line).\n\n");
    printf("  %-30s %s\n", "--config FILE", "read settings from FILE first");
    for (size_t i = 0; i < NOPTS; i++) {
        char flag[64];
        if (opts[i].type == OPT_BOOL)
            snprintf(flag, sizeof(flag), "--%s", opts[i].name);
        else
            snprintf(flag, sizeof(flag), "--%s VALUE", opts[i].name);
        printf("  %-30s %s\n", flag, opts[i].help);
    }
    printf("\nThe key may also come from the environment variable GOSSIPKV_KEY.\n");
}

int node_config_from_args(struct node_config *cfg, int argc, char **argv, char *err,
                          size_t err_len)
{
    /* Pass 1: --config and --help. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            node_config_usage();
            return 1;
        }
        const char *path = NULL;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc)
                return errf(err, err_len, "--config needs a FILE");
            path = argv[i + 1];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            path = argv[i] + 9;
        }
        if (path) {
            int rc = node_config_load_file(cfg, path, err, err_len);
            if (rc != 0)
                return rc;
        }
    }
    /* Pass 2: every other flag, over the file. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return errf(err, err_len, "unexpected argument '%s' (see --help)", a);
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strncmp(a, "--config=", 9))
            continue;
        char name[64];
        const char *value = NULL;
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (nl >= sizeof(name))
            return errf(err, err_len, "unknown option '%s'", a);
        memcpy(name, a + 2, nl);
        name[nl] = 0;
        const struct opt *o = find_opt(name);
        if (!o)
            return errf(err, err_len, "unknown option '%s' (see --help)", a);
        if (eq) {
            value = eq + 1;
        } else if (o->type == OPT_BOOL) {
            value = "yes";
        } else {
            if (i + 1 >= argc)
                return errf(err, err_len, "%s needs a value", a);
            value = argv[++i];
        }
        int rc = node_config_set(cfg, name, value, err, err_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Safe defaults (Redis protected mode): a node does not serve clients on
 * the network without a password, nor gossip in clear text on the network,
 * unless told so in as many words. */
static int check_exposure(const struct node_config *cfg, char *err, size_t err_len)
{
    if (cfg->protected_mode && !cfg->requirepass[0] && !node_addr_is_loopback(cfg->client_addr))
        return errf(err, err_len,
                    "protected mode: clients would be served on %s, not a loopback address, "
                    "without a password, so anyone who can reach it could read and write every "
                    "key. Either set requirepass (clients then AUTH), or set protected-mode no "
                    "if the network itself keeps strangers out",
                    cfg->client_addr);
    if (cfg->insecure && !cfg->insecure_network && !node_addr_is_loopback(cfg->gossip_addr))
        return errf(err, err_len,
                    "--insecure with gossip on %s, not a loopback address: anyone on the "
                    "network could read the cluster's data and forge writes and membership. "
                    "Either give the cluster a key (`gossipkv keygen`, --key-file), or add "
                    "--insecure-network to accept that",
                    cfg->gossip_addr);
    return 0;
}

int node_config_finish(struct node_config *cfg, char *err, size_t err_len)
{
    char host[NODE_ADDR_TEXT_MAX];
    int port;
    if (node_addr_split(cfg->gossip_addr, host, sizeof(host), &port) != 0)
        return errf(err, err_len, "gossip: bad address '%s'", cfg->gossip_addr);
    if (!cfg->advertise_addr[0]) {
        if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
            return errf(err, err_len,
                        "gossip binds a wildcard address: set --advertise to a reachable one");
        snprintf(cfg->advertise_addr, sizeof(cfg->advertise_addr), "%s", cfg->gossip_addr);
    }
    if (!cfg->name[0]) {
        char hn[256] = "localhost";
        gethostname(hn, sizeof(hn) - 1);
        hn[sizeof(hn) - 1] = 0;
        snprintf(cfg->name, sizeof(cfg->name), "%.100s:%d", hn, port);
    }
    /* A value must fit one sync-stream frame (WIRE_MAX_FRAME) to replicate,
     * and peers decode with the default value limit: 1 MiB is the most a
     * cluster can carry today. */
    if (cfg->max_value_bytes == 0 || cfg->max_value_bytes > GKV_VALUE_MAX_DEFAULT)
        return errf(err, err_len,
                    "max-value-bytes: must be 1..%u (larger values could not be gossiped)",
                    GKV_VALUE_MAX_DEFAULT);
    /* Replies are handed to libuv as one buffer (unsigned int length). */
    if (cfg->client_output_buffer_limit_bytes > 1024ull * 1024 * 1024)
        return errf(err, err_len, "client-output-buffer-limit: at most 1gb");
    if (cfg->maxclients == 0)
        return errf(err, err_len, "maxclients: must be at least 1");
    if (cfg->client_query_buffer_limit_bytes < 1024 * 1024)
        return errf(err, err_len, "client-query-buffer-limit: must be at least 1mb");
    if (cfg->client_output_buffer_limit_bytes < 64 * 1024)
        return errf(err, err_len, "client-output-buffer-limit: must be at least 64kb");
    if (check_exposure(cfg, err, err_len) != 0)
        return GKV_EINVAL;
    /* A sync stream's queue is handed to libuv as buffers of unsigned int
     * length (node/cluster.c); and it must hold one largest frame. */
    if (cfg->stream_buffer_limit_bytes > 1024ull * 1024 * 1024 ||
        cfg->stream_buffer_limit_bytes < 2ull * 1024 * 1024)
        return errf(err, err_len, "stream-buffer-limit: must be 2mb..1gb");
    if (cfg->stream_auth_timeout_ms < 100 || cfg->stream_auth_timeout_ms > 60000)
        return errf(err, err_len, "stream-auth-timeout-ms: must be 100..60000");
    if (cfg->stream_max_per_addr == 0 || cfg->stream_max_per_addr > 1024)
        return errf(err, err_len, "stream-max-per-addr: must be 1..1024");
    if (cfg->metrics_max_connections == 0 || cfg->metrics_max_connections > 1024)
        return errf(err, err_len, "metrics-max-connections: must be 1..1024");
    if (strcmp(cfg->log_format, "text") != 0 && strcmp(cfg->log_format, "json") != 0)
        return errf(err, err_len, "log-format: expected text or json, got '%s'", cfg->log_format);
    return 0;
}

bool node_config_get(const struct node_config *cfg, const char *name, char *out, size_t out_len)
{
    const struct opt *o = find_opt(name);
    if (!o)
        return false;
    const void *field = (const char *)cfg + o->off;
    switch (o->type) {
    case OPT_STR:
    case OPT_ADDR:
        snprintf(out, out_len, "%s", (const char *)field);
        break;
    case OPT_SECRET:
        /* Never the secret itself: only whether one is set. */
        snprintf(out, out_len, "%s", *(const char *)field ? "(hidden)" : "");
        break;
    case OPT_BOOL:
        snprintf(out, out_len, "%s", *(const bool *)field ? "yes" : "no");
        break;
    case OPT_U32:
    case OPT_BYTES:
        if (o->size == sizeof(uint32_t))
            snprintf(out, out_len, "%u", *(const uint32_t *)field);
        else
            snprintf(out, out_len, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case OPT_DURATION:
        snprintf(out, out_len, "%llums", (unsigned long long)*(const uint64_t *)field);
        break;
    case OPT_SYNC:
        snprintf(out, out_len, "%s",
                 cfg->sync == STORE_SYNC_NONE     ? "none"
                 : cfg->sync == STORE_SYNC_ALWAYS ? "always"
                                                  : "batch");
        break;
    case OPT_PAGES:
        snprintf(out, out_len, "%s", store_pages_name(cfg->pages));
        break;
    case OPT_LEVEL:
        snprintf(out, out_len, "%s", node_log_level_name(cfg->log_level));
        break;
    case OPT_JOIN: {
        size_t k = 0;
        out[0] = 0;
        for (uint32_t i = 0; i < cfg->join_count && k < out_len; i++)
            k += (size_t)snprintf(out + k, out_len - k, "%s%s", i ? "," : "", cfg->join[i]);
        break;
    }
    }
    return true;
}
