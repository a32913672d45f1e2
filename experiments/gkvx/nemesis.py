"""Nemeses: a seeded schedule of faults and heals, and the code applying it.

The schedule is computed before the run from the seed alone (same seed, same
nodes, same faults at the same offsets). A fault window lasts one interval,
then the cluster is healthy for one interval, and so on; the first fault
starts after one calm interval. Every step the executor applies is written to
the history with the full resulting state (blocked directions, killed and
paused nodes, loss, delay, clock offsets), so a checker can tell at any
instant which nodes could hear which.
"""
import random

PARTITIONS = ["partition-halves", "partition-isolate", "partition-majorities-ring",
              "partition-bridge", "partition-oneway"]
SIMPLE = PARTITIONS + ["flip-flop", "delay", "kill", "pause", "clock-bump", "clock-strobe"]
DESCRIPTIONS = {
    "partition-halves": "two random halves cannot hear each other",
    "partition-isolate": "one random node cut off both ways",
    "partition-majorities-ring": "each node hears a majority (a ring), no two the same",
    "partition-bridge": "two halves joined only through one node",
    "partition-oneway": "half A hears half B, B does not hear A",
    "flip-flop": "random halves, cut and healed every second of the window",
    "loss:P": "P percent of packets between nodes dropped (nftables numgen random)",
    "slow-node:P": "one random node loses P percent of its packets both ways (a sick node)",
    "delay": "100 ms +- 50 ms on every node's link (tc netem)",
    "kill": "SIGKILL one random node; restart it on its data at the heal",
    "pause": "SIGSTOP one random node; SIGCONT at the heal",
    "clock-bump": "one random node's clock jumps by +-(5 s..5 min); back to 0 at the heal",
    "clock-strobe": "one random node's clock flips between 0 and +-(1..60) s every 500 ms",
}


def parse_names(spec):
    """'partition-halves,loss:20' -> ['partition-halves', 'loss:20'] (validated)."""
    names = [s.strip() for s in (spec or "").split(",") if s.strip()]
    for name in names:
        if name == "none":
            continue
        if name.startswith("loss:") or name.startswith("slow-node:"):
            try:
                p = float(name.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"nemesis {name}: P must be a number (percent)") from None
            if not 0 < p <= 100:
                raise ValueError(f"nemesis {name}: P must be in (0, 100]")
            continue
        if name not in SIMPLE:
            raise ValueError(f"unknown nemesis {name!r} (known: {', '.join(SIMPLE)}, loss:P, "
                             "slow-node:P, none)")
    return [n for n in names if n != "none"]


def _halves(nodes, rng):
    order = list(nodes)
    rng.shuffle(order)
    k = len(order) // 2
    return order[:k], order[k:]


def _cut(a, b):
    """Both directions between groups a and b, as (src, dst) pairs."""
    return sorted([(x, y) for x in a for y in b] + [(y, x) for x in a for y in b])


def partition_edges(name, nodes, rng):
    """The blocked (src, dst) directions of one partition: dst drops src."""
    if name in ("partition-halves", "flip-flop"):
        a, b = _halves(nodes, rng)
        return _cut(a, b)
    if name == "partition-isolate":
        x = rng.choice(nodes)
        return _cut([x], [y for y in nodes if y != x])
    if name == "partition-majorities-ring":
        ring = list(nodes)
        rng.shuffle(ring)
        n = len(ring)
        m = n // 2 + 1
        lo = -((m - 1) // 2)
        blocked = []
        for i, dst in enumerate(ring):
            hears = {ring[(i + k) % n] for k in range(lo, lo + m)}
            blocked += [(src, dst) for src in ring if src not in hears]
        return sorted(blocked)
    if name == "partition-bridge":
        order = list(nodes)
        rng.shuffle(order)
        rest = order[1:]
        k = len(rest) // 2
        return _cut(rest[:k], rest[k:])
    if name == "partition-oneway":
        a, b = _halves(nodes, rng)
        return sorted((x, y) for x in a for y in b)  # b drops a: a hears b only
    raise ValueError(name)


def _clock_offset_ms(rng, lo_s, hi_s):
    return rng.choice([-1, 1]) * rng.randint(lo_s * 1000, hi_s * 1000)


def fault_steps(name, t, interval, nodes, rng):
    """Steps [(time_s, op, params)] of one fault window starting at t."""
    end = t + interval
    if name in PARTITIONS:
        return [(t, "partition", {"name": name, "edges": partition_edges(name, nodes, rng)}),
                (end, "heal-partition", {"name": name})]
    if name == "flip-flop":
        steps, s, cut = [], t, True
        while s < end - 1e-9:
            if cut:
                steps.append((s, "partition", {"name": name,
                                               "edges": partition_edges(name, nodes, rng)}))
            else:
                steps.append((s, "heal-partition", {"name": name}))
            cut = not cut
            s += 1.0
        return steps + [(end, "heal-partition", {"name": name})]
    if name.startswith("loss:"):
        return [(t, "loss", {"name": name, "percent": float(name[5:])}),
                (end, "loss", {"name": name, "percent": 0.0})]
    if name.startswith("slow-node:"):
        x = rng.choice(nodes)
        p = float(name.split(":", 1)[1])
        return [(t, "slow", {"name": name, "node": x, "percent": p}),
                (end, "slow", {"name": name, "node": x, "percent": 0.0})]
    if name == "delay":
        return [(t, "delay", {"name": name, "ms": 100, "jitter_ms": 50}),
                (end, "delay", {"name": name, "ms": 0, "jitter_ms": 0})]
    if name in ("kill", "pause"):
        x = rng.choice(nodes)
        return [(t, name, {"name": name, "node": x}),
                (end, "restart" if name == "kill" else "resume", {"name": name, "node": x})]
    if name == "clock-bump":
        x = rng.choice(nodes)
        return [(t, "clock", {"name": name, "node": x, "offset_ms": _clock_offset_ms(rng, 5, 300)}),
                (end, "clock", {"name": name, "node": x, "offset_ms": 0})]
    if name == "clock-strobe":
        x = rng.choice(nodes)
        off = _clock_offset_ms(rng, 1, 60)
        steps, s, on = [], t, True
        while s < end - 1e-9:
            steps.append((s, "clock", {"name": name, "node": x, "offset_ms": off if on else 0}))
            on = not on
            s += 0.5
        return steps + [(end, "clock", {"name": name, "node": x, "offset_ms": 0})]
    raise ValueError(name)


def schedule(names, nodes, duration_s, interval_s, seed):
    """Every step of the run, sorted by time. Empty when names is empty."""
    rng = random.Random(f"nemesis-{seed}")
    steps = []
    if not names:
        return steps
    t = float(interval_s)
    while t + interval_s <= duration_s + 1e-9:
        steps += fault_steps(rng.choice(names), t, interval_s, nodes, rng)
        t += 2 * interval_s
    steps.sort(key=lambda s: s[0])
    return steps


class State:
    """What the nemesis has done to the world right now."""

    def __init__(self):
        self.blocked = []      # (src, dst): dst drops packets from src
        self.killed = []
        self.paused = []
        self.loss = 0.0
        self.delay_ms = 0
        self.clock = {}        # node -> offset ms (non-zero only)
        self.slow = {}         # node -> percent of its packets lost both ways

    def as_dict(self):
        return {"blocked": [list(e) for e in self.blocked], "killed": sorted(self.killed),
                "paused": sorted(self.paused), "loss": self.loss, "delay_ms": self.delay_ms,
                "clock": dict(sorted(self.clock.items())), "slow": dict(sorted(self.slow.items()))}

    def calm(self):
        return not (self.blocked or self.killed or self.paused or self.loss or self.delay_ms
                    or self.clock or self.slow)


class Executor:
    """Applies steps to a World and a Cluster, recording each in the history."""

    def __init__(self, world, cluster, history, log):
        self.world, self.cluster, self.history, self.log = world, cluster, history, log
        self.state = State()

    def _apply_rules(self):
        for i in range(1, self.world.n + 1):
            drop = [src for (src, dst) in self.state.blocked if dst == f"n{i}"]
            # a slow node loses its share of what it receives and of what it sends
            own = self.state.slow.get(f"n{i}", 0.0)
            slow_from = {int(x[1:]): p * 10 for x, p in self.state.slow.items() if x != f"n{i}"}
            self.world.set_rules(i, [int(s[1:]) for s in drop], max(self.state.loss, own) * 10,
                                 slow_from)

    def apply(self, op, params):
        st = self.state
        node = params.get("node")
        if op == "partition":
            st.blocked = [tuple(e) for e in params["edges"]]
            self._apply_rules()
        elif op == "heal-partition":
            st.blocked = []
            self._apply_rules()
        elif op == "loss":
            st.loss = params["percent"]
            self._apply_rules()
        elif op == "slow":
            if params["percent"]:
                st.slow[node] = params["percent"]
            else:
                st.slow.pop(node, None)
            self._apply_rules()
        elif op == "delay":
            st.delay_ms = params["ms"]
            for i in range(1, self.world.n + 1):
                self.world.set_delay(i, params["ms"], params["jitter_ms"])
        elif op == "kill":
            self.cluster.node(node).kill()
            st.killed.append(node)
        elif op == "restart":
            self.cluster.node(node).start()
            st.killed.remove(node)
        elif op == "pause":
            self.cluster.node(node).pause()
            st.paused.append(node)
        elif op == "resume":
            self.cluster.node(node).resume()
            st.paused.remove(node)
        elif op == "clock":
            self.cluster.node(node).set_clock_offset(params["offset_ms"])
            if params["offset_ms"]:
                st.clock[node] = params["offset_ms"]
            else:
                st.clock.pop(node, None)
        else:
            raise ValueError(op)
        f = "stop" if op in ("heal-partition", "restart", "resume") or (
            op in ("loss", "delay", "clock", "slow") and st.calm()) else "start"
        value = dict(params)
        value["op"] = op
        value["state"] = st.as_dict()
        self.history.add("nemesis", node, "info", f, params.get("name"), value)
        self.log(f"nemesis: {op} {params.get('name')} {node or ''}".rstrip())

    def heal_all(self, why):
        """Undo everything still in force (the final heal)."""
        st = self.state
        if st.blocked:
            self.apply("heal-partition", {"name": why})
        if st.loss:
            self.apply("loss", {"name": why, "percent": 0.0})
        if st.delay_ms:
            self.apply("delay", {"name": why, "ms": 0, "jitter_ms": 0})
        for x in list(st.paused):
            self.apply("resume", {"name": why, "node": x})
        for x in list(st.killed):
            self.apply("restart", {"name": why, "node": x})
        for x in list(st.clock):
            self.apply("clock", {"name": why, "node": x, "offset_ms": 0})
        for x in list(st.slow):
            self.apply("slow", {"name": why, "node": x, "percent": 0.0})
