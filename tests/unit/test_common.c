/* Unit tests for common/: the error table and the seeded PRNG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "common/rng.h"

static void test_strerror_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(gkv_strerror(GKV_OK), "success");
    assert_string_equal(gkv_strerror(GKV_ECLOCK), "remote clock too far ahead");
    assert_string_equal(gkv_errname(GKV_EREPLAY), "GKV_EREPLAY");
    assert_string_equal(gkv_strerror(-9999), "unknown error");
    /* Codes are unique: every defined code maps back to its own name. */
#define CHECK_UNIQUE(name, value, text) assert_string_equal(gkv_errname(value), #name);
    GKV_ERRORS(CHECK_UNIQUE)
#undef CHECK_UNIQUE
}

static void test_rng_same_seed_same_sequence(void **state)
{
    (void)state;
    struct gkv_rng a, b, c;
    gkv_rng_seed(&a, 42);
    gkv_rng_seed(&b, 42);
    gkv_rng_seed(&c, 43);
    int differs = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = gkv_rng_next(&a);
        assert_int_equal(x, gkv_rng_next(&b));
        differs |= x != gkv_rng_next(&c);
    }
    assert_true(differs);
}

static void test_rng_below_stays_in_range_and_covers_it(void **state)
{
    (void)state;
    struct gkv_rng r;
    gkv_rng_seed(&r, 7);
    unsigned seen[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t v = gkv_rng_below(&r, 10);
        assert_true(v < 10);
        seen[v]++;
    }
    /* Each of 10 values expected 1000 times; a fair generator stays well
     * inside [800, 1200] (over 6 standard deviations). */
    for (int i = 0; i < 10; i++) {
        assert_true(seen[i] > 800);
        assert_true(seen[i] < 1200);
    }
    for (int i = 0; i < 1000; i++) {
        double d = gkv_rng_double(&r);
        assert_true(d >= 0.0 && d < 1.0);
    }
    assert_int_equal(gkv_rng_below(&r, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_rng_same_seed_same_sequence),
        cmocka_unit_test(test_rng_below_stays_in_range_and_covers_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
