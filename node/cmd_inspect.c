#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "node/cli.h"
#include "storage/store.h"

#define INSPECT_USAGE "usage: gossipkv inspect [-v] [--salvage] DIR\n"

int cli_inspect(int argc, char **argv)
{
    bool verbose = false, salvage = false;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (strcmp(argv[i], "--salvage") == 0)
            salvage = true;
        else if (!dir && argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(stderr, INSPECT_USAGE);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, INSPECT_USAGE);
        return 2;
    }
    /* --salvage rewrites damaged logs (after a backup), then inspects the
     * result, so the report shows what the next start will find. Its exit
     * status is the salvage's: faults in the tables that remain are the
     * ones every open repairs by itself. */
    if (salvage) {
        int rc = store_salvage(dir, stdout);
        if (rc != 0) {
            fprintf(stderr, "gossipkv inspect --salvage: %s: %s\n", dir, gkv_strerror(rc));
            return 1;
        }
        fputc('\n', stdout);
        (void)store_inspect(dir, verbose, stdout);
        return 0;
    }
    int rc = store_inspect(dir, verbose, stdout);
    if (rc != 0) {
        fprintf(stderr, "gossipkv inspect: %s: %s\n", dir, gkv_strerror(rc));
        return 1;
    }
    return 0;
}
