#!/usr/bin/env bash
# Every INFO field has an entry in docs/OPERATIONS.md, and every entry there
# is a field INFO prints.
#
# Starts one real node (with a key, a metrics listener and one key stored, so
# every conditional line of INFO is printed), reads `INFO all`, and compares
# each "name:value" line with the rows of the tables under "## INFO" in
# docs/OPERATIONS.md: a row "| `name` | ... |" (or "| `a`, `b` | ... |")
# under the "### <section>" heading of the section INFO prints it in.
# A field added to node/info.c without a row fails here, naming the field.
DIR=$(cd "$(dirname "$0")" && pwd)
source "$DIR/../cluster/lib.sh"
DOC=${GKV_OPERATIONS_DOC:-$DIR/../../docs/OPERATIONS.md}

base=$(pick_base 25400 25500 3) || { fail "no free ports"; summary; }
"$BIN" keygen >"$TMP/key" && chmod 600 "$TMP/key"
start_node n1 "$base" $((base + 1)) --key-file "$TMP/key" \
  --metrics "127.0.0.1:$((base + 2))" || fail "n1 starts"
check "a key is stored (for the keyspace line)" test "$(rcli $((base + 1)) SET k v)" = OK

# "section field" for every line INFO prints.
rcli $((base + 1)) INFO all | tr -d '\r' | awk '
  /^# / { sec = tolower($2); next }
  /^[^:]+:/ { split($0, kv, ":"); print sec, kv[1] }' | sort -u >"$TMP/printed"
# "section field" for every row of the INFO tables in the doc.
awk '
  /^## / { in_info = ($0 == "## INFO"); sec = ""; next }
  in_info && /^### / { sec = $2; next }
  in_info && sec != "" && /^\| `/ {
    split($0, cells, "|"); cell = cells[2]
    while (match(cell, /`[^`]+`/)) {
      print sec, substr(cell, RSTART + 1, RLENGTH - 2)
      cell = substr(cell, RSTART + RLENGTH)
    }
  }' "$DOC" | sort -u >"$TMP/documented"

check "INFO printed at least 100 fields" test "$(wc -l <"$TMP/printed")" -ge 100
undocumented=$(comm -23 "$TMP/printed" "$TMP/documented")
stale=$(comm -13 "$TMP/printed" "$TMP/documented")
[ -z "$undocumented" ] || echo "INFO fields without a row in $DOC (section field):" $'\n'"$undocumented"
[ -z "$stale" ] || echo "rows in $DOC for fields INFO does not print (section field):" $'\n'"$stale"
check "every INFO field has a row in docs/OPERATIONS.md" test -z "$undocumented"
check "every row under ## INFO is a field INFO prints" test -z "$stale"
summary
