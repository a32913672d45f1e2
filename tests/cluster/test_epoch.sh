#!/usr/bin/env bash
# test_epoch.sh: seal nonces stay unique when <data>/epoch is lost, rolled
# back or copied (docs/ENVELOPE.md, "Epoch"). Real processes: a node is
# restarted on its data directory after each of those, and two nodes started
# from one copied directory send their sealed packets to a python UDP socket
# that records the nonce fields (header bytes 12..36: sender, epoch,
# counter); no nonce may appear twice. Ports 23700-23799.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 23700 23800 6) || { fail "no free ports in 23700-23799"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
GA=$BASE CA=$((BASE + 1)) GB=$((BASE + 2)) CB=$((BASE + 3)) SINK=$((BASE + 4))

stop_pid() { # stop_pid PID: SIGTERM, then wait (bounded) for it to exit
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  return 1
}
epoch_of() { info_field "$1" server seal_epoch; }
# run_a [args...]: start node a, remember its epoch in EPOCH, stop it.
run_a() {
  EPOCH=""
  start_node a "$GA" "$CA" --key-file "$TMP/key" "$@" || return 1
  EPOCH=$(epoch_of "$CA")
  stop_pid "$LAST_PID"
}
# start_refused WHAT args...: gossipkv serve exits non-zero and says WHAT.
start_refused() {
  local what=$1; shift
  timeout 20 "$BIN" serve --name a --data "$TMP/a" --gossip "127.0.0.1:$GA" \
    --client "127.0.0.1:$CA" --key-file "$TMP/key" "$@" >"$TMP/refused.out" 2>&1
  local rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q -- "$what" "$TMP/refused.out"
}
seen=()
gt() { python3 -c 'import sys; sys.exit(int(sys.argv[1]) <= int(sys.argv[2]))' "$1" "$2"; } # u64 a > b
fresh_epoch() { # the epoch is new: never seen on this data directory before
  local e
  [ -n "$EPOCH" ] || return 1
  for e in "${seen[@]}"; do [ "$e" != "$EPOCH" ] || return 1; done
  seen+=("$EPOCH")
}

run_a; check "first start takes an epoch" fresh_epoch
check "the epoch file is 0600" [ "$(stat -c %a "$TMP/a/epoch")" = "600" ]
check "the data directory is 0700" [ "$(stat -c %a "$TMP/a")" = "700" ]
check "the store files are 0600" bash -c "! find '$TMP/a' -type f ! -perm 600 | grep -q ."
run_a; check "a restart takes a new, higher epoch" fresh_epoch
check "... higher than the last" gt "${seen[1]}" "${seen[0]}"

# Deleted: refused next to an existing store, with the way out named.
cp -p "$TMP/a/epoch" "$TMP/epoch.saved"
rm "$TMP/a/epoch"
check "a deleted epoch file refuses the start, naming --epoch-reset" \
  start_refused "epoch-reset"
run_a --epoch-reset; check "--epoch-reset starts with an epoch never used before" fresh_epoch

# Rolled back: a backup of the file is restored.
cp -p "$TMP/epoch.saved" "$TMP/a/epoch"
run_a; check "a rolled-back epoch file still gives an unused epoch" fresh_epoch
run_a; check "... and the next start one above it" fresh_epoch
check "... higher than the last" gt "${seen[-1]}" "${seen[-2]}"

# Out of range or not a number: refused, not wrapped.
for bad in 18446744073709551616 99999999999999999999999 -1 " 5" "12x" ""; do
  printf '%s\n' "$bad" >"$TMP/a/epoch"
  check "epoch file '$bad' is refused" start_refused "seal epoch"
done
printf '18446744073709551615\n' >"$TMP/a/epoch"
check "epoch 2^64-1 (seconds past 2106) is refused" start_refused "epoch-reset"
run_a --epoch-reset; check "--epoch-reset recovers from it" fresh_epoch

# A data directory others can enter is used, with a warning naming the fix.
chmod 755 "$TMP/a"
run_a; check "a start on a 0755 data directory works" fresh_epoch
check "... and warns with chmod 700" grep -q 'data directory is accessible by group or others.*chmod 700' "$TMP/a.log"
chmod 700 "$TMP/a"

# Cloned: two nodes from one copied directory (same node id) send to a sink.
cp -a "$TMP/a" "$TMP/b"
python3 - "$SINK" "$TMP/nonces" <<'EOF' &
import socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
s.settimeout(0.5)
seen = {}
deadline = time.time() + 30
while time.time() < deadline and not (len(seen) >= 2 and all(len(v) >= 1 for v in seen.values())):
    try:
        pkt, src = s.recvfrom(65536)
    except socket.timeout:
        continue
    if len(pkt) >= 52:
        seen.setdefault(src[1], []).append(pkt[12:36].hex())
with open(out, "w") as f:
    for src, nonces in seen.items():
        for n in nonces:
            f.write("%d %s\n" % (src, n))
EOF
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_until 5 bash -c "ss -lun | grep -q ':$SINK '"
start_node a "$GA" "$CA" --key-file "$TMP/key" --join "127.0.0.1:$SINK" || fail "node a starts"
PA=$LAST_PID
start_node b "$GB" "$CB" --key-file "$TMP/key" --join "127.0.0.1:$SINK" || fail "clone b starts"
PB=$LAST_PID
for _ in $(seq 1 300); do kill -0 "$SINK_PID" 2>/dev/null || break; sleep 0.1; done
check "the sink heard both clones" [ "$(cut -d' ' -f1 "$TMP/nonces" 2>/dev/null | sort -u | wc -l)" = "2" ]
check "both clones seal with the same node id" \
  [ "$(cut -c1-16 <(cut -d' ' -f2 "$TMP/nonces") | sort -u | wc -l)" = "1" ]
check "... but different epochs" [ "$(epoch_of "$CA")" != "$(epoch_of "$CB")" ]
check "no nonce appears twice" [ -z "$(cut -d' ' -f2 "$TMP/nonces" | sort | uniq -d)" ]
check "the nonces carry the epochs INFO shows" \
  [ "$(cut -d' ' -f2 "$TMP/nonces" | cut -c17-32 | sort -u | tr '\n' ' ')" = \
    "$(printf '%016x\n' "$(epoch_of "$CA")" "$(epoch_of "$CB")" | sort -u | tr '\n' ' ')" ]
stop_pid "$PA"
stop_pid "$PB"
summary
