#!/usr/bin/env bash
# bench/tombstone_bench.sh: does the tombstone purge keep up with deletes?
#
# One node (release build, sync=batch, --tombstone-grace GRACE, default 10s)
# on free loopback ports. First the fastest sustained delete rate it
# accepts, with redis-benchmark DEL of random keys (each writes a tombstone,
# present or not; pipelined, 50 clients):
#
#   redis-benchmark -c 50 -P 16 -r 1000000000 -n DELETES DEL key:__rand_int__
#
# then the purge rate. Tombstones cross the purge cutoff at the rate they were
# made, so a purge that follows them only shows that rate; to see what the
# purge can do, the node is stopped (SIGTERM) until the grace has passed for
# every tombstone and started again on its data, which makes all of them due
# at once, and the rate is tombstones gone per second of wall time from the
# node answering PING to none left (INFO storage tombstones, polled every
# 100 ms; the first poll's count is the start). Prints
#
#   deletes: N in S s = R/s; purge: N in S s = R/s; purge/delete = X
#
# and the peak of INFO tombstones_purged_per_second. The issue-25 goal is
# purge/delete >= 10. DELETES (default 1000000), GRACE, GKV_BUILD.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${GKV_BUILD:-build/release}
DELETES=${DELETES:-1000000}
GRACE=${GRACE:-10s}
BIN=$BUILD/gossipkv
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gkv-tomb-bench.XXXXXX")
PID=
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
gport=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --insecure --data "$TMP/d" --client "127.0.0.1:$port" --gossip "127.0.0.1:$gport" \
  --tombstone-grace "$GRACE" --log-level warn >"$TMP/node.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
info() { redis-cli -p "$port" INFO storage | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'; }
now() { date +%s.%N; }

t0=$(now)
redis-benchmark -p "$port" -c 50 -P 16 -r 1000000000 -n "$DELETES" -q DEL 'key:__rand_int__' \
  >"$TMP/rb.out" 2>&1
t1=$(now)
made=$(info tombstones)
del_s=$(echo "$t1 - $t0" | bc -l)
del_rate=$(echo "$made / $del_s" | bc -l)
echo "redis-benchmark: $(tr '\r' '\n' <"$TMP/rb.out" | grep -a 'requests per second' | tail -1)"

kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=
sleep "$(echo "${GRACE%s} + 2" | bc)"
"$BIN" serve --insecure --data "$TMP/d" --client "127.0.0.1:$port" --gossip "127.0.0.1:$gport" \
  --tombstone-grace "$GRACE" --log-level warn >>"$TMP/node.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
start=$(now)
left0=$(info tombstones)
peak=0
for _ in $(seq 1 6000); do
  t=$(info tombstones)
  r=$(info tombstones_purged_per_second)
  [ "${r%.*}" -gt "$peak" ] && peak=${r%.*}
  [ "$t" -eq 0 ] && break
  sleep 0.1
done
end=$(now)
pur_s=$(echo "$end - $start" | bc -l)
pur_rate=$(echo "$left0 / $pur_s" | bc -l)
printf 'deletes: %d in %.2f s = %.0f/s; purge: %d in %.2f s = %.0f/s; purge/delete = %.1f\n' \
  "$made" "$del_s" "$del_rate" "$left0" "$pur_s" "$pur_rate" "$(echo "$pur_rate / $del_rate" | bc -l)"
echo "peak tombstones_purged_per_second: $peak; file_bytes $(info file_bytes); value_bytes_free $(info value_bytes_free)"
