#!/usr/bin/env bash
# Independent readers after every kind of change to an archive: delta-rs, DuckDB's
# delta extension, a DuckDB glob over the partition directories and a pyarrow
# dataset must each count exactly the source records archived (scripts/readers.py),
# and VACUUM must spare everything trailpack needs. The scenarios: a first run,
# an incremental run, compaction, four shards writing at once, the upgrade of an
# archive of the first format (tests/data/legacy-v1), and an archive on a local
# S3 server. (Crashes followed by a rerun: scripts/crash-test.sh.)
#
#   scripts/readers-scenarios.sh [TRAILPACK_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/trailpack}")
python=$(bash scripts/readers-venv.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
check() {
  "$python" scripts/readers.py "$@" || failed=$((failed + 1))
}
count() {
  python3 scripts/count_records.py "$@"
}

python3 scripts/gen_trail.py --out "$work/trail" --files 600 --seed 31 --digests --days 3 \
  --extras --org o-abc123xyz0 --regions us-east-1,eu-west-1 > /dev/null
all=$(count "$work/trail")

"$bin" archive "$work/trail" --to "$work/a" --until 2021-01-02T12:00Z --quiet
check "$work/a" "$(count "$work/trail" --until 20210102T1200Z)" --label "first run"

"$bin" archive "$work/trail" --to "$work/a" --quiet
check "$work/a" "$all" --label "incremental run" --distinct-ids "$all"

"$bin" compact "$work/a" --quiet > /dev/null
check "$work/a" "$all" --label compaction

# Many small commits (day partitions, a run every six hours of deliveries):
# checkpoints, with compaction's removes before or after one.
for day in 01 02 03; do
  for hour in 06 12 18 24; do
    until="2021-01-${day}T${hour}:00Z"
    [ "$hour" = 24 ] && until="2021-01-$(printf %02d $((10#$day + 1)))T00:00Z"
    "$bin" archive "$work/trail" --to "$work/many" --partition day --until "$until" --quiet
  done
done
"$bin" compact "$work/many" --quiet > /dev/null
if ! ls "$work/many/_delta_log/"*.checkpoint.parquet > /dev/null 2>&1; then
  echo "FAIL checkpoints: $(ls "$work/many/_delta_log" | wc -l) log files and no checkpoint"
  failed=$((failed + 1))
fi
check "$work/many" "$all" --label "many commits, checkpoints, compaction"

pids=()
for k in 0 1 2 3; do
  "$bin" archive "$work/trail" --to "$work/shards" --shard "$k/4" --quiet &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
check "$work/shards" "$all" --label "four shards at once"

cp -r tests/data/legacy-v1/archive "$work/legacy"
"$bin" upgrade "$work/legacy" --quiet > /dev/null
check "$work/legacy" "$(count tests/data/legacy-v1/trail)" --label "upgrade of the first format"
"$bin" verify "$work/legacy" --deep --digests > "$work/verify.txt" || {
  cat "$work/verify.txt"
  failed=$((failed + 1))
}

s3_python=$(bash scripts/s3-venv.sh)
# The server lives until this script ends and closes its stdin.
coproc SERVER { "$s3_python" scripts/s3_server.py; }
read -r port <&"${SERVER[0]}"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
endpoint="http://127.0.0.1:$port"
"$s3_python" -c "import boto3; boto3.client('s3', endpoint_url='$endpoint').create_bucket(Bucket='readers')"
"$bin" archive "$work/trail" --to s3://readers/archive --until 2021-01-02T12:00Z --s3-endpoint "$endpoint" --quiet
"$bin" archive "$work/trail" --to s3://readers/archive --s3-endpoint "$endpoint" --quiet
"$bin" compact s3://readers/archive --s3-endpoint "$endpoint" --quiet > /dev/null
check s3://readers/archive "$all" --label "archive on S3" --s3-endpoint "$endpoint"

if [ "$failed" != 0 ]; then
  echo "readers-scenarios: $failed scenarios failed"
  exit 1
fi
echo "readers-scenarios: all passed"
