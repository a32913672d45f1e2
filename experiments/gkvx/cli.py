"""scripts/experiment: run | check | suite | cleanup.

Exit codes: 0 valid, 1 invalid, 2 unknown (the run itself failed, or it
could not run: no root, no binary, bad arguments).
"""
import argparse
import os
import random
import subprocess
import sys
import time

from . import nemesis
from .netns import cleanup_leftovers
from .options import with_lifeguard
from .workload import WORKLOADS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXIT = {True: 0, False: 1, "unknown": 2}
VERDICT = {True: "valid", False: "INVALID", "unknown": "unknown"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def need_root():
    if os.geteuid() != 0:
        print("experiment: needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): it creates network "
              "namespaces, veth pairs and nftables rules. Run it as root (sudo scripts/experiment"
              " ...); `scripts/experiment check DIR` works without root.", file=sys.stderr)
        return False
    return True


def ensure_binary(path):
    if path:
        if not os.access(path, os.X_OK):
            raise SystemExit(f"experiment: {path} is not an executable")
        return os.path.abspath(path)
    build = os.path.join(ROOT, "build", "release")
    binary = os.path.join(build, "gossipkv")
    if not os.access(binary, os.X_OK):
        log(f"building {binary}")
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", build, "-j2", "--target", "gossipkv"], check=True)
    return binary


def clock_support(binary):
    """True if this build has the node's experiment-only clock offset
    (--clock-offset-control, CLOCKOFFSET SET ms: docs/OPERATIONS.md)."""
    try:
        text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "clock-offset-control" in text


def add_run_args(p):
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--time", type=float, default=60, help="seconds of workload (default 60)")
    p.add_argument("--rate", type=float, default=200, help="operations per second, all clients")
    p.add_argument("--workload", choices=WORKLOADS, default="set")
    p.add_argument("--nemesis", default="partition-halves",
                   help="NAME[,NAME...]: one is drawn per fault window; 'none' for no faults")
    p.add_argument("--nemesis-interval", type=float, default=10,
                   help="seconds of each fault window and each calm window (default 10)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--timeout", type=float, default=1.0, help="client socket timeout, s")
    p.add_argument("--quiet", type=float, default=60,
                   help="after the final heal, wait at most this long for convergence")
    p.add_argument("--binary", default=None, help="gossipkv binary (default build/release)")
    p.add_argument("--node-opt", action="append", default=[],
                   help="extra `gossipkv serve` option, e.g. --node-opt=--sync=always")
    p.add_argument("--lifeguard", choices=["on", "off", "both"], default="on",
                   help="the nodes' Lifeguard local health (serve --lifeguard); 'both' runs "
                        "the experiment twice, same seed, and compares (default on)")


def run_one(a):
    from .run import Experiment
    if a.nodes < 2 or a.nodes > 200:
        raise SystemExit("experiment: --nodes must be in 2..200")
    a.seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 10**9)
    a.binary = ensure_binary(a.binary)
    a.clock = clock_support(a.binary)
    if a.out is None:
        tag = a.nemesis.replace(",", "+").replace(":", "")
        a.out = os.path.join(ROOT, "build", "experiments",
                             f"{time.strftime('%Y%m%d-%H%M%S')}-{a.workload}-{tag}-{a.seed}")
    a.out = os.path.abspath(a.out)
    log(f"run: {a.workload} on {a.nodes} nodes, nemesis {a.nemesis} every "
        f"{a.nemesis_interval} s, {a.time} s at {a.rate}/s, seed {a.seed}")
    log(f"report: {a.out}")
    exp = Experiment(a, log)
    try:
        res, summary = exp.run()
    except Exception as e:  # noqa: the run failed: verdict unknown, report what we have
        log(f"run failed: {type(e).__name__}: {e}")
        from .run import check_dir
        if os.path.exists(os.path.join(a.out, "history.jsonl")):
            res, summary = check_dir(a.out, log)
            res["valid"] = "unknown" if res["valid"] is True else res["valid"]
        else:
            return "unknown", None
    print(summary, end="")
    log(f"verdict: {VERDICT[res['valid']]}  report: {a.out}")
    return res["valid"], res


def cmd_run(a):
    try:
        nemesis.parse_names(a.nemesis)
    except ValueError as e:
        print(f"experiment: {e}", file=sys.stderr)
        return 2
    if not need_root():
        return 2
    if a.lifeguard != "both":
        valid, _ = run_one(with_lifeguard(a, a.lifeguard))
        return EXIT[valid]
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 10**9)
    worst, lines = 0, []
    for mode in ("on", "off"):
        valid, res = run_one(with_lifeguard(a, mode))
        worst = max(worst, EXIT[valid])
        c = (res or {}).get("checker", {})
        lines.append(f"lifeguard {mode:3}: {VERDICT[valid]}, {c.get('false_suspicions')} false "
                     f"suspicions, {c.get('false_deaths')} of them dead")
    print("\n".join(lines))
    return worst


def cmd_check(a):
    from .run import check_dir
    if not os.path.exists(os.path.join(a.dir, "history.jsonl")):
        print(f"experiment: {a.dir}/history.jsonl not found", file=sys.stderr)
        return 2
    try:
        res, summary = check_dir(a.dir, log, plots=not a.no_plots)
    except (OSError, ValueError) as e:
        print(f"experiment: {e}", file=sys.stderr)
        return 2
    print(summary, end="")
    return EXIT[res["valid"]]


# The standard matrix: every workload against every nemesis that means something for it.
SUITE = {
    "set": ["none", "partition-halves", "partition-isolate", "partition-majorities-ring",
            "partition-bridge", "partition-oneway", "flip-flop", "loss:20", "delay", "kill",
            "pause", "clock-bump", "clock-strobe"],
    "register": ["partition-halves", "partition-majorities-ring", "kill", "pause",
                 "clock-bump", "clock-strobe"],
    "convergence": ["partition-halves", "partition-isolate", "partition-bridge", "flip-flop",
                    "loss:20", "kill"],
    "membership": ["partition-isolate", "partition-oneway", "loss:20", "slow-node:40", "kill",
                   "pause"],
    "counter": ["partition-halves", "flip-flop", "loss:20", "kill"],
}


def _fmt(v, unit=""):
    return "-" if v is None else f"{v}{unit}"


def _row(workload, nem, res):
    c = (res or {}).get("checker", {})
    conv = (res or {}).get("convergence", {})
    fin = (conv.get("final") or {}).get("converged_after_s")
    # Per-heal times mean something only where writes stop at the heal.
    heal = (conv.get("converged_after_s") or {}).get("0.5") \
        if workload in ("convergence", "membership") else None
    if workload == "register":
        what = (f"{len(c.get('divergent', []))} divergent / {len(c.get('should_have_won', []))}"
                f" wrong winner of {c.get('acknowledged')}")
    elif workload == "counter":
        what = (f"{len(c.get('out_of_range', []))} out of range / "
                f"{len(c.get('divergent', []))} divergent of {c.get('acknowledged')} increments")
    elif workload == "membership":
        d = (c.get("declared_dead_after_s") or {}).get("0.5")
        r = (c.get("readmitted_after_s") or {}).get("0.5")
        what = (f"dead after {_fmt(d, ' s')} / back after {_fmt(r, ' s')} / "
                f"{c.get('false_suspicions')} false susp. ({c.get('false_deaths')} dead)")
    else:
        what = (f"{c.get('lost_count')} lost / {c.get('not_on_every_node_count')} partial / "
                f"{c.get('stale_reads_count')} stale of {c.get('acknowledged')}")
    if conv.get("clock_refused_at_end"):
        what += f" ({conv['clock_refused_at_end']} clock-refused)"
    valid = (res or {}).get("valid", "unknown")
    final = _fmt(fin) if fin is not None or not res else "never"
    return f"| {workload} | {nem} | {VERDICT[valid]} | {what} | {_fmt(heal)} | {final} |"


def cmd_suite(a):
    if not need_root():
        return 2
    binary = ensure_binary(a.binary)
    clock = clock_support(binary)
    quick = dict(nodes=3, time=20, interval=5, rate=100) if a.quick else \
        dict(nodes=5, time=60, interval=10, rate=200)
    seed = a.seed if a.seed is not None else 1
    out = os.path.abspath(a.out or os.path.join(ROOT, "build", "experiments",
                                                time.strftime("suite-%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    rows, worst = [], 0
    header = ["| workload | nemesis | verdict | figures | each heal -> equal digests, p50 s"
              " | final heal -> equal digests, s |", "|---|---|---|---|---|---|"]
    from .netns import netem_available
    has_netem = netem_available()
    for workload, nems in SUITE.items():
        for nem in nems:
            if nem == "delay" and not has_netem:
                rows.append(f"| {workload} | {nem} | skipped: no sch_netem in this kernel | | | |")
                continue
            if nem.startswith("clock") and not clock:
                rows.append(f"| {workload} | {nem} | skipped: no clock-offset option in this build | | | |")
                continue
            # Membership under loss and with a slow node runs with Lifeguard
            # on and off (false suspicions of healthy nodes are what it is for).
            modes = ("on", "off") if workload == "membership" and \
                nem.startswith(("loss", "slow-node")) else ("on",)
            for mode in modes:
                name = f"{workload}-{nem.replace(':', '')}" + ("" if len(modes) == 1 else
                                                               f"-lifeguard-{mode}")
                args = argparse.Namespace(
                    nodes=quick["nodes"], time=quick["time"], rate=quick["rate"],
                    workload=workload, nemesis=nem, nemesis_interval=quick["interval"],
                    seed=seed, out=os.path.join(out, name), timeout=1.0, quiet=60,
                    binary=binary, node_opt=[], lifeguard="on")
                valid, res = run_one(with_lifeguard(args, mode))
                worst = max(worst, EXIT[valid])
                label = nem if len(modes) == 1 else f"{nem}, lifeguard {mode}"
                rows.append(_row(workload, label, res))
                with open(os.path.join(out, "suite.md"), "w", encoding="utf-8") as f:
                    f.write("\n".join(header + rows) + "\n")
    cmd = "scripts/experiment suite" + (" --quick" if a.quick else "") + f" --seed {seed}"
    text = "\n".join([f"`{cmd}`: {quick['nodes']} nodes, {quick['time']} s each, faults every "
                      f"{quick['interval']} s, {quick['rate']} ops/s", ""] + header + rows) + "\n"
    with open(os.path.join(out, "suite.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    log(f"suite table: {os.path.join(out, 'suite.md')}")
    return worst


def cmd_cleanup(a):
    if not need_root():
        return 2
    removed = cleanup_leftovers(everything=a.all, log=log)
    if not removed:
        log("cleanup: nothing left over")
    return 0


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/experiment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one experiment end to end")
    add_run_args(r)
    c = sub.add_parser("check", help="re-check a recorded history (no root needed)")
    c.add_argument("dir")
    c.add_argument("--no-plots", action="store_true")
    s = sub.add_parser("suite", help="run the standard matrix, write one table")
    s.add_argument("--quick", action="store_true", help="3 nodes, 20 s per run")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--out", default=None)
    s.add_argument("--binary", default=None)
    k = sub.add_parser("cleanup", help="remove namespaces left by a dead harness")
    k.add_argument("--all", action="store_true", help="also those of live harnesses")
    sub.add_parser("nemeses", help="list the nemeses")
    a = p.parse_args(argv)
    if a.cmd == "run":
        return cmd_run(a)
    if a.cmd == "check":
        return cmd_check(a)
    if a.cmd == "suite":
        return cmd_suite(a)
    if a.cmd == "nemeses":
        for name, d in nemesis.DESCRIPTIONS.items():
            print(f"{name:28} {d}")
        return 0
    return cmd_cleanup(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
