#!/usr/bin/env bash
# Create (once) the Python environment with the independent readers that
# scripts/readers.py and scripts/interop.py use, and print its python: delta-rs
# (deltalake), DuckDB 1.4.4 with the delta extension that duckdb-ext-delta ships,
# and pyarrow. Pinned, so that CI checks against the same readers every time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/readers-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import deltalake, duckdb, duckdb_ext, pyarrow' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        'deltalake==1.6.6' 'duckdb==1.4.4' 'duckdb-ext-delta==1.4.4.20260205' 'pyarrow==26.0.1' >&2
fi
echo "$venv/bin/python"
