/*
 * Unit tests for reading a key file (node/keyfile.c): the file is opened
 * once and checked on that descriptor (mode, type, size), then its text goes
 * to gossip/'s parser. Each file is loaded the way node/ loads it at start
 * and on SIGHUP: node_keyfile_read, then seal_keyring_replace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "gossip/seal.h"
#include "node/keyfile.h"

/* A deterministic test key per tag. */
static void key_make(uint8_t key[SEAL_KEY_BYTES], uint32_t tag)
{
    crypto_generichash(key, SEAL_KEY_BYTES, (const uint8_t *)&tag, sizeof(tag), NULL, 0);
}

/* What node_keys_load does: read the file, make the ring hold its keys.
 * All or nothing: on error kr is unchanged. */
static int load_file(struct seal_keyring *kr, const char *path, char *err, size_t err_len)
{
    uint8_t *keys = sodium_malloc(SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
    assert_non_null(keys);
    uint32_t n = 0;
    int rc = node_keyfile_read(path, keys, &n, err, err_len);
    if (rc == 0)
        rc = seal_keyring_replace(kr, keys, n);
    sodium_free(keys);
    return rc;
}

struct tmpdir {
    char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
    snprintf(d->path, sizeof(d->path), "/tmp/gkv-test-keyfile-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void tmpdir_remove(struct tmpdir *d, const char *file)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", d->path, file);
    unlink(p);
    rmdir(d->path);
}

static const char *write_file(struct tmpdir *d, const char *name, const char *text, mode_t mode)
{
    static char p[128];
    snprintf(p, sizeof(p), "%s/%s", d->path, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0); /* exact mode, whatever the umask */
    close(fd);
    return p;
}

static void key_b64(const uint8_t key[SEAL_KEY_BYTES], char out[SEAL_KEY_B64_BYTES])
{
    sodium_bin2base64(out, SEAL_KEY_B64_BYTES, key, SEAL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
}

static void test_keyfile_good_file_with_comments_loads_first_as_primary(void **state)
{
    (void)state;
    uint8_t k1[SEAL_KEY_BYTES], k2[SEAL_KEY_BYTES];
    key_make(k1, 400);
    key_make(k2, 401);
    char b1[SEAL_KEY_B64_BYTES], b2[SEAL_KEY_B64_BYTES];
    key_b64(k1, b1);
    key_b64(k2, b2);
    char text[512];
    snprintf(text, sizeof(text),
             "# gossipkv keys: the first is the primary\n\n   %s  \r\n# old key, remove after "
             "rotation\n\t%s\n\n",
             b1, b2);
    struct tmpdir d;
    tmpdir_make(&d);
    const char *path = write_file(&d, "keys", text, 0600);
    struct seal_keyring *kr;
    assert_int_equal(seal_keyring_new(&kr), 0);
    char err[256] = "untouched";
    assert_int_equal(load_file(kr, path, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(seal_keyring_count(kr), 2);
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t id;
        bool primary;
        assert_int_equal(seal_keyring_entry(kr, i, &id, &primary), 0);
        assert_true(id == seal_key_id(k1) || id == seal_key_id(k2));
        assert_int_equal(primary, id == seal_key_id(k1));
    }
    seal_keyring_free(kr);
    tmpdir_remove(&d, "keys");
}

static void test_keyfile_group_or_world_readable_is_refused_with_chmod_hint(void **state)
{
    (void)state;
    uint8_t k[SEAL_KEY_BYTES];
    key_make(k, 402);
    char b[SEAL_KEY_B64_BYTES], text[128];
    key_b64(k, b);
    snprintf(text, sizeof(text), "%s\n", b);
    struct tmpdir d;
    tmpdir_make(&d);
    const mode_t modes[] = {0644, 0640, 0604, 0660, 0602};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const char *path = write_file(&d, "keys", text, modes[i]);
        struct seal_keyring *kr;
        assert_int_equal(seal_keyring_new(&kr), 0);
        char err[256] = "";
        assert_int_equal(load_file(kr, path, err, sizeof(err)), GKV_EPERM);
        assert_non_null(strstr(err, "chmod 600"));
        assert_non_null(strstr(err, path));
        assert_int_equal(seal_keyring_count(kr), 0);
        seal_keyring_free(kr);
    }
    /* 0400 is fine. */
    const char *path = write_file(&d, "keys", text, 0400);
    struct seal_keyring *kr;
    assert_int_equal(seal_keyring_new(&kr), 0);
    assert_int_equal(load_file(kr, path, NULL, 0), 0);
    seal_keyring_free(kr);
    tmpdir_remove(&d, "keys");
}

/* Load text as a 0600 key file; expect rc and an error naming want_in_err. */
static void expect_keyfile_refused(const char *text, int rc, const char *want_in_err)
{
    struct tmpdir d;
    tmpdir_make(&d);
    const char *path = write_file(&d, "keys", text, 0600);
    struct seal_keyring *kr;
    assert_int_equal(seal_keyring_new(&kr), 0);
    char err[256] = "";
    int got = load_file(kr, path, err, sizeof(err));
    if (got != rc || !strstr(err, want_in_err))
        fail_msg("load_file gave %d '%s', want %d and '%s'", got, err, rc, want_in_err);
    assert_int_equal(seal_keyring_count(kr), 0); /* all or nothing */
    seal_keyring_free(kr);
    tmpdir_remove(&d, "keys");
}

static void test_keyfile_malformed_base64_is_refused_with_file_and_line(void **state)
{
    (void)state;
    uint8_t k[SEAL_KEY_BYTES];
    key_make(k, 403);
    char b[SEAL_KEY_B64_BYTES], text[256];
    key_b64(k, b);
    snprintf(text, sizeof(text), "# comment\n%s\nnot*base64*at*all*********************==\n", b);
    expect_keyfile_refused(text, GKV_EKEYFILE, "keys:3: not a base64 key");
    /* URL-safe alphabet is not the original variant. */
    char url[SEAL_KEY_B64_BYTES];
    sodium_bin2base64(url, sizeof(url), k, SEAL_KEY_BYTES, sodium_base64_VARIANT_URLSAFE);
    bool differs = strcmp(url, b) != 0;
    if (differs) {
        snprintf(text, sizeof(text), "%s\n", url);
        expect_keyfile_refused(text, GKV_EKEYFILE, "keys:1: not a base64 key");
    }
    /* Missing padding. */
    snprintf(text, sizeof(text), "%.43s\n", b);
    expect_keyfile_refused(text, GKV_EKEYFILE, "keys:1:");
}

static void test_keyfile_wrong_length_key_is_refused_with_file_and_line(void **state)
{
    (void)state;
    uint8_t raw[48];
    for (int i = 0; i < 48; i++)
        raw[i] = (uint8_t)(i * 5);
    char b[80], text[256];
    sodium_bin2base64(b, sizeof(b), raw, 31, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof(text), "\n\n%s\n", b);
    expect_keyfile_refused(text, GKV_EKEYFILE, "keys:3: key decodes to 31 bytes, want 32");
    sodium_bin2base64(b, sizeof(b), raw, 33, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof(text), "%s\n", b);
    expect_keyfile_refused(text, GKV_EKEYFILE, "keys:1: key decodes to 33 bytes, want 32");
    sodium_bin2base64(b, sizeof(b), raw, 16, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof(text), "%s\n", b);
    expect_keyfile_refused(text, GKV_EKEYFILE, "keys:1: key decodes to 16 bytes");
}

static void test_keyfile_empty_duplicate_or_too_many_keys_is_refused(void **state)
{
    (void)state;
    expect_keyfile_refused("# only comments\n\n", GKV_EKEYFILE, "no keys");
    expect_keyfile_refused("", GKV_EKEYFILE, "no keys");
    char b[6][SEAL_KEY_B64_BYTES];
    for (int i = 0; i < 6; i++) {
        uint8_t k[SEAL_KEY_BYTES];
        key_make(k, 500 + (uint32_t)i);
        key_b64(k, b[i]);
    }
    char text[512];
    snprintf(text, sizeof(text), "%s\n%s\n%s\n", b[0], b[1], b[0]);
    expect_keyfile_refused(text, GKV_EKEYFILE, "keys:3: the same key appears twice");
    snprintf(text, sizeof(text), "%s\n%s\n%s\n%s\n%s\n", b[0], b[1], b[2], b[3], b[4]);
    expect_keyfile_refused(text, GKV_EKEYFILE, "keys:5: more than 4 keys");
}

static void test_keyfile_oversized_file_long_line_or_directory_is_refused(void **state)
{
    (void)state;
    char *big = malloc(70 * 1024 + 1);
    assert_non_null(big);
    memset(big, '#', 70 * 1024);
    big[70 * 1024] = '\0';
    expect_keyfile_refused(big, GKV_EKEYFILE, "larger than 65536 bytes");
    memset(big, 'A', 200);
    big[200] = '\n';
    big[201] = '\0';
    expect_keyfile_refused(big, GKV_EKEYFILE, "keys:1: not a base64 key");
    free(big);
    struct seal_keyring *kr;
    assert_int_equal(seal_keyring_new(&kr), 0);
    char err[256] = "";
    struct tmpdir d;
    tmpdir_make(&d);
    assert_int_equal(chmod(d.path, 0700), 0);
    assert_int_equal(load_file(kr, d.path, err, sizeof(err)), GKV_EKEYFILE);
    assert_non_null(strstr(err, "not a regular file"));
    rmdir(d.path);
    seal_keyring_free(kr);
}

static void test_keyfile_missing_file_is_refused(void **state)
{
    (void)state;
    struct seal_keyring *kr;
    assert_int_equal(seal_keyring_new(&kr), 0);
    char err[256] = "";
    assert_int_equal(
        load_file(kr, "/nonexistent/gossipkv/keys", err, sizeof(err)),
        GKV_EKEYFILE);
    assert_non_null(strstr(err, "/nonexistent/gossipkv/keys"));
    seal_keyring_free(kr);
}

/* node_keyfile_read gives the file's keys in order, and a refused file
 * leaves no key bytes behind. */
static void test_keyfile_read_lists_keys_in_file_order(void **state)
{
    (void)state;
    char dir[] = "/tmp/gkv-keyfile-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[sizeof(dir) + 8];
    snprintf(path, sizeof(path), "%s/keys", dir);
    char b64[3][SEAL_KEY_B64_BYTES + 16];
    for (int i = 0; i < 3; i++)
        assert_int_equal(node_key_generate_b64(b64[i], sizeof(b64[i])), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# comment\n%s\n\n  %s  \r\n%s\n", b64[0], b64[1], b64[2]);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    uint8_t *keys = sodium_malloc(SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
    assert_non_null(keys);
    uint32_t n = 0;
    char err[256];
    assert_int_equal(node_keyfile_read(path, keys, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    for (uint32_t i = 0; i < 3; i++) {
        uint8_t want[SEAL_KEY_BYTES];
        assert_int_equal(seal_key_parse(b64[i], want), 0);
        assert_memory_equal(keys + i * SEAL_KEY_BYTES, want, SEAL_KEY_BYTES);
    }
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(node_keyfile_read(path, keys, &n, err, sizeof(err)), GKV_EPERM);
    assert_int_equal(n, 0);
    uint8_t zero[SEAL_KEYRING_MAX * SEAL_KEY_BYTES] = {0};
    assert_memory_equal(keys, zero, sizeof(zero));
    sodium_free(keys);
    unlink(path);
    rmdir(dir);
}

static void test_key_generate_gives_distinct_parseable_keys(void **state)
{
    (void)state;
    char a[SEAL_KEY_B64_BYTES], b[SEAL_KEY_B64_BYTES];
    assert_int_equal(node_key_generate_b64(a, sizeof(a)), 0);
    assert_int_equal(node_key_generate_b64(b, sizeof(b)), 0);
    assert_int_equal(strlen(a), 44);
    assert_string_not_equal(a, b);
    assert_int_equal(node_key_generate_b64(a, SEAL_KEY_B64_BYTES - 1), GKV_EINVAL);
    uint8_t k[SEAL_KEY_BYTES], k2[SEAL_KEY_BYTES];
    assert_int_equal(seal_key_parse(b, k), 0);
    char padded[80];
    snprintf(padded, sizeof(padded), "  %s\n", b); /* as read from an env var */
    assert_int_equal(seal_key_parse(padded, k2), 0);
    assert_memory_equal(k, k2, SEAL_KEY_BYTES);
    assert_int_equal(seal_key_parse("", k), GKV_EINVAL);
    assert_int_equal(seal_key_parse("AAAA", k), GKV_EINVAL);
    assert_int_equal(seal_key_parse("!!!", k), GKV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyfile_good_file_with_comments_loads_first_as_primary),
        cmocka_unit_test(test_keyfile_group_or_world_readable_is_refused_with_chmod_hint),
        cmocka_unit_test(test_keyfile_malformed_base64_is_refused_with_file_and_line),
        cmocka_unit_test(test_keyfile_wrong_length_key_is_refused_with_file_and_line),
        cmocka_unit_test(test_keyfile_empty_duplicate_or_too_many_keys_is_refused),
        cmocka_unit_test(test_keyfile_oversized_file_long_line_or_directory_is_refused),
        cmocka_unit_test(test_keyfile_missing_file_is_refused),
        cmocka_unit_test(test_keyfile_read_lists_keys_in_file_order),
        cmocka_unit_test(test_key_generate_gives_distinct_parseable_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
