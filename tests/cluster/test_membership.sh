#!/usr/bin/env bash
# test_membership.sh: failure detection and recovery with real processes.
# SIGKILL one node: the others mark it dead; writes made meanwhile reach it
# when it restarts on its data (it rejoins alive with a higher incarnation);
# SIGTERM one node: the others see it as left. Ports 21400-21499.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21400 21500 6) || { fail "no free ports in 21400-21499"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
G=() C=() P=()
for i in 1 2 3; do G[$i]=$((BASE + 2 * i - 2)); C[$i]=$((BASE + 2 * i - 1)); done
common=(--key-file "$TMP/key" --label memtest "${FAST_GOSSIP[@]}")
seeds="127.0.0.1:${G[1]},127.0.0.1:${G[2]}"
start_node n1 "${G[1]}" "${C[1]}" "${common[@]}" || fail "n1 starts"; P[1]=$LAST_PID
start_node n2 "${G[2]}" "${C[2]}" "${common[@]}" --join "$seeds" || fail "n2 starts"; P[2]=$LAST_PID
start_node n3 "${G[3]}" "${C[3]}" "${common[@]}" --join "$seeds" || fail "n3 starts"; P[3]=$LAST_PID
for i in 1 2 3; do
  check "n$i sees 3 alive members" wait_until 20 alive_count_is "${C[$i]}" 3
done
check "a write before the crash" [ "$(rcli "${C[1]}" SET before-crash 1)" = "OK" ]
check "n3 has it" wait_until 10 get_is "${C[3]}" before-crash 1
epoch_before=$(cat "$TMP/n3/epoch")
inc_before=$(rcli "${C[1]}" MEMBERS | awk '{ l[NR] = $0 } END { for (i = 1; i + 3 <= NR; i += 4) if (l[i] == "n3") print l[i + 3] }')

kill -KILL "${P[3]}"
wait "${P[3]}" 2>/dev/null
check "n1 marks the killed n3 dead" wait_until 30 state_is "${C[1]}" n3 dead
check "n2 marks the killed n3 dead" wait_until 30 state_is "${C[2]}" n3 dead
check "deaths are counted in INFO cluster" [ "$(info_field "${C[1]}" cluster members_dead)" = "1" ]
check "a write while n3 is down" [ "$(rcli "${C[2]}" SET while-down 2)" = "OK" ]
check "a delete while n3 is down" [ "$(rcli "${C[1]}" DEL before-crash)" = "1" ]

start_node n3 "${G[3]}" "${C[3]}" "${common[@]}" --join "$seeds" || fail "n3 restarts on its data"
P[3]=$LAST_PID
check "n1 sees the restarted n3 alive" wait_until 30 state_is "${C[1]}" n3 alive
check "n3 sees n1 and n2 alive" wait_until 30 alive_count_is "${C[3]}" 3
check "n3 caught up on the write it missed" wait_until 30 get_is "${C[3]}" while-down 2
check "n3 caught up on the delete it missed" wait_until 30 get_is "${C[3]}" before-crash ""
inc_after=$(rcli "${C[1]}" MEMBERS | awk '{ l[NR] = $0 } END { for (i = 1; i + 3 <= NR; i += 4) if (l[i] == "n3") print l[i + 3] }')
check "the restarted n3 has a higher incarnation ($inc_before -> $inc_after)" \
  [ "${inc_after:-0}" -gt "${inc_before:-0}" ]
epoch_after=$(cat "$TMP/n3/epoch")
check "the seal epoch grew across the restart ($epoch_before -> $epoch_after)" \
  python3 -c 'import sys; sys.exit(int(sys.argv[1]) <= int(sys.argv[2]))' "$epoch_after" "$epoch_before"

kill -TERM "${P[2]}"
check "SIGTERM: n2 exits 0" bash -c "for _ in \$(seq 1 100); do kill -0 ${P[2]} 2>/dev/null || break; sleep 0.1; done; ! kill -0 ${P[2]} 2>/dev/null"
wait "${P[2]}"; rc=$?
check "SIGTERM: exit status 0" [ "$rc" = "0" ]
check "n1 sees n2 as left" wait_until 20 state_is "${C[1]}" n2 left
check "n3 sees n2 as left" wait_until 20 state_is "${C[3]}" n2 left
check "n2 logged a clean store close" grep -q "store closed cleanly" "$TMP/n2.log"
check "gossipkv inspect accepts n2's data directory" "$BIN" inspect "$TMP/n2"

summary
