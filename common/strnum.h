/*
 * strnum.h: Redis's strict string-to-integer rule, shared by the RESP
 * server (argument parsing, node/resp.c) and the counters (what a stored
 * value reads as, storage/counter.c), so both accept exactly what
 * redis-server's string2ll accepts.
 */
#ifndef GKV_COMMON_STRNUM_H
#define GKV_COMMON_STRNUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An optional '-', then digits: no '+', no leading zero (except "0"
 * itself), no spaces, at most 20 bytes, within int64. True and *out set on
 * success; *out untouched otherwise. */
bool gkv_str2ll(const uint8_t *s, size_t len, long long *out);

#endif
