#!/usr/bin/env bash
# The rule that makes the simulator possible (docs/ARCHITECTURE.md):
# gossip/ and storage/ (and common/) never include libuv, never read a clock,
# never call rand(). Fails naming each offending line.
set -u
cd "$(dirname "$0")/../.."
bad=0
pattern='#include[[:space:]]*[<"]uv\.h|\b(clock_gettime|gettimeofday|time|rand|random|srand|srandom|drand48|rand_r|uv_[a-z_]+)[[:space:]]*\('
for dir in common storage gossip; do
  while IFS= read -r hit; do
    # strip comments-only lines
    line=${hit#*:*:}
    case "$line" in
      *'/*'*|' *'*|'//'*) continue ;;
    esac
    echo "layering violation: $hit"
    bad=1
  done < <(grep -nE "$pattern" $dir/*.c $dir/*.h 2>/dev/null)
done
# randombytes: only seal.c's keygen helper may draw (node/ calls it for
# `gossipkv keygen`); everything else takes randomness from its caller.
if grep -nE 'randombytes' common/*.c storage/*.c gossip/*.c 2>/dev/null | grep -v '^gossip/seal.c:'; then
  echo "layering violation: randombytes outside gossip/seal.c"
  bad=1
fi
if [ $bad -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $bad
