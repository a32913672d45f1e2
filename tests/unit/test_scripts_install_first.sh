#!/usr/bin/env bash
# The README's two commands (scripts/demo, scripts/test) must run on a fresh
# Debian machine: each calls scripts/deps before it uses any tool that deps
# installs. This checks the order in each script's text: the first line that
# runs scripts/deps comes before the first line that runs cmake, ctest,
# redis-cli, redis-server, python3 or cc. (CI also runs `scripts/demo --once`
# on a fresh clone, which is the behaviour this guards.)
#
#   tests/unit/test_scripts_install_first.sh [BUILD_DIR] [SCRIPT...]
#   ctest passes the build directory first (unused); SCRIPTs default to
#   scripts/demo and scripts/test.
set -u
[ -d "${1:-}" ] && shift
cd "$(dirname "$0")/../.."
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(scripts/demo scripts/test)
pass=0
fail=0
tool_re='^[^#]*(^|[[:space:];(|&!])(cmake|ctest|redis-cli|redis-server|python3|cc|gcc|clang)([[:space:]]|$)'
for s in "${scripts[@]}"; do
  # a command that starts a line (maybe after `if !`), not a mention in a message
  deps=$(grep -nE '^[[:space:]]*(if[[:space:]]+!?[[:space:]]*)?(\./)?scripts/deps([[:space:]]|$)' "$s" | head -1 | cut -d: -f1)
  # "command -v TOOL" only asks whether a tool is there; it does not run it.
  tool=$(grep -nE "$tool_re" "$s" | grep -v 'command -v' | head -1 | cut -d: -f1)
  if [ -z "$deps" ]; then
    echo "FAIL - $s never runs scripts/deps"
    fail=$((fail + 1))
  elif [ -n "$tool" ] && [ "$tool" -lt "$deps" ]; then
    echo "FAIL - $s runs a tool at line $tool before scripts/deps at line $deps"
    fail=$((fail + 1))
  else
    echo "ok   - $s runs scripts/deps (line $deps) before any tool it installs${tool:+ (first: line $tool)}"
    pass=$((pass + 1))
  fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
