#!/usr/bin/env bash
# Scale: the cost of a run against what is already archived. For a tree of one
# account, two regions and DAYS days of deliveries every 5 minutes (288 files a day
# per region, a few records each, as a busy but small account writes), it
# archives all days but the last (the initial run), then measures
#   - a no-op rerun over the same files (3 runs, median),
#   - a nightly run that adds the last day's files (576 per account) (3 runs on copies, median),
# with wall time and peak RSS (GNU time), and the archive's bookkeeping bytes per
# archived file (everything but data parts and stored digests, from `stats`).
#
#   scripts/bench-scale.sh [TRAILPACK_BINARY] [DAYS=365] [ACCOUNTS=1] [WORKDIR]
#
# DAYS 37 makes 21,312 files; 365, 210,240; 365 with ACCOUNTS=5, 1,051,200.
# The tree is kept in WORKDIR (default target/bench-scale) between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/trailpack}")
days=${2:-365}
accounts=${3:-1}
work=${4:-target/bench-scale}
mkdir -p "$work"
account_list=$(python3 -c "print(','.join(str(111122223333 + i * 111111111) for i in range($accounts)))")
files=$((days * 576 * accounts))
trail="$work/trail-$days-$accounts"
if [ ! -d "$trail" ]; then
  # One day more than is archived first: the nightly run's day.
  python3 scripts/gen_trail.py --out "$trail" --files $((files + 576 * accounts)) --days $((days + 1)) \
    --accounts "$account_list" --regions us-east-1,eu-west-1 --mean-records 2 --seed 5 >&2
fi
last_day=$(python3 -c "import datetime as d; print((d.date(2021, 1, 1) + d.timedelta(days=$days)).isoformat())")
archive="$work/archive-$days-$accounts"
rm -rf "$archive" "$archive-nightly"
# Every run reads the tree from the page cache: the initial run is not slowed by a
# cold disk, so the ratios below are not flattered by it.
find "$trail" -type f -exec cat {} + > /dev/null

# Prints "seconds KB" for one run of the binary. Dirty pages (a deleted or copied
# archive) are written back first, so that they do not land in the run's time.
measure() {
  sync
  sleep 2
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" "$@" > /dev/null
  cat "$work/time.txt"
}
median() {
  sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

read -r initial_s initial_kb < <(measure archive "$trail" --to "$archive" --until "$last_day" --quiet)
noop_s=()
noop_kb=()
for _ in 1 2 3; do
  read -r s kb < <(measure archive "$trail" --to "$archive" --until "$last_day" --quiet)
  noop_s+=("$s")
  noop_kb+=("$kb")
done
nightly_s=()
nightly_kb=()
for _ in 1 2 3; do
  rm -rf "$archive-nightly"
  cp -r "$archive" "$archive-nightly"
  read -r s kb < <(measure archive "$trail" --to "$archive-nightly" --quiet)
  nightly_s+=("$s")
  nightly_kb+=("$kb")
done
"$bin" stats "$archive" --json > "$work/stats.json"
python3 - "$work/stats.json" "$initial_s" "$initial_kb" \
  "$(printf '%s\n' "${noop_s[@]}" | median)" "$(printf '%s\n' "${noop_kb[@]}" | median)" \
  "$(printf '%s\n' "${nightly_s[@]}" | median)" "$(printf '%s\n' "${nightly_kb[@]}" | median)" \
  $((576 * accounts)) <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
initial_s, initial_kb, noop_s, noop_kb, nightly_s, nightly_kb = map(float, sys.argv[2:8])
nightly_files = int(sys.argv[8])
bookkeeping = stats["index_bytes"] + stats["log_bytes"] + stats["other_bookkeeping_bytes"]
files = stats["files"]
print("| files archived | initial run | no-op rerun | nightly (+%d files) | bookkeeping |" % nightly_files)
print("|---|---|---|---|---|")
print("| %d | %.2f s, %.0f MiB | %.2f s (%.3fx), %.0f MiB | %.2f s (%.3fx), %.0f MiB | %.1f B/file (index %.1f, log %.1f; %d parts, version %d) |" % (
    files, initial_s, initial_kb / 1024, noop_s, noop_s / initial_s, noop_kb / 1024,
    nightly_s, nightly_s / initial_s, nightly_kb / 1024, bookkeeping / files,
    stats["index_bytes"] / files, stats["log_bytes"] / files, stats["parts"], stats["version"]))
PY
rm -rf "$archive-nightly"
