/*
 * resp.c: RESP2 request parser and reply writer (see resp.h).
 *
 * Parser state machine, one request at a time:
 *
 *   mode 0 (between requests) --'*'--> mode 2 (multibulk)
 *          \--other byte------------> mode 1 (inline)
 *   mode 2: read "*<n>\r\n" once, then n times "$<len>\r\n" + len bytes + 2
 *
 * Every line search is bounded by max_inline_bytes + 1 bytes from the line
 * start, so a line that is too long is refused as soon as that many bytes
 * exist, whether they came in one read or one at a time. The query limit is
 * checked on each announced bulk (request bytes so far + bulk length), again
 * a function of the bytes alone.
 *
 * Arguments are recorded as (offset, length) from the request start and
 * turned into pointers only when the request is complete, so growing the
 * buffer (realloc) while a request is half read is safe.
 */
#include "node/resp.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/strnum.h"

enum { MODE_IDLE = 0, MODE_INLINE = 1, MODE_MULTIBULK = 2 };
/* Internal result of the per-mode parsers: no command, skip (empty). */
enum { PARSE_EMPTY = 2 };

void resp_limits_default(struct resp_limits *lim, size_t value_max)
{
    lim->max_bulk_bytes = value_max;
    lim->max_multibulk = RESP_MULTIBULK_MAX;
    lim->max_inline_bytes = RESP_INLINE_MAX_BYTES;
    /* Redis's client-query-buffer-limit is 1 GB; a gossipkv request carries
     * at most a few values, so 64 MiB (or four max values) is plenty. */
    lim->max_query_bytes = 64u * 1024u * 1024u;
    if (lim->max_query_bytes < 4 * value_max + RESP_INLINE_MAX_BYTES)
        lim->max_query_bytes = 4 * value_max + RESP_INLINE_MAX_BYTES;
    lim->unauthenticated = false;
}

void resp_limits_unauth(struct resp_limits *lim)
{
    lim->max_bulk_bytes = RESP_UNAUTH_BULK_MAX;
    lim->max_multibulk = RESP_UNAUTH_MULTIBULK_MAX;
    lim->max_inline_bytes = RESP_UNAUTH_QUERY_MAX;
    lim->max_query_bytes = RESP_UNAUTH_QUERY_MAX;
    lim->unauthenticated = true;
}

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
    memset(p, 0, sizeof(*p));
    p->lim = *lim;
    p->bulk_len = -1;
}

void resp_parser_free(struct resp_parser *p)
{
    free(p->buf);
    free(p->spans);
    free(p->argv);
    free(p->argv_len);
    memset(p, 0, sizeof(*p));
    p->bulk_len = -1;
}

void resp_parser_set_limits(struct resp_parser *p, const struct resp_limits *lim)
{
    p->lim = *lim;
}

const char *resp_parser_error(const struct resp_parser *p)
{
    return p->err;
}

enum resp_error_kind resp_parser_error_kind(const struct resp_parser *p)
{
    return p->err_kind;
}

size_t resp_parser_pending(const struct resp_parser *p)
{
    return p->len - p->pos;
}

static int fail(struct resp_parser *p, enum resp_error_kind kind, const char *msg)
{
    p->err_kind = kind;
    p->err = msg;
    return RESP_ERROR;
}

void resp_parser_shrink(struct resp_parser *p, size_t keep_bytes)
{
    if (p->pos != p->len || p->mode != MODE_IDLE)
        return;
    if (p->args_cap > RESP_ARGS_KEEP) {
        free(p->spans);
        free(p->argv);
        free(p->argv_len);
        p->spans = NULL;
        p->argv = NULL;
        p->argv_len = NULL;
        p->args_cap = p->argc = 0;
    }
    if (p->cap <= keep_bytes)
        return;
    free(p->buf);
    p->buf = NULL;
    p->cap = p->len = p->pos = p->scan = 0;
}

int resp_parser_reserve(struct resp_parser *p, size_t want, uint8_t **out, size_t *avail)
{
    if (p->err)
        return GKV_ELIMIT;
    if (p->pos > 0) {
        /* Earlier requests are consumed: slide the unfinished one down. */
        size_t keep = p->len - p->pos;
        if (keep)
            memmove(p->buf, p->buf + p->pos, keep);
        p->len = keep;
        p->scan -= p->pos;
        p->pos = 0;
    }
    size_t need = want;
    if (p->mode == MODE_MULTIBULK && p->bulk_len >= 0) {
        /* A bulk of known length: make room for all of it at once. */
        size_t end = p->scan + (size_t)p->bulk_len + 2;
        if (end > p->len && end - p->len > need)
            need = end - p->len;
    }
    if (p->cap - p->len < need) {
        size_t ncap = p->cap ? p->cap : 1024;
        while (ncap - p->len < need)
            ncap *= 2;
        uint8_t *nb = realloc(p->buf, ncap);
        if (!nb) {
            fail(p, RESP_ERR_NOMEM, "ERR out of memory reading the request");
            return GKV_ENOMEM;
        }
        p->buf = nb;
        p->cap = ncap;
    }
    *out = p->buf + p->len;
    *avail = p->cap - p->len;
    return 0;
}

void resp_parser_commit(struct resp_parser *p, size_t n)
{
    p->len += n;
}

int resp_parser_feed(struct resp_parser *p, const void *data, size_t n)
{
    while (n > 0) {
        uint8_t *dst;
        size_t avail;
        int rc = resp_parser_reserve(p, n, &dst, &avail);
        if (rc != 0)
            return rc;
        size_t k = n < avail ? n : avail;
        memcpy(dst, data, k);
        resp_parser_commit(p, k);
        data = (const uint8_t *)data + k;
        n -= k;
    }
    return 0;
}

bool resp_str2ll(const uint8_t *s, size_t len, long long *out)
{
    return gkv_str2ll(s, len, out);
}

/* Find c in buf[from, from + max_line + 1). Returns its index, or -1 with
 * *too_long set when that whole window exists without it. A search that
 * fails remembers how far it looked (line_seen, relative to from, so the
 * buffer may be compacted meanwhile): the next call, with more bytes, goes
 * on from there instead of rescanning the line, so a sender trickling a
 * long line a byte at a time costs linear, not quadratic, time. Every call
 * site passes the same from until its line is found. */
static long long find_bounded(struct resp_parser *p, size_t from, uint8_t c, size_t max_line,
                              bool *too_long)
{
    size_t avail = p->len - from;
    size_t window = max_line + 1 < avail ? max_line + 1 : avail;
    size_t seen = p->line_seen < window ? p->line_seen : window;
    const uint8_t *hit = memchr(p->buf + from + seen, c, window - seen);
    p->search_bytes += window - seen;
    *too_long = false;
    if (hit) {
        p->line_seen = 0;
        return hit - p->buf;
    }
    p->line_seen = window;
    if (avail > max_line)
        *too_long = true;
    return -1;
}

static int add_arg(struct resp_parser *p, size_t off, size_t len)
{
    /* Inline requests are held to the multibulk count too: one set of
     * limits for both forms (a 64 KiB line of one-letter words would
     * otherwise be 32,768 arguments, about 1 MB of argument arrays). */
    if (p->argc >= p->lim.max_multibulk)
        return fail(p, RESP_ERR_LIMIT,
                    p->lim.unauthenticated ? "ERR Protocol error: unauthenticated multibulk length"
                                           : "ERR Protocol error: invalid multibulk length");
    if (p->argc == p->args_cap) {
        size_t ncap = p->args_cap ? p->args_cap * 2 : 16;
        struct resp_arg_span *s = realloc(p->spans, ncap * sizeof(*s));
        if (!s)
            return fail(p, RESP_ERR_NOMEM, "ERR out of memory reading the request");
        p->spans = s;
        const uint8_t **a = realloc(p->argv, ncap * sizeof(*a));
        if (!a)
            return fail(p, RESP_ERR_NOMEM, "ERR out of memory reading the request");
        p->argv = a;
        size_t *l = realloc(p->argv_len, ncap * sizeof(*l));
        if (!l)
            return fail(p, RESP_ERR_NOMEM, "ERR out of memory reading the request");
        p->argv_len = l;
        p->args_cap = ncap;
    }
    p->spans[p->argc].off = off;
    p->spans[p->argc].len = len;
    p->argc++;
    return 0;
}

static int is_hex(uint8_t c)
{
    return isxdigit(c);
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return (tolower(c) - 'a') + 10;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Split an inline line in place, as redis-cli quotes (sdssplitargs rules):
 * "..." with \n \r \t \b \a \xHH escapes, '...' with \' only; a closing
 * quote must be followed by a space or the end. A NUL byte ends the line. */
static int split_inline(struct resp_parser *p, size_t start, size_t end)
{
    uint8_t *b = p->buf;
    const uint8_t *nul = memchr(b + start, 0, end - start);
    if (nul)
        end = (size_t)(nul - b);
    size_t i = start;
    for (;;) {
        while (i < end && is_space(b[i]))
            i++;
        if (i >= end)
            return 0;
        size_t out = i, tok = i;
        bool inq = false, insq = false, done = false;
        while (!done) {
            if (inq) {
                if (i >= end)
                    goto unbalanced;
                if (b[i] == '\\' && i + 3 < end && b[i + 1] == 'x' && is_hex(b[i + 2]) &&
                    is_hex(b[i + 3])) {
                    b[out++] = (uint8_t)(hex_val(b[i + 2]) * 16 + hex_val(b[i + 3]));
                    i += 4;
                } else if (b[i] == '\\' && i + 1 < end) {
                    uint8_t c = b[i + 1];
                    switch (c) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: break;
                    }
                    b[out++] = c;
                    i += 2;
                } else if (b[i] == '"') {
                    if (i + 1 < end && !is_space(b[i + 1]))
                        goto unbalanced;
                    done = true;
                    i++;
                } else {
                    b[out++] = b[i++];
                }
            } else if (insq) {
                if (i >= end)
                    goto unbalanced;
                if (b[i] == '\\' && i + 1 < end && b[i + 1] == '\'') {
                    b[out++] = '\'';
                    i += 2;
                } else if (b[i] == '\'') {
                    if (i + 1 < end && !is_space(b[i + 1]))
                        goto unbalanced;
                    done = true;
                    i++;
                } else {
                    b[out++] = b[i++];
                }
            } else {
                if (i >= end) {
                    done = true;
                } else if (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
                    done = true;
                    i++;
                } else if (b[i] == '"') {
                    inq = true;
                    i++;
                } else if (b[i] == '\'') {
                    insq = true;
                    i++;
                } else {
                    b[out++] = b[i++];
                }
            }
        }
        if (add_arg(p, tok - p->pos, out - tok) != 0)
            return RESP_ERROR;
    }
unbalanced:
    return fail(p, RESP_ERR_SYNTAX, "ERR Protocol error: unbalanced quotes in request");
}

static int parse_inline(struct resp_parser *p)
{
    bool too_long;
    long long nl = find_bounded(p, p->pos, '\n', p->lim.max_inline_bytes, &too_long);
    if (nl < 0)
        return too_long ? fail(p, RESP_ERR_LIMIT, "ERR Protocol error: too big inline request")
                        : RESP_NEED_MORE;
    size_t end = (size_t)nl;
    if (end > p->pos && p->buf[end - 1] == '\r')
        end--;
    p->argc = 0;
    if (split_inline(p, p->pos, end) != 0)
        return RESP_ERROR;
    p->scan = (size_t)nl + 1;
    return p->argc == 0 ? PARSE_EMPTY : RESP_COMMAND;
}

static int parse_multibulk(struct resp_parser *p)
{
    bool too_long;
    if (p->multibulk_left == 0) {
        /* "*<count>\r\n": Redis skips the byte after '\r' unchecked. */
        long long cr = find_bounded(p, p->pos, '\r', p->lim.max_inline_bytes, &too_long);
        if (cr < 0)
            return too_long ? fail(p, RESP_ERR_LIMIT, "ERR Protocol error: too big mbulk count string")
                            : RESP_NEED_MORE;
        if ((size_t)cr + 1 >= p->len)
            return RESP_NEED_MORE;
        long long n;
        if (!resp_str2ll(p->buf + p->pos + 1, (size_t)cr - (p->pos + 1), &n))
            return fail(p, RESP_ERR_SYNTAX, "ERR Protocol error: invalid multibulk length");
        if (n > (long long)p->lim.max_multibulk) {
            if (p->lim.unauthenticated)
                return fail(p, RESP_ERR_LIMIT,
                            "ERR Protocol error: unauthenticated multibulk length");
            return fail(p, RESP_ERR_LIMIT, "ERR Protocol error: invalid multibulk length");
        }
        p->scan = (size_t)cr + 2;
        if (n <= 0)
            return PARSE_EMPTY; /* "*0" and "*-1" are empty requests */
        p->multibulk_left = n;
        p->argc = 0;
        p->bulk_len = -1;
    }
    while (p->multibulk_left > 0) {
        if (p->bulk_len < 0) {
            if (p->scan >= p->len)
                return RESP_NEED_MORE;
            long long cr = find_bounded(p, p->scan, '\r', p->lim.max_inline_bytes, &too_long);
            if (cr < 0)
                return too_long
                           ? fail(p, RESP_ERR_LIMIT, "ERR Protocol error: too big bulk count string")
                           : RESP_NEED_MORE;
            if ((size_t)cr + 1 >= p->len)
                return RESP_NEED_MORE;
            uint8_t c = p->buf[p->scan];
            if (c != '$') {
                snprintf(p->err_buf, sizeof(p->err_buf),
                         "ERR Protocol error: expected '$', got '%c'",
                         isprint(c) ? (char)c : ' ');
                return fail(p, RESP_ERR_SYNTAX, p->err_buf);
            }
            long long n;
            if (!resp_str2ll(p->buf + p->scan + 1, (size_t)cr - (p->scan + 1), &n) || n < 0)
                return fail(p, RESP_ERR_SYNTAX, "ERR Protocol error: invalid bulk length");
            if ((unsigned long long)n > p->lim.max_bulk_bytes) {
                if (p->lim.unauthenticated)
                    return fail(p, RESP_ERR_LIMIT,
                                "ERR Protocol error: unauthenticated bulk length");
                return fail(p, RESP_ERR_LIMIT, "ERR Protocol error: invalid bulk length");
            }
            p->scan = (size_t)cr + 2;
            if (p->scan - p->pos + (size_t)n + 2 > p->lim.max_query_bytes)
                return fail(p, RESP_ERR_QUERY_LIMIT,
                            "ERR Protocol error: request exceeds the query buffer limit");
            p->bulk_len = n;
        }
        if (p->len - p->scan < (size_t)p->bulk_len + 2)
            return RESP_NEED_MORE;
        if (add_arg(p, p->scan - p->pos, (size_t)p->bulk_len) != 0)
            return RESP_ERROR;
        p->scan += (size_t)p->bulk_len + 2;
        p->bulk_len = -1;
        p->multibulk_left--;
    }
    return RESP_COMMAND;
}

int resp_parser_next(struct resp_parser *p, struct resp_cmd *cmd)
{
    if (p->err)
        return RESP_ERROR;
    for (;;) {
        if (p->mode == MODE_IDLE) {
            if (p->pos == p->len)
                return RESP_NEED_MORE;
            p->mode = p->buf[p->pos] == '*' ? MODE_MULTIBULK : MODE_INLINE;
            p->scan = p->pos;
            p->line_seen = 0;
            p->argc = 0;
            p->multibulk_left = 0;
            p->bulk_len = -1;
        }
        int rc = p->mode == MODE_INLINE ? parse_inline(p) : parse_multibulk(p);
        if (rc == RESP_NEED_MORE || rc == RESP_ERROR)
            return rc;
        p->mode = MODE_IDLE;
        if (rc == PARSE_EMPTY) {
            p->pos = p->scan;
            continue;
        }
        for (size_t i = 0; i < p->argc; i++) {
            p->argv[i] = p->buf + p->pos + p->spans[i].off;
            p->argv_len[i] = p->spans[i].len;
        }
        cmd->argc = p->argc;
        cmd->argv = p->argv;
        cmd->argv_len = p->argv_len;
        p->pos = p->scan;
        return RESP_COMMAND;
    }
}

/* ------------------------------------------------------------ writer */

void resp_buf_init(struct resp_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void resp_buf_free(struct resp_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

uint8_t *resp_buf_reserve(struct resp_buf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (b->limit && (n > b->limit || b->len > b->limit - n)) {
        b->over_limit = true;
        b->failed = true;
        return NULL;
    }
    if (b->cap - b->len < n) {
        size_t ncap = b->cap ? b->cap : 1024;
        while (ncap - b->len < n)
            ncap *= 2;
        /* Doubling must not take the buffer far past its limit. */
        if (b->limit && ncap > b->limit && b->limit >= b->len + n)
            ncap = b->limit;
        uint8_t *nd = realloc(b->data, ncap);
        if (!nd) {
            b->failed = true;
            return NULL;
        }
        b->data = nd;
        b->cap = ncap;
    }
    return b->data + b->len;
}

void resp_buf_append(struct resp_buf *b, const void *data, size_t n)
{
    uint8_t *dst = resp_buf_reserve(b, n);
    if (!dst)
        return;
    memcpy(dst, data, n);
    b->len += n;
}

size_t resp_buf_gap_open(struct resp_buf *b, size_t gap_bytes)
{
    size_t at = b->len;
    if (resp_buf_reserve(b, gap_bytes))
        b->len += gap_bytes;
    return at;
}

void resp_buf_gap_close(struct resp_buf *b, size_t at, size_t gap_bytes, const void *hdr,
                        size_t hdr_len)
{
    if (b->failed || hdr_len > gap_bytes || at + gap_bytes > b->len)
        return;
    size_t body = b->len - at - gap_bytes;
    memmove(b->data + at + hdr_len, b->data + at + gap_bytes, body);
    memcpy(b->data + at, hdr, hdr_len);
    b->len -= gap_bytes - hdr_len;
}

/* Decimal digits of v into dst (at least 21 bytes); returns the length. */
static size_t ll2str(char *dst, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t k = 0;
    if (v < 0)
        dst[k++] = '-';
    while (n)
        dst[k++] = tmp[--n];
    return k;
}

/* prefix + decimal + CRLF */
static void write_prefixed_int(struct resp_buf *b, char prefix, long long v)
{
    uint8_t *dst = resp_buf_reserve(b, 24);
    if (!dst)
        return;
    dst[0] = (uint8_t)prefix;
    size_t n = 1 + ll2str((char *)dst + 1, v);
    dst[n++] = '\r';
    dst[n++] = '\n';
    b->len += n;
}

static void write_line(struct resp_buf *b, char prefix, const char *s, bool sanitize)
{
    size_t n = strlen(s);
    uint8_t *dst = resp_buf_reserve(b, n + 3);
    if (!dst)
        return;
    dst[0] = (uint8_t)prefix;
    memcpy(dst + 1, s, n);
    if (sanitize)
        for (size_t i = 1; i <= n; i++)
            if (dst[i] == '\r' || dst[i] == '\n')
                dst[i] = ' ';
    dst[n + 1] = '\r';
    dst[n + 2] = '\n';
    b->len += n + 3;
}

void resp_write_simple(struct resp_buf *b, const char *s)
{
    write_line(b, '+', s, true);
}

void resp_write_error(struct resp_buf *b, const char *s)
{
    write_line(b, '-', s, true);
}

void resp_write_errorf(struct resp_buf *b, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp_write_error(b, msg);
}

void resp_write_int(struct resp_buf *b, long long v)
{
    write_prefixed_int(b, ':', v);
}

void resp_write_bulk(struct resp_buf *b, const void *data, size_t len)
{
    uint8_t *dst = resp_buf_reserve(b, len + 26);
    if (!dst)
        return;
    dst[0] = '$';
    size_t n = 1 + ll2str((char *)dst + 1, (long long)len);
    dst[n++] = '\r';
    dst[n++] = '\n';
    if (len)
        memcpy(dst + n, data, len);
    n += len;
    dst[n++] = '\r';
    dst[n++] = '\n';
    b->len += n;
}

void resp_write_bulk_str(struct resp_buf *b, const char *s)
{
    resp_write_bulk(b, s, strlen(s));
}

void resp_write_null(struct resp_buf *b)
{
    resp_buf_append(b, "$-1\r\n", 5);
}

void resp_write_array(struct resp_buf *b, long long n)
{
    write_prefixed_int(b, '*', n);
}
