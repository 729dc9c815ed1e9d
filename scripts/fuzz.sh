#!/usr/bin/env bash
# Run the fuzz targets for a while with nightly cargo-fuzz, seeded from the real
# corpus and the bundled sample. A target that finds a crash does not stop the
# others; the exit status is 1 if any did.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET=600] [TARGET...] (default: all seven)
# Needs `rustup toolchain install nightly` and `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_file gunzip round_trip delta_log index part digest)
failed=()
seed() {
  local dir=fuzz/corpus/$1
  mkdir -p "$dir"
  find tests/data/real -name '*.json' -size -64k -exec cp {} "$dir/" \;
  # The first 50 (a process substitution, so that cutting the list short is not a
  # broken pipe under pipefail).
  local files
  mapfile -t files < <(find sample -name '*.json.gz' -path '*CloudTrail/*' | sort)
  for f in "${files[@]:0:50}"; do
    if [ "$1" = decode_file ]; then cp "$f" "$dir/"; else gzip -dc "$f" > "$dir/$(basename "$f" .gz)"; fi
  done
}
# The archive formats are seeded from an archive of the sample (built with a
# release binary): its parts, index segments, commits and a checkpoint.
archive=$(mktemp -d)
trap 'rm -rf "$archive"' EXIT
cargo run --release -q -- archive sample --to "$archive/a" --quiet || true
seed_archive() {
  local dir=fuzz/corpus/$1
  mkdir -p "$dir"
  case $1 in
    part) find "$archive/a" -path '*/_*' -prune -o -name 'part-*.parquet' -print -exec cp {} "$dir/" \; ;;
    index) find "$archive/a/_trailpack/index" -name '*.parquet' -exec cp {} "$dir/" \; ;;
    delta_log) cp "$archive"/a/_delta_log/* "$dir/" ;;
  esac
}
# gunzip's first byte is a choice (0: the input as is, 1 MiB limit), then a
# gzip file of the sample.
seed_gunzip() {
  local dir=fuzz/corpus/gunzip files
  mkdir -p "$dir"
  mapfile -t files < <(find sample -name '*.json.gz' -path '*CloudTrail/*' | sort)
  for f in "${files[@]:0:50}"; do
    { printf '\0'; cat "$f"; } > "$dir/$(basename "$f")"
  done
}
for target in "${targets[@]}"; do
  case $target in
    decode_file | round_trip) seed "$target" ;;
    delta_log | index | part) seed_archive "$target" ;;
    gunzip) seed_gunzip ;;
    *) mkdir -p "fuzz/corpus/$target" ;;
  esac
  if ! (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=1048576); then
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes found by: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${targets[*]} ran ${seconds}s each without a crash"
