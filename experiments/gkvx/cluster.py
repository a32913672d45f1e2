"""The real gossipkv processes, one per namespace, and RESP connections to them.

A node's client port listens on 127.0.0.1 inside its own namespace; the
harness connects from a thread that has entered that namespace (setns), so
a client is co-located with its node and partitions never cut it off from
its node, only nodes from each other.
"""
import os
import signal
import subprocess
import time

import redis

from .netns import in_netns

GOSSIP_PORT = 7946
CLIENT_PORT = 7379
# SWIM a little faster than the defaults so detection fits 10 s windows.
DEFAULT_NODE_OPTS = ["--probe-interval-ms", "500", "--probe-timeout-ms", "250",
                     "--gossip-interval-ms", "100", "--sync-interval-ms", "1000",
                     "--leave-timeout-ms", "500"]


class NsConnection(redis.Connection):
    """A redis-py connection whose socket is created inside a namespace."""

    def __init__(self, netns=None, **kwargs):
        self.netns = netns
        super().__init__(**kwargs)

    def _connect(self):
        with in_netns(self.netns):
            return super()._connect()


def connect(node, timeout_s):
    return NsConnection(netns=node.ns, host="127.0.0.1", port=CLIENT_PORT,
                        socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                        retry_on_timeout=False)


def pairs(reply):
    """A flat [k1, v1, k2, v2...] RESP array as a dict with str keys."""
    out = {}
    for i in range(0, len(reply or []) - 1, 2):
        k = reply[i].decode() if isinstance(reply[i], bytes) else reply[i]
        v = reply[i + 1]
        out[k] = v.decode() if isinstance(v, bytes) else v
    return out


def parse_version(reply):
    """VERSION's reply as {"hlc", "origin", "origin_name", "tombstone", "vclock"}."""
    if reply is None:
        return None
    d = pairs(reply)
    vc = {}
    for item in reply[reply.index(b"vclock") + 1] if b"vclock" in reply else []:
        vc[item[0].decode()] = int(item[1])
    return {"hlc": int(d.get("hlc", 0)), "origin": d.get("origin"),
            "origin_name": d.get("origin_name"), "tombstone": int(d.get("tombstone", 0)),
            "vclock": vc}


def parse_info(text):
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


class Node:
    def __init__(self, name, index, world, binary, out_dir, key_file, seeds, extra_opts,
                 clock_opts):
        self.name, self.index, self.world = name, index, world
        self.ns = world.ns(index)
        self.binary = binary
        self.data = os.path.join(out_dir, "data", name)
        self.log_path = os.path.join(out_dir, "logs", f"{name}.log")
        self.key_file, self.seeds = key_file, seeds
        self.extra_opts, self.clock_opts = extra_opts, clock_opts
        self.proc = None
        self.starts = 0

    def argv(self):
        ip = self.world.ip(self.index)
        return ["ip", "netns", "exec", self.ns, self.binary, "serve", "--name", self.name,
                "--data", self.data, "--gossip", f"{ip}:{GOSSIP_PORT}",
                "--client", f"127.0.0.1:{CLIENT_PORT}", "--join", self.seeds,
                "--key-file", self.key_file, "--label", "gkvx", "--log-level", "info",
                *self.clock_opts, *self.extra_opts]

    def start(self, wait_s=15):
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        log = open(self.log_path, "a", encoding="utf-8")
        log.write(f"=== gkvx: start {self.starts + 1}: {' '.join(self.argv())}\n")
        log.flush()
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start with {self.proc.returncode}"
                                   f" (see {self.log_path})")
            try:
                c = connect(self, 0.5)
                c.send_command("PING")
                if c.read_response() in (b"PONG", "PONG"):
                    c.disconnect()
                    return
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer PING within {wait_s} s")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def pause(self):
        if self.alive():
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)

    def set_clock_offset(self, offset_ms):
        c = connect(self, 2.0)
        try:
            c.send_command(*CLOCK_COMMAND, str(int(offset_ms)))
            c.read_response()
        finally:
            c.disconnect()

    def stop(self, timeout_s=10):
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# The node's experiment-only clock offset (docs/OPERATIONS.md): enabled at
# start, then CLOCKOFFSET SET ms moves the clock the node hands to its HLC
# and gossip timers (namespaces do not virtualise the wall clock).
CLOCK_START_OPTS = ["--clock-offset-control=yes"]
CLOCK_COMMAND = ["CLOCKOFFSET", "SET"]


class Cluster:
    def __init__(self, world, binary, out_dir, extra_opts=None, clock_opts=None):
        self.world = world
        key_file = os.path.join(out_dir, "cluster.key")
        key = subprocess.run([binary, "keygen"], capture_output=True, text=True, check=True,
                             timeout=10).stdout
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        seeds = ",".join(f"{world.ip(i)}:{GOSSIP_PORT}" for i in range(1, min(world.n, 3) + 1))
        opts = DEFAULT_NODE_OPTS + list(extra_opts or [])
        self.nodes = [Node(f"n{i}", i, world, binary, out_dir, key_file, seeds, opts,
                           list(clock_opts or [])) for i in range(1, world.n + 1)]

    def node(self, name):
        return self.nodes[int(name[1:]) - 1]

    def names(self):
        return [n.name for n in self.nodes]

    def start(self):
        for n in self.nodes:
            n.start()

    def stop(self):
        for n in self.nodes:
            n.stop()
