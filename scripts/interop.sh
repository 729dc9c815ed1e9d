#!/usr/bin/env bash
# Interoperability check: archive a generated CloudTrail tree with trailpack,
# then read the archive back with DuckDB and pyarrow (and `trailpack stats`)
# and compare against ground truth computed from the source JSON.
#
# Usage: scripts/interop.sh [TRAILPACK_BINARY]
#   default binary: target/release/trailpack if it exists, else target/debug/trailpack
#
# The Python readers come from scripts/readers-venv.sh (target/readers-venv).
# A relative binary path is taken from the current directory
# when they exist there, otherwise from the repository root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# abspath PATH: absolute form of PATH (cwd first, then repo root).
abspath() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *)  if [[ -e "$1" ]]; then printf '%s/%s\n' "$PWD" "$1"
            else printf '%s/%s\n' "$ROOT" "$1"; fi ;;
    esac
}

if [[ $# -gt 1 ]]; then
    echo "usage: scripts/interop.sh [TRAILPACK_BINARY]" >&2
    exit 2
fi
if [[ $# -eq 1 ]]; then
    BIN="$(abspath "$1")"
elif [[ -x "$ROOT/target/release/trailpack" ]]; then
    BIN="$ROOT/target/release/trailpack"
else
    BIN="$ROOT/target/debug/trailpack"
fi
if [[ ! -x "$BIN" ]]; then
    echo "interop: trailpack binary not found or not executable: $BIN" >&2
    exit 2
fi

# --- python environment: the pinned readers (deltalake, duckdb + delta, pyarrow)
PY="$(bash "$ROOT/scripts/readers-venv.sh")"

# --- source tree and archive -------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/interop.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

python3 "$ROOT/scripts/gen_trail.py" --out "$tmp/trail" --files 400 --seed 11 \
    --extras --org o-abc123xyz0

set +e
"$BIN" archive "$tmp/trail" --to "$tmp/archive" --quiet
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
    echo "interop: FAIL archive: expected exit 0 got $rc" >&2
    exit 1
fi

# --- read back and compare ---------------------------------------------------
# interop.py prints the final "interop: N passed, 0 failed" line; exit 1 on failure.
"$PY" "$ROOT/scripts/interop.py" "$tmp/trail" "$tmp/archive" "$BIN"
