#!/usr/bin/env bash
# test_loop_stalls.sh: in steady state the event loop makes no blocking
# disk call (issue 24). storage/ counts every call that can wait for the
# disk (msync, fsync, fdatasync, fallocate, ftruncate, MADV_POPULATE_WRITE,
# zero-filling pwrite, log writes, mremap of a file mapping) by the thread
# that made it; INFO loop_blocking_disk_calls is the loop's count. A small
# table (--initial-capacity 1024) and a small log limit (--wal-checkpoint-bytes)
# force doublings, value-heap growth and checkpoints; after a warm-up the
# count must not move over a write load that does all of them again, in
# sync=batch and sync=none (sync=always: everything but the log's
# fdatasync before each reply, which that mode is). LATENCY LATEST/HISTORY/
# RESET report loop turns over latency-monitor-threshold. Ports 25500-25599.
. "$(dirname "$0")/lib.sh"

if ! command -v redis-benchmark >/dev/null; then
  fail "redis-benchmark not found (scripts/deps installs redis-tools)"; summary
fi
BASE=$(pick_base 25500 25600 6) || { fail "no free ports in 25500-25599"; summary; }

field() { info_field "$1" storage "$2"; }
load() { # load PORT REQUESTS KEYSPACE PIPELINE
  redis-benchmark -h 127.0.0.1 -p "$1" -t set -n "$2" -r "$3" -d 100 -c 20 -P "$4" -q \
    >>"$TMP/bench.out" 2>&1
}

# run_mode NAME SYNC GPORT CPORT: warm up, then load, and compare counters.
run_mode() {
  local name=$1 sync=$2 g=$3 c=$4
  start_node "$name" "$g" "$c" --insecure --sync "$sync" --initial-capacity 1024 \
    --wal-checkpoint-bytes 4mb --latency-monitor-threshold 5 --admin-password adm1n
  check "$name (sync $sync) starts" ping_ok "$c"
  # Warm-up: the first doublings of a tiny table come faster than a pool
  # job can prepare them (they are the start-up, not the steady state).
  load "$c" 60000 40000 16
  not_growing() { [ "$(field "$c" growing)" = 0 ]; }
  check "$name: the warm-up's last doubling ends" wait_until 20 not_growing
  local b0 g0 k0 h0 f0
  b0=$(field "$c" loop_blocking_disk_calls)
  f0=$(field "$c" loop_blocking_disk_calls_fsync_always)
  g0=$(field "$c" growths)
  k0=$(field "$c" log_checkpoints)
  h0=$(field "$c" file_bytes)
  # Without pipelining (tens of thousands of writes a second): a doubling
  # every few hundred ms at most, which the jobs follow even on a busy disk;
  # a load that outruns them is answered by the inline path (counted).
  load "$c" 250000 200000 1
  local b1 g1 k1 h1 f1
  b1=$(field "$c" loop_blocking_disk_calls)
  f1=$(field "$c" loop_blocking_disk_calls_fsync_always)
  g1=$(field "$c" growths)
  k1=$(field "$c" log_checkpoints)
  h1=$(field "$c" file_bytes)
  rcli "$c" INFO storage | grep -a "disk_calls" | tr -d "\r" | tr "\n" " "; echo
  echo "  $name: loop calls $b0 -> $b1 (fsync-always $f0 -> $f1), growths $g0 -> $g1," \
       "checkpoints $k0 -> $k1, file_bytes $h0 -> $h1"
  check "$name: the load doubled the table at least twice ($g0 -> $g1)" [ "$((g1 - g0))" -ge 2 ]
  check "$name: the files grew ($h0 -> $h1)" [ "$h1" -gt "$h0" ]
  if [ "$sync" != none ]; then
    check "$name: the load made checkpoints ($k0 -> $k1)" [ "$((k1 - k0))" -ge 2 ]
  fi
  check "$name: no blocking disk call on the loop after warm-up ($((b1 - b0 - (f1 - f0))))" \
    [ "$((b1 - b0 - (f1 - f0)))" = 0 ]
  check "$name: the pool made the disk calls" [ "$(field "$c" job_disk_calls)" -gt 0 ]
}

run_mode b1 batch "$BASE" "$((BASE + 1))"
run_mode n1 none "$((BASE + 2))" "$((BASE + 3))"

# The latency monitor, on the batch node: KEYS over the ~300k keys takes a
# loop turn far over 5 ms, recorded as a "command" event.
C=$((BASE + 1))
rcli "$C" KEYS '*' >/dev/null
latest() { rcli "$C" LATENCY LATEST | tr -d '\r'; }
check "LATENCY LATEST names the command event" grep -qx command <(latest)
check "LATENCY HISTORY command has a sample" [ -n "$(rcli "$C" LATENCY HISTORY command)" ]
check "INFO counts the slow command turn" [ "$(field "$C" loop_turns_slow_command)" -ge 1 ]
check "INFO shows the threshold" [ "$(field "$C" latency_monitor_threshold)" = 5 ]
check "LATENCY RESET is for the admin" grep -q "^NOPERM" <(rcli "$C" LATENCY RESET)
admin() { rcli "$C" --no-auth-warning --user admin --pass adm1n "$@"; }
check "LATENCY RESET command resets one event" [ "$(admin LATENCY RESET command)" = 1 ]
check "after the reset its history is empty" [ -z "$(rcli "$C" LATENCY HISTORY command)" ]
check "LATENCY HISTORY of an unknown event is empty" [ -z "$(rcli "$C" LATENCY HISTORY nosuch)" ]
check "LATENCY with a bad subcommand is an error" \
  grep -q "^ERR unknown subcommand" <(rcli "$C" LATENCY NOPE)
summary
