#!/usr/bin/env python3
"""strings_diff.py REDIS_PORT GKV_PORT MAX_VALUE_BYTES [SEED]: differential test.

Sends the same command sequences to a redis-server and to a gossipkv node
and compares the replies byte for byte (after RESP parsing): replies, error
words and argument checks must be redis-server 7.0's. A few commands differ
on purpose (the value limit is the node's max-value-bytes, one database):
those cases say what gossipkv must answer instead. The counter
commands (INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT) get fixed cases and a
seeded random mix with SET, APPEND, DEL and the readers of a value. Expiry
(expiry_cases) is compared with TTLs far enough out that both servers
round them alike, and absolute times given by the test.
Then a seeded random part (the seed is printed) drives GETRANGE, SETRANGE,
APPEND, SETBIT, GETBIT, BITCOUNT, BITPOS and LCS with random arguments.
Every socket operation has a timeout. Exit 0 when every case matched.
"""
import os
import random
import sys
import time

TIMEOUT_S = 10


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from resp import Resp, RespError  # noqa: E402  (bench/resp.py: the RESP2 client)


def norm(r):
    """Replies as comparable values: errors as ("error", text), statuses
    as ("status", text), bulks as bytes, arrays as lists."""
    if isinstance(r, RespError):
        return ("error", str(r).encode())
    if isinstance(r, str):
        return ("status", r.encode())
    if isinstance(r, list):
        return [norm(x) for x in r]
    return r


class Conn:
    def __init__(self, port):
        self.r = Resp(port, timeout_s=TIMEOUT_S)

    def call(self, *args):
        self.r.send(*args)
        return norm(self.r.read())


FAILS = []
CASES = 0


def short(r):
    s = repr(r)
    return s if len(s) < 200 else s[:200] + "..."


def same(rd, gk, seq, note=""):
    global CASES
    for cmd in seq:
        CASES += 1
        a, b = rd.call(*cmd), gk.call(*cmd)
        if a != b:
            FAILS.append("%s%r: redis %s, gossipkv %s" % (note, cmd[:4], short(a), short(b)))


def differs(rd, gk, cmd, want_redis_prefix, want_gkv):
    """A case that differs on purpose: redis answers something starting
    with want_redis_prefix (None: any), gossipkv exactly want_gkv."""
    global CASES
    CASES += 1
    a, b = rd.call(*cmd), gk.call(*cmd)
    if want_redis_prefix is not None and not short(a).startswith(want_redis_prefix):
        FAILS.append("%r: redis answered %s (test expectation stale?)" % (cmd[:4], short(a)))
    if b != want_gkv:
        FAILS.append("%r: gossipkv %s, want %s" % (cmd[:4], short(b), short(want_gkv)))


def err(s):
    return ("error", s.encode())


def fixed_cases(rd, gk, maxv):
    flush = [("FLUSHALL",)]
    same(rd, gk, flush)
    # SET options, SETNX, GETSET, GETDEL, MSETNX, STRLEN
    same(rd, gk, [
        ("SET", "k", "v"), ("SET", "k", "w", "NX"), ("SET", "k", "w", "XX"), ("GET", "k"),
        ("SET", "n", "x", "XX"), ("GET", "n"), ("SET", "k", "z", "NX", "GET"),
        ("SET", "k", "y", "XX", "GET"), ("SET", "new", "1", "GET"), ("SET", "k", "q", "NX", "XX"),
        ("SET", "k", "q", "XX", "NX"), ("SET", "k", "q", "BOGUS"), ("SET", "k"),
        ("SETNX", "k", "a"), ("SETNX", "s", "a"), ("GET", "s"), ("SETNX", "s"),
        ("GETSET", "k", "g"), ("GETSET", "none", "g"), ("GET", "none"),
        ("GETDEL", "k"), ("GETDEL", "k"), ("EXISTS", "k"), ("GETDEL", "k", "x"),
        ("MSETNX", "m1", "1", "m2", "2"), ("MSETNX", "m2", "x", "m3", "3"), ("GET", "m3"),
        ("MSETNX", "m4", "1", "m5"), ("MSETNX", "m4", "a", "m4", "b"), ("GET", "m4"),
        ("STRLEN", "m1"), ("STRLEN", "nokey"), ("SET", "e", ""), ("STRLEN", "e"),
        ("GET", "e"), ("STRLEN",),
    ])
    # APPEND, GETRANGE/SUBSTR, SETRANGE
    same(rd, gk, [
        ("APPEND", "a", "hello"), ("APPEND", "a", " world"), ("APPEND", "a", ""), ("GET", "a"),
        ("APPEND", "e2", ""), ("EXISTS", "e2"),
        ("GETRANGE", "a", 0, 4), ("GETRANGE", "a", -5, -1), ("GETRANGE", "a", 5, 3),
        ("GETRANGE", "a", -1, -5), ("GETRANGE", "a", 0, -1), ("GETRANGE", "a", 0, 1000),
        ("GETRANGE", "a", 1000, 2000), ("GETRANGE", "a", -1000, -999), ("GETRANGE", "a", -100, 2),
        ("GETRANGE", "a", "x", 2), ("GETRANGE", "a", 0, "1.5"), ("GETRANGE", "nokey", 0, -1),
        ("GETRANGE", "e", 0, -1), ("GETRANGE", "e", -1, 0), ("SUBSTR", "a", 1, 3),
        ("GETRANGE", "a", 0, "9223372036854775807"), ("GETRANGE", "a", "-9223372036854775808", 3),
        ("GETRANGE", "a", 0, "9223372036854775808"), ("GETRANGE", "a", 1),
        ("SETRANGE", "a", 6, "WORLD"), ("GET", "a"), ("SETRANGE", "a", 20, "!"), ("GET", "a"),
        ("SETRANGE", "r", 3, "abc"), ("GET", "r"), ("SETRANGE", "r2", 0, ""), ("EXISTS", "r2"),
        ("SETRANGE", "r2", 5, ""), ("EXISTS", "r2"), ("SETRANGE", "a", 0, ""),
        ("SETRANGE", "a", -1, "x"), ("SETRANGE", "a", "z", "x"), ("SETRANGE", "e", 0, "x"),
        ("GET", "e"), ("SETRANGE", "a", 1, "x", "y"),
    ])
    # SETBIT, GETBIT, BITCOUNT, BITPOS
    same(rd, gk, [
        ("SETBIT", "b", 7, 1), ("SETBIT", "b", 7, 1), ("SETBIT", "b", 7, 0), ("GET", "b"),
        ("SETBIT", "b", 100, 1), ("GET", "b"), ("STRLEN", "b"), ("GETBIT", "b", 100),
        ("GETBIT", "b", 101), ("GETBIT", "b", 10000), ("GETBIT", "nokey", 5),
        ("SETBIT", "b", -1, 1), ("SETBIT", "b", "x", 1), ("SETBIT", "b", 1, 2),
        ("SETBIT", "b", 1, -1), ("SETBIT", "b", 1, "x"), ("GETBIT", "b", -1),
        ("SETBIT", "b", 4294967296, 1), ("GETBIT", "b", 4294967296),
        ("GETBIT", "b", 4294967295), ("SETBIT", "z", 0, 0), ("GET", "z"),
        ("SET", "c", "foobar"), ("BITCOUNT", "c"), ("BITCOUNT", "c", 0, 0), ("BITCOUNT", "c", 1, 1),
        ("BITCOUNT", "c", 1, 1, "BYTE"), ("BITCOUNT", "c", 5, 30, "BIT"), ("BITCOUNT", "c", -3, -1),
        ("BITCOUNT", "c", -1, -3), ("BITCOUNT", "c", 0, -1, "bit"), ("BITCOUNT", "c", 0),
        ("BITCOUNT", "c", 0, 1, "X"), ("BITCOUNT", "c", 0, 1, "BIT", "x"),
        ("BITCOUNT", "c", "a", 1), ("BITCOUNT", "nokey"), ("BITCOUNT", "nokey", 0),
        ("BITCOUNT", "nokey", "a", "b", "c", "d"), ("BITCOUNT", "e"), ("BITCOUNT", "c", 100, 200),
        ("BITCOUNT", "c", -100, 200), ("BITCOUNT", "c", -1, -1, "BIT"),
        ("SET", "p", b"\xff\xf0\x00"), ("BITPOS", "p", 0), ("BITPOS", "p", 1),
        ("BITPOS", "p", 0, 2, -1), ("BITPOS", "p", 1, 2), ("BITPOS", "p", 1, 2, -1),
        ("BITPOS", "p", 0, 0, 0), ("BITPOS", "p", 0, 0), ("BITPOS", "p", 1, 7, 15, "BIT"),
        ("BITPOS", "p", 0, 7, 15, "BIT"), ("BITPOS", "p", 0, 0, 11, "BIT"), ("BITPOS", "p", 0, 0, 12, "BIT"),
        ("BITPOS", "p", 1, 12, -1, "BIT"), ("BITPOS", "p", 1, -100, -1), ("BITPOS", "p", 1, 5, 2),
        ("BITPOS", "p", 2), ("BITPOS", "p", "x"), ("BITPOS", "p", 1, "x"), ("BITPOS", "p", 1, 0, "x"),
        ("BITPOS", "p", 1, 0, 1, "X"), ("BITPOS", "p", 1, 0, 1, "BIT", "x"), ("BITPOS", "nokey", 0),
        ("BITPOS", "nokey", 1), ("BITPOS", "e", 0), ("BITPOS", "e", 1), ("BITPOS", "e", 0, 0, -1),
        ("SET", "ones", b"\xff\xff"), ("BITPOS", "ones", 0), ("BITPOS", "ones", 0, 0, -1),
        ("BITPOS", "ones", 0, 1), ("BITPOS", "ones", 0, 3, 9, "BIT"), ("BITPOS", "ones", 0, 3, "BIT"),
        ("SET", "zero", b"\x00\x00"), ("BITPOS", "zero", 1), ("BITPOS", "zero", 0, 1),
    ])
    # LCS
    same(rd, gk, [
        ("SET", "l1", "ohmytext"), ("SET", "l2", "mynewtext"), ("LCS", "l1", "l2"),
        ("LCS", "l1", "l2", "LEN"), ("LCS", "l1", "l2", "IDX"),
        ("LCS", "l1", "l2", "IDX", "MINMATCHLEN", 4), ("LCS", "l1", "l2", "IDX", "WITHMATCHLEN"),
        ("LCS", "l1", "l2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"),
        ("LCS", "l1", "l2", "IDX", "MINMATCHLEN", -3), ("LCS", "l1", "l2", "IDX", "LEN"),
        ("LCS", "l1", "l2", "MINMATCHLEN"), ("LCS", "l1", "l2", "MINMATCHLEN", "x"),
        ("LCS", "l1", "l2", "BOGUS"), ("LCS", "l1", "nokey"), ("LCS", "nokey", "l1", "IDX"),
        ("LCS", "nokey", "nokey2", "LEN"), ("LCS", "l1", "l1"), ("LCS", "l1"),
    ])
    # RENAME, RENAMENX, COPY, RANDOMKEY, UNLINK, TOUCH, DBSIZE, FLUSH*
    same(rd, gk, flush + [
        ("RANDOMKEY",), ("DBSIZE",), ("SET", "x", "1"), ("RANDOMKEY",), ("RENAME", "x", "y"),
        ("GET", "x"), ("GET", "y"), ("RENAME", "x", "y"), ("RENAME", "y", "y"), ("GET", "y"),
        ("SET", "z", "2"), ("RENAMENX", "y", "z"), ("RENAMENX", "y", "w"), ("GET", "w"),
        ("RENAMENX", "w", "w"), ("RENAMENX", "nokey", "q"), ("RENAME", "w", "z"), ("GET", "z"),
        ("DBSIZE",), ("COPY", "z", "c1"), ("GET", "c1"), ("COPY", "z", "c1"), ("SET", "z", "3"),
        ("COPY", "z", "c1", "REPLACE"), ("GET", "c1"), ("COPY", "z", "z"), ("COPY", "nokey", "c2"),
        ("COPY", "z", "c3", "DB", 0), ("COPY", "z", "c3", "DB", "x"), ("COPY", "z", "c3", "BOGUS"),
        ("COPY", "z", "c3", "DB"), ("COPY", "z", "c4", "REPLACE", "DB", "0"), ("COPY", "z"),
        ("TOUCH", "z", "c1", "nokey", "z"), ("UNLINK", "z", "nokey", "c1"), ("UNLINK",),
        ("EXISTS", "z"), ("DBSIZE",), ("SET", "t", "1"), ("DEL", "t"), ("DBSIZE",),
        ("FLUSHALL", "BOGUS"), ("FLUSHALL", "SYNC", "x"), ("FLUSHDB", "x"), ("DBSIZE",),
        ("FLUSHALL", "ASYNC"), ("DBSIZE",), ("MSET", "a", "1", "b", "2"), ("FLUSHDB", "sync"),
        ("DBSIZE",), ("RANDOMKEY",), ("SET", "a", "1"), ("FLUSHDB",), ("KEYS", "*"),
        ("SET", "a", "1"), ("FLUSHALL", "async"), ("GET", "a"), ("RANDOMKEY", "x"),
    ])


def limit_cases(rd, gk, maxv):
    """The value limit: up to max-value-bytes both agree; past it gossipkv
    refuses with Redis's error words where Redis has one for the case."""
    same(rd, gk, [("FLUSHALL",), ("SETBIT", "big", maxv * 8 - 1, 1), ("STRLEN", "big"),
                  ("GETBIT", "big", maxv * 8 - 1), ("BITCOUNT", "big"), ("BITPOS", "big", 1),
                  ("BITPOS", "big", 0, -1), ("SETRANGE", "big2", maxv - 3, "abc"),
                  ("STRLEN", "big2"), ("GETRANGE", "big2", -3, -1), ("BITCOUNT", "big", -1, -1),
                  ("SETRANGE", "big", 536870912, "")])
    differs(rd, gk, ("SETBIT", "big", maxv * 8, 1), None,
            err("ERR bit offset is not an integer or out of range"))
    differs(rd, gk, ("SETRANGE", "big2", maxv - 2, "abc"), None,
            err("ERR string exceeds maximum allowed size (max-value-bytes)"))
    differs(rd, gk, ("SETRANGE", "fresh", maxv, "a"), None,
            err("ERR string exceeds maximum allowed size (max-value-bytes)"))
    differs(rd, gk, ("APPEND", "big2", "x"), None,
            err("ERR string exceeds maximum allowed size (max-value-bytes)"))
    differs(rd, gk, ("SETRANGE", "x", 536870912, "x"),
            "('error', b'ERR string exceeds maximum allowed size",
            err("ERR string exceeds maximum allowed size (max-value-bytes)"))
    # The refusals changed nothing on the node.
    for cmd, want in ((("STRLEN", "big"), maxv), (("STRLEN", "big2"), maxv),
                      (("EXISTS", "fresh"), 0)):
        got = gk.call(*cmd)
        if got != want:
            FAILS.append("%r after the refusals: gossipkv %s, want %s" % (cmd, got, want))
    # One database (docs/COMMANDS.md).
    differs(rd, gk, ("COPY", "big", "c", "DB", 1), None, err("ERR DB index is out of range"))
    same(rd, gk, [("FLUSHALL",)])


def expiry_cases(rd, gk):
    """SET's expiry options, SETEX/PSETEX, GETEX, the EXPIRE family with
    NX/XX/GT/LT, TTL/PTTL/EXPIRETIME/PEXPIRETIME, PERSIST; which commands
    keep or clear a TTL; expired keys read as absent everywhere. TTLs are
    100 s or more (both servers round them to the same second) and
    absolute times are the test's own."""
    far = int(time.time()) + 100000  # EXAT seconds
    farms = far * 1000 + 123         # PXAT ms
    same(rd, gk, [("FLUSHALL",)])
    same(rd, gk, [
        ("SET", "k", "v", "EX", 100), ("TTL", "k"), ("SET", "k", "v", "PX", 100000), ("TTL", "k"),
        ("SET", "k", "v", "EXAT", far), ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"),
        ("SET", "k", "v", "PXAT", farms), ("PEXPIRETIME", "k"), ("EXPIRETIME", "k"),
        ("SET", "k", "w", "KEEPTTL"), ("PEXPIRETIME", "k"), ("GET", "k"),
        ("SET", "k", "x"), ("TTL", "k"), ("PTTL", "k"), ("EXPIRETIME", "k"),
        ("TTL", "nokey"), ("PTTL", "nokey"), ("EXPIRETIME", "nokey"), ("PEXPIRETIME", "nokey"),
        ("SET", "k", "v", "EX", 0), ("SET", "k", "v", "EX", -1), ("SET", "k", "v", "PX", 0),
        ("SET", "k", "v", "EX", "abc"), ("SET", "k", "v", "EX", 10000000000000000),
        ("SET", "k", "v", "EX", -9999999999999999), ("SET", "k", "v", "PX", 9223372036854775807),
        ("SET", "k", "v", "EXAT", 9223372036854775), ("PEXPIRETIME", "k"),
        ("SET", "k", "v", "EX", 10, "PX", 10), ("SET", "k", "v", "EX", 10, "KEEPTTL"),
        ("SET", "k", "v", "KEEPTTL", "EX", 10), ("SET", "k", "v", "EX"), ("SET", "k", "v", "PERSIST"),
        ("SET", "k", "v", "EX", 100, "NX"), ("SET", "k", "v", "XX", "GET", "EXAT", far),
        ("EXPIRETIME", "k"), ("SET", "new", "v", "NX", "GET", "PXAT", farms), ("PEXPIRETIME", "new"),
        ("SETEX", "k", 100, "v"), ("TTL", "k"), ("SETEX", "k", 0, "v"), ("SETEX", "k", -1, "v"),
        ("SETEX", "k", "x", "v"), ("PSETEX", "k", 100000, "v"), ("TTL", "k"), ("PSETEX", "k", 0, "v"),
        ("GETEX", "k"), ("TTL", "k"), ("GETEX", "k", "PERSIST"), ("TTL", "k"),
        ("GETEX", "k", "EX", 100), ("TTL", "k"), ("GETEX", "k", "EXAT", far), ("EXPIRETIME", "k"),
        ("GETEX", "k", "PXAT", farms), ("PEXPIRETIME", "k"), ("GETEX", "k", "EX", 0),
        ("GETEX", "k", "EX", 10000000000000000), ("GETEX", "k", "EX", -9999999999999999),
        ("GETEX", "k", "FOO"), ("GETEX", "k", "EX", 10, "PX", 10), ("GETEX", "k", "KEEPTTL"),
        ("GETEX", "k", "PERSIST", "EX", 10), ("GETEX", "nokey", "EX", 10),
        ("GETEX", "nokey", "EX", 0), ("GETEX", "k", "PXAT", 1), ("EXISTS", "k"),
    ], note="set/getex ")
    same(rd, gk, [
        ("SET", "k", "v"), ("EXPIRE", "k", 100), ("TTL", "k"), ("EXPIRE", "k", 100, "NX"),
        ("EXPIRE", "k", 200, "XX"), ("TTL", "k"), ("EXPIRE", "k", 50, "GT"), ("EXPIRE", "k", 300, "GT"),
        ("TTL", "k"), ("EXPIRE", "k", 400, "LT"), ("EXPIRE", "k", 100, "LT"), ("TTL", "k"),
        ("PERSIST", "k"), ("PERSIST", "k"), ("TTL", "k"), ("EXPIRE", "k", 100, "XX"),
        ("EXPIRE", "k", 100, "GT"), ("EXPIRE", "k", 100, "LT"), ("TTL", "k"), ("PERSIST", "k"),
        ("EXPIRE", "k", 100, "NX", "XX"), ("EXPIRE", "k", 100, "GT", "LT"),
        ("EXPIRE", "k", 100, "NX", "GT"), ("EXPIRE", "k", 100, "AB"), ("EXPIRE", "k", 100, "XX", "AB"),
        ("EXPIRE", "k", ""), ("EXPIRE", "k", "1.5"), ("EXPIRE", "k", 9223370399119966),
        ("EXPIRE", "k", 9223372036854776), ("EXPIRE", "k", -9223372036854776),
        ("PEXPIRE", "k", 9223372036854770000), ("PEXPIREAT", "k", 9223372036854770000),
        ("PEXPIRETIME", "k"), ("EXPIRETIME", "k"), ("EXPIREAT", "k", far), ("EXPIRETIME", "k"),
        ("PEXPIREAT", "k", farms), ("PEXPIRETIME", "k"), ("EXPIRE", "nokey", 100),
        ("EXPIRE", "nokey", 100, "NX"), ("PERSIST", "nokey"), ("EXPIRE", "k", -10), ("EXISTS", "k"),
        ("TTL", "k"), ("SET", "k", "v"), ("PEXPIREAT", "k", -9223372036854770000), ("TTL", "k"),
        ("SET", "k", "v"), ("EXPIREAT", "k", 1), ("GET", "k"),
        ("SET", "k", "v"), ("EXPIRE", "k", -10, "LT"), ("TTL", "k"),
    ], note="expire ")
    same(rd, gk, [
        ("SET", "k", "v", "EX", 100), ("APPEND", "k", "x"), ("TTL", "k"), ("SETRANGE", "k", 0, "z"),
        ("TTL", "k"), ("SETBIT", "k", 0, 1), ("TTL", "k"), ("GETSET", "k", "n"), ("TTL", "k"),
        ("SET", "k", "v", "EXAT", far), ("RENAME", "k", "k2"), ("EXPIRETIME", "k2"), ("EXISTS", "k"),
        ("SET", "k3", "v"), ("RENAME", "k3", "k2"), ("TTL", "k2"),
        ("SET", "k4", "v", "EXAT", far), ("RENAMENX", "k4", "k5"), ("EXPIRETIME", "k5"),
        ("SET", "src", "v", "EXAT", far), ("COPY", "src", "dst"), ("EXPIRETIME", "dst"),
        ("SET", "src2", "v"), ("COPY", "src2", "dst", "REPLACE"), ("TTL", "dst"),
        ("MSET", "src", "a"), ("TTL", "src"), ("SET", "a", "v", "EXAT", far), ("SETNX", "a", "w"),
        ("EXPIRETIME", "a"), ("DEL", "a"), ("TTL", "a"),
        ("SET", "f", "1.5", "EX", 100), ("INCRBYFLOAT", "f", "1"), ("TTL", "f"),
        ("SET", "i", "1", "EX", 100), ("INCR", "i"), ("INCRBY", "i", 5), ("TTL", "i"),
        ("SET", "i2", "1", "PXAT", 1), ("INCR", "i2"), ("TTL", "i2"),
    ], note="keep/clear ")
    same(rd, gk, [
        ("SET", "gone", "v", "PXAT", 1), ("GET", "gone"), ("EXISTS", "gone"), ("TTL", "gone"),
        ("STRLEN", "gone"), ("MGET", "gone", "k2"), ("DEL", "gone"), ("KEYS", "gone*"),
        ("SETNX", "gone", "x"), ("GET", "gone"), ("TTL", "gone"),
        ("SET", "gone2", "v", "PXAT", 1), ("SET", "gone2", "w", "XX"), ("GET", "gone2"),
        ("SET", "gone2", "w", "NX", "GET"), ("SET", "gone3", "v", "PXAT", 1),
        ("APPEND", "gone3", "x"), ("TTL", "gone3"), ("SET", "gone4", "v", "PXAT", 1),
        ("RENAME", "gone4", "x"), ("COPY", "gone4", "x"), ("GETDEL", "gone4"), ("TYPE", "gone4"),
        ("PERSIST", "gone4"), ("EXPIRE", "gone4", 100), ("DBSIZE",),
    ], note="expired ")
    same(rd, gk, [("FLUSHALL",)])


I64_MAX = "9223372036854775807"
I64_MIN = "-9223372036854775808"


def counter_cases(rd, gk):
    """INCR and friends, their error words and overflow checks, and how a
    counter reads through every reader of a value."""
    same(rd, gk, [
        ("FLUSHALL",), ("INCR", "c"), ("INCR", "c"), ("GET", "c"), ("DECR", "c"), ("DECR", "c"),
        ("DECR", "c"), ("GET", "c"), ("INCRBY", "c", 100), ("DECRBY", "c", 50), ("GET", "c"),
        ("INCRBY", "c", "x"), ("INCRBY", "c", "1.5"), ("INCRBY", "c", " 1"), ("INCRBY", "c", "+1"),
        ("INCRBY", "c", "01"), ("DECRBY", "c", "x"), ("INCR",), ("INCR", "c", "d"), ("INCRBY", "c"),
        ("INCRBY", "c", 0), ("GET", "c"), ("INCRBY", "zero", 0), ("GET", "zero"),
        ("STRLEN", "c"), ("APPEND", "c", "0"), ("GET", "c"), ("INCR", "c"), ("TYPE", "c"),
        ("EXISTS", "c"), ("GETRANGE", "c", 0, 1), ("MGET", "c", "nokey", "zero"),
        ("SET", "c", "41"), ("INCR", "c"), ("SET", "c", "x"), ("INCR", "c"), ("GET", "c"),
        ("SET", "c", " 1"), ("INCR", "c"), ("SET", "c", "1 "), ("INCR", "c"),
        ("SET", "c", "007"), ("INCR", "c"), ("SET", "c", "-0"), ("INCR", "c"),
        ("SET", "c", "+1"), ("INCR", "c"), ("SET", "c", ""), ("INCR", "c"),
        ("SET", "c", "1.5"), ("INCR", "c"), ("SET", "c", "12345678901234567890"), ("INCR", "c"),
        ("SET", "c", I64_MAX), ("INCR", "c"), ("DECR", "c"), ("GET", "c"),
        ("INCRBY", "c", 1), ("SET", "c", I64_MIN), ("DECR", "c"), ("INCR", "c"),
        ("DECRBY", "c", I64_MIN), ("INCRBY", "c", I64_MIN), ("SET", "c", "0"),
        ("INCRBY", "c", I64_MIN), ("GET", "c"), ("INCRBY", "c", I64_MAX), ("GET", "c"),
        ("DECRBY", "c", I64_MAX), ("GET", "c"), ("DECRBY", "c", 1), ("INCRBY", "c", I64_MAX),
        ("INCR", "c"), ("DEL", "c"), ("GET", "c"), ("EXISTS", "c"), ("INCR", "c"), ("GET", "c"),
        ("GETSET", "c", "5"), ("INCR", "c"), ("GETDEL", "c"), ("INCRBY", "c", -3), ("GET", "c"),
        ("DECR", "d"), ("DECR", "d"), ("GET", "d"), ("INCR", "d"), ("INCR", "d"), ("GET", "d"),
        ("EXISTS", "d"), ("DBSIZE",), ("RENAME", "d", "d2"), ("INCR", "d2"), ("COPY", "d2", "d3"),
        ("INCR", "d3"), ("GET", "d2"), ("GET", "d3"),
        # INCRBYFLOAT
        ("INCRBYFLOAT", "f", "10.5"), ("GET", "f"), ("INCRBYFLOAT", "f", "0.1"),
        ("INCRBYFLOAT", "f", "-5"), ("INCRBYFLOAT", "f", "5.0e3"), ("INCRBYFLOAT", "f", "2.0e-1"),
        ("GET", "f"), ("INCR", "f"), ("INCRBYFLOAT", "f", "x"), ("INCRBYFLOAT", "f", " 1"),
        ("INCRBYFLOAT", "f", "1 "), ("INCRBYFLOAT", "f", ""), ("INCRBYFLOAT", "f", "nan"),
        ("INCRBYFLOAT", "f", "inf"), ("INCRBYFLOAT", "f", "1e5000"), ("GET", "f"),
        ("SET", "f", "1"), ("INCRBYFLOAT", "f", "-1.5"), ("INCRBYFLOAT", "f", "0.5"), ("GET", "f"),
        ("INCR", "f"), ("GET", "f"), ("SET", "f", "abc"), ("INCRBYFLOAT", "f", 1),
        ("SET", "f", "1e308"), ("INCRBYFLOAT", "f", "1e308"), ("INCRBYFLOAT", "f", "1e4000"),
        ("INCR", "g"), ("INCRBYFLOAT", "g", "1.5"), ("INCR", "g"), ("INCRBYFLOAT", "g", "0.5"),
        ("INCR", "g"), ("GET", "g"), ("INCRBYFLOAT", "h", "3.0"), ("GET", "h"), ("INCR", "h"),
        ("INCRBYFLOAT", "neg", "0.024390243902439025"), ("INCRBYFLOAT", "neg", "-0.024390243902439025"),
        ("GET", "neg"), ("INCRBYFLOAT", "big", "17179869184"), ("INCRBYFLOAT", "big", "1.5"),
        ("INCRBYFLOAT",), ("INCRBYFLOAT", "f"), ("FLUSHALL",),
    ])
    rng_cases = [("INCR",), ("DECR",), ("INCRBY", 7), ("DECRBY", 3), ("INCRBY", -2),
                 ("INCRBYFLOAT", "0.5"), ("INCRBYFLOAT", "-1.25"), ("INCRBYFLOAT", "2"),
                 ("SET", "10"), ("SET", "x"), ("SET", "-4"), ("DEL",), ("GET",), ("APPEND", "1"),
                 ("STRLEN",), ("EXISTS",), ("GETSET", "3"), ("INCRBY", I64_MAX),
                 ("DECRBY", I64_MAX)]
    return rng_cases


def counter_random(rd, gk, seed, rng_cases):
    rng = random.Random(seed)
    keys = ["k0", "k1", "k2"]
    for step in range(1500):
        c = rng.choice(rng_cases)
        cmd = (c[0], rng.choice(keys)) + c[1:]
        same(rd, gk, [cmd], note="counter seed %d step %d " % (seed, step))
        if len(FAILS) > 20:
            return
    same(rd, gk, [("MGET",) + tuple(keys), ("FLUSHALL",)])


def random_cases(rd, gk, seed):
    rng = random.Random(seed)
    same(rd, gk, [("FLUSHALL",)])
    keys = ["r0", "r1", "r2", "nokey"]
    for step in range(3000):
        k = rng.choice(keys)
        n = rng.choice([0, 1, 2, 3, 7, 8, 9, 17, 40])
        val = bytes(rng.choice([0, 0xFF, 0x0F, 0x80, 1, 0x61, rng.randrange(256)]) for _ in range(n))
        lo, hi = rng.randint(-60, 60), rng.randint(-60, 60)
        op = rng.randrange(11)
        if op == 0:
            cmd = ("SET", k, val)
        elif op == 1:
            cmd = ("GETRANGE", k, lo, hi)
        elif op == 2:
            cmd = ("SETRANGE", k, abs(lo) % 30, val)
        elif op == 3:
            cmd = ("APPEND", k, val)
        elif op == 4:
            cmd = ("SETBIT", k, rng.randrange(300), rng.randrange(2))
        elif op == 5:
            cmd = ("GETBIT", k, rng.randrange(400))
        elif op == 6:
            cmd = ("BITCOUNT", k) + rng.choice([(), (lo, hi), (lo, hi, "BIT"), (lo, hi, "BYTE")])
        elif op == 7:
            cmd = ("BITPOS", k, rng.randrange(2)) + rng.choice(
                [(), (lo,), (lo, hi), (lo, hi, "BIT"), (lo, hi, "BYTE")])
        elif op == 8:
            cmd = ("LCS", k, rng.choice(keys)) + rng.choice(
                [(), ("LEN",), ("IDX",), ("IDX", "WITHMATCHLEN", "MINMATCHLEN", rng.randrange(4))])
        elif op == 9:
            cmd = ("STRLEN", k)
        else:
            cmd = ("GET", k)
        same(rd, gk, [cmd], note="seed %d step %d " % (seed, step))
        if len(FAILS) > 20:
            return


def main():
    rport, gport, maxv = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else random.randrange(1 << 30)
    print("strings_diff seed %d (rerun: strings_diff.py R G MAXV %d)" % (seed, seed))
    rd, gk = Conn(rport), Conn(gport)
    fixed_cases(rd, gk, maxv)
    expiry_cases(rd, gk)
    limit_cases(rd, gk, maxv)
    counter_random(rd, gk, seed, counter_cases(rd, gk))
    random_cases(rd, gk, seed)
    for f in FAILS[:40]:
        print("DIFF " + f)
    print("%d cases, %d differences" % (CASES, len(FAILS)))
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
