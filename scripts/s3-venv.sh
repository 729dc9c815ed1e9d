#!/usr/bin/env bash
# Create (once) the Python environment with the local S3-compatible server (moto)
# and boto3 that the S3 tests and benchmarks use, and print its python.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/s3-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import moto.server, boto3' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.*' >&2
fi
echo "$venv/bin/python"
