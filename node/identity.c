/*
 * identity.c: what makes a node the same node across restarts, and its keys.
 *
 *   node id      random 64-bit at the first start, kept in the store header
 *                (cmd_serve.c passes it to store_open for a new store)
 *   seal epoch   <data>/epoch, one decimal line, replaced and fsynced before
 *                any packet is sealed: seconds (never below the wall clock
 *                or the last start's + 1) << 32 | 32 random bits, so
 *                (sender, epoch, counter) nonces are not reused even when the
 *                file is lost, rolled back or copied (docs/ENVELOPE.md)
 *   keyring      --key-file or GOSSIPKV_KEY; SIGHUP re-reads the file;
 *                KEYRING INSTALL/USE/REMOVE change it live
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "node/keyfile.h"
#include "node/log.h"
#include "node/node.h"

void node_random(void *buf, size_t len)
{
    randombytes_buf(buf, len);
}

/* The last epoch in <data>/epoch: one decimal number up to 2^64 - 1 and an
 * optional newline, nothing else (no sign, no spaces: strtoull would take
 * "-1" as 2^64 - 1). *found = false when the file does not exist. */
static int epoch_read(const char *path, uint64_t *last, bool *found, char *err, size_t err_len)
{
    *last = 0;
    *found = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return GKV_EIO;
    }
    char buf[32];
    ssize_t n;
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return GKV_EIO;
    }
    *found = true;
    buf[n] = 0;
    size_t len = (size_t)n;
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = 0;
    bool digits = len > 0 && len < sizeof(buf) - 2;
    for (size_t i = 0; digits && i < len; i++)
        digits = buf[i] >= '0' && buf[i] <= '9';
    if (!digits) {
        snprintf(err, err_len, "%s: not a decimal number (refusing to guess the seal epoch)",
                 path);
        return GKV_ECORRUPT;
    }
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (errno == ERANGE) {
        snprintf(err, err_len, "%s: %s is past 2^64 - 1 (refusing to guess the seal epoch)",
                 path, buf);
        return GKV_ECORRUPT;
    }
    *last = (uint64_t)v;
    return 0;
}

int node_file_replace(const char *dir, const char *name, const void *buf, size_t len, char *err,
                      size_t err_len)
{
    char tmp[NODE_PATH_MAX + 32], path[NODE_PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "%s: %s", tmp, strerror(errno));
        return GKV_EIO;
    }
    /* O_TRUNC keeps the mode of a leftover tmp file: set it. */
    bool ok = fchmod(fd, 0600) == 0;
    for (size_t off = 0; ok && off < len;) { /* each pass writes >= 1 byte or stops */
        ssize_t w = write(fd, (const char *)buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        if (ok)
            off += (size_t)w;
    }
    ok = ok && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, err_len, "%s: cannot write: %s", path, strerror(errno));
        return GKV_EIO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int epoch_write(const char *data_dir, uint64_t epoch, char *err, size_t err_len)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", epoch);
    return node_file_replace(data_dir, "epoch", buf, (size_t)n, err, err_len);
}

int node_epoch_next(const struct node_epoch_args *a, uint64_t *epoch, char *err, size_t err_len)
{
    char path[NODE_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/epoch", a->data_dir);
    uint64_t last = 0;
    bool found = false;
    int rc = epoch_read(path, &last, &found, err, err_len);
    if (rc == GKV_ECORRUPT && a->reset)
        rc = 0; /* last stays 0: the reset ignores the value */
    if (rc != 0)
        return rc;
    if (!found && a->store_exists && !a->reset) {
        snprintf(err, err_len,
                 "%s is missing but the data directory holds a store (deleted, or a "
                 "restored or copied directory?): find out why, then start once with "
                 "--epoch-reset (the new epoch is taken from the wall clock and fresh "
                 "random bits, so nonces stay unique)",
                 path);
        return GKV_ESTATE;
    }
    if (a->reset)
        last = 0;
    rc = seal_epoch_next(last, a->wall_s, a->boot_random, epoch);
    if (rc == 0 && seal_epoch_seconds(*epoch) > a->wall_s + SEAL_EPOCH_AHEAD_MAX_S)
        rc = GKV_ECLOCK;
    if (rc != 0) {
        snprintf(err, err_len,
                 "%s: the last epoch (%" PRIu64 ", %" PRIu64 " s since 1970) is more than %u s "
                 "ahead of the wall clock (%" PRIu64 " s), so peers would refuse this node's "
                 "packets: fix the clock, or start once with --epoch-reset",
                 path, last, seal_epoch_seconds(last), SEAL_EPOCH_AHEAD_MAX_S, a->wall_s);
        return rc;
    }
    return epoch_write(a->data_dir, *epoch, err, err_len);
}

static int keys_alloc(struct node *n)
{
    if (n->keys)
        return 0;
    n->keys = sodium_malloc(sizeof(*n->keys));
    if (!n->keys)
        return GKV_ENOMEM;
    sodium_memzero(n->keys, sizeof(*n->keys));
    return 0;
}

static int keys_find(const struct node_keys *k, const uint8_t key[SEAL_KEY_BYTES])
{
    for (uint32_t i = 0; i < k->n; i++)
        if (sodium_memcmp(k->key[i], key, SEAL_KEY_BYTES) == 0)
            return (int)i;
    return -1;
}

int node_keys_load(struct node *n, char *err, size_t err_len)
{
    const char *env = getenv("GOSSIPKV_KEY");
    if (n->cfg.insecure) {
        if (n->cfg.key_file[0] || (env && *env)) {
            snprintf(err, err_len, "--insecure given together with a key: choose one");
            return GKV_EINVAL;
        }
        return 0;
    }
    if (!n->cfg.key_file[0] && !(env && *env)) {
        snprintf(err, err_len, "no key: pass --key-file FILE or set GOSSIPKV_KEY "
                               "(`gossipkv keygen` makes one), or run --insecure");
        return GKV_EINVAL;
    }
    int rc = seal_keyring_new(&n->keyring);
    if (rc == 0)
        rc = keys_alloc(n);
    if (rc != 0) {
        snprintf(err, err_len, "keyring: %s", gkv_strerror(rc));
        return rc;
    }
    if (n->cfg.key_file[0]) {
        /* One open, one fstat, one read: the ring and n->keys come from the
         * same bytes. */
        rc = node_keyfile_read(n->cfg.key_file, n->keys->key[0], &n->keys->n, err, err_len);
        if (rc == 0)
            rc = seal_keyring_replace(n->keyring, n->keys->key[0], n->keys->n);
        if (rc != 0 && !err[0])
            snprintf(err, err_len, "%s: %s", n->cfg.key_file, gkv_strerror(rc));
        return rc;
    }
    rc = seal_key_parse(env, n->keys->key[0]);
    if (rc != 0) {
        snprintf(err, err_len, "GOSSIPKV_KEY: not base64 of %u bytes", SEAL_KEY_BYTES);
        return rc;
    }
    n->keys->n = 1;
    return seal_keyring_install(n->keyring, n->keys->key[0]);
}

int node_keys_reload(struct node *n, char *err, size_t err_len)
{
    err[0] = 0;
    if (!n->keyring || !n->cfg.key_file[0]) {
        snprintf(err, err_len, "no key file to re-read");
        return GKV_ESTATE;
    }
    struct node_keys *fresh = sodium_malloc(sizeof(*fresh));
    if (!fresh)
        return GKV_ENOMEM;
    /* Read the whole file (once), then swap the whole ring: a refused file
     * or a failure at any point leaves the running keyring as it was. */
    int rc = node_keyfile_read(n->cfg.key_file, fresh->key[0], &fresh->n, err, err_len);
    if (rc == 0)
        rc = seal_keyring_replace(n->keyring, fresh->key[0], fresh->n);
    if (rc == 0) {
        uint32_t added = 0, removed = 0;
        for (uint32_t i = 0; i < fresh->n; i++)
            added += keys_find(n->keys, fresh->key[i]) < 0;
        for (uint32_t i = 0; i < n->keys->n; i++)
            removed += keys_find(fresh, n->keys->key[i]) < 0;
        memcpy(n->keys, fresh, sizeof(*fresh));
        node_log(NODE_LOG_INFO, "keyring replaced from the key file",
                 "keys=%u installed=%u removed=%u primary_key_id=%08x", fresh->n, added, removed,
                 seal_key_id(fresh->key[0]));
    } else if (!err[0]) {
        snprintf(err, err_len, "keyring update: %s", gkv_strerror(rc));
    }
    sodium_free(fresh);
    return rc;
}

int node_keys_install(struct node *n, const uint8_t key[SEAL_KEY_BYTES])
{
    if (!n->keyring)
        return GKV_ESTATE;
    if (keys_find(n->keys, key) >= 0)
        return GKV_EEXIST;
    if (n->keys->n >= SEAL_KEYRING_MAX)
        return GKV_EFULL;
    int rc = seal_keyring_install(n->keyring, key);
    if (rc != 0)
        return rc;
    memcpy(n->keys->key[n->keys->n++], key, SEAL_KEY_BYTES);
    node_log(NODE_LOG_INFO, "keyring: key installed", "key_id=%08x", seal_key_id(key));
    return 0;
}

int node_keys_use(struct node *n, const uint8_t key[SEAL_KEY_BYTES])
{
    if (!n->keyring)
        return GKV_ESTATE;
    int rc = seal_keyring_use(n->keyring, key);
    if (rc == 0)
        node_log(NODE_LOG_INFO, "keyring: primary key changed", "key_id=%08x", seal_key_id(key));
    return rc;
}

int node_keys_remove(struct node *n, const uint8_t key[SEAL_KEY_BYTES])
{
    if (!n->keyring)
        return GKV_ESTATE;
    int i = keys_find(n->keys, key);
    int rc = seal_keyring_remove(n->keyring, key);
    if (rc != 0)
        return rc;
    if (i >= 0) {
        memmove(n->keys->key[i], n->keys->key[i + 1],
                (size_t)(n->keys->n - (uint32_t)i - 1) * SEAL_KEY_BYTES);
        n->keys->n--;
        sodium_memzero(n->keys->key[n->keys->n], SEAL_KEY_BYTES);
    }
    node_log(NODE_LOG_INFO, "keyring: key removed", "key_id=%08x", seal_key_id(key));
    return 0;
}
