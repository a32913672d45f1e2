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
 *  W3  A replay applies records in file order up to the torn tail: the
 *      first record that is short or fails its checksum with no good
 *      record anywhere after it in the file (a crash leaves that: bytes
 *      never acknowledged as durable). A bad record followed by a good one
 *      is damage, not a crash's tail: the open refuses (wal_check_dir runs
 *      before anything is written) and only an explicit salvage skips it.
 *  W4  "Good" means wal_rec_decode accepts it at its own offset; the
 *      resync search tries every offset after a bad record (docs/
 *      FILE_FORMAT.md states the rule and its false-positive odds).
 *  W5  After a failed write or fdatasync (broken) nothing more is written
 *      to that file and nothing in it counts as durable: later records
 *      past a gap would be good records after a bad one (W3), and their
 *      writes were acknowledged only if a checkpoint made the tables
 *      durable, which also starts the next log file (wal_open_new).
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
        return WAL_REC_BYTES(e->vc.n, e->key_len, e->value_len) + (e->expire_ms ? 8u : 0u);
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
        h.flags = (uint8_t)((e->flags & ENTRY_FLAGS_ALL) | (e->expire_ms ? WAL_REC_EXPIRES : 0u));
        h.vc_n = (uint8_t)e->vc.n;
        h.key_len = (uint16_t)e->key_len;
        h.value_len = e->value_len;
        h.origin = e->origin;
        memcpy(p, e->vc.items, 16u * e->vc.n);
        p += 16u * e->vc.n;
        memcpy(p, e->key, e->key_len);
        if (e->value_len)
            memcpy(p + e->key_len, e->value, e->value_len);
        if (e->expire_ms)
            memcpy(p + e->key_len + e->value_len, &e->expire_ms, 8u);
    } else if (type == WAL_REC_PURGE) {
        h.key_len = (uint16_t)e->key_len;
        memcpy(p, e->key, e->key_len);
    }
    memcpy(dst, &h, sizeof h);
    uint64_t bytes = wal_rec_bytes(type, e);
    h.checksum = rec_checksum(dst, bytes, gen, off);
    memcpy(dst + offsetof(struct wal_rec_hdr, checksum), &h.checksum, sizeof h.checksum);
}

/* The shape checks of the header at buf (no checksum): 0 with *h and
 * *bytes (the record's size, which may run past len), or GKV_ETRUNC (fewer
 * than a header's bytes) or GKV_ECORRUPT. */
static int rec_shape(const uint8_t *buf, size_t len, struct wal_rec_hdr *h, uint64_t *bytes)
{
    if (len < sizeof *h)
        return GKV_ETRUNC;
    memcpy(h, buf, sizeof *h);
    if (h->magic != WAL_REC_MAGIC || h->reserved != 0 || h->reserved2 != 0)
        return GKV_ECORRUPT;
    /* Shape checks before the length is trusted (a flipped length must not
     * send the checksum past the buffer: bounded by len by the caller). */
    switch (h->type) {
    case WAL_REC_VERSION:
        if (h->key_len == 0 || h->key_len > GKV_KEY_MAX || h->vc_n > GKV_VCLOCK_MAX ||
            (h->flags & ~(ENTRY_FLAGS_ALL | WAL_REC_EXPIRES)) != 0 ||
            ((h->flags & ENTRY_FLAGS_ALL) == ENTRY_TOMBSTONE && h->value_len) ||
            ((h->flags & ENTRY_TOMBSTONE) && (h->flags & WAL_REC_EXPIRES)) ||
            h->value_len > GKV_VALUE_HARD_MAX)
            return GKV_ECORRUPT;
        break;
    case WAL_REC_PURGE:
        if (h->key_len == 0 || h->key_len > GKV_KEY_MAX || h->vc_n || h->flags || h->value_len ||
            h->origin)
            return GKV_ECORRUPT;
        break;
    case WAL_REC_HLC:
        if (h->key_len || h->vc_n || h->flags || h->value_len || h->origin)
            return GKV_ECORRUPT;
        break;
    default:
        return GKV_ECORRUPT;
    }
    *bytes = WAL_REC_BYTES(h->vc_n, h->key_len, h->value_len) +
             ((h->flags & WAL_REC_EXPIRES) ? 8u : 0u);
    return 0;
}

int wal_rec_decode(const uint8_t *buf, size_t len, uint64_t gen, uint64_t off, uint8_t *type,
                   struct entry *out, size_t *used)
{
    struct wal_rec_hdr h;
    uint64_t bytes;
    int rc = rec_shape(buf, len, &h, &bytes);
    if (rc != 0)
        return rc;
    if (bytes > len)
        return GKV_ETRUNC;
    if (rec_checksum(buf, bytes, gen, off) != h.checksum)
        return GKV_ECORRUPT;
    memset(out, 0, sizeof *out);
    const uint8_t *p = buf + sizeof h;
    out->hlc = h.hlc;
    out->origin = h.origin;
    out->flags = h.flags & ENTRY_TOMBSTONE;
    out->vc.n = h.vc_n;
    memcpy(out->vc.items, p, 16u * h.vc_n);
    p += 16u * h.vc_n;
    if (h.type == WAL_REC_VERSION && !vclock_valid(&out->vc))
        return GKV_ECORRUPT;
    out->key = h.key_len ? p : NULL;
    out->key_len = h.key_len;
    out->value = h.value_len ? p + h.key_len : NULL;
    out->value_len = h.value_len;
    if (h.flags & WAL_REC_EXPIRES) {
        memcpy(&out->expire_ms, p + h.key_len + h.value_len, 8u);
        if (out->expire_ms == 0 || out->expire_ms > ENTRY_EXPIRE_MAX_MS)
            return GKV_ECORRUPT;
    }
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
static int write_all(struct store_io *io, int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    if (len > 0)
        store__io_count(io);
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
    /* W5: nothing more goes into a broken log. */
    int rc = w->broken ? GKV_EIO : write_all(w->io, w->fd, w->buf, w->len, w->written);
    if (rc != 0 && !w->broken) {
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
    if (rc == 0 && w->broken)
        rc = GKV_EIO; /* W5: only the checkpoint makes these durable */
    if (rc == 0 && w->durable < w->end) {
        rc = store__fdatasync(w->io, w->fd);
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
    j->len = w->broken ? 0 : w->len; /* W5 */
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
    int rc = write_all(j->io, j->fd, j->buf, j->len, j->off);
    if (rc == 0)
        rc = store__fdatasync(j->io, j->fd);
    return rc;
}

void wal_job_finish(struct wal *w, struct wal_job *j, int rc)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    if (j->gen == w->gen && w->fd >= 0) {
        if (rc == 0 && !w->broken) {
            if (j->end > w->durable)
                w->durable = j->end;
            w->st.group_commits++;
        } else if (rc != 0 && !w->broken) {
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

/* Map log.<gen>.gkv read-only (private: nobody truncates it while the
 * directory's lock is held, so no SIGBUS). *len 0: nothing mapped. */
static int map_log(int dirfd, uint64_t gen, const uint8_t **base, uint64_t *len, char *err,
                   size_t err_bytes)
{
    char name[64];
    wal_name(name, sizeof name, gen);
    *base = NULL;
    *len = 0;
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
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        int rc = store__errno_code(errno);
        snprintf(err, err_bytes, "%s: mmap: %s", name, strerror(errno));
        return rc;
    }
    madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
    *base = m;
    *len = (uint64_t)st.st_size;
    return 0;
}

/* Whole 4 KiB-aligned pages of zeros inside [off, end) of base. */
static uint64_t zero_pages(const uint8_t *base, uint64_t off, uint64_t end)
{
    uint64_t n = 0;
    for (uint64_t pg = (off + 4095) & ~4095ull; pg + 4096 <= end; pg += 4096) {
        uint64_t i = 0;
        while (i < 4096 && base[pg + i] == 0)
            i++;
        n += i == 4096;
    }
    return n;
}

/* Called for each good record of a walk with its offset; nonzero stops. */
typedef int (*walk_rec_cb)(void *arg, uint8_t type, const struct entry *e, uint64_t off);

struct walk {
    const uint8_t *base;
    uint64_t len, gen;
    uint64_t budget; /* bytes the resync search may still hash */
    bool stop_at_damage; /* replay: a damaged stretch ends the walk (GKV_ECORRUPT) */
    walk_rec_cb cb;
    void *arg;
};

/* W4: the offset of the first good record at or after from; w->len when
 * there is none, or where the search gave up (*gave_up) because candidate
 * headers claimed more bytes than the budget holds. Candidates are the
 * offsets holding the record magic; each that passes the shape checks
 * costs its claimed length in checksum work. */
static uint64_t resync(struct walk *w, uint64_t from, bool *gave_up)
{
    const uint32_t magic = WAL_REC_MAGIC; /* little-endian, as records hold it */
    uint64_t off = from;
    *gave_up = false;
    while (off + sizeof(struct wal_rec_hdr) <= w->len) {
        const uint8_t *p = memmem(w->base + off, (size_t)(w->len - off), &magic, sizeof magic);
        if (!p)
            break;
        off = (uint64_t)(p - w->base);
        struct wal_rec_hdr h;
        uint64_t bytes;
        if (rec_shape(p, (size_t)(w->len - off), &h, &bytes) == 0 && bytes <= w->len - off) {
            if (bytes > w->budget) {
                *gave_up = true;
                return off;
            }
            w->budget -= bytes;
            uint8_t type;
            struct entry e;
            size_t used;
            if (wal_rec_decode(p, (size_t)(w->len - off), w->gen, off, &type, &e, &used) == 0)
                return off;
        }
        off++;
    }
    return w->len;
}

/* A bad record (or prologue) at start: find the next good record. Returns
 * true with *next when one follows (a damaged stretch, recorded in r),
 * false when the rest of the file is the torn tail (or undecided). */
static bool step_over_damage(struct walk *w, struct wal_file_report *r, uint64_t start,
                             uint64_t search_from, int why, uint64_t *next)
{
    bool gave_up;
    uint64_t nx = resync(w, search_from, &gave_up);
    if (gave_up || nx >= w->len) {
        r->tail_off = start;
        r->stop_rc = why;
        r->undecided = gave_up;
        return false;
    }
    if (r->damaged < WAL_REPORT_DAMAGE) {
        struct wal_damage *d = &r->damage[r->damaged];
        d->off = start;
        d->bytes = nx - start;
        d->record = start == 0 ? 0 : r->records + 1;
        d->why = why;
        d->zero_pages = zero_pages(w->base, start, nx);
    }
    r->damaged++;
    r->damaged_bytes += nx - start;
    *next = nx;
    return true;
}

/* Walk one mapped log file: every good record to w->cb in order, damaged
 * stretches and the torn tail into r. */
static int walk_file(struct walk *w, struct wal_file_report *r)
{
    r->tail_off = 0;
    if (w->len < sizeof(struct wal_prologue)) {
        /* Created, crashed before its prologue was written: holds nothing
         * that was acknowledged (W2: nothing is durable before it). */
        r->stop_rc = w->len ? GKV_ETRUNC : 0;
        return 0;
    }
    r->tail_off = w->len;
    uint64_t off = sizeof(struct wal_prologue);
    struct wal_prologue p;
    memcpy(&p, w->base, sizeof p);
    if (wal_prologue_ok(&p, w->gen)) {
        r->good_bytes = off;
    } else {
        /* Records are seeded with the generation of the file's name, not
         * the prologue's: they verify without it. */
        r->bad_prologue = true;
        if (!step_over_damage(w, r, 0, off, GKV_ECORRUPT, &off))
            return 0;
        if (w->stop_at_damage)
            return GKV_ECORRUPT;
    }
    while (off < w->len) {
        uint8_t type;
        struct entry e;
        size_t used;
        int d = wal_rec_decode(w->base + off, (size_t)(w->len - off), w->gen, off, &type, &e,
                               &used);
        if (d != 0) {
            if (!step_over_damage(w, r, off, off + 1, d, &off))
                break;
            if (w->stop_at_damage)
                return GKV_ECORRUPT;
            continue;
        }
        int rc = w->cb ? w->cb(w->arg, type, &e, off) : 0;
        if (rc != 0)
            return rc;
        r->records++;
        r->good_bytes += used;
        off += used;
    }
    for (uint64_t i = 0; i < r->damaged && i < WAL_REPORT_DAMAGE; i++) {
        struct wal_damage *d = &r->damage[i];
        d->records_after = r->records - (d->record ? d->record - 1 : 0);
    }
    return 0;
}

static uint64_t resync_budget(uint64_t file_bytes)
{
    return WAL_RESYNC_WORK_BYTES + WAL_RESYNC_WORK_FACTOR * file_bytes;
}

struct replay_arg {
    wal_apply_cb apply;
    void *arg;
};

static int replay_rec_cb(void *arg, uint8_t type, const struct entry *e, uint64_t off)
{
    (void)off;
    struct replay_arg *a = arg;
    return a->apply(a->arg, type, e);
}

/* Map and walk log.<gen>.gkv; apply (may be NULL) gets each good record. */
static int scan_file(int dirfd, uint64_t gen, wal_apply_cb apply, void *arg,
                     struct wal_file_report *r, char *err, size_t err_bytes)
{
    memset(r, 0, sizeof *r);
    r->gen = gen;
    struct walk w = {.gen = gen, .stop_at_damage = apply != NULL};
    int rc = map_log(dirfd, gen, &w.base, &w.len, err, err_bytes);
    if (rc != 0)
        return rc;
    r->file_bytes = w.len;
    w.budget = resync_budget(w.len);
    struct replay_arg ra = {apply, arg};
    if (apply) {
        w.cb = replay_rec_cb;
        w.arg = &ra;
    }
    rc = walk_file(&w, r);
    if (rc != 0) {
        char name[64];
        wal_name(name, sizeof name, gen);
        if (rc == GKV_ECORRUPT && r->damaged)
            snprintf(err, err_bytes, "%s: damaged record at offset %llu with good records after "
                                     "it: the replay stops (wal_check_dir refuses it first)",
                     name, (unsigned long long)r->damage[0].off);
        else
            snprintf(err, err_bytes, "%s: replaying a record: %s", name, gkv_strerror(rc));
    }
    if (w.len)
        munmap((void *)w.base, (size_t)w.len);
    return rc;
}

/* wal_list into gens[WAL_MAX_FILES], refusing more files than that. */
static int list_logs(int dirfd, uint64_t *gens, char *err, size_t err_bytes)
{
    int n = wal_list(dirfd, gens, WAL_MAX_FILES);
    if (n < 0) {
        snprintf(err, err_bytes, "listing the log files: %s", gkv_strerror(n));
        return n;
    }
    if ((size_t)n > WAL_MAX_FILES) {
        snprintf(err, err_bytes, "%d log files (log.<gen>.gkv), more than %u: refusing to guess "
                                 "their order",
                 n, WAL_MAX_FILES);
        return GKV_ELIMIT;
    }
    return n;
}

int wal_scan_dir(int dirfd, wal_apply_cb apply, void *arg, wal_file_cb file_cb, void *file_arg,
                 struct wal_stats *st, uint64_t *max_gen, char *err, size_t err_bytes)
{
    uint64_t gens[WAL_MAX_FILES];
    if (max_gen)
        *max_gen = 0;
    int n = list_logs(dirfd, gens, err, err_bytes);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        struct wal_file_report r;
        int rc = scan_file(dirfd, gens[i], apply, arg, &r, err, err_bytes);
        if (rc != 0)
            return rc;
        if (st) {
            st->replay_files++;
            st->replay_records += r.records;
            st->replay_torn_bytes += r.file_bytes - r.tail_off;
            if (r.bad_prologue && r.records == 0)
                st->replay_bad_files++;
        }
        if (file_cb)
            file_cb(file_arg, &r);
        if (max_gen && gens[i] > *max_gen)
            *max_gen = gens[i];
    }
    return 0;
}

void wal_damage_describe(char *buf, size_t n, const struct wal_damage *d)
{
    char what[48];
    if (d->record == 0)
        snprintf(what, sizeof what, "the prologue");
    else
        snprintf(what, sizeof what, "record %llu", (unsigned long long)d->record);
    char zeros[64] = "";
    if (d->zero_pages)
        snprintf(zeros, sizeof zeros, "; %llu whole 4 KiB pages of zeros",
                 (unsigned long long)d->zero_pages);
    snprintf(buf, n, "%s at offset %llu is damaged (%llu bytes, %s%s)", what,
             (unsigned long long)d->off, (unsigned long long)d->bytes,
             d->why == GKV_ETRUNC ? "its length runs past the next good record"
                                  : "bad header or checksum",
             zeros);
}

int wal_check_dir(int dirfd, char *err, size_t err_bytes)
{
    uint64_t gens[WAL_MAX_FILES];
    int n = list_logs(dirfd, gens, err, err_bytes);
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        struct wal_file_report r;
        int rc = scan_file(dirfd, gens[i], NULL, NULL, &r, err, err_bytes);
        if (rc != 0)
            return rc;
        if (!wal_file_damaged(&r))
            continue;
        char name[64], what[160];
        wal_name(name, sizeof name, gens[i]);
        if (r.damaged) {
            wal_damage_describe(what, sizeof what, &r.damage[0]);
            snprintf(err, err_bytes, "%s: %s and %llu good records follow it (damaged "
                                     "stretches: %llu, %llu bytes): acknowledged writes may be "
                                     "lost; open refused, nothing changed; `gossipkv inspect "
                                     "--salvage DIR` keeps every good record",
                     name, what, (unsigned long long)r.damage[0].records_after,
                     (unsigned long long)r.damaged, (unsigned long long)r.damaged_bytes);
        } else {
            snprintf(err, err_bytes, "%s: a bad record at offset %llu, and the search for good "
                                     "records after it gave up (record-like bytes past its "
                                     "budget); open refused, nothing changed; see `gossipkv "
                                     "inspect DIR`",
                     name, (unsigned long long)r.tail_off);
        }
        return GKV_ECORRUPT;
    }
    return 0;
}

/* ------------------------------------------------------------ salvage */

struct salvage_out {
    int fd;
    uint64_t gen;
    uint64_t off; /* file offset of buf[0] */
    uint8_t *buf;
    size_t len, cap;
    int rc;
};

static int salvage_rec_cb(void *arg, uint8_t type, const struct entry *e, uint64_t off)
{
    (void)off;
    struct salvage_out *o = arg;
    uint64_t bytes = wal_rec_bytes(type, e);
    if (o->len + bytes > o->cap) {
        int rc = write_all(NULL, o->fd, o->buf, o->len, o->off);
        if (rc != 0)
            return rc;
        o->off += o->len;
        o->len = 0;
        if ((rc = buf_reserve(&o->buf, &o->cap, (size_t)bytes)) != 0)
            return rc;
    }
    /* Re-encoded at its new offset: the checksum is seeded with it. */
    wal_rec_encode(o->buf + o->len, type, e, o->gen, o->off + o->len);
    o->len += (size_t)bytes;
    return 0;
}

/* Create name (O_EXCL when excl) and write bytes to it, durably. */
static int write_file_durably(int dirfd, const char *name, bool excl, const uint8_t *bytes,
                              size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0600);
    if (fd < 0)
        return errno == EEXIST ? GKV_EEXIST : store__errno_code(errno);
    int rc = write_all(NULL, fd, bytes, len, 0);
    if (rc == 0)
        rc = store__fdatasync(NULL, fd);
    close(fd);
    return rc;
}

/* log.<gen>.gkv.salvage: the prologue and the good records of w. */
static int write_salvaged(int dirfd, struct walk *w, const char *tmp, struct wal_file_report *r)
{
    struct salvage_out o = {.gen = w->gen};
    o.fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (o.fd < 0)
        return store__errno_code(errno);
    int rc = buf_reserve(&o.buf, &o.cap, WAL_BUF_BYTES);
    if (rc == 0) {
        struct wal_prologue p;
        wal_prologue_init(&p, w->gen);
        memcpy(o.buf, &p, sizeof p);
        o.len = sizeof p;
        w->cb = salvage_rec_cb;
        w->arg = &o;
        w->budget = resync_budget(w->len);
        memset(r, 0, sizeof *r);
        r->gen = w->gen;
        r->file_bytes = w->len;
        rc = walk_file(w, r);
    }
    if (rc == 0)
        rc = write_all(NULL, o.fd, o.buf, o.len, o.off);
    if (rc == 0)
        rc = store__fdatasync(NULL, o.fd);
    close(o.fd);
    free(o.buf);
    return rc;
}

int wal_salvage_file(int dirfd, uint64_t gen, struct wal_file_report *r, char *backup,
                     size_t backup_bytes, char *err, size_t err_bytes)
{
    char name[64], tmp[80];
    wal_name(name, sizeof name, gen);
    backup[0] = '\0';
    memset(r, 0, sizeof *r);
    r->gen = gen;
    struct walk w = {.gen = gen};
    int rc = map_log(dirfd, gen, &w.base, &w.len, err, err_bytes);
    if (rc != 0)
        return rc;
    r->file_bytes = w.len;
    w.budget = resync_budget(w.len);
    if ((rc = walk_file(&w, r)) != 0 || !wal_file_damaged(r))
        goto out;
    /* The backup first, byte for byte, under a name wal_list ignores. */
    for (int i = 1; i <= 1000; i++) {
        snprintf(backup, backup_bytes, "%s.damaged-%d", name, i);
        rc = write_file_durably(dirfd, backup, true, w.base, (size_t)w.len);
        if (rc != GKV_EEXIST)
            break;
    }
    if (rc != 0) {
        snprintf(err, err_bytes, "%s: cannot write the backup %s: %s", name, backup,
                 gkv_strerror(rc));
        backup[0] = '\0';
        goto out;
    }
    /* Then the salvaged file, renamed over the damaged one: a crash leaves
     * either file whole under the log's name. */
    snprintf(tmp, sizeof tmp, "%s.salvage", name);
    struct wal_file_report r2;
    rc = write_salvaged(dirfd, &w, tmp, &r2);
    if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
        rc = store__errno_code(errno);
    if (rc == 0)
        rc = store__fsync_dir(NULL, dirfd);
    if (rc != 0) {
        snprintf(err, err_bytes, "%s: cannot write the salvaged log (the original is unchanged "
                                 "or in %s): %s",
                 name, backup, gkv_strerror(rc));
        unlinkat(dirfd, tmp, 0);
    }
out:
    if (w.len)
        munmap((void *)w.base, (size_t)w.len);
    return rc;
}
