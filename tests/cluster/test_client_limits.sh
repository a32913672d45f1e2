#!/usr/bin/env bash
# test_client_limits.sh: hostile clients against the client limits, with the
# node's memory read from /proc (hostile.py). A reply is cut at
# client-output-buffer-limit while it is built; an unauthenticated
# connection costs a few KB whatever it sends; slow readers are closed by the
# soft limit and by timeout. Ports 21700-21799.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21700 21800 8) || { fail "no free ports in 21700-21799"; summary; }
HOSTILE="python3 $(dirname "$0")/hostile.py"

start_node replies "$BASE" $((BASE + 1)) --insecure --client-output-buffer-limit 1mb \
  --max-value-bytes 256kb || fail "node starts"
check "replies are cut at the output limit while built (MGET, KEYS, SCAN)" \
  $HOSTILE $((BASE + 1)) "$LAST_PID" reply_limit
check "the node still answers" ping_ok $((BASE + 1))

# Memory is measured: under ASan, freed blocks would sit in its quarantine.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
  start_node locked $((BASE + 2)) $((BASE + 3)) --insecure --requirepass s3cret \
  --maxclients 1000 || fail "locked node starts"
check "an unauthenticated connection costs a few KB, whatever it sends" \
  $HOSTILE $((BASE + 3)) "$LAST_PID" preauth_cost
check "the locked node still answers" ping_ok $((BASE + 3))

start_node slow $((BASE + 4)) $((BASE + 5)) --insecure --max-value-bytes 256kb \
  --client-output-buffer-limit 64mb --client-output-buffer-soft-limit 1mb \
  --client-output-buffer-soft-seconds 1 || fail "slow node starts"
check "a reader over the soft limit for soft-seconds is closed" \
  $HOSTILE $((BASE + 5)) "$LAST_PID" slow_reader
start_node idle $((BASE + 6)) $((BASE + 7)) --insecure --max-value-bytes 256kb \
  --client-output-buffer-soft-limit 0 --timeout 2 || fail "idle node starts"
check "timeout closes a client that never reads its queued replies" \
  $HOSTILE $((BASE + 7)) "$LAST_PID" idle_writer

summary
