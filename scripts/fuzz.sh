#!/usr/bin/env bash
# Run every fuzz target for a while with nightly cargo-fuzz, seeded from the real
# corpus and the bundled sample.  Usage: scripts/fuzz.sh [SECONDS_PER_TARGET=600]
# Needs `rustup toolchain install nightly` and `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
seed() {
  local dir=fuzz/corpus/$1
  mkdir -p "$dir"
  find tests/data/real -name '*.json' -size -64k -exec cp {} "$dir/" \;
  find sample -name '*.json.gz' -path '*CloudTrail/*' | head -50 | while read -r f; do
    if [ "$1" = decode_file ]; then cp "$f" "$dir/"; else gzip -dc "$f" > "$dir/$(basename "$f" .gz)"; fi
  done
}
for target in decode_file round_trip manifest digest; do
  if [ "$target" = manifest ] || [ "$target" = digest ]; then
    mkdir -p "fuzz/corpus/$target"
  else
    seed "$target"
  fi
  (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=65536)
done
