/*
 * test_gossip_nomem.c: the gossip core when malloc fails. This executable is
 * linked with -Wl,--wrap=malloc (tests/CMakeLists.txt), so every malloc the
 * core makes goes through __wrap_malloc, which fails while g_fail_malloc is
 * set and otherwise calls the real allocator (ASan's, in the asan build).
 * A real store (anonymous memory), the real codec and the real envelope.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "gossip/gossip.h"
#include "gossip/seal.h"
#include "storage/store.h"

#define T_START_MS 1700000000000ull /* a plausible Unix time for the HLC */

static bool g_fail_malloc;
static uint64_t g_failed;

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_malloc(size_t size)
{
    if (g_fail_malloc) {
        g_failed++;
        return NULL;
    }
    return __real_malloc(size);
}

static void io_send(void *data, const char *addr, const uint8_t *buf, size_t len)
{
    (void)data, (void)addr, (void)buf, (void)len;
}

/* A local write whose delta cannot be allocated is counted (INFO
 * deltas_dropped_nomem), not lost silently; the next write queues again. */
static void test_local_write_delta_dropped_for_enomem_is_counted(void **state)
{
    (void)state;
    struct store_config sc;
    store_config_init(&sc);
    sc.dir = NULL;
    sc.node_id = 7;
    sc.initial_capacity = 1024;
    struct store *st = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    assert_int_equal(store_open(&sc, T_START_MS, &st, err, sizeof err), 0);
    struct seal_ctx *seal = NULL;
    assert_int_equal(seal_ctx_new(NULL, "nomem", 7, 1, &seal), 0);
    struct gossip_config cfg;
    gossip_config_init(&cfg);
    cfg.name = "n7";
    cfg.addr = "10.0.0.7:7946";
    cfg.node_id = 7;
    cfg.epoch = 1;
    cfg.seed = 1;
    struct gossip_io io = {NULL, io_send, NULL, NULL, NULL};
    struct gossip *g = NULL;
    assert_int_equal(gossip_new(&cfg, st, seal, &io, T_START_MS, &g), 0);

    struct entry e;
    memset(&e, 0, sizeof(e));
    e.key = (const uint8_t *)"k1";
    e.key_len = 2;
    e.value = (const uint8_t *)"v";
    e.value_len = 1;
    e.hlc = (T_START_MS << 16) | 1;
    e.origin = 7;

    g_fail_malloc = true;
    (void)gossip_local_write(g, &e, T_START_MS);
    g_fail_malloc = false;
    assert_true(g_failed > 0);
    struct gossip_stats s;
    gossip_stats(g, &s);
    assert_int_equal(s.deltas_dropped_nomem, 1);
    assert_int_equal(s.queued_deltas, 0);

    e.key = (const uint8_t *)"k2";
    assert_int_equal(gossip_local_write(g, &e, T_START_MS), 0);
    gossip_stats(g, &s);
    assert_int_equal(s.deltas_dropped_nomem, 1);
    assert_int_equal(s.queued_deltas, 1);

    gossip_free(g);
    seal_ctx_free(seal);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_write_delta_dropped_for_enomem_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
