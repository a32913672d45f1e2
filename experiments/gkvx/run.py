"""One experiment end to end: world, nodes, clients, nemesis, quiet, final reads, report."""
import atexit
import json
import os
import shutil
import signal
import threading
import time

from . import checker, nemesis, report
from .cluster import CLOCK_START_OPTS, Cluster
from .history import History, load
from .netns import World, cleanup_leftovers, netem_available
from .workload import Client, Monitor, Prober, Shared, final_reads


class Interrupted(Exception):
    pass


def _on_signal(signum, _frame):
    raise Interrupted(f"signal {signum}")


class Experiment:
    def __init__(self, args, log=print):
        self.a, self.log = args, log
        self.world = self.cluster = self.history = None
        self.stop_clients = threading.Event()
        self.stop_monitor = threading.Event()
        self.threads = []
        self.torn_down = False

    # -- lifecycle --------------------------------------------------------------
    def teardown(self):
        if self.torn_down:
            return
        self.torn_down = True
        self.stop_clients.set()
        self.stop_monitor.set()
        for t in self.threads:
            t.join(5)
        if self.cluster:
            for n in self.cluster.nodes:
                try:
                    n.stop()
                except Exception as e:  # keep tearing down the rest
                    self.log(f"teardown: {n.name}: {e}")
        if self.world:
            self.world.destroy()
        if self.history:
            self.history.close()

    def run(self):
        a = self.a
        names = nemesis.parse_names(a.nemesis)
        if "delay" in names and not netem_available():
            raise RuntimeError("nemesis delay needs sch_netem (tc netem), which this kernel lacks")
        if any(n.startswith("clock") for n in names) and not a.clock:
            raise RuntimeError("clock nemeses need the node's clock-offset option (not in this build)")
        os.makedirs(a.out, exist_ok=True)
        for sub in ("logs", "info", "data"):
            # A report directory used again starts empty: old data directories
            # would hold the previous run's keys (the same names for the same seed).
            shutil.rmtree(os.path.join(a.out, sub), ignore_errors=True)
            os.makedirs(os.path.join(a.out, sub))
        cleanup_leftovers(log=self.log)
        atexit.register(self.teardown)
        old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM,
                                                          signal.SIGHUP)}
        try:
            self._run(names)
        except Interrupted as e:
            self.log(f"interrupted ({e}): tearing down")
            if self.history:
                self.history.add("harness", None, "info", "error", None, f"interrupted: {e}")
            raise
        except Exception as e:
            if self.history:
                self.history.add("harness", None, "info", "error", None,
                                 f"{type(e).__name__}: {e}")
            raise
        finally:
            self.teardown()
            for s, h in old.items():
                signal.signal(s, h)
        return self.finish()

    def _mark(self, what):
        self.history.add("harness", None, "info", "phase", None, what)

    def _run(self, names):
        a = self.a
        self.history = History(os.path.join(a.out, "history.jsonl"))
        self.history.add("harness", None, "info", "workload", None, a.workload)
        self.history.add("harness", None, "info", "config", None, {
            "nodes": a.nodes, "time_s": a.time, "rate": a.rate, "nemesis": names,
            "nemesis_interval_s": a.nemesis_interval, "seed": a.seed, "binary": a.binary,
            "lifeguard": getattr(a, "lifeguard", "on"), "node_opt": list(a.node_opt)})
        self.world = World(a.nodes)
        self.world.create()
        clock_opts = CLOCK_START_OPTS if any(n.startswith("clock") for n in names) else []
        self.cluster = Cluster(self.world, a.binary, a.out, a.node_opt, clock_opts)
        self.cluster.start()
        self._wait_members(30)
        self._mark("cluster-up")
        ex = nemesis.Executor(self.world, self.cluster, self.history, self.log)
        shared = Shared(self.cluster.names(), a.rate)
        per_client = a.rate / a.nodes
        for i, node in enumerate(self.cluster.nodes, 1):
            self.threads.append(Monitor(node, self.history, self.stop_monitor))
            self.threads.append(Client(a.workload, node, i, self.history, per_client, a.timeout,
                                       a.seed, self.stop_clients, shared, ex.state.calm))
            if a.workload == "set":
                # Probers go on through the final heal and the quiet period.
                self.threads.append(Prober(a.workload, node, a.nodes + i, self.history, 0,
                                           a.timeout, a.seed, self.stop_monitor, shared,
                                           ex.state.calm))
        for t in self.threads:
            t.start()
        steps = nemesis.schedule(names, self.cluster.names(), a.time, a.nemesis_interval, a.seed)
        t0 = time.monotonic()
        for at, op, params in steps:
            self._sleep_until(t0 + at)
            ex.apply(op, params)
            if ex.state.calm():
                shared.reprobe()
        self._sleep_until(t0 + a.time)
        self.stop_clients.set()
        for t in self.threads:
            if isinstance(t, Client) and not isinstance(t, Prober):
                t.join(a.timeout + 5)
        self._mark("clients-stopped")
        ex.heal_all("final-heal")
        shared.reprobe()
        self._mark("final-heal")
        converged = self._wait_quiet(a.quiet)
        self._mark("converged" if converged else "not-converged")
        final_reads(a.workload, self.cluster, self.history)
        self._snapshot_info()
        self.stop_monitor.set()
        for t in self.threads:
            t.join(5)
            if getattr(t, "error", None):
                self.history.add("harness", None, "info", "error", None, f"{t.name}: {t.error}")
        self._mark("done")

    def _sleep_until(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))
            for t in self.threads:
                if not t.is_alive() and getattr(t, "error", None):
                    raise RuntimeError(f"{t.name} died: {t.error}")

    def _wait_members(self, limit_s):
        """Every node sees every node alive before the run starts."""
        mons = [Monitor(n, None, None) for n in self.cluster.nodes]
        deadline = time.monotonic() + limit_s
        names = set(self.cluster.names())
        while time.monotonic() < deadline:
            try:
                if all({k for k, v in m.sample()["members"].items() if v == "alive"} >= names
                       for m in mons):
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the cluster did not form within {limit_s} s")

    def _wait_quiet(self, limit_s):
        """After the final heal: digests equal and everyone alive everywhere,
        on two consecutive monitor rounds, or the limit."""
        mons = [t for t in self.threads if isinstance(t, Monitor)]
        deadline = time.monotonic() + limit_s
        good = 0
        while time.monotonic() < deadline:
            time.sleep(0.25)
            last = [m.last for m in mons]
            names = set(self.cluster.names())
            if all(last) and len({s["root_hash"] for s in last}) == 1 and all(
                    all(s["members"].get(x) == "alive" for x in names) for s in last):
                good += 1
                if good >= 2:
                    return True
            else:
                good = 0
        return False

    def _snapshot_info(self):
        from .cluster import connect
        for n in self.cluster.nodes:
            try:
                c = connect(n, 2.0)
                c.send_command("INFO")
                text = c.read_response()
                c.disconnect()
                with open(os.path.join(self.a.out, "info", f"{n.name}.txt"), "wb") as f:
                    f.write(text if isinstance(text, bytes) else text.encode())
            except Exception as e:
                self.log(f"INFO snapshot of {n.name} failed: {e}")

    def finish(self):
        return check_dir(self.a.out, self.log)


def check_dir(out, log=print, plots=True):
    events = load(os.path.join(out, "history.jsonl"))
    res = checker.check(events)
    cfg = next((e["value"] for e in events if e["process"] == "harness" and e["f"] == "config"),
               {})
    res["config"] = cfg
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    summary = report.summary_text(res)
    with open(os.path.join(out, "summary.txt"), "w", encoding="utf-8") as f:
        f.write(summary)
    if plots:
        try:
            report.plots(events, res, out)
        except Exception as e:  # a plot must never hide the verdict
            log(f"plots failed: {type(e).__name__}: {e}")
    return res, summary
