/*
 * expire.c: key expiry. EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT),
 * TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST, SETEX, PSETEX, GETEX, the
 * expiry options SET shares with GETEX (EX/PX/EXAT/PXAT/KEEPTTL/PERSIST),
 * and DBSIZE, which counts only keys whose expiry has not passed.
 *
 * An expiry is an absolute time on the cluster's clock (this node's wall
 * clock plus the correction the gossip core measured, node_cluster_ms), part
 * of the entry's version (storage/entry.h). So every change of it is an
 * ordinary write with a new HLC, decided here by the node that receives the
 * command and spread like a SET: EXPIRE rewrites the value it read with the
 * new expiry, PERSIST rewrites it without one. An expiry that has passed
 * makes the key read as absent on every node (node_key_lookup); a command
 * that would set an expiry in the past deletes the key instead (a
 * tombstone), as Redis does. docs/ARCHITECTURE.md ("Expiry") says what that
 * means under partitions and clock skew.
 *
 * Argument checks, their order and the error words follow redis-server
 * 7.0.15 (expire.c, t_string.c), so client libraries see the same replies.
 * Redis accepts any expiry up to LLONG_MAX ms, and so does this
 * (ENTRY_EXPIRE_MAX_MS).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "node/node.h"

#define ERR_NOT_INT "ERR value is not an integer or out of range"

uint64_t node_cluster_ms(struct node *n)
{
    return node_wall_ms() + store_hlc(n->store)->correction_ms;
}

/* "invalid expire time in '<cmd>' command", the command name in lower case
 * as Redis prints c->cmd->fullname. */
static void reply_expire_time(struct node_client *c, const struct resp_cmd *cmd)
{
    char name[16];
    size_t l = cmd->argv_len[0] < sizeof name - 1 ? cmd->argv_len[0] : sizeof name - 1;
    for (size_t i = 0; i < l; i++) {
        char ch = (char)cmd->argv[0][i];
        name[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    name[l] = 0;
    resp_write_errorf(node_client_out(c), "ERR invalid expire time in '%s' command", name);
}

bool node_setx_parse(struct node_client *c, const struct resp_cmd *cmd, size_t first, bool set,
                     struct node_setx *o)
{
    memset(o, 0, sizeof *o);
    for (size_t j = first; j < cmd->argc; j++) {
        bool next = j + 1 < cmd->argc;
        bool timed = o->unit != NODE_SETX_NONE;
        if (set && node_arg_is(cmd, j, "NX") && !o->xx) {
            o->nx = true;
        } else if (set && node_arg_is(cmd, j, "XX") && !o->nx) {
            o->xx = true;
        } else if (set && node_arg_is(cmd, j, "GET")) {
            o->get = true;
        } else if (set && node_arg_is(cmd, j, "KEEPTTL") && !timed) {
            o->keepttl = true;
        } else if (!set && node_arg_is(cmd, j, "PERSIST") && !timed) {
            o->persist = true;
        } else if (next && !timed && !o->keepttl && !o->persist &&
                   (node_arg_is(cmd, j, "EX") || node_arg_is(cmd, j, "PX") ||
                    node_arg_is(cmd, j, "EXAT") || node_arg_is(cmd, j, "PXAT"))) {
            bool px = cmd->argv[j][0] == 'p' || cmd->argv[j][0] == 'P';
            bool at = cmd->argv_len[j] == 4;
            o->unit = px ? (at ? NODE_SETX_PXAT : NODE_SETX_PX) : (at ? NODE_SETX_EXAT : NODE_SETX_EX);
            o->arg = ++j;
        } else {
            resp_write_error(node_client_out(c), "ERR syntax error");
            return false;
        }
    }
    return true;
}

/* Redis getExpireMillisecondsOrReply: a positive number, times 1000 for
 * seconds without overflow, plus now for EX/PX without overflow. */
bool node_setx_when(struct node_client *c, const struct resp_cmd *cmd, const struct node_setx *o,
                    uint64_t now_ms, uint64_t *when_ms)
{
    long long v;
    if (!resp_str2ll(cmd->argv[o->arg], cmd->argv_len[o->arg], &v)) {
        resp_write_error(node_client_out(c), ERR_NOT_INT);
        return false;
    }
    bool seconds = o->unit == NODE_SETX_EX || o->unit == NODE_SETX_EXAT;
    bool relative = o->unit == NODE_SETX_EX || o->unit == NODE_SETX_PX;
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) {
        reply_expire_time(c, cmd);
        return false;
    }
    if (seconds)
        v *= 1000;
    if (relative) {
        if ((unsigned long long)v > (unsigned long long)LLONG_MAX - now_ms) {
            reply_expire_time(c, cmd);
            return false;
        }
        v += (long long)now_ms;
    }
    *when_ms = (uint64_t)v;
    return true;
}


/* SETEX key seconds value, PSETEX key milliseconds value. */
void node_cmd_setex(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct node_setx o = {.unit = cmd->argv_len[0] == 6 ? NODE_SETX_PX : NODE_SETX_EX, .arg = 2};
    uint64_t when;
    if (!node_setx_when(c, cmd, &o, node_cluster_ms(n), &when))
        return;
    int rc = node_key_put_expire(n, cmd->argv[1], cmd->argv_len[1], cmd->argv[3],
                                 cmd->argv_len[3], when);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else
        resp_write_simple(node_client_out(c), "OK");
}

/* GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST] */
void node_cmd_getex(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct node_setx o;
    if (!node_setx_parse(c, cmd, 2, false, &o))
        return;
    struct entry e;
    if (!node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e)) {
        n->server.stats.keyspace_misses++;
        resp_write_null(node_client_out(c));
        return;
    }
    n->server.stats.keyspace_hits++;
    uint64_t now = node_cluster_ms(n), when = 0;
    if (o.unit != NODE_SETX_NONE && !node_setx_when(c, cmd, &o, now, &when))
        return;
    /* The reply is the value read; copy it before the write moves it. */
    struct resp_buf *out = node_client_out(c);
    size_t at = out->len;
    resp_write_bulk(out, e.value, e.value_len);
    int rc = 0;
    bool absolute = o.unit == NODE_SETX_EXAT || o.unit == NODE_SETX_PXAT;
    if (absolute && when <= now)
        rc = node_key_del(n, cmd->argv[1], cmd->argv_len[1], NULL); /* already expired */
    else if (o.unit != NODE_SETX_NONE)
        rc = node_key_put_copy(n, cmd->argv[1], cmd->argv_len[1], &e, when);
    else if (o.persist && e.expire_ms)
        rc = node_key_put_copy(n, cmd->argv[1], cmd->argv_len[1], &e, 0);
    if (rc != 0) {
        out->len = at;
        node_reply_store_error(c, rc);
    }
}

enum expire_flag { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/* NX/XX/GT/LT after the time (Redis parseExtendedExpireArgumentsOrReply). */
static bool expire_flags(struct node_client *c, const struct resp_cmd *cmd, unsigned *flags)
{
    *flags = 0;
    for (size_t j = 3; j < cmd->argc; j++) {
        if (node_arg_is(cmd, j, "NX")) {
            *flags |= EXP_NX;
        } else if (node_arg_is(cmd, j, "XX")) {
            *flags |= EXP_XX;
        } else if (node_arg_is(cmd, j, "GT")) {
            *flags |= EXP_GT;
        } else if (node_arg_is(cmd, j, "LT")) {
            *flags |= EXP_LT;
        } else {
            resp_write_errorf(node_client_out(c), "ERR Unsupported option %.*s",
                              (int)(cmd->argv_len[j] > 128 ? 128 : cmd->argv_len[j]),
                              (const char *)cmd->argv[j]);
            return false;
        }
    }
    if ((*flags & EXP_NX) && (*flags & (EXP_XX | EXP_GT | EXP_LT))) {
        resp_write_error(node_client_out(c),
                         "ERR NX and XX, GT or LT options at the same time are not compatible");
        return false;
    }
    if ((*flags & EXP_GT) && (*flags & EXP_LT)) {
        resp_write_error(node_client_out(c),
                         "ERR GT and LT options at the same time are not compatible");
        return false;
    }
    return true;
}

/* Does the NX/XX/GT/LT condition let `when` replace `cur` (-1: none)? */
static bool expire_allowed(unsigned flags, long long cur, long long when)
{
    if ((flags & EXP_NX) && cur != -1)
        return false;
    if ((flags & EXP_XX) && cur == -1)
        return false;
    if ((flags & EXP_GT) && (cur == -1 || when <= cur))
        return false;
    if ((flags & EXP_LT) && cur != -1 && when >= cur)
        return false;
    return true;
}

/* EXPIRE/PEXPIRE (relative: basetime = now), EXPIREAT/PEXPIREAT (0). The
 * table sends all four here; the name says which. */
void node_cmd_expire(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    bool ms = cmd->argv[0][0] == 'p' || cmd->argv[0][0] == 'P';
    bool at = cmd->argv_len[0] == (ms ? 9u : 8u); /* pexpireat / expireat */
    unsigned flags;
    if (!expire_flags(c, cmd, &flags))
        return;
    long long when;
    if (!resp_str2ll(cmd->argv[2], cmd->argv_len[2], &when)) {
        resp_write_error(node_client_out(c), ERR_NOT_INT);
        return;
    }
    if (!ms) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
            reply_expire_time(c, cmd);
            return;
        }
        when *= 1000;
    }
    uint64_t now = node_cluster_ms(n);
    long long base = at ? 0 : (long long)now;
    if (when > LLONG_MAX - base) {
        reply_expire_time(c, cmd);
        return;
    }
    when += base;
    struct entry e;
    if (!node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e)) {
        resp_write_int(node_client_out(c), 0);
        return;
    }
    if (!expire_allowed(flags, e.expire_ms ? (long long)e.expire_ms : -1, when)) {
        resp_write_int(node_client_out(c), 0);
        return;
    }
    int rc;
    if (when <= (long long)now) /* Redis checkAlreadyExpired: the key goes */
        rc = node_key_del(n, cmd->argv[1], cmd->argv_len[1], NULL);
    else
        rc = node_key_put_copy(n, cmd->argv[1], cmd->argv_len[1], &e, (uint64_t)when);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else
        resp_write_int(node_client_out(c), 1);
}

/* TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 absent, -1 no expiry, else the
 * time left (never below 0) or the absolute expiry; seconds rounded. */
void node_cmd_ttl(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    bool ms = cmd->argv[0][0] == 'p' || cmd->argv[0][0] == 'P';
    bool abs = cmd->argv_len[0] > 4; /* [p]expiretime */
    struct entry e;
    if (!node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e)) {
        resp_write_int(node_client_out(c), -2);
        return;
    }
    if (!e.expire_ms) {
        resp_write_int(node_client_out(c), -1);
        return;
    }
    long long ttl = abs ? (long long)e.expire_ms : (long long)e.expire_ms - (long long)node_cluster_ms(n);
    if (ttl < 0)
        ttl = 0;
    resp_write_int(node_client_out(c), ms ? ttl : (ttl + 500) / 1000);
}

void node_cmd_persist(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct entry e;
    if (!node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e) || !e.expire_ms) {
        resp_write_int(node_client_out(c), 0);
        return;
    }
    int rc = node_key_put_copy(n, cmd->argv[1], cmd->argv_len[1], &e, 0);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else
        resp_write_int(node_client_out(c), 1);
}

/* TIME: the cluster's clock as this node reads it (the clock expiries are
 * judged on), as [seconds, microseconds]; millisecond resolution. */
void node_cmd_time(struct node_client *c, const struct resp_cmd *cmd)
{
    (void)cmd;
    uint64_t now = node_cluster_ms(node_client_node(c));
    char buf[24];
    struct resp_buf *o = node_client_out(c);
    resp_write_array(o, 2);
    int l = snprintf(buf, sizeof buf, "%llu", (unsigned long long)(now / 1000));
    resp_write_bulk(o, buf, (size_t)l);
    l = snprintf(buf, sizeof buf, "%llu", (unsigned long long)(now % 1000 * 1000));
    resp_write_bulk(o, buf, (size_t)l);
}

/* ---------------------------------------------------------------- DBSIZE */

static int count_live_cb(void *arg, const struct entry *e)
{
    struct node_expiry *x = arg;
    if (entry_is_tombstone(e))
        return 0;
    if (!entry_is_expired(e, x->count_now_ms)) {
        x->count++;
        if (e->expire_ms && e->expire_ms < x->count_valid_until_ms)
            x->count_valid_until_ms = e->expire_ms;
    }
    return 0;
}

/* Writes, deletes and merges so far: the count below is stale once this
 * moves. */
static uint64_t store_changes(const struct store_stats *st)
{
    return st->puts + st->dels + st->merges_taken + st->full_refused;
}

/* DBSIZE: values whose expiry has not passed. Without expiring values that
 * is the store's count. With some, a walk of the table counts them; the
 * answer is kept until the store changes or the first expiry it counted
 * passes, so DBSIZE in a loop walks once. */
void node_cmd_dbsize(struct node_client *c, const struct resp_cmd *cmd)
{
    (void)cmd;
    struct node *n = node_client_node(c);
    struct node_expiry *x = &n->expiry;
    struct store_stats st;
    store_stats(n->store, &st);
    if (st.expiring == 0) {
        resp_write_int(node_client_out(c), (long long)st.entries);
        return;
    }
    uint64_t now = node_cluster_ms(n);
    if (!x->count_cached || x->count_changes != store_changes(&st) ||
        now > x->count_valid_until_ms) {
        x->count = 0;
        x->count_now_ms = now;
        x->count_valid_until_ms = UINT64_MAX;
        uint64_t cursor = 0;
        int rc = 0;
        do {
            rc = store_scan(n->store, &cursor, 4096, count_live_cb, x);
        } while (rc == 0 && cursor != 0);
        if (rc != 0) {
            resp_write_errorf(node_client_out(c), "ERR dbsize failed: %s", gkv_strerror(rc));
            x->count_cached = false;
            return;
        }
        x->count_changes = store_changes(&st);
        x->count_cached = true;
        x->count_walks++;
    }
    resp_write_int(node_client_out(c), (long long)x->count);
}
