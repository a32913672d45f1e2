#!/usr/bin/env bash
# docs/BENCHMARKS.md's tables come from the results.json it names: every
# generated block must equal what bench/run renders from that file, and no
# table row may sit outside a generated block (a hand-edited figure fails).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
exec "$ROOT/bench/run" --check-doc "$ROOT/docs/BENCHMARKS.md"
