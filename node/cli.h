/*
 * cli.h: subcommands of the gossipkv binary. Each takes (argc, argv) with
 * argv[0] the subcommand name and returns the process exit status.
 */
#ifndef GKV_NODE_CLI_H
#define GKV_NODE_CLI_H

struct cli_command {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
};

int cli_version(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_keygen(int argc, char **argv);
int cli_serve(int argc, char **argv);

#endif
