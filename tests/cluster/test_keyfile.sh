#!/usr/bin/env bash
# test_keyfile.sh: the key file is opened once per load (start, each SIGHUP),
# so the mode checked is the mode of the bytes parsed (strace counts the
# opens), and a SIGHUP reload is all or nothing: a refused file leaves the
# running keyring exactly as it was, a good one replaces it whole, even when
# its new keys would not fit beside the old ones. Ports 23800-23899.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 23800 23900 2) || { fail "no free ports in 23800-23899"; summary; }
G=$BASE CPORT=$((BASE + 1))
for k in KA KB KC KD KE; do declare "$k=$("$BIN" keygen)"; done
KEYS=$TMP/keys
write_keys() { printf '%s\n' "$@" >"$KEYS.new" && chmod 600 "$KEYS.new" && mv "$KEYS.new" "$KEYS"; }
# key_id KEY: the id KEYRING LIST shows (BLAKE2b-128, personal "gossipkv.keyid", first 4 bytes)
key_id() {
  python3 -c 'import base64, hashlib, sys
print(hashlib.blake2b(base64.b64decode(sys.argv[1]), digest_size=16, person=b"gossipkv.keyid").hexdigest()[:8])' "$1"
}
# KEYRING is an admin command (docs/OPERATIONS.md): the node has an admin password.
ring() {
  rcli "$CPORT" --user admin --pass adm --no-auth-warning KEYRING LIST | paste -d' ' - - | sort
}
ring_of() { # ring_of PRIMARY OTHER...: what KEYRING LIST should show
  { echo "$(key_id "$1") primary"; shift; for k in "$@"; do echo "$(key_id "$k") installed"; done; } | sort
}
opens() { grep -c "openat(.*\"$KEYS\"" "$TMP/strace.out"; }

if ! command -v strace >/dev/null; then
  fail "strace not found (scripts/deps installs it)"; summary
fi
write_keys "$KA" "$KB" "$KC"
strace -f -e trace=openat -o "$TMP/strace.out" "$BIN" serve --name k --data "$TMP/k" \
  --gossip "127.0.0.1:$G" --client "127.0.0.1:$CPORT" --key-file "$KEYS" --admin-password adm --log-level debug \
  >>"$TMP/k.log" 2>&1 &
PID=$!
PIDS+=("$PID")
check "the node starts under strace" wait_until 20 ping_ok "$CPORT"
# strace -f follows the thread pool too; the node's pid is strace's child
NODE=$(pgrep -P "$PID" -x gossipkv || echo "$PID")
PIDS+=("$NODE") # stopped by the cleanup too: strace alone would leave it running
check "the ring holds the file's keys, first primary" [ "$(ring)" = "$(ring_of "$KA" "$KB" "$KC")" ]
check "the key file was opened once at start" [ "$(opens)" = "1" ]

# {D, E, A}: D and E beside A, B, C would be five keys; the file is the ring.
write_keys "$KD" "$KE" "$KA"
kill -HUP "$NODE"
check "SIGHUP: the reload is logged" wait_until 10 grep -q "keyring reloaded" "$TMP/k.log"
check "SIGHUP: the ring is exactly the new file's keys" [ "$(ring)" = "$(ring_of "$KD" "$KE" "$KA")" ]
check "SIGHUP: the key file was opened once more" [ "$(opens)" = "2" ]

# Refused files: the ring stays exactly as it was.
before=$(ring)
check "the ring is readable before the refused reloads" [ -n "$before" ]
nfail=0
bad_reload() { # bad_reload WHAT: SIGHUP, wait for one more "reload failed" line
  nfail=$((nfail + 1))
  kill -HUP "$NODE"
  wait_until 10 bash -c "[ \$(grep -c 'keyring reload failed' '$TMP/k.log') -ge $nfail ]" &&
    [ "$(ring)" = "$before" ]
}
write_keys "$KB" "not-a-key" "$KC"
check "a file with a bad line is refused and changes nothing" bad_reload
write_keys "$KB" "$KB"
check "a file with a duplicate is refused and changes nothing" bad_reload
write_keys "$KA" "$KB" "$KC" "$KD" "$KE"
check "a file with five keys is refused and changes nothing" bad_reload
write_keys "$KB" && chmod 644 "$KEYS"
check "a world-readable file is refused and changes nothing" bad_reload
check "the node keeps serving" ping_ok "$CPORT"
summary
