#include <stdio.h>

#include "node/cli.h"

int cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("gossipkv %s\n", GKV_VERSION);
    return 0;
}
