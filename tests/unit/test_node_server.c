/*
 * test_node_server.c: the RESP server (node/server.c) and the command table
 * (node/commands.c, strings.c, keyspace.c) driven without a socket.
 *
 * A real node struct around a real store (anonymous memory, or a temp
 * directory with sync=always) and no gossip core; a client made by
 * node_client_new_detached (node/client_detached.h) is fed RESP bytes and
 * its reply bytes are compared with what Redis answers. What a socket adds
 * (partial writes, idle timeouts, maxclients at accept) is left to
 * tests/cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "node/client_detached.h"
#include "node/node.h"
#include "test_store_util.h"

struct fx {
    uv_loop_t loop;
    struct node n;
    struct node_client *c;
    struct resp_buf reply; /* the last reply text, NUL-terminated */
    char dir[64];          /* "" for a memory store */
};

/* settings: "name value" pairs (node_config_set), NULL-terminated. */
static struct fx *fx_new(bool on_disk, const char *const *settings)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->n.loop = &f->loop;
    node_config_defaults(&f->n.cfg);
    char err[256];
    for (size_t i = 0; settings && settings[i]; i += 2)
        assert_int_equal(node_config_set(&f->n.cfg, settings[i], settings[i + 1], err, sizeof(err)),
                         0);
    struct store_config sc;
    store_config_init(&sc);
    if (on_disk) {
        test_mkdtemp(f->dir, sizeof(f->dir));
        sc.dir = f->dir;
        sc.sync = STORE_SYNC_ALWAYS;
    }
    sc.max_value_bytes = f->n.cfg.max_value_bytes;
    assert_int_equal(store_open(&sc, node_wall_ms(), &f->n.store, NULL, 0), 0);
    f->n.node_id = store_node_id(f->n.store);
    node_server_init(&f->n.server, &f->n);
    assert_int_equal(node_client_new_detached(&f->n.server, "test:1", &f->c), 0);
    resp_buf_init(&f->reply);
    return f;
}

static void fx_free(struct fx *f)
{
    node_client_free_detached(f->c);
    node_server_stop(&f->n.server);
    assert_int_equal(store_close(f->n.store), 0);
    if (f->dir[0])
        test_rmrf(f->dir);
    resp_buf_free(&f->reply);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

/* Feed raw bytes; the reply text they produced (borrowed until the next). */
static const char *feed(struct fx *f, const char *bytes, size_t len)
{
    f->reply.len = 0;
    node_client_feed(f->c, bytes, len);
    node_client_take(f->c, &f->reply);
    resp_buf_append(&f->reply, "", 1);
    return (const char *)f->reply.data;
}

/* One command as a RESP array of bulk strings; the reply text. */
static const char *cmdv(struct fx *f, const char *const *argv)
{
    struct resp_buf req;
    resp_buf_init(&req);
    size_t argc = 0;
    while (argv[argc])
        argc++;
    resp_write_array(&req, (long long)argc);
    for (size_t i = 0; i < argc; i++)
        resp_write_bulk_str(&req, argv[i]);
    const char *r = feed(f, (const char *)req.data, req.len);
    resp_buf_free(&req);
    return r;
}
#define CMD(f, ...) cmdv((f), (const char *const[]){__VA_ARGS__, NULL})

static const struct node_server_stats *stats(struct fx *f)
{
    return &f->n.server.stats;
}

static uint64_t store_stats_entries(struct fx *f)
{
    struct store_stats st;
    store_stats(f->n.store, &st);
    return st.entries;
}

/* ------------------------------------------------------------ dispatch */

static void test_dispatch_ping_echo_and_case_insensitive_names(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    assert_string_equal(CMD(f, "PING"), "+PONG\r\n");
    assert_string_equal(CMD(f, "ping", "hi"), "$2\r\nhi\r\n");
    assert_string_equal(CMD(f, "EcHo", "x y"), "$3\r\nx y\r\n");
    /* Inline commands (telnet style) take the same table. */
    assert_string_equal(feed(f, "PING\r\n", 6), "+PONG\r\n");
    assert_int_equal(stats(f)->commands_processed, 4);
    fx_free(f);
}

static void test_dispatch_unknown_command_is_named_and_counted(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    assert_string_equal(CMD(f, "NOSUCH", "a", "b"),
                        "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n");
    assert_int_equal(stats(f)->unknown_commands, 1);
    assert_false(node_client_done(f->c)); /* an error, not a disconnect */
    assert_string_equal(CMD(f, "PING"), "+PONG\r\n");
    fx_free(f);
}

static void test_dispatch_wrong_argument_counts_answer_redis_errors(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    assert_string_equal(CMD(f, "GET"), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_string_equal(CMD(f, "GET", "a", "b"),
                        "-ERR wrong number of arguments for 'get' command\r\n");
    assert_string_equal(CMD(f, "SET", "k"), "-ERR wrong number of arguments for 'set' command\r\n");
    /* MSET: at least 3 and an odd count (pairs). */
    assert_string_equal(CMD(f, "MSET", "a", "1", "b"),
                        "-ERR wrong number of arguments for 'mset' command\r\n");
    assert_int_equal(stats(f)->arity_errors, 3);     /* MSET's pair check is its own */
    assert_string_equal(CMD(f, "DBSIZE"), ":0\r\n"); /* nothing was written */
    fx_free(f);
}

/* ----------------------------------------------- AUTH, protected mode */

static void test_auth_gates_every_command_but_auth_hello_quit(void **state)
{
    (void)state;
    static const char *const settings[] = {"requirepass", "s3cret", NULL};
    struct fx *f = fx_new(false, settings);
    assert_string_equal(CMD(f, "GET", "k"), "-NOAUTH Authentication required.\r\n");
    assert_string_equal(CMD(f, "SET", "k", "v"), "-NOAUTH Authentication required.\r\n");
    assert_string_equal(CMD(f, "PING"), "-NOAUTH Authentication required.\r\n");
    assert_int_equal(stats(f)->noauth_refused, 3);
    assert_string_equal(CMD(f, "AUTH", "wrong"),
                        "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    assert_int_equal(stats(f)->auth_failures, 1);
    assert_string_equal(CMD(f, "AUTH", "s3cret"), "+OK\r\n");
    assert_string_equal(CMD(f, "SET", "k", "v"), "+OK\r\n");
    assert_string_equal(CMD(f, "GET", "k"), "$1\r\nv\r\n");
    fx_free(f);
}

static void test_auth_admin_commands_need_the_admin_user(void **state)
{
    (void)state;
    static const char *const settings[] = {"admin-password", "adm", NULL};
    struct fx *f = fx_new(false, settings);
    const char *r = CMD(f, "CONFIG", "RESETSTAT");
    assert_memory_equal(r, "-NOPERM", 7);
    assert_int_equal(stats(f)->noperm_refused, 1);
    assert_string_equal(CMD(f, "AUTH", "admin", "adm"), "+OK\r\n");
    assert_string_equal(CMD(f, "CONFIG", "RESETSTAT"), "+OK\r\n");
    assert_int_equal(stats(f)->noperm_refused, 0); /* RESETSTAT zeroed it */
    fx_free(f);
}

static void test_protected_mode_refuses_a_network_listener_without_password(void **state)
{
    (void)state;
    struct node_config cfg;
    char err[512];
    node_config_defaults(&cfg);
    assert_int_equal(node_config_set(&cfg, "client", "0.0.0.0:7379", err, sizeof(err)), 0);
    assert_int_equal(node_config_set(&cfg, "insecure", "yes", err, sizeof(err)), 0);
    assert_int_not_equal(node_config_finish(&cfg, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "protected mode"));
    /* With requirepass it starts, and its clients begin unauthenticated. */
    static const char *const settings[] = {"client", "0.0.0.0:7379", "requirepass", "pw", NULL};
    struct fx *f = fx_new(false, settings);
    assert_false(node_client_authed(f->c));
    assert_string_equal(CMD(f, "DBSIZE"), "-NOAUTH Authentication required.\r\n");
    fx_free(f);
}

/* ------------------------------------------------------------ pipelining */

static void test_pipelined_commands_answer_in_order_in_one_feed(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    static const char req[] = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n"
                              "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
                              "PING\r\n"
                              "*2\r\n$3\r\nDEL\r\n$1\r\na\r\n"
                              "*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
    assert_string_equal(feed(f, req, sizeof(req) - 1), "+OK\r\n$1\r\n1\r\n+PONG\r\n:1\r\n$-1\r\n");
    fx_free(f);
}

static void test_pipelined_commands_split_at_every_byte_answer_the_same(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    static const char req[] = "*3\r\n$3\r\nSET\r\n$2\r\nab\r\n$3\r\nxyz\r\n"
                              "*2\r\n$6\r\nSTRLEN\r\n$2\r\nab\r\nPING\r\n";
    struct resp_buf all;
    resp_buf_init(&all);
    for (size_t i = 0; i < sizeof(req) - 1; i++) {
        node_client_feed(f->c, req + i, 1);
        node_client_take(f->c, &all);
    }
    resp_buf_append(&all, "", 1);
    assert_string_equal((const char *)all.data, "+OK\r\n:3\r\n+PONG\r\n");
    resp_buf_free(&all);
    fx_free(f);
}

static void test_quit_answers_ok_and_ignores_what_follows(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    static const char req[] = "PING\r\nQUIT\r\nSET k v\r\n";
    assert_string_equal(feed(f, req, sizeof(req) - 1), "+PONG\r\n+OK\r\n");
    assert_true(node_client_done(f->c));
    assert_int_equal(store_stats_entries(f), 0);
    fx_free(f);
}

/* ------------------------------------------------ limits while parsing */

/* The reply is a protocol error and the client closes after it. */
static void assert_protocol_error_closes(struct fx *f, const char *reply)
{
    assert_memory_equal(reply, "-ERR Protocol error", 19);
    assert_true(node_client_done(f->c));
}

static void test_protocol_error_is_answered_counted_and_closes(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    static const char req[] = "*1\r\n$x\r\n";
    assert_protocol_error_closes(f, feed(f, req, sizeof(req) - 1));
    assert_int_equal(stats(f)->protocol_errors, 1);
    fx_free(f);
}

static void test_unauthenticated_request_over_its_small_limit_is_refused(void **state)
{
    (void)state;
    static const char *const settings[] = {"requirepass", "pw", NULL};
    struct fx *f = fx_new(false, settings);
    /* Before AUTH a request may hold only a few KiB (resp_limits_unauth). */
    static char req[64 * 1024];
    int k = snprintf(req, sizeof(req), "*2\r\n$4\r\nAUTH\r\n$%zu\r\n", sizeof(req) - 64);
    memset(req + k, 'p', sizeof(req) - (size_t)k);
    assert_protocol_error_closes(f, feed(f, req, sizeof(req)));
    assert_int_equal(stats(f)->parser_limit_errors, 1);
    fx_free(f);
}

/* ------------------------------------------------------------ output limit */

static void test_reply_over_the_output_limit_is_cut_while_built(void **state)
{
    (void)state;
    static const char *const settings[] = {"client-output-buffer-limit", "64kb", NULL};
    struct fx *f = fx_new(false, settings);
    char *big = malloc(40 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'v', 40 * 1024);
    big[40 * 1024] = 0;
    assert_string_equal(CMD(f, "SET", "a", big), "+OK\r\n");
    /* One value fits; three do not, and the reply stops at the limit. */
    assert_int_equal(strlen(CMD(f, "GET", "a")), 40 * 1024 + 10);
    assert_string_equal(CMD(f, "MGET", "a", "a", "a"),
                        "-ERR reply exceeds client-output-buffer-limit: closing\r\n");
    assert_int_equal(stats(f)->output_limit_cuts, 1);
    assert_int_equal(stats(f)->output_buffer_disconnects, 1);
    assert_true(node_client_done(f->c));
    free(big);
    fx_free(f);
}

/* ------------------------------------------------ a few commands per family */

static void test_strings_family(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    assert_string_equal(CMD(f, "SET", "k", "hello"), "+OK\r\n");
    assert_string_equal(CMD(f, "SET", "k", "x", "NX"), "$-1\r\n");
    assert_string_equal(CMD(f, "SET", "k", "world", "XX", "GET"), "$5\r\nhello\r\n");
    assert_string_equal(CMD(f, "APPEND", "k", "!!"), ":7\r\n");
    assert_string_equal(CMD(f, "GETRANGE", "k", "0", "-3"), "$5\r\nworld\r\n");
    assert_string_equal(CMD(f, "SETRANGE", "k", "0", "W"), ":7\r\n");
    assert_string_equal(CMD(f, "GET", "k"), "$7\r\nWorld!!\r\n");
    assert_string_equal(CMD(f, "STRLEN", "k"), ":7\r\n");
    assert_string_equal(CMD(f, "MSET", "a", "1", "b", "2"), "+OK\r\n");
    assert_string_equal(CMD(f, "MGET", "a", "nope", "b"), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
    assert_string_equal(CMD(f, "SETBIT", "bits", "7", "1"), ":0\r\n");
    assert_string_equal(CMD(f, "BITCOUNT", "bits"), ":1\r\n");
    fx_free(f);
}

static void test_keyspace_family(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    assert_string_equal(CMD(f, "MSET", "a", "1", "b", "2", "c", "3"), "+OK\r\n");
    assert_string_equal(CMD(f, "EXISTS", "a", "b", "zz", "a"), ":3\r\n");
    assert_string_equal(CMD(f, "TYPE", "a"), "+string\r\n");
    assert_string_equal(CMD(f, "DEL", "a", "zz"), ":1\r\n");
    assert_string_equal(CMD(f, "TYPE", "a"), "+none\r\n");
    assert_string_equal(CMD(f, "RENAME", "b", "d"), "+OK\r\n");
    assert_string_equal(CMD(f, "RENAME", "nope", "e"), "-ERR no such key\r\n");
    assert_string_equal(CMD(f, "COPY", "d", "c"), ":0\r\n"); /* c exists, no REPLACE */
    assert_string_equal(CMD(f, "DBSIZE"), ":2\r\n");
    assert_string_equal(CMD(f, "KEYS", "d*"), "*1\r\n$1\r\nd\r\n");
    assert_string_equal(CMD(f, "FLUSHALL"), "+OK\r\n");
    assert_string_equal(CMD(f, "DBSIZE"), ":0\r\n");
    fx_free(f);
}

static void test_server_family(void **state)
{
    (void)state;
    struct fx *f = fx_new(false, NULL);
    assert_string_equal(CMD(f, "SELECT", "0"), "+OK\r\n");
    assert_string_equal(CMD(f, "SELECT", "1"), "-ERR DB index is out of range\r\n");
    assert_string_equal(CMD(f, "CLIENT", "SETNAME", "worker-1"), "+OK\r\n");
    assert_string_equal(CMD(f, "CLIENT", "GETNAME"), "$8\r\nworker-1\r\n");
    assert_non_null(strstr(CMD(f, "CLIENT", "LIST"), "name=worker-1"));
    char count[32];
    snprintf(count, sizeof(count), ":%zu\r\n", node_command_count());
    assert_string_equal(CMD(f, "COMMAND", "COUNT"), count);
    const char *info = CMD(f, "INFO", "stats");
    assert_non_null(strstr(info, "# Stats\r\n"));
    assert_non_null(strstr(info, "total_commands_processed:"));
    assert_null(strstr(info, "# Storage"));
    /* No gossip core: the node is its only member. */
    const char *m = CMD(f, "MEMBERS");
    assert_memory_equal(m, "*1\r\n", 4);
    fx_free(f);
}

/* sync=always on a temp-dir store: a SET answered +OK is in the log. */
static void test_set_on_a_disk_store_with_sync_always_is_durable_at_reply(void **state)
{
    (void)state;
    struct fx *f = fx_new(true, NULL);
    struct store_stats st;
    store_stats(f->n.store, &st);
    uint64_t before = st.log_records;
    assert_string_equal(CMD(f, "SET", "k", "durable"), "+OK\r\n");
    store_stats(f->n.store, &st);
    assert_true(st.log_enabled);
    /* The SET's record, and an HLC lease record too when the clock passed
     * the lease taken at open (a slow machine): at least one. */
    assert_true(st.log_records >= before + 1);
    assert_int_equal(st.log_durable_bytes, st.log_bytes);
    const char *v = CMD(f, "VERSION", "k");
    assert_non_null(strstr(v, "hlc"));
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_ping_echo_and_case_insensitive_names),
        cmocka_unit_test(test_dispatch_unknown_command_is_named_and_counted),
        cmocka_unit_test(test_dispatch_wrong_argument_counts_answer_redis_errors),
        cmocka_unit_test(test_auth_gates_every_command_but_auth_hello_quit),
        cmocka_unit_test(test_auth_admin_commands_need_the_admin_user),
        cmocka_unit_test(test_protected_mode_refuses_a_network_listener_without_password),
        cmocka_unit_test(test_pipelined_commands_answer_in_order_in_one_feed),
        cmocka_unit_test(test_pipelined_commands_split_at_every_byte_answer_the_same),
        cmocka_unit_test(test_quit_answers_ok_and_ignores_what_follows),
        cmocka_unit_test(test_protocol_error_is_answered_counted_and_closes),
        cmocka_unit_test(test_unauthenticated_request_over_its_small_limit_is_refused),
        cmocka_unit_test(test_reply_over_the_output_limit_is_cut_while_built),
        cmocka_unit_test(test_strings_family),
        cmocka_unit_test(test_keyspace_family),
        cmocka_unit_test(test_server_family),
        cmocka_unit_test(test_set_on_a_disk_store_with_sync_always_is_durable_at_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
