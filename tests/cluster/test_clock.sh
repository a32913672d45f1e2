#!/usr/bin/env bash
# test_clock.sh: clocks. The experiment-only clock offset (clock-offset-control
# and CLOCKOFFSET) shifts the wall time a node hands to its HLC; a production
# node refuses the command. Ports 22700-22799.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 22700 22800 6) || { fail "no free ports in 22700-22799"; summary; }
G1=$BASE C1=$((BASE + 1)) G2=$((BASE + 2)) C2=$((BASE + 3)) G3=$((BASE + 4)) C3=$((BASE + 5))

now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }
# version_ms PORT KEY: the ms part of the key's HLC on that node.
version_ms() { rcli "$1" VERSION "$2" | sed -n 4p; }
version_hlc() { rcli "$1" VERSION "$2" | sed -n 2p; }

# --- the experiment-only clock offset
start_node plain "$G1" "$C1" --insecure || fail "node plain starts"
out=$(rcli "$C1" CLOCKOFFSET SET 30000)
check "CLOCKOFFSET is refused unless enabled at start" \
  grep -q "start the node with --clock-offset-control" <<<"$out"
check "CONFIG GET clock-offset-control says no" \
  [ "$(rcli "$C1" CONFIG GET clock-offset-control | tail -1)" = "no" ]
start_node skew "$G2" "$C2" --insecure --clock-offset-control || fail "node skew starts"
check "CLOCKOFFSET GET starts at 0" [ "$(rcli "$C2" CLOCKOFFSET GET)" = "0" ]
check "CLOCKOFFSET SET 30000" [ "$(rcli "$C2" CLOCKOFFSET SET 30000)" = "OK" ]
check "CLOCKOFFSET GET reads it back" [ "$(rcli "$C2" CLOCKOFFSET GET)" = "30000" ]
t0=$(now_ms)
rcli "$C2" SET k v >/dev/null
lead=$(( $(version_ms "$C2" k) - t0 ))
hlc1=$(version_hlc "$C2" k)
check "a write is stamped 30 s ahead (lead ${lead} ms)" test "$lead" -ge 30000 -a "$lead" -lt 32000
check "CLOCKOFFSET SET -30000" [ "$(rcli "$C2" CLOCKOFFSET SET -30000)" = "OK" ]
rcli "$C2" SET k v2 >/dev/null
check "after a jump back the HLC still moves forward (no version below the last)" \
  test "$(version_hlc "$C2" k)" -gt "$hlc1"
check "a bad CLOCKOFFSET argument is refused" \
  grep -q "usage: CLOCKOFFSET" <<<"$(rcli "$C2" CLOCKOFFSET SET soon)"

summary
