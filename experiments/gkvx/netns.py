"""The world: one network namespace per node, a bridge namespace between them.

Names start with gkvx-<harness pid>-, so a leftover of a run whose harness
died (SIGKILL, power cut) is recognised and removed by the next run or by
`scripts/experiment cleanup`. Nothing here touches the root namespace's
interfaces, routes or firewall: every link, address and nftables table lives
inside a namespace this module created.
"""
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time

PREFIX = "gkvx-"
SUBNET = "10.99.0"
NETNS_DIR = "/var/run/netns"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


class WorldError(RuntimeError):
    pass


def sh(args, input_text=None, check=True, timeout_s=20):
    """Run one command (a list), return its stdout; raise WorldError on failure."""
    try:
        p = subprocess.run(args, input=input_text, capture_output=True, text=True,
                           timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise WorldError(f"{' '.join(args)}: timed out after {timeout_s} s") from e
    if check and p.returncode != 0:
        raise WorldError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name):
    """Run the body in namespace NAME (this thread only: setns is per thread).

    A socket keeps the namespace it was created in, so a connection made in
    here talks inside the node's namespace for its whole life.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def list_namespaces():
    out = sh(["ip", "netns", "list"], check=False)
    names = []
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            names.append(name)
    return names


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_namespace(name):
    """Kill every process left inside NAME (only gossipkv nodes a harness put
    there), then delete the namespace (its veth ends and nft tables go with it)."""
    for _ in range(50):
        pids = [int(p) for p in sh(["ip", "netns", "pids", name], check=False).split()]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    sh(["ip", "netns", "del", name], check=False)


def cleanup_leftovers(everything=False, log=print):
    """Remove gkvx-* namespaces whose harness is gone (all of them with
    everything=True). Returns the names removed."""
    removed = []
    for name in list_namespaces():
        m = re.match(rf"{PREFIX}(\d+)-", name)
        if not everything and m and _pid_alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
            continue
        remove_namespace(name)
        removed.append(name)
    if removed:
        log(f"cleanup: removed {len(removed)} leftover namespace(s): {' '.join(removed)}")
    return removed


def netem_available():
    """True if the kernel has sch_netem (the delay nemesis needs it)."""
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        sh(["ip", "netns", "add", probe])
        sh(["ip", "-n", probe, "link", "add", "a0", "type", "veth", "peer", "name", "a1"])
        sh(["ip", "-n", probe, "link", "set", "a0", "up"])
        p = subprocess.run(["tc", "-n", probe, "qdisc", "add", "dev", "a0", "root", "netem",
                            "delay", "1ms"], capture_output=True, text=True, timeout=10)
        return p.returncode == 0
    except WorldError:
        return False
    finally:
        remove_namespace(probe)


class World:
    """N node namespaces on one bridge. Node i (1-based) has SUBNET.i."""

    def __init__(self, nodes, tag=None):
        self.n = nodes
        self.tag = tag or f"{PREFIX}{os.getpid()}-"
        self.bridge_ns = self.tag + "br"
        self.created = []

    def ns(self, i):
        return f"{self.tag}n{i}"

    def ip(self, i):
        return f"{SUBNET}.{i}"

    def create(self):
        sh(["ip", "netns", "add", self.bridge_ns])
        self.created.append(self.bridge_ns)
        sh(["ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge"])
        sh(["ip", "-n", self.bridge_ns, "link", "set", "br0", "up"])
        for i in range(1, self.n + 1):
            ns = self.ns(i)
            sh(["ip", "netns", "add", ns])
            self.created.append(ns)
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
            sh(["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name",
                f"p{i}", "netns", self.bridge_ns])
            sh(["ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0"])
            sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
            sh(["ip", "-n", self.bridge_ns, "link", "set", f"p{i}", "master", "br0"])
            sh(["ip", "-n", self.bridge_ns, "link", "set", f"p{i}", "up"])
            self.set_rules(i, [], 0)

    def set_rules(self, i, drop_from, loss_permille, slow_from=None):
        """Node i's input drop table: everything from the nodes in drop_from,
        slow_from[j]/1000 of what node j sends, and loss_permille/1000 of
        everything else from the subnet."""
        rules = []
        if drop_from:
            ips = ", ".join(self.ip(j) for j in sorted(drop_from))
            rules.append(f"ip saddr {{ {ips} }} drop")
        for j, permille in sorted((slow_from or {}).items()):
            rules.append(f"ip saddr {self.ip(j)} numgen random mod 1000 < {int(permille)} drop")
        if loss_permille > 0:
            rules.append(f"ip saddr {SUBNET}.0/24 numgen random mod 1000 < {int(loss_permille)} drop")
        script = ("table inet gkvx\ndelete table inet gkvx\n"
                  "table inet gkvx {\n chain input {\n"
                  "  type filter hook input priority 0; policy accept;\n"
                  + "".join(f"  {r}\n" for r in rules) + " }\n}\n")
        sh(["ip", "netns", "exec", self.ns(i), "nft", "-f", "-"], input_text=script)

    def set_delay(self, i, delay_ms, jitter_ms):
        if delay_ms <= 0:
            sh(["tc", "-n", self.ns(i), "qdisc", "del", "dev", "eth0", "root"], check=False)
        else:
            sh(["tc", "-n", self.ns(i), "qdisc", "replace", "dev", "eth0", "root", "netem",
                "delay", f"{delay_ms}ms", f"{jitter_ms}ms"])

    def destroy(self):
        for ns in reversed(self.created):
            remove_namespace(ns)
        self.created = []
