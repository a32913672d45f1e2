#!/usr/bin/env bash
# test_expiry.sh: key expiry across real nodes, driven with redis-py.
# Three nodes; n3's clock runs 2 s behind (CLOCKOFFSET), so it judges
# expiries on the cluster's clock only through the correction the gossip
# core measures. A TTL written on one node reads the same on the others;
# a key expires on every node at its expiry (within the clock error), n3
# included; EXPIRE and PERSIST on one node with no other write reach every
# node; a past PEXPIREAT deletes everywhere; RENAME carries the TTL.
# Ports 25400-25499.
. "$(dirname "$0")/lib.sh"

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # Debian's, with python3-redis
"$PY" -c 'import redis' 2>/dev/null || { fail "python3-redis not found (scripts/deps)"; summary; }
BASE=$(pick_base 25400 25500 6) || { fail "no free ports in 25400-25499"; summary; }
G1=$BASE C1=$((BASE + 1)) G2=$((BASE + 2)) C2=$((BASE + 3)) G3=$((BASE + 4)) C3=$((BASE + 5))
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
common=(--key-file "$TMP/key" --label exptest "${FAST_GOSSIP[@]}" --clock-offset-control)
start_node n1 "$G1" "$C1" "${common[@]}" || fail "n1 starts"
start_node n2 "$G2" "$C2" "${common[@]}" --join "127.0.0.1:$G1" || fail "n2 starts"
start_node n3 "$G3" "$C3" "${common[@]}" --join "127.0.0.1:$G1" || fail "n3 starts"
check "three members alive" wait_until 20 alive_count_is "$C1" 3
check "n3's clock set 2 s behind" [ "$(rcli "$C3" CLOCKOFFSET SET -2000)" = "OK" ]
corrected() { [ "$(info_field "$C3" cluster clock_correction_ms)" -ge 1800 ]; }
check "n3 corrects its clock to the cluster's" wait_until 30 corrected

cat >"$TMP/exp.py" <<'EOF'
import sys, time
import redis

ports = [int(p) for p in sys.argv[2:5]]
r = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=10) for p in ports]
now_ms = lambda: int(time.time() * 1000)


def wait(cond, limit_s=10.0):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def ttl_written_on_one_read_on_all():
    assert r[0].set("a", "v", ex=100)
    for c in r[1:]:
        assert wait(lambda: c.get("a") == b"v"), "a never arrived"
        assert 98 <= c.ttl("a") <= 100, c.ttl("a")
        assert 98000 <= c.pttl("a") <= 100000, c.pttl("a")
    t = [c.execute_command("PEXPIRETIME", "a") for c in r]
    assert t[0] == t[1] == t[2], t  # one absolute expiry, not three


def expires_everywhere_at_once():
    assert r[0].set("short", "v", px=3000)
    exp = r[0].execute_command("PEXPIRETIME", "short")
    assert wait(lambda: all(c.get("short") == b"v" for c in r), 2.5), "short never arrived"
    last_seen, gone_at = [0, 0, 0], [0, 0, 0]
    end = time.monotonic() + 10
    while time.monotonic() < end and not all(gone_at):
        for i, c in enumerate(r):
            if gone_at[i]:
                continue
            t0 = now_ms()
            v = c.get("short")
            if v is None:
                gone_at[i] = t0
            else:
                last_seen[i] = now_ms()
        time.sleep(0.01)
    print("expiry %d: last read / first absent per node (ms from expiry): %s" % (
        exp, [(s - exp, g - exp) for s, g in zip(last_seen, gone_at)]))
    assert all(gone_at), "some node still has it"
    for i in range(3):
        # Present until the expiry and absent within half a second after
        # (n3 judges on its corrected clock: without the correction it would
        # read it for 2 s more). 100 ms of slack for the clock estimate.
        assert last_seen[i] <= exp + 600, (i, last_seen[i] - exp)
        assert gone_at[i] >= exp - 100, (i, gone_at[i] - exp)
        assert gone_at[i] <= exp + 600, (i, gone_at[i] - exp)
    for c in r:
        assert c.exists("short") == 0 and c.ttl("short") == -2
        assert b"short" not in c.keys("*")


def expire_and_persist_on_one_node():
    assert r[0].set("b", "v")
    assert wait(lambda: r[1].get("b") == b"v")
    assert r[1].expire("b", 200) is True
    for c in (r[0], r[2]):
        assert wait(lambda: 195 <= c.ttl("b") <= 200), c.ttl("b")
    assert r[2].persist("b") is True
    for c in (r[0], r[1]):
        assert wait(lambda: c.ttl("b") == -1), c.ttl("b")
    assert all(c.get("b") == b"v" for c in r)
    assert r[0].execute_command("PEXPIREAT", "b", 1) == 1
    for c in r:
        assert wait(lambda: c.exists("b") == 0)


def rename_carries_ttl_and_dbsize_counts_live():
    r[0].flushall()
    for c in r:
        assert wait(lambda: c.dbsize() == 0)
    assert r[0].set("x", "1", ex=300)
    assert r[0].set("y", "2", px=500)
    assert r[0].set("z", "3")
    assert wait(lambda: all(c.exists("x", "y", "z") == 3 for c in r), 0.45) or \
        wait(lambda: all(c.exists("x", "z") == 2 for c in r))
    assert r[1].rename("x", "x2")
    for c in (r[0], r[2]):
        assert wait(lambda: 295 <= c.ttl("x2") <= 300), c.ttl("x2")
    for c in r:
        assert wait(lambda: c.dbsize() == 2), c.dbsize()  # x2, z: y expired
        assert sorted(c.keys("*")) == [b"x2", b"z"]


getattr(sys.modules[__name__], sys.argv[1])()
EOF
py() { "$PY" "$TMP/exp.py" "$1" "$C1" "$C2" "$C3"; }
check "SET EX on n1: the same TTL and one PEXPIRETIME on every node" py ttl_written_on_one_read_on_all
check "a PX key expires on every node at its expiry, n3 on the cluster clock" py expires_everywhere_at_once
check "EXPIRE on n2, PERSIST on n3, past PEXPIREAT on n1 reach every node" py expire_and_persist_on_one_node
check "RENAME carries the TTL; DBSIZE and KEYS count live keys only" py rename_carries_ttl_and_dbsize_counts_live
summary
