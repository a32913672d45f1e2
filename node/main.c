/*
 * main.c: the gossipkv command line. Each subcommand lives in node/cmd_*.c
 * (see node/cli.h); this file only dispatches.
 */
#include <stdio.h>
#include <string.h>

#include "node/cli.h"

static const struct cli_command commands[] = {
    {"version", "print the version", cli_version},
    {"inspect", "verify and summarize a data directory: inspect [-v] [--salvage] DIR",
     cli_inspect},
    {"keygen", "print a new base64 key", cli_keygen},
    {"serve", "run a node in the foreground: serve [--config FILE] [options]", cli_serve},
    /* keygen and serve are added by their modules (node/cmd_keygen.c, node/cmd_serve.c). */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gossipkv COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gossipkv: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
