"""The history: one JSON object per line, appended as events happen.

{"index", "time" (ns since the run started), "process", "node", "type":
"invoke"|"ok"|"fail"|"info", "f", "key", "value", "version"}. Client
operations come as an invoke and its completion (same process, the next
event of that process). The nemesis and the monitor write completed events
only ("process": "nemesis" / "monitor").
"""
import json
import threading
import time


class History:
    def __init__(self, path):
        self.t0 = time.monotonic_ns()
        self.lock = threading.Lock()
        self.index = 0
        self.f = open(path, "w", encoding="utf-8", buffering=1)  # line-buffered: a crash keeps it

    def now_ns(self):
        return time.monotonic_ns() - self.t0

    def add(self, process, node, type_, f, key=None, value=None, version=None):
        with self.lock:
            ev = {"index": self.index, "time": self.now_ns(), "process": process, "node": node,
                  "type": type_, "f": f, "key": key, "value": value, "version": version}
            self.index += 1
            self.f.write(json.dumps(ev, separators=(",", ":")) + "\n")
            return ev

    def close(self):
        with self.lock:
            self.f.close()


def load(path):
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e.msg})") from e
    return events


def pair_ops(events):
    """Client operations as dicts {process, node, f, key, value, type, invoke,
    complete, version}: each invoke with the next event of its process.
    An invoke without completion (harness died) counts as info."""
    pending = {}
    ops = []
    for ev in events:
        p = ev["process"]
        if p in ("nemesis", "monitor", "harness"):
            continue
        if ev["type"] == "invoke":
            pending[p] = ev
            continue
        inv = pending.pop(p, None)
        if inv is None:
            continue
        ops.append({"process": p, "node": inv["node"], "f": inv["f"], "key": inv["key"],
                    "value": ev["value"] if ev["value"] is not None else inv["value"],
                    "written": inv["value"], "type": ev["type"], "invoke": inv["time"],
                    "complete": ev["time"], "version": ev["version"]})
    for p, inv in pending.items():
        ops.append({"process": p, "node": inv["node"], "f": inv["f"], "key": inv["key"],
                    "value": inv["value"], "written": inv["value"], "type": "info",
                    "invoke": inv["time"], "complete": None, "version": None})
    ops.sort(key=lambda o: o["invoke"])
    return ops
