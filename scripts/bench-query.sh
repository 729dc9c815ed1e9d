#!/usr/bin/env bash
# Query benchmark: `trailpack query` against DuckDB over the same archive's
# Parquet files and DuckDB over the raw .json.gz tree, measured in one run.
#
# Usage: scripts/bench-query.sh [WORKDIR] [FILES]
#   WORKDIR  where the generated tree and its archive are kept and reused
#            (default target/bench-query)
#   FILES    number of log files to generate (default 30000): one account,
#            four regions, 365 days from 2021-01-01, seed 7
#   BENCH_VENV         python venv with duckdb (default target/interop-venv,
#                      created the way scripts/interop.sh creates it)
#   BENCH_RUNS         timed runs per query for trailpack and DuckDB/Parquet (default 5)
#   BENCH_RAW_RUNS     timed runs per query for DuckDB over the raw tree (default 2)
#   BENCH_DUCKDB_THREADS  DuckDB threads (default 2)
#
# Builds nothing: needs target/release/trailpack (cargo build --release).
# The tree is generated once into WORKDIR/trail-FILES and archived once into
# WORKDIR/archive-FILES; later runs reuse both. Run it on an otherwise idle
# machine; numbers are wall times with a warm page cache.
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

if [[ $# -gt 2 ]]; then
    echo "usage: scripts/bench-query.sh [WORKDIR] [FILES]" >&2
    exit 2
fi
WORKDIR="$(abspath "${1:-target/bench-query}")"
FILES="${2:-30000}"
if ! [[ "$FILES" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench-query: FILES must be a positive integer, got '$FILES'" >&2
    exit 2
fi

BIN="$ROOT/target/release/trailpack"
if [[ ! -x "$BIN" ]]; then
    echo "bench-query: $BIN not found; build it first (cargo build --release)" >&2
    exit 2
fi

VENV="$(abspath "${BENCH_VENV:-target/interop-venv}")"
PY="$VENV/bin/python"

start_all=$SECONDS

# --- python environment (as scripts/interop.sh) -----------------------------
if [[ ! -x "$PY" ]]; then
    echo "bench-query: creating venv $VENV"
    python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import duckdb' 2>/dev/null; then
    echo "bench-query: installing duckdb and pyarrow into $VENV"
    start_pip=$SECONDS
    "$PY" -m pip install --quiet --disable-pip-version-check duckdb pyarrow
    echo "bench-query: pip install took $((SECONDS - start_pip))s"
fi

# --- tree and archive, each made once ----------------------------------------
mkdir -p "$WORKDIR"
TREE="$WORKDIR/trail-$FILES"
ARCHIVE="$WORKDIR/archive-$FILES"
GEN_ARGS=(--files "$FILES" --seed 7 --accounts 111122223333
          --regions us-east-1,eu-west-1,ap-southeast-2,us-west-2
          --start 2021-01-01 --days 365)

# A finished step leaves a .done file; a half-made directory is thrown away.
if [[ ! -e "$TREE.done" ]]; then
    rm -rf "$TREE"
    echo "bench-query: generating $TREE"
    echo "  python3 scripts/gen_trail.py --out $TREE ${GEN_ARGS[*]}"
    start_gen=$SECONDS
    python3 "$ROOT/scripts/gen_trail.py" --out "$TREE" "${GEN_ARGS[@]}" | tee "$TREE.gen.txt"
    echo "bench-query: generation took $((SECONDS - start_gen))s"
    rm -rf "$ARCHIVE" "$ARCHIVE.done"
    touch "$TREE.done"
fi
if [[ ! -e "$ARCHIVE.done" ]]; then
    rm -rf "$ARCHIVE"
    echo "bench-query: archiving into $ARCHIVE"
    echo "  trailpack archive $TREE --to $ARCHIVE --threads 2 --quiet"
    start_arch=$SECONDS
    "$BIN" archive "$TREE" --to "$ARCHIVE" --threads 2 --quiet
    echo "bench-query: archive took $((SECONDS - start_arch))s"
    touch "$ARCHIVE.done"
fi

# --- the benchmark -------------------------------------------------------------
"$PY" "$ROOT/scripts/bench_query.py" \
    --tree "$TREE" --archive "$ARCHIVE" --bin "$BIN" \
    --runs "${BENCH_RUNS:-5}" --raw-runs "${BENCH_RAW_RUNS:-2}" \
    --threads "${BENCH_DUCKDB_THREADS:-2}" \
    --json-out "$WORKDIR/results-$FILES.json"

echo "bench-query: total $((SECONDS - start_all))s"
