#!/usr/bin/env bash
# test_config.sh: `gossipkv serve` settings: a redis.conf-style file with
# flags over it, GOSSIPKV_KEY, refusals with clear messages (no key, key and
# --insecure, unknown setting, bad file line), sync=always, and a two-node
# cluster over IPv6 loopback in brackets (skipped if ::1 is unavailable).
# Ports 21600-21699.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21600 21700 6) || { fail "no free ports in 21600-21699"; summary; }
G1=$BASE C1=$((BASE + 1)) G2=$((BASE + 2)) C2=$((BASE + 3)) G3=$((BASE + 4)) C3=$((BASE + 5))

# Refusals: exit status 2 and a message naming the problem.
out=$("$BIN" serve --data "$TMP/x" --gossip "127.0.0.1:$G1" --client "127.0.0.1:$C1" 2>&1); rc=$?
check "no key and no --insecure is refused (exit 2)" [ "$rc" = 2 ]
check "... with a message saying how to get a key" grep -q "gossipkv keygen" <<<"$out"
out=$(GOSSIPKV_KEY=$("$BIN" keygen) "$BIN" serve --insecure --data "$TMP/x" 2>&1); rc=$?
check "a key together with --insecure is refused" [ "$rc" = 2 ]
# Protected mode: nothing is bound when a refusal happens (config check).
out=$("$BIN" serve --insecure --data "$TMP/x" --gossip "127.0.0.1:$G1" --client "0.0.0.0:$C1" 2>&1); rc=$?
check "clients on a non-loopback address without requirepass are refused (exit 2)" [ "$rc" = 2 ]
says_all() { local w; for w in "$@"; do grep -qF -- "$w" <<<"$out" || return 1; done; }
check "... naming both ways out" says_all "protected mode" "set requirepass" "protected-mode no"
out=$("$BIN" serve --insecure --data "$TMP/x" --gossip "10.255.255.1:$G1" --client "127.0.0.1:$C1" 2>&1); rc=$?
check "--insecure with gossip on a non-loopback address is refused (exit 2)" [ "$rc" = 2 ]
check "... naming both ways out" says_all "--key-file" "--insecure-network"
out=$("$BIN" serve --bogus 1 2>&1); rc=$?
check "an unknown flag is refused (exit 2)" [ "$rc" = 2 ]
check "... naming it" grep -q "unknown option '--bogus'" <<<"$out"
printf 'name ok\nsync sometimes\n' >"$TMP/bad.conf"
out=$("$BIN" serve --config "$TMP/bad.conf" 2>&1); rc=$?
check "a bad config line is refused naming file and line" \
  bash -c "[ $rc = 2 ] && grep -q 'bad.conf:2: sync: expected none, batch or always' <<<'$out'"
check "serve --help lists every setting" bash -c "'$BIN' serve --help | grep -q -- '--client-output-buffer-limit'"

# A config file, a flag over it, the key from the environment.
cat >"$TMP/n1.conf" <<CONF
# a comment line
name "from file"
data $TMP/n1
gossip 127.0.0.1:$G1
client 127.0.0.1:$C1
sync always
maxclients 77        # trailing comment
timeout 42
label cfgtest
CONF
export GOSSIPKV_KEY
GOSSIPKV_KEY=$("$BIN" keygen)
"$BIN" serve --config "$TMP/n1.conf" --name n1 --log-level debug >>"$TMP/n1.log" 2>&1 &
PIDS+=($!)
unset GOSSIPKV_KEY
check "a node starts from a config file with GOSSIPKV_KEY" wait_until 10 ping_ok "$C1"
check "the flag overrides the file (name)" [ "$(info_field "$C1" server node_name)" = "n1" ]
check "CONFIG GET maxclients from the file" [ "$(rcli "$C1" CONFIG GET maxclients | tail -1)" = "77" ]
check "CONFIG GET timeout from the file" [ "$(rcli "$C1" CONFIG GET timeout | tail -1)" = "42" ]
check "INFO server says secure" [ "$(info_field "$C1" server secure)" = "yes" ]
check "INFO storage sync:always" [ "$(info_field "$C1" storage sync)" = "always" ]
check "SET under sync=always" [ "$(rcli "$C1" SET durable yes)" = "OK" ]
check "... and it is there" get_is "$C1" durable yes
id_dec=$(python3 -c "print(int('$(info_field "$C1" server node_id)', 16))")
check "the node id is persisted in the store header" \
  bash -c "'$BIN' inspect '$TMP/n1' 2>/dev/null | grep -Eq '^node id: +$id_dec\$'"

# IPv6 in brackets.
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
  "$BIN" keygen >"$TMP/key6" && chmod 600 "$TMP/key6"
  start_node v6a "$G2" "$C2" --gossip "[::1]:$G2" --key-file "$TMP/key6" "${FAST_GOSSIP[@]}" \
    || fail "IPv6 node a starts"
  start_node v6b "$G3" "$C3" --gossip "[::1]:$G3" --key-file "$TMP/key6" "${FAST_GOSSIP[@]}" \
    --join "[::1]:$G2" || fail "IPv6 node b starts"
  check "two nodes gossip over [::1]" wait_until 20 alive_count_is "$C2" 2
  check "MEMBERS shows a bracketed address" bash -c "redis-cli -p $C2 MEMBERS | grep -q '^\[::1\]:$G3\$'"
  check "a write crosses over IPv6" [ "$(rcli "$C2" SET six ipv6)" = "OK" ]
  check "... and is read on the other node" wait_until 10 get_is "$C3" six ipv6
else
  echo "skip - IPv6 loopback unavailable"
fi

summary
