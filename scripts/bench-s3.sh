#!/usr/bin/env bash
# S3 against local disk: archive the same generated tree from a local directory and
# from a local S3-compatible server (s3s-fs, a Rust S3 server from crates.io,
# installed into target/tools on first use) at each of CONCURRENCIES, and from the
# local directory into an archive on that server, alternating, RUNS times each;
# print wall-time medians, their ratios to the local run, and peak RSS. Then time
# two queries on the last local archive and the last archive on the server, RUNS
# times each: a lookup by event ID and a count of errors, with the bytes fetched.
#
#   scripts/bench-s3.sh [TRAILPACK_BINARY] [FILES=20000] [RUNS=3] [CONCURRENCIES="256"]
#                       [RECORDS_PER_FILE]
#
# Without RECORDS_PER_FILE the files are small, as CloudTrail delivers them (the
# hard case: one GET per 4 KB); with it, every file holds about that many records.
#
# The server serves a hard-linked copy of the tree as bucket `bench`, so nothing is
# uploaded. It runs on the same 2 cores as trailpack.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/trailpack}
files=${2:-20000}
runs=${3:-3}
concurrencies=${4:-256}
records=${5:-}
work=target/bench-s3
tree=$work/tree-$files${records:+-x$records}
mkdir -p "$work"
if [ ! -d "$tree" ]; then
  python3 scripts/gen_trail.py --out "$tree" --files "$files" --seed 1 \
    ${records:+--records-per-file "$records"} > /dev/null
fi
if [ ! -x target/tools/bin/s3s-fs ]; then
  cargo install s3s-fs --version 0.14.1 --locked --features binary --root target/tools
fi
root=$work/s3root
rm -rf "$root" && mkdir -p "$root/bench" "$root/archives" && cp -al "$tree/." "$root/bench/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchbenchbench AWS_REGION=us-east-1
target/tools/bin/s3s-fs --host 127.0.0.1 --port "$port" \
  --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$root" > "$work/s3s.log" 2>&1 &
server=$!
trap 'kill $server 2> /dev/null || true' EXIT
sleep 1
: > "$work/times.txt"
run() { # NAME SOURCE DESTINATION [OPTIONS...]
  local name=$1 src=$2 to=$3
  shift 3
  /usr/bin/time -f "$name %e %M" -a -o "$work/times.txt" \
    "$bin" archive "$src" --to "$to" --threads 2 --quiet \
    --s3-endpoint "http://127.0.0.1:$port" --report "$work/report-$name.json" "$@"
}
for i in $(seq 1 "$runs"); do
  rm -rf "$work/archive-local" && run local "$tree" "$work/archive-local"
  for concurrency in $concurrencies; do
    rm -rf "$work/archive-s3"
    run "s3-$concurrency" s3://bench "$work/archive-s3" --s3-concurrency "$concurrency"
  done
  run to-s3 "$tree" "s3://archives/run-$i"
done
# An event ID from the middle of the tree, for the lookup.
event_id=$(python3 - "$tree" <<'PY'
import gzip, json, os, sys
paths = sorted(os.path.join(d, n) for d, _, names in os.walk(sys.argv[1]) for n in names
               if "_CloudTrail_" in n)
records = json.loads(gzip.decompress(open(paths[len(paths) // 2], "rb").read()))["Records"]
print(records[len(records) // 2]["eventID"])
PY
)
: > "$work/query-times.txt"
for i in $(seq 1 "$runs"); do
  for archive in "$work/archive-local" "s3://archives/run-$runs"; do
    where=local && [ "${archive#s3://}" != "$archive" ] && where=s3
    for query in "--event-id $event_id" "--errors-only --count"; do
      name="$where:${query%% *}"
      /usr/bin/time -f "$name %e %M" -a -o "$work/query-times.txt" \
        "$bin" query "$archive" $query --explain --s3-endpoint "http://127.0.0.1:$port" \
        > /dev/null 2> "$work/explain-${name//[:-]/_}.txt"
    done
  done
done
python3 - "$work" <<'PY'
import json, statistics, sys
work = sys.argv[1]
rows = [line.split() for line in open(f"{work}/times.txt")]
def med(source, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == source)
names = list(dict.fromkeys(r[0] for r in rows))
local = med("local", 1)
records = json.load(open(f"{work}/report-local.json"))["records_out"]
for name in names:
    times = [r[1] for r in rows if r[0] == name]
    print(f"{name}: median {med(name, 1):.2f} s ({', '.join(times)}), "
          f"{records / med(name, 1):,.0f} records/s, peak RSS {med(name, 2) / 1024:.0f} MB, "
          f"throughput / local {local / med(name, 1):.2f}")
for name in names[1:]:
    stages = json.load(open(f"{work}/report-{name}.json"))["stages"]
    print(f"last {name} run, seconds by stage:", {k: round(v, 2) for k, v in stages.items()})
rows = [line.split() for line in open(f"{work}/query-times.txt")]
for name in dict.fromkeys(r[0] for r in rows):
    times = [r[1] for r in rows if r[0] == name]
    explain = open(f"{work}/explain-{name.replace(':', '_').replace('-', '_')}.txt").read()
    fetched = [l for l in explain.splitlines() if l.startswith(("bytes:", "fetched:"))]
    print(f"query {name}: median {statistics.median(map(float, times)):.2f} s ({', '.join(times)}); "
          + "; ".join(" ".join(l.split()) for l in fetched))
PY
