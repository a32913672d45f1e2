#!/usr/bin/env bash
# bench/client_bench.sh: the Redis-protocol server against redis-server.
#
# Starts a 3-node gossipkv cluster (release build, sync=batch, sealed gossip)
# and a redis-server without persistence (--save '' --appendonly no), both on
# free loopback ports, and runs the same redis-benchmark against node 1 and
# against redis-server, alternating, in the same run:
#
#   redis-benchmark -t set,get,incr -c 50 -d 100 -r 100000 -n 200000 -P {1,16}
#
# (INCR: redis-benchmark's counter:<rand> keys, so 100,000 counters; on
# gossipkv each INCR rewrites the key's counter state, storage/counter.h.)
#
# Each pair is run ROUNDS times (default 2) and the best rate of each side is
# kept (the machine is shared and noisy; interleaving puts load on both).
# Prints one line per operation and pipeline depth:
#
#   SET(P=1): gossipkv=N/s redis=N/s ratio=R     (SET, GET, INCR)
#
# and how long after a gossipkv run ends all three nodes hold the same keys
# (DBSIZE equal and INFO storage root_hash equal on all three).
#
# NODES=1 measures one node without peers (the client server and store
# alone, no replication work competing for the CPU).
# The nodes run with their defaults (sync=batch: every write appended to
# the write-ahead log, whose buffered bytes a background job writes and
# fdatasyncs every 100 ms; the mapped files are written back only at
# checkpoints, every 64 MiB of log); SYNC=none compares like with like
# (redis-server here does not persist at all). After the runs the script
# prints node 1's storage counters (group commits, checkpoints, log bytes).
# NODE_ARGS adds options to every node's command line (word-split), e.g.
# NODE_ARGS="--repair-bytes-per-tick 512kb". GKV_BUILD names the build
# directory to use (default build/release; bench/run passes its own).
#
#   bench/client_bench.sh            # ROUNDS=3 SYNC=none bench/client_bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-2}
REQUESTS=${REQUESTS:-200000}
SYNC=${SYNC:-batch}
NODES=${NODES:-3} # NODES=1: the RESP server alone, no gossip peers
read -r -a EXTRA <<<"${NODE_ARGS:-}"
FLAGS=(-t set,get,incr -c 50 -d 100 -r 100000 -n "$REQUESTS")

die() { echo "client_bench: $*" >&2; exit 1; }
for t in redis-benchmark redis-server redis-cli python3 cmake; do
  command -v "$t" >/dev/null || die "$t not found (scripts/deps installs it)"
done

BUILD=${GKV_BUILD:-$ROOT/build/release}
BIN=$BUILD/gossipkv
if [ ! -x "$BIN" ] || [ -n "$(find common storage gossip node -newer "$BIN" -name '*.[ch]' | head -1)" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "configure"
  cmake --build "$BUILD" -j "$(nproc)" --target gossipkv >/dev/null || die "build"
fi

free_ports() {
  python3 - "$@" <<'EOF'
import socket, sys
for p in map(int, sys.argv[1:]):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            sys.exit(1)
        finally:
            s.close()
EOF
}
BASE=
for b in $(seq 28000 10 28990); do
  if free_ports $(seq "$b" $((b + 6))); then BASE=$b; break; fi
done
[ -n "$BASE" ] || die "no free ports in 28000-28999"
G=($BASE $((BASE + 1)) $((BASE + 2)))
C=($((BASE + 3)) $((BASE + 4)) $((BASE + 5)))
RPORT=$((BASE + 6))

DIR=$(mktemp -d "${TMPDIR:-/tmp}/gkv-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$DIR"
}
trap cleanup EXIT

"$BIN" keygen >"$DIR/key" && chmod 600 "$DIR/key"
for i in $(seq 0 $((NODES - 1))); do
  join=()
  [ $i -gt 0 ] && join=(--join "127.0.0.1:${G[0]}")
  "$BIN" serve --name "b$((i + 1))" --data "$DIR/n$i" --gossip "127.0.0.1:${G[$i]}" \
    --client "127.0.0.1:${C[$i]}" --key-file "$DIR/key" --sync "$SYNC" --log-level warn "${join[@]}" "${EXTRA[@]}" \
    2>"$DIR/n$i.log" &
  PIDS+=($!)
done
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$DIR/redis.log" 2>&1 &
PIDS+=($!)

cli() { local p=$1; shift; timeout 10 redis-cli -h 127.0.0.1 -p "$p" "$@"; }
wait_for() { # seconds command...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}
pong() { [ "$(cli "$1" PING)" = PONG ]; }
three_alive() { [ "$(cli "$1" MEMBERS | grep -cx alive)" = 3 ]; }
C=("${C[@]:0:$NODES}")
for p in "${C[@]}" "$RPORT"; do wait_for 15 pong "$p" || die "port $p does not answer"; done
if [ "$NODES" = 3 ]; then
  for p in "${C[@]}"; do wait_for 30 three_alive "$p" || die "cluster did not form"; done
fi

# rates PORT P: "SET_RPS GET_RPS INCR_RPS" from one redis-benchmark run.
rates() {
  redis-benchmark -h 127.0.0.1 -p "$1" "${FLAGS[@]}" -P "$2" --csv 2>/dev/null |
    tr -d '"' | awk -F, '$1 == "SET" { s = $2 } $1 == "GET" { g = $2 } $1 == "INCR" { i = $2 }
                         END { print s + 0, g + 0, i + 0 }'
}
root() { cli "$1" INFO storage | tr -d '\r' | awk -F: '$1 == "root_hash" { print $2 }'; }
converged() {
  local d0 d1 d2
  d0=$(cli "${C[0]}" DBSIZE) d1=$(cli "${C[1]}" DBSIZE) d2=$(cli "${C[2]}" DBSIZE)
  [ "$d0" = "$d1" ] && [ "$d1" = "$d2" ] && [ "$(root "${C[0]}")" = "$(root "${C[1]}")" ] &&
    [ "$(root "${C[1]}")" = "$(root "${C[2]}")" ]
}
now_ms() { date +%s%3N; }

echo "client_bench: gossipkv $NODES node(s) (client ports ${C[*]}), redis-server :$RPORT"
echo "flags: ${FLAGS[*]} -P {1,16}; best of $ROUNDS alternating rounds; gossipkv sync=$SYNC${NODE_ARGS:+ $NODE_ARGS}"
CONV=()
for P in 1 16; do
  best_gs=0 best_gg=0 best_rs=0 best_rg=0 best_gi=0 best_ri=0
  for r in $(seq 1 "$ROUNDS"); do
    read -r gs gg gi < <(rates "${C[0]}" "$P")
    t0=$(now_ms)
    if [ "$NODES" != 3 ]; then
      :
    elif wait_for 120 converged; then
      CONV+=("after gossipkv run (P=$P, round $r): all 3 nodes equal in $(( $(now_ms) - t0 )) ms, keys=$(cli "${C[0]}" DBSIZE)")
    else
      CONV+=("after gossipkv run (P=$P, round $r): NOT converged within 120 s")
    fi
    read -r rs rg ri < <(rates "$RPORT" "$P")
    awk -v a="$gs" -v b="$best_gs" 'BEGIN { exit !(a > b) }' && best_gs=$gs
    awk -v a="$gg" -v b="$best_gg" 'BEGIN { exit !(a > b) }' && best_gg=$gg
    awk -v a="$rs" -v b="$best_rs" 'BEGIN { exit !(a > b) }' && best_rs=$rs
    awk -v a="$rg" -v b="$best_rg" 'BEGIN { exit !(a > b) }' && best_rg=$rg
    awk -v a="$gi" -v b="$best_gi" 'BEGIN { exit !(a > b) }' && best_gi=$gi
    awk -v a="$ri" -v b="$best_ri" 'BEGIN { exit !(a > b) }' && best_ri=$ri
  done
  awk -v g="$best_gs" -v r="$best_rs" -v p="$P" \
    'BEGIN { printf "SET(P=%s): gossipkv=%.0f/s redis=%.0f/s ratio=%.2f\n", p, g, r, (r > 0 ? g / r : 0) }'
  awk -v g="$best_gg" -v r="$best_rg" -v p="$P" \
    'BEGIN { printf "GET(P=%s): gossipkv=%.0f/s redis=%.0f/s ratio=%.2f\n", p, g, r, (r > 0 ? g / r : 0) }'
  awk -v g="$best_gi" -v r="$best_ri" -v p="$P" \
    'BEGIN { printf "INCR(P=%s): gossipkv=%.0f/s redis=%.0f/s ratio=%.2f\n", p, g, r, (r > 0 ? g / r : 0) }'
done
printf '%s\n' "${CONV[@]}"
echo "node 1 INFO gossip after the runs:"
cli "${C[0]}" INFO gossip | tr -d '\r' | grep -E '^(datagrams_out|bytes_out|deltas_sent|deltas_received|deltas_dropped_queue_full|buckets_repaired|repair_entries_received|stream_frames_out):' | sed 's/^/  /'
echo "node 1 INFO storage after the runs:"
cli "${C[0]}" INFO storage | tr -d '\r' | grep -E '^(sync|entries|syncs|sync_failures|log_enabled|log_bytes|log_records|log_group_commits|log_checkpoints|log_failures):' | sed 's/^/  /'
