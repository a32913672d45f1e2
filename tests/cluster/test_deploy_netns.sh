#!/usr/bin/env bash
# test_deploy_netns.sh: docs/OPERATIONS.md's "A deployment on three
# machines", on three network namespaces joined by a bridge namespace
# (names gkvd-<pid>-*, all removed at the end, also on failure). Each node
# gets the same ports on its own address, one key file copied to all three,
# a config file as in the doc (requirepass, admin-password, metrics, join
# listing all three), and joins. With writes flowing to all three nodes
# throughout, the key is rotated as the doc says (KEYRING INSTALL, USE,
# REMOVE as the admin user, then the key files rewritten and SIGHUP), and
# one node is restarted as in a rolling upgrade. Checks: no write refused,
# no packet refused for an unknown key, every acknowledged write on every
# node at the end. Needs root (namespaces): exit 77 (skipped) otherwise.
BUILD_ARG=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: network namespaces need root"; exit 77
fi
. "$(dirname "$0")/lib.sh"

TAG="gkvd-$$-"
NETS=()
SUBNET=10.98.0
PW=client-pw-$$ APW=admin-pw-$$

# lib.sh's cleanup kills every pid in PIDS (the nodes and the writer);
# then the namespaces go.
ns_cleanup() {
  local ns
  for ns in "${NETS[@]}"; do ip netns del "$ns" 2>/dev/null; done
}
trap 'cleanup; ns_cleanup' EXIT

command -v ip >/dev/null || { fail "ip not found (iproute2)"; summary; }
# Debian's python3 with python3-redis (scripts/deps), even if another
# python3 comes first in PATH.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" -c 'import redis' 2>/dev/null || { fail "python3-redis not found (scripts/deps)"; summary; }

# --- the three "machines" ----------------------------------------------------
BR=${TAG}br
mk() { "$@" >>"$TMP/netns.log" 2>&1; }
mk ip netns add "$BR" && NETS+=("$BR")
mk ip -n "$BR" link add br0 type bridge
mk ip -n "$BR" link set br0 up
for i in 1 2 3; do
  ns=${TAG}n$i
  mk ip netns add "$ns" && NETS+=("$ns")
  mk ip -n "$ns" link set lo up
  mk ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$BR"
  mk ip -n "$ns" addr add "$SUBNET.$i/24" dev eth0
  mk ip -n "$ns" link set eth0 up
  mk ip -n "$BR" link set "p$i" master br0
  mk ip -n "$BR" link set "p$i" up
done
linked() { [ "$(ip -n "$BR" -o link show master br0 | grep -c 'state UP')" = 3 ]; }
check "three namespaces on a bridge (${TAG}n1..3)" wait_until 10 linked

# ncli I args...: redis-cli from machine I to node I, as the default user.
ncli() { local i=$1; shift; timeout 10 ip netns exec "${TAG}n$i" redis-cli -h "$SUBNET.$i" -p 7379 -a "$PW" --no-auth-warning "$@"; }
# acli I args...: the same as the admin user.
acli() { local i=$1; shift; timeout 10 ip netns exec "${TAG}n$i" redis-cli -h "$SUBNET.$i" -p 7379 --user admin --pass "$APW" --no-auth-warning "$@"; }
# metric I NAME: a sample of node I's /metrics page.
metric() {
  ip netns exec "${TAG}n$1" python3 -c '
import sys, urllib.request
page = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
print(int(sum(float(l.split()[-1]) for l in page.splitlines() if l.startswith(sys.argv[2] + " "))))' \
    "http://$SUBNET.$1:9121/metrics" "$2"
}

# --- key distribution and configuration (the doc's steps) ---------------------
"$BIN" keygen >"$TMP/cluster.key"
for i in 1 2 3; do
  mkdir -p "$TMP/etc$i"
  install -m 0600 "$TMP/cluster.key" "$TMP/etc$i/cluster.key"
  cat >"$TMP/etc$i/gossipkv.conf" <<CONF
name n$i
data $TMP/data$i
gossip $SUBNET.$i:7946
client $SUBNET.$i:7379
join $SUBNET.1:7946,$SUBNET.2:7946,$SUBNET.3:7946
key-file $TMP/etc$i/cluster.key
label prod
requirepass "$PW"
admin-password "$APW"
metrics $SUBNET.$i:9121
probe-interval-ms 200
probe-timeout-ms 100
gossip-interval-ms 50
leave-timeout-ms 500
CONF
done
NODE_PID=()
start() { # start I: node I on its machine, as the unit would (its config only)
  ip netns exec "${TAG}n$1" "$BIN" serve --config "$TMP/etc$1/gossipkv.conf" >>"$TMP/n$1.log" 2>&1 &
  NODE_PID[$1]=$!
  PIDS+=("$!")
}
for i in 1 2 3; do start "$i"; done
alive3() { [ "$(ncli "$1" MEMBERS | grep -cx alive)" = 3 ]; }
for i in 1 2 3; do
  check "node $i sees three members alive (joined)" wait_until 20 alive3 "$i"
done
check "protected mode is satisfied by requirepass: unauthenticated clients are refused" \
  bash -c "timeout 10 ip netns exec ${TAG}n1 redis-cli -h $SUBNET.1 -p 7379 GET x | grep -q NOAUTH"

# --- writes flowing throughout ------------------------------------------------
# The writer (in machine 1's namespace) SETs w:<n> round-robin on the three
# nodes until the stop file appears (at most 120 s); every acknowledged key
# is appended to acked.txt, every refusal or error to errors.txt.
ip netns exec "${TAG}n1" "$PY" - "$SUBNET" "$PW" "$TMP" <<'EOF' &
import os, sys, time, redis
subnet, pw, tmp = sys.argv[1:4]
clients = [redis.Redis(host=f"{subnet}.{i}", port=7379, password=pw, socket_timeout=5)
           for i in (1, 2, 3)]
acked = open(os.path.join(tmp, "acked.txt"), "w", buffering=1)
errors = open(os.path.join(tmp, "errors.txt"), "w", buffering=1)
deadline = time.time() + 120
n = 0
while time.time() < deadline and not os.path.exists(os.path.join(tmp, "stop")):
    n += 1
    c = clients[n % 3]
    try:
        if c.set(f"w:{n}", f"v{n}"):
            acked.write(f"w:{n} v{n}\n")
    except redis.exceptions.ConnectionError as e:
        # the node being restarted (rolling upgrade): not a refusal
        errors.write(f"unavailable node {n % 3 + 1}: {e}\n")
    except redis.exceptions.RedisError as e:
        errors.write(f"refused by node {n % 3 + 1}: {e}\n")
    time.sleep(0.005)
EOF
WRITER_PID=$!
PIDS+=("$WRITER_PID")
acked() { wc -l <"$TMP/acked.txt" 2>/dev/null || echo 0; }
more_acked_than() { [ "$(acked)" -gt "$1" ]; }
check "writes are acknowledged" wait_until 10 more_acked_than 20

# --- key rotation, as the doc says -------------------------------------------
OLD=$(cat "$TMP/cluster.key")
NEW=$("$BIN" keygen)
refused0=$(( $(metric 1 'gossipkv_seal_refusals_total{reason="unknown_key"}') + \
             $(metric 2 'gossipkv_seal_refusals_total{reason="unknown_key"}') + \
             $(metric 3 'gossipkv_seal_refusals_total{reason="unknown_key"}') ))
for step in INSTALL USE; do
  for i in 1 2 3; do
    check "KEYRING $step the new key on node $i (admin)" [ "$(acli "$i" KEYRING "$step" "$NEW")" = OK ]
  done
  n=$(acked)
  check "writes still acknowledged after $step" wait_until 10 more_acked_than "$n"
done
for i in 1 2 3; do
  check "KEYRING REMOVE the old key on node $i (admin)" [ "$(acli "$i" KEYRING REMOVE "$OLD")" = OK ]
done
noperm() { ncli 1 KEYRING LIST | grep -q NOPERM; }
check "the default user cannot run KEYRING" noperm
n=$(acked)
check "writes still acknowledged after REMOVE" wait_until 10 more_acked_than "$n"
# Then the key files, so a restart keeps the new key; SIGHUP re-reads them.
for i in 1 2 3; do
  printf '%s\n' "$NEW" >"$TMP/etc$i/cluster.key"
  kill -HUP "${NODE_PID[$i]}"
done
one_key() { [ "$(acli "$1" KEYRING LIST | grep -c .)" = 2 ]; }
for i in 1 2 3; do check "node $i holds one key after SIGHUP" wait_until 10 one_key "$i"; done
for i in 1 2 3; do check "node $i still sees three members alive" wait_until 10 alive3 "$i"; done

# --- one node at a time: a restart as an upgrade does it ---------------------
kill -TERM "${NODE_PID[2]}"
for _ in $(seq 1 100); do kill -0 "${NODE_PID[2]}" 2>/dev/null || break; sleep 0.1; done
wait "${NODE_PID[2]}"; rc=$?
check "node 2 stops gracefully (exit $rc)" [ "$rc" = 0 ]
left_seen() { ncli 1 MEMBERS | grep -qx left; }
check "node 1 sees node 2 as left" wait_until 10 left_seen
start 2
for i in 1 2 3; do check "node $i sees three members alive after the restart" wait_until 20 alive3 "$i"; done
n=$(acked)
check "writes acknowledged after the restart" wait_until 10 more_acked_than "$n"
refused1=$(( $(metric 1 'gossipkv_seal_refusals_total{reason="unknown_key"}') + \
             $(metric 2 'gossipkv_seal_refusals_total{reason="unknown_key"}') + \
             $(metric 3 'gossipkv_seal_refusals_total{reason="unknown_key"}') ))
check "no packet refused for an unknown key during the rotation ($refused0 -> $refused1)" \
  [ "$refused1" = "$refused0" ]

# --- the end: every acknowledged write on every node ------------------------
touch "$TMP/stop"
for _ in $(seq 1 100); do kill -0 "$WRITER_PID" 2>/dev/null || break; sleep 0.1; done
WRITER_PID=
check "no write was refused ($(grep -c '^refused' "$TMP/errors.txt") refusals)" \
  bash -c "! grep -q '^refused' '$TMP/errors.txt'"
echo "# $(acked) writes acknowledged; $(grep -c '^unavailable' "$TMP/errors.txt") failed to connect while node 2 restarted"
all_there() { # every acked key with its value on every node
  ip netns exec "${TAG}n1" "$PY" - "$SUBNET" "$PW" "$TMP/acked.txt" <<'EOF'
import sys, redis
subnet, pw, path = sys.argv[1:4]
want = dict(l.split() for l in open(path))
keys = list(want)
for i in (1, 2, 3):
    c = redis.Redis(host=f"{subnet}.{i}", port=7379, password=pw, socket_timeout=5)
    for j in range(0, len(keys), 500):
        got = c.mget(keys[j:j + 500])
        for k, v in zip(keys[j:j + 500], got):
            if v is None or v.decode() != want[k]:
                sys.exit(1)
EOF
}
check "every acknowledged write is on all three nodes" wait_until 30 all_there
summary
