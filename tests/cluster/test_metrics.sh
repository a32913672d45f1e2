#!/usr/bin/env bash
# test_metrics.sh: --metrics serves Prometheus text on HTTP GET /metrics
# (libmicrohttpd on the node's loop): `promtool check metrics` accepts a live
# node's page, values move as the node works (a SET adds to the command
# counter, the write latency histogram and the store's entries), other
# paths and methods are refused and counted, metrics-max-connections is
# enforced and counted in INFO; --log-format json writes one JSON object per
# line (every line parsed with python's json module); gossip bytes per
# peer once a second node joins. Settings come from a config file (same
# names as the flags). Ports 24600-24699.
. "$(dirname "$0")/lib.sh"

if ! command -v promtool >/dev/null; then
  fail "promtool not found (scripts/deps installs prometheus)"; summary
fi
BASE=$(pick_base 24600 24700 5) || { fail "no free ports in 24600-24699"; summary; }
G=$BASE C=$((BASE + 1)) M=$((BASE + 2)) G2=$((BASE + 3)) C2=$((BASE + 4))
URL="http://127.0.0.1:$M/metrics"

# http METHOD URL: print "STATUS" then the body (python: no curl needed).
http() {
  python3 - "$1" "$2" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[2], method=sys.argv[1])
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
EOF
}
scrape() { http GET "$URL" | tail -n +2; }
# value NAME_WITH_LABELS: the sample's value on a fresh scrape.
value() { scrape | awk -v k="$1" '$1 == k { print $2 }'; }

cat >"$TMP/n1.conf" <<CONF
data $TMP/n1
gossip 127.0.0.1:$G
client 127.0.0.1:$C
insecure yes
metrics 127.0.0.1:$M
metrics-max-connections 2
log-format json
CONF
"$BIN" serve --config "$TMP/n1.conf" --name "m1 \"quoted\"" --log-level debug >>"$TMP/n1.log" 2>&1 &
PIDS+=($!)
check "a node with metrics and json logs starts from a config file" wait_until 10 ping_ok "$C"
check "GET /metrics answers 200" [ "$(http GET "$URL" | sed -n 1p)" = 200 ]

scrape >"$TMP/page1.txt"
promtool check metrics <"$TMP/page1.txt" >"$TMP/promtool.out" 2>&1; rc=$?
check "promtool check metrics accepts the page (exit $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat "$TMP/promtool.out"
has() { grep -q -- "$1" "$TMP/page1.txt"; }
check "every client counter is there (commands processed)" has '^gossipkv_stats_commands_processed_total '
check "gossip bytes as _bytes_total" has '^gossipkv_gossip_out_bytes_total '
check "repair bytes" has '^gossipkv_gossip_repair_sent_bytes_total '
check "store sizes" has '^gossipkv_storage_file_bytes '
check "members by state" has '^gossipkv_members{state="alive"} 1'
check "seal refusals by reason" has '^gossipkv_seal_refusals_total{reason="bad_tag"} 0'
check "ms settings in seconds" has '^gossipkv_gossip_stream_auth_timeout_seconds 2$'
check "a latency histogram per command family" has '^gossipkv_command_duration_seconds_bucket{family="write",le="+Inf"}'
check "the node name is an escaped label" has 'name="m1 \\"quoted\\""'

ALERTS=$(dirname "$0")/../../packaging/alerts.yml
for m in $(grep -o 'gossipkv_[a-z_]*' "$ALERTS" | sort -u); do
  check "packaging/alerts.yml's $m is on the page" grep -q "^$m[{ ]" "$TMP/page1.txt"
done

cmds0=$(value gossipkv_stats_commands_processed_total)
writes0=$(value 'gossipkv_command_duration_seconds_count{family="write"}')
entries0=$(value gossipkv_storage_entries)
check "SET" [ "$(rcli "$C" SET k1 v1)" = OK ]
cmds1=$(value gossipkv_stats_commands_processed_total)
writes1=$(value 'gossipkv_command_duration_seconds_count{family="write"}')
entries1=$(value gossipkv_storage_entries)
check "a SET adds one to the command counter ($cmds0 -> $cmds1)" [ "$cmds1" = $((cmds0 + 1)) ]
check "... and one to the write histogram ($writes0 -> $writes1)" [ "$writes1" = $((writes0 + 1)) ]
check "... and one store entry ($entries0 -> $entries1)" [ "$entries1" = $((entries0 + 1)) ]
reads0=$(value 'gossipkv_command_duration_seconds_count{family="read"}')
check "GET" get_is "$C" k1 v1
reads1=$(value 'gossipkv_command_duration_seconds_count{family="read"}')
check "a GET lands in the read histogram ($reads0 -> $reads1)" [ "$reads1" = $((reads0 + 1)) ]

check "another path answers 404" [ "$(http GET "http://127.0.0.1:$M/" | sed -n 1p)" = 404 ]
check "POST answers 405" [ "$(http POST "$URL" | sed -n 1p)" = 405 ]
check "... both counted in INFO metrics_bad_requests" [ "$(info_field "$C" clients metrics_bad_requests)" = 2 ]
check "INFO metrics_max_connections" [ "$(info_field "$C" clients metrics_max_connections)" = 2 ]

# The limit: two idle connections held open, a third is refused at accept.
python3 - "$M" "$TMP/release" >"$TMP/limit.out" 2>&1 <<'EOF' &
import os, socket, sys, time
port, release = int(sys.argv[1]), sys.argv[2]
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2)]
print("held", flush=True)
deadline = time.monotonic() + 60  # held until the test releases them
while time.monotonic() < deadline and not os.path.exists(release):
    time.sleep(0.1)
EOF
HOLDER=$!
PIDS+=("$HOLDER")
check "two idle connections are open" wait_until 10 bash -c "grep -q held '$TMP/limit.out' && [ \"\$(timeout 10 redis-cli -p $C INFO clients | tr -d '\r' | awk -F: '\$1 == \"metrics_connections\" {print \$2}')\" = 2 ]"
code=$(http GET "$URL" 2>/dev/null | sed -n 1p)
check "a third connection gets no page (got '${code}')" [ "$code" != 200 ]
check "... and is counted in metrics_connections_refused" \
  bash -c "[ \"\$(timeout 10 redis-cli -p $C INFO clients | tr -d '\r' | awk -F: '\$1 == \"metrics_connections_refused\" {print \$2}')\" -ge 1 ]"
touch "$TMP/release"
check "once they close, scrapes work again" wait_until 10 bash -c "python3 -c 'import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)' $URL"

# Per-peer gossip bytes: a second node joins; node 1 counts what it sends
# to and receives from its address.
start_node m2 "$G2" "$C2" --insecure --join "127.0.0.1:$G" "${FAST_GOSSIP[@]}"
check "a second node joins" wait_until 10 alive_count_is "$C" 2
PEER="{peer=\"127.0.0.1:$G2\"}"
positive() { [ "$(value "$1" | cut -d. -f1)" -gt 0 ] 2>/dev/null; }
check "bytes sent to the peer, by address" wait_until 10 positive "gossipkv_gossip_peer_out_bytes_total$PEER"
check "bytes received from it" wait_until 10 positive "gossipkv_gossip_peer_in_bytes_total$PEER"
scrape >"$TMP/page2.txt"
check "promtool still accepts the page with peers" bash -c "promtool check metrics <'$TMP/page2.txt'"

# --log-format json: every line of the log is one JSON object.
check "json logs: every line parses, with ts, level and msg" python3 - "$TMP/n1.log" <<'EOF'
import json, sys
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        o = json.loads(line)
        assert {"ts", "level", "msg"} <= o.keys(), line
        n += 1
assert n >= 3, n
started = [json.loads(l) for l in open(sys.argv[1]) if '"node started"' in l]
assert started and started[0]["name"] == 'm1 "quoted"', started
EOF
out=$("$BIN" serve --insecure --log-format xml --data "$TMP/x" 2>&1); rc=$?
check "a bad log-format is refused (exit 2) with a message" \
  bash -c "[ $rc = 2 ] && grep -q 'log-format: expected text or json' <<<'$out'"
summary
