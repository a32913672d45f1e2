#!/usr/bin/env bash
# test_replication.sh: three nodes on loopback join through one seed; a SET
# on any node is readable on the other two within a bound, DEL propagates,
# MSET and overwrites converge, and all three end with the same root hash.
# Ports 21300-21399.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21300 21400 6) || { fail "no free ports in 21300-21399"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
G=() C=()
for i in 1 2 3; do G[$i]=$((BASE + 2 * i - 2)); C[$i]=$((BASE + 2 * i - 1)); done
common=(--key-file "$TMP/key" --label reptest "${FAST_GOSSIP[@]}")
start_node n1 "${G[1]}" "${C[1]}" "${common[@]}" || fail "n1 starts"
start_node n2 "${G[2]}" "${C[2]}" "${common[@]}" --join "127.0.0.1:${G[1]}" || fail "n2 starts"
start_node n3 "${G[3]}" "${C[3]}" "${common[@]}" --join "127.0.0.1:${G[1]}" || fail "n3 starts"

for i in 1 2 3; do
  check "n$i sees 3 alive members" wait_until 20 alive_count_is "${C[$i]}" 3
done

check "SET on n1" [ "$(rcli "${C[1]}" SET greeting hello)" = "OK" ]
check "n2 reads n1's write" wait_until 10 get_is "${C[2]}" greeting hello
check "n3 reads n1's write" wait_until 10 get_is "${C[3]}" greeting hello
check "SET on n3" [ "$(rcli "${C[3]}" SET from3 x3)" = "OK" ]
check "n1 reads n3's write" wait_until 10 get_is "${C[1]}" from3 x3
check "n2 reads n3's write" wait_until 10 get_is "${C[2]}" from3 x3
check "overwrite on n2" [ "$(rcli "${C[2]}" SET greeting bonjour)" = "OK" ]
check "n1 sees the overwrite" wait_until 10 get_is "${C[1]}" greeting bonjour
check "n3 sees the overwrite" wait_until 10 get_is "${C[3]}" greeting bonjour
check "DEL on n3" [ "$(rcli "${C[3]}" DEL greeting)" = "1" ]
check "n1 sees the delete" wait_until 10 get_is "${C[1]}" greeting ""
check "n2 sees the delete" wait_until 10 get_is "${C[2]}" greeting ""
check "VERSION on n1 shows n3's tombstone" \
  bash -c "redis-cli -p ${C[1]} VERSION greeting | tr '\n' ' ' | grep -q 'origin_name n3 tombstone 1'"
# A burst: 500 keys through MSET on n2 reach everyone.
args=()
for k in $(seq 1 500); do args+=("bulk:$k" "v$k"); done
check "MSET of 500 keys on n2" [ "$(rcli "${C[2]}" MSET "${args[@]}")" = "OK" ]
dbsize_is() { [ "$(rcli "$1" DBSIZE)" = "$2" ]; }
check "n1 holds all 501 keys" wait_until 20 dbsize_is "${C[1]}" 501
check "n3 holds all 501 keys" wait_until 20 dbsize_is "${C[3]}" 501
# A value too big for a datagram crosses by TCP sync stream.
head -c 1048576 /dev/zero | tr '\0' v >"$TMP/big"
check "SET of a 1 MiB value on n1" bash -c "redis-cli -p ${C[1]} -x SET big <'$TMP/big' | grep -qx OK"
big_on() { [ "$(rcli "$1" GET big | wc -c)" = 1048577 ]; }
check "n2 holds the 1 MiB value" wait_until 30 big_on "${C[2]}"
check "n3 holds the 1 MiB value" wait_until 30 big_on "${C[3]}"
check "it travelled over a sync stream" [ "$(info_field "${C[1]}" gossip stream_frames_out)" -gt 0 ]
root() { info_field "$1" storage root_hash; }
same_roots() { [ "$(root "${C[1]}")" = "$(root "${C[2]}")" ] && [ "$(root "${C[2]}")" = "$(root "${C[3]}")" ]; }
check "all three converge to one root hash" wait_until 20 same_roots
check "INFO gossip counts deltas" [ "$(info_field "${C[1]}" gossip deltas_received)" -gt 0 ]

summary
