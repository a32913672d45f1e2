/*
 * sim_repair: what anti-entropy costs against what it repairs, in the
 * simulator (real cores, stores, codec and envelope; virtual clock).
 *
 * A 5-node cluster holds a shared keyspace of K entries (written and spread
 * before anything is measured). One node crashes (store kept), the others
 * take D writes of new keys that it misses, it restarts, and the run waits
 * until every node's root hash agrees. Printed per (K, D):
 *
 *   repair: keyspace=K divergent=D divergent_bytes=B repair_bytes=R
 *           ratio=R/B received_bytes=X catchup_ms=T
 *
 * divergent_bytes is what the missed entries carry before any encoding
 * (key, value, 8 bytes HLC, 8 origin, 16 per vector-clock item: the
 * definition test_sim_catchup asserts a limit of 3x on); repair_bytes is
 * the growth of repair_bytes_sent over every node during the catch-up;
 * received_bytes is everything the restarted node received (datagrams and
 * frames of every kind) in that time. A design whose repair cost follows the
 * keyspace instead of the divergence shows it as a ratio that grows with K.
 *
 *   build/release/bench/sim_repair [--keyspace K,...] [--divergent D,...] [--seed S]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

#define SR_NODES 5u
#define SR_OFFLINE 4u
#define SR_VALUE_BYTES 64u
#define SR_LIST_MAX 16u
/* Virtual time bounds (ms): forming, spreading the base keyspace, catch-up. */
#define SR_FORM_MS 120000u
#define SR_SPREAD_MS 300000u
#define SR_CATCHUP_MS 600000u

static bool sr_converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

static bool sr_alive(struct sim *s, void *arg)
{
    (void)arg;
    return sim_all_see_up_alive(s);
}

static uint64_t sr_repair_bytes(struct sim *s)
{
    struct gossip_stats gs;
    sim_gossip_stats_sum(s, &gs);
    return gs.repair_bytes_sent;
}

/* Writes keys [from, to) spread over the live nodes (100 per 100 ms), each
 * a distinct key with a 64-byte value; returns their bytes (see the top). */
static uint64_t sr_write(struct sim *s, uint32_t from, uint32_t to, const char *prefix)
{
    uint64_t bytes = 0;
    char key[32];
    uint8_t val[SR_VALUE_BYTES];
    for (uint32_t w = from; w < to; w++) {
        snprintf(key, sizeof key, "%s%07u", prefix, w);
        for (uint32_t b = 0; b < SR_VALUE_BYTES; b++)
            val[b] = (uint8_t)(w * 31 + b);
        struct entry e;
        if (sim_write_bytes(s, w % SR_OFFLINE, key, strlen(key), val, sizeof val, &e) != 0) {
            fprintf(stderr, "sim_repair: write %u failed\n", w);
            exit(1);
        }
        bytes += e.key_len + e.value_len + 16 + 16ull * e.vc.n;
        if (w % 100 == 99)
            sim_run_for(s, 100);
    }
    return bytes;
}

static int sr_run(uint64_t seed, uint32_t keyspace, uint32_t divergent)
{
    struct sim_config cfg;
    sim_config_init(&cfg, seed, SR_NODES);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = NULL;
    if (sim_new(&cfg, &s) != 0 || sim_join_all(s, 0) != 0 ||
        !sim_run_until(s, sr_alive, NULL, SR_FORM_MS)) {
        fprintf(stderr, "sim_repair: the cluster did not form\n");
        return 1;
    }
    sr_write(s, 0, keyspace, "base");
    if (!sim_run_until(s, sr_converged, NULL, SR_SPREAD_MS)) {
        fprintf(stderr, "sim_repair: the base keyspace did not spread\n");
        return 1;
    }
    sim_run_for(s, 3000);
    sim_crash(s, SR_OFFLINE, SIM_CRASH_KEEP_STORE);
    uint64_t missed = sr_write(s, 0, divergent, "miss");
    if (!sim_run_until(s, sr_converged, NULL, SR_SPREAD_MS)) {
        fprintf(stderr, "sim_repair: the live nodes did not converge\n");
        return 1;
    }
    sim_run_for(s, 2000); /* rumours of the missed writes die out first */
    uint64_t r0 = sr_repair_bytes(s), t0 = sim_now_ms(s);
    sim_restart(s, SR_OFFLINE);
    bool ok = sim_run_until(s, sr_converged, NULL, SR_CATCHUP_MS);
    uint64_t spent = sr_repair_bytes(s) - r0;
    struct gossip_stats me;
    gossip_stats(sim_node_gossip(s, SR_OFFLINE), &me);
    printf("repair: keyspace=%u divergent=%u divergent_bytes=%" PRIu64 " repair_bytes=%" PRIu64
           " ratio=%.3f received_bytes=%" PRIu64 " catchup_ms=%" PRIu64 "%s\n",
           keyspace, divergent, missed, spent, missed ? (double)spent / (double)missed : 0.0,
           me.bytes_in + me.frame_bytes_in, sim_now_ms(s) - t0, ok ? "" : " NOT-CONVERGED");
    fflush(stdout);
    sim_free(s);
    return ok ? 0 : 1;
}

static uint32_t sr_list(const char *arg, uint32_t *out)
{
    uint32_t n = 0;
    char *copy = strdup(arg), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && n < SR_LIST_MAX; t = strtok_r(NULL, ",", &save))
        out[n++] = (uint32_t)strtoul(t, NULL, 10);
    free(copy);
    return n;
}

int main(int argc, char **argv)
{
    uint32_t ks[SR_LIST_MAX] = {1000}, ds[SR_LIST_MAX] = {10, 100, 1000, 10000};
    uint32_t nks = 1, nds = 4;
    uint64_t seed = 42;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--keyspace"))
            nks = sr_list(argv[i + 1], ks);
        else if (!strcmp(argv[i], "--divergent"))
            nds = sr_list(argv[i + 1], ds);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 0);
        else {
            fprintf(stderr, "usage: sim_repair [--keyspace K,...] [--divergent D,...] [--seed S]\n");
            return 2;
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: sim_repair [--keyspace K,...] [--divergent D,...] [--seed S]\n");
        return 2;
    }
    printf("sim_repair: seed=%" PRIu64 ", %u nodes, links 5 ms + [0,5] ms, %u-byte values\n", seed,
           SR_NODES, SR_VALUE_BYTES);
    int status = 0;
    for (uint32_t a = 0; a < nks; a++)
        for (uint32_t b = 0; b < nds; b++)
            status |= sr_run(seed + a * 1000 + b, ks[a], ds[b]);
    return status;
}
