/*
 * clock.c: the wall clock node/ hands to gossip/ and storage/.
 *
 * node_wall_ms() is the only clock the HLC, the gossip core's timers and
 * its clock-offset measurement see. For experiments (clock nemeses) a node
 * started with `clock-offset-control yes` adds an offset to it that the
 * CLOCKOFFSET command changes at run time, so a test can skew, jump and
 * strobe one node's clock without libfaketime and without touching the
 * host's clock. Off unless enabled at start: a production node refuses the
 * command. The log lines keep the host's real time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "node/log.h"
#include "node/node.h"

/* One node per process, one loop thread: a plain static is enough. */
static int64_t clock_injected_offset_ms;

/* The largest injected offset accepted: a year either way keeps the sum far
 * from 0 and from the HLC's 48-bit ms field. */
#define CLOCK_INJECTED_MAX_MS (366ll * 24 * 3600 * 1000)

uint64_t node_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t real_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return (uint64_t)((int64_t)real_ms + clock_injected_offset_ms);
}

int64_t node_clock_injected_ms(void)
{
    return clock_injected_offset_ms;
}

/* CLOCKOFFSET SET <ms> | CLOCKOFFSET GET (experiments only). */
void node_cmd_clockoffset(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    if (!n->cfg.clock_offset_control) {
        resp_write_error(o, "ERR CLOCKOFFSET is for experiments only: start the node with "
                            "--clock-offset-control yes to enable it");
        return;
    }
    bool is_get = cmd->argc == 2 && cmd->argv_len[1] == 3 &&
                  !strncasecmp((const char *)cmd->argv[1], "GET", 3);
    bool is_set = cmd->argc == 3 && cmd->argv_len[1] == 3 &&
                  !strncasecmp((const char *)cmd->argv[1], "SET", 3);
    if (is_get) {
        resp_write_int(o, (long long)clock_injected_offset_ms);
        return;
    }
    long long ms;
    if (!is_set || !resp_str2ll(cmd->argv[2], cmd->argv_len[2], &ms)) {
        resp_write_error(o, "ERR usage: CLOCKOFFSET SET <milliseconds> | CLOCKOFFSET GET");
        return;
    }
    if (ms > CLOCK_INJECTED_MAX_MS || ms < -CLOCK_INJECTED_MAX_MS) {
        resp_write_errorf(o, "ERR offset out of range (at most %lld ms either way)",
                          CLOCK_INJECTED_MAX_MS);
        return;
    }
    node_log(NODE_LOG_WARN, "clock offset injected (experiments only)",
             "offset_ms=%lld previous_ms=%" PRId64, ms, clock_injected_offset_ms);
    clock_injected_offset_ms = ms;
    resp_write_simple(o, "OK");
}

/* ------------------------------------------------ the cluster's clock */

/* A change of (wall - monotonic) larger than this between two 10 ms ticks
 * is a step of the wall clock (NTP slews at most 0.5 ms a second; a loop
 * stall moves both clocks alike). */
#define NODE_CLOCK_STEP_MIN_MS 20

static int64_t mono_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000u);
}

void node_clock_tick(struct node *n, uint64_t now_ms)
{
    struct node_clock *k = &n->clock;
    int64_t gap = (int64_t)now_ms - mono_ms();
    if (k->have_gap) {
        int64_t step = gap - k->last_gap_ms;
        if (step >= NODE_CLOCK_STEP_MIN_MS || step <= -NODE_CLOCK_STEP_MIN_MS) {
            k->steps++;
            node_log(NODE_LOG_WARN, "wall clock stepped", "step_ms=%" PRId64, step);
            if (n->gossip)
                gossip_clock_stepped(n->gossip, step);
        } else {
            return; /* keep the reference: slow drift adds up to a step */
        }
    }
    k->last_gap_ms = gap;
    k->have_gap = true;
}

static enum node_clock_level clock_level(const struct gossip_clock_info *ci)
{
    uint64_t mag = (uint64_t)(ci->offset_ms < 0 ? -ci->offset_ms : ci->offset_ms);
    if (mag > ci->bound_ms)
        return NODE_CLOCK_SKEWED;
    return mag > ci->bound_ms / 2 ? NODE_CLOCK_WARN : NODE_CLOCK_OK;
}

void node_clock_cron(struct node *n)
{
    if (!n->gossip)
        return;
    struct node_clock *k = &n->clock;
    struct gossip_clock_info ci;
    gossip_clock_get(n->gossip, node_wall_ms(), &ci);
    enum node_clock_level lv = clock_level(&ci);
    if (lv != k->level) {
        static const char *const what[] = {
            "clock offset back within half the bound",
            "clock offset past half the bound",
            "clock offset past the bound",
        };
        static const enum node_log_level at[] = {NODE_LOG_INFO, NODE_LOG_WARN, NODE_LOG_ERROR};
        node_log(at[lv], what[lv],
                 "offset_ms=%" PRId64 " bound_ms=%" PRIu64 " peers=%u correction_ms=%" PRIu64
                 " direction=%s",
                 ci.offset_ms, ci.bound_ms, ci.peers_measured, ci.correction_ms,
                 ci.offset_ms > 0 ? "ahead" : ci.offset_ms < 0 ? "behind" : "none");
        k->level = lv;
    }
    if (ci.writes_refused != k->refusing) {
        node_log(ci.writes_refused ? NODE_LOG_ERROR : NODE_LOG_INFO,
                 ci.writes_refused ? "writes refused: versions stamped now would lead the cluster "
                                     "past the bound"
                                   : "writes accepted again",
                 "offset_ms=%" PRId64 " lead_ms=%" PRId64 " bound_ms=%" PRIu64, ci.offset_ms,
                 ci.lead_ms, ci.bound_ms);
        k->refusing = ci.writes_refused;
    }
}

bool node_clock_refuse_write(struct node_client *c)
{
    struct node *n = node_client_node(c);
    if (!n->gossip)
        return false;
    struct gossip_clock_info ci;
    gossip_clock_get(n->gossip, node_wall_ms(), &ci);
    if (!ci.writes_refused)
        return false;
    n->clock.writes_refused++;
    n->server.stats.write_errors++;
    struct resp_buf *o = node_client_out(c);
    if (ci.offset_ms > (int64_t)ci.bound_ms)
        resp_write_errorf(o,
                          "CLOCKSKEW this node's clock is %.1f s ahead of the cluster (bound %" PRIu64
                          " ms); writes refused until it is corrected",
                          (double)ci.offset_ms / 1000.0, ci.bound_ms);
    else
        resp_write_errorf(o,
                          "CLOCKSKEW this node's last version is %.1f s ahead of the cluster's "
                          "clock (stamped while its clock was ahead; bound %" PRIu64
                          " ms); writes refused until the cluster's time passes it",
                          (double)ci.lead_ms / 1000.0, ci.bound_ms);
    return true;
}

/* CLOCK: offset_ms, bound_ms, correction_ms, lead_ms, then "peers" and one
 * [name, offset_ms, rtt_ms, samples, age_ms, counted] per measured peer. */
void node_cmd_clock(struct node_client *c, const struct resp_cmd *cmd)
{
    (void)cmd;
    struct node *n = node_client_node(c);
    struct resp_buf *o = node_client_out(c);
    struct gossip_clock_info ci = {.bound_ms = HLC_MAX_OFFSET_MS_DEFAULT};
    size_t np = 0;
    if (n->gossip) {
        gossip_clock_get(n->gossip, node_wall_ms(), &ci);
        np = gossip_clock_peer_count(n->gossip);
    }
    resp_write_array(o, 10);
    resp_write_bulk_str(o, "offset_ms");
    resp_write_int(o, ci.offset_ms);
    resp_write_bulk_str(o, "bound_ms");
    resp_write_int(o, (long long)ci.bound_ms);
    resp_write_bulk_str(o, "correction_ms");
    resp_write_int(o, (long long)ci.correction_ms);
    resp_write_bulk_str(o, "lead_ms");
    resp_write_int(o, ci.lead_ms);
    resp_write_bulk_str(o, "peers");
    resp_write_array(o, (long long)np);
    for (size_t i = 0; i < np; i++) {
        struct gossip_peer_clock p;
        struct gossip_member_info m;
        if (gossip_clock_peer_get(n->gossip, i, &p) != 0) {
            resp_write_null(o); /* keep the announced count */
            continue;
        }
        resp_write_array(o, 6);
        if (gossip_member_find(n->gossip, p.id, &m) == 0 && m.name)
            resp_write_bulk_str(o, m.name);
        else
            resp_write_null(o);
        resp_write_int(o, p.offset_ms);
        resp_write_int(o, p.rtt_ms);
        resp_write_int(o, (long long)p.samples);
        resp_write_int(o, (long long)p.age_ms);
        resp_write_int(o, p.counted ? 1 : 0);
    }
}
