/*
 * fuzz_store.c: libFuzzer target for opening a damaged data directory
 * (storage/: header copies, slot table, record heap, recovery, inspect).
 *
 * Once per process a small healthy store is written (a few doublings, values,
 * overwrites, tombstones) and its files are read into memory. Each input is
 * a list of byte patches, 6 bytes each:
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      1    file: input % number of files (header.gkv, log.N.gkv, table.N.gkv,
 *                values.gkv)
 *   1      4    offset in that file, little endian, taken modulo its size
 *   5      1    the byte written there
 *
 * A trailing byte selects truncation of the patched file at the last patch
 * offset when it is odd. The patched copies are written to a scratch
 * directory, then store_inspect() and store_open() run on it. Either may
 * refuse with an error; neither may crash, leak, or, when the open succeeds,
 * hand out entries that break the API's promises (checked below). An open
 * refused for a log damaged in the middle is followed by store_salvage()
 * and a second open, which must not refuse the log again.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "storage/store.h"

#define MAX_FILES 8
#define NOW_MS 1790000000000ull

struct file_image {
    char name[64];
    uint8_t *bytes;
    size_t len;
};

static struct file_image images[MAX_FILES];
static size_t nimages;
static char healthy_dir[64] = "/tmp/gkv-fuzz-store-src.XXXXXX";
static char scratch_dir[64] = "/tmp/gkv-fuzz-store.XXXXXX";

static void die(const char *what)
{
    fprintf(stderr, "fuzz_store setup: %s\n", what);
    abort();
}

static void write_healthy_store(void)
{
    struct store_config cfg;
    store_config_init(&cfg);
    cfg.dir = healthy_dir;
    cfg.node_id = 7;
    cfg.initial_capacity = 16;
    cfg.sync = STORE_SYNC_NONE;
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, NOW_MS, &s, err, sizeof err) != 0)
        die(err[0] ? err : "open");
    char key[32], val[64];
    for (int i = 0; i < 60; i++) {
        int kn = snprintf(key, sizeof key, "key:%d", i);
        int vn = snprintf(val, sizeof val, "value %d with some bytes", i * 7);
        if (store_put(s, key, (size_t)kn, val, (size_t)vn, NOW_MS + (uint64_t)i, NULL) != 0)
            die("put");
    }
    for (int i = 0; i < 60; i += 3) {
        int kn = snprintf(key, sizeof key, "key:%d", i);
        if (store_del(s, key, (size_t)kn, NOW_MS + 100, NULL, NULL) != 0)
            die("del");
    }
    for (int i = 1; i < 60; i += 5) {
        int kn = snprintf(key, sizeof key, "key:%d", i);
        if (store_put(s, key, (size_t)kn, "v2", 2, NOW_MS + 200, NULL) != 0)
            die("overwrite");
    }
    /* Finish any incremental doubling so the image holds one live table. */
    for (int i = 0; i < 1000; i++)
        store_tick(s, NOW_MS + 300 + (uint64_t)i);
    if (store_close(s) != 0)
        die("close");
}

/* Reopen with a write-ahead log and write more: the images are read while
 * it is open (load_images), as a crash would leave the directory: the
 * log holds the writes since the reopen's checkpoint. */
static struct store *write_logged_tail(void)
{
    struct store_config cfg;
    store_config_init(&cfg);
    cfg.dir = healthy_dir;
    cfg.sync = STORE_SYNC_ALWAYS;
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    if (store_open(&cfg, NOW_MS + 400, &s, err, sizeof err) != 0)
        die(err[0] ? err : "reopen");
    char key[32], val[64];
    for (int i = 0; i < 24; i++) {
        int kn = snprintf(key, sizeof key, "key:%d", i * 3 + 1);
        int vn = snprintf(val, sizeof val, "logged %d", i);
        if (store_put(s, key, (size_t)kn, val, (size_t)vn, NOW_MS + 500 + (uint64_t)i, NULL) != 0)
            die("logged put");
    }
    if (store_del(s, "key:2", 5, NOW_MS + 600, NULL, NULL) != 0)
        die("logged del");
    return s;
}

static void load_images(void)
{
    DIR *d = opendir(healthy_dir);
    if (!d)
        die("opendir");
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".gkv") == NULL || nimages == MAX_FILES)
            continue;
        char path[160];
        snprintf(path, sizeof path, "%s/%s", healthy_dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            die("fopen");
        struct file_image *im = &images[nimages++];
        snprintf(im->name, sizeof im->name, "%s", de->d_name);
        fseek(f, 0, SEEK_END);
        im->len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        im->bytes = malloc(im->len ? im->len : 1);
        if (!im->bytes || fread(im->bytes, 1, im->len, f) != im->len)
            die("read");
        fclose(f);
    }
    closedir(d);
    /* readdir order is not stable across file systems: sort by name so a
     * corpus input means the same thing everywhere. */
    for (size_t i = 0; i < nimages; i++)
        for (size_t j = i + 1; j < nimages; j++)
            if (strcmp(images[j].name, images[i].name) < 0) {
                struct file_image t = images[i];
                images[i] = images[j];
                images[j] = t;
            }
    if (nimages == 0)
        die("no files");
}

/* Remove the files of dir (it holds no subdirectories). */
static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[160];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

static void clear_scratch(void)
{
    clear_dir(scratch_dir);
}

/* At exit (libFuzzer exits through exit() when its runs end): leave no
 * directory behind in /tmp; every CI run used to leave two. */
static void remove_scratch(void)
{
    clear_dir(scratch_dir);
    rmdir(scratch_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(healthy_dir) || !mkdtemp(scratch_dir))
        die("mkdtemp");
    atexit(remove_scratch);
    write_healthy_store();
    struct store *s = write_logged_tail();
    load_images();
    if (store_close(s) != 0)
        die("close after the logged writes");
    /* The images are in memory now: the healthy store's files are not
     * needed any more. */
    clear_dir(healthy_dir);
    rmdir(healthy_dir);
    return 0;
}

static void write_file(const char *name, const uint8_t *bytes, size_t len)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", scratch_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open scratch");
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, bytes + off, len - off);
        if (w <= 0)
            die("write scratch");
        off += (size_t)w;
    }
    close(fd);
}


struct scan_check {
    size_t seen;
    uint32_t max_value_bytes;
};

static int check_entry(void *arg, const struct entry *e)
{
    struct scan_check *c = arg;
    if (e->key_len < 1 || e->key_len > GKV_KEY_MAX || !e->key)
        abort();
    if (e->value_len > c->max_value_bytes || (e->value_len && !e->value))
        abort();
    if (!vclock_valid(&e->vc))
        abort();
    /* Touch every byte: ASan reports any entry pointing outside the map. */
    volatile uint8_t sink = 0;
    for (uint32_t i = 0; i < e->key_len; i++)
        sink ^= e->key[i];
    for (uint32_t i = 0; i < e->value_len; i++)
        sink ^= e->value[i];
    (void)sink;
    c->seen++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *work[MAX_FILES];
    static size_t work_len[MAX_FILES];
    for (size_t i = 0; i < nimages; i++) {
        free(work[i]);
        work[i] = malloc(images[i].len ? images[i].len : 1);
        if (!work[i])
            die("malloc");
        memcpy(work[i], images[i].bytes, images[i].len);
        work_len[i] = images[i].len;
    }
    size_t last_file = 0, last_off = 0;
    size_t npatches = size / 6;
    if (npatches > 4096)
        npatches = 4096;
    for (size_t p = 0; p < npatches; p++) {
        const uint8_t *q = data + 6 * p;
        size_t f = q[0] % nimages;
        uint32_t off = (uint32_t)q[1] | (uint32_t)q[2] << 8 | (uint32_t)q[3] << 16 |
                       (uint32_t)q[4] << 24;
        if (work_len[f] == 0)
            continue;
        off %= (uint32_t)work_len[f];
        work[f][off] = q[5];
        last_file = f;
        last_off = off;
    }
    if (size % 6 != 0 && (data[size - 1] & 1) && npatches > 0)
        work_len[last_file] = last_off; /* truncate the last patched file */

    clear_scratch();
    for (size_t i = 0; i < nimages; i++)
        write_file(images[i].name, work[i], work_len[i]);

    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull)
        die("/dev/null");
    (void)store_inspect(scratch_dir, true, devnull);
    fclose(devnull);

    struct store_config cfg;
    store_config_init(&cfg);
    cfg.dir = scratch_dir;
    cfg.sync = STORE_SYNC_NONE;
    struct store *s = NULL;
    char err[STORE_OPEN_ERR_BYTES] = "";
    int rc = store_open(&cfg, NOW_MS + 1000, &s, err, sizeof err);
    if (rc != 0) {
        if (s != NULL || err[0] == '\0')
            abort(); /* a refusal must say why and hand out nothing */
        if (strstr(err, "good records follow") == NULL)
            return 0;
        /* A log damaged in the middle: salvage, after which the open must
         * not refuse the logs again. */
        devnull = fopen("/dev/null", "w");
        if (!devnull)
            die("/dev/null");
        int src = store_salvage(scratch_dir, devnull);
        fclose(devnull);
        if (src != 0)
            return 0;
        rc = store_open(&cfg, NOW_MS + 1000, &s, err, sizeof err);
        if (rc != 0 && (s != NULL || strstr(err, "good records follow") != NULL))
            abort();
        if (rc != 0)
            return 0;
    }
    struct store_stats st;
    store_stats(s, &st);
    struct scan_check c = {.max_value_bytes = GKV_VALUE_MAX_DEFAULT};
    uint64_t cursor = 0;
    int rounds = 0;
    do {
        if (store_scan(s, &cursor, 64, check_entry, &c) != 0)
            break;
    } while (cursor != 0 && ++rounds < 100000);
    /* The store must keep working after recovery: a write and a read back. */
    if (store_put(s, "fuzz", 4, "ok", 2, NOW_MS + 2000, NULL) == 0) {
        struct entry e;
        if (store_get(s, "fuzz", 4, &e) != 0 || e.value_len != 2 || memcmp(e.value, "ok", 2) != 0)
            abort();
    }
    store_close(s);
    return 0;
}
