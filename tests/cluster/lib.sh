# tests/cluster/lib.sh: shared helpers for the cluster tests (sourced, not run).
#
# Each test_*.sh gets the build directory as $1, picks its ports from its own
# range (checked free, TCP and UDP), starts real gossipkv processes on
# loopback, drives them with redis-cli (python3 for raw sockets), and kills
# exactly the pids it started, on exit, through a trap. Every wait is bounded.
# At the end: "N passed, N failed" and exit status 0 only when none failed.

set -u

BUILD=${1:?usage: $0 BUILD_DIR}
BIN=$BUILD/gossipkv
if [ ! -x "$BIN" ]; then
  echo "missing $BIN (build the gossipkv target first)"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! command -v redis-cli >/dev/null; then
  echo "redis-cli not found (scripts/deps installs redis-tools)"
  echo "0 passed, 1 failed"
  exit 1
fi

PASS=0
FAIL=0
PIDS=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gkv-cluster.XXXXXX")
# Speedy SWIM for tests: failures are detected in a few seconds, not ~10.
FAST_GOSSIP=(--probe-interval-ms 200 --probe-timeout-ms 100 --gossip-interval-ms 50
             --sync-interval-ms 1000 --leave-timeout-ms 500)

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ "$FAIL" -ne 0 ] || [ -n "${GKV_KEEP_LOGS:-}" ]; then
    for f in "$TMP"/*.log; do
      [ -f "$f" ] || continue
      echo "--- tail of $f"
      tail -n 15 "$f"
    done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

pass() { PASS=$((PASS + 1)); echo "ok   - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
summary() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
  exit $?
}

# free_port_range BASE COUNT: succeed if BASE..BASE+COUNT-1 are free (TCP+UDP).
free_port_range() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys
base, count = int(sys.argv[1]), int(sys.argv[2])
for p in range(base, base + count):
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

# pick_base LOW HIGH COUNT: print the first base in [LOW, HIGH) whose COUNT
# ports are all free.
pick_base() {
  local b
  for ((b = $1; b + $3 <= $2; b += $3)); do
    if free_port_range "$b" "$3"; then echo "$b"; return 0; fi
  done
  return 1
}

# wait_until SECONDS command...: poll every 0.1 s until the command succeeds.
wait_until() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  while [ $SECONDS -lt $deadline ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  "$@" >/dev/null 2>&1
}

rcli() { # rcli PORT args...
  local port=$1; shift
  timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# start_node NAME GOSSIP_PORT CLIENT_PORT [extra serve args...]; sets LAST_PID.
start_node() {
  local name=$1 gport=$2 cport=$3; shift 3
  "$BIN" serve --name "$name" --data "$TMP/$name" --gossip "127.0.0.1:$gport" \
    --client "127.0.0.1:$cport" --log-level debug "$@" >>"$TMP/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  wait_until 10 ping_ok "$cport"
}
ping_ok() { case "$(rcli "$1" PING 2>/dev/null)" in PONG|NOAUTH*) return 0 ;; esac; return 1; }

# member_state PORT NAME: the state NODE at PORT reports for member NAME.
member_state() {
  rcli "$1" MEMBERS | awk -v want="$2" '
    { line[NR] = $0 }
    END { for (i = 1; i + 3 <= NR; i += 4) if (line[i] == want) { print line[i + 2]; exit } }'
}
state_is() { [ "$(member_state "$1" "$2")" = "$3" ]; }
alive_count() { rcli "$1" MEMBERS | grep -cx alive; }
alive_count_is() { [ "$(alive_count "$1")" = "$2" ]; }
get_is() { [ "$(rcli "$1" GET "$2")" = "$3" ]; }
info_field() { rcli "$1" INFO "$2" | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2 }'; }
