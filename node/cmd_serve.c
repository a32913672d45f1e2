/*
 * cmd_serve.c: `gossipkv serve`: start a node, run its loop, stop cleanly.
 *
 * Start: config -> keys -> store (node id) -> seal epoch -> seal context ->
 * client listener -> gossip sockets + core (join) -> loop.
 * A 10 ms timer drives store_tick and gossip_tick and, in sync=batch,
 * starts the group commit (the write-ahead log's write + fdatasync, and at
 * a checkpoint the data files' fdatasyncs), whose I/O runs on the libuv
 * thread pool (uv_run returns only after it ended, so the store is closed
 * after it); a 1 s timer runs client housekeeping (idle timeouts) and the
 * debounced write of <data>/peers (peers.c, also on the pool).
 *
 * Signals: SIGINT/SIGTERM stop taking clients, announce a graceful leave
 * and keep gossiping for leave-timeout-ms so it spreads, then close the
 * store (msync, clean flag) and exit 0; a second signal skips the wait.
 * SIGHUP re-reads the key file.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/errors.h"
#include "node/cli.h"
#include "node/log.h"
#include "node/metrics.h"
#include "node/node.h"

/* The core and the store want ticks about every 10 ms (gossip.h, store.h). */
#define TICK_MS 10u
#define CRON_MS 1000u
/* Sockets beyond clients: listeners, UDP, sync streams, the data files. */
#define EXTRA_FDS 1100u

static void finish(struct node *n);

/* sync=batch: the group commit's fdatasyncs run on a libuv pool thread, as
 * Redis appendfsync everysec runs its fsync in a bio thread, so the loop
 * keeps serving while the disk works (store.h: store_sync_begin). */
static void sync_work_cb(uv_work_t *w)
{
    struct node *n = w->data;
    n->sync_rc = store_sync_job_run(n->sync_job);
}

static void sync_after_cb(uv_work_t *w, int status)
{
    struct node *n = w->data;
    struct store_sync_job *job = n->sync_job;
    n->sync_job = NULL;
    int rc = store_sync_end(n->store, job, status == 0 ? n->sync_rc : GKV_EIO);
    if (rc != 0)
        node_log(NODE_LOG_ERROR, "background sync failed", "error=\"%s\"", gkv_strerror(rc));
}

static void maybe_start_sync(struct node *n, uint64_t now)
{
    if (n->sync_job || n->stopping || !store_sync_due(n->store, now))
        return;
    struct store_sync_job *job;
    int rc = store_sync_begin(n->store, &job);
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot start a sync", "error=\"%s\"", gkv_strerror(rc));
        return;
    }
    n->sync_job = job;
    n->sync_work.data = n;
    rc = uv_queue_work(n->loop, &n->sync_work, sync_work_cb, sync_after_cb);
    if (rc != 0) {
        /* No pool thread: sync here rather than not at all. */
        n->sync_job = NULL;
        rc = store_sync_end(n->store, job, store_sync_job_run(job));
        if (rc != 0)
            node_log(NODE_LOG_ERROR, "sync failed", "error=\"%s\"", gkv_strerror(rc));
    }
}

/* Growth ahead of need (store.h: store_prep_begin) on the pool too: the
 * loop never waits for fallocate, pre-faulting, a doubling's fdatasyncs or
 * the release of a retired table. One job at a time; the next starts as
 * soon as one ends, so a chain (commit, retire) takes no ticks. */
static void maybe_start_prep(struct node *n);

static void prep_work_cb(uv_work_t *w)
{
    struct node_prep_slot *p = w->data;
    uint64_t t0 = uv_hrtime();
    p->rc = store_prep_job_run(p->job);
    p->run_us = (uv_hrtime() - t0) / 1000;
}

static void prep_after_cb(uv_work_t *w, int status)
{
    struct node_prep_slot *p = w->data;
    struct store_prep_job *job = p->job;
    p->job = NULL;
    char kind[16];
    snprintf(kind, sizeof kind, "%s", store_prep_job_kind(job));
    int rc = store_prep_end(p->n->store, job, status == 0 ? p->rc : GKV_EIO);
    if (rc != 0)
        node_log(NODE_LOG_WARN, "background storage preparation failed",
                 "job=%s error=\"%s\"", kind, gkv_strerror(rc));
    else
        node_log(NODE_LOG_DEBUG, "background storage preparation done", "job=%s run_us=%" PRIu64,
                 kind, p->run_us);
    maybe_start_prep(p->n);
}

static void maybe_start_prep(struct node *n)
{
    for (int i = 0; i < 3 && !n->stopping; i++) {
        struct node_prep_slot *p = &n->prep[i];
        if (p->job)
            continue;
        struct store_prep_job *job;
        int rc = store_prep_begin(n->store, &job);
        if (rc != 0 && rc != GKV_EAGAIN)
            node_log(NODE_LOG_WARN, "cannot start a storage preparation", "error=\"%s\"",
                     gkv_strerror(rc));
        if (!job)
            return;
        p->n = n;
        p->job = job;
        p->work.data = p;
        if (uv_queue_work(n->loop, &p->work, prep_work_cb, prep_after_cb) != 0) {
            p->job = NULL; /* no pool thread: here rather than not at all */
            rc = store_prep_end(n->store, job, store_prep_job_run(job));
            if (rc != 0)
                node_log(NODE_LOG_WARN, "storage preparation failed", "error=\"%s\"",
                         gkv_strerror(rc));
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    uint64_t t0 = n->latency.threshold_ms ? uv_hrtime() : 0;
    uint64_t now = node_wall_ms();
    maybe_start_sync(n, now);
    maybe_start_prep(n);
    store_tick(n->store, now);
    node_flush_tick(n);
    node_clock_tick(n, now);
    node_cluster_tick(n, now);
    if (n->leaving && uv_now(n->loop) >= n->leave_deadline_ms)
        finish(n);
    if (t0)
        node_latency_section(n, NODE_LAT_TICK, t0);
}

static void on_cron(uv_timer_t *t)
{
    struct node *n = t->data;
    node_server_cron(&n->server, uv_now(n->loop));
    node_clock_cron(n);
    node_peers_cron(n, node_wall_ms());
    node_fill_cron(n, uv_now(n->loop));
    node_info_cron(n, uv_now(n->loop));
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Close every handle; uv_run returns once their callbacks have run. */
static void finish(struct node *n)
{
    if (n->stopping)
        return;
    n->stopping = true;
    n->leaving = false;
    node_server_stop(&n->server);
    node_cluster_stop(n);
    node_metrics_stop(n->metrics);
    uv_walk(n->loop, close_walk_cb, NULL);
}

static void begin_stop(struct node *n, const char *why)
{
    if (n->stopping)
        return;
    if (n->leaving) {
        node_log(NODE_LOG_WARN, "second signal: stopping now", NULL);
        finish(n);
        return;
    }
    node_log(NODE_LOG_INFO, "shutting down", "signal=%s", why);
    /* No new client work while the leave spreads. */
    node_server_stop(&n->server);
    if (n->gossip && n->cfg.leave_timeout_ms) {
        gossip_leave(n->gossip, node_wall_ms());
        n->leaving = true;
        n->leave_deadline_ms = uv_now(n->loop) + n->cfg.leave_timeout_ms;
        return;
    }
    finish(n);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct node *n = h->data;
    if (signum == SIGHUP) {
        char err[512];
        int rc = node_keys_reload(n, err, sizeof(err));
        if (rc == 0)
            node_log(NODE_LOG_INFO, "keyring reloaded", "file=%s keys=%u", n->cfg.key_file,
                     n->keys ? n->keys->n : 0);
        else
            node_log(NODE_LOG_ERROR, "keyring reload failed", "error=\"%s\"", err);
        return;
    }
    begin_stop(n, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void raise_fd_limit(struct node *n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)n->cfg.maxclients + EXTRA_FDS;
    if (rl.rlim_cur >= want)
        return;
    rlim_t target = want < rl.rlim_max ? want : rl.rlim_max;
    rl.rlim_cur = target;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (target < want) {
        /* As Redis: fit maxclients to what the process may open. */
        uint32_t fit = target > EXTRA_FDS ? (uint32_t)(target - EXTRA_FDS) : 1;
        node_log(NODE_LOG_WARN, "open file limit too low for maxclients: lowered",
                 "maxclients=%u limit=%llu", fit, (unsigned long long)target);
        n->cfg.maxclients = fit;
    }
}

static int mkdir_p(const char *path)
{
    char tmp[NODE_PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* header.gkv marks a store directory (docs/FILE_FORMAT.md). */
static bool data_dir_has_store(const char *dir)
{
    char hdr[NODE_PATH_MAX + 16];
    struct stat st;
    int len = snprintf(hdr, sizeof(hdr), "%s/header.gkv", dir);
    return len > 0 && (size_t)len < sizeof(hdr) && stat(hdr, &st) == 0;
}

static int open_store(struct node *n)
{
    if (mkdir_p(n->cfg.data_dir) != 0) {
        node_log(NODE_LOG_ERROR, "cannot create the data directory", "dir=%s error=\"%s\"",
                 n->cfg.data_dir, strerror(errno));
        return GKV_EIO;
    }
    /* The directory holds the store and the epoch; others should not read
     * it. A directory made by someone else is left as it is, with a warning. */
    struct stat dst;
    if (stat(n->cfg.data_dir, &dst) == 0 && (dst.st_mode & 077))
        node_log(NODE_LOG_WARN, "data directory is accessible by group or others",
                 "dir=%s mode=%04o hint=\"chmod 700 %s\"", n->cfg.data_dir,
                 (unsigned)(dst.st_mode & 07777), n->cfg.data_dir);
    struct store_config sc;
    store_config_init(&sc);
    sc.dir = n->cfg.data_dir;
    sc.sync = n->cfg.sync;
    sc.max_value_bytes = n->cfg.max_value_bytes;
    sc.max_entries = n->cfg.max_keys;
    sc.batch_ms = n->cfg.sync_batch_ms;
    sc.wal_checkpoint_bytes = n->cfg.wal_checkpoint_bytes;
    sc.pages = n->cfg.pages;
    sc.no_read_cache = n->cfg.no_read_cache;
    sc.external_batch_sync = true; /* on_tick runs the group commit off the loop */
    sc.external_prep = true;       /* and growth, pre-faulting, retirement */
    sc.initial_capacity = n->cfg.initial_capacity;
    sc.tombstone_grace_ms = n->cfg.tombstone_grace_ms;
    /* A new store gets a fresh identity; an existing one keeps its own
     * (node_id 0 = take the header's; docs/FILE_FORMAT.md: header.gkv marks
     * a store directory). */
    bool fresh = !data_dir_has_store(n->cfg.data_dir);
    if (fresh) {
        do
            node_random(&sc.node_id, sizeof(sc.node_id));
        while (sc.node_id == 0);
        node_random(sc.placement_secret, sizeof(sc.placement_secret));
    }
    char msg[STORE_OPEN_ERR_BYTES] = "";
    int rc = store_open(&sc, node_wall_ms(), &n->store, msg, sizeof msg);
    sodium_memzero(sc.placement_secret, sizeof(sc.placement_secret));
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot open the store", "dir=%s error=\"%s\" detail=\"%s\"",
                 n->cfg.data_dir, gkv_strerror(rc), msg);
        return rc;
    }
    n->node_id = store_node_id(n->store);
    store_disk_calls_get(n->store, &n->disk_calls_base);
    struct store_stats ss;
    store_stats(n->store, &ss);
    node_log(NODE_LOG_INFO, fresh ? "store created" : "store opened",
             "dir=%s node_id=%016" PRIx64 " entries=%" PRIu64 " tombstones=%" PRIu64
             " recovered=%d incarnation=%" PRIu64 " log_replayed_records=%" PRIu64
             " log_replay_torn_bytes=%" PRIu64,
             n->cfg.data_dir, n->node_id, ss.entries, ss.tombstones, ss.recovered ? 1 : 0,
             ss.incarnation, ss.log_replayed_records, ss.log_replay_torn_bytes);
    return 0;
}

/* A node away from its cluster longer than the tombstone grace must rejoin
 * empty (docs/OPERATIONS.md, "Tombstones"): its peers may have purged
 * deletes that its data predates, and anti-entropy would bring the deleted
 * keys back. "Away" is measured from <data>/peers: the newest time a peer
 * was seen alive, refreshed every minute while one is. */
static int check_stale_data(struct node *n)
{
    uint64_t contact_ms = node_peers_last_contact_ms(n), now_ms = node_wall_ms();
    uint64_t grace_ms = n->cfg.tombstone_grace_ms;
    struct store_stats ss;
    store_stats(n->store, &ss);
    if (!contact_ms || now_ms <= contact_ms || now_ms - contact_ms <= grace_ms ||
        ss.entries + ss.tombstones == 0)
        return 0;
    if (n->cfg.stale_data_ok) {
        node_log(NODE_LOG_WARN, "starting on data older than the tombstone grace (stale-data-ok)",
                 "dir=%s away_s=%" PRIu64 " tombstone_grace_ms=%" PRIu64, n->cfg.data_dir,
                 (now_ms - contact_ms) / 1000, grace_ms);
        return 0;
    }
    node_log(NODE_LOG_ERROR, "data is older than the tombstone grace: refusing to rejoin with it",
             "dir=%s away_s=%" PRIu64 " tombstone_grace_ms=%" PRIu64 " entries=%" PRIu64
             " tombstones=%" PRIu64
             " hint=\"peers may have purged deletes this data predates, which would come back: "
             "move %s aside and start on an empty data directory (the node fills from its "
             "peers), or pass --stale-data-ok if no peer can have purged them (the whole "
             "cluster was down together)\"",
             n->cfg.data_dir, (now_ms - contact_ms) / 1000, grace_ms, ss.entries, ss.tombstones,
             n->cfg.data_dir);
    return GKV_ESTATE;
}

static void node_cleanup(struct node *n)
{
    if (n->gossip)
        gossip_free(n->gossip);
    n->gossip = NULL;
    node_peers_close(n);
    node_cluster_free(n);
    node_metrics_free(n->metrics);
    n->metrics = NULL;
    if (n->seal)
        seal_ctx_free(n->seal);
    if (n->keyring)
        seal_keyring_free(n->keyring);
    if (n->keys)
        sodium_free(n->keys);
    if (n->store) {
        int rc = store_close(n->store);
        if (rc != 0)
            node_log(NODE_LOG_ERROR, "store close failed", "error=\"%s\"", gkv_strerror(rc));
        else
            node_log(NODE_LOG_INFO, "store closed cleanly", NULL);
    }
    n->store = NULL;
}

int cli_serve(int argc, char **argv)
{
    static struct node node; /* large (config, buffers): not on the stack */
    struct node *n = &node;
    memset(n, 0, sizeof(*n));
    char err[1024];
    node_config_defaults(&n->cfg);
    int rc = node_config_from_args(&n->cfg, argc, argv, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc == 0)
        rc = node_config_finish(&n->cfg, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "gossipkv serve: %s\n", err);
        return 2;
    }
    node_log_set_level(n->cfg.log_level);
    node_log_set_json(!strcmp(n->cfg.log_format, "json"));
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        node_log(NODE_LOG_ERROR, "libsodium failed to initialize", NULL);
        return 1;
    }
    raise_fd_limit(n);
    rc = node_keys_load(n, err, sizeof(err));
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot load keys", "error=\"%s\"", err);
        node_cleanup(n);
        return 2;
    }
    if (n->cfg.insecure)
        node_log(NODE_LOG_WARN, "running --insecure: gossip is neither encrypted nor "
                                "authenticated; anyone who can reach the gossip port can "
                                "read and forge cluster traffic",
                 NULL);
    uint8_t rid[20];
    node_random(rid, sizeof(rid));
    sodium_bin2hex(n->run_id, sizeof(n->run_id), rid, sizeof(rid));

    struct node_epoch_args ea = {.data_dir = n->cfg.data_dir,
                                 .store_exists = data_dir_has_store(n->cfg.data_dir),
                                 .reset = n->cfg.epoch_reset,
                                 .wall_s = node_wall_ms() / 1000};
    node_random(&ea.boot_random, sizeof(ea.boot_random));
    if ((rc = open_store(n)) != 0) {
        node_cleanup(n);
        return 1;
    }
    rc = node_epoch_next(&ea, &n->epoch, err, sizeof(err));
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot take a seal epoch", "error=\"%s\"", err);
        node_cleanup(n);
        return 1;
    }
    if (n->cfg.epoch_reset)
        node_log(NODE_LOG_WARN, "seal epoch reset: the epoch file was not trusted",
                 "epoch=%" PRIu64, n->epoch);
    rc = seal_ctx_new(n->keyring, n->cfg.label, n->node_id, n->epoch, &n->seal);
    if (rc != 0) {
        node_log(NODE_LOG_ERROR, "cannot create the seal context", "error=\"%s\"",
                 gkv_strerror(rc));
        node_cleanup(n);
        return 1;
    }

    n->loop = uv_default_loop();
    n->start_ms = node_wall_ms();
    n->start_mono_ms = uv_now(n->loop);
    if ((rc = node_peers_open(n)) != 0 || (rc = check_stale_data(n)) != 0 ||
        (rc = node_server_start(&n->server, n)) != 0 ||
        (rc = node_cluster_start(n)) != 0 || (rc = node_metrics_start(n)) != 0) {
        finish(n);
        uv_run(n->loop, UV_RUN_DEFAULT);
        node_cleanup(n);
        uv_loop_close(n->loop);
        return 1;
    }
    uv_timer_init(n->loop, &n->tick_timer);
    n->tick_timer.data = n;
    uv_timer_start(&n->tick_timer, on_tick, TICK_MS, TICK_MS);
    uv_timer_init(n->loop, &n->cron_timer);
    n->cron_timer.data = n;
    uv_timer_start(&n->cron_timer, on_cron, CRON_MS, CRON_MS);
    if ((rc = node_latency_start(n)) != 0)
        node_log(NODE_LOG_WARN, "latency monitor off: libuv has no idle-time metric",
                 "error=\"%s\"", uv_strerror(rc));
    uv_signal_t *sigs[] = {&n->sig_int, &n->sig_term, &n->sig_hup};
    int signums[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(n->loop, sigs[i]);
        sigs[i]->data = n;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    char qname[WIRE_MAX_NAME + 8];
    node_log(NODE_LOG_INFO, "node started",
             "name=%s node_id=%016" PRIx64 " gossip=%s advertise=%s client=%s sync=%s "
             "epoch=%" PRIu64 " secure=%d seeds=%u version=%s",
             node_log_quote(n->cfg.name, qname, sizeof(qname)), n->node_id, n->cfg.gossip_addr,
             n->cfg.advertise_addr, n->cfg.client_addr,
             n->cfg.sync == STORE_SYNC_NONE     ? "none"
             : n->cfg.sync == STORE_SYNC_ALWAYS ? "always"
                                                : "batch",
             n->epoch, n->keyring ? 1 : 0, n->cfg.join_count, GKV_VERSION);

    uv_run(n->loop, UV_RUN_DEFAULT);
    node_cleanup(n);
    int lc = uv_loop_close(n->loop);
    if (lc != 0)
        node_log(NODE_LOG_WARN, "loop closed with handles open", "error=\"%s\"", uv_strerror(lc));
    node_log(NODE_LOG_INFO, "node stopped", NULL);
    return n->exit_code;
}
