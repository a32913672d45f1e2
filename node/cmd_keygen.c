/*
 * cmd_keygen.c: `gossipkv keygen` prints one fresh 32-byte cluster key as
 * standard base64 and a newline, ready for a key file (docs/ENVELOPE.md):
 *
 *   gossipkv keygen > keys && chmod 600 keys
 */
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "gossip/seal.h"
#include "node/cli.h"
#include "node/keyfile.h"

int cli_keygen(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: gossipkv keygen\n\nPrint a new random base64 key (32 bytes) for "
               "a key file: the first line is the key nodes seal with.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "gossipkv keygen: unexpected argument '%s'\nusage: gossipkv keygen\n",
                argv[1]);
        return 2;
    }
    char b64[SEAL_KEY_B64_BYTES];
    int rc = node_key_generate_b64(b64, sizeof(b64));
    if (rc) {
        fprintf(stderr, "gossipkv keygen: %s\n", gkv_strerror(rc));
        return 1;
    }
    int ok = printf("%s\n", b64) > 0 && fflush(stdout) == 0;
    memset(b64, 0, sizeof(b64));
    if (!ok) {
        perror("gossipkv keygen: write");
        return 1;
    }
    return 0;
}
