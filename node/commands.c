/*
 * commands.c: the Redis command table and one function per command.
 *
 * Order of checks follows Redis processCommand(): unknown command, then
 * arity, then authentication. Error texts are Redis's, so clients and
 * redis-cli react as they do against Redis.
 *
 * Writes: store_put/store_del stamp the entry (HLC, origin, vector clock)
 * and the entry goes to the gossip core. In sync=always mode store_put
 * makes its write-ahead log record durable (write + fdatasync) before it
 * returns, so the reply (queued after it) never precedes durability.
 */
#include <ctype.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"
#include "node/node.h"

/* Flags of a command. */
#define CMD_NOAUTH 0x1u /* allowed before AUTH */
#define CMD_WRITE 0x2u
#define CMD_READONLY 0x4u
#define CMD_ADMIN 0x8u /* needs AUTH admin <admin-password> */
/* Enabled only by its own start option (experiments): then open to every
 * client unless an admin-password is set, which makes it admin-only. */
#define CMD_OPT_IN 0x10u

typedef void (*command_fn)(struct node_client *c, const struct resp_cmd *cmd);

struct command {
    const char *name;
    int arity; /* Redis convention: n = exactly n args (with the name), -n = at least n */
    uint32_t flags;
    command_fn fn;
    int first_key, last_key, step;
};

#define ARG_IS(cmd, i, lit) \
    ((cmd)->argv_len[i] == sizeof(lit) - 1 && !strncasecmp((const char *)(cmd)->argv[i], lit, sizeof(lit) - 1))

/* ------------------------------------------------------------ helpers */

static bool parse_ll(const uint8_t *s, size_t len, long long *out)
{
    return resp_str2ll(s, len, out);
}

static void reply_store_error(struct node_client *c, int rc)
{
    struct node *n = node_client_node(c);
    n->server.stats.write_errors++;
    switch (rc) {
    case GKV_EKEYSIZE:
        resp_write_errorf(node_client_out(c), "ERR key length must be 1..%u bytes", GKV_KEY_MAX);
        break;
    case GKV_EVALSIZE:
        resp_write_errorf(node_client_out(c), "ERR value larger than max-value-bytes (%u)",
                          n->cfg.max_value_bytes);
        break;
    case GKV_EFULL:
        resp_write_error(node_client_out(c),
                         "OOM command not allowed: the store is full (max-keys)");
        break;
    case GKV_ENOSPC:
        resp_write_error(node_client_out(c), "ERR no space left on device");
        break;
    default:
        resp_write_errorf(node_client_out(c), "ERR storage error: %s", gkv_strerror(rc));
        break;
    }
}

/* Is a stored entry a live value now? An expiry that passed on the
 * cluster's clock hides it (the clock is read only for expiring values). */
static bool live(struct node *n, const struct entry *e)
{
    return !entry_is_tombstone(e) && (!e->expire_ms || !entry_is_expired(e, node_cluster_ms(n)));
}

/* Live value lookup: false for absent keys, tombstones and values whose
 * expiry has passed. */
static bool lookup(struct node *n, const uint8_t *key, size_t len, struct entry *e)
{
    if (len == 0 || len > GKV_KEY_MAX)
        return false;
    if (store_get(n->store, key, len, e) != 0 || entry_is_tombstone(e))
        return false;
    return live(n, e) && (!entry_is_counter(e) || node_counter_present(n, e));
}

/* Hand a stored write to the gossip core. The write is already durable
 * here, so a refusal does not fail the command: anti-entropy carries the
 * entry instead. It is counted and logged, never silent. */
static void spread_local(struct node *n, const struct entry *e, uint64_t now_ms)
{
    if (!n->gossip)
        return;
    int rc = gossip_local_write(n->gossip, e, now_ms);
    if (rc != 0) {
        n->server.stats.gossip_handoff_errors++;
        node_log(NODE_LOG_WARN, "write not handed to gossip (anti-entropy will carry it)",
                 "error=\"%s\"", gkv_strerror(rc));
    }
}

static int do_put(struct node *n, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, uint64_t expire_ms)
{
    uint64_t now = node_wall_ms();
    struct entry e;
    int rc = store_put_expire(n->store, key, klen, val, vlen, expire_ms, now, &e);
    if (rc == 0)
        spread_local(n, &e, now);
    return rc;
}

static int do_del(struct node *n, const uint8_t *key, size_t klen, bool *existed)
{
    uint64_t now = node_wall_ms();
    struct entry e;
    int rc = store_del(n->store, key, klen, now, &e, existed);
    if (rc == 0)
        spread_local(n, &e, now);
    return rc;
}

/* The helpers above, for the command files beside this one (strings.c,
 * keyspace.c): the same lookup, write path and error replies as GET, SET
 * and DEL, so those commands spread and fail alike. */
bool node_key_lookup(struct node *n, const uint8_t *key, size_t len, struct entry *e)
{
    return lookup(n, key, len, e);
}

int node_key_put(struct node *n, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    return do_put(n, key, klen, val, vlen, 0);
}

int node_key_put_expire(struct node *n, const uint8_t *key, size_t klen, const uint8_t *val,
                        size_t vlen, uint64_t expire_ms)
{
    return do_put(n, key, klen, val, vlen, expire_ms);
}

int node_key_put_copy(struct node *n, const uint8_t *key, size_t klen, const struct entry *e,
                      uint64_t expire_ms)
{
    /* e's value is borrowed from the store, which the write may move. */
    struct resp_buf *b = &n->server.scratch;
    b->len = 0;
    b->failed = false;
    resp_buf_append(b, e->value, e->value_len);
    if (b->failed)
        return GKV_ENOMEM;
    int rc = do_put(n, key, klen, b->data, b->len, expire_ms);
    b->len = 0;
    return rc;
}

int node_key_del(struct node *n, const uint8_t *key, size_t klen, bool *existed)
{
    return do_del(n, key, klen, existed);
}

void node_reply_store_error(struct node_client *c, int rc)
{
    reply_store_error(c, rc);
}

void node_key_spread(struct node *n, const struct entry *e, uint64_t now_ms)
{
    spread_local(n, e, now_ms);
}

/* Redis-style glob (stringmatchlen): * ? [abc] [^a-z] and \ escapes.
 * Iterative with one backtrack point, so O(pattern * string) worst case and
 * no recursion for hostile patterns. */
static bool glob_class(const uint8_t *p, size_t plen, size_t *pi, uint8_t ch, bool nocase)
{
    size_t i = *pi; /* just past '[' */
    bool neg = false, match = false;
    if (i < plen && p[i] == '^') {
        neg = true;
        i++;
    }
    uint8_t c = nocase ? (uint8_t)tolower(ch) : ch;
    while (i < plen && p[i] != ']') {
        if (p[i] == '\\' && i + 1 < plen) {
            i++;
            if (p[i] == c)
                match = true;
            i++;
        } else if (i + 2 < plen && p[i + 1] == '-' && p[i + 2] != ']') {
            uint8_t lo = p[i], hi = p[i + 2];
            if (lo > hi) {
                uint8_t t = lo;
                lo = hi;
                hi = t;
            }
            if (nocase) {
                lo = (uint8_t)tolower(lo);
                hi = (uint8_t)tolower(hi);
            }
            if (c >= lo && c <= hi)
                match = true;
            i += 3;
        } else {
            uint8_t pc = nocase ? (uint8_t)tolower(p[i]) : p[i];
            if (pc == c)
                match = true;
            i++;
        }
    }
    if (i < plen)
        i++; /* the ']' */
    *pi = i;
    return neg ? !match : match;
}

static bool glob_match(const uint8_t *p, size_t plen, const uint8_t *s, size_t slen, bool nocase)
{
    size_t pi = 0, si = 0;
    size_t star_p = SIZE_MAX, star_s = 0;
    while (si < slen) {
        if (pi < plen) {
            uint8_t pc = p[pi];
            if (pc == '*') {
                while (pi < plen && p[pi] == '*')
                    pi++;
                if (pi == plen)
                    return true;
                star_p = pi;
                star_s = si;
                continue;
            }
            if (pc == '?') {
                pi++;
                si++;
                continue;
            }
            if (pc == '[') {
                size_t np = pi + 1;
                if (glob_class(p, plen, &np, s[si], nocase)) {
                    pi = np;
                    si++;
                    continue;
                }
            } else {
                size_t lp = pi;
                if (pc == '\\' && pi + 1 < plen)
                    lp = pi + 1;
                uint8_t a = p[lp], b = s[si];
                if (nocase) {
                    a = (uint8_t)tolower(a);
                    b = (uint8_t)tolower(b);
                }
                if (a == b) {
                    pi = lp + 1;
                    si++;
                    continue;
                }
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

/* ------------------------------------------------------------ commands */

static void cmd_ping(struct node_client *c, const struct resp_cmd *cmd)
{
    if (cmd->argc > 2) {
        resp_write_error(node_client_out(c), "ERR wrong number of arguments for 'ping' command");
        return;
    }
    if (cmd->argc == 2)
        resp_write_bulk(node_client_out(c), cmd->argv[1], cmd->argv_len[1]);
    else
        resp_write_simple(node_client_out(c), "PONG");
}

static void cmd_echo(struct node_client *c, const struct resp_cmd *cmd)
{
    resp_write_bulk(node_client_out(c), cmd->argv[1], cmd->argv_len[1]);
}

static void cmd_get(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct entry e;
    if (lookup(n, cmd->argv[1], cmd->argv_len[1], &e)) {
        n->server.stats.keyspace_hits++;
        resp_write_bulk(node_client_out(c), e.value, e.value_len);
    } else {
        n->server.stats.keyspace_misses++;
        resp_write_null(node_client_out(c));
    }
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]
 * (options and their checks: expire.c, node_setx_parse). Without KEEPTTL
 * the new value has no expiry unless one is given, as in Redis. */
static void cmd_set(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct node_setx o;
    uint64_t when = 0;
    if (!node_setx_parse(c, cmd, 3, true, &o))
        return;
    if (o.unit != NODE_SETX_NONE && !node_setx_when(c, cmd, &o, node_cluster_ms(n), &when))
        return;
    bool nx = o.nx, xx = o.xx, get = o.get;
    const uint8_t *key = cmd->argv[1];
    size_t klen = cmd->argv_len[1];
    struct entry old;
    bool exists = false;
    struct resp_buf *scratch = &n->server.scratch;
    scratch->len = 0;
    if (nx || xx || get || o.keepttl) {
        exists = lookup(n, key, klen, &old);
        if (get && exists) /* copy: the put below invalidates old.value */
            resp_buf_append(scratch, old.value, old.value_len);
        if (o.keepttl && exists)
            when = old.expire_ms;
    }
    if ((nx && exists) || (xx && !exists)) {
        if (get && exists)
            resp_write_bulk(node_client_out(c), scratch->data, scratch->len);
        else
            resp_write_null(node_client_out(c));
        return;
    }
    int rc = do_put(n, key, klen, cmd->argv[2], cmd->argv_len[2], when);
    if (rc != 0) {
        reply_store_error(c, rc);
        return;
    }
    if (get) {
        if (exists)
            resp_write_bulk(node_client_out(c), scratch->data, scratch->len);
        else
            resp_write_null(node_client_out(c));
    } else {
        resp_buf_append(node_client_out(c), "+OK\r\n", 5);
    }
}

static void cmd_del(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    long long deleted = 0;
    for (size_t i = 1; i < cmd->argc; i++) {
        /* Out-of-range keys cannot exist anywhere: nothing to delete. */
        if (cmd->argv_len[i] == 0 || cmd->argv_len[i] > GKV_KEY_MAX)
            continue;
        /* A tombstone even when the key is absent here: a write of it may
         * still be in flight from another node, and this later delete must
         * win over it (LWW). A value whose expiry passed was not there. */
        struct entry e;
        bool existed = lookup(n, cmd->argv[i], cmd->argv_len[i], &e);
        int rc = do_del(n, cmd->argv[i], cmd->argv_len[i], NULL);
        if (rc != 0) {
            reply_store_error(c, rc);
            return;
        }
        deleted += existed;
    }
    resp_write_int(node_client_out(c), deleted);
}

static void cmd_exists(struct node_client *c, const struct resp_cmd *cmd)
{
    long long count = 0;
    for (size_t i = 1; i < cmd->argc; i++) {
        struct entry e;
        count += lookup(node_client_node(c), cmd->argv[i], cmd->argv_len[i], &e);
    }
    resp_write_int(node_client_out(c), count);
}

static void cmd_type(struct node_client *c, const struct resp_cmd *cmd)
{
    struct entry e;
    resp_write_simple(node_client_out(c),
                      lookup(node_client_node(c), cmd->argv[1], cmd->argv_len[1], &e) ? "string"
                                                                                      : "none");
}

/* MGET looks its keys up STORE_GET_BATCH_MAX at a time with
 * store_get_batch, whose memory accesses overlap (about 4x the lookups per
 * second of one store_get per key: "Batched gets" in
 * `git show 383e9cc:docs/BENCHMARKS.md`). A
 * key of a bad length answers nil, as for GET. */
static void cmd_mget(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    resp_write_array(node_client_out(c), (long long)cmd->argc - 1);
    for (size_t i = 1; i < cmd->argc; i += STORE_GET_BATCH_MAX) {
        uint32_t m = (uint32_t)(cmd->argc - i < STORE_GET_BATCH_MAX ? cmd->argc - i
                                                                     : STORE_GET_BATCH_MAX);
        struct entry e[STORE_GET_BATCH_MAX];
        int rcs[STORE_GET_BATCH_MAX];
        const void *keys[STORE_GET_BATCH_MAX];
        for (uint32_t j = 0; j < m; j++)
            keys[j] = cmd->argv[i + j];
        if (store_get_batch(n->store, m, keys, &cmd->argv_len[i], e, rcs) != 0) {
            for (uint32_t j = 0; j < m; j++)
                rcs[j] = GKV_EINVAL; /* cannot happen: m is in range */
        }
        if (node_client_out(c)->failed)
            return; /* over client-output-buffer-limit: the server cuts it */
        for (uint32_t j = 0; j < m; j++) {
            if (rcs[j] == 0 && live(n, &e[j]) &&
                (!entry_is_counter(&e[j]) || node_counter_present(n, &e[j]))) {
                n->server.stats.keyspace_hits++;
                resp_write_bulk(node_client_out(c), e[j].value, e[j].value_len);
            } else {
                n->server.stats.keyspace_misses++;
                resp_write_null(node_client_out(c));
            }
        }
    }
}

/* MSET, MSETNX: check every key and value size before writing any, so the
 * common refusals leave nothing half done; false with the error written. */
bool node_pairs_fit(struct node_client *c, const struct resp_cmd *cmd)
{
    for (size_t i = 1; i + 1 < cmd->argc; i += 2) {
        if (cmd->argv_len[i] == 0 || cmd->argv_len[i] > GKV_KEY_MAX) {
            reply_store_error(c, GKV_EKEYSIZE);
            return false;
        }
        if (cmd->argv_len[i + 1] > node_client_node(c)->cfg.max_value_bytes) {
            reply_store_error(c, GKV_EVALSIZE);
            return false;
        }
    }
    return true;
}

static void cmd_mset(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    if (cmd->argc % 2 == 0) {
        resp_write_error(node_client_out(c), "ERR wrong number of arguments for 'mset' command");
        return;
    }
    if (!node_pairs_fit(c, cmd))
        return;
    for (size_t i = 1; i < cmd->argc; i += 2) {
        int rc =
            do_put(n, cmd->argv[i], cmd->argv_len[i], cmd->argv[i + 1], cmd->argv_len[i + 1], 0);
        if (rc != 0) {
            reply_store_error(c, rc);
            return;
        }
    }
    resp_write_simple(node_client_out(c), "OK");
}

struct scan_ctx {
    struct resp_buf *keys;
    uint64_t now_ms; /* cluster time: keys whose expiry passed are skipped */
    long long n;
    const uint8_t *pat;
    size_t pat_len;
    bool type_ok;
};

static int scan_collect_cb(void *arg, const struct entry *e)
{
    struct scan_ctx *sc = arg;
    if (!entry_is_live(e, sc->now_ms) || !sc->type_ok)
        return 0;
    if (sc->pat && !glob_match(sc->pat, sc->pat_len, e->key, e->key_len, false))
        return 0;
    resp_write_bulk(sc->keys, e->key, e->key_len);
    sc->n++;
    return sc->keys->failed; /* stop at the output limit */
}

/* Slots one SCAN call visits at most, whatever COUNT asks: a few
 * milliseconds of loop time (Redis bounds SCAN work the same way, by
 * buckets visited, not by keys returned). */
#define SCAN_COUNT_MAX 100000
/* Room for "*2\r\n$<20 digits>\r\n<cursor>\r\n*<20 digits>\r\n". */
#define SCAN_HEADER_MAX 64
/* Room for "*<20 digits>\r\n" or "$<20 digits>\r\n". */
#define COUNT_HEADER_MAX 24

static void cmd_scan(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    char cur[32];
    if (cmd->argv_len[1] == 0 || cmd->argv_len[1] >= sizeof(cur)) {
        resp_write_error(node_client_out(c), "ERR invalid cursor");
        return;
    }
    memcpy(cur, cmd->argv[1], cmd->argv_len[1]);
    cur[cmd->argv_len[1]] = 0;
    char *end;
    uint64_t cursor = strtoull(cur, &end, 10);
    if (*end || cur[0] == '-' || cur[0] == '+' || cur[0] == ' ') {
        resp_write_error(node_client_out(c), "ERR invalid cursor");
        return;
    }
    long long count = 10; /* Redis default */
    struct scan_ctx sc = {.keys = node_client_out(c), .now_ms = node_cluster_ms(n), .type_ok = true};
    for (size_t i = 2; i < cmd->argc; i++) {
        bool more = i + 1 < cmd->argc;
        if (ARG_IS(cmd, i, "COUNT") && more) {
            if (!parse_ll(cmd->argv[i + 1], cmd->argv_len[i + 1], &count)) {
                resp_write_error(node_client_out(c), "ERR value is not an integer or out of range");
                return;
            }
            if (count < 1) {
                resp_write_error(node_client_out(c), "ERR syntax error");
                return;
            }
            i++;
        } else if (ARG_IS(cmd, i, "MATCH") && more) {
            sc.pat = cmd->argv[i + 1];
            sc.pat_len = cmd->argv_len[i + 1];
            if (sc.pat_len == 1 && sc.pat[0] == '*')
                sc.pat = NULL;
            i++;
        } else if (ARG_IS(cmd, i, "TYPE") && more) {
            sc.type_ok = ARG_IS(cmd, i + 1, "string");
            i++;
        } else {
            resp_write_error(node_client_out(c), "ERR syntax error");
            return;
        }
    }
    /* Bound the work of one call (a client asking COUNT 1e18). */
    if (count > SCAN_COUNT_MAX)
        count = SCAN_COUNT_MAX;
    /* Keys go straight into the reply, under the output limit; the header
     * (cursor, count) fills the gap once they are known. */
    size_t at = resp_buf_gap_open(node_client_out(c), SCAN_HEADER_MAX);
    int rc = store_scan(n->store, &cursor, (uint32_t)count, scan_collect_cb, &sc);
    if (node_client_out(c)->failed)
        return;
    if (rc != 0) {
        node_client_out(c)->len = at;
        resp_write_errorf(node_client_out(c), "ERR scan failed: %s", gkv_strerror(rc));
        return;
    }
    char hdr[SCAN_HEADER_MAX];
    char cbuf[24];
    int cl = snprintf(cbuf, sizeof(cbuf), "%" PRIu64, cursor);
    int hl = snprintf(hdr, sizeof(hdr), "*2\r\n$%d\r\n%s\r\n*%lld\r\n", cl, cbuf, sc.n);
    resp_buf_gap_close(node_client_out(c), at, SCAN_HEADER_MAX, hdr, (size_t)hl);
}

static void cmd_keys(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct scan_ctx sc = {.keys = node_client_out(c), .now_ms = node_cluster_ms(n), .type_ok = true};
    sc.pat = cmd->argv[1];
    sc.pat_len = cmd->argv_len[1];
    if (sc.pat_len == 1 && sc.pat[0] == '*')
        sc.pat = NULL;
    uint64_t cursor = 0;
    /* One full pass (as Redis, O(keys)); the reply is bounded by the
     * output limit, and the pass stops as soon as the reply reaches it. */
    size_t at = resp_buf_gap_open(node_client_out(c), COUNT_HEADER_MAX);
    do {
        if (store_scan(n->store, &cursor, 4096, scan_collect_cb, &sc) != 0)
            break;
    } while (cursor != 0 && !node_client_out(c)->failed);
    char hdr[COUNT_HEADER_MAX];
    int hl = snprintf(hdr, sizeof(hdr), "*%lld\r\n", sc.n);
    resp_buf_gap_close(node_client_out(c), at, COUNT_HEADER_MAX, hdr, (size_t)hl);
}

static void cmd_info(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    char section[64] = "default";
    if (cmd->argc >= 2) {
        size_t l = cmd->argv_len[1] < sizeof(section) - 1 ? cmd->argv_len[1] : sizeof(section) - 1;
        memcpy(section, cmd->argv[1], l);
        section[l] = 0;
    }
    struct resp_buf *scratch = &n->server.scratch;
    scratch->len = 0;
    node_info(n, section, scratch);
    resp_write_bulk(node_client_out(c), scratch->data, scratch->len);
    scratch->len = 0;
}

static bool password_ok(const char *want, const uint8_t *pass, size_t len)
{
    /* Compare digests in constant time (no early exit on the first byte). */
    uint8_t a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
    crypto_generichash(a, sizeof(a), pass, len, NULL, 0);
    crypto_generichash(b, sizeof(b), (const uint8_t *)want, strlen(want), NULL, 0);
    return sodium_memcmp(a, b, sizeof(a)) == 0;
}

/* AUTH [username] password; returns true when authenticated. Two users,
 * as a small Redis ACL: "default" (requirepass: every data command) and
 * "admin" (admin-password: also the admin commands). */
static bool auth_check(struct node_client *c, const uint8_t *user, size_t user_len,
                       const uint8_t *pass, size_t pass_len)
{
    struct node *n = node_client_node(c);
    bool admin = user && user_len == 5 && memcmp(user, "admin", 5) == 0;
    if (!admin && !n->cfg.requirepass[0]) {
        resp_write_error(node_client_out(c),
                         "ERR AUTH <password> called without any password configured for "
                         "the default user. Are you sure your configuration is correct?");
        return false;
    }
    const char *want = admin ? n->cfg.admin_password : n->cfg.requirepass;
    bool user_ok = admin || !user || (user_len == 7 && memcmp(user, "default", 7) == 0);
    if (!user_ok || !want[0] || !password_ok(want, pass, pass_len)) {
        n->server.stats.auth_failures++;
        resp_write_error(node_client_out(c),
                         "WRONGPASS invalid username-password pair or user is disabled.");
        return false;
    }
    node_client_set_authed(c, true);
    node_client_set_admin(c, admin);
    return true;
}

/* Admin commands: refused unless the client is the admin user; with no
 * admin-password configured nobody is. */
static bool admin_ok(struct node_client *c, const char *what)
{
    struct node *n = node_client_node(c);
    if (node_client_admin(c))
        return true;
    n->server.stats.noperm_refused++;
    if (!n->cfg.admin_password[0])
        resp_write_errorf(node_client_out(c),
                          "NOPERM '%s' is an admin command and this node has no "
                          "admin-password: set one, then AUTH admin <password>",
                          what);
    else
        resp_write_errorf(node_client_out(c),
                          "NOPERM this user has no permissions to run the '%s' command: "
                          "AUTH admin <admin-password> first",
                          what);
    return false;
}

bool node_command_admin_ok(struct node_client *c, const char *what)
{
    return admin_ok(c, what);
}

static void cmd_auth(struct node_client *c, const struct resp_cmd *cmd)
{
    if (cmd->argc > 3) {
        resp_write_error(node_client_out(c), "ERR syntax error");
        return;
    }
    bool ok = cmd->argc == 2 ? auth_check(c, NULL, 0, cmd->argv[1], cmd->argv_len[1])
                             : auth_check(c, cmd->argv[1], cmd->argv_len[1], cmd->argv[2],
                                          cmd->argv_len[2]);
    if (ok)
        resp_write_simple(node_client_out(c), "OK");
}

static void cmd_hello(struct node_client *c, const struct resp_cmd *cmd)
{
    size_t i = 1;
    if (cmd->argc >= 2) {
        long long ver;
        if (!parse_ll(cmd->argv[1], cmd->argv_len[1], &ver)) {
            resp_write_error(node_client_out(c),
                             "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver != 2) {
            resp_write_error(node_client_out(c),
                             "NOPROTO sorry, this protocol version is not supported.");
            return;
        }
        i = 2;
    }
    for (; i < cmd->argc; i++) {
        if (ARG_IS(cmd, i, "AUTH") && i + 2 < cmd->argc) {
            if (!auth_check(c, cmd->argv[i + 1], cmd->argv_len[i + 1], cmd->argv[i + 2],
                            cmd->argv_len[i + 2]))
                return;
            i += 2;
        } else if (ARG_IS(cmd, i, "SETNAME") && i + 1 < cmd->argc) {
            if (node_client_set_name(c, cmd->argv[i + 1], cmd->argv_len[i + 1]) != 0) {
                resp_write_error(node_client_out(c),
                                 "ERR Client names cannot contain spaces, newlines or "
                                 "special characters.");
                return;
            }
            i++;
        } else {
            resp_write_errorf(node_client_out(c), "ERR Syntax error in HELLO option '%.*s'",
                              (int)(cmd->argv_len[i] > 64 ? 64 : cmd->argv_len[i]),
                              (const char *)cmd->argv[i]);
            return;
        }
    }
    if (!node_client_authed(c)) {
        node_client_node(c)->server.stats.noauth_refused++;
        resp_write_error(node_client_out(c),
                         "NOAUTH HELLO must be called with the client already "
                         "authenticated, otherwise the HELLO <proto> AUTH <user> <pass> "
                         "option can be used to authenticate the client and select the "
                         "RESP protocol version at the same time");
        return;
    }
    struct resp_buf *o = node_client_out(c);
    resp_write_array(o, 14);
    resp_write_bulk_str(o, "server");
    resp_write_bulk_str(o, "gossipkv");
    resp_write_bulk_str(o, "version");
    resp_write_bulk_str(o, GKV_VERSION);
    resp_write_bulk_str(o, "proto");
    resp_write_int(o, 2);
    resp_write_bulk_str(o, "id");
    resp_write_int(o, (long long)node_client_id(c));
    resp_write_bulk_str(o, "mode");
    resp_write_bulk_str(o, "standalone");
    resp_write_bulk_str(o, "role");
    resp_write_bulk_str(o, "master");
    resp_write_bulk_str(o, "modules");
    resp_write_array(o, 0);
}

static void cmd_select(struct node_client *c, const struct resp_cmd *cmd)
{
    long long db;
    if (!parse_ll(cmd->argv[1], cmd->argv_len[1], &db)) {
        resp_write_error(node_client_out(c), "ERR value is not an integer or out of range");
        return;
    }
    if (db != 0) {
        resp_write_error(node_client_out(c), "ERR DB index is out of range");
        return;
    }
    resp_write_simple(node_client_out(c), "OK");
}

static void cmd_quit(struct node_client *c, const struct resp_cmd *cmd)
{
    (void)cmd;
    resp_write_simple(node_client_out(c), "OK");
    node_client_close_after_reply(c);
}

struct client_list_ctx {
    struct resp_buf *b;
};

static void client_list_cb(void *arg, const struct node_client_view *v)
{
    struct client_list_ctx *ctx = arg;
    char line[256];
    int n = snprintf(line, sizeof(line), "id=%llu addr=%s name=%s age=%llu idle=%llu db=0\n",
                     (unsigned long long)v->id, v->addr, v->name, (unsigned long long)v->age_s,
                     (unsigned long long)v->idle_s);
    resp_buf_append(ctx->b, line, (size_t)n);
}

static void cmd_client(struct node_client *c, const struct resp_cmd *cmd)
{
    struct resp_buf *o = node_client_out(c);
    if (ARG_IS(cmd, 1, "SETNAME") && cmd->argc == 3) {
        if (node_client_set_name(c, cmd->argv[2], cmd->argv_len[2]) != 0) {
            resp_write_error(o, "ERR Client names cannot contain spaces, newlines or special "
                                "characters.");
            return;
        }
        resp_write_simple(o, "OK");
    } else if (ARG_IS(cmd, 1, "GETNAME") && cmd->argc == 2) {
        const char *name = node_client_name(c);
        if (name[0])
            resp_write_bulk_str(o, name);
        else
            resp_write_null(o);
    } else if (ARG_IS(cmd, 1, "ID") && cmd->argc == 2) {
        resp_write_int(o, (long long)node_client_id(c));
    } else if (ARG_IS(cmd, 1, "SETINFO") && cmd->argc == 4) {
        resp_write_simple(o, "OK"); /* lib-name / lib-ver: accepted, not kept */
    } else if (ARG_IS(cmd, 1, "LIST") && cmd->argc == 2) {
        /* Lines go straight into the reply, under the output limit. */
        struct client_list_ctx ctx = {.b = o};
        size_t at = resp_buf_gap_open(o, COUNT_HEADER_MAX);
        node_server_each_client(&node_client_node(c)->server, client_list_cb, &ctx);
        char hdr[COUNT_HEADER_MAX];
        int hl = snprintf(hdr, sizeof(hdr), "$%zu\r\n",
                          o->failed ? (size_t)0 : o->len - at - COUNT_HEADER_MAX);
        resp_buf_gap_close(o, at, COUNT_HEADER_MAX, hdr, (size_t)hl);
        resp_buf_append(o, "\r\n", 2);
    } else {
        resp_write_errorf(o, "ERR unknown subcommand or wrong number of arguments for '%.*s'. "
                             "Try CLIENT HELP.",
                          (int)(cmd->argv_len[1] > 64 ? 64 : cmd->argv_len[1]),
                          (const char *)cmd->argv[1]);
    }
}

/* CONFIG GET: the node's settings plus the Redis names tools ask for. */
static const char *const redis_compat[][2] = {
    {"save", ""},        /* redis-benchmark reads these two */
    {"appendonly", "no"},
    {"databases", "1"},
};

static void cmd_config(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    if (!ARG_IS(cmd, 1, "GET")) {
        if ((ARG_IS(cmd, 1, "SET") || ARG_IS(cmd, 1, "RESETSTAT")) &&
            !admin_ok(c, ARG_IS(cmd, 1, "SET") ? "config|set" : "config|resetstat"))
            return;
        if (ARG_IS(cmd, 1, "SET"))
            resp_write_error(o, "ERR CONFIG SET is not supported by gossipkv: change the config "
                                "file or flags and restart the node");
        else if (ARG_IS(cmd, 1, "RESETSTAT")) {
            /* The client counters (store and gossip counters are theirs). */
            memset(&n->server.stats, 0, sizeof(n->server.stats));
            resp_write_simple(o, "OK");
        } else
            resp_write_errorf(o, "ERR unknown subcommand '%.*s'. Try CONFIG HELP.",
                              (int)(cmd->argv_len[1] > 64 ? 64 : cmd->argv_len[1]),
                              (const char *)cmd->argv[1]);
        return;
    }
    if (cmd->argc < 3) {
        resp_write_error(o, "ERR wrong number of arguments for 'config|get' command");
        return;
    }
    struct resp_buf *pairs = &n->server.scratch;
    pairs->len = 0;
    long long count = 0;
    const char *const *names = node_config_names();
    size_t ncompat = sizeof(redis_compat) / sizeof(redis_compat[0]);
    size_t total = ncompat;
    while (names[total - ncompat])
        total++;
    for (size_t k = 0; k < total; k++) {
        const char *name;
        char value[NODE_MAX_SEEDS * NODE_ADDR_TEXT_MAX];
        if (k < ncompat) {
            name = redis_compat[k][0];
            snprintf(value, sizeof(value), "%s", redis_compat[k][1]);
        } else {
            name = names[k - ncompat];
            node_config_get(&n->cfg, name, value, sizeof(value));
        }
        for (size_t i = 2; i < cmd->argc; i++) {
            if (glob_match(cmd->argv[i], cmd->argv_len[i], (const uint8_t *)name, strlen(name),
                           true)) {
                resp_write_bulk_str(pairs, name);
                resp_write_bulk_str(pairs, value);
                count++;
                break;
            }
        }
    }
    resp_write_array(o, count * 2);
    resp_buf_append(o, pairs->data, pairs->len);
    pairs->len = 0;
}

static const char *state_name(enum gossip_member_state s)
{
    switch (s) {
    case GOSSIP_ALIVE: return "alive";
    case GOSSIP_SUSPECT: return "suspect";
    case GOSSIP_DEAD: return "dead";
    case GOSSIP_LEFT: return "left";
    }
    return "unknown";
}

static void cmd_members(struct node_client *c, const struct resp_cmd *cmd)
{
    (void)cmd;
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    if (!n->gossip) {
        resp_write_array(o, 1);
        resp_write_array(o, 4);
        resp_write_bulk_str(o, n->cfg.name);
        resp_write_bulk_str(o, n->cfg.advertise_addr);
        resp_write_bulk_str(o, "alive");
        resp_write_int(o, (long long)store_incarnation(n->store));
        return;
    }
    size_t count = gossip_member_count(n->gossip);
    resp_write_array(o, (long long)count);
    for (size_t i = 0; i < count; i++) {
        struct gossip_member_info m;
        if (gossip_member_get(n->gossip, i, &m) != 0) {
            resp_write_null(o); /* keep the announced count */
            continue;
        }
        resp_write_array(o, 4);
        resp_write_bulk_str(o, m.name ? m.name : "");
        resp_write_bulk_str(o, m.addr ? m.addr : "");
        resp_write_bulk_str(o, state_name(m.state));
        resp_write_int(o, (long long)m.incarnation);
    }
}

static const char *member_name_of(struct node *n, uint64_t id)
{
    if (id == n->node_id)
        return n->cfg.name;
    struct gossip_member_info m;
    if (n->gossip && gossip_member_find(n->gossip, id, &m) == 0)
        return m.name;
    return NULL;
}

static void cmd_version(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    struct entry e;
    if (cmd->argv_len[1] == 0 || cmd->argv_len[1] > GKV_KEY_MAX ||
        store_get(n->store, cmd->argv[1], cmd->argv_len[1], &e) != 0) {
        resp_write_null(o);
        return;
    }
    char hex[24];
    resp_write_array(o, 18);
    resp_write_bulk_str(o, "hlc");
    resp_write_int(o, (long long)e.hlc);
    resp_write_bulk_str(o, "hlc_ms");
    resp_write_int(o, (long long)HLC_MS(e.hlc));
    resp_write_bulk_str(o, "hlc_logical");
    resp_write_int(o, (long long)HLC_LOGICAL(e.hlc));
    resp_write_bulk_str(o, "origin");
    snprintf(hex, sizeof(hex), "%016" PRIx64, e.origin);
    resp_write_bulk_str(o, hex);
    resp_write_bulk_str(o, "origin_name");
    const char *oname = member_name_of(n, e.origin);
    if (oname)
        resp_write_bulk_str(o, oname);
    else
        resp_write_null(o);
    resp_write_bulk_str(o, "tombstone");
    resp_write_int(o, entry_is_tombstone(&e) ? 1 : 0);
    resp_write_bulk_str(o, "value_bytes");
    resp_write_int(o, (long long)e.value_len);
    resp_write_bulk_str(o, "expire_ms"); /* 0: none; kept while passed, until purged */
    resp_write_int(o, (long long)e.expire_ms);
    resp_write_bulk_str(o, "vclock");
    resp_write_array(o, e.vc.n);
    for (uint32_t i = 0; i < e.vc.n && i < GKV_VCLOCK_MAX; i++) {
        resp_write_array(o, 2);
        snprintf(hex, sizeof(hex), "%016" PRIx64, e.vc.items[i].node);
        resp_write_bulk_str(o, hex);
        resp_write_int(o, (long long)e.vc.items[i].counter);
    }
}

static void cmd_keyring(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    if (!n->keyring) {
        resp_write_error(o, "ERR this node runs --insecure: it has no keyring");
        return;
    }
    if (ARG_IS(cmd, 1, "LIST") && cmd->argc == 2) {
        uint32_t count = seal_keyring_count(n->keyring);
        resp_write_array(o, count);
        for (uint32_t i = 0; i < count; i++) {
            uint32_t id = 0;
            bool primary = false;
            seal_keyring_entry(n->keyring, i, &id, &primary);
            char hex[16];
            snprintf(hex, sizeof(hex), "%08x", id);
            resp_write_array(o, 2);
            resp_write_bulk_str(o, hex);
            resp_write_bulk_str(o, primary ? "primary" : "installed");
        }
        return;
    }
    bool install = ARG_IS(cmd, 1, "INSTALL"), use = ARG_IS(cmd, 1, "USE"),
         rm = ARG_IS(cmd, 1, "REMOVE");
    if (!(install || use || rm) || cmd->argc != 3) {
        resp_write_error(o, "ERR usage: KEYRING LIST | INSTALL key | USE key | REMOVE key");
        return;
    }
    char b64[128];
    uint8_t key[SEAL_KEY_BYTES];
    if (cmd->argv_len[2] >= sizeof(b64)) {
        resp_write_error(o, "ERR bad key: expected base64 of 32 bytes");
        return;
    }
    memcpy(b64, cmd->argv[2], cmd->argv_len[2]);
    b64[cmd->argv_len[2]] = 0;
    int rc = seal_key_parse(b64, key);
    sodium_memzero(b64, sizeof(b64));
    if (rc != 0) {
        resp_write_error(o, "ERR bad key: expected base64 of 32 bytes");
        return;
    }
    rc = install ? node_keys_install(n, key) : use ? node_keys_use(n, key) : node_keys_remove(n, key);
    sodium_memzero(key, sizeof(key));
    switch (rc) {
    case 0: resp_write_simple(o, "OK"); break;
    case GKV_EEXIST: resp_write_error(o, "ERR key already installed"); break;
    case GKV_EFULL: resp_write_errorf(o, "ERR keyring full (%u keys)", SEAL_KEYRING_MAX); break;
    case GKV_ENOTFOUND: resp_write_error(o, "ERR key not installed"); break;
    case GKV_ESTATE: resp_write_error(o, "ERR cannot remove the primary key (USE another first)"); break;
    default: resp_write_errorf(o, "ERR keyring: %s", gkv_strerror(rc)); break;
    }
}

static void cmd_command(struct node_client *c, const struct resp_cmd *cmd);

/* Sorted by nothing in particular; lookup compares length first. */
static const struct command table[] = {
    {"get", 2, CMD_READONLY, cmd_get, 1, 1, 1},
    {"set", -3, CMD_WRITE, cmd_set, 1, 1, 1},
    {"ping", -1, 0, cmd_ping, 0, 0, 0},
    {"del", -2, CMD_WRITE, cmd_del, 1, -1, 1},
    {"mget", -2, CMD_READONLY, cmd_mget, 1, -1, 1},
    {"mset", -3, CMD_WRITE, cmd_mset, 1, -1, 2},
    /* Counters near the top: the table is searched in order, and INCR is
     * as hot as SET for its users (node/counters.c). */
    {"incr", 2, CMD_WRITE, node_cmd_incr, 1, 1, 1},
    {"decr", 2, CMD_WRITE, node_cmd_decr, 1, 1, 1},
    {"incrby", 3, CMD_WRITE, node_cmd_incrby, 1, 1, 1},
    {"decrby", 3, CMD_WRITE, node_cmd_decrby, 1, 1, 1},
    {"incrbyfloat", 3, CMD_WRITE, node_cmd_incrbyfloat, 1, 1, 1},
    {"exists", -2, CMD_READONLY, cmd_exists, 1, -1, 1},
    {"echo", 2, 0, cmd_echo, 0, 0, 0},
    {"type", 2, CMD_READONLY, cmd_type, 1, 1, 1},
    {"dbsize", 1, CMD_READONLY, node_cmd_dbsize, 0, 0, 0},
    {"scan", -2, CMD_READONLY, cmd_scan, 0, 0, 0},
    {"keys", 2, CMD_READONLY, cmd_keys, 0, 0, 0},
    {"info", -1, 0, cmd_info, 0, 0, 0},
    {"auth", -2, CMD_NOAUTH, cmd_auth, 0, 0, 0},
    {"hello", -1, CMD_NOAUTH, cmd_hello, 0, 0, 0},
    {"select", 2, 0, cmd_select, 0, 0, 0},
    {"quit", -1, CMD_NOAUTH, cmd_quit, 0, 0, 0},
    {"command", -1, 0, cmd_command, 0, 0, 0},
    {"client", -2, 0, cmd_client, 0, 0, 0},
    {"config", -2, 0, cmd_config, 0, 0, 0}, /* SET and RESETSTAT: admin */
    {"members", 1, 0, cmd_members, 0, 0, 0},
    {"version", 2, CMD_READONLY, cmd_version, 1, 1, 1},
    {"keyring", -2, CMD_ADMIN, cmd_keyring, 0, 0, 0},
    {"clockoffset", -2, CMD_ADMIN | CMD_OPT_IN, node_cmd_clockoffset, 0, 0, 0},
    {"clock", 1, 0, node_cmd_clock, 0, 0, 0},
    {"latency", -2, 0, node_cmd_latency, 0, 0, 0}, /* RESET: admin */
    /* Strings and keyspace (strings.c, keyspace.c; docs/COMMANDS.md). */
    {"setnx", 3, CMD_WRITE, node_cmd_setnx, 1, 1, 1},
    {"getset", 3, CMD_WRITE, node_cmd_getset, 1, 1, 1},
    {"getdel", 2, CMD_WRITE, node_cmd_getdel, 1, 1, 1},
    {"msetnx", -3, CMD_WRITE, node_cmd_msetnx, 1, -1, 2},
    {"strlen", 2, CMD_READONLY, node_cmd_strlen, 1, 1, 1},
    {"append", 3, CMD_WRITE, node_cmd_append, 1, 1, 1},
    {"getrange", 4, CMD_READONLY, node_cmd_getrange, 1, 1, 1},
    {"substr", 4, CMD_READONLY, node_cmd_getrange, 1, 1, 1},
    {"setrange", 4, CMD_WRITE, node_cmd_setrange, 1, 1, 1},
    {"lcs", -3, CMD_READONLY, node_cmd_lcs, 1, 2, 1},
    {"setbit", 4, CMD_WRITE, node_cmd_setbit, 1, 1, 1},
    {"getbit", 3, CMD_READONLY, node_cmd_getbit, 1, 1, 1},
    {"bitcount", -2, CMD_READONLY, node_cmd_bitcount, 1, 1, 1},
    {"bitpos", -3, CMD_READONLY, node_cmd_bitpos, 1, 1, 1},
    {"rename", 3, CMD_WRITE, node_cmd_rename, 1, 2, 1},
    {"renamenx", 3, CMD_WRITE, node_cmd_rename, 1, 2, 1},
    {"copy", -3, CMD_WRITE, node_cmd_copy, 1, 2, 1},
    {"randomkey", 1, CMD_READONLY, node_cmd_randomkey, 0, 0, 0},
    {"unlink", -2, CMD_WRITE, cmd_del, 1, -1, 1},
    {"touch", -2, CMD_READONLY, cmd_exists, 1, -1, 1},
    {"flushdb", -1, CMD_WRITE, node_cmd_flush, 0, 0, 0},
    {"flushall", -1, CMD_WRITE, node_cmd_flush, 0, 0, 0},
    {"function", -2, 0, node_cmd_function, 0, 0, 0}, /* FLUSH only: no functions */
    /* Expiry (expire.c). */
    {"expire", -3, CMD_WRITE, node_cmd_expire, 1, 1, 1},
    {"pexpire", -3, CMD_WRITE, node_cmd_expire, 1, 1, 1},
    {"expireat", -3, CMD_WRITE, node_cmd_expire, 1, 1, 1},
    {"pexpireat", -3, CMD_WRITE, node_cmd_expire, 1, 1, 1},
    {"persist", 2, CMD_WRITE, node_cmd_persist, 1, 1, 1},
    {"ttl", 2, CMD_READONLY, node_cmd_ttl, 1, 1, 1},
    {"pttl", 2, CMD_READONLY, node_cmd_ttl, 1, 1, 1},
    {"expiretime", 2, CMD_READONLY, node_cmd_ttl, 1, 1, 1},
    {"pexpiretime", 2, CMD_READONLY, node_cmd_ttl, 1, 1, 1},
    {"setex", 4, CMD_WRITE, node_cmd_setex, 1, 1, 1},
    {"psetex", 4, CMD_WRITE, node_cmd_setex, 1, 1, 1},
    {"getex", -2, CMD_WRITE, node_cmd_getex, 1, 1, 1},
    {"time", 1, 0, node_cmd_time, 0, 0, 0},
};
#define NCOMMANDS (sizeof(table) / sizeof(table[0]))

size_t node_command_count(void)
{
    return NCOMMANDS;
}

static const struct command *lookup_command(const uint8_t *name, size_t len)
{
    static size_t lens[NCOMMANDS];
    if (lens[0] == 0)
        for (size_t i = 0; i < NCOMMANDS; i++)
            lens[i] = strlen(table[i].name);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (lens[i] == len && !strncasecmp(table[i].name, (const char *)name, len))
            return &table[i];
    return NULL;
}

const char *node_command_family(const struct resp_cmd *cmd)
{
    const struct command *t = cmd->argc ? lookup_command(cmd->argv[0], cmd->argv_len[0]) : NULL;
    if (!t)
        return "other";
    if (t->flags & CMD_ADMIN)
        return "admin";
    if (t->flags & CMD_WRITE)
        return "write";
    return t->flags & CMD_READONLY ? "read" : "other";
}

static void write_command_info(struct resp_buf *o, const struct command *cmd)
{
    resp_write_array(o, 6);
    resp_write_bulk_str(o, cmd->name);
    resp_write_int(o, cmd->arity);
    int nflags = 0;
    const char *flags[4];
    if (cmd->flags & CMD_WRITE)
        flags[nflags++] = "write";
    if (cmd->flags & CMD_READONLY)
        flags[nflags++] = "readonly";
    if (cmd->flags & CMD_ADMIN)
        flags[nflags++] = "admin";
    if (cmd->flags & CMD_NOAUTH)
        flags[nflags++] = "no_auth";
    resp_write_array(o, nflags);
    for (int i = 0; i < nflags; i++)
        resp_write_simple(o, flags[i]);
    resp_write_int(o, cmd->first_key);
    resp_write_int(o, cmd->last_key);
    resp_write_int(o, cmd->step);
}

static void cmd_command(struct node_client *c, const struct resp_cmd *cmd)
{
    struct resp_buf *o = node_client_out(c);
    if (cmd->argc == 1) {
        resp_write_array(o, (long long)NCOMMANDS);
        for (size_t i = 0; i < NCOMMANDS; i++)
            write_command_info(o, &table[i]);
    } else if (ARG_IS(cmd, 1, "COUNT")) {
        resp_write_int(o, (long long)NCOMMANDS);
    } else if (ARG_IS(cmd, 1, "DOCS")) {
        /* redis-cli asks at start for its hints; none here (it copes). */
        resp_write_array(o, 0);
    } else if (ARG_IS(cmd, 1, "LIST")) {
        resp_write_array(o, (long long)NCOMMANDS);
        for (size_t i = 0; i < NCOMMANDS; i++)
            resp_write_bulk_str(o, table[i].name);
    } else if (ARG_IS(cmd, 1, "INFO")) {
        resp_write_array(o, (long long)cmd->argc - 2);
        for (size_t i = 2; i < cmd->argc; i++) {
            const struct command *t = lookup_command(cmd->argv[i], cmd->argv_len[i]);
            if (t)
                write_command_info(o, t);
            else
                resp_write_null(o);
        }
    } else {
        resp_write_errorf(o, "ERR unknown subcommand '%.*s'. Try COMMAND HELP.",
                          (int)(cmd->argv_len[1] > 64 ? 64 : cmd->argv_len[1]),
                          (const char *)cmd->argv[1]);
    }
}

void node_command_exec(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    const struct command *t = lookup_command(cmd->argv[0], cmd->argv_len[0]);
    if (!t) {
        n->server.stats.unknown_commands++;
        /* Redis 7 wording. */
        char args[160];
        size_t k = 0;
        args[0] = 0;
        for (size_t i = 1; i < cmd->argc && k < 128; i++) {
            int w = snprintf(args + k, sizeof(args) - k, "'%.*s' ",
                             (int)(cmd->argv_len[i] < 128 - k ? cmd->argv_len[i] : 128 - k),
                             (const char *)cmd->argv[i]);
            if (w < 0)
                break;
            k += (size_t)w < sizeof(args) - k ? (size_t)w : sizeof(args) - k - 1;
        }
        resp_write_errorf(node_client_out(c),
                          "ERR unknown command '%.*s', with args beginning with: %s",
                          (int)(cmd->argv_len[0] > 128 ? 128 : cmd->argv_len[0]),
                          (const char *)cmd->argv[0], args);
        return;
    }
    if ((t->arity > 0 && cmd->argc != (size_t)t->arity) ||
        (t->arity < 0 && cmd->argc < (size_t)-t->arity)) {
        n->server.stats.arity_errors++;
        resp_write_errorf(node_client_out(c), "ERR wrong number of arguments for '%s' command",
                          t->name);
        return;
    }
    if (!node_client_authed(c) && !(t->flags & CMD_NOAUTH)) {
        n->server.stats.noauth_refused++;
        resp_write_error(node_client_out(c), "NOAUTH Authentication required.");
        return;
    }
    if ((t->flags & CMD_ADMIN) && !((t->flags & CMD_OPT_IN) && !n->cfg.admin_password[0]) &&
        !admin_ok(c, t->name))
        return;
    if ((t->flags & CMD_WRITE) && node_clock_refuse_write(c))
        return;
    if ((t->flags & CMD_READONLY) && node_fill_refuse_read(c))
        return;
    t->fn(c, cmd);
}
