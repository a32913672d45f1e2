#!/usr/bin/env bash
# test_rejoin.sh: a restarted node finds its cluster again (issue 22).
# n1 is started without --join (everyone's seed); n2 and n3 join through it.
# n1 restarted without --join after SIGKILL, after SIGTERM (its peers hold it
# `left` and never contact it: only <data>/peers brings it back), in a full
# rolling restart, with --no-rejoin, and with its peers file corrupted or
# truncated (it says so and falls back to --join). Each time it must be
# alive in every peer's MEMBERS and hold the writes made while it was down.
# Left alone at the end, it warns that it knows no live member.
# Ports 24100-24199.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 24100 24200 6) || { fail "no free ports in 24100-24199"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
G=() C=() P=()
for i in 1 2 3; do G[$i]=$((BASE + 2 * i - 2)); C[$i]=$((BASE + 2 * i - 1)); done
common=(--key-file "$TMP/key" --label rejointest "${FAST_GOSSIP[@]}")
JOIN=()
JOIN[1]=""
JOIN[2]="127.0.0.1:${G[1]}"
JOIN[3]="127.0.0.1:${G[1]}"

start() { # start I [extra args]: n$I with its usual --join (none for n1)
  local i=$1; shift
  local j=()
  [ -n "${JOIN[$i]}" ] && j=(--join "${JOIN[$i]}")
  start_node "n$i" "${G[$i]}" "${C[$i]}" "${common[@]}" "${j[@]}" "$@" || fail "n$i starts"
  P[$i]=$LAST_PID
}
gone() { ! kill -0 "$1" 2>/dev/null; }
stop() { # stop I SIGNAL
  kill "-$2" "${P[$1]}"
  wait_until 10 gone "${P[$1]}" || fail "n$1 exits after SIG$2"
  wait "${P[$1]}" 2>/dev/null
}
everyone_sees_alive() { # everyone_sees_alive I: n$I alive in every other node's MEMBERS
  local v
  for v in 1 2 3; do
    [ "$v" = "$1" ] && continue
    state_is "${C[$v]}" "n$1" alive || return 1
  done
  alive_count_is "${C[$1]}" 3
}
WRITES=0
# "Within a few seconds": a JOIN round trip and a rumour's spread (well under
# a second with FAST_GOSSIP), then anti-entropy (sync-interval-ms 1000). Far
# below the 30 s after which the peers' reconnect push to a --join seed they
# hold left may bring a node back by chance.
BACK_S=5
CATCHUP_S=10
# down_and_back I SIGNAL WHAT [extra start args]: stop n$I, write on the
# others while it is down, restart it, check it is back and has the writes.
down_and_back() {
  local i=$1 sig=$2 what=$3; shift 3
  stop "$i" "$sig"
  local o=$((i % 3 + 1))
  if [ "$sig" = TERM ]; then
    check "$what: n$o holds n$i left" wait_until 20 state_is "${C[$o]}" "n$i" left
  fi
  WRITES=$((WRITES + 1))
  check "$what: a write while n$i is down" [ "$(rcli "${C[$o]}" SET "down-$WRITES" "v$WRITES")" = OK ]
  start "$i" "$@"
  local t0=$SECONDS
  check "$what: n$i alive in every peer's MEMBERS within ${BACK_S} s" \
    wait_until "$BACK_S" everyone_sees_alive "$i"
  check "$what: n$i holds the write made while it was down within ${CATCHUP_S} s" \
    wait_until "$CATCHUP_S" get_is "${C[$i]}" "down-$WRITES" "v$WRITES"
  local ms
  ms=$(grep -o 'msg="rejoined the cluster".*alone_ms=[0-9]*' "$TMP/n$i.log" | tail -n 1)
  echo "#   $what: back and caught up in $((SECONDS - t0)) s; first live peer after ${ms##*=} ms"
}

start 1
start 2
start 3
for i in 1 2 3; do
  check "n$i sees 3 alive members" wait_until 20 alive_count_is "${C[$i]}" 3
done
field_is() { [ "$(info_field "$1" cluster "$2")" = "$3" ]; }
check "n1 remembers 2 peers (INFO peers_remembered)" wait_until 10 field_is "${C[1]}" peers_remembered 2
check "n1 wrote its peers file" wait_until 10 test -s "$TMP/n1/peers"
check "the peers file is mode 0600" [ "$(stat -c %a "$TMP/n1/peers")" = 600 ]

down_and_back 1 KILL "SIGKILL"
down_and_back 1 TERM "SIGTERM"
check "SIGTERM: n1 logged the peers it rejoins through" \
  grep -q 'msg="rejoining through remembered peers" count=2' "$TMP/n1.log"
check "INFO rejoin_peers is 2" [ "$(info_field "${C[1]}" cluster rejoin_peers)" = 2 ]
last=$(info_field "${C[1]}" cluster last_rejoin_unix_ms)
check "INFO last_rejoin_unix_ms is set ($last)" [ "${last:-0}" -gt 0 ]

# A full rolling restart: every node stopped gracefully and restarted in turn.
for i in 1 2 3; do
  down_and_back "$i" TERM "rolling restart of n$i"
done

# --no-rejoin: started deliberately alone, the file is still kept and written.
stop 1 TERM
start 1 --no-rejoin
check "--no-rejoin: logged" grep -q 'msg="not rejoining through remembered peers (no-rejoin)"' "$TMP/n1.log"
check "--no-rejoin: INFO rejoin_peers is 0" [ "$(info_field "${C[1]}" cluster rejoin_peers)" = 0 ]
check "--no-rejoin: n1 still remembers its 2 peers" \
  [ "$(info_field "${C[1]}" cluster peers_remembered)" = 2 ]
# n1 itself sends no JOIN (no --join, remembered peers skipped). Whether it
# stays alone is not its choice: n2 and n3 have n1 as their seed, and every
# reconnect interval they push their state to a seed that is not live.
check "--no-rejoin: n1 sent no JOIN" [ "$(info_field "${C[1]}" gossip joins_sent)" = 0 ]
# ...and the next ordinary restart finds the cluster through the kept file.
down_and_back 1 TERM "restart after --no-rejoin"

# A corrupt or truncated file: n1 says so and falls back to --join.
JOIN[1]="127.0.0.1:${G[2]}"
stop 1 TERM
python3 - "$TMP/n1/peers" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(bytes(b))
EOF
WRITES=$((WRITES + 1))
check "corrupt file: a write while n1 is down" [ "$(rcli "${C[2]}" SET "down-$WRITES" "v$WRITES")" = OK ]
: >"$TMP/n1.log"
start 1
check "corrupt file: n1 says its peers file is unreadable" \
  grep -q 'msg="peers file unreadable: not rejoining through it"' "$TMP/n1.log"
check "corrupt file: INFO peers_file is unreadable" \
  [ "$(info_field "${C[1]}" cluster peers_file)" = unreadable ]
check "corrupt file: n1 alive in every peer's MEMBERS (through --join)" \
  wait_until 20 everyone_sees_alive 1
check "corrupt file: n1 holds the write" wait_until 20 get_is "${C[1]}" "down-$WRITES" "v$WRITES"
wrote_file() { [ "$(info_field "${C[1]}" cluster peers_file_writes)" -ge 1 ]; }
check "corrupt file: replaced by a good one (INFO peers_file_writes)" wait_until 10 wrote_file

stop 1 TERM
size=$(stat -c %s "$TMP/n1/peers")
truncate -s $((size / 2)) "$TMP/n1/peers"
: >"$TMP/n1.log"
down_and_back_truncated() {
  WRITES=$((WRITES + 1))
  check "truncated file: a write while n1 is down" [ "$(rcli "${C[3]}" SET "down-$WRITES" "v$WRITES")" = OK ]
  start 1
  check "truncated file: n1 says its peers file is unreadable" \
    grep -q 'msg="peers file unreadable: not rejoining through it".*truncated' "$TMP/n1.log"
  check "truncated file: n1 alive in every peer's MEMBERS (through --join)" \
    wait_until 20 everyone_sees_alive 1
  check "truncated file: n1 holds the write" wait_until 20 get_is "${C[1]}" "down-$WRITES" "v$WRITES"
}
down_and_back_truncated

# Alone with somewhere to join: n1 warns, once per interval (10 s).
stop 2 TERM
stop 3 TERM
check "n1 sees its peers leave" wait_until 10 alive_count_is "${C[1]}" 1
check "alone: n1 warns that it knows no live member" \
  wait_until 15 grep -q 'msg="this node knows no live member: writes reach no one"' "$TMP/n1.log"
check "alone: one warning so far, not one per second" \
  [ "$(grep -c 'knows no live member' "$TMP/n1.log")" = 1 ]

summary
