#!/usr/bin/env python3
"""Query benchmark: `trailpack query --count` against DuckDB over the archive's
Parquet files (the `trailpack schema --ddl duckdb` view) and DuckDB over the raw
.json.gz tree, all measured in the same run. Run by scripts/bench-query.sh.

Usage:
    bench_query.py --tree TREE --archive ARCHIVE --bin TRAILPACK
        [--runs 5] [--raw-runs 1] [--threads 2] [--json-out FILE]

The lookup values are picked deterministically from the archive with DuckDB:
the access key and the principal ARN and source IP of median activity (ranked
by number of events, ties by value), the least active access key, the event ID
of the first event at or after the middle of the archive's time range, and the
calendar month holding that middle for "all errors in a month".

Timing: wall time with time.perf_counter. trailpack: one untimed run with
--explain (bytes read, pruning), then RUNS timed runs of `query --count` as a
subprocess (process start-up included). DuckDB over Parquet: one connection,
one untimed run, then RUNS timed runs of each query. DuckDB over the raw tree:
one untimed pass over every file to warm the page cache, then RAW_RUNS timed
runs of each query. Medians are reported. The three counts of each query must
agree; any mismatch is printed loudly and makes the exit status 1.

Needs duckdb (scripts/bench-query.sh installs it into a venv).
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import duckdb

EXPLAIN_BYTES = re.compile(r"^bytes:\s+(\d+) read of (\d+) archive bytes")
EXPLAIN_PARTS = re.compile(r"^parts:\s+(\d+) in the archive, (\d+) pruned by partition, (\d+) by manifest")
EXPLAIN_GROUPS = re.compile(r"^row groups:\s+(\d+) in opened parts, (\d+) pruned by statistics, "
                            r"(\d+) by bloom filters, (\d+) scanned")
EXPLAIN_ROWS = re.compile(r"^rows:\s+(\d+) scanned \(filter columns only\), (\d+) matched")
EXPLAIN_PAGES = re.compile(r"^pages:\s+(\d+) read for matched rows, (\d+) skipped")


def sql_str(text):
    return "'" + text.replace("'", "''") + "'"


def median(xs):
    return statistics.median(xs)


def fmt_s(seconds):
    if seconds < 1:
        return "%.0f ms" % (seconds * 1000)
    return "%.2f s" % seconds


# ---------------------------------------------------------------------------
# Tree and archive description
# ---------------------------------------------------------------------------

def describe_tree(tree):
    files = gz_bytes = 0
    for dirpath, _, names in os.walk(os.path.join(tree, "AWSLogs")):
        for name in names:
            if name.endswith(".json.gz") and "_CloudTrail_" in name:
                files += 1
                gz_bytes += os.path.getsize(os.path.join(dirpath, name))
    return files, gz_bytes


def dir_bytes(root):
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            total += os.path.getsize(os.path.join(dirpath, name))
    return total


def raw_glob(tree):
    """The glob of the trail's log files (plain or organisation trail layout)."""
    logs = os.path.join(tree, "AWSLogs")
    org = any(n.startswith("o-") for n in os.listdir(logs))
    middle = "*/*/CloudTrail" if org else "*/CloudTrail"
    return os.path.join(logs, middle, "*", "*", "*", "*", "*.json.gz")


# ---------------------------------------------------------------------------
# The queries
# ---------------------------------------------------------------------------

RAW_RECORDS = ("SELECT unnest(json_extract(json, '$.Records[*]')) AS r "
               "FROM read_json_objects(%s, format = 'auto')")


def pick_queries(con):
    """Lookup values from the archive, deterministically; returns query dicts."""
    def ranked(expr, where):
        rows = con.execute(
            "SELECT v, n FROM (SELECT %s AS v, count(*) AS n FROM cloudtrail WHERE %s GROUP BY 1) "
            "ORDER BY n, v" % (expr, where)).fetchall()
        if not rows:
            raise SystemExit("bench: no values for %s" % expr)
        return rows

    keys = ranked("useridentity.accesskeyid",
                  "regexp_full_match(useridentity.accesskeyid, '[A-Z0-9]{16,128}')")
    key_mid, key_mid_n = keys[len(keys) // 2]
    key_rare, key_rare_n = keys[0]
    arns = ranked("useridentity.arn", "starts_with(useridentity.arn, 'arn:')")
    arn, arn_n = arns[len(arns) // 2]
    ips = ranked("sourceipaddress", r"regexp_full_match(sourceipaddress, '\d+\.\d+\.\d+\.\d+')")
    ip, ip_n = ips[len(ips) // 2]

    first, last = con.execute("SELECT min(eventtime), max(eventtime) FROM cloudtrail").fetchone()
    middle = first + (last - first) / 2
    event_id = con.execute(
        "SELECT eventid FROM cloudtrail WHERE eventtime >= ? ORDER BY eventtime, eventid LIMIT 1",
        [middle]).fetchone()[0]
    month_start = dt.date(middle.year, middle.month, 1)
    month_end = dt.date(middle.year + (middle.month == 12), middle.month % 12 + 1, 1)

    def ts(day):  # TIMESTAMPTZ literal, UTC
        return "%s 00:00:00+00" % day.isoformat()

    def ct(day):  # CloudTrail eventTime text, UTC
        return "%sT00:00:00Z" % day.isoformat()

    def lookup(name, value, n, flag, column, path):
        return {
            "name": name, "value": value, "events": n, "selective": True,
            "trailpack": [flag, value],
            "parquet": ("SELECT count(*) FROM cloudtrail WHERE %s = ?" % column, [value]),
            "raw": ("SELECT count(*) FROM (%s) WHERE r->>'%s' = ?" % (RAW_RECORDS, path), [value]),
        }

    queries = [
        lookup("access key, median activity", key_mid, key_mid_n, "--access-key",
               "useridentity.accesskeyid", "$.userIdentity.accessKeyId"),
        lookup("access key, least active", key_rare, key_rare_n, "--access-key",
               "useridentity.accesskeyid", "$.userIdentity.accessKeyId"),
        lookup("event ID", event_id, 1, "--event-id", "eventid", "$.eventID"),
        lookup("principal ARN, median activity", arn, arn_n, "--principal",
               "useridentity.arn", "$.userIdentity.arn"),
        lookup("source IP, median activity", ip, ip_n, "--source-ip",
               "sourceipaddress", "$.sourceIPAddress"),
        {
            "name": "all errors in %s" % month_start.strftime("%Y-%m"),
            "value": "%s .. %s" % (month_start, month_end), "selective": False,
            "trailpack": ["--errors-only", "--from", month_start.isoformat(),
                          "--until", month_end.isoformat()],
            "parquet": ("SELECT count(*) FROM cloudtrail WHERE eventtime >= ?::TIMESTAMPTZ "
                        "AND eventtime < ?::TIMESTAMPTZ "
                        "AND (errorcode IS NOT NULL OR errormessage IS NOT NULL)",
                        [ts(month_start), ts(month_end)]),
            "raw": ("SELECT count(*) FROM (%s) WHERE r->>'$.eventTime' >= ? AND r->>'$.eventTime' < ? "
                    "AND (r->>'$.errorCode' IS NOT NULL OR r->>'$.errorMessage' IS NOT NULL)"
                    % RAW_RECORDS, [ct(month_start), ct(month_end)]),
        },
    ]
    # keep what each query was picked from, for the report
    queries[0]["picked_from"] = "%d access keys" % len(keys)
    queries[1]["picked_from"] = "%d access keys" % len(keys)
    queries[3]["picked_from"] = "%d ARNs" % len(arns)
    queries[4]["picked_from"] = "%d IPv4 addresses" % len(ips)
    return queries


# ---------------------------------------------------------------------------
# Runners
# ---------------------------------------------------------------------------

def trailpack_run(binary, archive, args, explain=False):
    cmd = [binary, "query", archive] + args + ["--count"] + (["--explain"] if explain else [])
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    return elapsed, int(out.stdout.strip()), out.stderr


def parse_explain(text):
    info = {}
    for line in text.splitlines():
        for key, rx in (("bytes", EXPLAIN_BYTES), ("parts", EXPLAIN_PARTS), ("groups", EXPLAIN_GROUPS),
                        ("rows", EXPLAIN_ROWS), ("pages", EXPLAIN_PAGES)):
            m = rx.match(line)
            if m:
                info[key] = [int(g) for g in m.groups()]
    if "bytes" not in info:
        raise SystemExit("bench: no bytes line in --explain output:\n" + text)
    return info


def timed_sql(con, sql, params):
    start = time.perf_counter()
    n = con.execute(sql, params).fetchone()[0]
    return time.perf_counter() - start, n


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    ap.add_argument("--tree", required=True)
    ap.add_argument("--archive", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--raw-runs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out")
    args = ap.parse_args(argv[1:])
    tree, archive, binary = (os.path.abspath(p) for p in (args.tree, args.archive, args.bin))
    wall_start = time.perf_counter()

    # --- describe what is measured --------------------------------------------
    files, gz_bytes = describe_tree(tree)
    stats = json.loads(subprocess.run([binary, "stats", archive, "--json"], check=True,
                                      capture_output=True, text=True).stdout)
    ddl = subprocess.run([binary, "schema", "--ddl", "duckdb", "--location", archive],
                         check=True, capture_output=True, text=True).stdout
    con = duckdb.connect()
    con.execute("SET threads = %d" % args.threads)
    con.execute(ddl)
    parquet_glob = re.search(r"read_parquet\('([^']*)'", ddl).group(1)
    groups = con.execute(
        "SELECT count(*), min(n), max(n), round(avg(n)) FROM (SELECT file_name, row_group_id, "
        "any_value(row_group_num_rows) AS n FROM parquet_metadata(%s) GROUP BY 1, 2)"
        % sql_str(parquet_glob)).fetchone()
    settings = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('threads', 'parquet_metadata_cache', 'enable_external_file_cache', 'cache_local_files')"
    ).fetchall())
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    desc = {
        "tree": tree, "files": files, "gz_bytes": gz_bytes, "records": stats["records"],
        "raw_bytes": stats["source_raw_bytes"], "archive": archive,
        "archive_parquet_bytes": stats["archive_bytes"], "archive_dir_bytes": dir_bytes(archive),
        "parts": stats["parts"], "row_groups": groups[0], "rows_per_row_group": list(groups[1:]),
        "accounts": stats["accounts"], "regions": stats["regions"],
        "first_event": stats["first_event"], "last_event": stats["last_event"],
        "duckdb": duckdb.__version__, "duckdb_settings": settings, "trailpack": version,
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }
    print("tree:     %s: %d log files, %d records, %.1f MB gz, %.1f MB raw, %s .. %s, "
          "accounts %s, regions %s" % (tree, files, desc["records"], gz_bytes / 1e6,
                                       desc["raw_bytes"] / 1e6, desc["first_event"], desc["last_event"],
                                       ",".join(desc["accounts"]), ",".join(desc["regions"])))
    print("archive:  %s: %.1f MB of parts (%.1f MB with manifest etc.), %d parts, %d row groups "
          "(%d..%d rows, mean %d)" % (archive, desc["archive_parquet_bytes"] / 1e6,
                                      desc["archive_dir_bytes"] / 1e6, desc["parts"], groups[0],
                                      groups[1], groups[2], groups[3]))
    print("engines:  %s; DuckDB %s (%s); python %s; %d CPUs" % (
        version, duckdb.__version__, ", ".join("%s=%s" % kv for kv in sorted(settings.items())),
        desc["python"], desc["cpus"]))
    sys.stdout.flush()

    queries = pick_queries(con)
    glob = raw_glob(tree)
    raw = duckdb.connect()
    raw.execute("SET threads = %d" % args.threads)
    for q in queries:
        sql, params = q["raw"]
        q["raw"] = (sql % sql_str(glob), params)

    # Warm the page cache for the raw tree (untimed): read every file once.
    start = time.perf_counter()
    raw.execute("SELECT count(*) FROM read_json_objects(%s, format = 'auto')" % sql_str(glob)).fetchone()
    print("raw warm-up pass: %s" % fmt_s(time.perf_counter() - start))
    print()
    sys.stdout.flush()

    # --- measure -----------------------------------------------------------------
    mismatches = []
    for q in queries:
        _, n_tp, err = trailpack_run(binary, archive, q["trailpack"], explain=True)
        q["explain"] = parse_explain(err)
        q["explain_text"] = err.strip()
        tp_times = []
        for _ in range(args.runs):
            t, n, _ = trailpack_run(binary, archive, q["trailpack"])
            if n != n_tp:
                mismatches.append("%s: trailpack count changed between runs (%d, %d)" % (q["name"], n_tp, n))
            tp_times.append(t)

        sql, params = q["parquet"]
        _, n_pq = timed_sql(con, sql, params)
        pq_times = [timed_sql(con, sql, params)[0] for _ in range(args.runs)]

        sql, params = q["raw"]
        raw_times = []
        n_raw = None
        for _ in range(max(args.raw_runs, 1)):
            t, n_raw = timed_sql(raw, sql, params)
            raw_times.append(t)

        q["count"] = {"trailpack": n_tp, "duckdb_parquet": n_pq, "duckdb_raw": n_raw}
        q["times"] = {"trailpack": tp_times, "duckdb_parquet": pq_times, "duckdb_raw": raw_times}
        q["median"] = {k: median(v) for k, v in q["times"].items()}
        read, total = q["explain"]["bytes"]
        q["bytes_read_fraction"] = read / total
        if not (n_tp == n_pq == n_raw):
            mismatches.append("%s: COUNTS DIFFER: trailpack %d, DuckDB Parquet %d, DuckDB raw %d"
                              % (q["name"], n_tp, n_pq, n_raw))
        print("%-32s trailpack %s  DuckDB/Parquet %s  DuckDB/raw %s  count %d"
              % (q["name"], fmt_s(q["median"]["trailpack"]), fmt_s(q["median"]["duckdb_parquet"]),
                 fmt_s(q["median"]["duckdb_raw"]), n_tp))
        sys.stdout.flush()

    # --- report ------------------------------------------------------------------
    print()
    print("Lookup values: " + "; ".join(
        "%s = `%s`%s" % (q["name"], q["value"],
                         " (%d events, median of %s)" % (q["events"], q["picked_from"])
                         if "picked_from" in q and "median" in q["name"] else
                         (" (%d events, rarest of %s)" % (q["events"], q["picked_from"])
                          if "picked_from" in q else ""))
        for q in queries))
    print()
    print("| query | trailpack median | bytes read % | DuckDB Parquet median | DuckDB raw | "
          "speedup vs raw | ratio vs DuckDB Parquet | counts |")
    print("|---|---|---|---|---|---|---|---|")
    for q in queries:
        m = q["median"]
        c = q["count"]
        counts = ("%d (all three agree)" % c["trailpack"] if c["trailpack"] == c["duckdb_parquet"] == c["duckdb_raw"]
                  else "**MISMATCH** %d / %d / %d" % (c["trailpack"], c["duckdb_parquet"], c["duckdb_raw"]))
        raw_cell = fmt_s(m["duckdb_raw"])
        if len(q["times"]["duckdb_raw"]) > 1:
            raw_cell += " (median of %d)" % len(q["times"]["duckdb_raw"])
        speedup = m["duckdb_raw"] / m["trailpack"]
        print("| %s | %s | %.2f%% | %s | %s | %s× | %.2f | %s |" % (
            q["name"], fmt_s(m["trailpack"]), 100 * q["bytes_read_fraction"], fmt_s(m["duckdb_parquet"]),
            raw_cell, ("%.0f" if speedup >= 10 else "%.1f") % speedup, m["trailpack"] / m["duckdb_parquet"],
            counts))
    print()
    print("ratio vs DuckDB Parquet = trailpack time / DuckDB-over-Parquet time (≤ 1.00: trailpack no slower).")
    print()
    print("| query | parts opened | row groups: pruned by stats / by bloom / scanned | "
          "rows scanned | matched | pages read / skipped | bytes read |")
    print("|---|---|---|---|---|---|---|")
    for q in queries:
        e = q["explain"]
        parts = e.get("parts", [0, 0, 0])
        groups_e = e.get("groups", [0, 0, 0, 0])
        rows = e.get("rows", [0, 0])
        pages = e.get("pages", [0, 0])
        print("| %s | %d of %d | %d / %d / %d of %d | %d | %d | %d / %d | %.1f of %.1f MB |" % (
            q["name"], parts[0] - parts[1] - parts[2], parts[0], groups_e[1], groups_e[2], groups_e[3],
            groups_e[0], rows[0], rows[1], pages[0], pages[1], e["bytes"][0] / 1e6, e["bytes"][1] / 1e6))
    print()
    print("All timings (s):")
    for q in queries:
        print("  %-32s %s" % (q["name"], "  ".join(
            "%s=[%s]" % (k, ", ".join("%.3f" % t for t in v)) for k, v in q["times"].items())))
    print()

    # --- targets (selective lookups: one access key, one event ID, over the year) ------
    verdicts = []
    for q in queries:
        if not (q["name"].startswith("access key") or q["name"] == "event ID"):
            continue
        m = q["median"]
        checks = [
            ("bytes read ≤ 5%", q["bytes_read_fraction"] <= 0.05, "%.2f%%" % (100 * q["bytes_read_fraction"])),
            ("≥ 100× faster than DuckDB raw", m["duckdb_raw"] / m["trailpack"] >= 100,
             "%.1f×" % (m["duckdb_raw"] / m["trailpack"])),
            ("no slower than DuckDB Parquet", m["trailpack"] <= m["duckdb_parquet"],
             "%.2f" % (m["trailpack"] / m["duckdb_parquet"])),
        ]
        for label, ok, value in checks:
            verdicts.append({"query": q["name"], "target": label, "met": ok, "value": value})
            print("target %-30s %-30s %s (%s)" % (q["name"], label, "MET" if ok else "NOT MET", value))

    elapsed = time.perf_counter() - wall_start
    print()
    print("benchmark took %.0f s (excluding generation and archiving)" % elapsed)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"description": desc, "queries": queries, "verdicts": verdicts,
                       "mismatches": mismatches, "seconds": elapsed}, f, indent=2, default=str)
        print("results: %s" % args.json_out)
    if mismatches:
        print(file=sys.stderr)
        for line in mismatches:
            print("!!! MISMATCH !!! " + line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
