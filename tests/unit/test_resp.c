/*
 * test_resp.c: the RESP2 parser and writer (node/resp.c).
 *
 * Every input is run three ways (all at once, one byte at a time, random
 * chunks) and the transcripts (commands parsed, then the final status) must
 * be identical. Random chunk sizes come from GKV_SEED (printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "node/resp.h"
#include "tests/test_seed.h"

static uint64_t g_seed;

/* A transcript: each command as "[argc]<len>arg<len>arg...;" then the end
 * status: "ERR:<message>" or "MORE:<pending bytes>". */
struct transcript {
    char *s;
    size_t len, cap;
};

static void ts_add(struct transcript *t, const void *d, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    memcpy(t->s + t->len, d, n);
    t->len += n;
    t->s[t->len] = 0;
}

static void ts_addf(struct transcript *t, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    ts_add(t, tmp, (size_t)n);
}

static void drain(struct resp_parser *p, struct transcript *t, int *done)
{
    struct resp_cmd cmd;
    int rc;
    while ((rc = resp_parser_next(p, &cmd)) == RESP_COMMAND) {
        ts_addf(t, "[%zu]", cmd.argc);
        for (size_t i = 0; i < cmd.argc; i++) {
            ts_addf(t, "<%zu>", cmd.argv_len[i]);
            ts_add(t, cmd.argv[i], cmd.argv_len[i]);
        }
        ts_add(t, ";", 1);
    }
    if (rc == RESP_ERROR)
        *done = 1;
}

/* chunk: 0 = all at once, 1 = byte by byte, -1 = random chunks. */
static char *run(const void *in, size_t n, int chunk, const struct resp_limits *lim,
                 struct gkv_rng *rng, size_t *out_len)
{
    struct resp_parser p;
    struct transcript t = {0};
    resp_parser_init(&p, lim);
    int done = 0;
    size_t off = 0;
    while (off < n && !done) {
        size_t k = n - off;
        if (chunk == 1)
            k = 1;
        else if (chunk < 0)
            k = 1 + (size_t)gkv_rng_below(rng, k < 4096 ? k : 4096);
        if (resp_parser_feed(&p, (const uint8_t *)in + off, k) != 0) {
            done = 1;
            break;
        }
        off += k;
        drain(&p, &t, &done);
    }
    if (resp_parser_error(&p))
        ts_addf(&t, "ERR:%s", resp_parser_error(&p));
    else
        ts_addf(&t, "MORE:%zu", resp_parser_pending(&p));
    resp_parser_free(&p);
    *out_len = t.len;
    return t.s;
}

static size_t g_last_len;

/* Runs all three ways, asserts they agree, returns the transcript. */
static char *parse_lim(const void *in, size_t n, const struct resp_limits *lim)
{
    struct gkv_rng rng;
    gkv_rng_seed(&rng, g_seed);
    size_t lw, lb, lr;
    char *whole = run(in, n, 0, lim, &rng, &lw);
    char *bytes = run(in, n, 1, lim, &rng, &lb);
    char *rand = run(in, n, -1, lim, &rng, &lr);
    assert_int_equal(lw, lb);
    assert_int_equal(lw, lr);
    assert_memory_equal(whole, bytes, lw);
    assert_memory_equal(whole, rand, lw);
    g_last_len = lw;
    free(bytes);
    free(rand);
    return whole;
}

static char *parse(const char *in)
{
    struct resp_limits lim;
    resp_limits_default(&lim, 1024 * 1024);
    return parse_lim(in, strlen(in), &lim);
}

static void expect(const char *in, const char *want)
{
    char *got = parse(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_multibulk_commands_are_parsed(void **state)
{
    (void)state;
    expect("*1\r\n$4\r\nPING\r\n", "[1]<4>PING;MORE:0");
    expect("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", "[3]<3>SET<1>k<5>hello;MORE:0");
    /* Pipelined, then half of a third. */
    expect("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n",
           "[1]<4>PING;[2]<4>ECHO<0>;MORE:13");
}

static void test_multibulk_binary_bulk_keeps_crlf(void **state)
{
    (void)state;
    const char in[] = "*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\0b\n\r\n";
    struct resp_limits lim;
    resp_limits_default(&lim, 1024);
    char *got = parse_lim(in, sizeof(in) - 1, &lim);
    const char want[] = "[2]<4>ECHO<6>a\r\n\0b\n;MORE:0";
    assert_int_equal(g_last_len, sizeof(want) - 1);
    assert_memory_equal(got, want, sizeof(want) - 1);
    free(got);
}

static void test_inline_commands_split_like_redis_cli(void **state)
{
    (void)state;
    expect("PING\r\n", "[1]<4>PING;MORE:0");
    expect("SET  k   v\n", "[3]<3>SET<1>k<1>v;MORE:0");
    expect("SET k \"a b\\n\\x41\"\r\n", "[3]<3>SET<1>k<5>a b\nA;MORE:0");
    expect("ECHO 'it\\'s'\r\n", "[2]<4>ECHO<4>it's;MORE:0");
    expect("ECHO \"\"\r\n", "[2]<4>ECHO<0>;MORE:0");
    expect("PING", "MORE:4");
}

static void test_empty_requests_are_skipped(void **state)
{
    (void)state;
    /* Redis tests/unit/protocol.tcl: an empty query and a negative multibulk
     * length are ignored, the next command is answered. */
    expect("\r\n*1\r\n$4\r\nPING\r\n", "[1]<4>PING;MORE:0");
    expect("*-10\r\n*1\r\n$4\r\nPING\r\n", "[1]<4>PING;MORE:0");
    expect("*0\r\n   \r\nPING\r\n", "[1]<4>PING;MORE:0");
}

static void test_bad_multibulk_length_gives_redis_error(void **state)
{
    (void)state;
    expect("*20000000\r\n", "ERR:ERR Protocol error: invalid multibulk length");
    expect("*3000000000\r\n", "ERR:ERR Protocol error: invalid multibulk length");
    expect("*abc\r\n", "ERR:ERR Protocol error: invalid multibulk length");
    expect("*\r\n", "ERR:ERR Protocol error: invalid multibulk length");
    expect("*+1\r\n", "ERR:ERR Protocol error: invalid multibulk length");
    expect("*01\r\n", "ERR:ERR Protocol error: invalid multibulk length");
    expect("*99999999999999999999999\r\n", "ERR:ERR Protocol error: invalid multibulk length");
}

static void test_bad_bulk_length_gives_redis_error(void **state)
{
    (void)state;
    expect("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
           "ERR:ERR Protocol error: expected '$', got 'f'");
    expect("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "ERR:ERR Protocol error: invalid bulk length");
    expect("*1\r\n$-1\r\n", "ERR:ERR Protocol error: invalid bulk length");
    expect("*1\r\n$2147483648\r\n", "ERR:ERR Protocol error: invalid bulk length");
    expect("*1\r\n$99999999999999999999\r\n", "ERR:ERR Protocol error: invalid bulk length");
    expect("*1\r\n$1x\r\n", "ERR:ERR Protocol error: invalid bulk length");
    expect("*1\r\n$\r\n", "ERR:ERR Protocol error: invalid bulk length");
    /* One byte over the bulk limit (1 MiB here). */
    expect("*1\r\n$1048577\r\n", "ERR:ERR Protocol error: invalid bulk length");
}

static void test_unbalanced_frames(void **state)
{
    (void)state;
    /* Announced more arguments than sent: waits, never invents a command. */
    expect("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n", "MORE:20");
    /* Bulk shorter than announced swallows the next header as data. */
    expect("*1\r\n$10\r\nPING\r\n*1\r\n", "MORE:19");
    expect("SET k \"abc\r\n", "ERR:ERR Protocol error: unbalanced quotes in request");
    expect("SET k \"abc\"def\r\n", "ERR:ERR Protocol error: unbalanced quotes in request");
    expect("SET k 'abc\r\n", "ERR:ERR Protocol error: unbalanced quotes in request");
}

static char *make_repeat(char c, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    char *s = malloc(pl + n + 1);
    assert_non_null(s);
    memcpy(s, prefix, pl);
    memset(s + pl, c, n);
    s[pl + n] = 0;
    return s;
}

static void test_long_lines_hit_the_inline_limit(void **state)
{
    (void)state;
    char *s = make_repeat('a', RESP_INLINE_MAX_BYTES + 10, "");
    expect(s, "ERR:ERR Protocol error: too big inline request");
    free(s);
    s = make_repeat('1', RESP_INLINE_MAX_BYTES + 10, "*");
    expect(s, "ERR:ERR Protocol error: too big mbulk count string");
    free(s);
    s = make_repeat('1', RESP_INLINE_MAX_BYTES + 10, "*1\r\n$");
    expect(s, "ERR:ERR Protocol error: too big bulk count string");
    free(s);
    /* Even when the line does end: the error does not depend on chunking. */
    s = make_repeat('1', RESP_INLINE_MAX_BYTES + 10, "*");
    size_t n = strlen(s);
    s = realloc(s, n + 3);
    memcpy(s + n, "\r\n", 3);
    expect(s, "ERR:ERR Protocol error: too big mbulk count string");
    free(s);
    /* A long inline line under the limit is fine. */
    s = make_repeat('a', 1000, "ECHO ");
    n = strlen(s);
    s = realloc(s, n + 3);
    memcpy(s + n, "\r\n", 3);
    char *got = parse(s);
    assert_non_null(strstr(got, "[2]<4>ECHO<1000>aaa"));
    free(got);
    free(s);
}

static void test_unauthenticated_limits_are_small(void **state)
{
    (void)state;
    struct resp_limits lim;
    resp_limits_unauth(&lim);
    const char *in = "*11\r\n";
    char *got = parse_lim(in, strlen(in), &lim);
    assert_string_equal(got, "ERR:ERR Protocol error: unauthenticated multibulk length");
    free(got);
    in = "*2\r\n$4\r\nAUTH\r\n$16385\r\n";
    got = parse_lim(in, strlen(in), &lim);
    assert_string_equal(got, "ERR:ERR Protocol error: unauthenticated bulk length");
    free(got);
    in = "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n";
    got = parse_lim(in, strlen(in), &lim);
    assert_string_equal(got, "[2]<4>AUTH<6>secret;MORE:0");
    free(got);
}

static void test_unauthenticated_limits_hold_for_inline_requests_too(void **state)
{
    (void)state;
    struct resp_limits lim;
    resp_limits_unauth(&lim);
    const char *in = "AUTH a b c d e f g h i j\r\n"; /* 11 words */
    char *got = parse_lim(in, strlen(in), &lim);
    assert_string_equal(got, "ERR:ERR Protocol error: unauthenticated multibulk length");
    free(got);
    in = "AUTH a b c d e f g h i\r\n"; /* 10 words: fine */
    got = parse_lim(in, strlen(in), &lim);
    assert_string_equal(got, "[10]<4>AUTH<1>a<1>b<1>c<1>d<1>e<1>f<1>g<1>h<1>i;MORE:0");
    free(got);
    /* A whole request is at most RESP_UNAUTH_QUERY_MAX, in either form. */
    char line[RESP_UNAUTH_QUERY_MAX + 16];
    memset(line, 'p', sizeof(line));
    memcpy(line, "AUTH ", 5);
    line[sizeof(line) - 1] = '\n';
    got = parse_lim(line, sizeof(line), &lim);
    assert_string_equal(got, "ERR:ERR Protocol error: too big inline request");
    free(got);
}

static void test_shrink_frees_big_argument_arrays_when_idle(void **state)
{
    (void)state;
    struct resp_limits lim;
    resp_limits_default(&lim, 1024);
    struct resp_parser p;
    resp_parser_init(&p, &lim);
    char req[4096];
    size_t n = (size_t)snprintf(req, sizeof(req), "DEL");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(req + n, sizeof(req) - n, " k");
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
    assert_int_equal(resp_parser_feed(&p, req, n), 0);
    struct resp_cmd cmd;
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_COMMAND);
    assert_int_equal(cmd.argc, 501);
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_NEED_MORE);
    assert_true(p.args_cap >= 501);
    resp_parser_shrink(&p, 0);
    assert_true(p.args_cap <= RESP_ARGS_KEEP);
    assert_int_equal(p.cap, 0);
    /* And it still parses afterwards. */
    assert_int_equal(resp_parser_feed(&p, "PING\r\n", 6), 0);
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_COMMAND);
    assert_int_equal(cmd.argc, 1);
    resp_parser_free(&p);
}

/* A slow sender trickling a long line: each read continues the search for
 * the line end where the previous one stopped, so the bytes searched stay
 * linear in the line (they were quadratic: every byte rescanned the line). */
static void test_line_search_resumes_on_a_trickled_line(void **state)
{
    (void)state;
    struct resp_limits lim;
    resp_limits_default(&lim, 1024 * 1024);
    const size_t n = 60000;
    struct resp_parser p;
    resp_parser_init(&p, &lim);
    struct resp_cmd cmd;
    assert_int_equal(resp_parser_feed(&p, "ECHO ", 5), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(resp_parser_feed(&p, "x", 1), 0);
        assert_int_equal(resp_parser_next(&p, &cmd), RESP_NEED_MORE);
    }
    assert_int_equal(resp_parser_feed(&p, "\r\n", 2), 0);
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_COMMAND);
    assert_int_equal(cmd.argv_len[1], n);
    assert_true(p.search_bytes <= 2 * (n + 7));
    /* The same for a multibulk length line and a bulk length line. */
    uint64_t before = p.search_bytes;
    assert_int_equal(resp_parser_feed(&p, "*2\r\n$4\r\nECHO\r\n$", 15), 0);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(resp_parser_feed(&p, "0", 1), 0);
        assert_int_equal(resp_parser_next(&p, &cmd), RESP_NEED_MORE);
    }
    assert_true(p.search_bytes - before <= 2 * (2000 + 20));
    resp_parser_free(&p);
}

static void test_query_limit_counts_announced_bytes(void **state)
{
    (void)state;
    struct resp_limits lim;
    resp_limits_default(&lim, 1000);
    lim.max_query_bytes = 2000;
    const char *in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\n"; /* fits */
    char *got = parse_lim(in, strlen(in), &lim);
    assert_string_equal(got, "MORE:27");
    free(got);
    in = "*3\r\n$1000\r\n";
    char buf[2200];
    size_t n = strlen(in);
    memcpy(buf, in, n);
    memset(buf + n, 'x', 1000);
    n += 1000;
    memcpy(buf + n, "\r\n$1000\r\n", 9);
    n += 9;
    got = parse_lim(buf, n, &lim);
    assert_string_equal(got, "ERR:ERR Protocol error: request exceeds the query buffer limit");
    free(got);
}

static void test_big_bulk_grows_buffer_and_survives(void **state)
{
    (void)state;
    size_t vlen = 200 * 1024;
    char *buf = malloc(vlen + 64);
    assert_non_null(buf);
    int h = sprintf(buf, "*2\r\n$4\r\nECHO\r\n$%zu\r\n", vlen);
    memset(buf + h, 'v', vlen);
    memcpy(buf + h + vlen, "\r\n", 2);
    struct resp_limits lim;
    resp_limits_default(&lim, 1024 * 1024);
    struct resp_parser p;
    resp_parser_init(&p, &lim);
    assert_int_equal(resp_parser_feed(&p, buf, (size_t)h + vlen + 2), 0);
    struct resp_cmd cmd;
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_COMMAND);
    assert_int_equal(cmd.argv_len[1], vlen);
    assert_int_equal(cmd.argv[1][vlen - 1], 'v');
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_NEED_MORE);
    resp_parser_shrink(&p, RESP_READ_CHUNK);
    assert_null(p.buf);
    resp_parser_free(&p);
    free(buf);
}

static void test_errors_are_sticky(void **state)
{
    (void)state;
    expect("*x\r\n*1\r\n$4\r\nPING\r\n", "ERR:ERR Protocol error: invalid multibulk length");
    struct resp_limits lim;
    resp_limits_default(&lim, 16);
    struct resp_parser p;
    resp_parser_init(&p, &lim);
    assert_int_equal(resp_parser_feed(&p, "*x\r\n", 4), 0);
    struct resp_cmd cmd;
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_ERROR);
    assert_int_equal(resp_parser_error_kind(&p), RESP_ERR_SYNTAX);
    assert_int_not_equal(resp_parser_feed(&p, "PING\r\n", 6), 0);
    assert_int_equal(resp_parser_next(&p, &cmd), RESP_ERROR);
    resp_parser_free(&p);
}

/* A long random mix of valid and invalid frames: all three feeding modes
 * agree on every prefix-free transcript. */
static void test_random_streams_parse_identically_in_any_chunking(void **state)
{
    (void)state;
    static const char *pieces[] = {
        "*1\r\n$4\r\nPING\r\n", "PING\r\n", "\r\n", "*0\r\n", "*-1\r\n", "ECHO \"a\\x00b\"\n",
        "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", "*1\r\n$0\r\n\r\n", "*2\r\n$1\r\n\r\n\r\n$0\r\n\r\n",
        "SET a 'b c'\r\n", "*1\r\n$3\r\nab", "x\r\n", "$", "*", "-1\r\n", "'", "\"", "\\",
        "*2\r\n", "$1\r\n", "\n", "\r",
    };
    struct gkv_rng rng;
    gkv_rng_seed(&rng, g_seed ^ 0x5eed);
    struct resp_limits lim;
    resp_limits_default(&lim, 4096);
    for (int round = 0; round < 300; round++) {
        char buf[4096];
        size_t n = 0;
        int k = 1 + (int)gkv_rng_below(&rng, 30);
        for (int i = 0; i < k; i++) {
            const char *pc = pieces[gkv_rng_below(&rng, sizeof(pieces) / sizeof(pieces[0]))];
            size_t pl = strlen(pc);
            if (n + pl >= sizeof(buf))
                break;
            memcpy(buf + n, pc, pl);
            n += pl;
        }
        free(parse_lim(buf, n, &lim));
    }
}

static void test_writer_formats_each_type(void **state)
{
    (void)state;
    struct resp_buf b;
    resp_buf_init(&b);
    resp_write_simple(&b, "OK");
    resp_write_error(&b, "ERR bad\r\nthing");
    resp_write_int(&b, -42);
    resp_write_int(&b, 0);
    resp_write_bulk(&b, "hi", 2);
    resp_write_bulk(&b, "", 0);
    resp_write_null(&b);
    resp_write_array(&b, 3);
    resp_write_array(&b, -1);
    resp_write_errorf(&b, "ERR unknown command '%s'", "FOO");
    const char want[] = "+OK\r\n-ERR bad  thing\r\n:-42\r\n:0\r\n$2\r\nhi\r\n$0\r\n\r\n$-1\r\n"
                        "*3\r\n*-1\r\n-ERR unknown command 'FOO'\r\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, b.len);
    assert_false(b.failed);
    resp_buf_free(&b);
}

static void test_writer_limit_stops_growth_and_gap_fills_header(void **state)
{
    (void)state;
    struct resp_buf b;
    resp_buf_init(&b);
    b.limit = 100;
    size_t at = resp_buf_gap_open(&b, 24);
    resp_write_bulk(&b, "ab", 2);
    resp_write_bulk(&b, "c", 1);
    resp_buf_gap_close(&b, at, 24, "*2\r\n", 4);
    const char want[] = "*2\r\n$2\r\nab\r\n$1\r\nc\r\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, b.len);
    /* A write past the limit is refused whole: nothing of it lands, the
     * buffer never grows past the limit, the overflow is flagged. */
    uint8_t big[200] = {0};
    resp_write_bulk(&b, big, sizeof(big));
    assert_true(b.over_limit);
    assert_true(b.failed);
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_true(b.cap <= 100);
    resp_buf_free(&b);
}

static void test_str2ll_is_strict(void **state)
{
    (void)state;
    long long v;
    assert_true(resp_str2ll((const uint8_t *)"0", 1, &v) && v == 0);
    assert_true(resp_str2ll((const uint8_t *)"-5", 2, &v) && v == -5);
    assert_true(resp_str2ll((const uint8_t *)"9223372036854775807", 19, &v) && v == INT64_MAX);
    assert_true(resp_str2ll((const uint8_t *)"-9223372036854775808", 20, &v) && v == INT64_MIN);
    assert_false(resp_str2ll((const uint8_t *)"9223372036854775808", 19, &v));
    assert_false(resp_str2ll((const uint8_t *)"-0", 2, &v));
    assert_false(resp_str2ll((const uint8_t *)"007", 3, &v));
    assert_false(resp_str2ll((const uint8_t *)" 1", 2, &v));
    assert_false(resp_str2ll((const uint8_t *)"", 0, &v));
    assert_false(resp_str2ll((const uint8_t *)"-", 1, &v));
}

int main(void)
{
    g_seed = gkv_test_seed("test_resp", 0x7e5b0c1dull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk_commands_are_parsed),
        cmocka_unit_test(test_multibulk_binary_bulk_keeps_crlf),
        cmocka_unit_test(test_inline_commands_split_like_redis_cli),
        cmocka_unit_test(test_empty_requests_are_skipped),
        cmocka_unit_test(test_bad_multibulk_length_gives_redis_error),
        cmocka_unit_test(test_bad_bulk_length_gives_redis_error),
        cmocka_unit_test(test_unbalanced_frames),
        cmocka_unit_test(test_long_lines_hit_the_inline_limit),
        cmocka_unit_test(test_unauthenticated_limits_are_small),
        cmocka_unit_test(test_unauthenticated_limits_hold_for_inline_requests_too),
        cmocka_unit_test(test_shrink_frees_big_argument_arrays_when_idle),
        cmocka_unit_test(test_line_search_resumes_on_a_trickled_line),
        cmocka_unit_test(test_query_limit_counts_announced_bytes),
        cmocka_unit_test(test_big_bulk_grows_buffer_and_survives),
        cmocka_unit_test(test_errors_are_sticky),
        cmocka_unit_test(test_random_streams_parse_identically_in_any_chunking),
        cmocka_unit_test(test_writer_formats_each_type),
        cmocka_unit_test(test_writer_limit_stops_growth_and_gap_fills_header),
        cmocka_unit_test(test_str2ll_is_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
