/*
 * resp.h: the Redis protocol (RESP2) request parser and reply writer.
 *
 * Pure code in the manner of hiredis read.h: the parser is fed bytes and
 * hands back complete commands; it never touches a socket. The server
 * (node/server.c) reads straight into the parser's buffer (reserve/commit),
 * so a request is copied once, from the kernel.
 *
 * Requests come in two shapes, as Redis accepts them:
 *   multibulk  *<count>\r\n then count times $<len>\r\n<bytes>\r\n
 *   inline     words separated by spaces, ended by \n (quotes as redis-cli)
 *
 * Limits (Redis networking.c, scaled to gossipkv):
 *   count line / bulk length line / inline request: at most max_inline_bytes
 *     (64 KiB, PROTO_INLINE_MAX_SIZE); a longer line is refused with the
 *     error Redis gives ("too big mbulk count string", ...).
 *   multibulk count: at most max_multibulk (1024*1024, Redis's limit).
 *   bulk length: at most max_bulk_bytes (here the store's value limit, not
 *     Redis's 512 MB: a longer value could never be stored anyway).
 *   buffered bytes of one request: at most max_query_bytes.
 * Before AUTH (when a password is set) the server swaps in much smaller
 * limits, the same for both request forms: 10 arguments (Redis 7) and 4 KiB
 * for the whole request, line or bulks (AUTH and HELLO need well under
 * 1 KiB), so an unauthenticated connection holds a few KB at most.
 *
 * Chunking never matters: every decision depends only on bytes already seen
 * and every limit is on a length that is known when it is checked, so
 * feeding a stream one byte at a time gives exactly the commands and the
 * error that feeding it at once gives (tests/unit/test_resp.c checks this).
 *
 * After a protocol error the parser is stuck (every call returns the same
 * error): Redis answers the error and closes the connection, and so do we.
 */
#ifndef GKV_NODE_RESP_H
#define GKV_NODE_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Redis PROTO_INLINE_MAX_SIZE. */
#define RESP_INLINE_MAX_BYTES (64u * 1024u)
/* Redis's multibulk count limit (networking.c). */
#define RESP_MULTIBULK_MAX (1024u * 1024u)
/* Limits for unauthenticated clients: Redis 7's 10 arguments
 * (networking.c); a whole request of 4 KiB (Redis allows 16 KiB bulks; a
 * password is at most NODE_PASS_MAX = 512 bytes here). */
#define RESP_UNAUTH_MULTIBULK_MAX 10u
#define RESP_UNAUTH_QUERY_MAX (4u * 1024u)
#define RESP_UNAUTH_BULK_MAX RESP_UNAUTH_QUERY_MAX
/* Read size (Redis reads 16 KiB at a time, PROTO_IOBUF_LEN); before AUTH
 * reads are as small as the largest request allowed then. */
#define RESP_READ_CHUNK (16u * 1024u)
#define RESP_UNAUTH_READ_CHUNK RESP_UNAUTH_QUERY_MAX
/* Argument slots kept across requests (more are freed once idle). */
#define RESP_ARGS_KEEP 64u

struct resp_limits {
    size_t max_bulk_bytes;
    size_t max_multibulk;
    size_t max_inline_bytes;
    size_t max_query_bytes; /* bytes of one request */
    bool unauthenticated;   /* word limit errors as Redis does before AUTH */
};

/* The much smaller limits for a client that has not authenticated yet. */
void resp_limits_unauth(struct resp_limits *lim);

/* Redis-like defaults with max_bulk_bytes = value_max. */
void resp_limits_default(struct resp_limits *lim, size_t value_max);

enum resp_status {
    RESP_NEED_MORE = 0, /* no complete command buffered */
    RESP_COMMAND = 1,   /* *cmd holds one command */
    RESP_ERROR = -1,    /* protocol error: resp_parser_error() says which */
};

/* Which limit (if any) a protocol error hit, for INFO counters. */
enum resp_error_kind {
    RESP_ERR_NONE,
    RESP_ERR_SYNTAX,      /* malformed: non-numeric length, missing '$', quotes */
    RESP_ERR_LIMIT,       /* a length or count over its limit */
    RESP_ERR_QUERY_LIMIT, /* too many bytes buffered for one request */
    RESP_ERR_NOMEM,
};

/* One parsed command. argv[i] / argv_len[i] point into the parser's buffer:
 * borrowed until the next resp_parser_reserve/feed/reset/free call (parsing
 * further commands with resp_parser_next does not move them). Arguments are
 * binary (not NUL-terminated). */
struct resp_cmd {
    size_t argc;
    const uint8_t **argv;
    const size_t *argv_len;
};

struct resp_arg_span {
    size_t off; /* from the start of the current request */
    size_t len;
};

struct resp_parser {
    uint8_t *buf;
    size_t len; /* bytes buffered */
    size_t cap;
    size_t pos; /* start of the current (unfinished) request */
    size_t scan; /* parse cursor, >= pos */
    size_t line_seen;      /* bytes of the current line already searched for its end */
    uint64_t search_bytes; /* bytes line searches have looked at (tests: stays linear) */
    int mode;    /* 0 = between requests, 1 = inline, 2 = multibulk */
    long long multibulk_left; /* arguments still expected (multibulk) */
    long long bulk_len;       /* -1 = expecting a $ line */
    struct resp_arg_span *spans;
    const uint8_t **argv;
    size_t *argv_len;
    size_t argc, args_cap;
    struct resp_limits lim;
    enum resp_error_kind err_kind;
    const char *err; /* NULL until a protocol error */
    char err_buf[64];
};

/* Caller memory; no allocation until bytes arrive. */
void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);
void resp_parser_free(struct resp_parser *p);
/* Change the limits (e.g. after AUTH); applies to what is parsed next. */
void resp_parser_set_limits(struct resp_parser *p, const struct resp_limits *lim);

/* Space to read into: *out gets a pointer to at least want bytes (more when a
 * known bulk needs them) past the buffered data. Compacts consumed requests
 * first, which invalidates earlier commands' argv. GKV_ENOMEM or GKV_ELIMIT
 * (the request would exceed max_query_bytes: the parser is then in error). */
int resp_parser_reserve(struct resp_parser *p, size_t want, uint8_t **out, size_t *avail);
/* n bytes were written at the pointer reserve returned. */
void resp_parser_commit(struct resp_parser *p, size_t n);
/* reserve + memcpy + commit (tests, fuzzing). */
int resp_parser_feed(struct resp_parser *p, const void *data, size_t n);

/* Parse the next complete command. RESP_COMMAND fills *cmd; RESP_NEED_MORE
 * means feed more bytes; RESP_ERROR is sticky. */
int resp_parser_next(struct resp_parser *p, struct resp_cmd *cmd);

/* The protocol error as Redis words it ("Protocol error: invalid bulk
 * length"), or NULL. Owned by the parser. */
const char *resp_parser_error(const struct resp_parser *p);
enum resp_error_kind resp_parser_error_kind(const struct resp_parser *p);

/* Bytes buffered that no returned command has consumed yet. */
size_t resp_parser_pending(const struct resp_parser *p);

/* Drop big buffers while idle (after a large request): the read buffer if
 * it is larger than keep_bytes (0: always), the argument arrays if they
 * hold more than RESP_ARGS_KEEP slots. Only when nothing is pending. */
void resp_parser_shrink(struct resp_parser *p, size_t keep_bytes);

/* ------------------------------------------------------------ writer */

/* A growable reply buffer. Writes never fail visibly: on allocation failure
 * `failed` is set and further writes are dropped (the server then closes the
 * client). A nonzero `limit` caps len while a reply is built: a write that
 * would pass it sets `over_limit` (and `failed`) instead of growing, so a
 * command building a huge reply stops at the limit, not after it. data is
 * owned by the buffer. */
struct resp_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 = none */
    bool failed;
    bool over_limit;
};

void resp_buf_init(struct resp_buf *b);
void resp_buf_free(struct resp_buf *b);
/* Make room for n more bytes; returns a pointer to them or NULL (failed). */
uint8_t *resp_buf_reserve(struct resp_buf *b, size_t n);
void resp_buf_append(struct resp_buf *b, const void *data, size_t n);

/* A header that is known only after its body (an array count, a bulk
 * length): resp_buf_gap_open leaves gap_bytes of room and returns where;
 * the body is written after it; resp_buf_gap_close writes hdr into the room
 * and slides the body down over what the header did not use (one memmove),
 * so the reply is built in place, with no second buffer of its size.
 * hdr_len <= gap_bytes. Nothing happens once the buffer has failed. */
size_t resp_buf_gap_open(struct resp_buf *b, size_t gap_bytes);
void resp_buf_gap_close(struct resp_buf *b, size_t at, size_t gap_bytes, const void *hdr,
                        size_t hdr_len);

void resp_write_simple(struct resp_buf *b, const char *s);   /* +s */
void resp_write_error(struct resp_buf *b, const char *s);    /* -s (newlines become spaces) */
void resp_write_errorf(struct resp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void resp_write_int(struct resp_buf *b, long long v);         /* :v */
void resp_write_bulk(struct resp_buf *b, const void *data, size_t len);
void resp_write_bulk_str(struct resp_buf *b, const char *s);
void resp_write_null(struct resp_buf *b);                     /* $-1 */
void resp_write_array(struct resp_buf *b, long long n);       /* *n (n = -1: null array) */

/* Strict integer parse as Redis string2ll: optional '-', no '+', no leading
 * zeros, no spaces, no overflow. Returns true on success. */
bool resp_str2ll(const uint8_t *s, size_t len, long long *out);

#endif
