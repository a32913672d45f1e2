#!/usr/bin/env python3
"""rawclient.py PORT SCENARIO: misbehaving Redis clients for test_bad_clients.sh.

Each scenario talks raw TCP to a gossipkv node (redis-cli cannot send
malformed input), checks what the node answers, and exits 0 when the node
behaved: it answered Redis's error, or closed only that client. Every socket
operation has a timeout, so no scenario can hang.
"""
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
TIMEOUT_S = 10


def connect():
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s, limit=1 << 20):
    """Read until the peer closes (or the timeout): returns (bytes, closed)."""
    out = b""
    try:
        while len(out) < limit:
            chunk = s.recv(65536)
            if not chunk:
                return out, True
            out += chunk
    except socket.timeout:
        return out, False
    except ConnectionResetError:
        return out, True
    return out, False


def expect_error_then_close(payload, error):
    s = connect()
    s.sendall(payload)
    out, closed = read_all(s)
    s.close()
    want = ("-" + error + "\r\n").encode()
    if out != want or not closed:
        print("got %r closed=%s, want %r and a close" % (out, closed, want))
        return False
    return True


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def ping_ok():
    s = connect()
    s.sendall(cmd("PING"))
    ok = s.recv(100) == b"+PONG\r\n"
    s.close()
    return ok


def ping_ok_quietly():
    """ping_ok, false instead of an exception (refused or closed)."""
    try:
        return ping_ok()
    except OSError:
        return False


def wait_for(pred, deadline_s=TIMEOUT_S, poll_s=0.05):
    """Poll pred until it is true or deadline_s passes; its last answer."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(poll_s)
    return pred()


def info_field(name):
    """An INFO field of the node (an int), read on a connection of its own;
    -1 if absent."""
    s = connect()
    s.sendall(cmd("INFO", "all"))
    out = b""
    while b"\r\n" not in out:  # the bulk header, "$<len>"
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    head, _, body = out.partition(b"\r\n")
    want = int(head[1:]) + 2 if head.startswith(b"$") else 0
    while len(body) < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    for line in body.decode(errors="replace").split("\r\n"):
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    return -1


def scenario_huge_bulk():
    return expect_error_then_close(b"*1\r\n$2147483648\r\n",
                                   "ERR Protocol error: invalid bulk length")


def scenario_negative_bulk():
    return expect_error_then_close(b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length")


def scenario_huge_multibulk():
    return expect_error_then_close(b"*2000000\r\n",
                                   "ERR Protocol error: invalid multibulk length")


def scenario_non_numeric():
    return (expect_error_then_close(b"*x1\r\n", "ERR Protocol error: invalid multibulk length")
            and expect_error_then_close(b"*1\r\n$1a\r\n",
                                        "ERR Protocol error: invalid bulk length"))


def scenario_unbalanced():
    return (expect_error_then_close(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\nfooz\r\n",
                                    "ERR Protocol error: expected '$', got 'f'")
            and expect_error_then_close(b'SET k "open\r\n',
                                        "ERR Protocol error: unbalanced quotes in request"))


def scenario_long_line():
    return expect_error_then_close(b"*" + b"1" * 70000,
                                   "ERR Protocol error: too big mbulk count string")


def scenario_byte_split():
    s = connect()
    data = cmd("SET", "split", "hello") + cmd("GET", "split") + b"PING\r\n"
    for i in range(len(data)):
        s.sendall(data[i:i + 1])
        time.sleep(0.001)  # pacing, not a wait: one byte per segment, mostly one per read
    want = b"+OK\r\n$5\r\nhello\r\n+PONG\r\n"
    got = b""
    while len(got) < len(want):
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    s.close()
    if got != want:
        print("got %r want %r" % (got, want))
    return got == want


def scenario_pipeline_100k():
    n = 100000
    # Build everything before connecting: the node under test closes clients
    # idle for 2 s, and on a loaded machine building 100k frames can take that.
    reqs = b"".join(cmd("SET", "p:%d" % i, "v%d" % i) if i % 2 == 0 else cmd("GET", "p:%d" % (i - 1))
                    for i in range(n))
    want = b"".join(b"+OK\r\n" if i % 2 == 0 else b"$%d\r\nv%d\r\n" % (len(b"v%d" % (i - 1)), i - 1)
                    for i in range(n))
    s = connect()
    got = []
    total = [0]

    def reader():
        try:
            while total[0] < len(want):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got.append(chunk)
                total[0] += len(chunk)
        except socket.timeout:
            pass

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(reqs)
    t.join(60)
    s.close()
    out = b"".join(got)
    if out != want:
        print("pipeline: got %d bytes, want %d" % (len(out), len(want)))
        return False
    return True


def scenario_output_limit():
    """Ask for far more than client-output-buffer-limit and never read."""
    s = connect()
    s.sendall(cmd("SET", "bigval", b"x" * 100000))
    if s.recv(100) != b"+OK\r\n":
        return False
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    closed_before = info_field("client_output_buffer_disconnects")
    req = cmd("GET", "bigval") * 2000  # 200 MB of replies
    try:
        s.sendall(req)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    # Read only once the node has closed us at the limit (not before: a
    # reader would drain the replies and the limit would not be reached).
    if not wait_for(lambda: info_field("client_output_buffer_disconnects") > closed_before):
        print("output limit: the node did not close the client within %d s" % TIMEOUT_S)
        return False
    # The node must have closed us before sending all 200 MB.
    out, closed = read_all(s, limit=300 * 1000 * 1000)
    s.close()
    if not closed or len(out) >= 2000 * 100000:
        print("output limit: closed=%s read=%d" % (closed, len(out)))
        return False
    return ping_ok()


def scenario_maxclients():
    """maxclients (200 here) + 1000 more connections: the extra ones are told
    and closed, the first ones keep working."""
    # Fill the node to maxclients. Another client of this script (the steady
    # one from the first check) may still hold a slot until its idle timeout,
    # so the last of these 200 may be refused: keep the ones the node accepted.
    opened = [connect() for _ in range(200)]
    kept = []
    for s in opened:
        s.sendall(cmd("PING"))
        if s.recv(100) == b"+PONG\r\n":
            kept.append(s)
        else:
            s.close()
    if len(kept) < 195:
        print("only %d of 200 clients were accepted under maxclients 200" % len(kept))
        return False
    # The node closes clients idle for 2 s. However slow this machine is, the
    # kept clients stay active during the flood, so none of them times out
    # and frees a slot an extra connection could take.
    def keep_active():
        for k in kept:
            k.sendall(cmd("PING"))
        for k in kept:
            if k.recv(100) != b"+PONG\r\n":
                return False
        return True

    refused = 0
    extra = []
    for i in range(1000):
        s = connect()
        extra.append(s)
        if i % 50 == 0 and not keep_active():
            print("a kept client stopped working while others connected")
            return False
    for i, s in enumerate(extra):
        out, _ = read_all(s, limit=100)
        if out == b"-ERR max number of clients reached\r\n":
            refused += 1
        s.close()
        if i % 50 == 0 and not keep_active():
            print("a kept client stopped working while others were refused")
            return False
    if refused < 990:  # the steady client's idle timeout may free one slot
        print("refused %d of 1000" % refused)
        return False
    for s in kept[-5:]:
        s.sendall(cmd("PING"))
        if s.recv(100) != b"+PONG\r\n":
            print("a kept client stopped working")
            return False
    for s in kept:
        s.close()
    # A new client is served once the node has seen those closes.
    return wait_for(ping_ok_quietly)


def scenario_idle_timeout():
    """With timeout 2 s, an idle client is closed by the node."""
    s = connect()
    s.sendall(cmd("PING"))
    if s.recv(100) != b"+PONG\r\n":
        return False
    s.settimeout(8)
    try:
        out = s.recv(100)
    except socket.timeout:
        print("idle client was not closed")
        return False
    s.close()
    return out == b""


def scenario_half_request_then_close():
    s = connect()
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
    s.close()
    return wait_for(ping_ok_quietly)


SCENARIOS = {k[len("scenario_"):]: v for k, v in globals().items() if k.startswith("scenario_")}

if __name__ == "__main__":
    name = sys.argv[2]
    ok = SCENARIOS[name]()
    sys.exit(0 if ok else 1)
