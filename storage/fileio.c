/*
 * fileio.c: the few file operations of the store, errno mapped to GKV_E*.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/store_int.h"

/* ------------------------------------------- counting blocking calls */

void store__io_count(struct store_io *io)
{
    if (!io)
        return;
    if (io->in_job)
        io->jobs++;
    else
        io->owner[io->cause < STORE_IO_CAUSES ? io->cause : 0]++;
}

unsigned store__io_cause_enter(struct store_io *io, enum store_io_cause c)
{
    unsigned prev = io->cause;
    io->cause = (unsigned)c;
    return prev;
}

void store__io_cause_leave(struct store_io *io, unsigned prev)
{
    io->cause = prev;
}

void store_disk_calls_get(const struct store *s, struct store_disk_calls *out)
{
    for (int i = 0; i < STORE_IO_CAUSES; i++)
        out->owner[i] = s->io.owner[i];
    out->jobs = s->io.jobs;
}

const char *store_io_cause_name(enum store_io_cause c)
{
    static const char *const names[STORE_IO_CAUSES] = {"other", "checkpoint", "table-grow",
                                                       "heap-grow", "fsync-always"};
    return (unsigned)c < STORE_IO_CAUSES ? names[c] : "other";
}

int store__errno_code(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG: /* RLIMIT_FSIZE or the file system's file-size limit */
        return GKV_ENOSPC;
    case ENOMEM:
        return GKV_ENOMEM;
    default:
        return GKV_EIO;
    }
}

int store__file_grow(struct store_io *io, int fd, uint64_t new_bytes)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return store__errno_code(errno);
    if ((uint64_t)st.st_size >= new_bytes)
        return 0;
    store__io_count(io);
    /* posix_fallocate returns the error number instead of setting errno. It
     * reserves real blocks, so touching the new pages through the mapping
     * can never raise SIGBUS on a full disk. */
    int rc = posix_fallocate(fd, (off_t)st.st_size, (off_t)(new_bytes - (uint64_t)st.st_size));
    if (rc == EOPNOTSUPP || rc == EINVAL) {
        /* Some file systems lack fallocate: extend, then write zeros so the
         * blocks exist before anyone maps them. */
        if (ftruncate(fd, (off_t)new_bytes) != 0)
            return store__errno_code(errno);
        static const uint8_t zero[4096];
        for (uint64_t o = (uint64_t)st.st_size; o < new_bytes; o += sizeof zero) {
            size_t n = (size_t)(new_bytes - o < sizeof zero ? new_bytes - o : sizeof zero);
            if (pwrite(fd, zero, n, (off_t)o) != (ssize_t)n)
                return store__errno_code(errno);
        }
        return 0;
    }
    if (rc != 0)
        return store__errno_code(rc);
    return 0;
}

int store__msync_range(struct store_io *io, void *addr, uint64_t off, uint64_t len)
{
    if (len == 0)
        return 0;
    /* The system page size, not FMT_PAGE: msync wants an address aligned to
     * the real page (64 KiB on some aarch64 kernels). */
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = off & ~(page - 1);
    uint64_t end = off + len;
    store__io_count(io);
    /* MS_SYNC: on Linux MS_ASYNC is a no-op, so nothing else makes the
     * pages durable. */
    if (msync((uint8_t *)addr + start, (size_t)(end - start), MS_SYNC) != 0)
        return store__errno_code(errno);
    return 0;
}

int store__fsync_dir(struct store_io *io, int dirfd)
{
    if (dirfd < 0)
        return 0;
    store__io_count(io);
    if (fsync(dirfd) != 0)
        return store__errno_code(errno);
    return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void store__prefault(struct store_io *io, void *addr, uint64_t off, uint64_t len)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = off & ~(page - 1);
    if (len == 0)
        return;
    store__io_count(io);
    (void)madvise((uint8_t *)addr + start, (size_t)(off + len - start), MADV_POPULATE_WRITE);
}

int store__zero_fill(struct store_io *io, int fd, void *addr, uint64_t off, uint64_t len)
{
    /* Page-aligned in both directions, so a partial page at either end is
     * never overwritten (the caller owns whole pages of the range). */
    static const uint8_t zero[64 * 1024];
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t from = (off + page - 1) & ~(page - 1), to = (off + len) & ~(page - 1);
    if (to > from)
        store__io_count(io); /* the pwrites and the populate: one call here */
    for (uint64_t o = from; o < to;) {
        size_t n = (size_t)(to - o < sizeof zero ? to - o : sizeof zero);
        ssize_t w = pwrite(fd, zero, n, (off_t)o);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* Leave the rest to page faults (they still work: the blocks
             * were fallocated); report what went wrong. */
            return w < 0 ? store__errno_code(errno) : GKV_EIO;
        }
        o += (uint64_t)w;
    }
    if (to > from)
        (void)madvise((uint8_t *)addr + from, (size_t)(to - from), MADV_POPULATE_WRITE);
    return 0;
}

int store__fdatasync(struct store_io *io, int fd)
{
    /* fdatasync of a file also writes back the pages dirtied through any
     * MAP_SHARED mapping of it (Linux: they are page-cache pages of the
     * file), so a thread that holds only a dup of the descriptor makes the
     * mapped writes durable. Unlike msync on an address range it cannot be
     * broken by the owner remapping (mremap/munmap) that range meanwhile. */
    int rc;
    store__io_count(io);
    do
        rc = fdatasync(fd);
    while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : store__errno_code(errno);
}

int store__fsync(struct store_io *io, int fd)
{
    store__io_count(io);
    return fsync(fd) == 0 ? 0 : store__errno_code(errno);
}
