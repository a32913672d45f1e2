"""Checker unit tests on hand-made histories (no root, no network, no nodes).

Each invalid case is a clean history with one violation planted: the checker
must call the clean one valid and each planted one invalid, for the planted
reason. Run: python3 -m unittest discover -s experiments/tests
"""
import argparse
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gkvx import checker, nemesis  # noqa: E402
from gkvx.history import load  # noqa: E402

MS = 1_000_000
NODES = ["n1", "n2", "n3"]


class H:
    """Builds a history the way the harness writes one."""

    def __init__(self, workload):
        self.events, self.t = [], 0
        self.add("harness", None, "info", "workload", value=workload)
        self.state = nemesis.State()

    def add(self, process, node, type_, f, key=None, value=None, version=None, dt=1):
        self.t += dt * MS
        self.events.append({"index": len(self.events), "time": self.t, "process": process,
                            "node": node, "type": type_, "f": f, "key": key, "value": value,
                            "version": version})

    def op(self, proc, node, f, key, value=None, type_="ok", result=None, version=None):
        self.add(proc, node, "invoke", f, key, value)
        self.add(proc, node, type_, f, key, value if result is None else result, version)

    def sample(self, node, root_hash, members=None, bytes_out=0):
        self.add("monitor", node, "ok", "sample", value={
            "root_hash": root_hash, "entries": 0, "bytes_out": bytes_out,
            "repair_bytes_sent": 0, "suspicions_raised": 0, "awareness": 0,
            "members": members or {n: "alive" for n in NODES}})

    def samples(self, root_hash, members=None, rounds=2):
        for _ in range(rounds):
            for n in NODES:
                self.sample(n, root_hash, members)

    def nemesis(self, f, name, blocked=(), killed=()):
        self.state.blocked = [tuple(b) for b in blocked]
        self.state.killed = list(killed)
        self.add("nemesis", None, "info", f, name, {"op": f, "state": self.state.as_dict()})

    def phase(self, what):
        self.add("harness", None, "info", "phase", value=what)


def halves_cut():
    return [("n1", "n2"), ("n2", "n1"), ("n1", "n3"), ("n3", "n1")]


def set_history(lose=None, stale=False, partial=None, converge=True):
    h = H("set")
    h.samples("aa")
    keys = [f"s:n{i % 3 + 1}:{i}" for i in range(6)]
    for i, k in enumerate(keys):
        h.op(1 + i % 3, f"n{i % 3 + 1}", "add", k, k)
    h.nemesis("start", "partition-halves", halves_cut())
    h.op(1, "n1", "read", keys[0], result=keys[0])
    if stale:  # n1 acknowledged keys[0] and showed it; now it does not have it
        h.op(1, "n1", "read", keys[0], result=None)
    h.samples("bb")
    h.nemesis("stop", "partition-halves")
    h.phase("clients-stopped")
    h.phase("final-heal")
    if converge:
        h.samples("cc")
    else:
        h.sample("n1", "x1")
        h.sample("n2", "x2")
        h.sample("n3", "x1")
    for n in NODES:
        present = [k for k in keys if k != lose and not (partial == n and k == keys[1])]
        h.op("final", n, "final-read", "s:*", None, result=present)
    return h.events


VC_A = {"0000000000000001": 1}
VC_AB = {"0000000000000001": 1, "0000000000000002": 1}
VC_B = {"0000000000000002": 1}


def ver(hlc, origin, vc):
    return {"hlc": hlc, "origin": origin, "origin_name": None, "tombstone": 0, "vclock": vc}


def register_history(wrong_winner=False, divergent=False):
    h = H("register")
    h.samples("aa")
    w1 = ver(100, "0000000000000001", VC_A)
    w2 = ver(90, "0000000000000002", VC_AB)  # causally after w1 despite a lower HLC
    w3 = ver(95, "0000000000000002", VC_B)   # concurrent with w1, loses on HLC... to w1 only
    h.op(1, "n1", "write", "r:0", "n1-1", version=w1)
    h.op(2, "n2", "write", "r:0", "n2-1", version=w2)
    h.op(3, "n3", "write", "r:1", "n3-1", version=ver(80, "0000000000000003",
                                                       {"0000000000000003": 1}))
    h.phase("clients-stopped")
    h.phase("final-heal")
    h.samples("cc")
    final0 = ("n1-1", w1) if wrong_winner else ("n2-1", w2)
    for n in NODES:
        v0, ver0 = final0
        if divergent and n == "n3":
            v0, ver0 = "n1-1", w1
        h.op("final", n, "final-read", "r:0", None, result=v0, version=ver0)
        h.op("final", n, "final-read", "r:1", None, result="n3-1",
             version=ver(80, "0000000000000003", {"0000000000000003": 1}))
    del w3
    return h.events


def counter_history(final=None, info=(), divergent=False, not_int=False):
    """n:0 gets +5 (n1), -2 (n2), +3 (n3) acknowledged across a partition,
    and the deltas in info indeterminate; every node's final read is
    `final` (default: the acknowledged sum, 6)."""
    h = H("counter")
    h.samples("aa")
    h.op(1, "n1", "add", "n:0", 5)
    h.nemesis("start", "partition-halves", halves_cut())
    h.op(2, "n2", "add", "n:0", -2)
    h.op(3, "n3", "add", "n:0", 3)
    for i, d in enumerate(info):
        h.op(1 + i % 3, f"n{1 + i % 3}", "add", "n:0", d, type_="info", result={"error": "T"})
    h.op(1, "n1", "read", "n:0", result="abc" if not_int else "5")
    h.samples("bb")
    h.nemesis("stop", "partition-halves")
    h.phase("clients-stopped")
    h.phase("final-heal")
    h.samples("cc")
    for n in NODES:
        v = 6 if final is None else final
        if divergent and n == "n3":
            v += 1
        h.op("final", n, "final-read", "n:0", None, result=str(v))
    return h.events


class CounterChecker(unittest.TestCase):
    def test_clean_history_is_valid(self):
        r = checker.check(counter_history())
        self.assertIs(r["valid"], True, r["why"])
        self.assertEqual(r["checker"]["keys"]["n:0"]["acknowledged_sum"], 6)

    def test_lost_increment_is_invalid(self):
        # One side's increment lost (what last-writer-wins would do).
        r = checker.check(counter_history(final=3))
        self.assertIs(r["valid"], False)
        self.assertEqual(r["checker"]["out_of_range"][0]["value"], 3)

    def test_double_counted_increment_is_invalid(self):
        r = checker.check(counter_history(final=11))
        self.assertIs(r["valid"], False)

    def test_indeterminate_increments_widen_the_range(self):
        for final in (6 - 1, 6, 6 + 10, 6 + 10 - 1):
            r = checker.check(counter_history(final=final, info=(10, -1)))
            self.assertIs(r["valid"], True, (final, r["why"]))
        for final in (6 - 2, 6 + 11):
            r = checker.check(counter_history(final=final, info=(10, -1)))
            self.assertIs(r["valid"], False, final)
        self.assertEqual(r["checker"]["keys"]["n:0"]["lo"], 5)
        self.assertEqual(r["checker"]["keys"]["n:0"]["hi"], 16)

    def test_divergent_final_reads_are_invalid(self):
        r = checker.check(counter_history(final=6, info=(1,), divergent=True))
        self.assertIs(r["valid"], False)
        self.assertEqual([d["key"] for d in r["checker"]["divergent"]], ["n:0"])

    def test_non_integer_read_is_invalid(self):
        r = checker.check(counter_history(not_int=True))
        self.assertIs(r["valid"], False)
        self.assertEqual(len(r["checker"]["not_integer"]), 1)

    def test_missing_final_read_is_unknown(self):
        ev = [e for e in counter_history() if not (e["f"] == "final-read" and e["node"] == "n2")]
        self.assertEqual(checker.check(ev)["valid"], "unknown")

    def test_every_increment_refused_is_unknown(self):
        # A node that answers INCRBY with an error: nothing acknowledged,
        # nothing tested.
        ev = counter_history(final=0)
        for e in ev:
            if e["f"] == "add" and e["type"] == "ok":
                e["type"], e["value"] = "fail", {"error": "ERR unknown command"}
        r = checker.check(ev)
        self.assertEqual(r["valid"], "unknown")
        self.assertIn("no increment was acknowledged", " ".join(r["why"]))


class SetChecker(unittest.TestCase):
    def test_clean_history_is_valid(self):
        r = checker.check(set_history())
        self.assertIs(r["valid"], True, r["why"])
        self.assertEqual(r["checker"]["acknowledged"], 6)
        self.assertEqual(r["checker"]["lost_count"], 0)

    def test_lost_write_is_invalid(self):
        r = checker.check(set_history(lose="s:n3:2"))
        self.assertIs(r["valid"], False)
        self.assertEqual(r["checker"]["lost"], ["s:n3:2"])

    def test_stale_read_is_invalid(self):
        r = checker.check(set_history(stale=True))
        self.assertIs(r["valid"], False)
        self.assertEqual(r["checker"]["stale_reads_count"], 1)
        self.assertEqual(r["checker"]["stale_reads"][0]["node"], "n1")

    def test_missing_on_one_node_is_invalid(self):
        r = checker.check(set_history(partial="n2"))
        self.assertIs(r["valid"], False)
        self.assertEqual(r["checker"]["not_on_every_node"], ["s:n2:1"])

    def test_never_converged_is_invalid(self):
        r = checker.check(set_history(converge=False))
        self.assertIs(r["valid"], False)
        self.assertIn("never matched", " ".join(r["why"]))

    def test_timed_out_write_is_not_lost(self):
        ev = set_history()
        # A write whose reply never came (info) and is absent: not a violation.
        i = next(i for i, e in enumerate(ev) if e["f"] == "add" and e["type"] == "ok")
        ev[i]["type"] = "info"
        missing = ev[i]["key"]
        for e in ev:
            if e["f"] == "final-read" and e["type"] == "ok":
                e["value"] = [k for k in e["value"] if k != missing]
        r = checker.check(ev)
        self.assertIs(r["valid"], True, r["why"])
        self.assertEqual(r["checker"]["info"], 1)
        self.assertEqual(r["checker"]["recovered_info"], 0)

    def test_interrupted_run_is_unknown_not_lost(self):
        # No final read at all (the harness was stopped): nothing can be called lost.
        ev = [e for e in set_history() if e["f"] != "final-read"]
        r = checker.check(ev)
        self.assertEqual(r["valid"], "unknown")
        self.assertEqual(r["checker"]["lost_count"], 0)

    def test_missing_final_read_is_unknown(self):
        ev = [e for e in set_history() if not (e["f"] == "final-read" and e["node"] == "n3")]
        self.assertEqual(checker.check(ev)["valid"], "unknown")


class RegisterChecker(unittest.TestCase):
    def test_clean_history_is_valid(self):
        r = checker.check(register_history())
        self.assertIs(r["valid"], True, r["why"])

    def test_wrong_winner_is_invalid(self):
        r = checker.check(register_history(wrong_winner=True))
        self.assertIs(r["valid"], False)
        won = r["checker"]["should_have_won"]
        self.assertEqual([(w["key"], w["write"]) for w in won], [("r:0", "n2-1")])

    def test_divergent_final_read_is_invalid(self):
        r = checker.check(register_history(divergent=True))
        self.assertIs(r["valid"], False)
        self.assertEqual([d["key"] for d in r["checker"]["divergent"]], ["r:0"])

    def test_merge_rule(self):
        a = ver(100, "0000000000000001", VC_A)
        b = ver(90, "0000000000000002", VC_AB)
        c = ver(95, "0000000000000002", VC_B)
        self.assertTrue(checker.merge_beats(b, a))   # dominance beats a higher HLC
        self.assertFalse(checker.merge_beats(a, b))
        self.assertTrue(checker.merge_beats(a, c))   # concurrent: higher HLC
        d = ver(100, "0000000000000003", VC_B)
        self.assertTrue(checker.merge_beats(d, a))   # concurrent, same HLC: higher origin


class MembershipChecker(unittest.TestCase):
    def history(self, readmit=True):
        h = H("membership")
        h.samples("aa")
        h.nemesis("start", "kill", killed=["n3"])
        dead = {"n1": "alive", "n2": "alive", "n3": "dead"}
        for n in ("n1", "n2"):
            h.sample(n, "aa", dead)
        h.add("monitor", "n3", "fail", "sample", value={"error": "ConnectionError"})
        h.nemesis("stop", "kill")
        h.phase("final-heal")
        if readmit:
            h.samples("aa")
        else:
            for n in NODES:
                h.sample(n, "aa", dead if n != "n3" else None)
        return h.events

    def test_detection_and_readmission(self):
        r = checker.check(self.history())
        self.assertIs(r["valid"], True, r["why"])
        ep = r["checker"]["episodes"][0]
        self.assertIsNotNone(ep["declared_dead_after_s"])
        self.assertIsNotNone(ep["readmitted_after_s"])

    def test_never_readmitted_is_invalid(self):
        r = checker.check(self.history(readmit=False))
        self.assertIs(r["valid"], False)

    def one_false(self, state):
        """n1 once sees healthy n2 in state; returns the checker's result."""
        h = H("membership")
        h.samples("aa")
        h.sample("n1", "aa", {"n1": "alive", "n2": state, "n3": "alive"})
        h.phase("final-heal")
        h.samples("aa")
        return checker.check(h.events)["checker"]

    def test_false_suspicion_counted(self):
        c = self.one_false("suspect")
        self.assertEqual((c["false_suspicions"], c["false_deaths"]), (1, 0))

    def test_false_death_counted(self):
        c = self.one_false("dead")
        self.assertEqual((c["false_suspicions"], c["false_deaths"]), (1, 1))

    def test_slow_node_suspected_is_not_false_but_its_accusations_are(self):
        h = H("membership")
        h.samples("aa")
        h.state.slow = {"n2": 30.0}
        h.nemesis("start", "slow-node:30")
        h.sample("n1", "aa", {"n1": "alive", "n2": "suspect", "n3": "alive"})
        h.sample("n2", "aa", {"n1": "alive", "n2": "alive", "n3": "suspect"})
        h.state.slow = {}
        h.nemesis("stop", "slow-node:30")
        h.phase("final-heal")
        h.samples("aa")
        c = checker.check(h.events)["checker"]
        self.assertEqual(c["false_suspicions"], 1)
        self.assertEqual(c["false_suspicion_list"][0]["target"], "n3")


class LifeguardOption(unittest.TestCase):
    def test_off_adds_the_node_option_and_both_splits_the_output(self):
        from gkvx.options import with_lifeguard
        a = argparse.Namespace(out="/tmp/x", node_opt=["--sync=always"], lifeguard="both")
        on, off = with_lifeguard(a, "on"), with_lifeguard(a, "off")
        self.assertEqual(on.node_opt, ["--sync=always"])
        self.assertEqual(off.node_opt, ["--sync=always", "--lifeguard=no"])
        self.assertEqual((on.out, off.out), ("/tmp/x-lifeguard-on", "/tmp/x-lifeguard-off"))
        self.assertEqual(a.node_opt, ["--sync=always"])  # the caller's list is not changed


class Schedule(unittest.TestCase):
    def test_seed_reproduces_the_schedule(self):
        names = nemesis.parse_names("partition-halves,kill,partition-majorities-ring")
        a = nemesis.schedule(names, NODES + ["n4", "n5"], 60, 10, 7)
        b = nemesis.schedule(names, NODES + ["n4", "n5"], 60, 10, 7)
        c = nemesis.schedule(names, NODES + ["n4", "n5"], 60, 10, 8)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_majorities_ring_every_node_hears_a_majority(self):
        import random
        nodes = [f"n{i}" for i in range(1, 6)]
        edges = nemesis.partition_edges("partition-majorities-ring", nodes, random.Random(1))
        for dst in nodes:
            hears = {n for n in nodes if (n, dst) not in edges}
            self.assertEqual(len(hears), 3)
        views = {frozenset(n for n in nodes if (n, d) not in edges) for d in nodes}
        self.assertEqual(len(views), 5)

    def test_oneway_blocks_one_direction(self):
        import random
        edges = set(nemesis.partition_edges("partition-oneway", NODES, random.Random(3)))
        self.assertTrue(edges)
        self.assertFalse(any((b, a) in edges for a, b in edges))

    def test_slow_node_steps(self):
        self.assertEqual(nemesis.parse_names("slow-node:30"), ["slow-node:30"])
        steps = nemesis.schedule(["slow-node:30"], NODES, 20, 5, 1)
        self.assertEqual([(op, p["percent"]) for _, op, p in steps],
                         [("slow", 30.0), ("slow", 0.0)] * 2)
        self.assertRaises(ValueError, nemesis.parse_names, "slow-node:0")

    def test_bad_names_are_refused(self):
        for bad in ("partition-thirds", "loss:abc", "loss:0", "loss:101"):
            with self.assertRaises(ValueError):
                nemesis.parse_names(bad)


class HistoryFile(unittest.TestCase):
    def test_round_trip_and_bad_line(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "history.jsonl")
            with open(p, "w") as f:
                for e in set_history():
                    f.write(json.dumps(e) + "\n")
            self.assertIs(checker.check(load(p))["valid"], True)
            with open(p, "a") as f:
                f.write("{not json\n")
            with self.assertRaises(ValueError):
                load(p)


if __name__ == "__main__":
    unittest.main()
