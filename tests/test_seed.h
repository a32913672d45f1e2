/*
 * tests/test_seed.h: the seed of a randomized test, one way everywhere.
 *
 * GKV_SEED=<n> (decimal or 0x-hex) replays a run; unset, each test uses its
 * own fixed default, so a plain run is deterministic. A malformed value is
 * reported and ignored rather than silently read as 0. Header-only (static
 * functions) so unit tests, the simulator and benchmarks can share it
 * without a library.
 */
#ifndef GKV_TESTS_TEST_SEED_H
#define GKV_TESTS_TEST_SEED_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* GKV_SEED if set and well formed, else default_seed; prints nothing. */
static inline uint64_t gkv_test_seed_quiet(uint64_t default_seed)
{
    const char *env = getenv("GKV_SEED");
    if (!env || !*env)
        return default_seed;
    char *end = NULL;
    unsigned long long v = strtoull(env, &end, 0);
    if (end && *end == '\0')
        return (uint64_t)v;
    fprintf(stderr, "ignoring malformed GKV_SEED=%s\n", env);
    return default_seed;
}

/* The same, printed with the command that replays it:
 * "<name>: seed=<n> (replay: GKV_SEED=<n> build/release/tests/<name>)". */
static inline uint64_t gkv_test_seed(const char *name, uint64_t default_seed)
{
    uint64_t seed = gkv_test_seed_quiet(default_seed);
    printf("%s: seed=%" PRIu64 " (replay: GKV_SEED=%" PRIu64 " build/release/tests/%s)\n", name,
           seed, seed, name);
    fflush(stdout);
    return seed;
}

#endif
