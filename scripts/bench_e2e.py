#!/usr/bin/env python3
"""The body of scripts/bench-e2e.sh (see there)."""

import os
import shutil
import statistics
import subprocess
import sys

WORK = "target/bench-e2e"
# DuckDB's struct conversion of the small tree held about 10 GB and may spill it to
# disk; the outputs and the trees take about 1 GB more.
FREE_BYTES_NEEDED = 12 << 30
TREES = {
    # name: generator arguments
    "small (20,000 files)": ["--files", "20000", "--seed", "1"],
    "large (100 files)": ["--files", "100", "--seed", "2", "--records-per-file", "2400"],
}
DUCKDB = r"""
import duckdb, sys
tree, out, mode = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET threads=2")
files = f"{tree}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"
if mode == "struct":
    source = f"read_json('{files}', sample_size=-1, union_by_name=true, maximum_object_size=268435456)"
    query = f"SELECT unnest(Records, max_depth := 2) FROM {source}"
else:
    source = f"read_json('{files}', columns={{'Records': 'JSON[]'}}, maximum_object_size=268435456)"
    query = f"SELECT unnest(Records) AS record FROM {source}"
con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
"""


def timed(command, shell=False):
    """Run `command` under /usr/bin/time: (seconds, peak RSS in MB, ok)."""
    report = f"{WORK}/time.txt"
    prefix = ["/usr/bin/time", "-f", "%e %M", "-o", report]
    args = prefix + (["sh", "-c", command] if shell else command)
    ok = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    seconds, kb = open(report).read().split()[-2:]
    return float(seconds), int(kb) / 1024, ok


def size(path, parts_only=False):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs
               if not parts_only or (f.endswith(".parquet") and "_trailpack" not in d))


def tree_stats(tree):
    stored = raw = files = 0
    for d, _, names in os.walk(tree):
        for name in names:
            if name.endswith(".json.gz"):
                path = os.path.join(d, name)
                stored += os.path.getsize(path)
                files += 1
    raw = int(subprocess.run(
        f"find -L {tree} -name '*.json.gz' -print0 | xargs -0 cat | gzip -dc | wc -c",
        shell=True, capture_output=True, text=True).stdout)
    return files, stored, raw


def main():
    binary, runs, duckdb_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(WORK, exist_ok=True)
    free = shutil.disk_usage(WORK).free
    if duckdb_runs > 0 and free < FREE_BYTES_NEEDED:
        sys.exit(f"bench-e2e: {WORK}: {free / 2**30:.1f} GiB free, DuckDB's runs need about "
                 f"{FREE_BYTES_NEEDED >> 30} GiB (DUCKDB_RUNS, the third argument, at 0 leaves them out)")
    libdeflate = shutil.which("libdeflate-gunzip")
    rows = []
    for name, generator in TREES.items():
        tree = f"{WORK}/tree-{'-'.join(generator[1::2])}"
        if not os.path.isdir(tree):
            subprocess.run([sys.executable, "scripts/gen_trail.py", "--out", tree] + generator,
                           check=True, stdout=subprocess.DEVNULL)
        files, stored, raw = tree_stats(tree)
        # Enough batches that both workers stay busy to the end.
        find = f"find -L {tree} -name '*.json.gz' -print0 | xargs -0 -r -P2 -n {max(1, files // 40)}"
        tools = {
            "gzip -dc, 2 workers": (f"{find} gzip -dc > /dev/null", runs, None),
            "trailpack archive --threads 2": ("2", runs, f"{WORK}/archive"),
            "trailpack archive --threads 1": ("1", runs, f"{WORK}/archive-1"),
        }
        if libdeflate:
            tools["libdeflate-gunzip -c, 2 workers"] = (f"{find} libdeflate-gunzip -c > /dev/null", runs, None)
        if duckdb_runs > 0:
            for mode in ("json", "struct"):
                tools[f"DuckDB 2 threads, {mode}"] = (mode, duckdb_runs, f"{WORK}/duckdb-{mode}.parquet")
            # The size a general-purpose compressor reaches on the whole uncompressed JSON.
            zstd_out = f"{WORK}/raw.json.zst"
            tools["zstd -19 --long -T2 of the JSON"] = (
                f"find -L {tree} -name '*.json.gz' -print0 | sort -z | xargs -0 cat | gzip -dc"
                f" | zstd -19 --long -T2 -q -f -o {zstd_out}", duckdb_runs, zstd_out)
        results = {tool: [] for tool in tools}
        for run in range(max(runs, duckdb_runs)):
            for tool, (command, count, output) in tools.items():
                if run >= count:
                    continue
                if output:
                    shutil.rmtree(output, ignore_errors=True)
                    if os.path.isfile(output):
                        os.remove(output)
                if tool.startswith("trailpack"):
                    result = timed([binary, "archive", tree, "--to", output, "--threads", command, "--quiet"])
                elif tool.startswith("DuckDB"):
                    result = timed([sys.executable, "-c", DUCKDB, tree, output, command])
                else:
                    result = timed(command, shell=True)
                results[tool].append(result + ((size(output) if output and result[2] else None),))
                print(f"{name}: {tool}: {result[0]:.2f} s, {result[1]:.0f} MB, ok={result[2]}",
                      file=sys.stderr)
        floor = statistics.median(r[0] for r in results["gzip -dc, 2 workers"])
        deflate = statistics.median(r[0] for r in results[next(t for t in tools if "libdeflate" in t)]) if libdeflate else None
        ours = statistics.median(r[0] for r in results["trailpack archive --threads 2"])
        ours_rss = max(r[1] for r in results["trailpack archive --threads 2"])
        ours_bytes = results["trailpack archive --threads 2"][-1][3]
        ours_parts = size(f"{WORK}/archive", parts_only=True)
        one_thread = statistics.median(r[0] for r in results["trailpack archive --threads 1"])
        # Amdahl: T2 = T1 * (s + (1 - s) / 2), so the serial share s = 2 * T2 / T1 - 1.
        serial = max(0.0, 2 * ours / one_thread - 1)
        amdahl = {cores: one_thread * (serial + (1 - serial) / cores) for cores in (8, 32)}
        for tool, measured in results.items():
            ok = [r for r in measured if r[2]]
            if not ok:
                rows.append((name, files, stored, raw, tool, "failed", "", "", "", ""))
                continue
            seconds = statistics.median(r[0] for r in ok)
            rss = max(r[1] for r in ok)
            out = ok[-1][3]
            rows.append((
                name, files, stored, raw, tool,
                f"{seconds:.2f} ({', '.join(f'{r[0]:.2f}' for r in ok)})",
                f"{rss:.0f}",
                (f"{out / 1e6:.1f} (parts {ours_parts / 1e6:.1f})" if tool.startswith("trailpack")
                 else f"{out / 1e6:.1f}" if out else "–"),
                f"{ours / seconds:.2f}",
                (f"{seconds / ours:.1f}× slower, RSS {rss / ours_rss:.1f}×; trailpack bytes / these: "
                 f"{ours_bytes / out:.2f} (parts only {ours_parts / out:.2f})"
                 if tool.startswith(("DuckDB", "zstd")) else ""),
            ))
        print(f"{name}: trailpack / gzip floor {ours / floor:.2f}"
              + (f", / libdeflate floor {ours / deflate:.2f}" if deflate else ""), file=sys.stderr)
        rows.append((name, files, stored, raw, "trailpack / gzip floor", f"{ours / floor:.2f}×", "", "", "", ""))
        rows.append((name, files, stored, raw, "trailpack --threads 2 / --threads 1",
                     f"{one_thread / ours:.2f}× (serial share {serial:.2f}; Amdahl: "
                     f"{amdahl[8]:.2f} s on 8 cores, {amdahl[32]:.2f} s on 32)", "", "", "", ""))
        if deflate:
            rows.append((name, files, stored, raw, "trailpack / libdeflate floor", f"{ours / deflate:.2f}×", "", "", "", ""))
    lines = [
        "| tree | what | wall s, median (runs) | peak RSS MB | output MB | trailpack time / this | vs trailpack |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, files, stored, raw, tool, seconds, rss, out, ratio, versus in rows:
        tree = f"{name}: {stored / 1e6:.0f} MB gz, {raw / 1e6:.0f} MB raw"
        lines.append(f"| {tree} | {tool} | {seconds} | {rss} | {out} | {ratio} | {versus} |")
    table = "\n".join(lines)
    open(f"{WORK}/results.md", "w").write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
