#!/usr/bin/env python3
"""hostile.py PORT PID SCENARIO: clients that try to make a node allocate
without bound, for test_client_limits.sh.

Each scenario attacks the node at PORT (process PID) over raw TCP, reads the
node's memory from /proc/PID/status, and exits 0 when the node kept its
limits. Every socket operation has a timeout and every wait a deadline.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawclient import cmd, read_all  # noqa: E402 (request encoder, read to close)

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
PID = int(sys.argv[2])
TIMEOUT_S = 20
MB = 1024 * 1024


def status_kb(field):
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def connect(rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(TIMEOUT_S)
    s.connect((HOST, PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s




def roundtrip(s, payload, want_prefix):
    s.sendall(payload)
    got = b""
    while not got.endswith(b"\r\n") or len(got) < len(want_prefix):
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    return got.startswith(want_prefix)


def info_field(name):
    s = connect()
    s.sendall(cmd("INFO", "all"))
    data = b""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        data += s.recv(1 << 16)
        if data.startswith(b"$"):
            hdr, _, rest = data.partition(b"\r\n")
            if len(rest) >= int(hdr[1:]) + 2:
                break
    s.close()
    for line in data.decode(errors="replace").split("\r\n"):
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    print("INFO has no field %s" % name)
    return -1


def load(value_kb, nvalues, nkeys):
    """nvalues keys of value_kb KiB (big:N) and nkeys short keys, pipelined."""
    s = connect()
    val = b"v" * (value_kb * 1024)
    for i in range(nvalues):
        if not roundtrip(s, cmd("SET", "big:%d" % i, val), b"+OK"):
            return False
    batch = 1000
    for start in range(0, nkeys, batch):
        args = ["MSET"]
        for i in range(start, min(start + batch, nkeys)):
            args += ["a-key-name-of-some-length:%08d" % i, "x"]
        if not roundtrip(s, cmd(*args), b"+OK"):
            return False
    s.close()
    return True


def scenario_reply_limit():
    """With client-output-buffer-limit 1mb: MGET of 400 x 256 KiB, KEYS *
    and SCAN COUNT 1e9 (each reply several MB) are cut at the limit: every
    hostile client gets the error and is closed, the node's peak memory
    (VmHWM) grows by less than 4 limits plus 24 MiB, and INFO counts each
    cut. Today's code built each whole reply first (about 100 MB)."""
    if not load(256, 8, 40000):
        print("load failed")
        return False
    base_kb = status_kb("VmHWM")
    cuts0 = info_field("client_output_limit_cuts")
    mget = cmd("MGET", *["big:%d" % (i % 8) for i in range(400)])
    attacks = [mget, mget, cmd("KEYS", "*"), cmd("SCAN", "0", "COUNT", "1000000000")]
    socks = [connect() for _ in attacks]
    for s, a in zip(socks, attacks):
        s.sendall(a)
    ok = True
    for s, a in zip(socks, attacks):
        out, closed = read_all(s, 64 * MB)
        s.close()
        if not out.startswith(b"-ERR reply exceeds client-output-buffer-limit") or not closed:
            print("attack %r: got %r... closed=%s" % (a[:24], out[:80], closed))
            ok = False
    grew_kb = status_kb("VmHWM") - base_kb
    bound_kb = (4 * 1 * MB + 24 * MB) // 1024
    print("VmHWM grew by %d KiB under attack (bound %d KiB)" % (grew_kb, bound_kb))
    if grew_kb > bound_kb:
        ok = False
    cuts = info_field("client_output_limit_cuts") - cuts0
    if cuts != len(attacks):
        print("client_output_limit_cuts grew by %d, want %d" % (cuts, len(attacks)))
        ok = False
    s = connect()
    if not roundtrip(s, cmd("GET", "big:1"), b"$262144\r\n"):
        print("a normal GET after the attack failed")
        ok = False
    # SCAN with a normal COUNT still walks the keyspace.
    if not roundtrip(s, cmd("SCAN", "0", "COUNT", "100"), b"*2\r\n"):
        print("SCAN COUNT 100 failed")
        ok = False
    s.close()
    return ok


def wait_readable(socks, deadline_s):
    """Collect what each socket says until each has answered and closed or
    the deadline passes: returns {sock: (bytes, closed)}."""
    import select
    got = {s: [b"", False] for s in socks}
    pending = set(socks)
    deadline = time.monotonic() + deadline_s
    while pending and time.monotonic() < deadline:
        r, _, _ = select.select(list(pending), [], [], 0.2)
        for s in r:
            try:
                chunk = s.recv(1 << 16)
            except (ConnectionResetError, BlockingIOError):
                chunk = b""
            if not chunk:
                got[s][1] = True
                pending.discard(s)
            else:
                got[s][0] += chunk
                if got[s][0].endswith(b"\r\n") and not got[s][0].startswith(b"-ERR Protocol"):
                    pending.discard(s)  # answered and left open
    return got


def scenario_preauth_cost():
    """With requirepass: 150 connections send a multibulk of 10 x 16 KB
    bulks and stop before the end, 150 send an inline AUTH with 1,500 words,
    150 send a valid 3.5 KB inline AUTH (wrong password) and stay. The first
    two kinds are refused by the pre-AUTH limits (the same for both request
    forms) and closed; the third is answered and kept at a few KB each:
    VmRSS grows by less than 8 KiB per connection opened. Today's code held
    every half request and every argument array (over 100 KB each)."""
    n = 150
    before_kb = status_kb("VmRSS")
    big = b"*10\r\n" + (b"$16000\r\n" + b"a" * 16000 + b"\r\n") * 9 + b"$16000\r\nabc"
    words = b"AUTH " + b"x " * 1500 + b"\r\n"
    valid = b"AUTH " + b"p" * 3500 + b"\r\n"
    kinds = [("half_multibulk", big), ("many_words", words), ("valid", valid)]
    socks = []
    for _, payload in kinds:
        group = []
        for _ in range(n):
            s = connect()
            try:
                s.sendall(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass
            group.append(s)
        socks.append(group)
    answers = wait_readable([s for g in socks for s in g], 10)
    after_kb = status_kb("VmRSS")
    per_conn = (after_kb - before_kb) * 1024 // (n * len(kinds))
    print("VmRSS grew by %d KiB for %d unauthenticated connections: %d bytes each"
          % (after_kb - before_kb, n * len(kinds), per_conn))
    ok = per_conn < 8192
    want = {
        "half_multibulk": (b"-ERR Protocol error: unauthenticated bulk length\r\n", True),
        "many_words": (b"-ERR Protocol error: unauthenticated multibulk length\r\n", True),
        "valid": (b"-WRONGPASS invalid username-password pair or user is disabled.\r\n", False),
    }
    for (name, _), group in zip(kinds, socks):
        bad = [answers[s] for s in group if tuple(answers[s]) != want[name]]
        if bad:
            print("%s: %d of %d answered %r, want %r" % (name, len(bad), n, bad[0], want[name]))
            ok = False
    for g in socks:
        for s in g:
            s.close()
    return ok


def wait_info_at_least(name, want, deadline_s):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if info_field(name) >= want:
            return True
        time.sleep(0.2)
    return info_field(name) >= want


def never_reader_closed(value_bytes, gets, counter):
    """A client with a small receive window asks for gets x value_bytes of
    replies and never reads: true once INFO counter has grown by one."""
    s = connect()
    if not roundtrip(s, cmd("SET", "queued", b"v" * value_bytes), b"+OK"):
        return False
    s.close()
    before = info_field(counter)
    stuck = connect(rcvbuf=4096)
    stuck.sendall(cmd("GET", "queued") * gets)
    ok = wait_info_at_least(counter, before + 1, 15)
    if not ok:
        print("the client that never reads was not closed (%s)" % counter)
    stuck.close()
    return ok


def scenario_slow_reader():
    """With a soft limit of 1mb for 1 s: a client that asks for 25 MB of
    replies and never reads is closed within a few seconds (the hard limit,
    64mb, is never reached) and INFO counts it."""
    return never_reader_closed(262144, 100, "client_slow_reader_disconnects")


def scenario_idle_writer():
    """With timeout 2 (soft limit off): a client with 8 MB of replies queued
    that never reads is idle and is closed (today it was kept forever)."""
    return never_reader_closed(200000, 40, "client_idle_timeouts")


SCENARIOS = {k[len("scenario_"):]: v for k, v in globals().items() if k.startswith("scenario_")}

if __name__ == "__main__":
    sys.exit(0 if SCENARIOS[sys.argv[3]]() else 1)
