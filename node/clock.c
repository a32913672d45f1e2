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
