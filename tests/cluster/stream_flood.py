#!/usr/bin/env python3
"""stream_flood.py: a host without the cluster key trying to hold every sync
stream slot of a node (issue 14, item 3). Used by test_stream_flood.sh.

It keeps up to --conns TCP connections open to the node's sync-stream port,
from --source (a loopback address other than the honest nodes'), and
reopens any the node closes, at most --rate new connections a second. Every
connection trickles bytes that look like the start of a frame and never
finish one, so a node that lets any byte count as activity keeps them all:

  kind 0: a header announcing a 1,000,000-byte frame, then one byte per
          --trickle-ms (the largest frame a node must buffer)
  kind 1: a header announcing a 512-byte frame, then one byte per tick
  kind 2: a whole 64-byte frame of random bytes (cannot open under the key),
          then as kind 0

Status (counters) is rewritten to --status every second; the run ends after
--seconds. Every loop is bounded by the clock; the seed is printed.
"""
import argparse
import errno
import os
import random
import resource
import selectors
import socket
import struct
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--source", default="127.0.0.2")
    ap.add_argument("--conns", type=int, default=1100)
    ap.add_argument("--rate", type=int, default=400)
    ap.add_argument("--trickle-ms", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--status", required=True)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("GKV_SEED", "14")))
    a = ap.parse_args()
    print(f"stream_flood: seed {a.seed}", flush=True)
    rng = random.Random(a.seed)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.conns + 256) if hard != resource.RLIM_INFINITY else a.conns + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    sel = selectors.DefaultSelector()
    conns = {}  # fd -> dict(sock, kind, next_ms, connected)
    st = dict(attempts=0, connected=0, closed_by_peer=0, open=0, peak_open=0,
              bytes_sent=0, connect_errors=0)
    start = time.monotonic()
    end = start + a.seconds
    next_status = 0.0
    opened_this_second = 0
    second = int(start)
    serial = 0

    def drop(fd, by_peer):
        c = conns.pop(fd)
        try:
            sel.unregister(c["sock"])
        except (KeyError, ValueError):
            pass
        c["sock"].close()
        if by_peer:
            st["closed_by_peer"] += 1

    def send(fd, data):
        c = conns[fd]
        try:
            n = c["sock"].send(data)
            st["bytes_sent"] += n
        except BlockingIOError:
            pass
        except OSError:
            drop(fd, True)

    while True:
        now = time.monotonic()
        if now >= end:
            break
        if int(now) != second:
            second = int(now)
            opened_this_second = 0
        # top up, at most --rate a second
        while len(conns) < a.conns and opened_this_second < a.rate:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.bind((a.source, 0))
            except OSError:
                s.close()
                st["connect_errors"] += 1
                break
            rc = s.connect_ex((a.host, a.port))
            opened_this_second += 1
            st["attempts"] += 1
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                st["connect_errors"] += 1
                continue
            serial += 1
            conns[s.fileno()] = dict(sock=s, kind=serial % 3, next_ms=0.0, connected=False)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        for key, ev in sel.select(timeout=0.05):
            fd = key.fd
            if fd not in conns:
                continue
            c = conns[fd]
            if ev & selectors.EVENT_WRITE and not c["connected"]:
                err = c["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    st["connect_errors"] += 1
                    drop(fd, False)
                    continue
                c["connected"] = True
                st["connected"] += 1
                sel.modify(c["sock"], selectors.EVENT_READ)
                if c["kind"] == 0:
                    send(fd, struct.pack(">I", 1000000))
                elif c["kind"] == 1:
                    send(fd, struct.pack(">I", 512))
                else:
                    junk = bytes(rng.getrandbits(8) for _ in range(64))
                    send(fd, struct.pack(">I", 64) + junk + struct.pack(">I", 1000000))
                if fd in conns:
                    c["next_ms"] = now * 1000 + a.trickle_ms
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = c["sock"].recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    drop(fd, True)
        now_ms = time.monotonic() * 1000
        for fd in list(conns):
            c = conns.get(fd)
            if c and c["connected"] and now_ms >= c["next_ms"]:
                send(fd, b"\0")
                if fd in conns:
                    c["next_ms"] = now_ms + a.trickle_ms
        st["open"] = sum(1 for c in conns.values() if c["connected"])
        st["peak_open"] = max(st["peak_open"], st["open"])
        if now >= next_status:
            next_status = now + 1.0
            tmp = a.status + ".tmp"
            with open(tmp, "w") as f:
                for k, v in st.items():
                    f.write(f"{k}={v}\n")
            os.replace(tmp, a.status)
    for fd in list(conns):
        drop(fd, False)
    with open(a.status, "w") as f:
        for k, v in st.items():
            f.write(f"{k}={v}\n")
        f.write("done=1\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
