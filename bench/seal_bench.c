/*
 * seal_bench.c: throughput of the sealed envelope against the bare cipher.
 *
 *   build/bench/seal_bench [seconds_per_measurement]   (default 0.3)
 *
 * For each plaintext size (64, 512, 1400 bytes) it measures seal_seal and
 * seal_open next to raw crypto_aead_xchacha20poly1305_ietf_encrypt/_decrypt
 * of the same plaintext size with an AD of the same length (the envelope's
 * AD is the 36-byte header plus the cluster label), in the same run, and
 * prints the ratio: what the envelope (header, label check, key lookup,
 * replay window) costs on top of the AEAD itself. Each figure is the best of
 * BENCH_ROUNDS alternating rounds, so a noisy neighbour hurts both sides
 * alike. Results: docs/BENCHMARKS.md, "Sealed envelope".
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/seal.h"

#define BENCH_ROUNDS 3
/* Packets opened per timed batch: sealed (untimed) right before, so every
 * open is a fresh counter that passes the replay window. */
#define BENCH_OPEN_BATCH 4096u
#define BENCH_LABEL "bench-cluster"
#define BENCH_PKT_MAX 1600u

static double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_die(const char *what, int rc)
{
    fprintf(stderr, "seal_bench: %s failed (%d)\n", what, rc);
    exit(1);
}

struct bench_env {
    uint8_t key[SEAL_KEY_BYTES];
    struct seal_keyring *kr;
    struct seal_ctx *tx, *rx;
    uint64_t rx_epoch;
    uint8_t pt[BENCH_PKT_MAX];
    uint8_t ad[SEAL_HEADER_BYTES + SEAL_LABEL_MAX];
    size_t ad_len;
    uint8_t (*batch)[BENCH_PKT_MAX]; /* BENCH_OPEN_BATCH sealed packets */
    size_t batch_len;
};

/* Seal packets per second for size bytes, for about secs seconds. */
static double bench_seal(struct bench_env *e, size_t size, double secs)
{
    static uint8_t out[BENCH_PKT_MAX];
    uint64_t n = 0;
    double t0 = bench_now_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            size_t len;
            int rc = seal_seal(e->tx, e->pt, size, out, sizeof(out), &len);
            if (rc)
                bench_die("seal_seal", rc);
        }
        n += 256;
        t = bench_now_s() - t0;
    } while (t < secs);
    return (double)n / t;
}

static double bench_raw_encrypt(struct bench_env *e, size_t size, double secs)
{
    static uint8_t out[BENCH_PKT_MAX];
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
    uint64_t n = 0;
    double t0 = bench_now_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            unsigned long long clen;
            memcpy(nonce + 16, &n, sizeof(n)); /* distinct nonces, like a counter */
            n++;
            crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, e->pt, size, e->ad, e->ad_len,
                                                       NULL, nonce, e->key);
        }
        t = bench_now_s() - t0;
    } while (t < secs);
    return (double)n / t;
}

/* Fill the batch with fresh packets from tx (untimed). */
static void bench_fill_batch(struct bench_env *e, size_t size)
{
    for (uint32_t i = 0; i < BENCH_OPEN_BATCH; i++) {
        int rc = seal_seal(e->tx, e->pt, size, e->batch[i], BENCH_PKT_MAX, &e->batch_len);
        if (rc)
            bench_die("seal_seal", rc);
    }
}

static double bench_open(struct bench_env *e, size_t size, double secs)
{
    static uint8_t pt[BENCH_PKT_MAX];
    uint64_t n = 0;
    double busy = 0;
    do {
        bench_fill_batch(e, size);
        double t0 = bench_now_s();
        for (uint32_t i = 0; i < BENCH_OPEN_BATCH; i++) {
            size_t pt_len;
            int rc = seal_open(e->rx, e->batch[i], e->batch_len, 0, pt, sizeof(pt), &pt_len,
                               NULL, NULL);
            if (rc)
                bench_die("seal_open", rc);
        }
        busy += bench_now_s() - t0;
        n += BENCH_OPEN_BATCH;
    } while (busy < secs);
    return (double)n / busy;
}

static double bench_raw_decrypt(struct bench_env *e, size_t size, double secs)
{
    static uint8_t pt[BENCH_PKT_MAX];
    uint64_t n = 0;
    double busy = 0;
    (void)size;
    do {
        bench_fill_batch(e, size);
        double t0 = bench_now_s();
        for (uint32_t i = 0; i < BENCH_OPEN_BATCH; i++) {
            const uint8_t *p = e->batch[i];
            unsigned long long mlen;
            /* The same work the envelope asks of libsodium: AD = header || label. */
            memcpy(e->ad, p, SEAL_HEADER_BYTES);
            if (crypto_aead_xchacha20poly1305_ietf_decrypt(
                    pt, &mlen, NULL, p + SEAL_HEADER_BYTES, e->batch_len - SEAL_HEADER_BYTES,
                    e->ad, e->ad_len, p + 12, e->key) != 0)
                bench_die("raw decrypt", -1);
        }
        busy += bench_now_s() - t0;
        n += BENCH_OPEN_BATCH;
    } while (busy < secs);
    return (double)n / busy;
}

static double bench_max(double a, double b)
{
    return a > b ? a : b;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.3;
    if (secs <= 0)
        secs = 0.3;
    if (sodium_init() < 0)
        bench_die("sodium_init", -1);
    static struct bench_env e;
    for (int i = 0; i < (int)SEAL_KEY_BYTES; i++)
        e.key[i] = (uint8_t)(i * 7 + 1);
    int rc = seal_keyring_new(&e.kr);
    if (!rc)
        rc = seal_keyring_install(e.kr, e.key);
    if (!rc)
        rc = seal_ctx_new(e.kr, BENCH_LABEL, 1, 1, &e.tx);
    if (!rc)
        rc = seal_ctx_new(e.kr, BENCH_LABEL, 2, 1, &e.rx);
    if (rc)
        bench_die("setup", rc);
    e.batch = malloc((size_t)BENCH_OPEN_BATCH * BENCH_PKT_MAX);
    if (!e.batch)
        bench_die("malloc", -1);
    memset(e.pt, 0xab, sizeof(e.pt));
    memset(e.ad, 0, sizeof(e.ad));
    memcpy(e.ad + SEAL_HEADER_BYTES, BENCH_LABEL, strlen(BENCH_LABEL));
    e.ad_len = SEAL_HEADER_BYTES + strlen(BENCH_LABEL);

    printf("# seal_bench: best of %d rounds of %.2f s each; plaintext sizes; AD %zu bytes\n",
           BENCH_ROUNDS, secs, e.ad_len);
    const size_t sizes[] = {64, 512, 1400};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t size = sizes[s];
        double seal_g = 0, seal_r = 0, open_g = 0, open_r = 0;
        for (int r = 0; r < BENCH_ROUNDS; r++) {
            seal_g = bench_max(seal_g, bench_seal(&e, size, secs));
            seal_r = bench_max(seal_r, bench_raw_encrypt(&e, size, secs));
            open_g = bench_max(open_g, bench_open(&e, size, secs));
            open_r = bench_max(open_r, bench_raw_decrypt(&e, size, secs));
        }
        printf("seal(%zu): gossipkv=%.0f/s raw=%.0f/s ratio=%.2f\n", size, seal_g, seal_r,
               seal_g / seal_r);
        printf("open(%zu): gossipkv=%.0f/s raw=%.0f/s ratio=%.2f\n", size, open_g, open_r,
               open_g / open_r);
    }
    const struct seal_stats *st = seal_ctx_stats(e.rx);
    uint64_t refused = 0;
    for (int i = 0; i < SEAL_REFUSE_COUNT; i++)
        refused += st->refused[i];
    printf("# opened %" PRIu64 " packets, refused %" PRIu64 "\n", st->opened, refused);

    free(e.batch);
    seal_ctx_free(e.tx);
    seal_ctx_free(e.rx);
    seal_keyring_free(e.kr);
    return refused == 0 ? 0 : 1;
}
