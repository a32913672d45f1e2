/*
 * metrics.c: Prometheus text format (version 0.0.4) on HTTP GET /metrics.
 *
 * Threads: none of its own. The node is one libuv loop thread and its
 * state (store, gossip core, client counters) may only be read on that
 * thread, so libmicrohttpd runs in its external event-loop mode: started
 * without MHD_USE_INTERNAL_POLLING_THREAD (MHD then creates no thread) and
 * with MHD_USE_EPOLL, so the whole daemon (listener and every connection)
 * is one epoll descriptor. A uv_poll on that descriptor and a one-shot
 * uv_timer set from MHD_get_timeout call MHD_run on the loop thread, and the
 * request handler renders the page there, like INFO. The other design (an
 * MHD thread handing each request to the loop through uv_async and waiting)
 * costs a thread, a lock and a wake-up per scrape for nothing: a scrape is
 * as cheap as INFO.
 *
 * What the page holds:
 *   - every numeric INFO field, translated (render_info): the INFO text is
 *     the one list of counters, so a field added there is scraped too;
 *     gossipkv_<section>_<field>, units moved last (_bytes, _seconds; ms
 *     fields divided by 1000), counters ending in _total;
 *   - labelled families INFO spells as separate fields: members by state,
 *     seal refusals by reason;
 *   - client command latency histograms by command family.
 *
 * Limits: metrics-max-connections connections at once (more are refused at
 * accept, counted in INFO metrics_connections_refused); an idle connection
 * is closed after METRICS_IDLE_S; libmicrohttpd's default 32 KiB per
 * connection bounds a request's headers.
 */
#include "node/metrics.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"
#include "node/log.h"
#include "node/node.h"

/* Prometheus' own scrape timeout is 10 s: a connection idle longer than a
 * scrape can take is not a scraper. */
#define METRICS_IDLE_S 10u

/* Command families (node_command_family) and the histogram buckets, in
 * nanoseconds: a command runs in microseconds, so Prometheus' default
 * buckets (5 ms..10 s) would put everything in the first one. */
static const char *const families[] = {"read", "write", "admin", "other"};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))
static const uint64_t bucket_ns[] = {
    10000,   25000,    50000,    100000,   250000,    500000,    1000000,    2500000,
    5000000, 10000000, 25000000, 50000000, 100000000, 250000000, 1000000000,
};
#define NBUCKETS (sizeof(bucket_ns) / sizeof(bucket_ns[0]))

struct metrics_hist {
    uint64_t counts[NBUCKETS + 1]; /* not cumulative; last = above every bound */
    uint64_t count;
    uint64_t sum_ns;
};

/* Gossip datagram bytes per peer address (node_metrics_peer_bytes). */
struct metrics_peer {
    char addr[NODE_ADDR_TEXT_MAX];
    uint64_t in_bytes, out_bytes;
};

struct node_metrics {
    struct node *node;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    bool polling;
    uint32_t open, max_open;
    uint64_t refused, requests, bad_requests;
    struct metrics_hist hist[NFAMILIES];
    struct metrics_peer peers[METRICS_PEERS_MAX + 1]; /* the last: "other" */
    uint32_t npeers;
    struct resp_buf body; /* reused for every scrape */
};

static void out_printf(struct resp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void out_printf(struct resp_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        resp_buf_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void out_header(struct resp_buf *b, const char *name, const char *type, const char *help)
{
    out_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_escape(const char *s, char *out, size_t out_len)
{
    size_t k = 0;
    for (; *s && k + 3 < out_len; s++) {
        if (*s == '\\' || *s == '"') {
            out[k++] = '\\';
            out[k++] = *s;
        } else if (*s == '\n') {
            out[k++] = '\\';
            out[k++] = 'n';
        } else {
            out[k++] = *s;
        }
    }
    out[k] = 0;
}

/* --- INFO fields -> metric names ----------------------------------------- */

/* Fields that are not metrics, or that the page shows with labels. */
static const char *const skipped[] = {
    "process_id",   "tcp_port",     "uptime_in_days", "cluster_enabled",
    "node_id",      "root_hash",    "members_alive",  "members_suspect",
    "members_dead", "members_left", "refused_total",
};

/* Fields that are levels or settings, not counts of events. */
static const char *const gauges[] = {
    "seal_epoch",
    "uptime_in_seconds",
    "connected_clients",
    "maxclients",
    "client_timeout_s",
    "client_output_buffer_limit_bytes",
    "client_query_buffer_limit_bytes",
    "client_output_buffer_soft_limit_bytes",
    "client_output_buffer_soft_seconds",
    "metrics_connections",
    "metrics_max_connections",
    "members_total",
    "incarnation",
    "seeds",
    "peers_remembered",
    "peers_max",
    "rejoin_peers",
    "gc_bound_hlc",
    "awareness",
    "queued_member_updates",
    "queued_deltas",
    "replay_senders",
    "replay_senders_max",
    "streams_open",
    "streams_unauthenticated",
    "stream_memory_bytes",
    "stream_max_per_addr",
    "stream_auth_timeout_ms",
    "entries",
    "tombstones",
    "tombstones_purgeable",
    "tombstones_purged_per_second",
    "oldest_tombstone_age_s",
    "tombstone_grace_ms",
    "tombstone_index_bytes",
    "capacity",
    "load",
    "file_bytes",
    "value_bytes_used",
    "value_bytes_free",
    "value_bytes_held",
    "read_cache_bytes",
    "max_value_bytes",
    "max_keys",
    "growing",
    "recovered",
    "bucket_index_bytes",
    "log_enabled",
    "log_gen",
    "log_bytes",
    "log_durable_bytes",
    "log_checkpoint_bytes",
    "hlc_last",
    "flush_in_progress",
    "flush_call_slots",
    "flush_tick_slots",
    "lcs_table_max_bytes",
    "randomkey_max_slots",
    "clock_offset_ms",
    "clock_bound_ms",
    "clock_peers_measured",
    "clock_correction_ms",
    "clock_lead_ms",
    "clock_writes_refusing",
    "clock_offset_injected_ms",
    /* facts about the last open, not events of this process */
    "torn_slots_dropped",
    "log_replayed_records",
    "log_replay_torn_bytes",
    "log_replay_bad_files",
};

static bool in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}
#define IN_LIST(list, s) in_list(list, sizeof(list) / sizeof(list[0]), s)

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* A time in a field's name is a duration, offset or setting, never a count:
 * a gauge even when the list above does not name it. */
static bool is_gauge(const char *field)
{
    return IN_LIST(gauges, field) || ends_with(field, "_ms") || ends_with(field, "_s") ||
           ends_with(field, "_seconds");
}

/* gossipkv_<section>_<field> with Prometheus' conventions: "total_" and
 * "_in_" before a unit dropped, "bytes" and the time unit moved last
 * (ms becomes seconds: *scale = 0.001), "_total" after a counter. */
static void metric_name(const char *section, const char *field, bool counter, char *out,
                        size_t out_len, double *scale)
{
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%.100s", strncmp(field, "total_", 6) ? field : field + 6);
    const char *unit = NULL;
    *scale = 1.0;
    size_t k = (size_t)snprintf(out, out_len, "gossipkv_%s", section);
    char *save = NULL;
    for (char *t = strtok_r(tmp, "_", &save); t && k < out_len; t = strtok_r(NULL, "_", &save)) {
        if (!strcmp(t, "bytes")) {
            unit = "bytes";
        } else if (!strcmp(t, "ms") || !strcmp(t, "s") || !strcmp(t, "seconds")) {
            unit = "seconds";
            if (!strcmp(t, "ms"))
                *scale = 0.001;
        } else if (!strcmp(t, "in") && save && !strcmp(save, "seconds")) {
            continue; /* uptime_in_seconds */
        } else if (!strcmp(t, "total") && !counter && !*save) {
            continue; /* members_total: "_total" is for counters only */
        } else {
            k += (size_t)snprintf(out + k, out_len - k, "_%s", t);
        }
    }
    if (unit && k < out_len)
        k += (size_t)snprintf(out + k, out_len - k, "_%s", unit);
    if (counter && k < out_len)
        snprintf(out + k, out_len - k, "_total");
}

static void render_field(struct resp_buf *b, const char *section, const char *field,
                         const char *value)
{
    if (IN_LIST(skipped, field) || !strncmp(field, "refused_", 8))
        return;
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end)
        return; /* text: names, addresses, modes */
    bool counter = !is_gauge(field);
    char name[192];
    double scale;
    metric_name(section, field, counter, name, sizeof(name), &scale);
    char help[192];
    snprintf(help, sizeof(help), "INFO %.31s field %.100s (docs/OPERATIONS.md).", section, field);
    out_header(b, name, counter ? "counter" : "gauge", help);
    if (scale == 1.0)
        out_printf(b, "%s %s\n", name, value); /* exact, also past 2^53 */
    else
        out_printf(b, "%s %.17g\n", name, v * scale);
}

/* Every "name:value" line of INFO all, by section. */
static void render_info(struct node *n, struct resp_buf *b)
{
    struct resp_buf info;
    resp_buf_init(&info);
    node_info(n, "all", &info);
    char section[32] = "server";
    size_t i = 0;
    while (i < info.len) {
        const char *ln = (const char *)info.data + i;
        const char *nl = memchr(ln, '\n', info.len - i);
        size_t len = nl ? (size_t)(nl - ln) : info.len - i;
        i += len + 1;
        if (len && ln[len - 1] == '\r')
            len--;
        char line[512];
        if (len == 0 || len >= sizeof(line))
            continue;
        memcpy(line, ln, len);
        line[len] = 0;
        if (line[0] == '#') {
            size_t s = 0;
            for (const char *p = line + 1; *p && s + 1 < sizeof(section); p++)
                if (*p != ' ')
                    section[s++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
            section[s] = 0;
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = 0;
        render_field(b, section, line, colon + 1);
    }
    resp_buf_free(&info);
}

/* --- labelled families and histograms ------------------------------------- */

static void render_labelled(struct node *n, struct resp_buf *b)
{
    char qname[2 * WIRE_MAX_NAME + 8];
    label_escape(n->cfg.name, qname, sizeof(qname));
    out_header(b, "gossipkv_build_info", "gauge", "Always 1; the labels say which node and build.");
    out_printf(b, "gossipkv_build_info{version=\"%s\",name=\"%s\",node_id=\"%016" PRIx64 "\"} 1\n",
               GKV_VERSION, qname, n->node_id);

    uint32_t st[4] = {1, 0, 0, 0};
    if (n->gossip) {
        struct gossip_stats gs;
        gossip_stats(n->gossip, &gs);
        st[0] = gs.alive, st[1] = gs.suspect, st[2] = gs.dead, st[3] = gs.left;
    }
    static const char *const states[] = {"alive", "suspect", "dead", "left"};
    out_header(b, "gossipkv_members", "gauge", "Members this node knows, by SWIM state.");
    for (int i = 0; i < 4; i++)
        out_printf(b, "gossipkv_members{state=\"%s\"} %u\n", states[i], st[i]);

    if (n->seal) {
        const struct seal_stats *ss = seal_ctx_stats(n->seal);
        out_header(b, "gossipkv_seal_refusals_total", "counter",
                   "Packets and frames the envelope refused, by reason (docs/ENVELOPE.md).");
        for (int r = 0; r < SEAL_REFUSE_COUNT; r++)
            out_printf(b, "gossipkv_seal_refusals_total{reason=\"%s\"} %" PRIu64 "\n",
                       seal_refusal_name((enum seal_refusal)r), ss->refused[r]);
    }
}

static void render_histograms(const struct node_metrics *m, struct resp_buf *b)
{
    const char *name = "gossipkv_command_duration_seconds";
    out_header(b, name, "histogram",
               "Client command execution time by family (read, write, admin, other), "
               "measured on the loop thread around the command.");
    for (size_t f = 0; f < NFAMILIES; f++) {
        const struct metrics_hist *h = &m->hist[f];
        uint64_t cum = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            cum += h->counts[i];
            out_printf(b, "%s_bucket{family=\"%s\",le=\"%g\"} %" PRIu64 "\n", name, families[f],
                       (double)bucket_ns[i] / 1e9, cum);
        }
        out_printf(b, "%s_bucket{family=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, families[f],
                   h->count);
        out_printf(b, "%s_sum{family=\"%s\"} %.9f\n", name, families[f], (double)h->sum_ns / 1e9);
        out_printf(b, "%s_count{family=\"%s\"} %" PRIu64 "\n", name, families[f], h->count);
    }
}

void node_metrics_peer_bytes(struct node_metrics *m, const char *addr, size_t len, bool out)
{
    if (!m)
        return;
    struct metrics_peer *p = &m->peers[METRICS_PEERS_MAX];
    for (uint32_t i = 0; i < m->npeers; i++)
        if (!strcmp(m->peers[i].addr, addr)) {
            p = &m->peers[i];
            break;
        }
    if (p == &m->peers[METRICS_PEERS_MAX] && out && m->npeers < METRICS_PEERS_MAX &&
        strlen(addr) < sizeof(p->addr)) {
        p = &m->peers[m->npeers++];
        snprintf(p->addr, sizeof(p->addr), "%s", addr);
    }
    if (out)
        p->out_bytes += len;
    else
        p->in_bytes += len;
}

static void render_peers(const struct node_metrics *m, struct resp_buf *b)
{
    static const char *const names[2] = {"gossipkv_gossip_peer_out_bytes_total",
                                         "gossipkv_gossip_peer_in_bytes_total"};
    for (int dir = 0; dir < 2; dir++) {
        out_header(b, names[dir], "counter",
                   dir == 0 ? "Gossip datagram bytes sent, by peer address (TCP sync streams "
                              "not included)."
                            : "Gossip datagram bytes received, by peer address; from addresses "
                              "this node never sent to: peer=\"other\".");
        for (uint32_t i = 0; i <= m->npeers; i++) {
            const struct metrics_peer *p =
                i < m->npeers ? &m->peers[i] : &m->peers[METRICS_PEERS_MAX];
            char peer[2 * NODE_ADDR_TEXT_MAX];
            label_escape(i < m->npeers ? p->addr : "other", peer, sizeof(peer));
            out_printf(b, "%s{peer=\"%s\"} %" PRIu64 "\n", names[dir], peer,
                       dir == 0 ? p->out_bytes : p->in_bytes);
        }
    }
}

void node_metrics_render(struct node *n, struct resp_buf *out)
{
    render_labelled(n, out);
    render_info(n, out);
    if (n->metrics) {
        render_histograms(n->metrics, out);
        render_peers(n->metrics, out);
    }
}

void node_metrics_observe(struct node_metrics *m, const char *family, uint64_t dur_ns)
{
    if (!m)
        return;
    size_t f = NFAMILIES - 1;
    for (size_t i = 0; i < NFAMILIES; i++)
        if (!strcmp(families[i], family))
            f = i;
    struct metrics_hist *h = &m->hist[f];
    size_t i = 0;
    while (i < NBUCKETS && dur_ns > bucket_ns[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_ns += dur_ns;
}

void node_metrics_stats(const struct node_metrics *m, struct node_metrics_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!m)
        return;
    out->connections = m->open;
    out->max_connections = m->max_open;
    out->connections_refused = m->refused;
    out->requests = m->requests;
    out->bad_requests = m->bad_requests;
}

/* --- HTTP (libmicrohttpd, driven by the loop) ----------------------------- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned int status, const char *type,
                              const void *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct node_metrics *m = cls;
    (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
    static const char text[] = "text/plain; charset=utf-8";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        m->bad_requests++;
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET /metrics\n", 13);
    }
    if (strcmp(url, "/metrics") != 0) {
        m->bad_requests++;
        return answer(conn, MHD_HTTP_NOT_FOUND, text, "not found: GET /metrics\n", 24);
    }
    m->requests++;
    m->body.len = 0;
    m->body.failed = false;
    node_metrics_render(m->node, &m->body);
    if (m->body.failed)
        return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n", 14);
    return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", m->body.data,
                  m->body.len);
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct node_metrics *m = cls;
    (void)addrlen;
    if (m->open < m->max_open)
        return MHD_YES;
    m->refused++;
    if (node_log_enabled(NODE_LOG_DEBUG)) {
        char text[NODE_ADDR_TEXT_MAX] = "?";
        node_addr_format(addr, text, sizeof(text));
        node_log(NODE_LOG_DEBUG, "metrics connection refused: limit", "client=%s max=%u", text,
                 m->max_open);
    }
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct node_metrics *m = cls;
    (void)conn, (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        m->open++;
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && m->open)
        m->open--;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256], q[300];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = 0;
    node_log(NODE_LOG_WARN, "metrics http", "error=%s", node_log_quote(msg, q, sizeof(q)));
}

static void on_timer(uv_timer_t *t);

/* Let MHD do what is ready, then wake it again when its timeout says. */
static void drive(struct node_metrics *m)
{
    if (!m->polling)
        return;
    MHD_run(m->daemon);
    MHD_UNSIGNED_LONG_LONG timeout_ms;
    if (MHD_get_timeout(m->daemon, &timeout_ms) == MHD_YES)
        uv_timer_start(&m->timer, on_timer, timeout_ms, 0);
    else
        uv_timer_stop(&m->timer);
}

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    drive(p->data);
}

int node_metrics_start(struct node *n)
{
    if (!n->cfg.metrics_addr[0])
        return 0;
    struct sockaddr_storage ss;
    if (node_addr_resolve(n->cfg.metrics_addr, &ss) != 0) {
        node_log(NODE_LOG_ERROR, "metrics: cannot resolve address", "addr=%s", n->cfg.metrics_addr);
        return GKV_EINVAL;
    }
    struct node_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return GKV_ENOMEM;
    m->node = n;
    m->max_open = n->cfg.metrics_max_connections;
    resp_buf_init(&m->body);
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(flags, 0, on_accept, m, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_IDLE_S,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        m->daemon ? MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        node_log(NODE_LOG_ERROR, "metrics: cannot listen", "addr=%s", n->cfg.metrics_addr);
        node_metrics_free(m);
        return GKV_EIO;
    }
    uv_poll_init(n->loop, &m->poll, info->epoll_fd);
    m->poll.data = m;
    uv_timer_init(n->loop, &m->timer);
    m->timer.data = m;
    uv_poll_start(&m->poll, UV_READABLE, on_poll);
    m->polling = true;
    n->metrics = m;
    node_log(NODE_LOG_INFO, "metrics listening", "addr=%s max_connections=%u", n->cfg.metrics_addr,
             m->max_open);
    return 0;
}

void node_metrics_stop(struct node_metrics *m)
{
    if (!m || !m->polling)
        return;
    m->polling = false;
    uv_close((uv_handle_t *)&m->poll, NULL);
    uv_close((uv_handle_t *)&m->timer, NULL);
}

void node_metrics_free(struct node_metrics *m)
{
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon);
    resp_buf_free(&m->body);
    free(m);
}
