/*
 * latency.h: the latency monitor (as Redis's LATENCY, latency.c there):
 * event-loop turns that took longer than latency-monitor-threshold ms,
 * each counted under its cause, so an operator sees a stall and its
 * reason (docs/OPERATIONS.md "Latency monitor"; docs/COMMANDS.md LATENCY).
 *
 * A turn's busy time is the wall time between two consecutive prepare
 * callbacks (libuv runs them just before it blocks for I/O) minus the time
 * it spent blocked (uv_metrics_idle_time). Its cause, in this order:
 *   checkpoint, table-grow, heap-grow, fsync-always, disk-other
 *           storage/ made a blocking disk call of that cause on the loop
 *           (store_disk_calls_get; 0 in steady state, see issue 24)
 *   command client commands ran for at least half of the turn
 *   tick    the 10 ms tick (store and gossip periodic work) did
 *   loop    anything else (gossip datagrams, streams, accept, close)
 * Each event keeps one sample per second (the largest), the last
 * NODE_LATENCY_HISTORY of them, and its all-time maximum.
 */
#ifndef GKV_NODE_LATENCY_H
#define GKV_NODE_LATENCY_H

#include <stdint.h>

#include "storage/store.h"

/* Samples kept per event: 160, as Redis (LATENCY_TS_LEN). */
#define NODE_LATENCY_HISTORY 160u
/* Distinct events: the causes above. */
#define NODE_LATENCY_EVENTS 9u

struct node_latency_sample {
    uint64_t time_s; /* Unix seconds */
    uint32_t ms;     /* the largest turn of that second */
};

struct node_latency_event {
    const char *name; /* NULL: unused */
    struct node_latency_sample hist[NODE_LATENCY_HISTORY];
    uint32_t next;  /* where the next sample goes */
    uint32_t n;     /* samples held */
    uint32_t max_ms; /* all-time maximum (since start or LATENCY RESET) */
    uint64_t count; /* turns over the threshold (never reset: INFO) */
};

/* The event names, in the order of node_latency.ev (NULL-terminated). */
extern const char *const node_latency_event_names[NODE_LATENCY_EVENTS];

enum node_latency_section { NODE_LAT_COMMAND, NODE_LAT_TICK, NODE_LAT_SECTIONS };

struct node_latency {
    uint32_t threshold_ms; /* 0: off (no timing at all) */
    struct node_latency_event ev[NODE_LATENCY_EVENTS];
    /* the current turn */
    uint64_t turn_start_ns, idle_start_ns;
    uint64_t section_ns[NODE_LAT_SECTIONS];
    struct store_disk_calls calls_start;
    /* totals for INFO */
    uint64_t turns_slow;
    uint32_t turn_max_ms;
};

#endif
