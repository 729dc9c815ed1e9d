#!/usr/bin/env bash
# Crash test: kill `trailpack archive --delete-sources` and `trailpack compact` with
# SIGKILL at random moments, N times, then let a last run of each finish, and check
# that every source record is in the archive exactly once, that `verify --deep` is
# clean, that every source file was deleted (only after it was archived), and that
# the independent readers of scripts/readers.py (delta-rs, DuckDB's delta
# extension, a glob over the partition directories, pyarrow) count each record
# exactly once too.
#
#   scripts/crash-test.sh [TRAILPACK_BINARY] [KILLS=20] [FILES=600] [ARCHIVE=local|s3]
#
# With `s3`, the archive is written to a local S3-compatible server (moto, from
# scripts/s3-venv.sh), so kills land between uploads and commit PUTs.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/trailpack}
kills=${2:-20}
files=${3:-600}
destination=${4:-local}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
archive="$work/archive"
s3=()
if [ "$destination" = s3 ]; then
  python=$(bash scripts/s3-venv.sh)
  # The server lives until this script ends and closes its stdin.
  coproc SERVER { "$python" scripts/s3_server.py; }
  read -r port <&"${SERVER[0]}"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  "$python" -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$port').create_bucket(Bucket='crash')"
  archive=s3://crash/archive
  s3=(--s3-endpoint "http://127.0.0.1:$port")
fi
readers_python=$(bash scripts/readers-venv.sh)
python3 scripts/gen_trail.py --out "$work/trail" --files "$files" --seed 17 --digests --days 4 > /dev/null
expected=$(python3 scripts/count_records.py "$work/trail")
# Small parts and row groups: many commits per run, so kills land between them.
args=(archive "$work/trail" --to "$archive" --quiet --part-mib 1 --row-group-rows 500 --partition day --threads 1 --delete-sources "${s3[@]}")
compact=(compact "$archive" --quiet --part-mib 8 --threads 1 "${s3[@]}")
killed=0
intents=0
for i in $(seq 1 "$kills"); do
  # Every third run is a compaction of what the earlier runs wrote.
  if [ $((i % 3)) = 0 ] && [ "$i" -gt 1 ]; then run=("${compact[@]}"); else run=("${args[@]}"); fi
  "$bin" "${run[@]}" > /dev/null 2>&1 &
  pid=$!
  # Between 50 and 400 ms: short enough that work remains for the next run.
  sleep "$(python3 -c "import random; random.seed($i); print(round(random.uniform(0.05, 0.4), 3))")"
  if kill -9 "$pid" 2> /dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2> /dev/null || true
  # A kill between an intent and its completion leaves the intent for the next run.
  if [ "$destination" = local ] && [ -d "$archive/_trailpack/pending" ]; then
    intents=$((intents + $(find "$archive/_trailpack/pending" -name '*.json' | wc -l)))
  fi
  # A compaction killed on S3 leaves its lock object behind (OPERATIONS.md); this
  # script knows that none is running now.
  if [ "$destination" = s3 ]; then
    "$python" -c "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:$port').delete_object(Bucket='crash', Key='archive/_trailpack/compact.lock')"
  fi
done
"$bin" "${args[@]}"
"$bin" "${compact[@]}" > /dev/null
left=$(find "$work/trail" -name '*_CloudTrail*.json*' | wc -l)
count=$("$bin" query "$archive" --count "${s3[@]}")
distinct=$("$bin" query "$archive" --format csv --columns eventid "${s3[@]}" | tail -n +2 | sort -u | wc -l)
status=0
"$bin" verify "$archive" --deep "${s3[@]}" > "$work/verify.txt" || status=$?
readers=0
if [ "$destination" = s3 ]; then
  "$readers_python" scripts/readers.py "$archive" "$expected" --distinct-ids "$expected" \
    --s3-endpoint "http://127.0.0.1:$port" --label "after crashes" > "$work/readers.txt" || readers=$?
else
  "$readers_python" scripts/readers.py "$archive" "$expected" --distinct-ids "$expected" \
    --label "after crashes" > "$work/readers.txt" || readers=$?
fi
echo "crash-test ($destination archive): $kills runs started, $killed killed mid-run ($intents left a commit half done: local archives only); records expected $expected, archived $count, distinct event ids $distinct; verify --deep exit $status; independent readers exit $readers; source files left $left"
if [ "$count" != "$expected" ] || [ "$distinct" != "$expected" ] || [ "$status" != 0 ] || [ "$readers" != 0 ] || [ "$left" != 0 ]; then
  cat "$work/verify.txt" "$work/readers.txt"
  echo "crash-test: 0 passed, 1 failed"
  exit 1
fi
echo "crash-test: 1 passed, 0 failed"
