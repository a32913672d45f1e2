/*
 * strings.c: the Redis string commands that today's entries (a value or a
 * tombstone, last writer wins) can carry: SETNX, GETSET, GETDEL, MSETNX,
 * STRLEN, APPEND, GETRANGE/SUBSTR, SETRANGE, LCS, SETBIT, GETBIT, BITCOUNT,
 * BITPOS.
 *
 * Each command is decided here, by the node that receives it, on what this
 * node holds; a changed key is written back through the path SET uses
 * (node_key_put: store, then gossip), so it spreads as an ordinary write
 * and the clock-skew refusal (checked before any write command runs) and
 * the size limits apply. A read-modify-write (APPEND, SETRANGE, SETBIT)
 * made on two nodes at once keeps one node's result: docs/COMMANDS.md.
 *
 * Argument checks, their order and the error words follow redis-server 7.0
 * (t_string.c, bitops.c), so client libraries see the same replies. Where
 * Redis checks proto-max-bulk-len (512 MB) before growing a string, these
 * check the node's max-value-bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/errors.h"
#include "node/node.h"

#define ERR_NOT_INT "ERR value is not an integer or out of range"
#define ERR_BIT_OFFSET "ERR bit offset is not an integer or out of range"
#define ERR_TOO_BIG "ERR string exceeds maximum allowed size (max-value-bytes)"
/* Redis's proto-max-bulk-len default: GETBIT accepts offsets below it, as
 * Redis does (reading past a value's end answers 0). */
#define REDIS_BULK_MAX_BYTES (512ull * 1024 * 1024)

static bool arg_ll(const struct resp_cmd *cmd, size_t i, long long *out)
{
    return resp_str2ll(cmd->argv[i], cmd->argv_len[i], out);
}

/* The scratch buffer holding a new value of len bytes: the old_len bytes
 * of old (old_len <= len), then zeros. NULL (and the error written) if it
 * cannot be allocated. */
static uint8_t *value_scratch(struct node_client *c, size_t len, const uint8_t *old, size_t old_len)
{
    struct resp_buf *b = &node_client_node(c)->server.scratch;
    b->len = 0;
    b->failed = false;
    uint8_t *p = resp_buf_reserve(b, len ? len : 1);
    if (!p) {
        resp_write_error(node_client_out(c), "ERR out of memory");
        return NULL;
    }
    if (old_len)
        memcpy(p, old, old_len);
    memset(p + old_len, 0, len - old_len);
    b->len = len;
    return p;
}

/* Store the scratch value under the key, with the expiry it had (APPEND,
 * SETRANGE and SETBIT change a value in place in Redis: its TTL stays);
 * the store's error replied on failure. */
static int put_scratch(struct node_client *c, const struct resp_cmd *cmd, uint64_t expire_ms)
{
    struct node *n = node_client_node(c);
    struct resp_buf *b = &n->server.scratch;
    int rc = node_key_put_expire(n, cmd->argv[1], cmd->argv_len[1], b->data, b->len, expire_ms);
    if (rc != 0)
        node_reply_store_error(c, rc);
    return rc;
}

void node_cmd_setnx(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct entry e;
    if (node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e)) {
        resp_write_int(node_client_out(c), 0);
        return;
    }
    int rc = node_key_put(n, cmd->argv[1], cmd->argv_len[1], cmd->argv[2], cmd->argv_len[2]);
    if (rc != 0)
        node_reply_store_error(c, rc);
    else
        resp_write_int(node_client_out(c), 1);
}

/* GETSET and GETDEL: the old value is copied to scratch before the write
 * (the write invalidates the borrowed one), and answered only once the
 * write is stored. */
static void get_then_write(struct node_client *c, const struct resp_cmd *cmd, bool del)
{
    struct node *n = node_client_node(c);
    struct resp_buf *b = &n->server.scratch;
    struct entry e;
    bool exists = node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e);
    b->len = 0;
    b->failed = false;
    if (exists)
        resp_buf_append(b, e.value, e.value_len);
    if (b->failed) {
        resp_write_error(node_client_out(c), "ERR out of memory");
        return;
    }
    int rc = 0;
    if (del) {
        if (exists)
            rc = node_key_del(n, cmd->argv[1], cmd->argv_len[1], NULL);
    } else {
        rc = node_key_put(n, cmd->argv[1], cmd->argv_len[1], cmd->argv[2], cmd->argv_len[2]);
    }
    if (rc != 0)
        node_reply_store_error(c, rc);
    else if (exists)
        resp_write_bulk(node_client_out(c), b->data, b->len);
    else
        resp_write_null(node_client_out(c));
    b->len = 0;
}

void node_cmd_getset(struct node_client *c, const struct resp_cmd *cmd)
{
    get_then_write(c, cmd, false);
}

void node_cmd_getdel(struct node_client *c, const struct resp_cmd *cmd)
{
    get_then_write(c, cmd, true);
}

void node_cmd_msetnx(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    if (cmd->argc % 2 == 0) {
        resp_write_error(node_client_out(c), "ERR wrong number of arguments for 'msetnx' command");
        return;
    }
    for (size_t i = 1; i < cmd->argc; i += 2) {
        struct entry e;
        if (node_key_lookup(n, cmd->argv[i], cmd->argv_len[i], &e)) {
            resp_write_int(node_client_out(c), 0);
            return;
        }
    }
    if (!node_pairs_fit(c, cmd))
        return;
    for (size_t i = 1; i < cmd->argc; i += 2) {
        int rc =
            node_key_put(n, cmd->argv[i], cmd->argv_len[i], cmd->argv[i + 1], cmd->argv_len[i + 1]);
        if (rc != 0) {
            node_reply_store_error(c, rc);
            return;
        }
    }
    resp_write_int(node_client_out(c), 1);
}

void node_cmd_strlen(struct node_client *c, const struct resp_cmd *cmd)
{
    struct entry e;
    bool exists = node_key_lookup(node_client_node(c), cmd->argv[1], cmd->argv_len[1], &e);
    resp_write_int(node_client_out(c), exists ? (long long)e.value_len : 0);
}

void node_cmd_append(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct entry e;
    bool exists = node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e);
    size_t old_len = exists ? e.value_len : 0;
    if (exists && old_len + cmd->argv_len[2] > n->cfg.max_value_bytes) {
        resp_write_error(node_client_out(c), ERR_TOO_BIG);
        return;
    }
    uint8_t *p = value_scratch(c, old_len + cmd->argv_len[2], exists ? e.value : NULL, old_len);
    if (!p)
        return;
    memcpy(p + old_len, cmd->argv[2], cmd->argv_len[2]);
    if (put_scratch(c, cmd, exists ? e.expire_ms : 0) == 0)
        resp_write_int(node_client_out(c), (long long)(old_len + cmd->argv_len[2]));
    n->server.scratch.len = 0;
}

/* Redis's range rule (GETRANGE, BITCOUNT, BITPOS): negative indexes count
 * from the end of tot units, then both are clamped into [0, tot - 1];
 * false when nothing is left. */
static bool clamp_range(long long *start, long long *end, long long tot)
{
    if (*start < 0)
        *start = tot + *start;
    if (*end < 0)
        *end = tot + *end;
    if (*start < 0)
        *start = 0;
    if (*end < 0)
        *end = 0;
    if (*end >= tot)
        *end = tot - 1;
    return *start <= *end;
}

void node_cmd_getrange(struct node_client *c, const struct resp_cmd *cmd)
{
    long long start, end;
    if (!arg_ll(cmd, 2, &start) || !arg_ll(cmd, 3, &end)) {
        resp_write_error(node_client_out(c), ERR_NOT_INT);
        return;
    }
    struct entry e;
    if (!node_key_lookup(node_client_node(c), cmd->argv[1], cmd->argv_len[1], &e)) {
        resp_write_bulk(node_client_out(c), "", 0);
        return;
    }
    if ((start < 0 && end < 0 && start > end) || !clamp_range(&start, &end, (long long)e.value_len))
        resp_write_bulk(node_client_out(c), "", 0);
    else
        resp_write_bulk(node_client_out(c), e.value + start, (size_t)(end - start + 1));
}

void node_cmd_setrange(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    long long offset;
    if (!arg_ll(cmd, 2, &offset)) {
        resp_write_error(node_client_out(c), ERR_NOT_INT);
        return;
    }
    if (offset < 0) {
        resp_write_error(node_client_out(c), "ERR offset is out of range");
        return;
    }
    size_t vlen = cmd->argv_len[3];
    struct entry e;
    bool exists = node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e);
    if (vlen == 0) { /* nothing to set: the current length, no write */
        resp_write_int(node_client_out(c), exists ? (long long)e.value_len : 0);
        return;
    }
    if ((unsigned long long)offset + vlen > n->cfg.max_value_bytes) {
        resp_write_error(node_client_out(c), ERR_TOO_BIG);
        return;
    }
    size_t old_len = exists ? e.value_len : 0;
    size_t new_len = (size_t)offset + vlen > old_len ? (size_t)offset + vlen : old_len;
    uint8_t *p = value_scratch(c, new_len, exists ? e.value : NULL, old_len);
    if (!p)
        return;
    memcpy(p + offset, cmd->argv[3], vlen);
    if (put_scratch(c, cmd, exists ? e.expire_ms : 0) == 0)
        resp_write_int(node_client_out(c), (long long)new_len);
    n->server.scratch.len = 0;
}

/* ------------------------------------------------------------ LCS */

struct lcs_opts {
    bool len, idx, withmatchlen;
    long long minmatchlen;
};

static int lcs_parse(struct node_client *c, const struct resp_cmd *cmd, struct lcs_opts *o)
{
    for (size_t j = 3; j < cmd->argc; j++) {
        bool more = j + 1 < cmd->argc;
        if (node_arg_is(cmd, j, "IDX")) {
            o->idx = true;
        } else if (node_arg_is(cmd, j, "LEN")) {
            o->len = true;
        } else if (node_arg_is(cmd, j, "WITHMATCHLEN")) {
            o->withmatchlen = true;
        } else if (node_arg_is(cmd, j, "MINMATCHLEN") && more) {
            if (!arg_ll(cmd, j + 1, &o->minmatchlen)) {
                resp_write_error(node_client_out(c), ERR_NOT_INT);
                return -1;
            }
            if (o->minmatchlen < 0)
                o->minmatchlen = 0;
            j++;
        } else {
            resp_write_error(node_client_out(c), "ERR syntax error");
            return -1;
        }
    }
    if (o->len && o->idx) {
        resp_write_error(node_client_out(c),
                         "ERR If you want both the length and indexes, please just use IDX.");
        return -1;
    }
    return 0;
}

/* Walk the table back from (alen, blen) as Redis does, filling the LCS
 * string into res (if not NULL) and emitting match ranges (if idx); returns
 * the number of ranges emitted. */
static long long lcs_walk(struct resp_buf *o, const uint32_t *t, const uint8_t *a, uint32_t alen,
                          const uint8_t *b, uint32_t blen, uint8_t *res, const struct lcs_opts *op)
{
#define T(i, j) t[(size_t)(j) + (size_t)(i) * ((size_t)blen + 1)]
    uint32_t idx = T(alen, blen);
    uint32_t as = alen, ae = 0, bs = 0, be = 0; /* as == alen: no range open */
    long long ranges = 0;
    uint32_t i = alen, j = blen;
    while (i > 0 && j > 0) {
        bool emit = false;
        if (a[i - 1] == b[j - 1]) {
            if (res)
                res[idx - 1] = a[i - 1];
            if (as == alen) {
                as = ae = i - 1;
                bs = be = j - 1;
            } else if (as == i && bs == j) {
                as--;
                bs--;
            } else {
                emit = true;
            }
            if (as == 0 || bs == 0)
                emit = true;
            idx--;
            i--;
            j--;
        } else {
            if (T(i - 1, j) > T(i, j - 1))
                i--;
            else
                j--;
            if (as != alen)
                emit = true;
        }
        uint32_t mlen = ae - as + 1;
        if (emit) {
            if (op->idx && (op->minmatchlen == 0 || mlen >= op->minmatchlen)) {
                resp_write_array(o, 2 + op->withmatchlen);
                resp_write_array(o, 2);
                resp_write_int(o, as);
                resp_write_int(o, ae);
                resp_write_array(o, 2);
                resp_write_int(o, bs);
                resp_write_int(o, be);
                if (op->withmatchlen)
                    resp_write_int(o, mlen);
                ranges++;
            }
            as = alen;
        }
    }
    return ranges;
#undef T
}

void node_cmd_lcs(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    struct lcs_opts op = {0};
    if (lcs_parse(c, cmd, &op) != 0)
        return;
    /* Copies: both values are borrowed from the store, and a lookup of
     * the second may be answered from a cache slot the first used. */
    struct entry e;
    uint8_t *a = NULL, *b = NULL, *res = NULL;
    uint32_t *t = NULL;
    uint32_t alen = 0, blen = 0;
    if (node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e) && e.value_len) {
        a = malloc(e.value_len);
        if (a)
            memcpy(a, e.value, e.value_len);
        alen = e.value_len;
    }
    if (node_key_lookup(n, cmd->argv[2], cmd->argv_len[2], &e) && e.value_len) {
        b = malloc(e.value_len);
        if (b)
            memcpy(b, e.value, e.value_len);
        blen = e.value_len;
    }
    unsigned long long cells = ((unsigned long long)alen + 1) * ((unsigned long long)blen + 1);
    if (cells * sizeof(uint32_t) > NODE_LCS_TABLE_MAX_BYTES) {
        resp_write_errorf(o,
                          "ERR Insufficient memory, transient memory for LCS exceeds "
                          "gossipkv's LCS limit (%llu MB)",
                          NODE_LCS_TABLE_MAX_BYTES >> 20);
        goto out;
    }
    t = malloc(cells * sizeof(uint32_t));
    res = malloc(alen + 1);
    if ((alen && !a) || (blen && !b) || !t || !res) {
        resp_write_error(o, "ERR Insufficient memory, failed allocating transient memory for LCS");
        goto out;
    }
    size_t w = (size_t)blen + 1;
    for (uint32_t i = 0; i <= alen; i++) {
        for (uint32_t j = 0; j <= blen; j++) {
            if (i == 0 || j == 0)
                t[i * w + j] = 0;
            else if (a[i - 1] == b[j - 1])
                t[i * w + j] = t[(i - 1) * w + j - 1] + 1;
            else {
                uint32_t l1 = t[(i - 1) * w + j], l2 = t[i * w + j - 1];
                t[i * w + j] = l1 > l2 ? l1 : l2;
            }
        }
    }
    uint32_t total = t[(size_t)alen * w + blen];
    if (op.idx) {
        resp_write_array(o, 4); /* RESP2 map: matches, [...], len, n */
        resp_write_bulk_str(o, "matches");
        size_t at = resp_buf_gap_open(o, 24);
        long long ranges = lcs_walk(o, t, a, alen, b, blen, NULL, &op);
        char hdr[24];
        int hl = snprintf(hdr, sizeof(hdr), "*%lld\r\n", ranges);
        resp_buf_gap_close(o, at, 24, hdr, (size_t)hl);
        resp_write_bulk_str(o, "len");
        resp_write_int(o, total);
    } else if (op.len) {
        resp_write_int(o, total);
    } else {
        lcs_walk(o, t, a, alen, b, blen, res, &op);
        resp_write_bulk(o, res, total);
    }
out:
    free(a);
    free(b);
    free(t);
    free(res);
}

/* ------------------------------------------------------------ bits */

/* Redis getBitOffsetFromArgument: a non-negative integer whose byte is
 * below limit_bytes. */
static bool bit_offset(const struct resp_cmd *cmd, size_t i, unsigned long long limit_bytes,
                       unsigned long long *out)
{
    long long v;
    if (!arg_ll(cmd, i, &v) || v < 0 || ((unsigned long long)v >> 3) >= limit_bytes)
        return false;
    *out = (unsigned long long)v;
    return true;
}

void node_cmd_setbit(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    unsigned long long off;
    if (!bit_offset(cmd, 2, n->cfg.max_value_bytes, &off)) {
        resp_write_error(node_client_out(c), ERR_BIT_OFFSET);
        return;
    }
    long long on;
    if (!arg_ll(cmd, 3, &on) || (on & ~1LL)) {
        resp_write_error(node_client_out(c), "ERR bit is not an integer or out of range");
        return;
    }
    size_t byte = (size_t)(off >> 3);
    unsigned bit = 7 - (unsigned)(off & 7);
    struct entry e;
    bool exists = node_key_lookup(n, cmd->argv[1], cmd->argv_len[1], &e);
    size_t old_len = exists ? e.value_len : 0;
    int old = byte < old_len ? (e.value[byte] >> bit) & 1 : 0;
    /* Redis writes when the key is created, grows, or the bit changes. */
    if (exists && byte < old_len && old == on) {
        resp_write_int(node_client_out(c), old);
        return;
    }
    size_t new_len = byte + 1 > old_len ? byte + 1 : old_len;
    uint8_t *p = value_scratch(c, new_len, exists ? e.value : NULL, old_len);
    if (!p)
        return;
    p[byte] = (uint8_t)((p[byte] & ~(1u << bit)) | ((unsigned)on << bit));
    if (put_scratch(c, cmd, exists ? e.expire_ms : 0) == 0)
        resp_write_int(node_client_out(c), old);
    n->server.scratch.len = 0;
}

void node_cmd_getbit(struct node_client *c, const struct resp_cmd *cmd)
{
    unsigned long long off;
    if (!bit_offset(cmd, 2, REDIS_BULK_MAX_BYTES, &off)) {
        resp_write_error(node_client_out(c), ERR_BIT_OFFSET);
        return;
    }
    struct entry e;
    int v = 0;
    if (node_key_lookup(node_client_node(c), cmd->argv[1], cmd->argv_len[1], &e) &&
        (off >> 3) < e.value_len)
        v = (e.value[off >> 3] >> (7 - (off & 7))) & 1;
    resp_write_int(node_client_out(c), v);
}

static int bit_at(const uint8_t *p, long long i)
{
    return (p[i >> 3] >> (7 - (i & 7))) & 1;
}

/* The range arguments of BITCOUNT/BITPOS turned into bits [*sb, *eb] of a
 * value of len bytes, as Redis clamps them; false when the range is empty. */
static bool bit_range(long long start, long long end, bool isbit, long long len, long long *sb,
                      long long *eb)
{
    if (!clamp_range(&start, &end, isbit ? len * 8 : len))
        return false;
    *sb = isbit ? start : start * 8;
    *eb = isbit ? end : end * 8 + 7;
    return true;
}

/* The optional BYTE|BIT word at argv[i]: 0 byte, 1 bit, -1 (and the
 * syntax error written) otherwise. */
static int bit_unit(struct node_client *c, const struct resp_cmd *cmd, size_t i)
{
    if (i >= cmd->argc || node_arg_is(cmd, i, "BYTE"))
        return 0;
    if (node_arg_is(cmd, i, "BIT"))
        return 1;
    resp_write_error(node_client_out(c), "ERR syntax error");
    return -1;
}

void node_cmd_bitcount(struct node_client *c, const struct resp_cmd *cmd)
{
    struct entry e;
    if (!node_key_lookup(node_client_node(c), cmd->argv[1], cmd->argv_len[1], &e)) {
        resp_write_int(node_client_out(c), 0); /* Redis answers before reading the range */
        return;
    }
    long long len = (long long)e.value_len, sb = 0, eb = len * 8 - 1;
    if (cmd->argc == 4 || cmd->argc == 5) {
        long long start, end;
        if (!arg_ll(cmd, 2, &start) || !arg_ll(cmd, 3, &end)) {
            resp_write_error(node_client_out(c), ERR_NOT_INT);
            return;
        }
        if (start < 0 && end < 0 && start > end) {
            resp_write_int(node_client_out(c), 0);
            return;
        }
        int isbit = bit_unit(c, cmd, 4);
        if (isbit < 0)
            return;
        if (!bit_range(start, end, isbit, len, &sb, &eb)) {
            resp_write_int(node_client_out(c), 0);
            return;
        }
    } else if (cmd->argc != 2) {
        resp_write_error(node_client_out(c), "ERR syntax error");
        return;
    }
    long long count = 0, i = sb;
    for (; i <= eb && (i & 7); i++)
        count += bit_at(e.value, i);
    for (; i + 7 <= eb; i += 8)
        count += __builtin_popcount(e.value[i >> 3]);
    for (; i <= eb; i++)
        count += bit_at(e.value, i);
    resp_write_int(node_client_out(c), count);
}

/* First bit equal to want in bits [sb, eb], or -1. */
static long long bit_find(const uint8_t *p, long long sb, long long eb, int want)
{
    uint8_t skip = want ? 0x00 : 0xff; /* a byte with no bit of interest */
    long long i = sb;
    for (; i <= eb && (i & 7); i++)
        if (bit_at(p, i) == want)
            return i;
    for (; i + 7 <= eb && p[i >> 3] == skip; i += 8)
        ;
    for (; i <= eb; i++)
        if (bit_at(p, i) == want)
            return i;
    return -1;
}

void node_cmd_bitpos(struct node_client *c, const struct resp_cmd *cmd)
{
    long long want;
    if (!arg_ll(cmd, 2, &want)) {
        resp_write_error(node_client_out(c), ERR_NOT_INT);
        return;
    }
    if (want != 0 && want != 1) {
        resp_write_error(node_client_out(c), "ERR The bit argument must be 1 or 0.");
        return;
    }
    struct entry e;
    if (!node_key_lookup(node_client_node(c), cmd->argv[1], cmd->argv_len[1], &e)) {
        /* An absent key is an endless run of zero bits. */
        resp_write_int(node_client_out(c), want ? -1 : 0);
        return;
    }
    long long len = (long long)e.value_len, sb = 0, eb = len * 8 - 1;
    bool end_given = false;
    if (cmd->argc >= 4 && cmd->argc <= 6) {
        long long start, end = 0;
        if (!arg_ll(cmd, 3, &start)) {
            resp_write_error(node_client_out(c), ERR_NOT_INT);
            return;
        }
        int isbit = cmd->argc == 6 ? bit_unit(c, cmd, 5) : 0;
        if (isbit < 0)
            return;
        if (cmd->argc >= 5) {
            if (!arg_ll(cmd, 4, &end)) {
                resp_write_error(node_client_out(c), ERR_NOT_INT);
                return;
            }
            end_given = true;
        } else {
            end = len - 1;
        }
        if (!bit_range(start, end, isbit, len, &sb, &eb)) {
            resp_write_int(node_client_out(c), -1);
            return;
        }
    } else if (cmd->argc != 3) {
        resp_write_error(node_client_out(c), "ERR syntax error");
        return;
    }
    if (len == 0) {
        resp_write_int(node_client_out(c), -1);
        return;
    }
    long long pos = bit_find(e.value, sb, eb, (int)want);
    /* Looking for a 0 with no end given: the bits past the value are
     * zeros, so the answer is the first bit after the range. */
    if (pos < 0 && want == 0 && !end_given)
        pos = eb + 1;
    resp_write_int(node_client_out(c), pos);
}
