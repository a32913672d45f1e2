#!/usr/bin/env python3
"""hostile.py PORT PID SCENARIO: clients that try to make a node allocate
without bound, for test_client_limits.sh.

Each scenario attacks the node at PORT (process PID) over raw TCP, reads the
node's memory from /proc/PID/status, and exits 0 when the node kept its
limits. Every socket operation has a timeout and every wait a deadline.
"""
import socket
import sys
import time

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


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_until_close(s, limit=64 * MB):
    out = b""
    try:
        while len(out) < limit:
            chunk = s.recv(1 << 16)
            if not chunk:
                return out, True
            out += chunk
    except socket.timeout:
        return out, False
    except ConnectionResetError:
        return out, True
    return out, False


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
        out, closed = read_until_close(s)
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


SCENARIOS = {k[len("scenario_"):]: v for k, v in globals().items() if k.startswith("scenario_")}

if __name__ == "__main__":
    sys.exit(0 if SCENARIOS[sys.argv[3]]() else 1)
