/*
 * Crash test: a forked child writes with sync=always and reports every
 * acknowledged put (after store_put returned) through a pipe; the parent
 * SIGKILLs it at a random moment, reopens the directory and checks that it
 * opens, that every slot verifies (store_inspect after recovery), and that
 * every acknowledged key holds the acknowledged version or the one write
 * after it that may have been in flight. The directory carries over from
 * round to round and starts at 16 slots, so many kills land inside an
 * incremental doubling (counted and printed); every fifth round the child
 * SIGKILLs itself as soon as a doubling is under way.
 *
 * GKV_SEED=<n> replays a run; GKV_CRASH_ROUNDS=<n> changes the round count
 * (default 200).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "common/rng.h"
#include "test_store_util.h"

#define MAX_KEYS (1u << 20)

struct ack {
    uint32_t id, version;
};

static size_t value_len_of(uint64_t id, uint64_t version)
{
    return 20 + (size_t)((id * 7 + version * 13) % 180);
}

/* Parse the version out of a value made by test_value ("<id>:<version>:..."). */
static uint64_t version_of(const struct entry *e, uint64_t id)
{
    char buf[64];
    size_t n = e->value_len < sizeof buf - 1 ? e->value_len : sizeof buf - 1;
    memcpy(buf, e->value, n);
    buf[n] = 0;
    char *p = NULL;
    if (strtoull(buf, &p, 10) != id || *p != ':')
        return UINT64_MAX;
    return strtoull(p + 1, NULL, 10);
}

static void child_run(const char *dir, uint64_t seed, uint32_t next_id, int fd, enum store_sync mode,
                      uint32_t key_cap, bool self_kill)
{
    struct gkv_rng rng;
    gkv_rng_seed(&rng, seed);
    struct store_config cfg;
    test_cfg(&cfg, dir, 16);
    cfg.sync = mode;
    struct store *s = NULL;
    if (store_open(&cfg, TEST_NOW_MS, &s, NULL, 0) != 0)
        _exit(3);
    struct ack opened = {UINT32_MAX, 0}; /* tells the parent the open is done */
    if (write(fd, &opened, sizeof opened) != sizeof opened)
        _exit(6);
    char k[32], v[256];
    uint64_t now = TEST_NOW_MS;
    unsigned self_kill_puts = 0;
    for (;;) {
        uint32_t id;
        if (next_id == 0 || (next_id < key_cap && gkv_rng_below(&rng, 10) < 6))
            id = next_id++;
        else
            id = (uint32_t)gkv_rng_below(&rng, next_id);
        if (id >= MAX_KEYS)
            _exit(4);
        size_t kl = test_key(k, sizeof k, id);
        struct entry e;
        uint64_t ver = 1;
        if (store_get(s, k, kl, &e) == 0)
            ver = version_of(&e, id) + 1;
        size_t vl = test_value(v, sizeof v, id, ver, value_len_of(id, ver));
        if (store_put(s, k, kl, v, vl, ++now, NULL) != 0)
            _exit(5);
        struct ack a = {id, (uint32_t)ver};
        if (write(fd, &a, sizeof a) != sizeof a)
            _exit(6);
        if (gkv_rng_below(&rng, 64) == 0)
            store_tick(s, now);
        if (self_kill) {
            /* This round dies on its own as soon as a doubling is under way
             * (or after 400 puts), so some kills surely land mid-growth. */
            struct store_stats st;
            store_stats(s, &st);
            if (st.growing || ++self_kill_puts >= 400)
                raise(SIGKILL);
        }
    }
}

static void crash_rounds(enum store_sync mode, int rounds_default, uint32_t key_cap, long open_kill_us,
                         long kill_us)
{
    uint64_t seed = test_seed((uint64_t)20260101);
    const char *r_env = getenv("GKV_CRASH_ROUNDS");
    int rounds = r_env ? atoi(r_env) : rounds_default;
    printf("seed %" PRIu64 ", %d rounds, sync=%s\n", seed, rounds,
           mode == STORE_SYNC_ALWAYS ? "always" : "none");
    struct gkv_rng rng;
    gkv_rng_seed(&rng, seed);
    char dir[64];
    test_mkdtemp(dir, sizeof dir);
    uint32_t *acked = calloc(MAX_KEYS, sizeof *acked);
    uint32_t next_id = 0;
    uint64_t total_acks = 0, verified = 0, during_growth = 0, recovered = 0, max_cap = 0;
    uint64_t newer_than_ack = 0;
    FILE *devnull = fopen("/dev/null", "w");
    for (int round = 0; round < rounds; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_run(dir, seed ^ ((uint64_t)round * 0x9e3779b97f4a7c15ull), next_id, p[1], mode,
                      key_cap, round % 5 == 4);
            _exit(7);
        }
        close(p[1]);
        /* One round in 8: kill 0..40 ms after the fork, which often lands
         * inside the open and its recovery. Otherwise wait for the open to
         * finish, then kill 0..60 ms later (each put costs a few msyncs). */
        struct ack a;
        uint64_t acks = 0;
        ssize_t n;
        bool during_open = gkv_rng_below(&rng, 8) == 0;
        uint64_t delay_us = gkv_rng_below(&rng, (uint64_t)(during_open ? open_kill_us : kill_us));
        if (round % 5 != 4) { /* (every fifth round the child kills itself) */
            if (!during_open) {
                n = read(p[0], &a, sizeof a);
                assert_true(n == sizeof a && a.id == UINT32_MAX);
            }
            struct timespec ts = {0, (long)delay_us * 1000};
            nanosleep(&ts, NULL);
            kill(pid, SIGKILL);
        }
        while ((n = read(p[0], &a, sizeof a)) == sizeof a) {
            if (a.id == UINT32_MAX)
                continue;
            assert_true(a.id < MAX_KEYS);
            if (a.version > acked[a.id])
                acked[a.id] = a.version;
            if (a.id >= next_id)
                next_id = a.id + 1;
            acks++;
        }
        close(p[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("round %d: child exited with status %d, not by SIGKILL", round,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        total_acks += acks;

        /* The directory must open (recovering) with every acknowledged key. */
        struct store_config cfg;
        test_cfg(&cfg, dir, 16);
        struct store *s = NULL;
        char err[STORE_OPEN_ERR_BYTES] = "";
        int rc = store_open(&cfg, TEST_NOW_MS, &s, err, sizeof err);
        if (rc != 0)
            fail_msg("round %d (seed %" PRIu64 "): reopen failed: %s", round, seed, err);
        struct store_stats st;
        store_stats(s, &st);
        if (st.growing)
            during_growth++;
        if (st.recovered)
            recovered++;
        if (st.capacity > max_cap)
            max_cap = st.capacity;
        char k[32], v[256];
        for (uint32_t id = 0; id < next_id; id++) {
            if (acked[id] == 0)
                continue;
            size_t kl = test_key(k, sizeof k, id);
            struct entry e;
            if (store_get(s, k, kl, &e) != 0)
                fail_msg("round %d (seed %" PRIu64 "): acknowledged key %s (v%u) is missing", round,
                         seed, k, acked[id]);
            uint64_t ver = version_of(&e, id);
            /* the acknowledged version, or one later write still unacked */
            if (ver != acked[id] && ver != (uint64_t)acked[id] + 1)
                fail_msg("round %d (seed %" PRIu64 "): key %s holds v%" PRIu64 ", acked v%u", round,
                         seed, k, ver, acked[id]);
            if (ver != acked[id]) {
                newer_than_ack++;
                acked[id] = (uint32_t)ver; /* durable now: the floor for later rounds */
            }
            size_t vl = test_value(v, sizeof v, id, ver, value_len_of(id, ver));
            assert_int_equal(e.value_len, vl);
            assert_memory_equal(e.value, v, vl);
            verified++;
        }
        assert_int_equal(store_close(s), 0);
        /* after recovery every slot and record verifies */
        rc = store_inspect(dir, false, devnull);
        if (rc != 0) {
            store_inspect(dir, false, stdout);
            fail_msg("round %d: inspect after recovery: %s", round, gkv_errname(rc));
        }
    }
    printf("crash test: %d rounds, %" PRIu64 " acknowledged puts, %" PRIu64
           " key checks passed, %" PRIu64 " keys, final capacity %" PRIu64 "\n",
           rounds, total_acks, verified, (uint64_t)next_id, max_cap);
    printf("crash test: %" PRIu64 " kills landed during a doubling, %" PRIu64
           " reopens recovered an unclean shutdown, %" PRIu64
           " keys held an unacknowledged newer write\n",
           during_growth, recovered, newer_than_ack);
    /* How many kills land mid-doubling depends on timing, so it is printed,
     * not asserted; the self-kill rounds make it practically certain. */
    fclose(devnull);
    free(acked);
    test_rmrf(dir);
}

/* sync=always: every acknowledged put has been msynced (record, then slot).
 * Puts cost a few msyncs each, so rounds are short in puts. */
static void test_store_survives_sigkill_at_random_moments(void **state)
{
    (void)state;
    crash_rounds(STORE_SYNC_ALWAYS, 200, MAX_KEYS, 40000, 60000);
}

/* sync=none: the same check for process crashes only (the page cache keeps
 * what was stored to the mapping), with puts at full speed, so kills land
 * anywhere inside a put, a slot write or a migration step. */
static void test_store_survives_sigkill_at_full_speed(void **state)
{
    (void)state;
    crash_rounds(STORE_SYNC_NONE, 100, 4000, 20000, 4000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_survives_sigkill_at_random_moments),
        cmocka_unit_test(test_store_survives_sigkill_at_full_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
