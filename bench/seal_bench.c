/*
 * seal_bench.c: throughput of the sealed envelope against the bare cipher.
 *
 *   build/bench/seal_bench [seconds_per_side]   (default 2)
 *
 * For each plaintext size (64, 512, 1400 bytes) it measures seal_seal and
 * seal_open next to raw crypto_aead_xchacha20poly1305_ietf_encrypt/_decrypt
 * of the same plaintext size with the same AD (the envelope's: the 36-byte
 * header, the receiver's node id and the cluster label), in the same run, and
 * prints the ratio: what the envelope (header, label check, key lookup,
 * replay window) costs on top of the AEAD itself. The two sides run in
 * alternating short slices, so a noisy neighbour hurts both alike.
 * Results: docs/BENCHMARKS.md, "Sealed envelope".
 *
 * The last line is a whole delta datagram as the gossip core sends it: as
 * many entries as fit the default plaintext budget (WIRE_MTU_DEFAULT = 1400
 * bytes; sealed, 1452: docs/PROTOCOL.md), wire_encode_entries + seal_seal +
 * seal_open + wire_decode per datagram, against raw encryption of 1400
 * bytes, with deltas/s.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/seal.h"
#include "gossip/wire.h"

/* Each line alternates this many slices of ours and raw (see bench_pair). */
#define BENCH_RX_ID 2u /* the receiving context's node id (packets are sealed for it) */
#define BENCH_SLICES 40
/* Packets opened per timed batch: sealed (untimed) right before, so every
 * open is a fresh counter that passes the replay window. */
#define BENCH_OPEN_BATCH 256u
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

/* Gossipkv side and raw side of one figure: operations and busy seconds. */
struct bench_side {
    uint64_t n;
    double busy_s;
};

/* A full datagram of deltas: realistic small entries (a 15-byte key, a
 * 40-byte value, a 3-node vector clock). */
#define BENCH_DELTAS_MAX 64u
struct bench_deltas {
    struct entry entries[BENCH_DELTAS_MAX];
    uint8_t keys[BENCH_DELTAS_MAX][16];
    uint8_t value[40];
    uint32_t per_datagram;
    size_t sealed_len;
    struct wire_msg msg; /* decode target */
};

struct bench_env {
    uint8_t key[SEAL_KEY_BYTES];
    struct seal_keyring *kr;
    struct seal_ctx *tx, *rx;
    uint8_t pt[BENCH_PKT_MAX];
    uint8_t ad[SEAL_HEADER_BYTES + 8 + SEAL_LABEL_MAX]; /* header || receiver id || label */
    size_t ad_len;
    uint64_t raw_nonce_counter;
    uint8_t (*batch)[BENCH_PKT_MAX]; /* BENCH_OPEN_BATCH sealed packets */
    size_t batch_len;
    struct bench_deltas deltas;
};

typedef void (*bench_fn)(struct bench_env *e, size_t size, double slice_s, struct bench_side *s);

static void bench_seal(struct bench_env *e, size_t size, double slice_s, struct bench_side *s)
{
    static uint8_t out[BENCH_PKT_MAX];
    double t0 = bench_now_s(), t;
    do {
        for (int i = 0; i < 64; i++) {
            size_t len;
            int rc = seal_seal(e->tx, BENCH_RX_ID, e->pt, size, out, sizeof(out), &len);
            if (rc)
                bench_die("seal_seal", rc);
        }
        s->n += 64;
        t = bench_now_s() - t0;
    } while (t < slice_s);
    s->busy_s += t;
}

static void bench_raw_encrypt(struct bench_env *e, size_t size, double slice_s,
                              struct bench_side *s)
{
    static uint8_t out[BENCH_PKT_MAX];
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
    double t0 = bench_now_s(), t;
    do {
        for (int i = 0; i < 64; i++) {
            unsigned long long clen;
            /* Distinct nonces, like the envelope's counter. */
            e->raw_nonce_counter++;
            memcpy(nonce + 16, &e->raw_nonce_counter, sizeof(e->raw_nonce_counter));
            crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, e->pt, size, e->ad, e->ad_len,
                                                       NULL, nonce, e->key);
        }
        s->n += 64;
        t = bench_now_s() - t0;
    } while (t < slice_s);
    s->busy_s += t;
}

/* Fill the batch with fresh packets from tx (untimed). */
static void bench_fill_batch(struct bench_env *e, size_t size)
{
    for (uint32_t i = 0; i < BENCH_OPEN_BATCH; i++) {
        int rc =
            seal_seal(e->tx, BENCH_RX_ID, e->pt, size, e->batch[i], BENCH_PKT_MAX, &e->batch_len);
        if (rc)
            bench_die("seal_seal", rc);
    }
}

static void bench_open(struct bench_env *e, size_t size, double slice_s, struct bench_side *s)
{
    static uint8_t pt[BENCH_PKT_MAX];
    double busy = 0;
    do {
        bench_fill_batch(e, size);
        double t0 = bench_now_s();
        for (uint32_t i = 0; i < BENCH_OPEN_BATCH; i++) {
            size_t pt_len;
            int rc = seal_open(e->rx, e->batch[i], e->batch_len, 0, pt, sizeof(pt), &pt_len, NULL,
                               NULL, NULL);
            if (rc)
                bench_die("seal_open", rc);
        }
        busy += bench_now_s() - t0;
        s->n += BENCH_OPEN_BATCH;
    } while (busy < slice_s);
    s->busy_s += busy;
}

static void bench_raw_decrypt(struct bench_env *e, size_t size, double slice_s,
                              struct bench_side *s)
{
    static uint8_t pt[BENCH_PKT_MAX];
    double busy = 0;
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
        s->n += BENCH_OPEN_BATCH;
    } while (busy < slice_s);
    s->busy_s += busy;
}

static void bench_deltas_init(struct bench_deltas *d)
{
    memset(d->value, 'v', sizeof(d->value));
    for (uint32_t i = 0; i < BENCH_DELTAS_MAX; i++) {
        struct entry *e = &d->entries[i];
        snprintf((char *)d->keys[i], sizeof(d->keys[i]), "user:%010u", i);
        e->key = d->keys[i];
        e->key_len = 15;
        e->value = d->value;
        e->value_len = sizeof(d->value);
        e->hlc = HLC_MAKE(1764000000000ull + i, i);
        e->origin = 3;
        e->flags = 0;
        vclock_clear(&e->vc);
        for (uint64_t node = 1; node <= 3; node++)
            for (uint32_t k = 0; k <= (i + node) % 5; k++)
                vclock_increment(&e->vc, node);
    }
}

/* Encode one full datagram, seal, open, decode. */
static void bench_datagram_once(struct bench_env *e, uint8_t *plain, uint8_t *sealed,
                                uint8_t *opened)
{
    struct bench_deltas *d = &e->deltas;
    struct wire_encoder enc;
    /* gossip_config.mtu is the plaintext budget (docs/PROTOCOL.md). */
    wire_encoder_init(&enc, plain, WIRE_MTU_DEFAULT);
    uint32_t taken = 0;
    int rc = wire_encode_entries(&enc, WIRE_DELTAS, 1, HLC_MAKE(1764000000000ull, 0),
                                 d->entries, BENCH_DELTAS_MAX, &taken);
    if (rc || taken == 0 || taken == BENCH_DELTAS_MAX)
        bench_die("wire_encode_entries (datagram not full)", rc);
    d->per_datagram = taken;
    size_t opened_len;
    if ((rc = seal_seal(e->tx, BENCH_RX_ID, plain, enc.len, sealed, BENCH_PKT_MAX, &d->sealed_len)))
        bench_die("seal_seal", rc);
    if ((rc = seal_open(e->rx, sealed, d->sealed_len, WIRE_MTU_DEFAULT + SEAL_OVERHEAD_BYTES,
                        opened, BENCH_PKT_MAX, &opened_len, NULL, NULL, NULL)))
        bench_die("seal_open", rc);
    size_t off = 0;
    uint32_t got = 0;
    while (off < opened_len) {
        if ((rc = wire_decode(opened, opened_len, &off, NULL, &d->msg)))
            bench_die("wire_decode", rc);
        got += d->msg.u.entries.n;
    }
    if (got != taken)
        bench_die("decoded entry count", (int)got);
}

static void bench_datagram(struct bench_env *e, size_t size, double slice_s,
                           struct bench_side *s)
{
    static uint8_t plain[BENCH_PKT_MAX], sealed[BENCH_PKT_MAX], opened[BENCH_PKT_MAX];
    (void)size;
    double t0 = bench_now_s(), t;
    do {
        for (int i = 0; i < 16; i++)
            bench_datagram_once(e, plain, sealed, opened);
        s->n += 16;
        t = bench_now_s() - t0;
    } while (t < slice_s);
    s->busy_s += t;
}

/* Alternate short slices of the two sides, so load from other processes on
 * a shared machine falls on both alike; rates over the whole run. */
static void bench_pair(struct bench_env *e, size_t size, double secs, bench_fn ours,
                       bench_fn raw, double *ours_rate, double *raw_rate)
{
    struct bench_side a = {0}, b = {0};
    double slice_s = secs / BENCH_SLICES;
    for (int i = 0; i < BENCH_SLICES; i++) {
        ours(e, size, slice_s, &a);
        raw(e, size, slice_s, &b);
    }
    *ours_rate = (double)a.n / a.busy_s;
    *raw_rate = (double)b.n / b.busy_s;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (secs <= 0)
        secs = 2.0;
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
        rc = seal_ctx_new(e.kr, BENCH_LABEL, BENCH_RX_ID, 1, &e.rx);
    if (rc)
        bench_die("setup", rc);
    e.batch = malloc((size_t)BENCH_OPEN_BATCH * BENCH_PKT_MAX);
    if (!e.batch)
        bench_die("malloc", -1);
    memset(e.pt, 0xab, sizeof(e.pt));
    /* The envelope's AD (gossip/seal.c, seal_build_ad): the header, the
     * receiver's node id (8 bytes, big-endian), the cluster label. */
    memset(e.ad, 0, sizeof(e.ad));
    for (int i = 0; i < 8; i++)
        e.ad[SEAL_HEADER_BYTES + i] = (uint8_t)((uint64_t)BENCH_RX_ID >> (56 - 8 * i));
    memcpy(e.ad + SEAL_HEADER_BYTES + 8, BENCH_LABEL, strlen(BENCH_LABEL));
    e.ad_len = SEAL_HEADER_BYTES + 8 + strlen(BENCH_LABEL);
    bench_deltas_init(&e.deltas);

    printf("# seal_bench: %.2f s per side per line in %d alternating slices; plaintext "
           "sizes; AD %zu bytes\n",
           secs, BENCH_SLICES, e.ad_len);
    const size_t sizes[] = {64, 512, 1400};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        double g, r;
        bench_pair(&e, size, secs, bench_seal, bench_raw_encrypt, &g, &r);
        printf("seal(%zu): gossipkv=%.0f/s raw=%.0f/s ratio=%.2f\n", size, g, r, g / r);
        bench_pair(&e, size, secs, bench_open, bench_raw_decrypt, &g, &r);
        printf("open(%zu): gossipkv=%.0f/s raw=%.0f/s ratio=%.2f\n", size, g, r, g / r);
    }
    double g, r;
    bench_pair(&e, WIRE_MTU_DEFAULT, secs, bench_datagram, bench_raw_encrypt, &g, &r);
    printf("datagram(1400): gossipkv=%.0f/s raw=%.0f/s ratio=%.2f deltas/s=%.0f "
           "(%u deltas per %zu-byte sealed datagram; encode+seal+open+decode vs raw "
           "encrypt of 1400 bytes)\n",
           g, r, g / r, g * e.deltas.per_datagram, e.deltas.per_datagram, e.deltas.sealed_len);

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
