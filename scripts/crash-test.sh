#!/usr/bin/env bash
# Crash test: kill `trailpack archive --delete-sources` and `trailpack compact` with
# SIGKILL at random moments, N times, then let a last run of each finish, and check
# that every source record is in the archive exactly once, that `verify --deep` is
# clean, and that every source file was deleted (only after it was archived).
#
#   scripts/crash-test.sh [TRAILPACK_BINARY] [KILLS=20] [FILES=600]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/trailpack}
kills=${2:-20}
files=${3:-600}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 scripts/gen_trail.py --out "$work/trail" --files "$files" --seed 17 --digests --days 4 > /dev/null
expected=$(python3 - "$work/trail" <<'PY'
import gzip, json, os, sys
total = 0
for root, _, names in os.walk(sys.argv[1]):
    for name in names:
        if "_CloudTrail_" in name or "_CloudTrail-Insight_" in name:
            data = open(os.path.join(root, name), "rb").read()
            total += len(json.loads(gzip.decompress(data) if name.endswith(".gz") else data)["Records"])
print(total)
PY
)
archive="$work/archive"
# Small parts and row groups: many commits per run, so kills land between them.
args=(archive "$work/trail" --to "$archive" --quiet --part-mib 1 --row-group-rows 500 --partition day --threads 1 --delete-sources)
compact=(compact "$archive" --quiet --part-mib 8 --threads 1)
killed=0
for i in $(seq 1 "$kills"); do
  # Every third run is a compaction of what the earlier runs wrote.
  if [ $((i % 3)) = 0 ] && [ -d "$archive" ]; then run=("${compact[@]}"); else run=("${args[@]}"); fi
  "$bin" "${run[@]}" > /dev/null 2>&1 &
  pid=$!
  # Between 50 and 400 ms: short enough that work remains for the next run.
  sleep "$(python3 -c "import random; random.seed($i); print(round(random.uniform(0.05, 0.4), 3))")"
  if kill -9 "$pid" 2> /dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2> /dev/null || true
done
"$bin" "${args[@]}"
"$bin" "${compact[@]}" > /dev/null
left=$(find "$work/trail" -name '*_CloudTrail*.json*' | wc -l)
count=$("$bin" query "$archive" --count)
distinct=$("$bin" query "$archive" --format csv --columns eventid | tail -n +2 | sort -u | wc -l)
status=0
"$bin" verify "$archive" --deep > "$work/verify.txt" || status=$?
echo "crash-test: $kills runs started, $killed killed mid-run; records expected $expected, archived $count, distinct event ids $distinct; verify --deep exit $status; source files left $left"
if [ "$count" != "$expected" ] || [ "$distinct" != "$expected" ] || [ "$status" != 0 ] || [ "$left" != 0 ]; then
  cat "$work/verify.txt"
  echo "crash-test: 0 passed, 1 failed"
  exit 1
fi
echo "crash-test: 1 passed, 0 failed"
