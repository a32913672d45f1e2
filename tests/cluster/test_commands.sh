#!/usr/bin/env bash
# test_commands.sh: every Redis command gossipkv serves answers as redis-cli
# expects, on one node with a key (no peers needed); then the AUTH gate on a
# node with requirepass, the admin user, and CONFIG GET hiding passwords.
# Ports 21100-21199.
. "$(dirname "$0")/lib.sh"

BASE=$(pick_base 21100 21200 4) || { fail "no free ports in 21100-21199"; summary; }
G=$BASE C=$((BASE + 1)) G2=$((BASE + 2)) C2=$((BASE + 3))
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"

start_node solo "$G" "$C" --key-file "$TMP/key" --admin-password 4dmin || fail "node starts"
r() { rcli "$C" "$@"; }
ra() { rcli "$C" --user admin --pass 4dmin --no-auth-warning "$@"; } # the admin user

check "PING answers PONG" [ "$(r PING)" = "PONG" ]
check "PING msg echoes" [ "$(r PING hello)" = "hello" ]
check "ECHO" [ "$(r ECHO 'a b')" = "a b" ]
check "SET answers OK" [ "$(r SET k1 v1)" = "OK" ]
check "GET returns the value" [ "$(r GET k1)" = "v1" ]
check "GET of a missing key is nil" [ "$(r GET nokey)" = "" ]
check "SET NX on an existing key is nil" [ "$(r SET k1 other NX)" = "" ]
check "SET NX left the value" [ "$(r GET k1)" = "v1" ]
check "SET XX on a missing key is nil" [ "$(r SET k2 v XX)" = "" ]
check "SET XX GET returns the old value" [ "$(r SET k1 v1b XX GET)" = "v1" ]
check "SET EX sets a TTL" [ "$(r SET k3 v EX 10)" = "OK" ]
check "TTL of it" [ "$(r TTL k3)" = "10" ]
check "DEL of it" [ "$(r DEL k3)" = "1" ]
check "SET with a bad option is a syntax error" bash -c "redis-cli -p $C SET k3 v BOGUS | grep -q 'syntax error'"
check "MSET answers OK" [ "$(r MSET a 1 b 2 c 3)" = "OK" ]
check "MSET with an odd count is an arity error" \
  bash -c "redis-cli -p $C MSET a 1 b | grep -q \"wrong number of arguments for 'mset'\""
check "MGET returns values and nils" [ "$(r MGET a b nokey c | tr '\n' ,)" = "1,2,,3," ]
check "EXISTS counts" [ "$(r EXISTS a b nokey a)" = "3" ]
check "DBSIZE" [ "$(r DBSIZE)" = "4" ]
check "DEL counts deleted keys" [ "$(r DEL a nokey)" = "1" ]
check "DEL removed the key" [ "$(r EXISTS a)" = "0" ]
# MGET looks keys up 32 at a time (store_get_batch): 72 keys are three
# batches, with the deleted key a (a tombstone) and a missing one among them.
margs=() mset=() mwant=""
for i in $(seq 0 69); do
  mset+=("m$i" "v$i") margs+=("m$i") mwant+="v$i,"
  if [ "$i" = 40 ]; then margs+=(a) mwant+=","; fi
done
margs+=(nokey) mwant+=","
check "MSET of 70 keys" [ "$(r MSET "${mset[@]}")" = "OK" ]
check "MGET of 72 keys across three batches, with nils in place" \
  [ "$(r MGET "${margs[@]}" | tr '\n' ,)" = "$mwant" ]
check "DEL of the 70 keys" [ "$(r DEL $(seq -f 'm%g' 0 69))" = "70" ]
check "DBSIZE after DEL" [ "$(r DBSIZE)" = "3" ]
check "TYPE" [ "$(r TYPE b)" = "string" ]
check "KEYS with a pattern" [ "$(r KEYS 'k*' | sort | tr '\n' ,)" = "k1," ]
check "KEYS * sees live keys only" [ "$(r KEYS '*' | sort | tr '\n' ,)" = "b,c,k1," ]
check "redis-cli --scan walks every key" [ "$(redis-cli -p "$C" --scan | sort | tr '\n' ,)" = "b,c,k1," ]
check "redis-cli --scan --pattern" [ "$(redis-cli -p "$C" --scan --pattern '[bc]' | sort | tr '\n' ,)" = "b,c," ]
check "SCAN with a bad cursor" bash -c "redis-cli -p $C SCAN abc | grep -q 'invalid cursor'"
check "SELECT 0" [ "$(r SELECT 0)" = "OK" ]
check "SELECT 1 is out of range" bash -c "redis-cli -p $C SELECT 1 | grep -q 'DB index is out of range'"
check "CLIENT SETNAME / GETNAME" [ "$(printf 'CLIENT SETNAME tester\nCLIENT GETNAME\n' | redis-cli -p "$C" | tr '\n' ,)" = "OK,tester," ]
check "CLIENT ID is an integer" bash -c "redis-cli -p $C CLIENT ID | grep -Eq '^[0-9]+$'"
check "CONFIG GET save (redis-benchmark)" [ "$(r CONFIG GET save | tr '\n' ,)" = "save,," ]
check "CONFIG GET appendonly" [ "$(r CONFIG GET appendonly | tr '\n' ,)" = "appendonly,no," ]
check "CONFIG GET maxclients" [ "$(r CONFIG GET maxclients | tr '\n' ,)" = "maxclients,10000," ]
check "COMMAND COUNT" bash -c "[ \$(redis-cli -p $C COMMAND COUNT) -ge 20 ]"
check "COMMAND DOCS is an empty array" [ "$(r COMMAND DOCS)" = "" ]
check "COMMAND lists get" bash -c "redis-cli -p $C COMMAND | grep -qx get"
check "COMMAND INFO get" bash -c "redis-cli -p $C COMMAND INFO get | grep -qx get"
check "INFO has every section" bash -c "redis-cli -p $C INFO | grep -c '^# ' | grep -qx 7"
check "INFO keyspace counts keys" bash -c "redis-cli -p $C INFO keyspace | grep -q 'db0:keys=3,expires=0'"
check "INFO storage has the sync mode" [ "$(info_field "$C" storage sync)" = "batch" ]
check "INFO gossip has refusal counters" bash -c "redis-cli -p $C INFO gossip | grep -q '^refused_bad_tag:'"
check "INFO server names the node" [ "$(info_field "$C" server node_name)" = "solo" ]
check "MEMBERS lists this node as alive" state_is "$C" solo alive
check "VERSION shows origin, HLC, vector clock" \
  bash -c "redis-cli -p $C VERSION k1 | tr '\n' ' ' | grep -Eq 'hlc [0-9]+ .*origin [0-9a-f]{16} origin_name solo tombstone 0 .*vclock [0-9a-f]{16} 2'"
check "VERSION of a deleted key is a tombstone" bash -c "redis-cli -p $C VERSION a | tr '\n' ' ' | grep -q 'tombstone 1'"
check "VERSION of a missing key is nil" [ "$(r VERSION neverset)" = "" ]
check "KEYRING without the admin user is refused (NOPERM)" bash -c "redis-cli -p $C KEYRING LIST | grep -q '^NOPERM'"
check "CONFIG RESETSTAT without the admin user is refused" bash -c "redis-cli -p $C CONFIG RESETSTAT | grep -q '^NOPERM'"
check "NOPERM refusals are counted" [ "$(info_field "$C" clients noperm_refused)" = "2" ]
check "a wrong admin password gets WRONGPASS" bash -c "redis-cli -p $C AUTH admin nope | grep -q WRONGPASS"
check "KEYRING LIST shows one primary" bash -c "redis-cli -p $C --user admin --pass 4dmin --no-auth-warning KEYRING LIST | tr '\n' ' ' | grep -Eq '^[0-9a-f]{8} primary $'"
NEWKEY=$("$BIN" keygen)
OLDKEY=$(head -1 "$TMP/key")
check "KEYRING INSTALL" [ "$(ra KEYRING INSTALL "$NEWKEY")" = "OK" ]
check "KEYRING INSTALL twice is refused" bash -c "redis-cli -p $C --user admin --pass 4dmin --no-auth-warning KEYRING INSTALL '$NEWKEY' | grep -q 'already installed'"
check "KEYRING USE" [ "$(ra KEYRING USE "$NEWKEY")" = "OK" ]
check "KEYRING REMOVE the old key" [ "$(ra KEYRING REMOVE "$OLDKEY")" = "OK" ]
check "KEYRING REMOVE the primary is refused" bash -c "redis-cli -p $C --user admin --pass 4dmin --no-auth-warning KEYRING REMOVE '$NEWKEY' | grep -q 'primary'"
check "KEYRING INSTALL garbage is refused" bash -c "redis-cli -p $C --user admin --pass 4dmin --no-auth-warning KEYRING INSTALL notakey | grep -q 'bad key'"
check "CONFIG RESETSTAT as admin" [ "$(ra CONFIG RESETSTAT)" = "OK" ]
check "CONFIG GET admin-password does not show it" [ "$(r CONFIG GET admin-password | tr '\n' ,)" = "admin-password,(hidden)," ]
check "CONFIG GET * never shows the admin password" bash -c "! redis-cli -p $C CONFIG GET '*' | grep -q 4dmin"
check "unknown command error as Redis words it" \
  bash -c "redis-cli -p $C FOO bar | grep -q \"ERR unknown command 'FOO', with args beginning with: 'bar'\""
check "wrong arity error as Redis words it" \
  bash -c "redis-cli -p $C GET | grep -q \"ERR wrong number of arguments for 'get' command\""
check "HELLO 3 is refused (RESP2 only)" bash -c "redis-cli -p $C HELLO 3 | grep -q NOPROTO"
check "binary-safe values round-trip" bash -c "printf 'a\0b\r\nc' | redis-cli -p $C -x SET bin >/dev/null && [ \"\$(redis-cli -p $C --no-raw STRLEN bin 2>/dev/null; redis-cli -p $C GET bin | od -An -c | tr -d ' \n')\" != '' ]"
check "a 1 MiB value round-trips" bash -c "head -c 1048576 /dev/zero | tr '\0' x | redis-cli -p $C -x SET big >/dev/null && [ \$(redis-cli -p $C GET big | wc -c) -eq 1048577 ]"
# The node answers the error and closes the client as soon as it reads the
# bulk length (as Redis does), while redis-cli may still be sending the 1 MiB
# body; redis-cli then reports the reset instead of the reply. Either way the
# value must not be stored and the node must keep serving.
check "a value over max-value-bytes is refused" \
  bash -c "head -c 1048577 /dev/zero | tr '\0' x | redis-cli -p $C -x SET big2 2>&1 | grep -q 'invalid bulk length\|larger than max-value-bytes\|reset by peer\|Broken pipe\|closed' && [ \"\$(redis-cli -p $C EXISTS big2)\" = 0 ]"
check "the node still serves after the refusal" [ "$(r PING)" = "PONG" ]
check "QUIT answers OK" [ "$(r QUIT)" = "OK" ]

# The AUTH gate.
start_node locked "$G2" "$C2" --insecure --requirepass s3cret || fail "locked node starts"
check "commands before AUTH get NOAUTH" bash -c "redis-cli -p $C2 GET k | grep -q NOAUTH"
check "PING before AUTH gets NOAUTH" bash -c "redis-cli -p $C2 PING | grep -q NOAUTH"
check "a wrong password gets WRONGPASS" bash -c "redis-cli -p $C2 AUTH nope | grep -q WRONGPASS"
check "redis-cli -a works" [ "$(redis-cli -p "$C2" -a s3cret --no-auth-warning SET k v)" = "OK" ]
check "AUTH default user works" [ "$(printf 'AUTH default s3cret\nGET k\n' | redis-cli -p "$C2" | tr '\n' ,)" = "OK,v," ]
check "HELLO 2 AUTH works" bash -c "redis-cli -p $C2 HELLO 2 AUTH default s3cret | grep -qx gossipkv"
check "a big request before AUTH is refused by the small limits" \
  bash -c "python3 -c 'import socket;s=socket.create_connection((\"127.0.0.1\",$C2));s.sendall(b\"*2\r\n\$3\r\nGET\r\n\$100000\r\n\");print(s.recv(200).decode())' | grep -q 'unauthenticated bulk length'"
check "AUTH failures are counted" bash -c "redis-cli -p $C2 -a s3cret --no-auth-warning INFO clients | grep -q '^auth_failures:[1-9]'"
check "CONFIG GET requirepass does not return the password" \
  [ "$(redis-cli -p "$C2" -a s3cret --no-auth-warning CONFIG GET requirepass | tr '\n' ,)" = "requirepass,(hidden)," ]
check "admin commands are off without an admin-password" \
  bash -c "redis-cli -p $C2 -a s3cret --no-auth-warning CONFIG RESETSTAT | grep -q 'no admin-password'"
check "AUTH admin without an admin-password is WRONGPASS" \
  bash -c "redis-cli -p $C2 AUTH admin s3cret | grep -q WRONGPASS"
check "AUTH without requirepass is an error" bash -c "redis-cli -p $C AUTH x | grep -q 'without any password configured'"

summary
