#!/usr/bin/env bash
# test_damaged_log.sh: a write-ahead log damaged in the middle, end to end
# with the real binary. A node with sync=always takes 200 writes and is
# SIGKILLed (the log is their only durable copy); one byte in the middle of
# the log is flipped. Then: `serve` refuses to start, says where and what
# follows, and leaves every file byte for byte; `inspect` reports the
# damage; `inspect --salvage` refuses while a node holds the directory,
# otherwise backs the log up and rewrites it; the node then starts and
# replays it. Ports 24800-24899.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 24800 24900 2) || { fail "no free ports in 24800-24899"; summary; }
G=$BASE C=$((BASE + 1))
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
DATA=$TMP/solo
ARGS=(--key-file "$TMP/key" --sync always)

start_node solo "$G" "$C" "${ARGS[@]}" || fail "node starts"
PID=$LAST_PID
for i in $(seq 0 199); do echo "SET k$i value-$i-abcdefghijklmnopqrstuvwxyz"; done |
  timeout 20 redis-cli -h 127.0.0.1 -p "$C" >/dev/null
check "200 writes acknowledged" [ "$(rcli "$C" DBSIZE)" = "200" ]
kill -KILL "$PID"
for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done

LOG=$(ls "$DATA"/log.*.gkv 2>/dev/null | head -1)
check "the crash left a log" [ -n "$LOG" ]
SIZE=$(stat -c %s "$LOG")
check "the log holds the writes" [ "$SIZE" -gt 15000 ]
# Flip one byte in the middle of the log: a record with good ones after it.
python3 - "$LOG" "$((SIZE / 2))" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x40]))
PY
fingerprint() { (cd "$DATA" && sha256sum $(ls | sort)); }
BEFORE=$(fingerprint)
DAMAGED_SUM=$(sha256sum <"$LOG")

# 1. serve refuses, clearly, and changes nothing.
timeout 20 "$BIN" serve --name solo --data "$DATA" --gossip "127.0.0.1:$G" \
  --client "127.0.0.1:$C" "${ARGS[@]}" >"$TMP/refused.log" 2>&1
RC=$?
check "serve exits with an error (not a timeout)" bash -c "[ $RC -ne 0 ] && [ $RC -ne 124 ]"
check "the error names the log, the offset and what follows" \
  grep -qE "$(basename "$LOG"): record [0-9]+ at offset [0-9]+ is damaged .* and [0-9]+ good records follow it" "$TMP/refused.log"
check "the error names the way out" grep -q "gossipkv inspect --salvage DIR" "$TMP/refused.log"
check "every file is left byte for byte" [ "$(fingerprint)" = "$BEFORE" ]

# 2. inspect reports it.
"$BIN" inspect "$DATA" >"$TMP/inspect.out" 2>&1
check "inspect exits 1" [ $? -eq 1 ]
check "inspect reports the damaged record and what follows" \
  grep -qE "FAULT $(basename "$LOG"): record [0-9]+ at offset [0-9]+ is damaged.*good records \(of [0-9]+\) follow it" "$TMP/inspect.out"
check "inspect says DAMAGED" grep -q "status: *DAMAGED" "$TMP/inspect.out"
check "inspect changes nothing" [ "$(fingerprint)" = "$BEFORE" ]

# 3. salvage: refused under a running process holding the lock.
python3 - "$DATA/LOCK" "$TMP/locked" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
for _ in range(300):
    if not os.path.exists(sys.argv[2]): break
    time.sleep(0.1)
PY
LOCKER=$!
PIDS+=("$LOCKER")
wait_until 10 test -e "$TMP/locked"
"$BIN" inspect --salvage "$DATA" >"$TMP/salvage-locked.out" 2>&1
check "salvage refuses while the directory is locked" [ $? -eq 1 ]
check "it says why" grep -q "held by a running node" "$TMP/salvage-locked.out"
rm -f "$TMP/locked"
wait "$LOCKER"
check "nothing changed under the lock" [ "$(fingerprint)" = "$BEFORE" ]

# 4. salvage: backup, every good record kept.
"$BIN" inspect --salvage "$DATA" >"$TMP/salvage.out" 2>&1
check "salvage exits 0" [ $? -eq 0 ]
check "salvage says what it dropped" grep -qE "dropped: record [0-9]+ at offset" "$TMP/salvage.out"
check "salvage names the backup" grep -q "saved as $(basename "$LOG").damaged-1" "$TMP/salvage.out"
check "the backup is the damaged log, byte for byte" \
  [ "$(sha256sum <"$LOG.damaged-1")" = "$DAMAGED_SUM" ]
"$BIN" inspect "$DATA" >"$TMP/inspect2.out" 2>&1
check "inspect after salvage: healthy" grep -q "status: *healthy" "$TMP/inspect2.out"

# 5. the node starts and has every write: a SIGKILL leaves the mapped table
# in the page cache, so it still holds the damaged record's write (the log
# is what a power loss relies on: tests/unit/test_store_wal.c drops the
# table back to its checkpoint and checks that salvage keeps the rest).
start_node solo "$G" "$C" "${ARGS[@]}" || fail "node starts after salvage"
check "all 200 keys after salvage" [ "$(rcli "$C" DBSIZE)" = "200" ]
check "the node replayed the salvaged log" \
  grep -qE 'msg="store opened".*log_replayed_records=[0-9]{3} log_replay_torn_bytes=0' "$TMP/solo.log"
check "the first write is there" [ "$(rcli "$C" GET k0)" = "value-0-abcdefghijklmnopqrstuvwxyz" ]
check "the last write (after the damage) is there" \
  [ "$(rcli "$C" GET k199)" = "value-199-abcdefghijklmnopqrstuvwxyz" ]
summary
