/*
 * peers.c: the remembered cluster, <data>/peers (Serf's snapshot file, for
 * the one use that matters here: finding the cluster again after a restart).
 *
 * The core reports every member change through member_cb (cluster.c passes
 * them on to node_peers_member); this file keeps one record per member id
 * and writes them out. On start the node rejoins through the remembered
 * addresses as well as through --join (cluster.c), so a node started without
 * --join (the usual first node, everyone's seed) finds its peers again after
 * SIGTERM, when they hold it LEFT and would never contact it themselves.
 *
 * Invariants:
 *   1. At most NODE_PEERS_MAX records. A new member past that replaces the
 *      record not live in this run that was seen alive longest ago; when all
 *      are live it is not remembered (INFO peers_dropped).
 *   2. A record not live in this run is kept peers-retention-s after it was
 *      last seen alive (72 h, Serf's reconnect_timeout), then dropped; live
 *      records have their last-alive time refreshed at every write, and a
 *      write happens at least every NODE_PEERS_REFRESH_MS while any is live,
 *      so a long-lived peer is not forgotten soon after a long outage.
 *   3. The file is replaced atomically (tmp, fsync, rename, directory fsync;
 *      mode 0600) on the libuv thread pool, at most once per cron tick (1 s)
 *      and only when something changed or the refresh is due; at most one
 *      write is in flight. The loop only formats the text (<= 512 KiB).
 *   4. A file that is truncated, corrupt or from an unknown version is not
 *      used: the node says so and starts from --join alone; the next write
 *      replaces it. A missing file is a first start.
 *
 * File (text, one record a line; the last line checks everything before it):
 *
 *   gossipkv-peers 1 <count>
 *   <id hex16> <state a|s|d|l> <incarnation> <last alive, Unix ms> <addr> <name hex | ->
 *   ...
 *   checksum <BLAKE2b-128 of the bytes above, hex>
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "node/log.h"
#include "node/node.h"

#define PEERS_FILE "peers"
#define PEERS_MAGIC "gossipkv-peers"
#define PEERS_VERSION 1u
/* One record line: 16 + 2 + 20 + 20 + 64 + 2 * 128 + separators. */
#define PEERS_LINE_MAX 400u
#define PEERS_FILE_MAX (64u + (size_t)NODE_PEERS_MAX * PEERS_LINE_MAX + 64u)
#define PEERS_SUM_BYTES 16u
/* Refresh of the last-alive times while peers are live (invariant 2). */
#define NODE_PEERS_REFRESH_MS 60000u
/* "knows no live member" warnings: once per this interval while alone. */
#define NODE_ALONE_WARN_MS 10000u

struct node_peer {
    uint64_t id;
    uint64_t incarnation;
    uint64_t last_alive_ms; /* Unix ms */
    uint8_t state;          /* enum gossip_member_state, as last known */
    bool live;              /* alive or suspect in this run's view */
    char name[WIRE_MAX_NAME + 1];
    char addr[WIRE_MAX_ADDR + 1];
};

struct node_peers {
    struct node *node;
    char dir[NODE_PATH_MAX];
    struct node_peer *v;
    size_t n, cap;
    uint32_t live; /* records with live set */
    bool dirty;
    bool writing; /* a write is on the thread pool */
    uint64_t last_write_ms;
    uint64_t last_contact_ms; /* newest last-alive time in the file read at open (0: none) */
    uv_work_t work;
    char *wbuf; /* the text being written (owned by the write in flight) */
    size_t wlen;
    int wrc;
    char werr[256];
    /* rejoin */
    uint32_t rejoin_addrs;
    uint64_t last_rejoin_ms;
    uint64_t alone_since_ms;
    uint64_t last_alone_warn_ms;
    struct node_peers_stats st;
};

static const char state_chars[] = {
    [GOSSIP_ALIVE] = 'a', [GOSSIP_SUSPECT] = 's', [GOSSIP_DEAD] = 'd', [GOSSIP_LEFT] = 'l'};

static int state_from_char(char c)
{
    for (int s = 0; s < (int)sizeof(state_chars); s++)
        if (state_chars[s] && state_chars[s] == c)
            return s;
    return -1;
}

static void sum_hex(const char *buf, size_t len, char out[2 * PEERS_SUM_BYTES + 1])
{
    uint8_t sum[PEERS_SUM_BYTES];
    crypto_generichash(sum, sizeof(sum), (const uint8_t *)buf, len, NULL, 0);
    sodium_bin2hex(out, 2 * PEERS_SUM_BYTES + 1, sum, sizeof(sum));
}

static struct node_peer *peer_find(struct node_peers *p, uint64_t id)
{
    for (size_t i = 0; i < p->n; i++) /* bounded: NODE_PEERS_MAX */
        if (p->v[i].id == id)
            return &p->v[i];
    return NULL;
}

/* A slot for a new record (invariant 1), or NULL. */
static struct node_peer *peer_slot(struct node_peers *p)
{
    if (p->n < NODE_PEERS_MAX) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 16;
            struct node_peer *v = realloc(p->v, cap * sizeof(*v));
            if (!v)
                return NULL;
            p->v = v;
            p->cap = cap;
        }
        return &p->v[p->n++];
    }
    struct node_peer *oldest = NULL;
    for (size_t i = 0; i < p->n; i++)
        if (!p->v[i].live && (!oldest || p->v[i].last_alive_ms < oldest->last_alive_ms))
            oldest = &p->v[i];
    return oldest;
}

/* ------------------------------------------------------------ reading */

static int parse_record(const char *line, struct node_peer *r)
{
    char state = 0, addr[WIRE_MAX_ADDR + 2], name_hex[2 * WIRE_MAX_NAME + 2];
    int used = 0;
    if (sscanf(line, "%16" SCNx64 " %c %" SCNu64 " %" SCNu64 " %65s %257s%n", &r->id, &state,
               &r->incarnation, &r->last_alive_ms, addr, name_hex, &used) != 6 ||
        line[used] != '\0' || r->id == 0)
        return GKV_ECORRUPT;
    int st = state_from_char(state);
    size_t addr_len = strlen(addr);
    if (st < 0 || addr_len > WIRE_MAX_ADDR)
        return GKV_ECORRUPT;
    r->state = (uint8_t)st;
    memcpy(r->addr, addr, addr_len + 1);
    size_t name_len = 0;
    if (strcmp(name_hex, "-") != 0 &&
        (sodium_hex2bin((uint8_t *)r->name, WIRE_MAX_NAME, name_hex, strlen(name_hex), NULL,
                        &name_len, NULL) != 0 ||
         strlen(name_hex) != 2 * name_len || memchr(r->name, 0, name_len)))
        return GKV_ECORRUPT;
    r->name[name_len] = 0;
    r->live = false;
    return 0;
}

/* Parse buf (NUL-terminated, len bytes) into p; the reason in why. */
static int parse_file(struct node_peers *p, char *buf, size_t len, const char **why)
{
    char *sum_line = NULL;
    for (char *q = buf + len; q > buf; q--)
        if (q[-1] == '\n' && q != buf + len) {
            sum_line = q;
            break;
        }
    char want[2 * PEERS_SUM_BYTES + 1], got[2 * PEERS_SUM_BYTES + 2];
    if (!sum_line || sscanf(sum_line, "checksum %33s", got) != 1 ||
        strlen(sum_line) != strlen("checksum \n") + 2 * PEERS_SUM_BYTES ||
        sum_line[strlen(sum_line) - 1] != '\n') {
        *why = "no checksum line (truncated?)";
        return GKV_ETRUNC;
    }
    sum_hex(buf, (size_t)(sum_line - buf), want);
    if (strcmp(want, got) != 0) {
        *why = "checksum mismatch";
        return GKV_ECORRUPT;
    }
    *sum_line = 0;
    char *save = NULL;
    char *line = strtok_r(buf, "\n", &save);
    unsigned version = 0, count = 0;
    int used = 0;
    if (!line || sscanf(line, PEERS_MAGIC " %u %u%n", &version, &count, &used) != 2 ||
        line[used] != '\0') {
        *why = "not a peers file";
        return GKV_ECORRUPT;
    }
    if (version != PEERS_VERSION) {
        *why = "unknown version";
        return GKV_EVERSION;
    }
    if (count > NODE_PEERS_MAX) {
        *why = "more records than peers-max";
        return GKV_ECORRUPT;
    }
    for (unsigned i = 0; i < count; i++) {
        line = strtok_r(NULL, "\n", &save);
        struct node_peer r;
        memset(&r, 0, sizeof(r));
        if (!line || parse_record(line, &r) != 0) {
            *why = "bad record";
            return GKV_ECORRUPT;
        }
        struct node_peer *slot = peer_find(p, r.id);
        if (!slot && !(slot = peer_slot(p)))
            return GKV_ENOMEM;
        *slot = r;
    }
    if (strtok_r(NULL, "\n", &save)) {
        *why = "more records than its count";
        return GKV_ECORRUPT;
    }
    return 0;
}

static int load(struct node_peers *p, const char *path, const char **why)
{
    *why = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        *why = strerror(errno);
        return errno == ENOENT ? GKV_ENOTFOUND : GKV_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (off_t)PEERS_FILE_MAX) {
        close(fd);
        *why = "larger than a peers file can be";
        return GKV_ECORRUPT;
    }
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len + 1);
    if (!buf) {
        close(fd);
        return GKV_ENOMEM;
    }
    size_t got = 0;
    while (got < len) { /* bounded: each pass reads >= 1 byte or stops */
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    int rc = strlen(buf) != got ? GKV_ECORRUPT : parse_file(p, buf, got, why);
    if (rc == GKV_ECORRUPT && !**why)
        *why = "NUL bytes";
    free(buf);
    if (rc != 0)
        p->n = 0;
    return rc;
}

int node_peers_open(struct node *n)
{
    struct node_peers *p = calloc(1, sizeof(*p));
    if (!p)
        return GKV_ENOMEM;
    p->node = n;
    n->peers = p;
    snprintf(p->dir, sizeof(p->dir), "%s", n->cfg.data_dir);
    char path[NODE_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/" PEERS_FILE, p->dir);
    const char *why = "";
    int rc = load(p, path, &why);
    uint64_t now = node_wall_ms();
    uint64_t keep_ms = (uint64_t)n->cfg.peers_retention_s * 1000;
    size_t expired = 0;
    for (size_t i = 0; i < p->n; i++) /* before expiry: the stale-data check reads it */
        if (p->v[i].last_alive_ms > p->last_contact_ms)
            p->last_contact_ms = p->v[i].last_alive_ms;
    for (size_t i = 0; i < p->n;) { /* invariant 2 */
        if (now - p->v[i].last_alive_ms > keep_ms && now > p->v[i].last_alive_ms) {
            p->v[i] = p->v[--p->n];
            expired++;
        } else {
            i++;
        }
    }
    p->st.file_state = rc == 0 ? "ok" : rc == GKV_ENOTFOUND ? "missing" : "unreadable";
    if (rc == 0)
        node_log(NODE_LOG_INFO, "peers file read", "file=%s remembered=%zu expired=%zu", path, p->n,
                 expired);
    else if (rc != GKV_ENOTFOUND)
        node_log(NODE_LOG_WARN, "peers file unreadable: not rejoining through it",
                 "file=%s error=\"%s\" detail=\"%s\" seeds=%u", path, gkv_strerror(rc), why,
                 n->cfg.join_count);
    p->dirty = rc != 0 || expired > 0;
    return 0;
}

size_t node_peers_rejoin_addrs(struct node *n, const char **out, size_t max)
{
    struct node_peers *p = n->peers;
    if (!p)
        return 0;
    /* Most recently seen alive first (selection: max is small, <= 64). */
    size_t k = 0;
    uint64_t prev = UINT64_MAX;
    size_t prev_i = SIZE_MAX;
    while (k < max) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < p->n; i++) {
            const struct node_peer *r = &p->v[i];
            bool after_prev = r->last_alive_ms < prev || (r->last_alive_ms == prev && i > prev_i);
            if (!after_prev || !r->addr[0] || strcmp(r->addr, n->cfg.advertise_addr) == 0)
                continue;
            if (best == SIZE_MAX || r->last_alive_ms > p->v[best].last_alive_ms)
                best = i;
        }
        if (best == SIZE_MAX)
            break;
        out[k++] = p->v[best].addr;
        prev = p->v[best].last_alive_ms;
        prev_i = best;
    }
    p->rejoin_addrs = (uint32_t)k;
    return k;
}

/* ------------------------------------------------------ membership */

void node_peers_member(struct node *n, const struct gossip_member_info *m)
{
    struct node_peers *p = n->peers;
    if (!p || m->id == n->node_id || !m->addr || !m->addr[0])
        return;
    struct node_peer *r = peer_find(p, m->id);
    if (!r) {
        r = peer_slot(p);
        if (!r) {
            p->st.dropped++;
            return;
        }
        memset(r, 0, sizeof(*r)); /* a new slot, or a record not live (invariant 1) */
        r->id = m->id;
    }
    uint64_t now = node_wall_ms();
    bool live = m->state == GOSSIP_ALIVE || m->state == GOSSIP_SUSPECT;
    if (live && !r->live && p->live++ == 0) {
        /* from knowing no live member to knowing one: a (re)join */
        p->last_rejoin_ms = now;
        node_log(NODE_LOG_INFO, "rejoined the cluster", "through=%s alone_ms=%" PRIu64, m->addr,
                 p->alone_since_ms ? now - p->alone_since_ms : now - n->start_ms);
        p->alone_since_ms = 0;
    } else if (!live && r->live && --p->live == 0) {
        p->alone_since_ms = now;
    }
    r->live = live;
    if (live)
        r->last_alive_ms = now;
    r->state = (uint8_t)m->state;
    r->incarnation = m->incarnation;
    snprintf(r->addr, sizeof(r->addr), "%s", m->addr);
    snprintf(r->name, sizeof(r->name), "%s", m->name ? m->name : "");
    p->dirty = true;
}

/* ------------------------------------------------------------ writing */

/* The file's text into a new buffer (NULL: no memory). Drops expired
 * records and refreshes live ones first (invariant 2). */
static char *format_file(struct node_peers *p, uint64_t now, size_t *len_out)
{
    uint64_t keep_ms = (uint64_t)p->node->cfg.peers_retention_s * 1000;
    for (size_t i = 0; i < p->n;) {
        struct node_peer *r = &p->v[i];
        if (r->live)
            r->last_alive_ms = now;
        if (!r->live && now > r->last_alive_ms && now - r->last_alive_ms > keep_ms) {
            *r = p->v[--p->n];
            continue;
        }
        i++;
    }
    size_t cap = 64 + p->n * PEERS_LINE_MAX + 64;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t len = (size_t)snprintf(buf, cap, PEERS_MAGIC " %u %zu\n", PEERS_VERSION, p->n);
    for (size_t i = 0; i < p->n; i++) {
        const struct node_peer *r = &p->v[i];
        char name_hex[2 * WIRE_MAX_NAME + 1] = "-";
        if (r->name[0])
            sodium_bin2hex(name_hex, sizeof(name_hex), (const uint8_t *)r->name, strlen(r->name));
        /* an address with a space would break the line: write a placeholder
         * that parses (an insider's odd address is useless to rejoin anyway) */
        const char *addr = strpbrk(r->addr, " \t\n") || !r->addr[0] ? "?" : r->addr;
        len += (size_t)snprintf(
            buf + len, cap - len, "%016" PRIx64 " %c %" PRIu64 " %" PRIu64 " %s %s\n", r->id,
            state_chars[r->state & 3], r->incarnation, r->last_alive_ms, addr, name_hex);
    }
    char sum[2 * PEERS_SUM_BYTES + 1];
    sum_hex(buf, len, sum);
    len += (size_t)snprintf(buf + len, cap - len, "checksum %s\n", sum);
    *len_out = len;
    return buf;
}

static void write_work_cb(uv_work_t *w)
{
    struct node_peers *p = w->data;
    p->wrc = node_file_replace(p->dir, PEERS_FILE, p->wbuf, p->wlen, p->werr, sizeof(p->werr));
}

static void write_after_cb(uv_work_t *w, int status)
{
    struct node_peers *p = w->data;
    p->writing = false;
    free(p->wbuf);
    p->wbuf = NULL;
    if (status != 0 || p->wrc != 0) {
        p->st.write_errors++;
        p->dirty = true; /* retried next tick */
        node_log(NODE_LOG_WARN, "cannot write the peers file", "error=\"%s\"",
                 status != 0 ? uv_strerror(status) : p->werr);
        return;
    }
    p->st.writes++;
}

static void warn_if_alone(struct node *n, struct node_peers *p, uint64_t now)
{
    bool has_contacts = n->cfg.join_count > 0 || p->rejoin_addrs > 0;
    if (!n->gossip || n->leaving || n->stopping || p->live > 0 || !has_contacts)
        return;
    if (now - p->last_alone_warn_ms < NODE_ALONE_WARN_MS || now < p->last_alone_warn_ms)
        return;
    uint64_t since = p->alone_since_ms ? p->alone_since_ms : n->start_ms;
    if (now - since < NODE_ALONE_WARN_MS)
        return;
    p->last_alone_warn_ms = now;
    node_log(NODE_LOG_WARN, "this node knows no live member: writes reach no one",
             "alone_s=%" PRIu64 " seeds=%u rejoin_peers=%u remembered=%zu", (now - since) / 1000,
             n->cfg.join_count, p->rejoin_addrs, p->n);
}

void node_peers_cron(struct node *n, uint64_t now_ms)
{
    struct node_peers *p = n->peers;
    if (!p)
        return;
    warn_if_alone(n, p, now_ms);
    bool refresh = p->live > 0 && now_ms - p->last_write_ms >= NODE_PEERS_REFRESH_MS;
    if (p->writing || n->stopping || (!p->dirty && !refresh))
        return;
    p->wbuf = format_file(p, now_ms, &p->wlen);
    if (!p->wbuf) {
        p->st.write_errors++;
        return;
    }
    p->dirty = false;
    p->last_write_ms = now_ms;
    p->writing = true;
    p->work.data = p;
    if (uv_queue_work(n->loop, &p->work, write_work_cb, write_after_cb) != 0) {
        write_work_cb(&p->work); /* no pool thread: write here */
        write_after_cb(&p->work, 0);
    }
}

void node_peers_close(struct node *n)
{
    struct node_peers *p = n->peers;
    if (!p)
        return;
    /* The loop has ended, so no write is in flight: a last one, here. */
    if (p->dirty && !p->writing) {
        p->wbuf = format_file(p, node_wall_ms(), &p->wlen);
        if (p->wbuf) {
            p->work.data = p;
            write_work_cb(&p->work);
            write_after_cb(&p->work, 0);
        }
    }
    free(p->wbuf);
    free(p->v);
    free(p);
    n->peers = NULL;
}

uint64_t node_peers_last_contact_ms(const struct node *n)
{
    return n->peers ? n->peers->last_contact_ms : 0;
}

void node_peers_stats(const struct node *n, struct node_peers_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->file_state = "disabled";
    const struct node_peers *p = n->peers;
    if (!p)
        return;
    *out = p->st;
    out->remembered = (uint32_t)p->n;
    out->live = p->live;
    out->rejoin_addrs = p->rejoin_addrs;
    out->last_rejoin_unix_ms = p->last_rejoin_ms;
}
