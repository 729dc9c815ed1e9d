#!/usr/bin/env python3
"""Detection benchmark: `trailpack detect` against DuckDB running the same Sigma
rules as SQL over the raw .json.gz tree, in one run. Run by scripts/bench-detect.sh.

Usage:
    bench_detect.py --tree TREE --archive ARCHIVE --bin TRAILPACK
        --rules DIR [--rules DIR]... [--runs 5] [--raw-runs 2] [--threads 2]

Both sides run every rule in one pass: trailpack with `detect --format json`,
DuckDB with one SELECT of `count(*) FILTER (WHERE <rule>)` per rule over the
records of every file (read_json_objects, then unnest of $.Records[*]). The
rules are translated by the small Sigma-to-SQL translator below, which covers
what the rules given use: maps (AND), lists of maps and of values (OR), the
modifiers contains, startswith, endswith, all, re, cidr (IPv4), exists and
fieldref, the wildcards * and ?, case-insensitive matching, conditions with
and/or/not, parentheses, and "1 of"/"all of" over patterns. A path segment
named "items" is a JSON array (CloudTrail's convention), expanded with [*].

Timing: wall time of the whole command (trailpack as a subprocess, process
start-up included) or of the DuckDB query on one open connection, after one
untimed run of each to warm the page cache; medians. The per-rule counts of
both sides must agree; a mismatch is printed and makes the exit status 1.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import duckdb
import yaml

RAW_RECORDS = ("SELECT unnest(json_extract(json, '$.Records[*]')) AS r "
               "FROM read_json_objects(%s, format = 'auto', maximum_object_size = 268435456)")


def sql_str(text):
    return "'" + text.replace("'", "''") + "'"


def json_path(field):
    path = "$"
    for segment in field.split("."):
        path += '."%s"' % segment
        if segment == "items":
            path += "[*]"
    return path.removesuffix("[*]")


def values_of(field):
    """SQL list of the field's string values (arrays flattened)."""
    path = json_path(field)
    if "[*]" in path:
        return "json_extract_string(r, %s)" % sql_str(path)
    return "[json_extract_string(r, %s)]" % sql_str(path)


def like_pattern(value, how):
    out = ""
    escaped = False
    for ch in value:
        if escaped:
            out += {"%": "\\%", "_": "\\_"}.get(ch, ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "*":
            out += "%"
        elif ch == "?":
            out += "_"
        elif ch in "%_":
            out += "\\" + ch
        else:
            out += ch
    if how in ("contains", "endswith"):
        out = "%" + out
    if how in ("contains", "startswith"):
        out = out + "%"
    return out


def ip4(x):
    parts = ["TRY_CAST(split_part(%s, '.', %d) AS BIGINT)" % (x, i) for i in range(1, 5)]
    return ("(CASE WHEN regexp_full_match(%s, '\\d+\\.\\d+\\.\\d+\\.\\d+') THEN "
            "%s * 16777216 + %s * 65536 + %s * 256 + %s END)" % (x, *parts))


def item_sql(key, values):
    field, *modifiers = key.split("|")
    if not isinstance(values, list):
        values = [values]
    if "exists" in modifiers:
        present = "json_extract(r, %s) IS NOT NULL" % sql_str(json_path(field))
        return present if values[0] else "NOT (%s)" % present
    how = next((m for m in modifiers if m in ("contains", "startswith", "endswith")), "equals")
    tests = []
    for value in values:
        value = str(value).lower() if isinstance(value, bool) else str(value)
        if "fieldref" in modifiers:
            test = "lower(x) = lower(json_extract_string(r, %s))" % sql_str(json_path(value))
        elif "re" in modifiers:
            test = "regexp_matches(x, %s)" % sql_str(value)
        elif "cidr" in modifiers:
            net, bits = value.split("/")
            shift = 32 - int(bits)
            test = "(%s >> %d) = (%s >> %d)" % (ip4("x"), shift, ip4(sql_str(net)), shift)
        else:
            test = "x ILIKE %s ESCAPE '\\'" % sql_str(like_pattern(value, how))
        tests.append("coalesce(len(list_filter(%s, x -> %s)) > 0, false)" % (values_of(field), test))
    joiner = " AND " if "all" in modifiers else " OR "
    return "(" + joiner.join(tests) + ")"


def detection_sql(detection):
    if isinstance(detection, list):
        return "(" + " OR ".join(detection_sql(d) for d in detection) + ")"
    return "(" + " AND ".join(item_sql(k, v) for k, v in detection.items()) + ")"


def name_matches(pattern, name):
    if pattern == "them":
        return not name.startswith("_")
    return re.fullmatch(re.escape(pattern).replace("\\*", ".*"), name) is not None


def condition_sql(condition, named):
    tokens = re.findall(r"\(|\)|[^\s()]+", condition)
    out = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("1", "all", "any") and i + 2 < len(tokens) and tokens[i + 1] == "of":
            names = sorted(n for n in named if name_matches(tokens[i + 2], n))
            joiner = " AND " if token == "all" else " OR "
            out.append("(" + joiner.join(named[n] for n in names) + ")")
            i += 3
            continue
        out.append({"and": "AND", "or": "OR", "not": "NOT"}.get(token, named.get(token, token)))
        i += 1
    return " ".join(out)


def rule_sql(rule):
    detection = dict(rule["detection"])
    condition = detection.pop("condition")
    named = {name: detection_sql(d) for name, d in detection.items()}
    conditions = condition if isinstance(condition, list) else [condition]
    return "(" + " OR ".join(condition_sql(c, named) for c in conditions) + ")"


def load_rules(dirs):
    rules = []
    for directory in dirs:
        for name in sorted(os.listdir(directory)):
            if name.endswith((".yml", ".yaml")):
                with open(os.path.join(directory, name)) as f:
                    rules.append(yaml.safe_load(f))
    return rules


def timed(function, runs):
    function()
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", required=True)
    parser.add_argument("--archive", required=True)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--rules", action="append", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--raw-runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    rules = load_rules(args.rules)
    command = [args.bin, "detect", args.archive, "--format", "json"]
    for directory in args.rules:
        command += ["--rules", directory]

    def trailpack():
        output = subprocess.run(command, check=True, capture_output=True)
        return json.loads(output.stdout)

    ours_median, ours_times, ours = timed(trailpack, args.runs)
    ours_counts = {r["id"]: r["count"] for r in ours["rules"]}

    con = duckdb.connect()
    con.execute("SET threads=%d" % args.threads)
    glob = os.path.join(args.tree, "AWSLogs/**/CloudTrail/*/*/*/*/*.json.gz")
    filters = ",\n  ".join("count(*) FILTER (WHERE %s)" % rule_sql(rule) for rule in rules)
    query = "SELECT\n  %s\nFROM (%s)" % (filters, RAW_RECORDS % sql_str(glob))
    duck_median, duck_times, row = timed(lambda: con.execute(query).fetchone(), args.raw_runs)
    duck_counts = {rule["id"]: count for rule, count in zip(rules, row)}

    mismatches = [(r["id"], r["title"], ours_counts.get(r["id"]), duck_counts[r["id"]])
                  for r in rules if ours_counts.get(r["id"]) != duck_counts[r["id"]]]
    print("rules: %d (%d matching at least one event), rows rebuilt by trailpack: %d"
          % (len(rules), sum(1 for c in duck_counts.values() if c), ours["rows_rebuilt"]))
    print("trailpack detect: median %.3f s of %s" % (ours_median, ["%.3f" % t for t in ours_times]))
    print("DuckDB over .json.gz (%d threads): median %.2f s of %s"
          % (args.threads, duck_median, ["%.2f" % t for t in duck_times]))
    print("ratio: trailpack takes %.4f of DuckDB's time (1/%.0f)"
          % (ours_median / duck_median, duck_median / ours_median))
    for rule_id, title, ours_count, duck_count in mismatches:
        print("MISMATCH %s (%s): trailpack %s, DuckDB %s" % (rule_id, title, ours_count, duck_count))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
