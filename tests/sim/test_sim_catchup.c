/*
 * test_sim_catchup: a node offline for 10,000 writes (made on the others)
 * rejoins and catches up, and the repair costs at most 3x the bytes of what
 * it missed.
 *
 * "Bytes of the entries it missed" = for each missed entry, its key, its
 * value, 8 (HLC) + 8 (origin) and 16 per vector-clock item: the information
 * an entry carries, before any encoding. "Repair bytes" = the growth, over
 * the catch-up window, of repair_bytes_sent summed over every node's
 * gossip_stats (the bytes the anti-entropy path put on the wire for this
 * repair). The same limit is also asserted on everything the node received
 * since its restart (sealed datagrams and frames of every kind). The
 * constant 3 leaves room for msgpack framing (~30 bytes per
 * entry), the sealed envelope (40 bytes per datagram), digests (one bucket
 * hash per differing bucket) and one peer repairing a bucket another peer
 * already sent; a design that resends the whole keyspace per sync round, or
 * repairs through gossip retransmits, needs far more than 3x and fails.
 *
 * Catch-up bound (docs/SIMULATOR.md, "Catch-up"): the restarted node rejoins
 * through the seed at once; its first digest exchange happens within one
 * sync interval, and it then draws buckets at repair_bytes_per_tick per tick:
 *     bound = 12 * sync_interval_ms (the 2^-k argument of test_sim_partition)
 *           + missed_bytes * 3 / repair_bytes_per_tick ticks of 10 ms + 2 s.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 6u
#define OFFLINE 5u
#define WRITES 10000u
#define VALUE_BYTES 64u
#define MAX_RATIO 3.0

static bool converged(struct sim *s, void *arg)
{
    (void)arg;
    return sim_converged(s);
}

static uint64_t repair_bytes(struct sim *s)
{
    struct gossip_stats gs;
    sim_gossip_stats_sum(s, &gs);
    return gs.repair_bytes_sent;
}

static void test_node_offline_for_10000_writes_catches_up_within_3x_bytes(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_catchup", 6);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = sim_test_form_cluster(&cfg);
    SIM_OK(sim_write(s, 0, "before", "everyone has this", NULL));
    sim_run_for(s, 3000);
    SIM_OK(sim_crash(s, OFFLINE, SIM_CRASH_KEEP_STORE));

    /* 10,000 writes of distinct keys over 10 s (100 every 100 ms), spread
     * over the live nodes. */
    uint64_t missed_bytes = 0;
    char key[32];
    uint8_t val[VALUE_BYTES];
    for (uint32_t w = 0; w < WRITES; w++) {
        snprintf(key, sizeof key, "key%05u", w);
        for (uint32_t b = 0; b < VALUE_BYTES; b++)
            val[b] = (uint8_t)(w * 31 + b);
        struct entry e;
        SIM_OK(sim_write_bytes(s, w % (N - 1), key, strlen(key), val, sizeof val, &e));
        missed_bytes += e.key_len + e.value_len + 16 + 16ull * e.vc.n;
        if (w % 100 == 99)
            sim_run_for(s, 100);
    }
    SIM_ASSERT_MSG(sim_run_until(s, converged, NULL, 300000),
                   "the live nodes did not converge among themselves");

    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    uint64_t r0 = repair_bytes(s);
    uint64_t t0 = sim_now_ms(s);
    SIM_OK(sim_restart(s, OFFLINE));
    uint64_t bound =
        12ull * gc.sync_interval_ms +
        missed_bytes * 3 / (gc.repair_bytes_per_tick ? gc.repair_bytes_per_tick : 1) * 10 + 2000;
    bool ok = sim_run_until(s, converged, NULL, bound);
    uint64_t spent = repair_bytes(s) - r0;
    struct gossip_stats me;
    gossip_stats(sim_node_gossip(s, OFFLINE), &me);
    double ratio = (double)spent / (double)missed_bytes;
    printf("caught up on %u entries (%llu bytes) after %llu ms (bound %llu ms); repair bytes "
           "%llu = %.2fx (limit %.1fx); the node received %llu datagram + %llu stream bytes\n",
           WRITES, (unsigned long long)missed_bytes, (unsigned long long)(sim_now_ms(s) - t0),
           (unsigned long long)bound, (unsigned long long)spent, ratio, MAX_RATIO,
           (unsigned long long)me.bytes_in, (unsigned long long)me.frame_bytes_in);
    SIM_ASSERT_MSG(ok, "node %u did not catch up within %llu ms", OFFLINE,
                   (unsigned long long)bound);
    SIM_ASSERT(sim_has_value(s, OFFLINE, "before", "everyone has this"));
    struct store_stats ss;
    store_stats(sim_node_store(s, OFFLINE), &ss);
    SIM_ASSERT(ss.entries == WRITES + 1);
    SIM_ASSERT_MSG(spent > 0, "no repair bytes counted: the catch-up must go through repair");
    /* Every bucket differs: the peers serve it with whole-table sweeps
     * (sync.c), one store_scan pass instead of one pass per bucket. */
    struct gossip_stats all;
    sim_gossip_stats_sum(s, &all);
    SIM_ASSERT_MSG(all.repair_sweeps > 0, "the catch-up repair used no sweep");
    SIM_ASSERT_MSG(ratio <= MAX_RATIO, "repair cost %.2fx the missed bytes (limit %.1fx)", ratio,
                   MAX_RATIO);
    /* Stricter: everything the node received since it restarted (sealed
     * datagrams and frames: repairs, digests, membership, envelopes). */
    double all_in = (double)(me.bytes_in + me.frame_bytes_in) / (double)missed_bytes;
    SIM_ASSERT_MSG(all_in <= MAX_RATIO,
                   "the node received %.2fx the missed bytes in all (limit %.1fx)", all_in,
                   MAX_RATIO);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_offline_for_10000_writes_catches_up_within_3x_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
