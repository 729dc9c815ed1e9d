#!/usr/bin/env bash
# S3 against local disk: archive the same generated tree from a local directory and
# from a local S3-compatible server (s3s-fs, a Rust S3 server from crates.io,
# installed into target/tools on first use), alternating, RUNS times each; print
# wall-time medians, their ratio, and peak RSS.
#
#   scripts/bench-s3.sh [TRAILPACK_BINARY] [FILES=20000] [RUNS=3]
#
# The server serves a hard-linked copy of the tree as bucket `bench`, so nothing is
# uploaded. It runs on the same 2 cores as trailpack.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/trailpack}
files=${2:-20000}
runs=${3:-3}
work=target/bench-s3
tree=$work/tree-$files
mkdir -p "$work"
if [ ! -d "$tree" ]; then
  python3 scripts/gen_trail.py --out "$tree" --files "$files" --seed 1 > /dev/null
fi
if [ ! -x target/tools/bin/s3s-fs ]; then
  cargo install s3s-fs --version 0.14.1 --locked --features binary --root target/tools
fi
root=$work/s3root
rm -rf "$root" && mkdir -p "$root/bench" && cp -al "$tree/." "$root/bench/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchbenchbench AWS_REGION=us-east-1
target/tools/bin/s3s-fs --host 127.0.0.1 --port "$port" \
  --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$root" > "$work/s3s.log" 2>&1 &
server=$!
trap 'kill $server 2> /dev/null || true' EXIT
sleep 1
: > "$work/times.txt"
for i in $(seq 1 "$runs"); do
  for source in local s3; do
    rm -rf "$work/archive-$source"
    if [ "$source" = local ]; then src=$tree; else src=s3://bench; fi
    /usr/bin/time -f "$source %e %M" -a -o "$work/times.txt" \
      "$bin" archive "$src" --to "$work/archive-$source" --threads 2 --quiet \
      --s3-endpoint "http://127.0.0.1:$port" --report "$work/report-$source.json"
  done
done
python3 - "$work" <<'PY'
import json, statistics, sys
work = sys.argv[1]
rows = [line.split() for line in open(f"{work}/times.txt")]
def med(source, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == source)
local, s3 = med("local", 1), med("s3", 1)
records = json.load(open(f"{work}/report-s3.json"))["records_out"]
stages = json.load(open(f"{work}/report-s3.json"))["stages"]
for source in ("local", "s3"):
    times = [r[1] for r in rows if r[0] == source]
    print(f"{source}: median {med(source, 1):.2f} s ({', '.join(times)}), "
          f"{records / med(source, 1):,.0f} records/s, peak RSS {med(source, 2) / 1024:.0f} MB")
print(f"S3 throughput / local throughput: {local / s3:.2f}")
print("last S3 run, seconds by stage:", {k: round(v, 2) for k, v in stages.items()})
PY
