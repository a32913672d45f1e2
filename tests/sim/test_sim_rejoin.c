/*
 * test_sim_rejoin: a node declared DEAD restarts on its data and joins
 * through a seed in a large cluster; its refutation goes out first.
 *
 * The seed answers the JOIN with its whole view, N / WIRE_MAX_MEMBERS_MSG
 * messages. The first one refutes the DEAD record about the restarted node
 * (incarnation + 1, queued for gossip); from the second one on the node is
 * no longer alone and queues the records it learns for gossip too. Its own
 * ALIVE must not wait behind those ~N records (fewest transmits first,
 * newest first among equals: it waited N / 75 gossip rounds, 38 rounds at
 * N = 10,000 in bench/sim_scale). So with N = 400:
 *
 *   the first other node holds it ALIVE at the new incarnation within
 *   3d + G + 10 ms after the restart: the JOIN and the reply (2d), the
 *   wait for its next gossip round (rounds are G apart; the first one is
 *   drawn in [0, G) from the core's start and runs at the first tick,
 *   which the simulator draws 1 to 10 ms after the start: the 10 ms), and
 *   that datagram (d);
 *
 *   and every other node within 3d + G + 10 + (log2 N + ln N + 2)(G + d),
 *   the rumour bound of docs/SIMULATOR.md from there.
 *
 * d = latency + jitter = 10 ms, G = gossip interval.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim_test.h"

#define N 400u
#define VICTIM 123u

struct watch {
    uint64_t victim_id, victim_inc;
    bool on;
    uint8_t seen[N];
    uint32_t views;
    uint64_t first_ms;
};

static void on_member(void *arg, struct sim *s, uint32_t i, const struct gossip_member_info *m)
{
    struct watch *w = arg;
    if (!w->on || i == VICTIM || m->id != w->victim_id || w->seen[i])
        return;
    if (m->state == GOSSIP_ALIVE && m->incarnation > w->victim_inc) {
        w->seen[i] = 1;
        if (w->views++ == 0)
            w->first_ms = sim_now_ms(s);
    }
}

static bool all_dead(struct sim *s, void *arg)
{
    (void)arg;
    return sim_count_views(s, VICTIM, GOSSIP_DEAD) == N - 1;
}

static bool all_alive(struct sim *s, void *arg)
{
    (void)s;
    const struct watch *w = arg;
    return w->views == N - 1;
}

static void test_rejoin_refutation_goes_out_first(void **state)
{
    (void)state;
    uint64_t seed = sim_test_begin("test_sim_rejoin", 1);
    struct sim_config cfg;
    sim_config_init(&cfg, seed, N);
    cfg.link = (struct sim_link){.latency_ms = 5, .jitter_ms = 5};
    struct sim *s = NULL;
    SIM_OK(sim_new(&cfg, &s));
    SIM_OK(sim_restore_all(s));
    struct gossip_config gc;
    sim_gossip_resolve(&cfg.gossip, &gc);
    double d = 10, g = gc.gossip_interval_ms, p = gc.probe_interval_ms;

    static struct watch w;
    memset(&w, 0, sizeof w);
    struct gossip_member_info self;
    SIM_OK(gossip_member_get(sim_node_gossip(s, VICTIM), 0, &self));
    w.victim_id = self.id;
    w.victim_inc = self.incarnation;
    sim_set_member_hook(s, on_member, &w);

    SIM_OK(sim_crash(s, VICTIM, SIM_CRASH_KEEP_STORE));
    double detect = 11 * p +
                    (double)gc.suspicion_max_mult * gc.suspicion_mult * fmax(1, log10(N)) * p +
                    (log2(N) + log(N) + 2) * (g + d);
    SIM_ASSERT(sim_run_until(s, all_dead, NULL, (uint64_t)detect));

    w.on = true;
    uint64_t t0 = sim_now_ms(s);
    SIM_OK(sim_restart(s, VICTIM));
    uint64_t first_bound = (uint64_t)(3 * d + g) + 10;
    uint64_t all_bound = first_bound + (uint64_t)((log2(N) + log(N) + 2) * (g + d));
    bool done = sim_run_until(s, all_alive, &w, all_bound);
    SIM_ASSERT_MSG(w.views > 0 && w.first_ms - t0 <= first_bound,
                   "first view of the refuted ALIVE %llu ms after the restart (bound %llu)",
                   w.views ? (unsigned long long)(w.first_ms - t0) : 0ull,
                   (unsigned long long)first_bound);
    SIM_ASSERT_MSG(done, "%u of %u nodes hold it ALIVE after %llu ms (bound)", w.views, N - 1,
                   (unsigned long long)all_bound);
    printf("test_sim_rejoin: first view %llu ms (bound %llu), all %llu ms (bound %llu)\n",
           (unsigned long long)(w.first_ms - t0), (unsigned long long)first_bound,
           (unsigned long long)(sim_now_ms(s) - t0), (unsigned long long)all_bound);
    sim_set_member_hook(s, NULL, NULL);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejoin_refutation_goes_out_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
