/*
 * wal.c: the write-ahead log: record encoding, the append buffer, the group
 * commit job and the replay scan (see wal.h for why and what).
 *
 * Invariants:
 *  W1  Records are appended in the order the store applied the changes;
 *      offsets are assigned at append time (end), so bytes handed to pwrite
 *      by the owner and by a job never overlap and never leave a gap.
 *  W2  durable only grows, and only after an fdatasync that followed the
 *      pwrite of every byte below it.
 *  W3  A scan stops at the first record that is short or fails its
 *      checksum; nothing after it is applied (a torn tail is normal after a
 *      crash: bytes never acknowledged as durable).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/store_int.h"
#include "storage/wal.h"

/* ------------------------------------------------------ encode / decode */

uint64_t wal_rec_bytes(uint8_t type, const struct entry *e)
{
    switch (type) {
    case WAL_REC_VERSION:
        return WAL_REC_BYTES(e->vc.n, e->key_len, e->value_len);
    case WAL_REC_PURGE:
        return WAL_REC_BYTES(0, e->key_len, 0);
    default:
        return WAL_REC_BYTES(0, 0, 0);
    }
}

static uint64_t rec_checksum(const uint8_t *rec, uint64_t bytes, uint64_t gen, uint64_t off)
{
    /* Seeded with the file's generation and the record's offset: a record
     * left over from an older log, or shifted, never verifies. */
    uint64_t seed = WAL_SEED_RECORD ^ (gen * 0x9e3779b97f4a7c15ull) ^ off;
    uint64_t h = store__checksum64(rec, offsetof(struct wal_rec_hdr, checksum), seed);
    return store__checksum64(rec + sizeof(struct wal_rec_hdr), bytes - sizeof(struct wal_rec_hdr),
                             h);
}

void wal_rec_encode(uint8_t *dst, uint8_t type, const struct entry *e, uint64_t gen, uint64_t off)
{
    struct wal_rec_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = WAL_REC_MAGIC;
    h.type = type;
    h.hlc = e->hlc;
    uint8_t *p = dst + sizeof h;
    if (type == WAL_REC_VERSION) {
        h.flags = (uint8_t)(e->flags & ENTRY_TOMBSTONE);
        h.vc_n = (uint8_t)e->vc.n;
        h.key_len = (uint16_t)e->key_len;
        h.value_len = e->value_len;
        h.origin = e->origin;
        memcpy(p, e->vc.items, 16u * e->vc.n);
        p += 16u * e->vc.n;
        memcpy(p, e->key, e->key_len);
        if (e->value_len)
            memcpy(p + e->key_len, e->value, e->value_len);
    } else if (type == WAL_REC_PURGE) {
        h.key_len = (uint16_t)e->key_len;
        memcpy(p, e->key, e->key_len);
    }
    memcpy(dst, &h, sizeof h);
    uint64_t bytes = wal_rec_bytes(type, e);
    h.checksum = rec_checksum(dst, bytes, gen, off);
    memcpy(dst + offsetof(struct wal_rec_hdr, checksum), &h.checksum, sizeof h.checksum);
}

int wal_rec_decode(const uint8_t *buf, size_t len, uint64_t gen, uint64_t off, uint8_t *type,
                   struct entry *out, size_t *used)
{
    struct wal_rec_hdr h;
    if (len < sizeof h)
        return GKV_ETRUNC;
    memcpy(&h, buf, sizeof h);
    if (h.magic != WAL_REC_MAGIC || h.reserved != 0 || h.reserved2 != 0)
        return GKV_ECORRUPT;
    /* Shape checks before the length is trusted (a flipped length must not
     * send the checksum past the buffer: bounded by len below). */
    switch (h.type) {
    case WAL_REC_VERSION:
        if (h.key_len == 0 || h.key_len > GKV_KEY_MAX || h.vc_n > GKV_VCLOCK_MAX ||
            (h.flags & ~ENTRY_TOMBSTONE) != 0 || ((h.flags & ENTRY_TOMBSTONE) && h.value_len) ||
            h.value_len > GKV_VALUE_HARD_MAX)
            return GKV_ECORRUPT;
        break;
    case WAL_REC_PURGE:
        if (h.key_len == 0 || h.key_len > GKV_KEY_MAX || h.vc_n || h.flags || h.value_len ||
            h.origin)
            return GKV_ECORRUPT;
        break;
    case WAL_REC_HLC:
        if (h.key_len || h.vc_n || h.flags || h.value_len || h.origin)
            return GKV_ECORRUPT;
        break;
    default:
        return GKV_ECORRUPT;
    }
    uint64_t bytes = WAL_REC_BYTES(h.vc_n, h.key_len, h.value_len);
    if (bytes > len)
        return GKV_ETRUNC;
    if (rec_checksum(buf, bytes, gen, off) != h.checksum)
        return GKV_ECORRUPT;
    memset(out, 0, sizeof *out);
    const uint8_t *p = buf + sizeof h;
    out->hlc = h.hlc;
    out->origin = h.origin;
    out->flags = h.flags;
    out->vc.n = h.vc_n;
    memcpy(out->vc.items, p, 16u * h.vc_n);
    p += 16u * h.vc_n;
    if (h.type == WAL_REC_VERSION && !vclock_valid(&out->vc))
        return GKV_ECORRUPT;
    out->key = h.key_len ? p : NULL;
    out->key_len = h.key_len;
    out->value = h.value_len ? p + h.key_len : NULL;
    out->value_len = h.value_len;
    *type = h.type;
    *used = (size_t)bytes;
    return 0;
}

void wal_prologue_init(struct wal_prologue *p, uint64_t gen)
{
    memset(p, 0, sizeof *p);
    memcpy(p->magic, WAL_MAGIC, 8);
    p->version = WAL_VERSION;
    p->gen = gen;
    p->checksum = store__checksum64(p, offsetof(struct wal_prologue, checksum), WAL_SEED_PROLOGUE);
}

bool wal_prologue_ok(const struct wal_prologue *p, uint64_t gen)
{
    return memcmp(p->magic, WAL_MAGIC, 8) == 0 && p->version == WAL_VERSION &&
           p->reserved == 0 && p->gen == gen &&
           p->checksum ==
               store__checksum64(p, offsetof(struct wal_prologue, checksum), WAL_SEED_PROLOGUE);
}

/* ---------------------------------------------------------- the writer */

void wal_name(char *buf, size_t n, uint64_t gen)
{
    snprintf(buf, n, "log.%llu.gkv", (unsigned long long)gen);
}

/* pwrite all of [buf, buf+len) at off, retrying short writes and EINTR. */
static int write_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return store__errno_code(errno);
        }
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap && *buf)
        return 0;
    size_t ncap = *cap ? *cap : WAL_BUF_BYTES;
    while (ncap < need)
        ncap *= 2;
    uint8_t *n = realloc(*buf, ncap);
    if (!n)
        return GKV_ENOMEM;
    *buf = n;
    *cap = ncap;
    return 0;
}

int wal_open_new(struct wal *w, int dirfd, uint64_t gen, char *err, size_t err_bytes)
{
    char name[64];
    wal_name(name, sizeof name, gen);
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE);
    if (fd < 0) {
        int rc = store__errno_code(errno);
        snprintf(err, err_bytes, "%s: cannot create: %s", name, strerror(errno));
        return rc;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->dirfd = dirfd;
    w->fd = fd;
    w->gen = gen;
    w->end = w->written = w->durable = 0;
    w->len = 0;
    w->broken = false;
    int rc = buf_reserve(&w->buf, &w->cap, WAL_BUF_BYTES);
    if (rc != 0) {
        snprintf(err, err_bytes, "%s: out of memory for the log buffer", name);
        return rc;
    }
    struct wal_prologue p;
    wal_prologue_init(&p, gen);
    memcpy(w->buf, &p, sizeof p);
    w->len = sizeof p;
    w->end = sizeof p;
    return 0;
}

int wal_flush(struct wal *w)
{
    if (w->fd < 0 || w->len == 0)
        return 0;
    int rc = write_all(w->fd, w->buf, w->len, w->written);
    if (rc != 0) {
        /* The file's tail is unknown now: drop the bytes (a checkpoint
         * will cover them through the table) and keep offsets moving. */
        w->broken = true;
        w->st.failures++;
    }
    w->written += w->len;
    w->len = 0;
    if (w->cap > WAL_BUF_MAX_BYTES) {
        /* A huge record grew the buffer; give the memory back. */
        uint8_t *n = realloc(w->buf, WAL_BUF_BYTES);
        if (n) {
            w->buf = n;
            w->cap = WAL_BUF_BYTES;
        }
    }
    return rc;
}

int wal_sync(struct wal *w)
{
    if (w->fd < 0)
        return 0;
    int rc = wal_flush(w);
    if (rc == 0 && w->durable < w->end) {
        rc = store__fdatasync(w->fd);
        if (rc == 0) {
            w->durable = w->end;
            w->st.group_commits++;
        } else {
            w->broken = true;
            w->st.failures++;
        }
    }
    return rc;
}

int wal_append(struct wal *w, uint8_t type, const struct entry *e)
{
    if (w->fd < 0)
        return 0;
    uint64_t bytes = wal_rec_bytes(type, e);
    int rc = 0;
    /* Grow the buffer rather than write from the owner's thread (wal.h);
     * past WAL_BUF_MAX_BYTES write it here (the job is late). */
    if (w->len + bytes > w->cap && w->len > 0 && w->len + bytes > WAL_BUF_MAX_BYTES)
        rc = wal_flush(w);
    int r2 = buf_reserve(&w->buf, &w->cap, w->len + (size_t)bytes);
    if (r2 != 0)
        return r2;
    wal_rec_encode(w->buf + w->len, type, e, w->gen, w->end);
    w->len += (size_t)bytes;
    w->end += bytes;
    w->st.records++;
    w->st.appended_bytes += bytes;
    return rc;
}

void wal_close(struct wal *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->buf);
    free(w->spare);
    w->buf = w->spare = NULL;
    w->cap = w->spare_cap = w->len = 0;
}

int wal_job_take(struct wal *w, struct wal_job *j)
{
    memset(j, 0, sizeof *j);
    j->fd = -1;
    if (w->fd < 0)
        return 0;
    int fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return store__errno_code(errno);
    j->fd = fd;
    j->gen = w->gen;
    j->buf = w->buf;
    j->len = w->len;
    j->cap = w->cap;
    j->off = w->written;
    j->end = w->end;
    /* The owner goes on appending into the spare buffer. */
    w->buf = w->spare;
    w->cap = w->spare_cap;
    w->spare = NULL;
    w->spare_cap = 0;
    w->written += w->len;
    w->len = 0;
    return buf_reserve(&w->buf, &w->cap, WAL_BUF_BYTES);
}

int wal_job_run(struct wal_job *j)
{
    if (j->fd < 0)
        return 0;
    int rc = write_all(j->fd, j->buf, j->len, j->off);
    if (rc == 0)
        rc = store__fdatasync(j->fd);
    return rc;
}

void wal_job_finish(struct wal *w, struct wal_job *j, int rc)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    if (j->gen == w->gen && w->fd >= 0) {
        if (rc == 0) {
            if (j->end > w->durable)
                w->durable = j->end;
            w->st.group_commits++;
        } else {
            w->broken = true;
            w->st.failures++;
        }
    }
    /* Keep one spare buffer (the owner has one already). */
    if (!w->spare && j->cap <= WAL_BUF_MAX_BYTES) {
        w->spare = j->buf;
        w->spare_cap = j->cap;
    } else {
        free(j->buf);
    }
    j->buf = NULL;
    j->len = j->cap = 0;
}

/* ------------------------------------------------------------- replay */

int wal_list(int dirfd, uint64_t *gens, size_t max)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return store__errno_code(errno);
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = store__errno_code(errno);
        close(fd);
        return rc;
    }
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long g;
        int used = 0;
        if (sscanf(de->d_name, "log.%llu.gkv%n", &g, &used) != 1 || de->d_name[used] != '\0' ||
            g == 0)
            continue;
        char canon[64];
        wal_name(canon, sizeof canon, g);
        if (strcmp(canon, de->d_name) != 0)
            continue; /* "log.01.gkv" and the like: not ours */
        if (n < max) {
            /* insertion sort: a handful of files */
            size_t i = n;
            while (i > 0 && gens[i - 1] > g) {
                gens[i] = gens[i - 1];
                i--;
            }
            gens[i] = g;
        }
        n++;
    }
    closedir(d);
    return n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
}

static int scan_file(int dirfd, uint64_t gen, wal_apply_cb apply, void *arg,
                     struct wal_file_report *r, char *err, size_t err_bytes)
{
    char name[64];
    wal_name(name, sizeof name, gen);
    memset(r, 0, sizeof *r);
    r->gen = gen;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = store__errno_code(errno);
        snprintf(err, err_bytes, "%s: cannot open: %s", name, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = store__errno_code(errno);
        snprintf(err, err_bytes, "%s: fstat: %s", name, strerror(errno));
        close(fd);
        return rc;
    }
    r->file_bytes = (uint64_t)st.st_size;
    if (r->file_bytes < sizeof(struct wal_prologue)) {
        /* Created, crashed before its prologue was written: holds nothing
         * that was acknowledged (W2: nothing is durable before it). */
        r->stop_rc = r->file_bytes ? GKV_ETRUNC : 0;
        close(fd);
        return 0;
    }
    /* Read-only private mapping: nobody truncates the file while we hold
     * the directory's lock, so no SIGBUS. */
    void *m = mmap(NULL, (size_t)r->file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        int rc = store__errno_code(errno);
        snprintf(err, err_bytes, "%s: mmap: %s", name, strerror(errno));
        return rc;
    }
    madvise(m, (size_t)r->file_bytes, MADV_SEQUENTIAL);
    const uint8_t *base = m;
    int rc = 0;
    struct wal_prologue p;
    memcpy(&p, base, sizeof p);
    if (!wal_prologue_ok(&p, gen)) {
        r->bad_prologue = true;
        r->stop_rc = GKV_ECORRUPT;
        goto out;
    }
    uint64_t off = sizeof p;
    r->good_bytes = off;
    while (off < r->file_bytes) {
        uint8_t type;
        struct entry e;
        size_t used;
        int d = wal_rec_decode(base + off, (size_t)(r->file_bytes - off), gen, off, &type, &e, &used);
        if (d != 0) {
            r->stop_rc = d;
            break;
        }
        if (apply && (rc = apply(arg, type, &e)) != 0) {
            snprintf(err, err_bytes, "%s: replaying the record at offset %llu: %s", name,
                     (unsigned long long)off, gkv_strerror(rc));
            break;
        }
        r->records++;
        off += used;
        r->good_bytes = off;
    }
out:
    munmap(m, (size_t)r->file_bytes);
    return rc;
}

int wal_scan_dir(int dirfd, wal_apply_cb apply, void *arg, wal_file_cb file_cb, void *file_arg,
                 struct wal_stats *st, uint64_t *max_gen, char *err, size_t err_bytes)
{
    uint64_t gens[WAL_MAX_FILES];
    int n = wal_list(dirfd, gens, WAL_MAX_FILES);
    if (n < 0) {
        snprintf(err, err_bytes, "listing the log files: %s", gkv_strerror(n));
        return n;
    }
    if (max_gen)
        *max_gen = 0;
    if ((size_t)n > WAL_MAX_FILES) {
        snprintf(err, err_bytes, "%d log files (log.<gen>.gkv), more than %u: refusing to guess "
                                 "their order",
                 n, WAL_MAX_FILES);
        return GKV_ELIMIT;
    }
    for (int i = 0; i < n; i++) {
        struct wal_file_report r;
        int rc = scan_file(dirfd, gens[i], apply, arg, &r, err, err_bytes);
        if (rc != 0)
            return rc;
        if (st) {
            st->replay_files++;
            st->replay_records += r.records;
            if (r.file_bytes > r.good_bytes)
                st->replay_torn_bytes += r.file_bytes - r.good_bytes;
            if (r.bad_prologue)
                st->replay_bad_files++;
        }
        if (file_cb)
            file_cb(file_arg, &r);
        if (max_gen && gens[i] > *max_gen)
            *max_gen = gens[i];
    }
    return 0;
}
