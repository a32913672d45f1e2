/*
 * cluster.c: the gossip core's transport (struct gossip_io) over libuv.
 *
 *   UDP socket on --gossip     every datagram in goes to gossip_recv() with
 *                              its real source address; send_cb sends one
 *   TCP listener on --gossip   sync streams: frames of
 *                              +--------------------+------------------+
 *                              | length (4 bytes BE)| sealed frame     |
 *                              +--------------------+------------------+
 *                              each handed to gossip_recv_stream()
 *   outgoing streams           one per peer address, opened on the first
 *                              stream_send_cb, reused, closed when idle
 *
 * A stream carries frames both ways: stream_send_cb(addr) writes on any open
 * stream whose peer address is addr (an outgoing one to a gossip address, or
 * an incoming one whose source address the core was given), so replies to a
 * stream's source reach it.
 *
 * Limits (counted in node_cluster_stats, INFO gossip): frame length
 * (WIRE_MAX_FRAME + seal overhead; a longer one closes the stream), queued
 * bytes per stream (stream-buffer-limit; frames past it are dropped), open
 * streams (NODE_MAX_STREAMS), idle streams closed after STREAM_IDLE_MS,
 * datagrams in flight when the socket is busy (UDP_INFLIGHT_MAX).
 *
 * Accepted streams are untrusted until a frame opens under the cluster key
 * (docs/PROTOCOL.md, "Sync streams"):
 *   1. the first frame must open within stream-auth-timeout-ms of the
 *      accept, or the stream is closed (stream_auth_timeouts);
 *   2. only a frame that opened counts as activity for the idle timeout:
 *      bytes alone keep nothing open;
 *   3. a frame that does not open (or has a bad length, or does not decode)
 *      closes the stream (stream_frames_refused, stream_frame_errors); a
 *      replayed frame is tolerated only on a stream that already
 *      authenticated (stream_frames_stale);
 *   4. at most stream-max-per-addr accepted streams from one source host
 *      and STREAM_MAX_UNAUTH not yet authenticated in all, so outsiders
 *      cannot take the slots repair needs (stream_refused_per_addr,
 *      stream_refused_unauthenticated);
 *   5. a stream buffers at most one frame plus one read chunk
 *      (STREAM_RBUF_MAX); INFO stream_memory_bytes is the sum over streams.
 */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "node/addr.h"
#include "node/log.h"
#include "node/metrics.h"
#include "node/node.h"

#define NODE_MAX_STREAMS 1024u     /* open sync streams, both directions */
#define STREAM_IDLE_MS 60000u      /* close a stream unused this long */
#define UDP_INFLIGHT_MAX 4096u     /* queued datagrams when try_send says EAGAIN */
#define UDP_RECV_BYTES 65536u      /* the largest UDP payload */
#define FRAME_HEADER_BYTES 4u
#define STREAM_READ_CHUNK 65536u /* bytes offered to each read */
/* Accepted streams not yet authenticated, in all: a quarter of the slots, so
 * however many hosts an outsider has, outgoing and authenticated streams
 * keep the rest. */
#define STREAM_MAX_UNAUTH (NODE_MAX_STREAMS / 4u)

struct stream_conn {
    uv_tcp_t tcp;
    struct node_cluster *cl;
    struct stream_conn *prev, *next;
    bool outgoing, connected, closing, writing;
    bool authed; /* outgoing (we chose the peer), or a frame opened */
    char addr[NODE_ADDR_TEXT_MAX];
    char host[NODE_ADDR_TEXT_MAX]; /* accepted: the source host, for the per-host cap */
    uv_connect_t creq;
    uv_write_t wreq;
    struct resp_buf q;        /* framed bytes waiting */
    struct resp_buf inflight; /* framed bytes handed to uv_write */
    uint8_t *rbuf;            /* incoming frame reassembly */
    size_t rlen, rcap;
    uint64_t last_ms;   /* last valid frame in, or write out */
    uint64_t opened_ms; /* accept or connect time (the auth deadline) */
};

struct udp_send_req {
    uv_udp_send_t req;
    struct node_cluster *cl;
    size_t len;
    uint8_t data[];
};

struct node_cluster {
    struct node *node;
    uv_idle_t repair_idle; /* runs the core again at once while repair is ready */
    bool repair_idle_open;
    uv_udp_t udp;
    uv_tcp_t listener;
    bool udp_open, listener_open;
    struct stream_conn *streams;
    uint32_t nstreams;
    uint32_t nunauth; /* accepted streams not yet authenticated */
    uint32_t udp_inflight;
    struct node_cluster_stats stats;
    size_t frame_max;
    uint8_t udp_buf[UDP_RECV_BYTES];
};

static size_t frame_limit(void)
{
    return WIRE_MAX_FRAME + seal_overhead();
}

void node_cluster_stats(const struct node *n, struct node_cluster_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!n->cluster)
        return;
    const struct node_cluster *cl = n->cluster;
    *out = cl->stats;
    out->streams_open = cl->nstreams;
    out->streams_unauthenticated = cl->nunauth;
    out->stream_max_per_addr = n->cfg.stream_max_per_addr;
    out->stream_auth_timeout_ms = n->cfg.stream_auth_timeout_ms;
    uint64_t mem = 0;
    for (const struct stream_conn *s = cl->streams; s; s = s->next)
        mem += sizeof(*s) + s->rcap + s->q.cap + s->inflight.cap;
    out->stream_memory_bytes = mem;
}

/* ------------------------------------------------------------ UDP */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct node_cluster *cl = h->data;
    *buf = uv_buf_init((char *)cl->udp_buf, sizeof(cl->udp_buf));
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
    struct node_cluster *cl = h->data;
    if (nread < 0) {
        cl->stats.udp_recv_errors++;
        return;
    }
    if (nread == 0 || !addr)
        return;
    if (flags & UV_UDP_PARTIAL) {
        cl->stats.udp_oversize_dropped++;
        return;
    }
    struct node *n = cl->node;
    if (!n->gossip)
        return;
    char src[NODE_ADDR_TEXT_MAX];
    node_addr_format(addr, src, sizeof(src));
    node_metrics_peer_bytes(n->metrics, src, (size_t)nread, false);
    gossip_recv(n->gossip, src, (const uint8_t *)buf->base, (size_t)nread, node_wall_ms());
}

static void udp_sent(uv_udp_send_t *req, int status)
{
    struct udp_send_req *r = (struct udp_send_req *)req;
    if (status < 0)
        r->cl->stats.udp_send_errors++;
    r->cl->udp_inflight--;
    free(r);
}

static void io_send(void *data, const char *addr, const uint8_t *buf, size_t len)
{
    struct node_cluster *cl = data;
    struct sockaddr_storage ss;
    if (!cl->udp_open || node_addr_parse(addr, &ss) != 0) {
        cl->stats.udp_send_errors++;
        return;
    }
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int rc = uv_udp_try_send(&cl->udp, &b, 1, (struct sockaddr *)&ss);
    if (rc >= 0) {
        node_metrics_peer_bytes(cl->node->metrics, addr, len, true);
        return;
    }
    if (rc != UV_EAGAIN || cl->udp_inflight >= UDP_INFLIGHT_MAX) {
        cl->stats.udp_send_errors++;
        return;
    }
    /* The socket is busy: queue a copy (the core's buffer is borrowed). */
    struct udp_send_req *r = malloc(sizeof(*r) + len);
    if (!r) {
        cl->stats.udp_send_errors++;
        return;
    }
    r->cl = cl;
    r->len = len;
    memcpy(r->data, buf, len);
    b = uv_buf_init((char *)r->data, (unsigned)len);
    if (uv_udp_send(&r->req, &cl->udp, &b, 1, (struct sockaddr *)&ss, udp_sent) != 0) {
        cl->stats.udp_send_errors++;
        free(r);
        return;
    }
    node_metrics_peer_bytes(cl->node->metrics, addr, len, true);
    cl->udp_inflight++;
}

/* ------------------------------------------------------------ streams */

static void stream_on_close(uv_handle_t *h)
{
    struct stream_conn *s = h->data;
    resp_buf_free(&s->q);
    resp_buf_free(&s->inflight);
    free(s->rbuf);
    free(s);
}

static void stream_close(struct stream_conn *s, const char *why)
{
    if (s->closing)
        return;
    s->closing = true;
    struct node_cluster *cl = s->cl;
    if (s->prev)
        s->prev->next = s->next;
    else
        cl->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    cl->nstreams--;
    if (!s->authed)
        cl->nunauth--;
    node_log(NODE_LOG_DEBUG, "sync stream closed", "peer=%s outgoing=%d reason=\"%s\"", s->addr,
             s->outgoing, why);
    uv_close((uv_handle_t *)&s->tcp, stream_on_close);
}

static struct stream_conn *stream_new(struct node_cluster *cl, const char *addr, bool outgoing)
{
    if (cl->nstreams >= NODE_MAX_STREAMS) {
        cl->stats.stream_limit_refused++;
        return NULL;
    }
    struct stream_conn *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cl = cl;
    s->outgoing = outgoing;
    s->authed = outgoing;
    if (!s->authed)
        cl->nunauth++;
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->tcp.data = s;
    uv_tcp_init(cl->node->loop, &s->tcp);
    s->last_ms = s->opened_ms = uv_now(cl->node->loop);
    s->next = cl->streams;
    if (cl->streams)
        cl->streams->prev = s;
    cl->streams = s;
    cl->nstreams++;
    return s;
}

static void stream_flush(struct stream_conn *s);

static void stream_written(uv_write_t *req, int status)
{
    struct stream_conn *s = req->data;
    s->writing = false;
    if (s->closing)
        return;
    s->inflight.len = 0;
    if (status < 0) {
        stream_close(s, uv_strerror(status));
        return;
    }
    stream_flush(s);
}

static void stream_flush(struct stream_conn *s)
{
    if (s->closing || s->writing || !s->connected || s->q.len == 0)
        return;
    struct resp_buf tmp = s->inflight;
    s->inflight = s->q;
    s->q = tmp;
    s->q.len = 0;
    /* uv_buf_t lengths are unsigned int: the queue is bounded far below that
     * (stream-buffer-limit <= 1 GiB, node/config.c), so this never fires. */
    if (s->inflight.len > UINT32_MAX) {
        stream_close(s, "queue larger than one write");
        return;
    }
    uv_buf_t b = uv_buf_init((char *)s->inflight.data, (unsigned)s->inflight.len);
    s->wreq.data = s;
    s->cl->stats.stream_frames_out++;
    if (uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &b, 1, stream_written) != 0) {
        stream_close(s, "write failed");
        return;
    }
    s->writing = true;
    s->last_ms = uv_now(s->cl->node->loop);
}

static void stream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct stream_conn *s = h->data;
    size_t want = STREAM_READ_CHUNK;
    if (s->rcap - s->rlen < want) {
        /* rlen < FRAME_HEADER_BYTES + frame_max between reads (stream_read
         * consumes whole frames and closes on a longer length), so the
         * buffer never needs more than one frame plus one chunk. */
        size_t max = FRAME_HEADER_BYTES + s->cl->frame_max + STREAM_READ_CHUNK;
        size_t ncap = s->rcap ? s->rcap : want;
        while (ncap - s->rlen < want)
            ncap *= 2;
        if (ncap > max)
            ncap = max;
        uint8_t *nb = realloc(s->rbuf, ncap);
        if (!nb) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        s->rbuf = nb;
        s->rcap = ncap;
    }
    *buf = uv_buf_init((char *)s->rbuf + s->rlen, (unsigned)(s->rcap - s->rlen));
}

/* What a frame's verdict from the core does to its stream (invariants 2, 3
 * at the top). Returns nonzero when the stream was closed. */
static int stream_judge_frame(struct stream_conn *s, int rc)
{
    struct node_cluster *cl = s->cl;
    if (rc == 0) {
        if (!s->authed) {
            s->authed = true;
            cl->nunauth--;
        }
        s->last_ms = uv_now(cl->node->loop);
        return 0;
    }
    if (rc == GKV_EREPLAY && s->authed) {
        cl->stats.stream_frames_stale++; /* fell behind the window: repair resends */
        return 0;
    }
    cl->stats.stream_frames_refused++;
    stream_close(s, s->authed ? "bad frame" : "first frame did not open");
    return 1;
}

static void stream_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct stream_conn *s = h->data;
    struct node_cluster *cl = s->cl;
    if (s->closing)
        return;
    if (nread < 0) {
        stream_close(s, nread == UV_EOF ? "eof" : uv_strerror((int)nread));
        return;
    }
    s->rlen += (size_t)nread;
    size_t off = 0;
    while (s->rlen - off >= FRAME_HEADER_BYTES) {
        const uint8_t *p = s->rbuf + off;
        size_t flen = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
        if (flen == 0 || flen > cl->frame_max) {
            cl->stats.stream_frame_errors++;
            stream_close(s, "bad frame length");
            return;
        }
        if (s->rlen - off < FRAME_HEADER_BYTES + flen)
            break;
        cl->stats.stream_frames_in++;
        int rc = GKV_ESTATE;
        if (cl->node->gossip)
            rc = gossip_recv_stream(cl->node->gossip, s->addr, p + FRAME_HEADER_BYTES, flen,
                                    node_wall_ms());
        if (s->closing) /* the core may have made us close it (re-entrancy guard) */
            return;
        if (stream_judge_frame(s, rc) != 0)
            return;
        off += FRAME_HEADER_BYTES + flen;
    }
    if (off) {
        memmove(s->rbuf, s->rbuf + off, s->rlen - off);
        s->rlen -= off;
    }
    if (s->rlen == 0 && s->rcap > 256 * 1024) {
        free(s->rbuf);
        s->rbuf = NULL;
        s->rcap = 0;
    }
}

static void stream_connected(uv_connect_t *req, int status)
{
    struct stream_conn *s = req->data;
    if (s->closing)
        return;
    if (status < 0) {
        s->cl->stats.stream_connect_errors++;
        stream_close(s, uv_strerror(status));
        return;
    }
    s->connected = true;
    uv_tcp_nodelay(&s->tcp, 1);
    if (uv_read_start((uv_stream_t *)&s->tcp, stream_alloc, stream_read) != 0) {
        stream_close(s, "read_start failed");
        return;
    }
    stream_flush(s);
}

static void io_stream_send(void *data, const char *addr, const uint8_t *buf, size_t len)
{
    struct node_cluster *cl = data;
    if (len == 0 || len > cl->frame_max) {
        cl->stats.stream_frame_errors++;
        return;
    }
    struct stream_conn *s = NULL;
    for (struct stream_conn *it = cl->streams; it; it = it->next)
        if (!it->closing && strcmp(it->addr, addr) == 0) {
            s = it;
            break;
        }
    if (!s) {
        /* Connect only where membership vouches for the address: a reply to
         * an accepted stream that has closed since must not become a
         * connection to the ephemeral port it came from, nor a replayed or
         * spoofed request one to any address (docs/ENVELOPE.md). */
        if (!cl->node->gossip || !gossip_addr_vouched(cl->node->gossip, addr)) {
            cl->stats.stream_connect_unvouched++;
            return;
        }
        struct sockaddr_storage ss;
        if (node_addr_parse(addr, &ss) != 0) {
            cl->stats.stream_connect_errors++;
            return;
        }
        s = stream_new(cl, addr, true);
        if (!s)
            return;
        s->creq.data = s;
        cl->stats.stream_connects++;
        int rc = uv_tcp_connect(&s->creq, &s->tcp, (struct sockaddr *)&ss, stream_connected);
        if (rc != 0) {
            cl->stats.stream_connect_errors++;
            stream_close(s, uv_strerror(rc));
            return;
        }
    }
    uint64_t queued = (uint64_t)s->q.len + s->inflight.len;
    if (queued + len + FRAME_HEADER_BYTES > cl->node->cfg.stream_buffer_limit_bytes) {
        cl->stats.stream_dropped_buffer_full++;
        return;
    }
    uint8_t *dst = resp_buf_reserve(&s->q, len + FRAME_HEADER_BYTES);
    if (!dst) {
        stream_close(s, "out of memory");
        return;
    }
    dst[0] = (uint8_t)(len >> 24);
    dst[1] = (uint8_t)(len >> 16);
    dst[2] = (uint8_t)(len >> 8);
    dst[3] = (uint8_t)len;
    memcpy(dst + FRAME_HEADER_BYTES, buf, len);
    s->q.len += len + FRAME_HEADER_BYTES;
    stream_flush(s);
}

/* Bytes queued toward addr's stream (the core's backpressure signal). */
static size_t io_stream_queued(void *data, const char *addr)
{
    struct node_cluster *cl = data;
    for (struct stream_conn *s = cl->streams; s; s = s->next) /* bounded: NODE_MAX_STREAMS */
        if (!s->closing && strcmp(s->addr, addr) == 0)
            return s->q.len + s->inflight.len;
    return 0;
}

/* Repair without a rate cap runs as fast as the receiver takes it: while
 * the core has repair ready, run it on every loop iteration (an idle
 * handle keeps the poll from blocking; client I/O is served between two
 * slices) instead of once per 10 ms tick. It stops when the core is done
 * or a stream queue is full (the tick then retries every 10 ms). */
static void repair_idle_cb(uv_idle_t *h)
{
    struct node_cluster *cl = h->data;
    struct node *n = cl->node;
    if (n->gossip)
        gossip_tick(n->gossip, node_wall_ms());
    if (!n->gossip || !gossip_repair_ready(n->gossip))
        uv_idle_stop(h);
}

/* Invariant 4: close a just-accepted stream that would pass a cap. */
static bool stream_over_caps(struct node_cluster *cl, struct stream_conn *s)
{
    if (cl->nunauth > STREAM_MAX_UNAUTH) { /* s itself is counted */
        cl->stats.stream_refused_unauthenticated++;
        stream_close(s, "too many unauthenticated streams");
        return true;
    }
    uint32_t same = 0;
    for (const struct stream_conn *it = cl->streams; it; it = it->next)
        same += !it->outgoing && !it->closing && strcmp(it->host, s->host) == 0;
    if (same > cl->node->cfg.stream_max_per_addr) { /* s itself is counted */
        cl->stats.stream_refused_per_addr++;
        stream_close(s, "too many streams from this host");
        return true;
    }
    return false;
}

static void stream_accept(uv_stream_t *listener, int status)
{
    struct node_cluster *cl = listener->data;
    if (status < 0)
        return;
    struct stream_conn *s = stream_new(cl, "?", false);
    if (!s) {
        /* Accept and drop, so the backlog does not fill. */
        uv_tcp_t *tmp = malloc(sizeof(*tmp));
        if (tmp) {
            uv_tcp_init(cl->node->loop, tmp);
            (void)uv_accept(listener, (uv_stream_t *)tmp);
            uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
        }
        return;
    }
    if (uv_accept(listener, (uv_stream_t *)&s->tcp) != 0) {
        stream_close(s, "accept failed");
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &sl) == 0)
        node_addr_format((struct sockaddr *)&ss, s->addr, sizeof(s->addr));
    /* the host: the address text without its last ":port" */
    snprintf(s->host, sizeof(s->host), "%s", s->addr);
    char *colon = strrchr(s->host, ':');
    if (colon)
        *colon = 0;
    if (stream_over_caps(cl, s))
        return;
    s->connected = true;
    cl->stats.stream_accepts++;
    uv_tcp_nodelay(&s->tcp, 1);
    if (uv_read_start((uv_stream_t *)&s->tcp, stream_alloc, stream_read) != 0)
        stream_close(s, "read_start failed");
}

/* ------------------------------------------------------------ core */

static const char *member_state_name(enum gossip_member_state st)
{
    switch (st) {
    case GOSSIP_ALIVE: return "alive";
    case GOSSIP_SUSPECT: return "suspect";
    case GOSSIP_DEAD: return "dead";
    case GOSSIP_LEFT: return "left";
    }
    return "unknown";
}

static void io_member(void *data, const struct gossip_member_info *m)
{
    struct node_cluster *cl = data;
    node_peers_member(cl->node, m);
    char qname[WIRE_MAX_NAME + 8];
    node_log(m->state == GOSSIP_ALIVE || m->state == GOSSIP_LEFT ? NODE_LOG_INFO : NODE_LOG_WARN,
             "member state", "member=%s addr=%s state=%s incarnation=%llu",
             node_log_quote(m->name ? m->name : "", qname, sizeof(qname)), m->addr ? m->addr : "",
             member_state_name(m->state), (unsigned long long)m->incarnation);
}

/* Remembered addresses rejoined through besides --join: with NODE_MAX_SEEDS
 * this stays within gossip_join's 64 (gossip.h). */
#define NODE_REJOIN_ADDRS_MAX 32u

/* Join through --join and the remembered peers (unless --no-rejoin). */
static void join_seeds(struct node *n)
{
    /* Seeds may be host names: resolve once, hand the core numeric text. */
    char resolved[NODE_MAX_SEEDS][NODE_ADDR_TEXT_MAX];
    const char *seeds[NODE_MAX_SEEDS + NODE_REJOIN_ADDRS_MAX];
    size_t k = 0;
    for (uint32_t i = 0; i < n->cfg.join_count; i++) {
        struct sockaddr_storage sa;
        if (node_addr_resolve(n->cfg.join[i], &sa) != 0) {
            node_log(NODE_LOG_WARN, "cannot resolve seed", "seed=%s", n->cfg.join[i]);
            continue;
        }
        node_addr_format((struct sockaddr *)&sa, resolved[k], sizeof(resolved[k]));
        if (strcmp(resolved[k], n->cfg.advertise_addr) == 0)
            continue; /* ourselves */
        seeds[k] = resolved[k];
        k++;
    }
    size_t r = 0;
    struct node_peers_stats ps;
    node_peers_stats(n, &ps);
    if (n->cfg.no_rejoin) {
        node_log(NODE_LOG_INFO, "not rejoining through remembered peers (no-rejoin)",
                 "remembered=%u seeds=%zu", ps.remembered, k);
    } else {
        r = node_peers_rejoin_addrs(n, seeds + k, NODE_REJOIN_ADDRS_MAX);
        char list[NODE_REJOIN_ADDRS_MAX * (NODE_ADDR_TEXT_MAX + 1) + 1] = "";
        size_t len = 0;
        for (size_t i = 0; i < r && len < sizeof(list); i++)
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? "," : "",
                                    seeds[k + i]);
        if (r)
            node_log(NODE_LOG_INFO, "rejoining through remembered peers",
                     "count=%zu remembered=%u peers=%s", r, ps.remembered, list);
    }
    if (k + r)
        gossip_join(n->gossip, seeds, k + r, node_wall_ms());
}

int node_cluster_start(struct node *n)
{
    struct node_cluster *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return GKV_ENOMEM;
    cl->node = n;
    cl->frame_max = frame_limit();
    n->cluster = cl;
    struct sockaddr_storage ss;
    if (node_addr_resolve(n->cfg.gossip_addr, &ss) != 0) {
        node_log(NODE_LOG_ERROR, "bad gossip address", "addr=%s", n->cfg.gossip_addr);
        return GKV_EINVAL;
    }
    uv_idle_init(n->loop, &cl->repair_idle);
    cl->repair_idle.data = cl;
    cl->repair_idle_open = true;
    uv_udp_init(n->loop, &cl->udp);
    cl->udp.data = cl;
    cl->udp_open = true;
    int rc = uv_udp_bind(&cl->udp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&cl->udp, udp_alloc, udp_recv);
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot bind the gossip UDP socket", "addr=%s error=\"%s\"",
                 n->cfg.gossip_addr, uv_strerror(rc));
        return GKV_EIO;
    }
    /* Generous socket buffers: a join or a repair burst is many datagrams. */
    int sz = 4 * 1024 * 1024;
    uv_recv_buffer_size((uv_handle_t *)&cl->udp, &sz);
    sz = 4 * 1024 * 1024;
    uv_send_buffer_size((uv_handle_t *)&cl->udp, &sz);
    uv_tcp_init(n->loop, &cl->listener);
    cl->listener.data = cl;
    cl->listener_open = true;
    rc = uv_tcp_bind(&cl->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&cl->listener, 128, stream_accept);
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot listen for sync streams", "addr=%s error=\"%s\"",
                 n->cfg.gossip_addr, uv_strerror(rc));
        return GKV_EIO;
    }

    struct gossip_config gc;
    gossip_config_init(&gc);
    gc.name = n->cfg.name;
    /* Peers compare the address we advertise with our packets' source
     * address (anti-entropy runs only with a member at its own address):
     * advertise it in the text the receivers format source addresses in. */
    char advertise[NODE_ADDR_TEXT_MAX];
    struct sockaddr_storage adv;
    if (node_addr_parse(n->cfg.advertise_addr, &adv) == 0)
        node_addr_format((struct sockaddr *)&adv, advertise, sizeof(advertise));
    else
        snprintf(advertise, sizeof(advertise), "%s", n->cfg.advertise_addr);
    gc.addr = advertise;
    gc.node_id = n->node_id;
    gc.epoch = n->epoch;
    gc.incarnation = store_incarnation(n->store);
    node_random(&gc.seed, sizeof(gc.seed));
    if (n->cfg.mtu)
        gc.mtu = n->cfg.mtu;
    if (n->cfg.probe_interval_ms)
        gc.probe_interval_ms = n->cfg.probe_interval_ms;
    if (n->cfg.probe_timeout_ms)
        gc.probe_timeout_ms = n->cfg.probe_timeout_ms;
    if (n->cfg.gossip_interval_ms)
        gc.gossip_interval_ms = n->cfg.gossip_interval_ms;
    if (n->cfg.sync_interval_ms)
        gc.sync_interval_ms = n->cfg.sync_interval_ms;
    if (n->cfg.gossip_fanout)
        gc.gossip_fanout = n->cfg.gossip_fanout;
    if (n->cfg.retransmit_mult)
        gc.retransmit_mult = n->cfg.retransmit_mult;
    if (n->cfg.data_retransmit_mult)
        gc.data_retransmit_mult = n->cfg.data_retransmit_mult;
    if (n->cfg.suspicion_mult)
        gc.suspicion_mult = n->cfg.suspicion_mult;
    gc.lifeguard_off = !n->cfg.lifeguard;
    if (n->cfg.reconnect_interval_ms)
        gc.reconnect_interval_ms = n->cfg.reconnect_interval_ms;
    if (n->cfg.max_queued_deltas)
        gc.max_queued_deltas = n->cfg.max_queued_deltas;
    if (n->cfg.repair_bytes_per_tick)
        gc.repair_bytes_per_tick = n->cfg.repair_bytes_per_tick;
    struct gossip_io io = {
        .data = cl,
        .send_cb = io_send,
        .stream_send_cb = io_stream_send,
        .member_cb = io_member,
        .applied_cb = NULL,
        .stream_queued_cb = io_stream_queued,
    };
    /* A node that starts empty and has peers to join is behind until it
     * has caught up (node/fill.c: it refuses reads meanwhile). */
    struct store_stats sst;
    store_stats(n->store, &sst);
    struct node_peers_stats pst;
    node_peers_stats(n, &pst);
    gc.fill_on_start =
        sst.entries == 0 && (n->cfg.join_count > 0 || (!n->cfg.no_rejoin && pst.remembered > 0));
    rc = gossip_new(&gc, n->store, n->seal, &io, node_wall_ms(), &n->gossip);
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot start the gossip core", "error=\"%s\"", gkv_strerror(rc));
        return rc;
    }
    join_seeds(n);
    return 0;
}

void node_cluster_tick(struct node *n, uint64_t now_ms)
{
    struct node_cluster *cl = n->cluster;
    if (!cl)
        return;
    if (n->gossip) {
        gossip_tick(n->gossip, now_ms);
        if (gossip_repair_ready(n->gossip) && cl->repair_idle_open)
            uv_idle_start(&cl->repair_idle, repair_idle_cb);
    }
    uint64_t mono = uv_now(n->loop);
    struct stream_conn *s = cl->streams;
    while (s) { /* bounded: NODE_MAX_STREAMS */
        struct stream_conn *next = s->next;
        if (!s->authed && mono - s->opened_ms > n->cfg.stream_auth_timeout_ms) {
            cl->stats.stream_auth_timeouts++;
            stream_close(s, "no authenticated frame in time");
        } else if (!s->writing && s->q.len == 0 && mono - s->last_ms > STREAM_IDLE_MS) {
            cl->stats.stream_idle_closed++;
            stream_close(s, "idle");
        }
        s = next;
    }
}

void node_cluster_stop(struct node *n)
{
    struct node_cluster *cl = n->cluster;
    if (!cl)
        return;
    while (cl->streams)
        stream_close(cl->streams, "shutdown");
    if (cl->repair_idle_open) {
        uv_close((uv_handle_t *)&cl->repair_idle, NULL);
        cl->repair_idle_open = false;
    }
    if (cl->udp_open) {
        uv_close((uv_handle_t *)&cl->udp, NULL);
        cl->udp_open = false;
    }
    if (cl->listener_open) {
        uv_close((uv_handle_t *)&cl->listener, NULL);
        cl->listener_open = false;
    }
}

void node_cluster_free(struct node *n)
{
    free(n->cluster);
    n->cluster = NULL;
}
