/*
 * wire_int.h: internal to the wire codec. wire.c checks messages for both
 * halves; wire_encode.c and wire_decode.c call these and nothing of each
 * other (calls go one way: encode -> wire.c <- decode).
 */
#ifndef GKV_GOSSIP_WIRE_INT_H
#define GKV_GOSSIP_WIRE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "gossip/wire.h"

/* A message type this version knows. */
bool wire__type_known(uint8_t t);
/* A digest's (bucket_bits, first_bucket, n) names buckets that exist. */
bool wire__digest_range_ok(uint32_t bits, uint32_t first, uint32_t n);
/* An entry within the wire's limits (key, value, vector clock, expiry). */
bool wire__entry_ok(const struct entry *e);
/* A whole message the encoder may write: known type, every field in range. */
bool wire__msg_ok(const struct wire_msg *m);

#endif
