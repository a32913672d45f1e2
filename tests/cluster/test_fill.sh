#!/usr/bin/env bash
# test_fill.sh: a new, empty node fills from its peers (issue 23).
# Three nodes hold 20,000 keys; a fourth starts empty with --join. While it
# fills, INFO gossip shows the fill (fill_active:1, buckets done of total,
# bytes, rate) and a read answers -LOADING (docs/OPERATIONS.md, "A node
# filling up"); when it ends the node holds every key, serves reads, has
# received each entry about once (at most 1.1 entries per entry needed),
# and its log says "fill done". The senders run with
# --repair-bytes-per-tick 4kb (0.8 MB/s) so the fill lasts a few seconds
# and the test can see it, whatever the machine's speed (a repair call
# sends at least one 64 KiB frame whatever the cap: about 6 MB/s).
# Ports 25600-25699.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 25600 25700 8) || { fail "no free ports in 25600-25699"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
KEYS=20000
G=() C=()
for i in 1 2 3 4; do G[$i]=$((BASE + 2 * i - 2)); C[$i]=$((BASE + 2 * i - 1)); done
common=(--key-file "$TMP/key" --label filltest "${FAST_GOSSIP[@]}")
start_node n1 "${G[1]}" "${C[1]}" "${common[@]}" --repair-bytes-per-tick 4kb || fail "n1 starts"
for i in 2 3; do
  start_node "n$i" "${G[$i]}" "${C[$i]}" "${common[@]}" --repair-bytes-per-tick 4kb \
    --join "127.0.0.1:${G[1]}" || fail "n$i starts"
done
check "three nodes alive" wait_until 20 alive_count_is "${C[1]}" 3

# 20 MSETs of 1,000 keys (12-byte keys, 100-byte values), spread over n1-n3
python3 - "$KEYS" >"$TMP/load.resp" <<'EOF'
import sys
keys = int(sys.argv[1])
val = b"v" * 100
out = sys.stdout.buffer
for start in range(0, keys, 1000):
    args = [b"MSET"]
    for i in range(start, min(keys, start + 1000)):
        args += [b"k%011d" % i, val]
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
EOF
timeout 60 redis-cli -h 127.0.0.1 -p "${C[1]}" --pipe <"$TMP/load.resp" >"$TMP/pipe.out" 2>&1
check "the load is acknowledged" grep -q "errors: 0, replies: 20" "$TMP/pipe.out"
# n1 repairs the load to n2 and n3 at the capped rate: let that finish
# (repair_entries_sent stops growing) before n4 asks n1 for its share
sent1() { info_field "${C[1]}" gossip repair_entries_sent; }
settled() { local a; a=$(sent1); sleep 1; [ "$a" = "$(sent1)" ]; }
dbsize_is() { [ "$(rcli "$1" DBSIZE)" = "$2" ]; }
same_root() { [ "$(info_field "$1" storage root_hash)" = "$(info_field "$2" storage root_hash)" ]; }
check "n2 and n3 hold every key" wait_until 60 dbsize_is "${C[3]}" "$KEYS"
check "n1-n3 agree" wait_until 60 same_root "${C[1]}" "${C[3]}"
check "n1's repair is done" wait_until 60 settled

start_node n4 "${G[4]}" "${C[4]}" "${common[@]}" --join "127.0.0.1:${G[1]}" || fail "n4 starts"
filling() { [ "$(info_field "${C[4]}" gossip fill_active)" = 1 ]; }
check "n4 reports a fill in INFO" wait_until 20 filling
info=$(rcli "${C[4]}" INFO gossip | tr -d '\r')
echo "$info" | grep -E '^fill_' | sed 's/^/  /'
field() { echo "$info" | awk -F: -v k="$1" '$1 == k { print $2 }'; }
check "fill_buckets_total is positive" [ "$(field fill_buckets_total)" -gt 0 ]
check "fill_buckets_done <= fill_buckets_total" \
  [ "$(field fill_buckets_done)" -le "$(field fill_buckets_total)" ]
check "n4 is an initial fill that refuses reads" \
  [ "$(field fill_initial):$(field fill_reads)" = "1:refused" ]
loading() { rcli "${C[4]}" GET k00000000007 | grep -q '^LOADING'; }
check "a read during the fill answers -LOADING" loading
check "a write during the fill is accepted" [ "$(rcli "${C[4]}" SET fillwrite yes)" = OK ]
KEYS=$((KEYS + 1))
check "n1 gets that write" wait_until 30 get_is "${C[1]}" fillwrite yes

done_filling() { [ "$(info_field "${C[4]}" gossip fill_active)" = 0 ]; }
check "the fill ends" wait_until 90 done_filling
check "n4 holds every key" wait_until 30 dbsize_is "${C[4]}" "$KEYS"
check "n4 agrees with n1" wait_until 30 same_root "${C[4]}" "${C[1]}"
check "n4 serves reads" get_is "${C[4]}" k00000000007 "$(printf 'v%.0s' $(seq 100))"
check "INFO says reads are served" [ "$(info_field "${C[4]}" gossip fill_reads)" = served ]
# a loaded machine can end a fill before a slow peer's share was claimed;
# the next session then starts another one
check "fills_done is at least 1" [ "$(info_field "${C[4]}" gossip fills_done)" -ge 1 ]
recv=$(( $(info_field "${C[4]}" gossip deltas_received) + \
         $(info_field "${C[4]}" gossip repair_entries_received) ))
echo "  n4 received $recv entries for $KEYS needed"
rcli "${C[4]}" INFO gossip | tr -d '\r' | grep -E '^(repair_pull|fill_entries|sync_offers_postponed_fill|bucket_reqs_sent)' | sed 's/^/  n4 /'
for i in 1 2 3; do
  rcli "${C[$i]}" INFO gossip | tr -d '\r' | grep -E '^(repair_entries_sent|repair_sweeps|buckets_repaired|repair_push_offers|repair_blocked|bucket_reqs_received):' | tr '\n' ' ' | sed "s/^/  n$i /"; echo
done
check "n4 received at most 1.1 entries per entry needed" [ $((recv * 10)) -le $((KEYS * 11)) ]
check "the log reports the fill" wait_until 10 grep -q 'msg="fill done"' "$TMP/n4.log"
check "the log reports catching up" wait_until 10 grep -q 'caught up with the cluster' "$TMP/n4.log"
summary
