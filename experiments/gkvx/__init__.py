"""gkvx: partition-tolerance experiments on real gossipkv processes.

Each node runs in its own Linux network namespace, joined to the others by a
veth pair into a bridge namespace. Nemeses (nftables drop tables, loss,
SIGKILL/SIGSTOP, clock offsets) act inside those namespaces only. Clients
talk RESP to their node over the node's own loopback; every operation and
every fault lands in one JSON-lines history, which the checker reads alone.
"""
