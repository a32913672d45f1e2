#!/usr/bin/env bash
# test_client_limits.sh: hostile clients against the client limits, with the
# node's memory read from /proc (hostile.py). A reply is cut at
# client-output-buffer-limit while it is built. Ports 21700-21799.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21700 21800 6) || { fail "no free ports in 21700-21799"; summary; }
HOSTILE="python3 $(dirname "$0")/hostile.py"

start_node replies "$BASE" $((BASE + 1)) --insecure --client-output-buffer-limit 1mb \
  --max-value-bytes 256kb || fail "node starts"
check "replies are cut at the output limit while built (MGET, KEYS, SCAN)" \
  $HOSTILE $((BASE + 1)) "$LAST_PID" reply_limit
check "the node still answers" ping_ok $((BASE + 1))

summary
