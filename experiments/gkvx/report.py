"""summary.txt and the PNG plots of one run."""
import collections
import os

from .checker import fault_periods, phase_time, samples
from .history import pair_ops

COLORS = {"ok": "#2a9d2a", "info": "#e69500", "fail": "#d62728"}


def _fmt_q(q, unit):
    if not q:
        return "-"
    return (f"p50 {q['0.5']}{unit}  p95 {q['0.95']}{unit}  p99 {q['0.99']}{unit}  "
            f"max {q['max']}{unit}  (n={q['count']})")


def summary_text(res):
    cfg = res.get("config", {})
    c = res.get("checker", {})
    lines = [f"verdict: {'VALID' if res['valid'] is True else 'INVALID' if res['valid'] is False else 'UNKNOWN'}",
             f"workload {res.get('workload')}  nodes {cfg.get('nodes')}  time {cfg.get('time_s')} s"
             f"  rate {cfg.get('rate')}/s  nemesis {','.join(cfg.get('nemesis') or []) or 'none'}"
             f" every {cfg.get('nemesis_interval_s')} s  seed {cfg.get('seed')}"]
    for w in res.get("why", []):
        lines.append(f"  why: {w}")
    wl = res.get("workload")
    if wl in ("set", "convergence"):
        lines += [f"adds: {c.get('attempts')} attempted, {c.get('acknowledged')} acknowledged, "
                  f"{c.get('info')} info (indeterminate), {c.get('failed')} failed",
                  f"lost (acknowledged, on no node at the end): {c.get('lost_count')}",
                  f"acknowledged but missing on some node at the end: {c.get('not_on_every_node_count')}",
                  f"info adds recovered (present at the end): {c.get('recovered_info')}",
                  f"never read: {c.get('never_read')}   stale reads: {c.get('stale_reads_count')}"]
        if wl == "set":
            lines.append(f"stable latency (ack -> seen on every node): "
                         f"{_fmt_q(c.get('stable_latency_ms'), ' ms')}")
            lines.append(f"  keys tracked by the probes: {c.get('tracked')}; on some node seen "
                         f"first by the final read: {c.get('tracked_seen_everywhere_only_by_final_read')}"
                         f"; never seen on every node: {c.get('tracked_not_seen_everywhere')}")
    elif wl == "counter":
        lines += [f"increments: {c.get('attempts')} attempted, {c.get('acknowledged')} "
                  f"acknowledged, {c.get('info')} info (indeterminate), {c.get('failed')} failed",
                  f"final reads out of range: {len(c.get('out_of_range', []))}   divergent: "
                  f"{len(c.get('divergent', []))}   not an integer: "
                  f"{len(c.get('not_integer', []))}"]
        for k, v in sorted(c.get("keys", {}).items()):
            lines.append(f"  {k}: final {v.get('final')}  allowed [{v.get('lo')}, {v.get('hi')}]"
                         f"  (acknowledged sum {v.get('acknowledged_sum')})")
    elif wl == "register":
        lines += [f"writes: {c.get('writes')}, acknowledged {c.get('acknowledged')} "
                  f"({c.get('with_version')} with their version), info {c.get('info')}",
                  f"divergent final reads: {len(c.get('divergent', []))}   "
                  f"acknowledged writes that should have won: {len(c.get('should_have_won', []))}"
                  f"   phantom values: {len(c.get('phantom_values', []))}"]
        for k, v in sorted(c.get("keys", {}).items()):
            ver = v.get("version") or {}
            lines.append(f"  {k} = {v.get('value')}  (hlc {ver.get('hlc')}, origin "
                         f"{ver.get('origin_name') or ver.get('origin')})")
    elif wl == "membership":
        lines += [f"declared dead on every observer after: {_fmt_q(c.get('declared_dead_after_s'), ' s')}",
                  f"readmitted everywhere after: {_fmt_q(c.get('readmitted_after_s'), ' s')}",
                  f"false suspicions (healthy pair, alive -> suspect/dead): {c.get('false_suspicions')}"
                  f" ({c.get('false_deaths')} dead)   max Lifeguard awareness: {c.get('awareness_max')}"]
        for e in c.get("episodes", []):
            lines.append(f"  {e['at_s']:>7} s {e['nemesis']}: dead after "
                         f"{e.get('declared_dead_after_s')} s, readmitted after "
                         f"{e.get('readmitted_after_s')} s")
    conv = res.get("convergence", {})
    if conv.get("final"):
        f = conv["final"]
        lines.append(f"final heal -> digests equal: {f.get('converged_after_s')} s, "
                     f"{f.get('bytes_sent')} gossip bytes sent")
        if conv.get("clock_refused_at_end"):
            lines.append(f"entries refused for a clock too far ahead (INFO storage clock_refused, "
                         f"all nodes): {conv['clock_refused_at_end']}")
    for h in conv.get("heals", []) if wl in ("convergence", "membership") else []:
        lines.append(f"  heal at {h['at_s']:>7} s ({h['nemesis']}): converged after "
                     f"{h['converged_after_s']} s, {h['bytes_sent']} bytes")
    return "\n".join(lines) + "\n"


def _shade(ax, events, t_end):
    for s, e, names in fault_periods(events):
        ax.axvspan(s / 1e9, (e if e is not None else t_end) / 1e9, color="#d0d0ff", alpha=0.5, lw=0)
        ax.text(s / 1e9, 1.0, "+".join(names), transform=ax.get_xaxis_transform(),
                fontsize=7, va="bottom", rotation=0, color="#333399")
    fh = phase_time(events, "final-heal")
    if fh is not None:
        ax.axvline(fh / 1e9, color="#333399", ls="--", lw=0.8)


def plots(events, res, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = [o for o in pair_ops(events) if o["complete"] is not None and o["f"] != "final-read"]
    t_end = max((e["time"] for e in events), default=1)
    title = (f"{res.get('workload')} / {','.join(res.get('config', {}).get('nemesis') or []) or 'none'}"
             f" / seed {res.get('config', {}).get('seed')}")

    # latency-raw: every operation, coloured by outcome.
    fig, ax = plt.subplots(figsize=(11, 4.5))
    _shade(ax, events, t_end)
    for typ in ("ok", "info", "fail"):
        for f, marker in (("add", "o"), ("write", "o"), ("read", "^"), ("probe", "v")):
            sel = [o for o in ops if o["type"] == typ and o["f"] == f]
            if sel:
                ax.scatter([o["invoke"] / 1e9 for o in sel],
                           [max(0.01, (o["complete"] - o["invoke"]) / 1e6) for o in sel],
                           s=4, c=COLORS[typ], marker=marker, label=f"{f} {typ}", alpha=0.6, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"latency of every operation — {title}")
    if ops:
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency-raw.png"), dpi=110)
    plt.close(fig)

    # latency-quantiles: per second, ok operations.
    fig, ax = plt.subplots(figsize=(11, 4.5))
    _shade(ax, events, t_end)
    buckets = collections.defaultdict(list)
    for o in ops:
        if o["type"] == "ok":
            buckets[int(o["invoke"] // 1e9)].append((o["complete"] - o["invoke"]) / 1e6)
    xs = sorted(buckets)
    for q, color in ((0.5, "#1f77b4"), (0.95, "#ff7f0e"), (0.99, "#d62728"), (1.0, "#555555")):
        ys = []
        for x in xs:
            v = sorted(buckets[x])
            ys.append(max(0.01, v[min(len(v) - 1, int(q * len(v)))]))
        if xs:
            ax.plot([x + 0.5 for x in xs], ys, color=color, lw=1.2,
                    label="max" if q == 1.0 else f"p{int(q * 100)}")
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("latency of ok operations (ms)")
    ax.set_title(f"latency quantiles per second — {title}")
    if xs:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency-quantiles.png"), dpi=110)
    plt.close(fig)

    # rate: completions per second by f and type.
    fig, ax = plt.subplots(figsize=(11, 4.5))
    _shade(ax, events, t_end)
    series = collections.defaultdict(collections.Counter)
    for o in ops:
        series[(o["f"], o["type"])][int(o["complete"] // 1e9)] += 1
    n_sec = int(t_end // 1e9) + 1
    for (f, typ), cnt in sorted(series.items()):
        ls = "-" if f in ("add", "write") else ":"
        ax.plot(range(n_sec), [cnt.get(s, 0) for s in range(n_sec)], ls=ls, color=COLORS[typ],
                lw=1.2, label=f"{f} {typ}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("operations completed per second")
    ax.set_title(f"throughput — {title}")
    if series:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "rate.png"), dpi=110)
    plt.close(fig)

    # convergence: how many nodes agree with the most common digest, and how
    # many see every node alive, over time.
    fig, ax = plt.subplots(figsize=(11, 4.5))
    _shade(ax, events, t_end)
    latest = {}
    xs, agree, alive = [], [], []
    smp = samples(events)
    nodes = sorted({e["node"] for e in smp})
    for e in smp:
        latest[e["node"]] = e["value"] if e["type"] == "ok" else None
        vals = [v for v in latest.values() if v]
        hashes = collections.Counter(v["root_hash"] for v in vals)
        xs.append(e["time"] / 1e9)
        agree.append(hashes.most_common(1)[0][1] if hashes else 0)
        alive.append(sum(1 for v in vals if all(v["members"].get(x) == "alive" for x in nodes)))
    ax.step(xs, agree, where="post", color="#1f77b4", lw=1.2,
            label="nodes holding the most common digest")
    ax.step(xs, alive, where="post", color="#2a9d2a", lw=1.0, ls="--",
            label="nodes that see every node alive")
    ax.set_ylim(-0.2, len(nodes) + 0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("nodes")
    ax.set_title(f"convergence — {title}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "convergence.png"), dpi=110)
    plt.close(fig)
