#!/usr/bin/env bash
# test_counter.sh: counters that converge (docs/ARCHITECTURE.md, "Counters"),
# on real processes. Three nodes take INCR, INCRBY and DECR on the same keys
# at once; then n3 is cut off (restarted under another cluster label, so
# every packet between it and n1/n2 fails to open: a partition both ways)
# and both sides keep incrementing; then n3 comes back under the cluster's
# label on its data directory. Every node must end at the sum of every
# acknowledged increment: under last-writer-wins one side's would be lost.
# Ports 26100-26199.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 26100 26200 6) || { fail "no free ports in 26100-26199"; summary; }
G1=$BASE C1=$((BASE + 1)) G2=$((BASE + 2)) C2=$((BASE + 3)) G3=$((BASE + 4)) C3=$((BASE + 5))
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
common=(--key-file "$TMP/key" "${FAST_GOSSIP[@]}")
start_node n1 "$G1" "$C1" "${common[@]}" --label ctr || fail "n1 starts"
start_node n2 "$G2" "$C2" "${common[@]}" --label ctr --join "127.0.0.1:$G1" || fail "n2 starts"
start_node n3 "$G3" "$C3" "${common[@]}" --label ctr --join "127.0.0.1:$G1" || fail "n3 starts"
N3=$LAST_PID
for c in "$C1" "$C2" "$C3"; do
  check "node on $c sees three members alive" wait_until 20 alive_count_is "$c" 3
done

# incr_load PORT ROUNDS: ROUNDS x (INCR hits, INCRBY hits 5, DECR hits,
# INCRBY stock -2) through one redis-cli; prints the replies. Each round
# adds 5 to hits and -2 to stock.
incr_load() {
  local port=$1 rounds=$2
  for _ in $(seq "$rounds"); do
    printf 'INCR hits\nINCRBY hits 5\nDECR hits\nINCRBY stock -2\n'
  done | timeout 60 redis-cli -h 127.0.0.1 -p "$port" >"$TMP/load.$port.$3" 2>&1
}
# acked FILE: the number of integer replies (acknowledged increments).
acked() { grep -cE '^-?[0-9]+$' "$1"; }
reads() { # reads PORT KEY WANT: GET answers WANT
  [ "$(rcli "$1" GET "$2")" = "$3" ]
}
all_read() { # all_read KEY WANT PORT...
  local key=$1 want=$2; shift 2
  local p
  for p in "$@"; do reads "$p" "$key" "$want" || return 1; done
}

# --- 1. three nodes at once, connected ------------------------------------
R=200
incr_load "$C1" $R a & l1=$!
incr_load "$C2" $R a & l2=$!
incr_load "$C3" $R a & l3=$!
wait "$l1" "$l2" "$l3"
total=0
for c in "$C1" "$C2" "$C3"; do total=$((total + $(acked "$TMP/load.$c.a"))); done
check "every increment acknowledged ($total of $((12 * R)))" [ "$total" = $((12 * R)) ]
check "all three nodes count every increment of all three (hits $((15 * R)))" \
  wait_until 20 all_read hits $((15 * R)) "$C1" "$C2" "$C3"
check "stock too ($((-6 * R)))" wait_until 20 all_read stock $((-6 * R)) "$C1" "$C2" "$C3"

# --- 2. a partition: n3 alone under another label ------------------------------
kill -TERM "$N3"
wait_gone() { ! kill -0 "$1" 2>/dev/null; }
check "n3 stops" wait_until 10 wait_gone "$N3"
start_node n3 "$G3" "$C3" "${common[@]}" --label other --join "127.0.0.1:$G1" || fail "n3 restarts apart"
N3=$LAST_PID
n3_apart() { ! state_is "$C1" n3 alive && [ "$(alive_count "$C3")" = 1 ]; }
check "n1 does not see n3 alive, n3 sees only itself (partitioned)" wait_until 30 n3_apart
incr_load "$C1" 100 b & l1=$!
incr_load "$C2" 100 b & l2=$!
incr_load "$C3" 150 b & l3=$!
wait "$l1" "$l2" "$l3"
side12=$((15 * R + 5 * 200))
check "n1 and n2 count their side ($side12)" wait_until 20 all_read hits "$side12" "$C1" "$C2"
check "n3 counts its own side ($((15 * R + 5 * 150)))" reads "$C3" hits $((15 * R + 5 * 150))
sleep_check() { ! all_read hits "$side12" "$C3"; }
check "n3 has not seen the other side" sleep_check

# --- 3. heal: n3 back under the cluster's label, on its data ------------------
kill -TERM "$N3"
check "n3 stops again" wait_until 10 wait_gone "$N3"
start_node n3 "$G3" "$C3" "${common[@]}" --label ctr --join "127.0.0.1:$G1" || fail "n3 rejoins"
want=$((15 * R + 5 * 350))
check "after the heal every node counts both sides (hits $want)" \
  wait_until 40 all_read hits "$want" "$C1" "$C2" "$C3"
check "stock too ($((-6 * R - 2 * 350)))" \
  wait_until 20 all_read stock $((-6 * R - 2 * 350)) "$C1" "$C2" "$C3"
# A SET on one node resets what it saw; the key then counts on from it.
check "SET on n2" [ "$(rcli "$C2" SET hits 1000)" = OK ]
check "every node reads the SET" wait_until 20 all_read hits 1000 "$C1" "$C2" "$C3"
check "INCR on n1 after it" [ "$(rcli "$C1" INCR hits)" = 1001 ]
check "every node reads 1001" wait_until 20 all_read hits 1001 "$C1" "$C2" "$C3"
summary
