/*
 * rng.h: a small seeded PRNG (xoshiro256**, Blackman & Vigna 2018).
 *
 * gossip/ and storage/ never call rand(): every random choice comes from a
 * struct gkv_rng owned by the caller and seeded explicitly, so one seed
 * replays a whole simulated run. node/ seeds it from libsodium's randombytes.
 */
#ifndef GKV_COMMON_RNG_H
#define GKV_COMMON_RNG_H

#include <stdint.h>

struct gkv_rng {
    uint64_t s[4];
};

/* Seed the generator (splitmix64 expands the 64-bit seed to 256 bits). */
void gkv_rng_seed(struct gkv_rng *r, uint64_t seed);

uint64_t gkv_rng_next(struct gkv_rng *r);

/* Uniform in [0, bound); bound must be > 0. Unbiased (Lemire's method). */
uint64_t gkv_rng_below(struct gkv_rng *r, uint64_t bound);

/* Uniform double in [0, 1). */
double gkv_rng_double(struct gkv_rng *r);

#endif
