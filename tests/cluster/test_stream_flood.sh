#!/usr/bin/env bash
# test_stream_flood.sh: a host without the cluster key (stream_flood.py, from
# 127.0.0.2) opens every sync-stream connection it can to n1 and trickles
# bytes that never finish a frame, reopening whatever n1 closes. Two honest
# nodes must still replicate values too large for a datagram (they cross
# only by TCP sync streams) both ways within a deadline, and n1's INFO must
# show the attacker's streams refused (per-address cap), timed out (first
# frame not authenticated in time) and closed on a bad frame. The attack
# starts before n2 joins, so no stream between the two exists beforehand.
# Ports 22700-22799.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 22700 22800 4) || { fail "no free ports in 22700-22799"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
G1=$BASE C1=$((BASE + 1)) G2=$((BASE + 2)) C2=$((BASE + 3))
common=(--key-file "$TMP/key" --label flood "${FAST_GOSSIP[@]}")
start_node n1 "$G1" "$C1" "${common[@]}" || fail "n1 starts"

python3 "$(dirname "$0")/stream_flood.py" --port "$G1" --source 127.0.0.2 --conns 1100 \
  --rate 400 --seconds 90 --status "$TMP/flood.status" >"$TMP/flood.log" 2>&1 &
PIDS+=("$!")
flood() { awk -F= -v k="$1" '$1 == k { print $2 }' "$TMP/flood.status" 2>/dev/null; }
flood_tried_all() { [ "$(flood attempts)" -ge 1100 ] && [ "$(flood connected)" -ge 1024 ]; }
check "the attacker opened more connections than n1 has stream slots" wait_until 30 flood_tried_all
echo "#   attacker: $(tr '\n' ' ' <"$TMP/flood.status")"

start_node n2 "$G2" "$C2" "${common[@]}" --join "127.0.0.1:$G1" || fail "n2 starts"
check "n1 and n2 see each other" wait_until 20 alive_count_is "$C1" 2
check "n2 sees n1" wait_until 20 alive_count_is "$C2" 2

# 64 KiB values: far over a datagram, so only a sync stream carries them.
head -c 65536 /dev/zero | tr '\0' a >"$TMP/v1"
head -c 65536 /dev/zero | tr '\0' b >"$TMP/v2"
check "SET of a 64 KiB value on n1" bash -c "redis-cli -p $C1 -x SET big1 <'$TMP/v1' | grep -qx OK"
check "SET of a 64 KiB value on n2" bash -c "redis-cli -p $C2 -x SET big2 <'$TMP/v2' | grep -qx OK"
len_is() { [ "$(rcli "$1" GET "$2" | wc -c)" = "$3" ]; } # value + newline
check "n2 holds n1's value (a stream n1 -> n2 worked)" wait_until 20 len_is "$C2" big1 65537
check "n1 holds n2's value (a stream n2 -> n1 worked)" wait_until 20 len_is "$C1" big2 65537

positive() { [ "$(info_field "$C1" gossip "$1")" -gt 0 ] 2>/dev/null; }
check "n1 refused attacker streams over the per-address cap" positive stream_refused_per_addr
# The auth deadline is 2 s from each connect: on a fast run the checks above
# finish before the first one passes, so wait for it.
check "n1 closed attacker streams that did not authenticate in time" \
  wait_until 20 positive stream_auth_timeouts
check "n1 closed attacker streams on a frame that did not open" \
  wait_until 20 positive stream_frames_refused
per_addr=$(info_field "$C1" gossip stream_max_per_addr)
mem=$(info_field "$C1" gossip stream_memory_bytes)
echo "#   n1: streams_open=$(info_field "$C1" gossip streams_open)" \
  "streams_unauthenticated=$(info_field "$C1" gossip streams_unauthenticated)" \
  "stream_memory_bytes=$mem stream_max_per_addr=$per_addr"
# Each stream buffers at most one frame (1 MiB + 64 KiB) plus a read
# chunk before it authenticates: the attacker's share is bounded by the cap.
check "n1's stream memory stays under the cap's worth of frames" \
  [ "$mem" -lt $(( (per_addr + 4) * 1200 * 1024 )) ]
check "the attacker saw its connections closed" [ "$(flood closed_by_peer)" -gt 0 ]

summary
