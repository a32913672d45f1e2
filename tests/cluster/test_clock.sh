#!/usr/bin/env bash
# test_clock.sh: clocks. The experiment-only clock offset (clock-offset-control
# and CLOCKOFFSET) shifts the wall time a node hands to its HLC; a production
# node refuses the command. Then issue 21's three cases on three real nodes,
# one of them skewed +5 s, +30 s and -30 s in turn: the skewed node's offset
# shows in INFO, a node ahead refuses writes with -CLOCKSKEW (nothing
# acknowledged is stranded), a node behind takes its peers' versions, a
# later write beats an earlier one, and after the clock is corrected the
# node writes again. Each case prints a row of the issue's table.
# Ports 22700-22799.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 22700 22800 11) || { fail "no free ports in 22700-22799"; summary; }
G1=$BASE C1=$((BASE + 1)) G2=$((BASE + 2)) C2=$((BASE + 3)) G3=$((BASE + 4)) C3=$((BASE + 5))
G4=$((BASE + 6)) C4=$((BASE + 7)) G5=$((BASE + 8)) C5=$((BASE + 9))

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
rcli "$C2" CLOCKOFFSET SET 0 >/dev/null

# --- three nodes, n3 skewed (the two nodes above are stopped first)
for k in 0 1; do kill -TERM "${PIDS[$k]}" 2>/dev/null; wait "${PIDS[$k]}" 2>/dev/null; PIDS[$k]=""; done
start_node n1 "$G3" "$C3" --insecure "${FAST_GOSSIP[@]}" || fail "n1 starts"
start_node n2 "$G4" "$C4" --insecure "${FAST_GOSSIP[@]}" --join "127.0.0.1:$G3" || fail "n2 starts"
M3=$((BASE + 10))
start_node n3 "$G5" "$C5" --insecure "${FAST_GOSSIP[@]}" --join "127.0.0.1:$G3" \
  --clock-offset-control --metrics "127.0.0.1:$M3" || fail "n3 starts"
# metric NAME: its value on n3's Prometheus page.
metric() {
  python3 - "http://127.0.0.1:$M3/metrics" "$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    for ln in r.read().decode().splitlines():
        if ln.split(" ")[0] == sys.argv[2]:
            print(ln.split(" ")[1])
EOF
}
N1=$C3 N2=$C4 N3=$C5
check "three nodes alive" wait_until 30 bash -c "$(declare -f rcli alive_count alive_count_is); \
  alive_count_is $N1 3 && alive_count_is $N2 3 && alive_count_is $N3 3"
offset_of() { info_field "$1" cluster clock_offset_ms; }
# offset_near PORT MS: INFO clock_offset_ms within 100 ms of MS.
offset_near() { local o; o=$(offset_of "$1"); [ -n "$o" ] && [ $((o - $2)) -le 100 ] && [ $(($2 - o)) -le 100 ]; }
peers_measured_is() { [ "$(info_field "$1" cluster clock_peers_measured)" = "$2" ]; }
check "every node measured both peers" \
  wait_until 20 bash -c "$(declare -f rcli info_field peers_measured_is); \
    peers_measured_is $N1 2 && peers_measured_is $N2 2 && peers_measured_is $N3 2"
check "offsets start near 0" bash -c "$(declare -f rcli info_field offset_of offset_near); \
  offset_near $N1 0 && offset_near $N2 0 && offset_near $N3 0"
check "CLOCK lists two measured peers" [ "$(rcli "$N1" CLOCK | grep -c '^n[23]$')" = 2 ]

all_get_is() { get_is "$N1" "$1" "$2" && get_is "$N2" "$1" "$2" && get_is "$N3" "$1" "$2"; }
TABLE=()
clock_case() { # clock_case SKEW_MS LABEL
  local skew=$1 label=$2
  check "$label: CLOCKOFFSET SET $skew" [ "$(rcli "$N3" CLOCKOFFSET SET "$skew")" = "OK" ]
  check "$label: INFO clock_offset_ms on the skewed node reaches $skew" \
    wait_until 20 offset_near "$N3" "$skew"
  check "$label: the offset is a Prometheus gauge (gossipkv_cluster_clock_offset_seconds)" \
    python3 -c "import sys; sys.exit(abs(float('$(metric gossipkv_cluster_clock_offset_seconds)') - $skew / 1000) > 0.1)"
  check "$label: the healthy nodes' offsets stay near 0" bash -c "$(declare -f rcli info_field offset_of offset_near); \
    offset_near $N1 0 && offset_near $N2 0"
  local r_sk r_fresh
  r_sk=$(rcli "$N3" SET "shared$skew" skewed)
  sleep 0.6 # the scenario: the healthy write comes more than the bound (500 ms) later
  check "$label: the later write on a healthy node is acknowledged" \
    [ "$(rcli "$N1" SET "shared$skew" healthy)" = "OK" ]
  r_fresh=$(rcli "$N3" SET "fresh-skewed$skew" x)
  rcli "$N1" SET "fresh-healthy$skew" x >/dev/null
  if [ "$skew" -gt 500 ]; then
    local s; s=$(python3 -c "print('%.1f' % ($skew / 1000))")
    check "$label: the skewed node refuses the write with -CLOCKSKEW" \
      grep -q "^CLOCKSKEW this node's clock is $s s ahead of the cluster (bound 500 ms); writes refused until it is corrected" <<<"$r_sk"
    check "$label: ... the fresh key too" grep -q "^CLOCKSKEW" <<<"$r_fresh"
    check "$label: the error is logged" grep -q 'level=error msg="clock offset past the bound"' "$TMP/n3.log"
  else
    check "$label: the skewed node acknowledges writes ($r_sk)" [ "$r_sk" = "OK" -a "$r_fresh" = "OK" ]
    check "$label: ... its fresh key reaches every node" wait_until 20 all_get_is "fresh-skewed$skew" x
  fi
  check "$label: every node ends with the later write" wait_until 20 all_get_is "shared$skew" healthy
  check "$label: the healthy node's fresh key reaches every node (the skewed one too)" \
    wait_until 20 all_get_is "fresh-healthy$skew" x
  local refused; refused=$(info_field "$N3" cluster clock_writes_refused)
  TABLE+=("| $label | skewed node: INFO clock_offset_ms $(offset_of "$N3"), writes: ${r_sk%%;*}; shared key on n2: $(rcli "$N2" GET "shared$skew"), on the skewed node: $(rcli "$N3" GET "shared$skew") (the later write is healthy); healthy fresh key on the skewed node: $(rcli "$N3" GET "fresh-healthy$skew"); clock_writes_refused $refused |")
  check "$label: CLOCKOFFSET SET 0 (the clock is corrected)" [ "$(rcli "$N3" CLOCKOFFSET SET 0)" = "OK" ]
  check "$label: the offset returns near 0" wait_until 20 offset_near "$N3" 0
  check "$label: the node writes again by itself" [ "$(rcli "$N3" SET "after$skew" ok)" = "OK" ]
  check "$label: ... and that write reaches every node" wait_until 20 all_get_is "after$skew" ok
}
clock_case 5000 "+5 s"
clock_case 30000 "+30 s"
clock_case -30000 "-30 s"
check "the skewed node stayed alive in every view" bash -c "$(declare -f rcli member_state state_is); \
  state_is $N1 n3 alive && state_is $N2 n3 alive"
echo "| skew of one node | what happens now |"
echo "|---|---|"
printf '%s\n' "${TABLE[@]}"

summary
