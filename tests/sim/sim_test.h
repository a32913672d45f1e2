/*
 * sim_test.h: glue between the simulator and cmocka for tests/sim/test_*.c.
 *
 * Each test calls sim_test_begin() with its executable name and default seed:
 * the seed is printed with the command that replays it, and GKV_SEED
 * overrides it. SIM_ASSERT() fails the cmocka test and prints that command
 * again on the line before the failure, so a red CI log always says how to
 * replay the run. Header-only: the benches link sim.c without cmocka.
 */
#ifndef GKV_TESTS_SIM_TEST_H
#define GKV_TESTS_SIM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "tests/sim/sim.h"

static const char *sim_test_name_ = "test_sim";
static uint64_t sim_test_seed_;

static inline uint64_t sim_test_begin(const char *name, uint64_t default_seed)
{
    sim_test_name_ = name;
    sim_test_seed_ = sim_seed_from_env(name, default_seed);
    return sim_test_seed_;
}

/* Fail with a message and the replay command. */
#define SIM_ASSERT_MSG(cond, ...)                                                                  \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            sim_print_replay(sim_test_name_, sim_test_seed_);                                      \
            fail_msg(__VA_ARGS__);                                                                 \
        }                                                                                          \
    } while (0)

#define SIM_ASSERT(cond) SIM_ASSERT_MSG(cond, "%s", #cond)

/* Assert a call returned 0. */
#define SIM_OK(call)                                                                               \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        SIM_ASSERT_MSG(rc_ == 0, "%s returned %d", #call, rc_);                                    \
    } while (0)

/* Does got hold the same version as want (HLC, origin, tombstone, value,
 * expiry)? The vector clocks may differ (merged from different losers). */
static inline bool sim_test_same_version(const struct entry *got, const struct entry *want)
{
    return got->hlc == want->hlc && got->origin == want->origin &&
           entry_is_tombstone(got) == entry_is_tombstone(want) &&
           got->expire_ms == want->expire_ms && got->value_len == want->value_len &&
           (want->value_len == 0 || memcmp(got->value, want->value, want->value_len) == 0);
}

/* Predicate for sim_run_until: every up node sees every up node alive. */
static inline bool sim_test_all_alive(struct sim *s, void *arg)
{
    (void)arg;
    return sim_all_see_up_alive(s);
}

/* The common start of a scenario: create the cluster from cfg, join every
 * node through node 0, and run until all see all alive within the join
 * bound the configuration implies (docs/SIMULATOR.md); fails the test
 * otherwise. */
static inline struct sim *sim_test_form_cluster(const struct sim_config *cfg)
{
    struct sim *s = NULL;
    SIM_OK(sim_new(cfg, &s));
    SIM_OK(sim_join_all(s, 0));
    SIM_ASSERT_MSG(sim_run_until(s, sim_test_all_alive, NULL, sim_join_bound_ms(cfg)),
                   "cluster did not form");
    return s;
}

#endif
