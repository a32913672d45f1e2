/*
 * counters.c: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT, and how a
 * counter reads (GET, MGET and every command that reads a value).
 *
 * The integer commands are store_incrby: the key's state becomes a counter
 * (storage/counter.h) holding this node's running totals, so increments
 * made at several nodes at once, or on both sides of a partition, all count
 * once the versions merge (docs/ARCHITECTURE.md, "Counters"). INCRBYFLOAT
 * is a read-modify-write of a float string, as Redis stores it: a SET of
 * the new number (docs/COMMANDS.md says what that means in a cluster).
 *
 * Argument checks, their order and the error words follow redis-server 7.0
 * (t_string.c incrDecrCommand, incrbyfloatCommand).
 */
#include <math.h>

#include "common/errors.h"
#include "node/node.h"
#include "storage/counter.h"

#define ERR_NOT_INT "ERR value is not an integer or out of range"
#define ERR_NOT_FLOAT "ERR value is not a valid float"

bool node_counter_present(struct node *n, struct entry *e)
{
    struct counter_view v;
    if (counter_decode(e->value, e->value_len, &v) != 0)
        return false;
    struct counter_read r;
    counter_read(&v, &r);
    /* Two buffers in turn: a command may hold one key's value while it
     * looks up a second (LCS, RENAME copy first, but cheap to allow). */
    struct node_server *s = &n->server;
    char *buf = s->counter_fmt[s->counter_fmt_next++ & 1];
    const uint8_t *p;
    size_t len = counter_format(&r, buf, COUNTER_FMT_MAX, &p);
    if (!p)
        return false;
    e->value = p;
    e->value_len = (uint32_t)len;
    return true;
}

static void incrby(struct node_client *c, const struct resp_cmd *cmd, long long delta)
{
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    uint64_t now = node_wall_ms();
    struct entry e;
    long long result;
    int rc = store_incrby(n->store, cmd->argv[1], cmd->argv_len[1], delta, now, &result, &e);
    if (rc == GKV_ENOTINT) {
        resp_write_error(o, ERR_NOT_INT);
        return;
    }
    if (rc == GKV_ERANGE) {
        resp_write_error(o, "ERR increment or decrement would overflow");
        return;
    }
    if (rc != 0) {
        node_reply_store_error(c, rc);
        return;
    }
    node_key_spread(n, &e, now);
    resp_write_int(o, result);
}

void node_cmd_incr(struct node_client *c, const struct resp_cmd *cmd)
{
    incrby(c, cmd, 1);
}

void node_cmd_decr(struct node_client *c, const struct resp_cmd *cmd)
{
    incrby(c, cmd, -1);
}

void node_cmd_incrby(struct node_client *c, const struct resp_cmd *cmd)
{
    long long v;
    if (!resp_str2ll(cmd->argv[2], cmd->argv_len[2], &v)) {
        resp_write_error(node_client_out(c), ERR_NOT_INT);
        return;
    }
    incrby(c, cmd, v);
}

void node_cmd_decrby(struct node_client *c, const struct resp_cmd *cmd)
{
    long long v;
    if (!resp_str2ll(cmd->argv[2], cmd->argv_len[2], &v)) {
        resp_write_error(node_client_out(c), ERR_NOT_INT);
        return;
    }
    if (v == LLONG_MIN) {
        resp_write_error(node_client_out(c), "ERR decrement would overflow");
        return;
    }
    incrby(c, cmd, -v);
}

void node_cmd_incrbyfloat(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    long double value = 0, incr;
    struct entry e;
    bool exists = node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e);
    if (exists && !counter_parse_ld(e.value, e.value_len, &value)) {
        resp_write_error(o, ERR_NOT_FLOAT);
        return;
    }
    if (!counter_parse_ld(cmd->argv[2], cmd->argv_len[2], &incr)) {
        resp_write_error(o, ERR_NOT_FLOAT);
        return;
    }
    value += incr;
    if (isnan(value) || isinf(value)) {
        resp_write_error(o, "ERR increment would produce NaN or Infinity");
        return;
    }
    char buf[COUNTER_FMT_MAX];
    struct counter_read r = {.kind = COUNTER_READ_FLOAT, .f = value};
    const uint8_t *p;
    size_t len = counter_format(&r, buf, sizeof buf, &p);
    if (!p) {
        resp_write_error(o, "ERR increment would produce NaN or Infinity");
        return;
    }
    /* Redis overwrites the value in place: the key keeps its TTL. */
    int rc = node_key_put_expire(n, cmd->argv[1], cmd->argv_len[1], p, len,
                                 exists ? e.expire_ms : 0);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else
        resp_write_bulk(o, p, len);
}
