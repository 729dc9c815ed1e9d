#!/usr/bin/env bash
# Detection benchmark: `trailpack detect` with the built-in pack and the
# SigmaHQ-style pack of tests/data/sigma, against DuckDB running the same rules
# as SQL over the raw .json.gz tree, in one run (scripts/bench_detect.py).
#
# Usage: scripts/bench-detect.sh TREE ARCHIVE [RUNS] [RAW_RUNS]
#   TREE      a trail tree (the 20k-file benchmark tree of bench-e2e, say)
#   ARCHIVE   trailpack's archive of TREE
#   BENCH_VENV  python venv with duckdb and pyyaml (default target/readers-venv)
#
# Needs target/release/trailpack (cargo build --release).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -lt 2 || $# -gt 4 ]]; then
    echo "usage: scripts/bench-detect.sh TREE ARCHIVE [RUNS] [RAW_RUNS]" >&2
    exit 2
fi
VENV="${BENCH_VENV:-$ROOT/target/readers-venv}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c 'import duckdb, yaml' 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check duckdb pyyaml
fi
exec "$VENV/bin/python" "$ROOT/scripts/bench_detect.py" --tree "$1" --archive "$2" \
    --bin "$ROOT/target/release/trailpack" \
    --rules "$ROOT/crates/detect/rules" --rules "$ROOT/tests/data/sigma" \
    --runs "${3:-5}" --raw-runs "${4:-2}"
