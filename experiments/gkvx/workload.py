"""Clients and the monitor.

One client thread per node (process id = node index), each with its own
connection opened inside the node's namespace, a bounded rate and a socket
timeout. A write that times out or loses its connection after being sent is
recorded as info (it may or may not have happened); one refused before it
was sent is fail. Reads that do not complete are fail (they change nothing).

The monitor samples every node every 200 ms: INFO (anti-entropy root
digest, bytes sent, entries) and MEMBERS (the node's view of everyone).
"""
import random
import threading
import time

import redis

from .cluster import connect, parse_info, parse_version

WORKLOADS = ["set", "register", "convergence", "membership", "counter"]
REGISTER_KEYS = 5
COUNTER_KEYS = 3          # counter: hot keys every node increments
PROBE_RATE = 100          # set: visibility reads per second per node, at most
PROBE_MIN_S = 0.05        # set: a tracked key is re-read after max(this, its age / PROBE_AGE_DIV)
PROBE_AGE_DIV = 5
PROBE_MAX_S = 2.0         # ...and at least every 2 s
MONITOR_PERIOD_S = 0.2


class Shared:
    """State the client threads share (under one lock)."""

    def __init__(self, names, rate):
        self.lock = threading.Lock()
        self.pending = {n: {} for n in names}   # tracked key -> [ack time, next read time]
        self.present = {n: [] for n in names}   # keys the node acknowledged or showed
        # Track one add in sample_every so the probers keep up (~4 reads a key).
        self.sample_every = max(4, round(rate / 20))

    def reprobe(self):
        """After a heal: every tracked key is due now (its backoff would
        otherwise make the probe late by up to a fifth of its age)."""
        now = time.monotonic()
        with self.lock:
            for pending in self.pending.values():
                for entry in pending.values():
                    entry[1] = now


class Client(threading.Thread):
    def __init__(self, workload, node, process, history, rate, timeout_s, seed, stop, shared,
                 calm):
        super().__init__(name=f"client-{node.name}", daemon=True)
        self.workload, self.node, self.process = workload, node, process
        self.history, self.rate, self.timeout_s = history, rate, timeout_s
        self.rng = random.Random(f"client-{seed}-{node.name}")
        self.stop, self.shared, self.calm = stop, shared, calm
        self.conn = None
        self.seq = 0
        self.error = None

    # -- one operation -------------------------------------------------------
    def _call(self, f, key, value, commands, write):
        """Send commands (a list of tuples) pipelined; return the replies or
        record the completion as fail/info and return None."""
        h = self.history
        h.add(self.process, self.node.name, "invoke", f, key, value)
        sent = False
        try:
            if self.conn is None:
                self.conn = connect(self.node, self.timeout_s)
                self.conn.connect()
            self.conn.send_packed_command(self.conn.pack_commands(commands))
            sent = True
            replies = []
            for _ in commands:
                try:
                    replies.append(self.conn.read_response())
                except redis.ResponseError as e:
                    replies.append(e)
            return replies
        except (redis.TimeoutError, redis.ConnectionError, OSError) as e:
            if self.conn is not None:
                self.conn.disconnect()
            self.conn = None
            kind = "info" if (write and sent) else "fail"
            h.add(self.process, self.node.name, kind, f, key, {"error": type(e).__name__})
            return None

    def _complete(self, f, key, value, reply, version=None):
        if isinstance(reply, redis.ResponseError):
            self.history.add(self.process, self.node.name, "fail", f, key, {"error": str(reply)})
            return False
        self.history.add(self.process, self.node.name, "ok", f, key, value, version)
        return True

    def _add(self):
        self.seq += 1
        prefix = "s" if self.workload == "set" else "c"
        key = f"{prefix}:{self.node.name}:{self.seq}"
        r = self._call("add", key, key, [("SET", key, key)], write=True)
        if r is None or not self._complete("add", key, key, r[0]):
            return
        with self.shared.lock:
            self.shared.present[self.node.name].append(key)
            if self.workload == "set" and self.seq % self.shared.sample_every == 0:
                now = time.monotonic()
                for pending in self.shared.pending.values():
                    pending[key] = [now, now]

    def _read(self, key, f="read"):
        r = self._call(f, key, None, [("GET", key)], write=False)
        if r is None:
            return None
        v = r[0].decode() if isinstance(r[0], bytes) else r[0]
        self._complete(f, key, v, r[0])
        return v

    def _set_op(self):
        """An add, or (one in ten) a re-read of a key this node already showed."""
        with self.shared.lock:
            known = self.shared.present[self.node.name]
            old = self.rng.choice(known) if known and self.rng.random() < 0.1 else None
        if old is not None:
            self._read(old)
        else:
            self._add()

    def _register_op(self):
        key = f"r:{self.rng.randrange(REGISTER_KEYS)}"
        if self.rng.random() < 0.2:
            self._read(key)
            return
        self.seq += 1
        value = f"{self.node.name}-{self.seq}"
        r = self._call("write", key, value,
                       [("SET", key, value), ("VERSION", key), ("GET", key)], write=True)
        if r is None:
            return
        version = None
        if not isinstance(r[1], Exception) and r[2] is not None and r[2].decode() == value:
            version = parse_version(r[1])  # nothing merged in between: this write's version
        self._complete("write", key, value, r[0], version)

    def _counter_op(self):
        """counter: INCRBY of a random delta (both signs) on a hot key; one
        operation in ten reads the key instead."""
        key = f"n:{self.rng.randrange(COUNTER_KEYS)}"
        if self.rng.random() < 0.1:
            self._read(key)
            return
        delta = self.rng.choice([-3, -2, -1, 1, 2, 3, 5, 10])
        r = self._call("add", key, delta, [("INCRBY", key, delta)], write=True)
        if r is not None:
            self._complete("add", key, delta, r[0])

    def run(self):
        try:
            self._loop()
        except Exception as e:  # surfaces as an unknown verdict, never silently
            self.error = f"{type(e).__name__}: {e}"

    def _loop(self):
        period = 1.0 / self.rate if self.rate > 0 else None
        next_t = time.monotonic() + self.rng.random() * (period or 0.1)
        while not self.stop.is_set():
            now = time.monotonic()
            if next_t > now:
                self.stop.wait(next_t - now)
                continue
            next_t = max(next_t + period, now - 1.0) if period else now + 0.1
            if self.workload == "set":
                self._set_op()
            elif self.workload == "register":
                self._register_op()
            elif self.workload == "counter":
                self._counter_op()
            elif self.workload == "convergence":
                if not self.calm():
                    self._add()
            # membership: no client load; the monitor is the measurement
        if self.conn is not None:
            self.conn.disconnect()


class Prober(Client):
    """set: reads tracked keys on one node until it shows them, at its own
    bounded rate, so the stable latency (ack -> visible everywhere) does not
    compete with the workload's operations. A key not there yet is re-read
    after max(PROBE_MIN_S, age / PROBE_AGE_DIV), at most PROBE_MAX_S, and at
    once after a heal: the measured time is an upper bound, late by at most a
    fifth of it, 2 s, or 50 ms plus one read (plus queueing when the probe
    rate is saturated)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = f"prober-{self.node.name}"

    def _loop(self):
        period = 1.0 / PROBE_RATE
        name = self.node.name
        while not self.stop.is_set():
            now = time.monotonic()
            with self.shared.lock:
                pending = self.shared.pending[name]
                due = min(((v[1], k) for k, v in pending.items() if v[1] <= now), default=None)
            if due is None:
                self.stop.wait(PROBE_MIN_S / 2)
                continue
            key = due[1]
            v = self._read(key, f="probe")
            with self.shared.lock:
                entry = self.shared.pending[name].get(key)
                if v is not None:
                    self.shared.pending[name].pop(key, None)
                    self.shared.present[name].append(key)
                elif entry is not None:
                    t = time.monotonic()
                    entry[1] = t + min(PROBE_MAX_S,
                                       max(PROBE_MIN_S, (t - entry[0]) / PROBE_AGE_DIV))
            self.stop.wait(max(0.0, period - (time.monotonic() - now)))
        if self.conn is not None:
            self.conn.disconnect()


class Monitor(threading.Thread):
    """Samples one node's digest, traffic counters and member view."""

    def __init__(self, node, history, stop):
        super().__init__(name=f"monitor-{node.name}", daemon=True)
        self.node, self.history, self.stop = node, history, stop
        self.last = None
        self.error = None

    def sample(self):
        c = connect(self.node, 0.5)
        try:
            c.send_packed_command(c.pack_commands([("INFO",), ("MEMBERS",)]))
            info = parse_info(c.read_response())
            members = c.read_response()
        finally:
            c.disconnect()
        view = {}
        for m in members or []:
            if m:
                view[m[0].decode()] = m[2].decode()
        return {"root_hash": info.get("root_hash"), "entries": int(info.get("entries", 0)),
                "bytes_out": int(info.get("bytes_out", 0)),
                "repair_bytes_sent": int(info.get("repair_bytes_sent", 0)),
                "suspicions_raised": int(info.get("suspicions_raised", 0)),
                "awareness": int(info.get("awareness", 0)),
                "clock_refused": int(info.get("clock_refused", 0)), "members": view}

    def run(self):
        try:
            while not self.stop.is_set():
                t = time.monotonic()
                try:
                    s = self.sample()
                    self.last = s
                    self.history.add("monitor", self.node.name, "ok", "sample", None, s)
                except (redis.RedisError, OSError) as e:
                    self.last = None
                    self.history.add("monitor", self.node.name, "fail", "sample", None,
                                     {"error": type(e).__name__})
                self.stop.wait(max(0.0, MONITOR_PERIOD_S - (time.monotonic() - t)))
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"


def final_reads(workload, cluster, history, timeout_s=5.0):
    """After the quiet period: every node's full view of the workload's keys."""
    for node in cluster.nodes:
        try:
            c = connect(node, timeout_s)
            c.connect()
            if workload in ("set", "convergence"):
                prefix = "s:*" if workload == "set" else "c:*"
                history.add("final", node.name, "invoke", "final-read", prefix, None)
                keys, cursor = [], b"0"
                for _ in range(100000):
                    c.send_command("SCAN", cursor, "MATCH", prefix, "COUNT", 1000)
                    cursor, batch = c.read_response()
                    keys += [k.decode() for k in batch]
                    if cursor in (b"0", 0, "0"):
                        break
                history.add("final", node.name, "ok", "final-read", prefix, sorted(set(keys)))
            elif workload == "counter":
                for i in range(COUNTER_KEYS):
                    key = f"n:{i}"
                    history.add("final", node.name, "invoke", "final-read", key, None)
                    c.send_command("GET", key)
                    v = c.read_response()
                    history.add("final", node.name, "ok", "final-read", key,
                                v.decode() if v is not None else None)
            elif workload == "register":
                for i in range(REGISTER_KEYS):
                    key = f"r:{i}"
                    history.add("final", node.name, "invoke", "final-read", key, None)
                    c.send_packed_command(c.pack_commands([("GET", key), ("VERSION", key)]))
                    v = c.read_response()
                    ver = parse_version(c.read_response())
                    history.add("final", node.name, "ok", "final-read", key,
                                v.decode() if v is not None else None, ver)
            c.disconnect()
        except (redis.RedisError, OSError) as e:
            history.add("final", node.name, "fail", "final-read", None,
                        {"error": f"{type(e).__name__}: {e}"})
