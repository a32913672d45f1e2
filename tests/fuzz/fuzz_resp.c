/*
 * fuzz_resp.c: libFuzzer target for the RESP parser (node/resp.c).
 *
 * The first input byte picks the limits (small ones make limit paths
 * reachable) and a chunk size; the rest is fed in chunks while commands are
 * drained. Checks: no crash or leak, every argument lies inside the parser's
 * buffer, and the same input fed at once gives the same commands and the
 * same final error (the chunking-independence promise of resp.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/resp.h"

struct digest {
    uint64_t h;
    size_t commands;
    const char *err;
};

static void mix(struct digest *d, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
}

static void drain(struct resp_parser *p, struct digest *d)
{
    struct resp_cmd cmd;
    int rc;
    while ((rc = resp_parser_next(p, &cmd)) == RESP_COMMAND) {
        d->commands++;
        mix(d, &cmd.argc, sizeof(cmd.argc));
        for (size_t i = 0; i < cmd.argc; i++) {
            if (cmd.argv[i] < p->buf || cmd.argv[i] + cmd.argv_len[i] > p->buf + p->len)
                abort();
            mix(d, &cmd.argv_len[i], sizeof(cmd.argv_len[i]));
            mix(d, cmd.argv[i], cmd.argv_len[i]);
        }
    }
}

static void run(const uint8_t *data, size_t size, size_t chunk, const struct resp_limits *lim,
                struct digest *d)
{
    struct resp_parser p;
    resp_parser_init(&p, lim);
    memset(d, 0, sizeof(*d));
    d->h = 0xcbf29ce484222325ull;
    for (size_t off = 0; off < size;) {
        size_t k = size - off < chunk ? size - off : chunk;
        if (resp_parser_feed(&p, data + off, k) != 0)
            break;
        off += k;
        drain(&p, d);
        if (resp_parser_error(&p))
            break;
    }
    d->err = resp_parser_error(&p);
    resp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    struct resp_limits lim;
    if (mode & 1) {
        resp_limits_unauth(&lim);
    } else {
        resp_limits_default(&lim, 64 + (mode & 0x0e) * 64);
        lim.max_inline_bytes = 16 + (size_t)(mode >> 4) * 64;
        lim.max_multibulk = 8 + (mode >> 4);
        lim.max_query_bytes = 4096;
    }
    size_t chunk = 1 + (size_t)(mode >> 3);
    struct digest a, b;
    run(data, size, chunk, &lim, &a);
    run(data, size, size ? size : 1, &lim, &b);
    if (a.h != b.h || a.commands != b.commands || (a.err == NULL) != (b.err == NULL) ||
        (a.err && strcmp(a.err, b.err) != 0))
        abort();
    return 0;
}
