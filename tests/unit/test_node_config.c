/*
 * test_node_config.c: `gossipkv serve` settings (node/config.c) and address
 * text (node/addr.c): flags over a file, redis.conf syntax, sizes, refusals
 * with messages that name the problem, IPv6 brackets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/errors.h"
#include "node/addr.h"
#include "node/config.h"

static char g_dir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults_match_the_docs(void **state)
{
    (void)state;
    struct node_config c;
    node_config_defaults(&c);
    assert_string_equal(c.gossip_addr, "127.0.0.1:7946");
    assert_string_equal(c.client_addr, "127.0.0.1:7379");
    assert_string_equal(c.data_dir, "./gossipkv-data");
    assert_int_equal(c.sync, STORE_SYNC_BATCH);
    assert_int_equal(c.maxclients, 10000);
    assert_int_equal(c.timeout_s, 0);
    char err[256];
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.advertise_addr, "127.0.0.1:7946");
    assert_non_null(strstr(c.name, ":7946")); /* hostname:gossip-port */
}

/* The Lifeguard switch and the reconnect period (docs/GOSSIP.md). */
static void test_lifeguard_and_reconnect_interval_options(void **state)
{
    (void)state;
    struct node_config c;
    node_config_defaults(&c);
    assert_true(c.lifeguard);
    assert_int_equal(c.reconnect_interval_ms, 0); /* the core's 2000 */
    char err[256];
    assert_int_equal(node_config_set(&c, "lifeguard", "no", err, sizeof(err)), 0);
    assert_false(c.lifeguard);
    assert_int_equal(node_config_set(&c, "reconnect-interval-ms", "500", err, sizeof(err)), 0);
    assert_int_equal(c.reconnect_interval_ms, 500);
    assert_int_not_equal(node_config_set(&c, "lifeguard", "maybe", err, sizeof(err)), 0);
    char out[32];
    assert_true(node_config_get(&c, "lifeguard", out, sizeof(out)));
    assert_string_equal(out, "no");
}

static void test_sizes_use_redis_units(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(node_config_parse_bytes("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(node_config_parse_bytes("1k", &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(node_config_parse_bytes("1kb", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(node_config_parse_bytes("64MB", &v), 0);
    assert_int_equal(v, 64ull * 1024 * 1024);
    assert_int_equal(node_config_parse_bytes("2gb", &v), 0);
    assert_int_equal(v, 2ull * 1024 * 1024 * 1024);
    assert_int_not_equal(node_config_parse_bytes("-1", &v), 0);
    assert_int_not_equal(node_config_parse_bytes("12x", &v), 0);
    assert_int_not_equal(node_config_parse_bytes("", &v), 0);
    assert_int_not_equal(node_config_parse_bytes("99999999999999999999gb", &v), 0);
    /* a 32-bit size option takes units and refuses what does not fit */
    struct node_config c;
    char err[256];
    node_config_defaults(&c);
    assert_int_equal(c.repair_bytes_per_tick, 0); /* the core's default */
    assert_int_equal(node_config_set(&c, "repair-bytes-per-tick", "512kb", err, sizeof(err)), 0);
    assert_int_equal(c.repair_bytes_per_tick, 512u * 1024u);
    assert_int_equal(node_config_set(&c, "repair-bytes-per-tick", "8gb", err, sizeof(err)),
                     GKV_EINVAL);
    /* huge-pages: values (default), none, all; anything else is refused */
    assert_int_equal(c.pages, STORE_PAGES_VALUES);
    assert_int_equal(node_config_set(&c, "huge-pages", "none", err, sizeof(err)), 0);
    assert_int_equal(c.pages, STORE_PAGES_NONE);
    assert_int_equal(node_config_set(&c, "huge-pages", "ALL", err, sizeof(err)), 0);
    assert_int_equal(c.pages, STORE_PAGES_ALL);
    assert_int_equal(node_config_set(&c, "huge-pages", "yes", err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "values, none or all"));
    /* no-read-cache: off by default */
    assert_false(c.no_read_cache);
    assert_int_equal(node_config_set(&c, "no-read-cache", "yes", err, sizeof(err)), 0);
    assert_true(c.no_read_cache);
    assert_int_equal(node_config_set(&c, "no-read-cache", "maybe", err, sizeof(err)), GKV_EINVAL);
}

static void test_flags_override_the_file_and_join_accumulates(void **state)
{
    (void)state;
    const char *path = write_file("a.conf", "# comment\n"
                                            "name \"node one\"   # trailing comment\n"
                                            "client 127.0.0.1:9000\n"
                                            "join 10.0.0.1:7946,10.0.0.2:7946\n"
                                            "sync always\n"
                                            "insecure\n"
                                            "maxclients 50\n"
                                            "\n");
    char cfgarg[160];
    snprintf(cfgarg, sizeof(cfgarg), "--config=%s", path);
    char *argv[] = {"serve", "--name", "flagname", cfgarg, "--join", "[::1]:7000",
                    "--timeout=30", "--client-output-buffer-limit", "1mb"};
    struct node_config c;
    node_config_defaults(&c);
    char err[256] = "";
    assert_int_equal(node_config_from_args(&c, 9, argv, err, sizeof(err)), 0);
    assert_string_equal(c.name, "flagname");
    assert_string_equal(c.client_addr, "127.0.0.1:9000");
    assert_int_equal(c.join_count, 3);
    assert_string_equal(c.join[2], "[::1]:7000");
    assert_int_equal(c.sync, STORE_SYNC_ALWAYS);
    assert_true(c.insecure);
    assert_int_equal(c.maxclients, 50);
    assert_int_equal(c.timeout_s, 30);
    assert_int_equal(c.client_output_buffer_limit_bytes, 1024 * 1024);
    char v[64];
    assert_true(node_config_get(&c, "sync", v, sizeof(v)));
    assert_string_equal(v, "always");
    assert_true(node_config_get(&c, "maxclients", v, sizeof(v)));
    assert_string_equal(v, "50");
    assert_false(node_config_get(&c, "nosuch", v, sizeof(v)));
}

static void test_bad_settings_are_refused_with_a_message(void **state)
{
    (void)state;
    struct node_config c;
    char err[256];
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "sync", "sometimes", err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "none, batch or always"));
    assert_int_equal(node_config_set(&c, "gossip", "localhost", err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "HOST:PORT"));
    assert_int_equal(node_config_set(&c, "gossip", "::1:7946", err, sizeof(err)), GKV_EINVAL);
    assert_int_equal(node_config_set(&c, "bogus", "1", err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "unknown setting 'bogus'"));
    assert_int_equal(node_config_set(&c, "maxclients", "5000000000", err, sizeof(err)), GKV_EINVAL);
    const char *path = write_file("b.conf", "name ok\nlog-level loud\n");
    assert_int_equal(node_config_load_file(&c, path, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "b.conf:2: log-level"));
    path = write_file("c.conf", "name \"unterminated\n");
    assert_int_equal(node_config_load_file(&c, path, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "c.conf:1: unbalanced quotes"));
    node_config_defaults(&c);
    c.max_value_bytes = 2 * 1024 * 1024;
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    node_config_defaults(&c);
    snprintf(c.gossip_addr, sizeof(c.gossip_addr), "0.0.0.0:7946");
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "--advertise"));
    char *argv[] = {"serve", "--name"};
    node_config_defaults(&c);
    assert_int_equal(node_config_from_args(&c, 2, argv, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "needs a value"));
}

/* Protected mode: clients on the network need requirepass or an explicit
 * protected-mode no; --insecure gossip on the network needs
 * insecure-network. CONFIG GET never shows a password. */
static void test_protected_mode_and_insecure_network(void **state)
{
    (void)state;
    struct node_config c;
    char err[512], v[64];
    node_config_defaults(&c);
    assert_true(c.protected_mode);
    snprintf(c.client_addr, sizeof(c.client_addr), "0.0.0.0:7379");
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "set requirepass"));
    assert_non_null(strstr(err, "protected-mode no"));
    assert_int_equal(node_config_set(&c, "requirepass", "pw", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
    assert_true(node_config_get(&c, "requirepass", v, sizeof(v)));
    assert_string_equal(v, "(hidden)");
    node_config_defaults(&c);
    snprintf(c.client_addr, sizeof(c.client_addr), "[::]:7379");
    assert_int_equal(node_config_set(&c, "protected-mode", "no", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
    assert_true(node_config_get(&c, "requirepass", v, sizeof(v)));
    assert_string_equal(v, "");
    node_config_defaults(&c);
    snprintf(c.client_addr, sizeof(c.client_addr), "[::1]:7379");
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
    snprintf(c.client_addr, sizeof(c.client_addr), "127.3.4.5:7379");
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
    snprintf(c.client_addr, sizeof(c.client_addr), "example.com:7379");
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    node_config_defaults(&c);
    c.insecure = true;
    snprintf(c.gossip_addr, sizeof(c.gossip_addr), "10.0.0.1:7946");
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "--insecure-network"));
    assert_int_equal(node_config_set(&c, "insecure-network", "yes", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
}

/* A sync stream's queue goes to libuv as one buffer of unsigned int length:
 * a limit past 4 GiB would truncate the write and corrupt the stream. */
static void test_stream_buffer_limit_is_bounded_below_a_libuv_buffer(void **state)
{
    (void)state;
    struct node_config c;
    char err[256];
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "stream-buffer-limit", "5gb", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "stream-buffer-limit"));
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "stream-buffer-limit", "1kb", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "stream-buffer-limit", "1gb", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
}

/* The guards on accepted sync streams (node/cluster.c) have bounded
 * settings: no way to turn the deadline or the per-host cap off. */
static void test_stream_guard_settings_are_bounded(void **state)
{
    (void)state;
    struct node_config c;
    char err[256];
    node_config_defaults(&c);
    assert_int_equal(c.stream_auth_timeout_ms, 2000);
    assert_int_equal(c.stream_max_per_addr, 32);
    assert_int_equal(node_config_set(&c, "stream-max-per-addr", "0", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "stream-max-per-addr"));
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "stream-auth-timeout-ms", "0", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "stream-auth-timeout-ms"));
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "stream-auth-timeout-ms", "500", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
}

static void test_metrics_and_log_format_settings(void **state)
{
    (void)state;
    struct node_config c;
    char err[256];
    node_config_defaults(&c);
    assert_string_equal(c.metrics_addr, "");
    assert_int_equal(c.metrics_max_connections, 16);
    assert_string_equal(c.log_format, "text");
    assert_int_equal(node_config_set(&c, "metrics", "127.0.0.1:9121", err, sizeof(err)), 0);
    assert_int_equal(node_config_set(&c, "log-format", "json", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(node_config_set(&c, "metrics", "no-port", err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "metrics"));
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "log-format", "xml", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "log-format: expected text or json"));
    node_config_defaults(&c);
    assert_int_equal(node_config_set(&c, "metrics-max-connections", "0", err, sizeof(err)), 0);
    assert_int_equal(node_config_finish(&c, err, sizeof(err)), GKV_EINVAL);
    assert_non_null(strstr(err, "metrics-max-connections"));
}

static void test_too_many_seeds_are_refused(void **state)
{
    (void)state;
    struct node_config c;
    char err[256];
    node_config_defaults(&c);
    for (unsigned i = 0; i < NODE_MAX_SEEDS; i++) {
        char a[32];
        snprintf(a, sizeof(a), "10.0.0.%u:7946", i + 1);
        assert_int_equal(node_config_set(&c, "join", a, err, sizeof(err)), 0);
    }
    assert_int_equal(node_config_set(&c, "join", "10.9.9.9:1", err, sizeof(err)), GKV_EINVAL);
}

static void test_addresses_round_trip_in_canonical_text(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char text[NODE_ADDR_TEXT_MAX];
    assert_int_equal(node_addr_parse("127.0.0.1:7946", &ss), 0);
    assert_int_equal(node_addr_format((struct sockaddr *)&ss, text, sizeof(text)), 0);
    assert_string_equal(text, "127.0.0.1:7946");
    assert_int_equal(node_addr_parse("[::1]:80", &ss), 0);
    node_addr_format((struct sockaddr *)&ss, text, sizeof(text));
    assert_string_equal(text, "[::1]:80");
    assert_int_equal(node_addr_parse("[0:0::1]:80", &ss), 0);
    node_addr_format((struct sockaddr *)&ss, text, sizeof(text));
    assert_string_equal(text, "[::1]:80"); /* one peer, one string */
    assert_int_not_equal(node_addr_parse("localhost:80", &ss), 0); /* numeric only */
    assert_int_not_equal(node_addr_parse("1.2.3.4:70000", &ss), 0);
    assert_int_not_equal(node_addr_parse("1.2.3.4:", &ss), 0);
    assert_int_not_equal(node_addr_parse("[::1]80", &ss), 0);
    assert_int_equal(node_addr_resolve("localhost:80", &ss), 0); /* names at start only */
    char host[64];
    int port;
    assert_int_equal(node_addr_split("[fe80::1]:7", host, sizeof(host), &port), 0);
    assert_string_equal(host, "fe80::1");
    assert_int_equal(port, 7);
}

int main(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/gkv-test-config.XXXXXX");
    if (!mkdtemp(g_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_the_docs),
        cmocka_unit_test(test_lifeguard_and_reconnect_interval_options),
        cmocka_unit_test(test_sizes_use_redis_units),
        cmocka_unit_test(test_flags_override_the_file_and_join_accumulates),
        cmocka_unit_test(test_bad_settings_are_refused_with_a_message),
        cmocka_unit_test(test_protected_mode_and_insecure_network),
        cmocka_unit_test(test_stream_buffer_limit_is_bounded_below_a_libuv_buffer),
        cmocka_unit_test(test_stream_guard_settings_are_bounded),
        cmocka_unit_test(test_metrics_and_log_format_settings),
        cmocka_unit_test(test_too_many_seeds_are_refused),
        cmocka_unit_test(test_addresses_round_trip_in_canonical_text),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
}
