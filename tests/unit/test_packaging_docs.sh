#!/usr/bin/env bash
# test_packaging_docs.sh: what ships with the package stays true to the
# binary. Every setting `gossipkv serve --help` lists is described in
# gossipkv.conf(5), commented with its default in the example config and
# in docs/OPERATIONS.md's table; both man pages render without groff
# warnings; the alert rules pass `promtool check rules` (tests/cluster/
# test_metrics.sh checks that they name only metrics a node serves).
set -u
BUILD=${1:?usage: $0 BUILD_DIR}
cd "$(dirname "$0")/../.."
pass=0 failed=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }

names=$("$BUILD/gossipkv" serve --help | awk '$1 ~ /^--/ && $1 != "--config" { print substr($1, 3) }')
[ -n "$names" ] && ok "serve --help lists settings" || bad "serve --help lists no settings"
for n in $names; do
  roff=$(sed 's/-/\\\\-/g' <<<"$n")
  grep -q "^\.B[IR] $roff\( \|$\)" packaging/gossipkv.conf.5 || bad "gossipkv.conf(5) does not describe '$n'"
  grep -q "^# $n \|^$n " packaging/gossipkv.conf || bad "packaging/gossipkv.conf does not list '$n'"
  grep -q "^| \`$n\( [A-Z]*\)\?\` |" docs/OPERATIONS.md || bad "docs/OPERATIONS.md's settings table lacks '$n'"
done
[ "$failed" = 0 ] && ok "every setting is in gossipkv.conf(5), the example config and OPERATIONS.md"

for page in packaging/gossipkv.1 packaging/gossipkv.conf.5; do
  w=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  [ -z "$w" ] && ok "$page renders without warnings" || bad "$page: $w"
done

if command -v promtool >/dev/null; then
  promtool check rules packaging/alerts.yml >/dev/null 2>&1 && ok "promtool check rules alerts.yml" ||
    bad "promtool check rules packaging/alerts.yml: $(promtool check rules packaging/alerts.yml 2>&1)"
else
  bad "promtool not found (scripts/deps installs prometheus)"
fi
echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
