/*
 * latency.c: the latency monitor (latency.h has the design) and the
 * LATENCY command.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "node/node.h"

#define ARG_IS(cmd, i, lit)                                                                       \
    ((cmd)->argv_len[i] == sizeof(lit) - 1 &&                                                   \
     !strncasecmp((const char *)(cmd)->argv[i], lit, sizeof(lit) - 1))

const char *const node_latency_event_names[NODE_LATENCY_EVENTS] = {
    "checkpoint", "table-grow", "heap-grow", "fsync-always", "disk-other",
    "command",    "tick",       "loop",      NULL};

/* Index of the event a storage cause maps to. */
static unsigned cause_event(enum store_io_cause c)
{
    switch (c) {
    case STORE_IO_CHECKPOINT:
        return 0;
    case STORE_IO_TABLE_GROW:
        return 1;
    case STORE_IO_HEAP_GROW:
        return 2;
    case STORE_IO_FSYNC_ALWAYS:
        return 3;
    default:
        return 4;
    }
}

static void add_sample(struct node_latency *l, unsigned ev, uint32_t ms, uint64_t now_s)
{
    struct node_latency_event *e = &l->ev[ev];
    e->name = node_latency_event_names[ev];
    e->count++;
    if (ms > e->max_ms)
        e->max_ms = ms;
    uint32_t last = (e->next + NODE_LATENCY_HISTORY - 1) % NODE_LATENCY_HISTORY;
    if (e->n && e->hist[last].time_s == now_s) {
        if (ms > e->hist[last].ms)
            e->hist[last].ms = ms;
        return;
    }
    e->hist[e->next].time_s = now_s;
    e->hist[e->next].ms = ms;
    e->next = (e->next + 1) % NODE_LATENCY_HISTORY;
    if (e->n < NODE_LATENCY_HISTORY)
        e->n++;
}

static void prepare_cb(uv_prepare_t *h)
{
    struct node *n = h->data;
    struct node_latency *l = &n->latency;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(n->loop);
    uint64_t wall = now - l->turn_start_ns, blocked = idle - l->idle_start_ns;
    uint64_t busy_ns = wall > blocked ? wall - blocked : 0;
    uint32_t ms = (uint32_t)(busy_ns / 1000000u);
    if (ms > l->turn_max_ms)
        l->turn_max_ms = ms;
    struct store_disk_calls d;
    store_disk_calls_get(n->store, &d);
    if (l->threshold_ms && ms >= l->threshold_ms && l->turn_start_ns) {
        unsigned ev = 7; /* loop */
        uint64_t most = 0;
        for (int c = 0; c < STORE_IO_CAUSES; c++) {
            uint64_t k = d.owner[c] - l->calls_start.owner[c];
            if (k > most || (k == most && k && cause_event((enum store_io_cause)c) < ev)) {
                most = k;
                ev = cause_event((enum store_io_cause)c);
            }
        }
        if (!most) {
            if (2 * l->section_ns[NODE_LAT_COMMAND] >= busy_ns)
                ev = 5;
            else if (2 * l->section_ns[NODE_LAT_TICK] >= busy_ns)
                ev = 6;
        }
        add_sample(l, ev, ms, node_wall_ms() / 1000u);
        l->turns_slow++;
    }
    l->calls_start = d;
    l->turn_start_ns = now;
    l->idle_start_ns = idle;
    memset(l->section_ns, 0, sizeof l->section_ns);
}

int node_latency_start(struct node *n)
{
    n->latency.threshold_ms = n->cfg.latency_monitor_threshold_ms;
    /* The idle-time metric must be on before the loop runs (libuv 1.39). */
    int rc = uv_loop_configure(n->loop, UV_METRICS_IDLE_TIME);
    if (rc != 0)
        return rc;
    uv_prepare_init(n->loop, &n->latency_prepare);
    n->latency_prepare.data = n;
    uv_prepare_start(&n->latency_prepare, prepare_cb);
    uv_unref((uv_handle_t *)&n->latency_prepare);
    return 0;
}

/* ------------------------------------------------------------ LATENCY */

static struct node_latency_event *find_event(struct node_latency *l, const uint8_t *name,
                                             size_t len)
{
    for (unsigned i = 0; i < NODE_LATENCY_EVENTS && node_latency_event_names[i]; i++)
        if (strlen(node_latency_event_names[i]) == len &&
            !strncasecmp(node_latency_event_names[i], (const char *)name, len))
            return &l->ev[i];
    return NULL;
}

static void reset_event(struct node_latency_event *e)
{
    uint64_t count = e->count; /* INFO counters only grow */
    const char *name = e->name;
    memset(e, 0, sizeof *e);
    e->count = count;
    e->name = name;
}

static void latency_latest(struct node_latency *l, struct resp_buf *o)
{
    long long n = 0;
    for (unsigned i = 0; i < NODE_LATENCY_EVENTS; i++)
        n += l->ev[i].n > 0;
    resp_write_array(o, n);
    for (unsigned i = 0; i < NODE_LATENCY_EVENTS; i++) {
        struct node_latency_event *e = &l->ev[i];
        if (!e->n)
            continue;
        struct node_latency_sample *s = &e->hist[(e->next + NODE_LATENCY_HISTORY - 1) %
                                                 NODE_LATENCY_HISTORY];
        resp_write_array(o, 4);
        resp_write_bulk_str(o, e->name);
        resp_write_int(o, (long long)s->time_s);
        resp_write_int(o, s->ms);
        resp_write_int(o, e->max_ms);
    }
}

void node_cmd_latency(struct node_client *c, const struct resp_cmd *cmd)
{
    struct node *n = node_client_node(c);
    struct node_latency *l = &n->latency;
    struct resp_buf *o = node_client_out(c);
    if (ARG_IS(cmd, 1, "LATEST") && cmd->argc == 2) {
        latency_latest(l, o);
    } else if (ARG_IS(cmd, 1, "HISTORY") && cmd->argc == 3) {
        struct node_latency_event *e = find_event(l, cmd->argv[2], cmd->argv_len[2]);
        uint32_t cnt = e ? e->n : 0;
        resp_write_array(o, cnt);
        for (uint32_t k = 0; k < cnt; k++) {
            uint32_t i = (e->next + NODE_LATENCY_HISTORY - cnt + k) % NODE_LATENCY_HISTORY;
            resp_write_array(o, 2);
            resp_write_int(o, (long long)e->hist[i].time_s);
            resp_write_int(o, e->hist[i].ms);
        }
    } else if (ARG_IS(cmd, 1, "RESET")) {
        if (!node_command_admin_ok(c, "latency|reset"))
            return;
        long long reset = 0;
        for (unsigned i = 0; i < NODE_LATENCY_EVENTS; i++) {
            struct node_latency_event *e = &l->ev[i];
            bool named = cmd->argc == 2;
            for (size_t a = 2; a < cmd->argc && !named; a++)
                named = find_event(l, cmd->argv[a], cmd->argv_len[a]) == e;
            if (named && e->n) {
                reset_event(e);
                reset++;
            }
        }
        resp_write_int(o, reset);
    } else if (ARG_IS(cmd, 1, "HELP") && cmd->argc == 2) {
        static const char *const help[] = {
            "LATENCY <subcommand> [<arg> ...]. Subcommands are:",
            "LATEST",
            "    Per event: name, time of its latest sample, that sample's ms, the largest ms.",
            "HISTORY <event>",
            "    The event's samples (Unix time, ms), one per second, the last 160.",
            "RESET [<event> ...]",
            "    Forget the samples of every (or the named) event; returns how many.",
            "Events: loop turns over latency-monitor-threshold ms, by cause: checkpoint,",
            "table-grow, heap-grow, fsync-always, disk-other, command, tick, loop.",
        };
        resp_write_array(o, (long long)(sizeof help / sizeof help[0]));
        for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
            resp_write_simple(o, help[i]);
    } else {
        resp_write_errorf(o, "ERR unknown subcommand or wrong number of arguments for '%.*s'. "
                             "Try LATENCY HELP.",
                          (int)(cmd->argc > 1 ? cmd->argv_len[1] : 0),
                          cmd->argc > 1 ? (const char *)cmd->argv[1] : "");
    }
}
