#!/usr/bin/env bash
# test_strings.sh: the string and keyspace commands (node/strings.c,
# node/keyspace.c). First a differential test: redis-server and a gossipkv
# node get the same command sequences (strings_diff.py) and must answer the
# same. Then a second node checks that what those commands write spreads as
# ordinary writes, and a FLUSHALL of a keyspace larger than one call's
# budget finishes on the tick while newer writes survive it. Last, a third
# node whose clock is skewed ahead refuses these writes (-CLOCKSKEW).
# Ports 25300-25399.
. "$(dirname "$0")/lib.sh"

if ! command -v redis-server >/dev/null; then
  fail "redis-server not found (scripts/deps installs redis-server)"
  summary
fi
BASE=$(pick_base 25300 25400 7) || { fail "no free ports in 25300-25399"; summary; }
R=$BASE G1=$((BASE + 1)) C1=$((BASE + 2)) G2=$((BASE + 3)) C2=$((BASE + 4))
G3=$((BASE + 5)) C3=$((BASE + 6))
MAXV=65536 # small, so the value-limit cases stay quick
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"

mkdir -p "$TMP/redis"
redis-server --port "$R" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP/redis" \
  >"$TMP/redis.log" 2>&1 &
PIDS+=("$!")
check "redis-server starts" wait_until 10 ping_ok "$R"
common=(--key-file "$TMP/key" --label strtest --max-value-bytes "$MAXV" "${FAST_GOSSIP[@]}")
start_node n1 "$G1" "$C1" "${common[@]}" || fail "n1 starts"
start_node n2 "$G2" "$C2" "${common[@]}" --join "127.0.0.1:$G1" || fail "n2 starts"

SEED=${GKV_TEST_SEED:-$RANDOM}
check "same replies as redis-server (strings_diff.py, seed $SEED)" \
  python3 "$(dirname "$0")/strings_diff.py" "$R" "$C1" "$MAXV" "$SEED"

check "n1 and n2 see each other" wait_until 20 alive_count_is "$C2" 2
r1() { rcli "$C1" "$@"; }
r2() { rcli "$C2" "$@"; }
strlen_is() { [ "$(rcli "$1" STRLEN "$2")" = "$3" ]; }
dbsize_is() { [ "$(rcli "$1" DBSIZE)" = "$2" ]; }
exists_is() { [ "$(rcli "$1" EXISTS "$2")" = "$3" ]; }

r1 FLUSHALL >/dev/null
check "n2 is empty after n1's FLUSHALL" wait_until 10 dbsize_is "$C2" 0
check "APPEND on n1" [ "$(r1 APPEND s hello)" = "5" ]
check "APPEND again" [ "$(r1 APPEND s ' world')" = "11" ]
check "n2 reads the appended value" wait_until 10 get_is "$C2" s "hello world"
check "SETRANGE on n2" [ "$(r2 SETRANGE s 6 WORLD)" = "11" ]
check "n1 reads the SETRANGE" wait_until 10 get_is "$C1" s "hello WORLD"
check "SETBIT on n1 grows a value" [ "$(r1 SETBIT bits 8191 1)" = "0" ]
check "n2 sees the 1024-byte value" wait_until 10 strlen_is "$C2" bits 1024
check "n2 GETBIT 8191" [ "$(r2 GETBIT bits 8191)" = "1" ]
check "n2 BITCOUNT" [ "$(r2 BITCOUNT bits)" = "1" ]
check "RENAME on n1" [ "$(r1 RENAME s moved)" = "OK" ]
check "n2 reads the new name" wait_until 10 get_is "$C2" moved "hello WORLD"
check "n2 no longer has the old name" wait_until 10 exists_is "$C2" s 0
check "COPY on n2" [ "$(r2 COPY moved copied)" = "1" ]
check "n1 reads the copy" wait_until 10 get_is "$C1" copied "hello WORLD"
check "GETDEL on n1 returns the value" [ "$(r1 GETDEL copied)" = "hello WORLD" ]
check "n2 sees the GETDEL's delete" wait_until 10 exists_is "$C2" copied 0
check "MSETNX on n2" [ "$(r2 MSETNX m1 a m2 b)" = "1" ]
check "n1 reads MSETNX's keys" wait_until 10 get_is "$C1" m2 b
check "SETNX on n1 of a key n2 wrote answers 0" [ "$(r1 SETNX m1 z)" = "0" ]
check "GETSET on n1" [ "$(r1 GETSET m1 c)" = "a" ]
check "n2 reads GETSET's value" wait_until 10 get_is "$C2" m1 c
check "UNLINK on n2" [ "$(r2 UNLINK m1 m2)" = "2" ]
check "n1 sees the UNLINK" wait_until 10 exists_is "$C1" m2 0
check "DBSIZE counts live keys only (tombstones are not keys)" wait_until 10 dbsize_is "$C1" 2
check "RANDOMKEY returns a live key" bash -c "case \$(redis-cli -p $C1 RANDOMKEY) in bits|moved) exit 0;; esac; exit 1"
check "FLUSHALL on n2" [ "$(r2 FLUSHALL)" = "OK" ]
check "n1 is empty after n2's FLUSHALL" wait_until 10 dbsize_is "$C1" 0
check "RANDOMKEY on an empty node is nil" [ "$(r1 RANDOMKEY)" = "" ]

# A keyspace larger than one FLUSHALL call's budget (NODE_FLUSH_CALL_SLOTS
# = 65536 slots): the rest goes on the tick. Keys written just after the
# FLUSHALL are newer than it and must survive.
NKEYS=150000
python3 - "$NKEYS" >"$TMP/load.resp" <<'EOF'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k, v = b"big:%d" % i, b"v%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
EOF
check "load $NKEYS keys on n1" bash -c "timeout 60 redis-cli -p $C1 --pipe <$TMP/load.resp | grep -q 'errors: 0, replies: $NKEYS'"
check "n1 holds $NKEYS keys" dbsize_is "$C1" "$NKEYS"
check "n2 receives them" wait_until 60 dbsize_is "$C2" "$NKEYS"
check "FLUSHALL ASYNC answers OK" [ "$(r1 FLUSHALL ASYNC)" = "OK" ]
# The rest of the table takes at least (slots - 65536) / 8192 ticks of 10 ms.
check "the flush goes on after the reply" [ "$(info_field "$C1" storage flush_in_progress)" = "1" ]
after=()
for i in $(seq 1 20); do after+=("after:$i" "x$i"); done
check "MSET of 20 newer keys during the flush" [ "$(r1 MSET "${after[@]}")" = "OK" ]
check "n1 ends with only the 20 newer keys" wait_until 60 dbsize_is "$C1" 20
check "flush finished" [ "$(info_field "$C1" storage flush_in_progress)" = "0" ]
check "flush_keys_deleted counts every old key" \
  [ "$(info_field "$C1" storage flush_keys_deleted)" -ge "$NKEYS" ]
check "n2 ends with the same 20 keys" wait_until 60 dbsize_is "$C2" 20
check "a newer key survived on n2" get_is "$C2" after:7 x7

# These commands write through SET/DEL's path, so a node whose clock is
# past the bound ahead of the cluster refuses them like SET (-CLOCKSKEW)
# and writes nothing. A third node, the one skewed, makes the median.
start_node n3 "$G3" "$C3" "${common[@]}" --clock-offset-control \
  --join "127.0.0.1:$G1" || fail "n3 starts"
check "n3 measured both peers' clocks" \
  wait_until 30 bash -c "[ \"\$(redis-cli -p $C3 INFO cluster | tr -d '\r' | grep '^clock_peers_measured:')\" = clock_peers_measured:2 ]"
check "n3 holds the 20 keys" wait_until 30 dbsize_is "$C3" 20
check "CLOCKOFFSET SET 5000 on n3" [ "$(rcli "$C3" CLOCKOFFSET SET 5000)" = "OK" ]
refusing() { [ "$(info_field "$C3" cluster clock_writes_refusing)" = "1" ]; }
check "n3 knows it is ahead" wait_until 20 refusing
for c in "APPEND after:1 y" "SETNX n3key v" "SETRANGE after:1 0 z" "SETBIT after:1 0 1" \
  "GETSET after:1 q" "GETDEL after:1" "MSETNX n3a 1 n3b 2" "RENAME after:1 renamed" \
  "COPY after:1 copy3" "UNLINK after:2" "FLUSHALL" "FLUSHDB ASYNC"; do
  # shellcheck disable=SC2086
  check "skewed n3 refuses $c with -CLOCKSKEW" grep -q '^CLOCKSKEW' <<<"$(rcli "$C3" $c)"
done
check "... and wrote nothing" [ "$(rcli "$C3" GET after:1)" = "x1" ]
check "... nothing at all" dbsize_is "$C3" 20
check "the reads still answer on n3" [ "$(rcli "$C3" STRLEN after:1)" = "2" ]
check "CLOCKOFFSET SET 0 on n3" [ "$(rcli "$C3" CLOCKOFFSET SET 0)" = "OK" ]
not_refusing() { [ "$(info_field "$C3" cluster clock_writes_refusing)" = "0" ]; }
check "n3 writes again once corrected" wait_until 20 not_refusing
check "APPEND on n3 then" [ "$(rcli "$C3" APPEND after:1 y)" = "3" ]
check "n1 reads n3's APPEND" wait_until 10 get_is "$C1" after:1 x1y

summary
