/*
 * log.h: leveled logfmt lines on stderr.
 *
 *   ts=2026-11-25T18:28:09.123Z level=info msg="node started" name=n1 addr=127.0.0.1:7946
 *
 * One line per event, written with a single write(2) so lines from one
 * process never interleave. msg is quoted when it holds a space; the
 * key=value part is printf-formatted by the caller (use node_log_quote for
 * values that may hold spaces or quotes).
 */
#ifndef GKV_NODE_LOG_H
#define GKV_NODE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum node_log_level {
    NODE_LOG_DEBUG,
    NODE_LOG_INFO,
    NODE_LOG_WARN,
    NODE_LOG_ERROR,
};

void node_log_set_level(enum node_log_level level);
/* --log-format json: one JSON object per line instead, with the same
 * fields ({"ts":..,"level":..,"msg":..,"key":"value",...}; values are
 * strings). */
void node_log_set_json(bool json);
bool node_log_enabled(enum node_log_level level);
/* "debug" | "info" | "warn" | "error"; returns 0 or GKV_EINVAL. */
int node_log_parse_level(const char *s, enum node_log_level *out);
const char *node_log_level_name(enum node_log_level level);

/* kv_fmt may be NULL. */
void node_log(enum node_log_level level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Quote s as a logfmt value into out (always NUL-terminated, truncated to
 * out_len). Returns out. */
const char *node_log_quote(const char *s, char *out, size_t out_len);

#define NODE_LOG_DEBUG_ON() node_log_enabled(NODE_LOG_DEBUG)

#endif
