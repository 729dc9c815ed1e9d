#!/usr/bin/env bash
# End-to-end benchmark: `trailpack archive` against the decompression floor (GNU
# gzip and libdeflate, 2 parallel workers), against DuckDB converting the same
# tree to one zstd Parquet file, and against `zstd -19 --long` of the whole
# uncompressed JSON, on two generated trees: 20,000 small files and 100 large
# files. Wall-time medians, output bytes and peak RSS, in one run; trailpack also
# with one thread, for its thread scaling and the Amdahl projection to 8 and 32
# cores.
#
#   scripts/bench-e2e.sh [TRAILPACK_BINARY] [RUNS=3] [DUCKDB_RUNS=1]
#
# DUCKDB_RUNS=0 leaves out DuckDB and `zstd -19` (the slow ones); otherwise the
# run needs about 12 GiB free under target/, which it checks first.
#
# Needs: python3, gzip, zstd, /usr/bin/time; libdeflate-gunzip where installable
# (Debian: apt-get install libdeflate-tools); DuckDB from PyPI (installed into
# target/interop-venv as scripts/interop.sh does). Trees and results are kept in
# target/bench-e2e; the table is printed and written to target/bench-e2e/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/trailpack}
runs=${2:-3}
duckdb_runs=${3:-1}
venv=target/interop-venv
if ! "$venv/bin/python" -c 'import duckdb' 2> /dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check duckdb pyarrow
fi
exec "$venv/bin/python" scripts/bench_e2e.py "$bin" "$runs" "$duckdb_runs"
