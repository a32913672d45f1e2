/*
 * wire_encode_bench.c: what encoding costs, in instructions (not seconds).
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
 *       --toggle-collect=bench_deltas --toggle-collect=bench_members \
 *       build/release/bench/wire_encode_bench
 *   callgrind_annotate --inclusive=yes /tmp/cg.out | grep bench_
 *
 * Two fixed, deterministic workloads, each in its own function so callgrind
 * can count it alone (a loaded machine changes wall time, not instruction
 * counts):
 *   bench_deltas:  BENCH_ROUNDS MTU-full DELTAS datagrams through
 *                  wire_encode_entries (the dissemination hot path), with
 *                  seal_bench's realistic entry: a 15-byte key, a 40-byte
 *                  value and a 3-node vector clock;
 *   bench_members: BENCH_ROUNDS rounds of a PING, an ACK, a SUSPECT and a
 *                  STATE of 8 members through wire_encode.
 * Divide each function's inclusive Ir by BENCH_ROUNDS. Results:
 * docs/PROTOCOL.md, "Encoder and decoder".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/wire.h"

#define BENCH_ROUNDS 1000u
#define BENCH_ENTRIES 64u

static struct entry g_entries[BENCH_ENTRIES];
static uint8_t g_bytes[64 * BENCH_ENTRIES];

__attribute__((noinline)) static size_t bench_deltas(uint8_t *dg)
{
    size_t total = 0;
    for (uint32_t r = 0; r < BENCH_ROUNDS; r++) {
        struct wire_encoder enc;
        uint32_t taken;
        wire_encoder_init(&enc, dg, WIRE_MTU_DEFAULT);
        if (wire_encode_entries(&enc, WIRE_DELTAS, 1, r, g_entries, BENCH_ENTRIES, &taken) != 0) {
            fprintf(stderr, "wire_encode_entries failed\n");
            exit(1);
        }
        total += enc.len;
    }
    return total;
}

__attribute__((noinline)) static size_t bench_members(uint8_t *dg, struct wire_msg *msgs, size_t n)
{
    size_t total = 0;
    for (uint32_t r = 0; r < BENCH_ROUNDS; r++) {
        struct wire_encoder enc;
        wire_encoder_init(&enc, dg, WIRE_MTU_DEFAULT);
        for (size_t i = 0; i < n; i++) {
            msgs[i].sender_hlc = r;
            if (wire_encode(&enc, &msgs[i]) != 0) {
                fprintf(stderr, "wire_encode failed\n");
                exit(1);
            }
        }
        total += enc.len;
    }
    return total;
}

int main(void)
{
    for (size_t i = 0; i < sizeof(g_bytes); i++)
        g_bytes[i] = (uint8_t)(i * 131);
    for (uint32_t i = 0; i < BENCH_ENTRIES; i++) {
        struct entry *e = &g_entries[i];
        e->key = g_bytes + 64 * i;
        e->key_len = 15;
        e->value = g_bytes + 64 * i + 16;
        e->value_len = 40;
        e->hlc = HLC_MAKE(1764000000000ull + i, i);
        e->origin = 1 + i % 3;
        e->vc.n = 3;
        for (uint32_t k = 0; k < 3; k++) {
            e->vc.items[k].node = k + 1;
            e->vc.items[k].counter = 1000 + i + k;
        }
    }

    static struct wire_msg msgs[4];
    const char *name = "node-7", *addr = "127.0.0.1:7946";
    for (int i = 0; i < 4; i++) {
        msgs[i].version = WIRE_VERSION;
        msgs[i].sender_id = 0x1122334455667788ull;
    }
    msgs[0].type = WIRE_PING;
    msgs[0].u.ping = (struct wire_ping){
        .seq = 70000, .target_id = 9, .source_id = 7, .send_ms = 1764000000000ull};
    msgs[1].type = WIRE_ACK;
    msgs[1].u.ack = (struct wire_ack){
        .seq = 70000, .source_id = 9, .echo_ms = 1764000000000ull, .reply_ms = 1764000000007ull};
    msgs[2].type = WIRE_SUSPECT;
    msgs[2].u.suspicion.member = (struct wire_member){.id = 9,
                                                      .name = name,
                                                      .name_len = 6,
                                                      .addr = addr,
                                                      .addr_len = 14,
                                                      .incarnation = 3,
                                                      .state = 1};
    msgs[2].u.suspicion.from_id = 7;
    msgs[3].type = WIRE_STATE;
    msgs[3].u.state.n = 8;
    for (uint32_t k = 0; k < 8; k++) {
        msgs[3].u.state.members[k] = msgs[2].u.suspicion.member;
        msgs[3].u.state.members[k].id = k + 1;
    }

    static uint8_t dg[WIRE_MTU_DEFAULT];
    size_t d = bench_deltas(dg);
    size_t m = bench_members(dg, msgs, 4);
    printf("deltas: %u datagrams, %zu bytes; members: %u rounds, %zu bytes\n", BENCH_ROUNDS, d,
           BENCH_ROUNDS, m);
    return 0;
}
