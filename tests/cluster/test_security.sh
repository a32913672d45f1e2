#!/usr/bin/env bash
# test_security.sh: sealed gossip keeps outsiders out. A node with the wrong
# key, one with the wrong cluster label and one running --insecure cannot
# join, and the members count their packets as refused (INFO gossip).
# Then a live key rotation (KEYRING INSTALL/USE/REMOVE on every node) and a
# SIGHUP reload keep the cluster working. Ports 21500-21599.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21500 21600 10) || { fail "no free ports in 21500-21599"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
"$BIN" keygen >"$TMP/otherkey" && chmod 600 "$TMP/otherkey"
G=() C=() P=()
for i in 1 2 3 4 5; do G[$i]=$((BASE + 2 * i - 2)); C[$i]=$((BASE + 2 * i - 1)); done
seed="127.0.0.1:${G[1]}"
# KEYRING is an admin command: n1 and n2 have an admin password.
start_node n1 "${G[1]}" "${C[1]}" --key-file "$TMP/key" --label sec --admin-password adm "${FAST_GOSSIP[@]}" || fail "n1 starts"
start_node n2 "${G[2]}" "${C[2]}" --key-file "$TMP/key" --label sec --admin-password adm "${FAST_GOSSIP[@]}" --join "$seed" || fail "n2 starts"
P[2]=$LAST_PID
check "n1 and n2 form a cluster" wait_until 20 alive_count_is "${C[1]}" 2

start_node wrongkey "${G[3]}" "${C[3]}" --key-file "$TMP/otherkey" --label sec "${FAST_GOSSIP[@]}" --join "$seed" || fail "wrongkey starts"
start_node wronglabel "${G[4]}" "${C[4]}" --key-file "$TMP/key" --label other "${FAST_GOSSIP[@]}" --join "$seed" || fail "wronglabel starts"
start_node nokey "${G[5]}" "${C[5]}" --insecure --label sec "${FAST_GOSSIP[@]}" --join "$seed" || fail "nokey starts"
refused() { info_field "${C[1]}" gossip "refused_$1"; }
refused_positive() { [ "$(refused "$1")" -gt 0 ]; }
check "n1 counts the wrong key's packets (unknown_key)" wait_until 15 refused_positive unknown_key
check "n1 counts the wrong label's packets (bad_label)" wait_until 15 refused_positive bad_label
check "n1 counts the insecure node's packets (mode_mismatch)" wait_until 15 refused_positive mode_mismatch
# The outsiders keep trying (each retry is refused and counted again); once
# each has been refused three more times it had its chances to get in.
uk=$(refused unknown_key) bl=$(refused bad_label) mm=$(refused mode_mismatch)
outsiders_refused_again() {
  [ "$(refused unknown_key)" -ge $((uk + 3)) ] && [ "$(refused bad_label)" -ge $((bl + 3)) ] &&
    [ "$(refused mode_mismatch)" -ge $((mm + 3)) ]
}
check "the outsiders keep being refused" wait_until 30 outsiders_refused_again
check "n1 still has exactly 2 members" [ "$(rcli "${C[1]}" MEMBERS | grep -c '^127.0.0.1:')" = "2" ]
check "the wrong-key node knows only itself" [ "$(alive_count "${C[3]}")" = "1" ]
check "the wrong-label node knows only itself" [ "$(alive_count "${C[4]}")" = "1" ]
check "a write on n1 does not reach the wrong-key node" [ "$(rcli "${C[1]}" SET secret s)" = "OK" ]
check "... but reaches n2" wait_until 10 get_is "${C[2]}" secret s
check "the wrong-key node does not have it" [ "$(rcli "${C[3]}" GET secret)" = "" ]

# Live rotation, as Serf: install everywhere, use everywhere, remove everywhere.
radm() { local port=$1; shift; rcli "$port" --user admin --pass adm --no-auth-warning "$@"; }
NEW=$("$BIN" keygen)
OLD=$(head -1 "$TMP/key")
for c in "${C[1]}" "${C[2]}"; do check "KEYRING INSTALL on :$c" [ "$(radm "$c" KEYRING INSTALL "$NEW")" = "OK" ]; done
for c in "${C[1]}" "${C[2]}"; do check "KEYRING USE on :$c" [ "$(radm "$c" KEYRING USE "$NEW")" = "OK" ]; done
for c in "${C[1]}" "${C[2]}"; do check "KEYRING REMOVE on :$c" [ "$(radm "$c" KEYRING REMOVE "$OLD")" = "OK" ]; done
check "writes still spread after the rotation" [ "$(rcli "${C[2]}" SET rotated yes)" = "OK" ]
check "n1 reads it" wait_until 10 get_is "${C[1]}" rotated yes
# Probes answered after the rotation travel under the new key only.
acks=$(info_field "${C[1]}" gossip acks_received)
acks_grew() { [ "$(info_field "${C[1]}" gossip acks_received)" -ge $((acks + 5)) ]; }
check "n2 answers n1's probes under the new key" wait_until 15 acks_grew
check "both stay alive after the rotation" [ "$(alive_count "${C[1]}")" -ge 2 ]

# SIGHUP: n2 re-reads its key file (now holding only a third key).
THIRD=$("$BIN" keygen)
printf '%s\n' "$THIRD" >"$TMP/key" && chmod 600 "$TMP/key"
kill -HUP "${P[2]}"
keyring_is_one_primary() { [ "$(radm "${C[2]}" KEYRING LIST | grep -c primary)" = "1" ] && [ "$(radm "${C[2]}" KEYRING LIST | grep -c installed)" = "0" ]; }
check "SIGHUP: n2 logs the reload" wait_until 5 grep -q "keyring reloaded" "$TMP/n2.log"
check "SIGHUP: n2 holds only the file's key" keyring_is_one_primary
chmod 644 "$TMP/key"
kill -HUP "${P[2]}"
check "SIGHUP with a world-readable key file is refused and logged" wait_until 5 grep -q "keyring reload failed" "$TMP/n2.log"
check "n2 keeps serving" ping_ok "${C[2]}"

summary
