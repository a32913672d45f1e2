/*
 * server.c: the Redis-protocol listener and its connections.
 *
 * Per connection: libuv reads straight into the RESP parser's buffer; each
 * read callback runs every complete command buffered (pipelining) and the
 * replies, appended to one buffer, leave in one uv_try_write, or one
 * uv_write for the rest. While a write is in flight new replies go to a
 * second buffer (two buffers swap: no copy, no per-command allocation).
 *
 * Limits, each counted in node_server_stats (INFO stats):
 *   maxclients                   accept, answer "-ERR max number of clients
 *                                reached", close (as Redis)
 *   client-output-buffer-limit   queued reply bytes, enforced while a reply
 *                                is built (resp_buf.limit): the reply is cut,
 *                                an error answered, the client closed
 *   client-query-buffer-limit /  the parser's limits: the protocol error is
 *   parser limits                answered, then the connection closed
 *   client-output-buffer-soft-   more than the soft limit queued for soft-
 *   limit / -soft-seconds        seconds in a row (checked by the 1 s cron):
 *                                closed (Redis's soft limit: a slow reader)
 *   timeout                      clients with no read and no write progress
 *                                for that long closed by the 1 s cron, also
 *                                when replies are queued (a reader that never
 *                                reads is idle)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "node/addr.h"
#include "node/client_detached.h"
#include "node/log.h"
#include "node/metrics.h"
#include "node/node.h"

/* Free reply buffers bigger than this once drained, so one big MGET does
 * not pin memory for the life of the connection. */
#define CLIENT_KEEP_OUT_BYTES (1024u * 1024u)
/* Keep a read buffer of up to this size across requests (Redis keeps its
 * query buffer unless it is larger than 32 KiB and idle). Before AUTH none
 * is kept: an idle unauthenticated connection holds no buffer at all. */
#define CLIENT_KEEP_IN_BYTES RESP_READ_CHUNK

struct node_client {
    uv_tcp_t tcp;
    struct node_server *srv;
    struct node_client *prev, *next;
    struct resp_parser parser;
    struct resp_buf pend; /* replies being collected */
    struct resp_buf out;  /* replies being written (uv_write in flight) */
    uv_write_t wreq;
    bool writing, closing, close_after_reply, authed, admin, listed;
    bool detached; /* no socket: node_client_feed in, node_client_take out */
    uint64_t id;
    uint64_t created_ms, last_ms; /* loop time; last_ms: last read or write progress */
    uint64_t soft_since_ms;       /* over the soft output limit since (0: not over) */
    size_t last_write_queue;      /* uv write queue size seen by the last cron */
    char name[64];
    char addr[NODE_ADDR_TEXT_MAX];
};

static void client_limits(struct node_client *c, struct resp_limits *lim)
{
    const struct node_config *cfg = &c->srv->node->cfg;
    if (!c->authed) {
        resp_limits_unauth(lim);
        return;
    }
    resp_limits_default(lim, cfg->max_value_bytes);
    lim->max_query_bytes = cfg->client_query_buffer_limit_bytes;
}

struct resp_buf *node_client_out(struct node_client *c)
{
    return &c->pend;
}

struct node *node_client_node(struct node_client *c)
{
    return c->srv->node;
}

bool node_client_authed(const struct node_client *c)
{
    return c->authed;
}

bool node_client_admin(const struct node_client *c)
{
    return c->admin;
}

void node_client_set_admin(struct node_client *c, bool admin)
{
    c->admin = admin;
}

void node_client_set_authed(struct node_client *c, bool authed)
{
    c->authed = authed;
    struct resp_limits lim;
    client_limits(c, &lim);
    resp_parser_set_limits(&c->parser, &lim);
}

void node_client_close_after_reply(struct node_client *c)
{
    c->close_after_reply = true;
}

const char *node_client_name(const struct node_client *c)
{
    return c->name;
}

int node_client_set_name(struct node_client *c, const uint8_t *name, size_t len)
{
    if (len >= sizeof(c->name))
        return GKV_ETOOLONG;
    /* Redis: names cannot contain spaces, newlines or special characters. */
    for (size_t i = 0; i < len; i++)
        if (name[i] < '!' || name[i] > '~')
            return GKV_EINVAL;
    memcpy(c->name, name, len);
    c->name[len] = 0;
    return 0;
}

uint64_t node_client_id(const struct node_client *c)
{
    return c->id;
}

void node_server_each_client(struct node_server *srv,
                             void (*cb)(void *arg, const struct node_client_view *v), void *arg)
{
    uint64_t now = uv_now(srv->node->loop);
    for (struct node_client *c = srv->clients; c; c = c->next) {
        struct node_client_view v = {
            .id = c->id,
            .addr = c->addr,
            .name = c->name,
            .age_s = (now - c->created_ms) / 1000,
            .idle_s = (now - c->last_ms) / 1000,
        };
        cb(arg, &v);
    }
}

static void on_close(uv_handle_t *h)
{
    struct node_client *c = h->data;
    resp_parser_free(&c->parser);
    resp_buf_free(&c->pend);
    resp_buf_free(&c->out);
    free(c);
}

static void client_close(struct node_client *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->listed) {
        struct node_server *srv = c->srv;
        if (c->prev)
            c->prev->next = c->next;
        else
            srv->clients = c->next;
        if (c->next)
            c->next->prev = c->prev;
        srv->nclients--;
        c->listed = false;
    }
    if (!c->detached) /* a detached client is freed by node_client_free_detached */
        uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void client_flush(struct node_client *c);

static void on_write(uv_write_t *req, int status)
{
    struct node_client *c = req->data;
    c->writing = false;
    if (c->closing)
        return;
    c->last_ms = uv_now(c->srv->node->loop);
    c->out.len = 0;
    if (c->out.cap > CLIENT_KEEP_OUT_BYTES)
        resp_buf_free(&c->out);
    if (status < 0) {
        client_close(c);
        return;
    }
    client_flush(c);
}

static void client_flush(struct node_client *c)
{
    if (c->closing || c->writing)
        return;
    if (c->pend.len == 0) {
        if (c->close_after_reply)
            client_close(c);
        return;
    }
    if (c->pend.failed) {
        client_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->pend.data, (unsigned)c->pend.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->pend.len) {
        c->srv->stats.net_output_bytes += (uint64_t)n;
        c->pend.len = 0;
        if (c->pend.cap > CLIENT_KEEP_OUT_BYTES)
            resp_buf_free(&c->pend);
        if (c->close_after_reply)
            client_close(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        client_close(c);
        return;
    }
    if (n < 0)
        n = 0;
    c->srv->stats.net_output_bytes += (uint64_t)c->pend.len;
    /* Hand the rest to uv_write: the collected buffer becomes the in-flight
     * one, the (empty) in-flight buffer starts collecting. */
    struct resp_buf tmp = c->out;
    c->out = c->pend;
    c->pend = tmp;
    c->pend.len = 0;
    b = uv_buf_init((char *)c->out.data + n, (unsigned)(c->out.len - (size_t)n));
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        client_close(c);
        return;
    }
    c->writing = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct node_client *c = h->data;
    uint8_t *p;
    size_t avail;
    size_t chunk = c->authed ? RESP_READ_CHUNK : RESP_UNAUTH_READ_CHUNK;
    if (c->closing || c->close_after_reply ||
        resp_parser_reserve(&c->parser, chunk, &p, &avail) != 0) {
        *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)p, (unsigned)(avail > UINT32_MAX ? UINT32_MAX : avail));
}

static void count_parse_error(struct node_client *c)
{
    struct node_server_stats *st = &c->srv->stats;
    switch (resp_parser_error_kind(&c->parser)) {
    case RESP_ERR_LIMIT:
        st->parser_limit_errors++;
        break;
    case RESP_ERR_QUERY_LIMIT:
        st->query_buffer_disconnects++;
        break;
    default:
        st->protocol_errors++;
        break;
    }
}

/* A reply passed client-output-buffer-limit while it was built: drop what
 * was built of it, answer why, close (Redis closes a client past its hard
 * limit; the error line tells the client it was not a network failure). */
static void reply_cut(struct node_client *c, size_t start, uint64_t limit)
{
    struct node_server_stats *st = &c->srv->stats;
    st->output_limit_cuts++;
    st->output_buffer_disconnects++;
    node_log(NODE_LOG_WARN, "client closed: reply over the output buffer limit",
             "client=%s id=%llu limit_bytes=%llu", c->addr, (unsigned long long)c->id,
             (unsigned long long)limit);
    c->pend.len = start;
    c->pend.failed = false;
    c->pend.over_limit = false;
    resp_write_error(&c->pend, "ERR reply exceeds client-output-buffer-limit: closing");
    c->close_after_reply = true;
}

static void client_process_cmds(struct node_client *c);

/* The commands a read made complete (latency.h: their time is the turn's
 * "command" section when the latency monitor is on). */
static void client_process(struct node_client *c)
{
    struct node *n = c->srv->node;
    if (!n->latency.threshold_ms) {
        client_process_cmds(c);
        return;
    }
    uint64_t t0 = uv_hrtime();
    client_process_cmds(c);
    node_latency_section(n, NODE_LAT_COMMAND, t0);
}

static void client_process_cmds(struct node_client *c)
{
    struct node_server *srv = c->srv;
    uint64_t limit = srv->node->cfg.client_output_buffer_limit_bytes;
    while (!c->closing && !c->close_after_reply) {
        struct resp_cmd cmd;
        int rc = resp_parser_next(&c->parser, &cmd);
        if (rc == RESP_NEED_MORE)
            break;
        if (rc == RESP_ERROR) {
            count_parse_error(c);
            if (node_log_enabled(NODE_LOG_DEBUG))
                node_log(NODE_LOG_DEBUG, "client protocol error", "client=%s id=%llu error=\"%s\"",
                         c->addr, (unsigned long long)c->id, resp_parser_error(&c->parser));
            resp_write_error(&c->pend, resp_parser_error(&c->parser));
            c->close_after_reply = true;
            break;
        }
        /* The output limit holds while the reply is built: the reply
         * buffer refuses to grow past what the limit leaves (queued bytes
         * already in flight count), and the command stops there. */
        uint64_t queued = c->writing ? c->out.len : 0;
        size_t start = c->pend.len;
        c->pend.limit = queued < limit ? (size_t)(limit - queued) : 1;
        /* Latency on the loop's monotonic clock (uv_hrtime: uv_now is the
         * time the loop iteration started, the same for every command). */
        const char *family = srv->node->metrics ? node_command_family(&cmd) : NULL;
        uint64_t t0 = family ? uv_hrtime() : 0;
        node_command_exec(c, &cmd);
        if (family)
            node_metrics_observe(srv->node->metrics, family, uv_hrtime() - t0);
        c->pend.limit = 0;
        srv->stats.commands_processed++;
        if (c->pend.over_limit) {
            reply_cut(c, start, limit);
            break;
        }
        if ((uint64_t)c->pend.len + (c->writing ? c->out.len : 0) > limit) {
            srv->stats.output_buffer_disconnects++;
            node_log(NODE_LOG_WARN, "client closed: output buffer limit",
                     "client=%s id=%llu limit_bytes=%llu", c->addr, (unsigned long long)c->id,
                     (unsigned long long)limit);
            client_close(c);
            return;
        }
    }
}

/* The parser refused to grow (a limit): answer its error, then close. */
static void client_input_refused(struct node_client *c)
{
    count_parse_error(c);
    resp_write_error(&c->pend, resp_parser_error(&c->parser));
    c->close_after_reply = true;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct node_client *c = s->data;
    if (c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS && resp_parser_error(&c->parser)) {
            client_input_refused(c);
            uv_read_stop(s);
            client_flush(c);
            return;
        }
        if (nread == UV_ENOBUFS && c->close_after_reply) {
            uv_read_stop(s);
            return;
        }
        client_close(c);
        return;
    }
    if (nread == 0)
        return;
    resp_parser_commit(&c->parser, (size_t)nread);
    c->srv->stats.net_input_bytes += (uint64_t)nread;
    c->last_ms = uv_now(c->srv->node->loop);
    client_process(c);
    if (c->closing)
        return;
    if (c->close_after_reply)
        uv_read_stop(s);
    else if (resp_parser_pending(&c->parser) == 0)
        resp_parser_shrink(&c->parser, c->authed ? CLIENT_KEEP_IN_BYTES : 0);
    client_flush(c);
}

/* Before AUTH when a password is set; the parser with the limits that go
 * with it. */
static void client_setup(struct node_client *c)
{
    c->authed = c->srv->node->cfg.requirepass[0] == 0;
    struct resp_limits lim;
    client_limits(c, &lim);
    resp_parser_init(&c->parser, &lim);
}

/* An id, and a place in the server's list (CLIENT LIST, maxclients). */
static void client_list(struct node_client *c)
{
    struct node_server *srv = c->srv;
    c->id = ++srv->next_client_id;
    c->created_ms = c->last_ms = uv_now(srv->node->loop);
    c->listed = true;
    c->next = srv->clients;
    if (srv->clients)
        srv->clients->prev = c;
    srv->clients = c;
    srv->nclients++;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct node_server *srv = listener->data;
    if (status < 0) {
        srv->stats.accept_errors++;
        node_log(NODE_LOG_WARN, "client accept failed", "error=\"%s\"", uv_strerror(status));
        return;
    }
    struct node_client *c = calloc(1, sizeof(*c));
    if (!c) {
        srv->stats.accept_errors++;
        return;
    }
    c->srv = srv;
    c->tcp.data = c;
    uv_tcp_init(srv->node->loop, &c->tcp);
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        srv->stats.accept_errors++;
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    srv->stats.connections_received++;
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        node_addr_format((struct sockaddr *)&ss, c->addr, sizeof(c->addr));
    else
        strcpy(c->addr, "?");
    client_setup(c);
    if (srv->nclients >= srv->node->cfg.maxclients) {
        /* As Redis: tell the client why, best effort, then close. */
        static const char msg[] = "-ERR max number of clients reached\r\n";
        uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        srv->stats.rejected_connections++;
        client_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    client_list(c);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        client_close(c);
}

void node_server_init(struct node_server *srv, struct node *node)
{
    memset(srv, 0, sizeof(*srv));
    srv->node = node;
    resp_buf_init(&srv->scratch);
}

int node_server_start(struct node_server *srv, struct node *node)
{
    node_server_init(srv, node);
    struct sockaddr_storage ss;
    if (node_addr_resolve(node->cfg.client_addr, &ss) != 0) {
        node_log(NODE_LOG_ERROR, "bad client address", "addr=%s", node->cfg.client_addr);
        return GKV_EINVAL;
    }
    uv_tcp_init(node->loop, &srv->listener);
    srv->listener.data = srv;
    int rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, (int)node->cfg.tcp_backlog, on_connection);
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot listen for clients", "addr=%s error=\"%s\"",
                 node->cfg.client_addr, uv_strerror(rc));
        uv_close((uv_handle_t *)&srv->listener, NULL);
        return GKV_EIO;
    }
    srv->listening = true;
    return 0;
}

void node_server_stop(struct node_server *srv)
{
    if (srv->listening) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
        srv->listening = false;
    }
    while (srv->clients)
        client_close(srv->clients);
    resp_buf_free(&srv->scratch);
}

/* Redis's soft output limit: more than soft_bytes queued for soft_s
 * seconds in a row closes the client. Returns true if it was closed. */
static bool client_check_soft_limit(struct node_client *c, size_t queued, uint64_t now_mono_ms)
{
    const struct node_config *cfg = &c->srv->node->cfg;
    if (cfg->client_output_buffer_soft_limit_bytes == 0 ||
        queued <= cfg->client_output_buffer_soft_limit_bytes) {
        c->soft_since_ms = 0;
        return false;
    }
    if (c->soft_since_ms == 0) {
        c->soft_since_ms = now_mono_ms ? now_mono_ms : 1;
        return false;
    }
    if (now_mono_ms - c->soft_since_ms < (uint64_t)cfg->client_output_buffer_soft_seconds * 1000)
        return false;
    c->srv->stats.slow_reader_disconnects++;
    c->srv->stats.output_buffer_disconnects++;
    node_log(NODE_LOG_WARN, "client closed: over the soft output limit",
             "client=%s id=%llu "
             "queued_bytes=%zu soft_limit_bytes=%llu soft_seconds=%u",
             c->addr, (unsigned long long)c->id, queued,
             (unsigned long long)cfg->client_output_buffer_soft_limit_bytes,
             cfg->client_output_buffer_soft_seconds);
    client_close(c);
    return true;
}

void node_server_cron(struct node_server *srv, uint64_t now_mono_ms)
{
    uint32_t timeout_s = srv->node->cfg.timeout_s;
    struct node_client *c = srv->clients;
    while (c) {
        struct node_client *next = c->next;
        /* Bytes libuv still has to write: a change since the last cron is
         * write progress (uv_write reports only when all is written). */
        size_t wq = c->writing ? uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) : 0;
        if (wq != c->last_write_queue) {
            if (wq < c->last_write_queue)
                c->last_ms = now_mono_ms;
            c->last_write_queue = wq;
        }
        if (client_check_soft_limit(c, c->pend.len + wq, now_mono_ms)) {
            c = next;
            continue;
        }
        /* Idle means no read and no write progress: a reader that never
         * reads its queued replies is idle too (Redis counts both). */
        if (timeout_s && now_mono_ms - c->last_ms > (uint64_t)timeout_s * 1000) {
            srv->stats.idle_timeouts++;
            node_log(NODE_LOG_DEBUG, "client closed: idle timeout", "client=%s id=%llu",
                     c->addr, (unsigned long long)c->id);
            client_close(c);
        }
        c = next;
    }
}

/* ------------------------------------------------ clients with no socket */

int node_client_new_detached(struct node_server *srv, const char *addr, struct node_client **out)
{
    *out = NULL;
    if (srv->nclients >= srv->node->cfg.maxclients) {
        srv->stats.rejected_connections++;
        return GKV_EFULL;
    }
    struct node_client *c = calloc(1, sizeof(*c));
    if (!c)
        return GKV_ENOMEM;
    c->srv = srv;
    c->detached = true;
    srv->stats.connections_received++;
    snprintf(c->addr, sizeof(c->addr), "%s", addr ? addr : "?");
    client_setup(c);
    client_list(c);
    *out = c;
    return 0;
}

void node_client_feed(struct node_client *c, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    while (len > 0 && !c->closing && !c->close_after_reply) {
        uint8_t *dst;
        size_t avail;
        size_t chunk = c->authed ? RESP_READ_CHUNK : RESP_UNAUTH_READ_CHUNK;
        if (resp_parser_reserve(&c->parser, chunk, &dst, &avail) != 0) {
            if (resp_parser_error(&c->parser))
                client_input_refused(c);
            else
                client_close(c);
            return;
        }
        size_t n = len < avail ? len : avail;
        memcpy(dst, p, n);
        resp_parser_commit(&c->parser, n);
        c->srv->stats.net_input_bytes += (uint64_t)n;
        c->last_ms = uv_now(c->srv->node->loop);
        p += n;
        len -= n;
        client_process(c);
    }
}

size_t node_client_take(struct node_client *c, struct resp_buf *out)
{
    size_t n = c->pend.len;
    if (n == 0)
        return 0;
    resp_buf_append(out, c->pend.data, n);
    c->srv->stats.net_output_bytes += (uint64_t)n;
    c->pend.len = 0;
    return n;
}

bool node_client_done(const struct node_client *c)
{
    return c->closing || c->close_after_reply;
}

void node_client_free_detached(struct node_client *c)
{
    if (!c)
        return;
    client_close(c);
    resp_parser_free(&c->parser);
    resp_buf_free(&c->pend);
    resp_buf_free(&c->out);
    free(c);
}
