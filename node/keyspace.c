/*
 * keyspace.c: RENAME/RENAMENX, COPY, RANDOMKEY and FLUSHDB/FLUSHALL.
 *
 * As the string commands (strings.c), each is decided by the receiving
 * node on what it holds and written through node_key_put/node_key_del, so
 * its writes spread as ordinary SETs and DELs: RENAME is a SET of the new
 * name and a DEL of the old, not an atomic step across the cluster.
 *
 * FLUSHALL (and FLUSHDB: there is one database) writes a tombstone for
 * every live key this node holds that is stamped at or before the flush
 * (the store's last HLC when the command runs). A later write, local or
 * arriving by gossip with a newer stamp, survives. The work is bounded:
 * the command itself walks at most NODE_FLUSH_CALL_SLOTS slots; if the
 * table is larger, the rest is done NODE_FLUSH_TICK_SLOTS slots per 10 ms
 * tick, so a huge keyspace never holds the loop for long; meanwhile the
 * keys not reached yet are still readable and DBSIZE falls as the walk
 * goes. INFO storage shows flush_in_progress and the counts
 * (docs/COMMANDS.md, docs/OPERATIONS.md).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"
#include "node/log.h"
#include "node/node.h"

/* Slots per store_scan call of a flush (its budgets: node.h). */
#define FLUSH_CHUNK_SLOTS 512u
#define RANDOMKEY_CHUNK_SLOTS 256u

static bool same_arg(const struct resp_cmd *cmd, size_t i, size_t j)
{
    return cmd->argv_len[i] == cmd->argv_len[j] &&
           !memcmp(cmd->argv[i], cmd->argv[j], cmd->argv_len[i]);
}


/* RENAME and RENAMENX (the table sends both here). */
void node_cmd_rename(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    bool nx = cmd->argv_len[0] == 8; /* "renamenx" */
    struct entry e;
    if (!node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e)) {
        resp_write_error(node_client_out(c), "ERR no such key");
        return;
    }
    if (same_arg(cmd, 1, 2)) {
        if (nx)
            resp_write_int(node_client_out(c), 0);
        else
            resp_write_simple(node_client_out(c), "OK");
        return;
    }
    struct entry d;
    if (nx && node_key_lookup(n, cmd->argv[2], cmd->argv_len[2], &d)) {
        resp_write_int(node_client_out(c), 0);
        return;
    }
    if (nx) /* the lookup of the target may have moved the borrowed value */
        node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e);
    /* RENAME and COPY keep the source's expiry, as in Redis. */
    int rc = node_key_put_copy(n, cmd->argv[2], cmd->argv_len[2], &e, e.expire_ms);
    if (rc == 0)
        rc = node_key_del(n, cmd->argv[1], cmd->argv_len[1], NULL);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else if (nx)
        resp_write_int(node_client_out(c), 1);
    else
        resp_write_simple(node_client_out(c), "OK");
}

/* COPY source destination [DB destination-db] [REPLACE] */
void node_cmd_copy(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    bool replace = false;
    for (size_t j = 3; j < cmd->argc; j++) {
        if (node_arg_is(cmd, j, "REPLACE")) {
            replace = true;
        } else if (node_arg_is(cmd, j, "DB") && j + 1 < cmd->argc) {
            long long db;
            if (!resp_str2ll(cmd->argv[j + 1], cmd->argv_len[j + 1], &db) || db < INT32_MIN ||
                db > INT32_MAX) {
                resp_write_error(node_client_out(c), "ERR value is not an integer or out of range");
                return;
            }
            if (db != 0) {
                resp_write_error(node_client_out(c), "ERR DB index is out of range");
                return;
            }
            j++;
        } else {
            resp_write_error(node_client_out(c), "ERR syntax error");
            return;
        }
    }
    if (same_arg(cmd, 1, 2)) {
        resp_write_error(node_client_out(c), "ERR source and destination objects are the same");
        return;
    }
    struct entry e, d;
    if (!node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e)) {
        resp_write_int(node_client_out(c), 0);
        return;
    }
    if (!replace && node_key_lookup(n, cmd->argv[2], cmd->argv_len[2], &d)) {
        resp_write_int(node_client_out(c), 0);
        return;
    }
    node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e);
    /* RENAME and COPY keep the source's expiry, as in Redis. */
    int rc = node_key_put_copy(n, cmd->argv[2], cmd->argv_len[2], &e, e.expire_ms);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else
        resp_write_int(node_client_out(c), 1);
}

struct randomkey_ctx {
    struct resp_buf *out;
    uint64_t now_ms;
};

static int randomkey_cb(void *arg, const struct entry *e)
{
    struct randomkey_ctx *rk = arg;
    if (!entry_is_live(e, rk->now_ms))
        return 0;
    resp_write_bulk(rk->out, e->key, e->key_len);
    return 1; /* found: stop */
}

/* RANDOMKEY: the first live key at or after a random point of hash space
 * (keys' hashes are uniform, so every key is about equally likely). */
void node_cmd_randomkey(struct node_client *c, const struct resp_cmd *cmd)
{
    (void)cmd;
    struct node *n = node_client_node(c);
    struct store_stats st;
    store_stats(n->store, &st);
    if (st.entries == 0) {
        resp_write_null(node_client_out(c));
        return;
    }
    uint64_t cursor;
    node_random(&cursor, sizeof(cursor));
    size_t before = node_client_out(c)->len;
    struct randomkey_ctx rk = {.out = node_client_out(c), .now_ms = node_cluster_ms(n)};
    for (uint32_t walked = 0; walked < NODE_RANDOMKEY_MAX_SLOTS; walked += RANDOMKEY_CHUNK_SLOTS) {
        if (store_scan(n->store, &cursor, RANDOMKEY_CHUNK_SLOTS, randomkey_cb, &rk) != 0)
            break;
        if (node_client_out(c)->len != before || node_client_out(c)->failed)
            return;
        /* cursor 0 after the top of hash space: the walk wraps around */
    }
    resp_write_null(node_client_out(c));
}

/* ------------------------------------------------------------ FLUSHALL */

struct flush_ctx {
    struct resp_buf *keys; /* u16 length + key, one after another */
    uint64_t below_hlc;
};

static int flush_collect_cb(void *arg, const struct entry *e)
{
    struct flush_ctx *fc = arg;
    if (entry_is_tombstone(e) || e->hlc > fc->below_hlc)
        return 0;
    uint16_t l = (uint16_t)e->key_len;
    resp_buf_append(fc->keys, &l, sizeof(l));
    resp_buf_append(fc->keys, e->key, e->key_len);
    return 0;
}

/* Delete the keys collected from one chunk; 0 or the first store error. */
static int flush_delete(struct node *n, const struct resp_buf *keys)
{
    for (size_t at = 0; at + sizeof(uint16_t) <= keys->len;) {
        uint16_t l;
        memcpy(&l, keys->data + at, sizeof(l));
        at += sizeof(l);
        bool existed = false;
        int rc = node_key_del(n, keys->data + at, l, &existed);
        if (rc != 0)
            return rc;
        n->flush.keys_deleted += existed;
        at += l;
    }
    return 0;
}

/* Walk up to max_slots slots of the flush in progress. Returns 0 (done or
 * not) or the store error that stopped it (the flush is then over). */
static int flush_step(struct node *n, uint32_t max_slots)
{
    struct node_flush *f = &n->flush;
    struct resp_buf keys;
    resp_buf_init(&keys);
    int rc = 0;
    for (uint32_t walked = 0; f->active && walked < max_slots; walked += FLUSH_CHUNK_SLOTS) {
        struct flush_ctx fc = {.keys = &keys, .below_hlc = f->below_hlc};
        uint64_t cursor = f->cursor;
        keys.len = 0;
        rc = store_scan(n->store, &cursor, FLUSH_CHUNK_SLOTS, flush_collect_cb, &fc);
        if (rc == 0 && keys.failed)
            rc = GKV_ENOMEM;
        if (rc == 0)
            rc = flush_delete(n, &keys);
        if (rc != 0) {
            f->active = false;
            f->failed++;
            node_log(NODE_LOG_WARN, "flush stopped", "error=\"%s\" keys_deleted=%llu",
                     gkv_strerror(rc), (unsigned long long)f->keys_deleted);
            break;
        }
        f->cursor = cursor;
        if (cursor == 0) {
            f->active = false;
            f->completed++;
        }
    }
    resp_buf_free(&keys);
    return rc;
}

void node_flush_tick(struct node *n)
{
    if (n->flush.active)
        flush_step(n, NODE_FLUSH_TICK_SLOTS);
}

/* FLUSHDB / FLUSHALL [ASYNC|SYNC]: both modes do the same (see the top). */
void node_cmd_flush(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    if (cmd->argc > 2 ||
        (cmd->argc == 2 && !node_arg_is(cmd, 1, "SYNC") && !node_arg_is(cmd, 1, "ASYNC"))) {
        resp_write_error(node_client_out(c), "ERR syntax error");
        return;
    }
    struct store_stats st;
    store_stats(n->store, &st);
    /* A flush in progress is replaced: the new one covers all it would. */
    n->flush.active = true;
    n->flush.cursor = 0;
    n->flush.below_hlc = st.hlc_last;
    n->flush.started++;
    int rc = flush_step(n, NODE_FLUSH_CALL_SLOTS);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else
        resp_write_simple(node_client_out(c), "OK");
}

/* FUNCTION FLUSH [ASYNC|SYNC]: gossipkv has no functions (no scripting),
 * so there is nothing to flush; OK, as Redis answers on an empty library.
 * Test suites and tools call it next to FLUSHALL. Every other subcommand
 * says functions are not supported. */
void node_cmd_function(struct node_client *c, const struct resp_cmd *cmd)
{
    if (node_arg_is(cmd, 1, "FLUSH")) {
        if (cmd->argc > 3 ||
            (cmd->argc == 3 && !node_arg_is(cmd, 2, "SYNC") && !node_arg_is(cmd, 2, "ASYNC")))
            resp_write_error(node_client_out(c), "ERR syntax error");
        else
            resp_write_simple(node_client_out(c), "OK");
        return;
    }
    resp_write_errorf(
        node_client_out(c), "ERR FUNCTION %.*s is not supported: gossipkv has no functions",
        (int)(cmd->argv_len[1] > 64 ? 64 : cmd->argv_len[1]), (const char *)cmd->argv[1]);
}
