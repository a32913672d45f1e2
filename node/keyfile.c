/*
 * keyfile.c: open, check and read a key file, then hand its text to
 * gossip/'s parser; and draw a new key for `gossipkv keygen`. The bytes are held in sodium_malloc'd memory (they are
 * keys) and wiped when parsed.
 */
#include "node/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "gossip/seal.h"

/* Open path and check what the descriptor refers to: a regular file that
 * only its owner can access, no larger than a key file can be. */
static int keyfile_open(const char *path, int *fd_out, size_t *size_out, char *err,
                        size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot open key file: %s", path, strerror(errno));
        return GKV_EKEYFILE;
    }
    /* fstat the descriptor we read, so the mode we check is the file we use. */
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        snprintf(err, err_len, "%s: cannot stat key file: %s", path, strerror(errno));
        rc = GKV_EKEYFILE;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "%s: key file is not a regular file", path);
        rc = GKV_EKEYFILE;
    } else if (st.st_mode & 077) {
        snprintf(err, err_len,
                 "%s: key file is accessible by group or others (mode %04o); run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        rc = GKV_EPERM;
    } else if (st.st_size < 0 || (uint64_t)st.st_size > SEAL_KEYFILE_MAX_BYTES) {
        snprintf(err, err_len, "%s: key file larger than %u bytes: not a key file", path,
                 SEAL_KEYFILE_MAX_BYTES);
        rc = GKV_EKEYFILE;
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    *size_out = (size_t)st.st_size;
    return 0;
}

int node_keyfile_read(const char *path, uint8_t *keys, uint32_t *nkeys, char *err,
                      size_t err_len)
{
    char scratch[8];
    if (!err || err_len == 0) {
        err = scratch;
        err_len = sizeof scratch;
    }
    err[0] = '\0';
    if (!path || !keys || !nkeys)
        return GKV_EINVAL;
    *nkeys = 0;
    sodium_memzero(keys, SEAL_KEYRING_MAX * SEAL_KEY_BYTES);
    int fd = -1;
    size_t size = 0;
    int rc = keyfile_open(path, &fd, &size, err, err_len);
    if (rc != 0)
        return rc;
    char *buf = sodium_malloc(size + 1);
    if (!buf) {
        close(fd);
        return GKV_ENOMEM;
    }
    size_t len = 0;
    /* Bounded: at most size bytes (the file may not grow past what fstat said). */
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, err_len, "%s: read failed: %s", path, strerror(errno));
            rc = GKV_EKEYFILE;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (rc == 0)
        rc = seal_keyfile_parse(path, buf, len, keys, nkeys, err, err_len);
    sodium_free(buf); /* wipes the text */
    return rc;
}

int node_key_generate_b64(char *out, size_t out_len)
{
    if (!out || out_len < SEAL_KEY_B64_BYTES)
        return GKV_EINVAL;
    if (sodium_init() < 0)
        return GKV_EIO;
    uint8_t key[SEAL_KEY_BYTES];
    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(out, out_len, key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    return 0;
}
