#!/usr/bin/env bash
# Restore against archive, in one run: archive the small-files tree of
# bench-e2e.sh (20,000 files, `gen_trail.py --files 20000 --seed 1`), then restore
# all of it, RUNS times each, alternating, with wall time and peak RSS (GNU time).
# With a second binary, its restore runs too (same archive), for a before/after.
#
#   scripts/bench-restore.sh [TRAILPACK_BINARY] [OTHER_BINARY] [RUNS=3] [WORKDIR]
#
# Every restore writes into an emptied directory, and its files are on disk when
# it ends (restore syncs them); `sync` runs before each timed command so that one
# run's dirty pages are not written back in the next one's time.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/trailpack}")
other=${2:-}
[ -n "$other" ] && other=$(realpath "$other")
runs=${3:-3}
work=${4:-target/bench-restore}
mkdir -p "$work"
trail="$work/trail"
if [ ! -d "$trail" ]; then
  python3 scripts/gen_trail.py --out "$trail" --files 20000 --seed 1 >&2
fi
find "$trail" -type f -exec cat {} + > /dev/null

# Prints "seconds KB" for one command.
measure() {
  sync
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null
  cat "$work/time.txt"
}
median() {
  sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

declare -A seconds kb
for run in $(seq "$runs"); do
  rm -rf "$work/archive"
  read -r s k < <(measure "$bin" archive "$trail" --to "$work/archive" --quiet)
  seconds[archive]+="$s "
  kb[archive]+="$k "
  for which in this other; do
    exe=$bin
    if [ "$which" = other ]; then
      [ -n "$other" ] || continue
      exe=$other
    fi
    rm -rf "$work/restored"
    read -r s k < <(measure "$exe" restore "$work/archive" --to "$work/restored")
    seconds[$which]+="$s "
    kb[$which]+="$k "
  done
  echo "run $run: archive, restore: $(cat "$work/time.txt")" >&2
done
restored_files=$(find "$work/restored" -type f | wc -l)
archive_s=$(echo "${seconds[archive]}" | tr ' ' '\n' | grep . | median)
echo "| command | wall s, median of $runs (runs) | peak RSS MiB | / archive time |"
echo "|---|---|---|---|"
for which in archive this other; do
  [ -n "${seconds[$which]:-}" ] || continue
  name=$which
  [ "$which" = archive ] && name="\`$(basename "$bin") archive\`"
  [ "$which" = this ] && name="\`$(basename "$bin") restore\` ($restored_files files)"
  [ "$which" = other ] && name="\`$(basename "$other") restore\`"
  s=$(echo "${seconds[$which]}" | tr ' ' '\n' | grep . | median)
  k=$(echo "${kb[$which]}" | tr ' ' '\n' | grep . | median)
  python3 -c "print('| $name | %.2f (${seconds[$which]% }) | %.0f | %.2f |' % ($s, $k / 1024, $s / $archive_s))"
done
