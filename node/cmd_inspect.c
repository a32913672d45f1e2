#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "node/cli.h"
#include "storage/store.h"

int cli_inspect(int argc, char **argv)
{
    bool verbose = false;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (!dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: gossipkv inspect [-v] DIR\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: gossipkv inspect [-v] DIR\n");
        return 2;
    }
    int rc = store_inspect(dir, verbose, stdout);
    if (rc != 0) {
        fprintf(stderr, "gossipkv inspect: %s: %s\n", dir, gkv_strerror(rc));
        return 1;
    }
    return 0;
}
