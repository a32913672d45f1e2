#!/usr/bin/env bash
# short_run.sh BUILD_DIR: one short real experiment for CI (ctest label
# "experiment"): 5 gossipkv nodes in network namespaces, the set workload,
# partitions of halves and a SIGKILL+restart (seed 3 draws both), then the checker. Fails if an
# acknowledged write is lost, a node lost a key it had shown, or the nodes do
# not converge after the final heal. Needs root (namespaces, nftables): skips
# (exit 77, reported as skipped by ctest) with the reason otherwise.
set -u
BUILD=${1:?usage: $0 BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: the experiment needs root to create network namespaces and nftables rules"
  exit 77
fi
SEED=${GKV_SEED:-3}
OUT="$BUILD/experiment-short"
rm -rf "$OUT"
echo "seed $SEED (GKV_SEED=N to change), report in $OUT"
"$ROOT/scripts/experiment" run --nodes 5 --time 30 --rate 150 --workload set \
  --nemesis partition-halves,kill --nemesis-interval 5 --seed "$SEED" \
  --binary "$BUILD/gossipkv" --out "$OUT"
rc=$?
if [ $rc -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed (exit $rc)"; fi
exit $rc
