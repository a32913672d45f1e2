"""plots.py: the PNG plots of one bench/run (python3-matplotlib, Agg backend).

draw(out_dir, records, extra) writes each plot whose data the run has and
returns the file names. records are results.json's records; extra holds raw
data the records do not (latency curves, lag samples, simulator rows).
"""
import csv
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GKV, PEER = "#1f77b4", "#ff7f0e"


def _by_name(records):
    return {r["name"]: r for r in records}


def _err(r, side):
    v = r[side]
    return [[v - r[side + "_min"]], [r[side + "_max"] - v]]


def _bars(ax, labels, recs, peer_label):
    x = range(len(labels))
    w = 0.38
    for k, (side, color, name) in enumerate([("gossipkv", GKV, "gossipkv"),
                                             ("peer", PEER, peer_label)]):
        vals = [r[side] for r in recs]
        lo = [r[side] - r[side + "_min"] for r in recs]
        hi = [r[side + "_max"] - r[side] for r in recs]
        ax.bar([i + (k - 0.5) * w for i in x], vals, w, yerr=[lo, hi], capsize=3, color=color,
               label=name)
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()


def storage(out, recs):
    ops = ["put", "get_hit", "get_miss", "get_hit_batch16", "overwrite", "delete"]
    rs = [recs.get("storage." + o) for o in ops]
    if not all(rs):
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    _bars(ax, [o.replace("get_hit_batch16", "get_hit\nbatch16") for o in ops], rs, "LMDB")
    ax.set_yscale("log")
    ax.set_ylabel("operations/s (log; median, bars min-max)")
    ax.set_title("Storage: gossipkv store vs LMDB (same process, same keys)")
    return _save(fig, out, "storage_ops.png")


def client(out, recs):
    names = [n for n in ["client.SET_P1", "client.GET_P1", "client.SET_P16", "client.GET_P16"]
             if n in recs]
    ycsb = ["ycsb.%s.ops_s" % w for w in "ABCDF" if "ycsb.%s.ops_s" % w in recs]
    panels = [(p, t) for p, t in [(names, "redis-benchmark (-c 50 -d 100)"),
                                  (ycsb, "YCSB, 1 KB values, zipfian 0.99, 16 connections")] if p]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (keys, title) in zip(axes[0], panels):
        labels = [k.split(".")[1].replace("_P", " P=") for k in keys]
        _bars(ax, labels, [recs[k] for k in keys], "redis-server")
        ax.set_title(title)
        ax.set_ylabel("operations/s (median, bars min-max)")
    fig.suptitle("Clients: gossipkv vs redis-server")
    return _save(fig, out, "client_ops.png")


def latency(out, curves):
    if not curves:
        return None
    ws = list(curves)
    fig, axes = plt.subplots(1, len(ws), figsize=(3.6 * len(ws), 4), squeeze=False, sharey=True)
    ticks = [50, 90, 99, 99.9, 99.99]
    for ax, w in zip(axes[0], ws):
        for name, color in (("gossipkv", GKV), ("redis", PEER)):
            path = curves[w][name]
            if not os.path.exists(path):
                continue
            xs, ys = [], []
            with open(path) as f:
                for row in csv.DictReader(f):
                    p = float(row["percentile"])
                    if p >= 100.0:
                        continue
                    xs.append(1.0 / (1.0 - p / 100.0))
                    ys.append(float(row["latency_us"]))
            ax.plot(xs, ys, color=color, label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([1.0 / (1.0 - t / 100.0) for t in ticks])
        ax.set_xticklabels(["%g%%" % t for t in ticks], fontsize=8)
        ax.set_title("workload %s" % w)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("latency from intended start (us, log)")
    axes[0][0].legend()
    fig.suptitle("YCSB latency by percentile, open loop, same offered load for both servers")
    return _save(fig, out, "ycsb_latency.png")


def convergence(out, rows, analytic):
    if not rows:
        return None
    ns = sorted(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, color) in enumerate([("p50", GKV), ("p99", "#2ca02c")]):
        med = [sorted(rows[n][i])[len(rows[n][i]) // 2] for n in ns]
        lo = [m - min(rows[n][i]) for m, n in zip(med, ns)]
        hi = [max(rows[n][i]) - m for m, n in zip(med, ns)]
        ax.errorbar(ns, med, yerr=[lo, hi], marker="o", capsize=3, color=color,
                    label="gossipkv %s (simulator)" % label)
    grid = [10 * 10 ** (k / 20.0) for k in range(0, 81) if 10 * 10 ** (k / 20.0) <= max(ns) * 1.01]
    ax.plot(grid, [math.log2(n) for n in grid], "k--", label="log2 N")
    ax.plot(grid, [2 * math.log2(n) for n in grid], "k:", label="2 log2 N (target for p99)")
    ax.plot(grid, [analytic(n) for n in grid], color=PEER,
            label="epidemic model, all but 1/2 node")
    ax.plot(grid, [analytic(n, left=n / 2.0) for n in grid], color=PEER, ls="-.",
            label="epidemic model, half the nodes")
    _label(ax, "nodes N (log)", "gossip rounds (200 ms) until every node has a write",
           "Dissemination vs cluster size", ylog=False)
    return _save(fig, out, "sim_convergence.png")


def lag_cdf(out, lag):
    if not lag:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n in sorted(lag):
        xs = sorted(lag[n])
        ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post",
                label="%d nodes (%d writes)" % (n, len(xs)))
    ax.set_xlabel("ms from the write's acknowledgement until every node returns it")
    ax.set_ylabel("fraction of writes")
    ax.set_title("Visibility lag on a loopback cluster")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out, "cluster_lag_cdf.png")


def repair(out, figs):
    if not figs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ks = sorted({k for k, _ in figs})
    top = 1
    for k in ks:
        pts = sorted((sorted(v[1])[len(v[1]) // 2], sorted(v[0])[len(v[0]) // 2])
                     for (kk, _), v in figs.items() if kk == k)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                label="keyspace %d entries" % k)
        top = max(top, max(max(p) for p in pts))
    ref = [100, top * 1.5]
    ax.plot(ref, ref, "k--", label="repair bytes = divergent bytes")
    ax.plot(ref, [3 * x for x in ref], "k:", label="3x (target)")
    _label(ax, "bytes of the divergent entries (log)", "anti-entropy repair bytes sent (log)",
           "Repair cost vs divergence (simulator, 5 nodes)", ylog=True)
    return _save(fig, out, "sim_repair.png")


def _label(ax, xlabel, ylabel, title, ylog):
    """Log x axis, labels, grid and a small legend."""
    ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _save(fig, out, name):
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=90)
    plt.close(fig)
    return name


def draw(out, records, extra, analytic=None):
    recs = _by_name(records)
    made = [storage(out, recs), client(out, recs), latency(out, extra.get("ycsb_curves")),
            lag_cdf(out, extra.get("lag")), repair(out, extra.get("repair"))]
    if analytic:
        made.append(convergence(out, extra.get("scale"), analytic))
    return [m for m in made if m]
