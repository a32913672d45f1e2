"""Checkers: a history in, a results dict out ({"valid": True|False|"unknown", ...}).

They read nothing but the history, so `scripts/experiment check DIR` gives
the same verdict as the run that recorded it. Times in results are seconds
(float) or milliseconds where the name says so.
"""
import collections

from .history import pair_ops

NS_PER_S = 1e9


def _s(ns):
    return None if ns is None else round(ns / NS_PER_S, 3)


def quantiles(values):
    if not values:
        return None
    v = sorted(values)

    def q(p):
        return round(v[min(len(v) - 1, int(p * len(v)))], 3)

    return {"count": len(v), "0.5": q(0.5), "0.95": q(0.95), "0.99": q(0.99), "max": round(v[-1], 3)}


# -- nemesis timeline ---------------------------------------------------------
def nemesis_events(events):
    return [e for e in events if e["process"] == "nemesis"]


MERGE_GAP_NS = 2 * 10**9   # calm gaps shorter than this (strobe, flip-flop) stay inside one window


def fault_periods(events):
    """[(start_ns, end_ns or None, names)] from calm to calm; a calm gap of
    under 2 s (a flip-flop or strobe phase) does not end a window."""
    raw = _raw_fault_periods(events)
    merged = []
    for s, e, names in raw:
        if merged and merged[-1][1] is not None and s - merged[-1][1] < MERGE_GAP_NS:
            ps, _, pn = merged.pop()
            merged.append((ps, e, pn + [n for n in names if n not in pn]))
        else:
            merged.append((s, e, names))
    return merged


def _raw_fault_periods(events):
    periods, start, names = [], None, []
    for e in nemesis_events(events):
        st = e["value"]["state"]
        calm = not (st["blocked"] or st["killed"] or st["paused"] or st["loss"]
                    or st["delay_ms"] or st["clock"] or st.get("slow"))
        if start is None and not calm:
            start, names = e["time"], [e["key"]]
        elif start is not None and not calm and e["key"] not in names:
            names.append(e["key"])
        elif start is not None and calm:
            periods.append((start, e["time"], names))
            start, names = None, []
    if start is not None:
        periods.append((start, None, names))
    return periods


def heals(events):
    """Times at which the world became calm, with the next fault start (or None)."""
    p = fault_periods(events)
    out = []
    for i, (s, e, names) in enumerate(p):
        if e is None:
            continue
        nxt = p[i + 1][0] if i + 1 < len(p) else None
        out.append({"time": e, "until": nxt, "nemesis": "+".join(names)})
    return out


def phase_time(events, what):
    for e in events:
        if e["process"] == "harness" and e["value"] == what:
            return e["time"]
    return None


def state_at(events):
    """A function time_ns -> nemesis state dict in force at that time."""
    timeline = [(e["time"], e["value"]["state"]) for e in nemesis_events(events)]
    empty = {"blocked": [], "killed": [], "paused": [], "loss": 0, "delay_ms": 0, "clock": {},
             "slow": {}}

    def at(t):
        st = empty
        for tt, s in timeline:
            if tt > t:
                break
            st = s
        return st
    return at


# -- convergence ----------------------------------------------------------------
def samples(events):
    return [e for e in events if e["process"] == "monitor" and e["f"] == "sample"]


def _converged_at(smp, nodes, since, until, need_members=False):
    """First sample time >= since at which every node's latest sample (taken
    after since) is ok and all root digests (and, if asked, member views:
    everyone alive) agree. Returns (time, bytes_out_delta) or (None, delta)."""
    latest, first_bytes = {}, {}
    for e in smp:
        t = e["time"]
        if t < since:
            continue
        if until is not None and t > until:
            break
        n = e["node"]
        latest[n] = e if e["type"] == "ok" else None
        if e["type"] == "ok":
            first_bytes.setdefault(n, e["value"]["bytes_out"])
        if len(latest) < len(nodes) or any(latest.get(x) is None for x in nodes):
            continue
        hashes = {latest[x]["value"]["root_hash"] for x in nodes}
        if len(hashes) != 1:
            continue
        if need_members and not all(
                all(latest[x]["value"]["members"].get(y) == "alive" for y in nodes)
                for x in nodes):
            continue
        sent = sum(max(0, latest[x]["value"]["bytes_out"] - first_bytes.get(x, 0)) for x in nodes)
        return t, sent
    return None, None


def node_names(events):
    return sorted({e["node"] for e in samples(events)}, key=lambda n: (len(n), n))


def check_convergence(events):
    """After each heal: time until every node's digest matches, gossip bytes
    sent meanwhile. The final heal must converge (else invalid)."""
    smp = samples(events)
    nodes = node_names(events)
    out = {"heals": []}
    for h in heals(events):
        t, sent = _converged_at(smp, nodes, h["time"], h["until"])
        out["heals"].append({"at_s": _s(h["time"]), "nemesis": h["nemesis"],
                             "converged_after_s": _s(t - h["time"]) if t else None,
                             "bytes_sent": sent})
    final = phase_time(events, "final-heal")
    if final is None or not nodes:
        out["final"] = None
        out["valid"] = "unknown"
        out["why"] = ["no final heal or no monitor samples in the history"]
        return out
    t, sent = _converged_at(smp, nodes, final, None)
    out["final"] = {"converged_after_s": _s(t - final) if t else None, "bytes_sent": sent}
    times = [h["converged_after_s"] for h in out["heals"] if h["converged_after_s"] is not None]
    out["converged_after_s"] = quantiles(times) if times else None
    out["heals_not_converged_in_window"] = sum(1 for h in out["heals"]
                                               if h["converged_after_s"] is None)
    last = {}
    for e in smp:
        if e["type"] == "ok":
            last[e["node"]] = e["value"].get("clock_refused", 0)
    out["clock_refused_at_end"] = sum(last.values())
    if t is None:
        out["valid"] = False
        out["why"] = ["the nodes' digests never matched after the final heal"]
    else:
        out["valid"] = True
        out["why"] = []
    return out


# -- set ------------------------------------------------------------------------
def _final_reads(events, f="final-read"):
    ok, failed = {}, []
    for op in pair_ops(events):
        if op["f"] != f:
            continue
        if op["type"] == "ok":
            ok[op["node"]] = op
        else:
            failed.append(op["node"])
    return ok, failed


def check_set(events, reads=True):
    ops = pair_ops(events)
    adds = [o for o in ops if o["f"] == "add"]
    finals, final_failed = _final_reads(events)
    nodes = node_names(events) or sorted(finals)
    final_sets = {n: set(o["value"]) for n, o in finals.items()}
    acked = [o for o in adds if o["type"] == "ok"]
    info = [o for o in adds if o["type"] == "info"]
    failed = [o for o in adds if o["type"] == "fail"]
    union = set().union(*final_sets.values()) if final_sets else set()
    complete = len(final_sets) == len(nodes) and bool(nodes)
    # Without every node's final read, "on no node" and "missing on some node"
    # cannot be told: both stay empty and the verdict is unknown.
    lost = [o["key"] for o in acked if o["key"] not in union] if complete else []
    partial = sorted(o["key"] for o in acked if o["key"] in union and
                     any(o["key"] not in s for s in final_sets.values())) if complete else []
    recovered = [o["key"] for o in info if o["key"] in union]
    failed_present = [o["key"] for o in failed if o["key"] in union]
    res = {"attempts": len(adds), "acknowledged": len(acked), "info": len(info),
           "failed": len(failed), "lost_count": len(lost), "lost": lost[:100],
           "not_on_every_node_count": len(partial), "not_on_every_node": partial[:100],
           "recovered_info": len(recovered), "failed_but_present": failed_present[:100],
           "final_reads": sorted(final_sets), "final_reads_failed": final_failed}
    # Stale reads: a node once showed the key (acknowledged it or returned it),
    # a later read on that node (invoked after) misses it.
    known = {}
    read_ops = [o for o in ops if o["f"] in ("read", "probe") and o["type"] == "ok"]
    for o in adds + read_ops:
        if o["type"] == "ok" and (o["f"] == "add" or o["value"] is not None):
            k = (o["node"], o["key"])
            known[k] = min(known.get(k, o["complete"]), o["complete"])
    stale = [{"node": o["node"], "key": o["key"], "at_s": _s(o["invoke"])} for o in read_ops
             if o["value"] is None and (o["node"], o["key"]) in known
             and o["invoke"] > known[(o["node"], o["key"])]]
    res["stale_reads_count"] = len(stale)
    res["stale_reads"] = stale[:100]
    # Never read: acknowledged, and no read (client or final) looked after the ack.
    read_after = collections.defaultdict(list)
    for o in read_ops:
        read_after[o["key"]].append(o["invoke"])
    final_t = min((o["invoke"] for o in finals.values()), default=None)
    res["never_read"] = sum(1 for o in acked if final_t is None and
                            not any(t > o["complete"] for t in read_after[o["key"]]))
    # Stable latency of the keys the probers tracked: ack -> a read saw it on
    # every node (upper bound: each node's first read that saw it; the
    # writer's ack counts; a node whose probe had not seen it yet counts at
    # its final read, when the key is there).
    tracked = {o["key"] for o in read_ops if o["f"] == "probe"}
    first_seen = collections.defaultdict(dict)
    for o in read_ops:
        if o["value"] is not None and o["key"] in tracked:
            d = first_seen[o["key"]]
            d[o["node"]] = min(d.get(o["node"], o["complete"]), o["complete"])
    lat, by_final = [], 0
    for o in acked:
        if o["key"] not in tracked:
            continue
        d = dict(first_seen.get(o["key"], {}))
        d[o["node"]] = min(d.get(o["node"], o["complete"]), o["complete"])
        late = [n for n in nodes if n not in d and n in finals and o["key"] in final_sets[n]]
        for n in late:
            d[n] = finals[n]["complete"]
        by_final += bool(late)
        if nodes and all(n in d for n in nodes):
            lat.append(max(0, max(d.values()) - o["complete"]) / 1e6)
    res["stable_latency_ms"] = quantiles(lat)
    res["tracked"] = len(tracked)
    res["tracked_seen_everywhere_only_by_final_read"] = by_final
    res["tracked_not_seen_everywhere"] = max(0, len(tracked) - len(lat))
    why = []
    if lost:
        why.append(f"{len(lost)} acknowledged add(s) missing from every final read")
    if partial:
        why.append(f"{len(partial)} acknowledged add(s) missing from some node's final read")
    if failed_present:
        why.append(f"{len(failed_present)} add(s) that failed are present")
    if stale and reads:
        why.append(f"{len(stale)} stale read(s): a node lost a key it had shown")
    if why:
        res["valid"] = False
    elif not complete or not acked:
        res["valid"] = "unknown"
        why.append("final reads missing on " + ", ".join(sorted(set(nodes) - set(final_sets)))
                   if not complete else "no add was acknowledged")
    else:
        res["valid"] = True
    res["why"] = why
    return res


# -- register -----------------------------------------------------------------------
def vc_compare(a, b):
    """-1 a<b, 1 a>b, 0 equal, None concurrent (vector clocks as dicts)."""
    le = all(v <= b.get(k, 0) for k, v in a.items())
    ge = all(v <= a.get(k, 0) for k, v in b.items())
    if le and ge:
        return 0
    if le:
        return -1
    if ge:
        return 1
    return None


def merge_beats(a, b):
    """True if version a wins over version b under the merge rule."""
    c = vc_compare(a["vclock"], b["vclock"])
    if c is not None:
        return c > 0
    return (a["hlc"], int(a["origin"], 16)) > (b["hlc"], int(b["origin"], 16))


def _ver_id(v):
    return None if v is None else (v["hlc"], v["origin"])


def check_register(events):
    ops = pair_ops(events)
    writes = [o for o in ops if o["f"] == "write"]
    finals = [o for o in ops if o["f"] == "final-read"]
    nodes = node_names(events)
    written = {o["written"] for o in writes if o["type"] in ("ok", "info")}
    res = {"writes": len(writes), "acknowledged": sum(o["type"] == "ok" for o in writes),
           "info": sum(o["type"] == "info" for o in writes),
           "with_version": sum(1 for o in writes if o["type"] == "ok" and o["version"]),
           "keys": {}, "divergent": [], "should_have_won": [], "phantom_values": []}
    why, unknown = [], []
    by_key = collections.defaultdict(dict)
    for o in finals:
        if o["type"] == "ok":
            by_key[o["key"]][o["node"]] = o
    for o in ops:
        if o["f"] == "read" and o["type"] == "ok" and o["value"] is not None \
                and o["value"] not in written:
            res["phantom_values"].append({"key": o["key"], "value": o["value"], "node": o["node"]})
    keys = sorted({o["key"] for o in writes} | set(by_key))
    for key in keys:
        reads = by_key.get(key, {})
        missing = [n for n in nodes if n not in reads]
        if missing:
            unknown.append(f"{key}: no final read from {', '.join(missing)}")
        views = {(r["value"], _ver_id(r["version"])) for r in reads.values()}
        if len(views) > 1:
            res["divergent"].append({"key": key, "reads": {n: {"value": r["value"], "version":
                                     r["version"]} for n, r in sorted(reads.items())}})
            continue
        if not reads:
            continue
        final = next(iter(reads.values()))
        res["keys"][key] = {"value": final["value"], "version": final["version"]}
        if final["value"] is not None and final["value"] not in written:
            res["phantom_values"].append({"key": key, "value": final["value"], "node": "final"})
        if final["version"] is None:
            continue
        for w in writes:
            if w["key"] == key and w["type"] == "ok" and w["version"] and \
                    w["written"] != final["value"] and merge_beats(w["version"], final["version"]):
                res["should_have_won"].append({"key": key, "write": w["written"],
                                               "version": w["version"], "final": final["value"],
                                               "final_version": final["version"]})
    if res["divergent"]:
        why.append(f"{len(res['divergent'])} key(s) read differently on different nodes at the end")
    if res["should_have_won"]:
        why.append(f"{len(res['should_have_won'])} acknowledged write(s) should have won and did not")
    if res["phantom_values"]:
        why.append(f"{len(res['phantom_values'])} read(s) of a value nobody wrote")
    res["valid"] = False if why else ("unknown" if unknown or not writes else True)
    res["why"] = why + unknown
    return res


# -- counter -------------------------------------------------------------------------
def _as_int(v):
    """A read's value as an integer (None: absent = 0), or None if it is not one."""
    if v is None:
        return 0
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def check_counter(events):
    """Maelstrom's pn-counter check, per key: every node's final read lies
    between the sum of acknowledged increments plus every indeterminate
    (info) decrement, and that sum plus every indeterminate increment;
    all nodes read the same; every read is an integer."""
    ops = pair_ops(events)
    adds = [o for o in ops if o["f"] == "add"]
    finals, final_failed = _final_reads_by_key(events)
    nodes = node_names(events) or sorted({n for per in finals.values() for n in per})
    res = {"attempts": len(adds), "acknowledged": sum(o["type"] == "ok" for o in adds),
           "info": sum(o["type"] == "info" for o in adds),
           "failed": sum(o["type"] == "fail" for o in adds), "keys": {}, "out_of_range": [],
           "divergent": [], "not_integer": []}
    why, unknown = [], []
    keys = sorted({o["key"] for o in adds} | set(finals))
    for key in keys:
        acked = sum(o["written"] for o in adds if o["key"] == key and o["type"] == "ok")
        maybe = [o["written"] for o in adds if o["key"] == key and o["type"] == "info"]
        lo = acked + sum(d for d in maybe if d < 0)
        hi = acked + sum(d for d in maybe if d > 0)
        reads = finals.get(key, {})
        missing = [n for n in nodes if n not in reads]
        if missing:
            unknown.append(f"{key}: no final read from {', '.join(missing)}")
        values = {}
        for n, v in sorted(reads.items()):
            iv = _as_int(v)
            if iv is None:
                res["not_integer"].append({"key": key, "node": n, "value": v})
                continue
            values[n] = iv
            if not lo <= iv <= hi:
                res["out_of_range"].append({"key": key, "node": n, "value": iv, "lo": lo,
                                            "hi": hi})
        if len(set(values.values())) > 1:
            res["divergent"].append({"key": key, "reads": values})
        res["keys"][key] = {"acknowledged_sum": acked, "lo": lo, "hi": hi,
                            "final": sorted(set(values.values()))}
    for o in ops:
        if o["f"] == "read" and o["type"] == "ok" and _as_int(o["value"]) is None:
            res["not_integer"].append({"key": o["key"], "node": o["node"], "value": o["value"]})
    if final_failed:
        unknown.append(f"final read failed on {', '.join(sorted(set(final_failed)))}")
    if res["out_of_range"]:
        why.append(f"{len(res['out_of_range'])} final read(s) outside [acknowledged + "
                   "indeterminate decrements, acknowledged + indeterminate increments]")
    if res["divergent"]:
        why.append(f"{len(res['divergent'])} key(s) read differently on different nodes at the end")
    if res["not_integer"]:
        why.append(f"{len(res['not_integer'])} read(s) that are not an integer")
    if adds and not res["acknowledged"]:
        # Every INCRBY refused (a node without counters answers an error):
        # nothing was tested.
        unknown.append("no increment was acknowledged")
    res["valid"] = False if why else ("unknown" if unknown or not adds else True)
    res["why"] = why + unknown
    return res


def _final_reads_by_key(events):
    """key -> node -> value of the final reads; and the nodes whose final read failed."""
    out, failed = collections.defaultdict(dict), []
    for op in pair_ops(events):
        if op["f"] != "final-read":
            continue
        if op["type"] == "ok":
            out[op["key"]][op["node"]] = op["value"]
        else:
            failed.append(op["node"])
    return out, failed


# -- membership ----------------------------------------------------------------------
def _episodes(events):
    """Per fault period: the (observer, target) pairs that should end up dead."""
    out = []
    for start, end, names in fault_periods(events):
        pairs = set()
        for e in nemesis_events(events):
            if e["time"] < start or (end is not None and e["time"] >= end):
                continue
            st = e["value"]["state"]
            blocked = {tuple(x) for x in st["blocked"]}
            nodes = sorted({x for b in blocked for x in b})
            for x in st["killed"] + st["paused"]:
                pairs |= {("*", x)}
            for a in nodes:
                for b in nodes:
                    if a != b and (a, b) in blocked and (b, a) in blocked:
                        pairs.add((b, a))
        out.append({"start": start, "end": end, "names": names, "pairs": sorted(pairs)})
    return out


def check_membership(events):
    smp = samples(events)
    nodes = node_names(events)
    at = state_at(events)
    view = {}          # (observer, target) -> state at the latest sample
    series = [(e["time"], e["node"], e["value"]["members"]) for e in smp if e["type"] == "ok"]
    false_susp = []
    prev_t = {}
    for t, obs, members in series:
        st = at(t)
        st_prev = at(prev_t.get(obs, t))
        blocked = {tuple(x) for x in st["blocked"]} | {tuple(x) for x in st_prev["blocked"]}
        down = set(st["killed"] + st["paused"] + st_prev["killed"] + st_prev["paused"])
        # a slow node may rightly be suspected; the healthy ones it accuses may not
        sick = set(st.get("slow", {})) | set(st_prev.get("slow", {}))
        for tgt, s in members.items():
            old = view.get((obs, tgt), "alive")
            view[(obs, tgt)] = s
            healthy = tgt not in down and obs not in down and (tgt, obs) not in blocked \
                and (obs, tgt) not in blocked and tgt not in sick
            if old == "alive" and s in ("suspect", "dead") and healthy:
                false_susp.append({"at_s": _s(t), "observer": obs, "target": tgt, "state": s,
                                   "loss": st["loss"], "delay_ms": st["delay_ms"]})
        prev_t[obs] = t
    res = {"episodes": [], "false_suspicions": len(false_susp),
           "false_deaths": sum(1 for f in false_susp if f["state"] == "dead"),
           "false_suspicion_list": false_susp[:50]}
    for ep in _episodes(events):
        targets = ep["pairs"]
        if not targets:
            res["episodes"].append({"at_s": _s(ep["start"]), "nemesis": "+".join(ep["names"])})
            continue
        detect = None
        last = {}
        for t, obs, members in series:
            if t < ep["start"] or (ep["end"] is not None and t > ep["end"]):
                continue
            last[obs] = members
            ok = True
            for (o, x) in targets:
                observers = [n for n in nodes if n != x] if o == "*" else [o]
                for ob in observers:
                    if ob in ("*",) or ob not in last or last[ob].get(x) != "dead":
                        ok = False
            if ok:
                detect = t
                break
        readmit = None
        if ep["end"] is not None:
            readmit, _ = _membership_all_alive(series, nodes, ep["end"])
        res["episodes"].append({
            "at_s": _s(ep["start"]), "nemesis": "+".join(ep["names"]),
            "pairs": len(targets),
            "declared_dead_after_s": _s(detect - ep["start"]) if detect else None,
            "readmitted_after_s": _s(readmit - ep["end"]) if readmit else None})
    det = [e["declared_dead_after_s"] for e in res["episodes"] if e.get("declared_dead_after_s")]
    adm = [e["readmitted_after_s"] for e in res["episodes"] if e.get("readmitted_after_s")]
    res["declared_dead_after_s"] = quantiles(det)
    res["readmitted_after_s"] = quantiles(adm)
    final = phase_time(events, "final-heal")
    why = []
    if final is None or not nodes:
        res["valid"] = "unknown"
        why.append("no final heal or no monitor samples")
    else:
        t, _ = _membership_all_alive(series, nodes, final)
        res["final_all_alive_after_s"] = _s(t - final) if t else None
        if t is None:
            why.append("after the final heal not every node saw every node alive")
        res["valid"] = not why
    sus = [e for e in smp if e["type"] == "ok"]
    res["awareness_max"] = max((e["value"].get("awareness", 0) for e in sus), default=0)
    res["why"] = why
    return res


def _membership_all_alive(series, nodes, since):
    last = {}
    for t, obs, members in series:
        if t < since:
            continue
        last[obs] = members
        if len(last) == len(nodes) and all(
                all(last[o].get(x) == "alive" for x in nodes) for o in nodes):
            return t, None
    return None, None


# -- dispatch --------------------------------------------------------------------------
def workload_of(events):
    for e in events:
        if e["process"] == "harness" and e["f"] == "workload":
            return e["value"]
    return None


def check(events, workload=None):
    """The full verdict: the workload's checker plus convergence after the final heal."""
    workload = workload or workload_of(events)
    if workload == "set":
        wl = check_set(events)
    elif workload == "register":
        wl = check_register(events)
    elif workload == "convergence":
        wl = check_set(events, reads=False)
    elif workload == "membership":
        wl = check_membership(events)
    elif workload == "counter":
        wl = check_counter(events)
    else:
        return {"valid": "unknown", "why": [f"unknown workload {workload!r}"]}
    conv = check_convergence(events)
    verdicts = [wl["valid"], conv["valid"]]
    if False in verdicts:
        valid = False
    elif "unknown" in verdicts:
        valid = "unknown"
    else:
        valid = True
    errors = [e["value"] for e in events if e["process"] == "harness" and e["f"] == "error"]
    if errors and valid is True:
        valid = "unknown"
    return {"valid": valid, "workload": workload, "why": wl["why"] + conv["why"] + errors,
            "checker": wl, "convergence": conv,
            "faults": [{"start_s": _s(s), "end_s": _s(e), "nemesis": "+".join(n)}
                       for s, e, n in fault_periods(events)]}
