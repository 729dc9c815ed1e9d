#!/usr/bin/env python3
"""Check that a trailpack archive reads back correctly in DuckDB and pyarrow.

Usage:
    python scripts/interop.py TRAIL ARCHIVE BIN

TRAIL    a CloudTrail tree (as written by scripts/gen_trail.py) that was archived
ARCHIVE  the archive trailpack wrote from it (Hive-partitioned Parquet)
BIN      the trailpack binary (for `trailpack stats ARCHIVE --json`)

Ground truth is computed from the source JSON with the standard library only:
every *.json.gz / *.json under AWSLogs/**/CloudTrail/** and
AWSLogs/**/CloudTrail-Insight/** (digest files are not archived as records).
Each check prints `ok <name>` or `FAIL <name>: expected X got Y`; the last
line is `interop: N passed, M failed`, and the exit status is 1 if any check
failed.

Needs duckdb (with duckdb-ext-delta) and pyarrow (scripts/interop.sh uses the
venv of scripts/readers-venv.sh).
"""

import collections
import datetime as dt
import gzip
import json
import os
import subprocess
import sys

LOG_DIRS = ("CloudTrail", "CloudTrail-Insight")
MAX_DIFF_ITEMS = 10


# ---------------------------------------------------------------------------
# Ground truth from the source tree
# ---------------------------------------------------------------------------

class Truth:
    """Aggregates over every record of every log and insight file."""

    def __init__(self):
        self.files = 0
        self.total = 0
        self.by_event = collections.Counter()    # eventName (None if absent) -> n
        self.by_stream = collections.Counter()   # (account, region) from the key -> n
        self.min_time = None
        self.max_time = None
        self.iam_users = 0                        # userIdentity.type == 'IAMUser'
        self.arns = set()                         # distinct userIdentity.arn
        self.resources = 0                        # sum of len(resources)

    def add_record(self, account, region, rec):
        self.total += 1
        self.by_event[rec.get("eventName")] += 1
        self.by_stream[(account, region)] += 1
        t = parse_utc(rec["eventTime"])
        self.min_time = t if self.min_time is None else min(self.min_time, t)
        self.max_time = t if self.max_time is None else max(self.max_time, t)
        ident = rec.get("userIdentity") or {}
        if ident.get("type") == "IAMUser":
            self.iam_users += 1
        if ident.get("arn") is not None:
            self.arns.add(ident["arn"])
        self.resources += len(rec.get("resources") or [])


def parse_utc(text):
    """CloudTrail eventTime ('2021-01-01T02:32:47Z', maybe fractional) -> aware UTC datetime."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def stream_of(rel_parts):
    """(account, region) of a log/insight file key, or None for anything else.

    Keys look like AWSLogs/[<org>/]<account>/<CloudTrail|CloudTrail-Insight>/<region>/...
    """
    if not rel_parts or rel_parts[0] != "AWSLogs":
        return None
    for i in range(1, len(rel_parts) - 2):
        account = rel_parts[i - 1]
        if rel_parts[i] in LOG_DIRS and len(account) == 12 and account.isdigit():
            return account, rel_parts[i + 1]
    return None


def source_files(trail):
    """Yield (path, account, region) for each log and insight file under TRAIL."""
    for dirpath, dirnames, filenames in os.walk(trail):
        dirnames.sort()
        for name in sorted(filenames):
            if not (name.endswith(".json.gz") or name.endswith(".json")):
                continue
            path = os.path.join(dirpath, name)
            stream = stream_of(os.path.relpath(path, trail).split(os.sep))
            if stream is not None:
                yield (path,) + stream


def load_records(path):
    """The Records array of one (gzipped or plain) CloudTrail JSON file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return json.load(f)["Records"]


def ground_truth(trail):
    truth = Truth()
    for path, account, region in source_files(trail):
        truth.files += 1
        for rec in load_records(path):
            truth.add_record(account, region, rec)
    return truth


# ---------------------------------------------------------------------------
# Check bookkeeping
# ---------------------------------------------------------------------------

class Checks:
    """Runs named checks, prints one line each and counts the outcomes."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, expected, actual):
        """Pass when actual() == expected; `actual` is a zero-argument callable
        and an exception it raises counts as a failure."""
        self.check_in(name, [expected], actual)

    def check_in(self, name, allowed, actual):
        """Pass when actual() is one of `allowed`."""
        try:
            got = actual()
        except Exception as e:  # noqa: BLE001 - report anything the reader raises
            self._fail(name, "%s: %s" % (type(e).__name__, " ".join(str(e).split())))
            return
        if got in allowed:
            self.passed += 1
            print("ok %s" % name)
        elif len(allowed) == 1:
            self._fail(name, describe_mismatch(allowed[0], got))
        else:
            self._fail(name, "expected one of %s got %r" % (", ".join(map(repr, allowed)), got))

    def _fail(self, name, why):
        self.failed += 1
        print("FAIL %s: %s" % (name, why))


def describe_mismatch(expected, got):
    """`expected X got Y`; for dicts only the differing keys are shown."""
    if isinstance(expected, dict) and isinstance(got, dict):
        keys = sorted(set(expected) | set(got), key=repr)
        diff = [k for k in keys if expected.get(k) != got.get(k)]
        shown = ", ".join("%r: %r" % (k, expected.get(k)) for k in diff[:MAX_DIFF_ITEMS])
        shown_got = ", ".join("%r: %r" % (k, got.get(k)) for k in diff[:MAX_DIFF_ITEMS])
        more = " (+%d more keys)" % (len(diff) - MAX_DIFF_ITEMS) if len(diff) > MAX_DIFF_ITEMS else ""
        return "expected {%s} got {%s}%s" % (shown, shown_got, more)
    return "expected %r got %r" % (expected, got)


def account_str(value):
    """Hive account value (readers may type it as a number) -> 12-digit string."""
    return str(value).zfill(12)


# ---------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------

def duckdb_checks(checks, truth, archive):
    import duckdb

    con = duckdb.connect()
    # The parts only: `**/*.parquet` would also read the Delta checkpoints and the
    # file index under `_delta_log/` and `_trailpack/`.
    glob = os.path.join(archive, "account=*", "region=*", "year=*", "month=*",
                        "part-*.parquet").replace("'", "''")
    con.execute("CREATE VIEW t AS SELECT * FROM read_parquet('%s', hive_partitioning=true)" % glob)

    def scalar(sql):
        return con.execute(sql).fetchone()[0]

    def column_type(column):
        return scalar("SELECT column_type FROM (DESCRIBE t) WHERE column_name = '%s'" % column)

    checks.check("duckdb row count", truth.total, lambda: scalar("SELECT count(*) FROM t"))
    checks.check("duckdb count per eventname", dict(truth.by_event), lambda: dict(
        con.execute("SELECT eventname, count(*) FROM t GROUP BY 1").fetchall()))
    checks.check("duckdb count per account/region", dict(truth.by_stream), lambda: {
        (account_str(a), r): n for a, r, n in con.execute(
            "SELECT CAST(account AS VARCHAR), region, count(*) FROM t GROUP BY 1, 2").fetchall()})
    checks.check_in("duckdb eventtime type", ["TIMESTAMP WITH TIME ZONE", "TIMESTAMP"],
                    lambda: column_type("eventtime"))
    checks.check("duckdb eventtime min/max", (truth.min_time, truth.max_time), lambda: tuple(
        from_epoch_us(v) for v in con.execute(
            "SELECT epoch_us(min(eventtime)), epoch_us(max(eventtime)) FROM t").fetchone()))
    checks.check("duckdb useridentity.type = 'IAMUser'", truth.iam_users, lambda: scalar(
        "SELECT count(*) FROM t WHERE useridentity.type = 'IAMUser'"))
    checks.check("duckdb distinct useridentity.arn", len(truth.arns), lambda: scalar(
        "SELECT count(DISTINCT useridentity.arn) FROM t"))
    checks.check("duckdb resources is a list", "LIST", lambda: list_or_type(column_type("resources")))
    checks.check("duckdb sum(len(resources))", truth.resources, lambda: int(scalar(
        "SELECT coalesce(sum(len(resources)), 0) FROM t")))
    con.close()


def list_or_type(type_name):
    """'LIST' for any DuckDB list type (`STRUCT(...)[]`), else the type itself."""
    return "LIST" if type_name.endswith("[]") else type_name


def from_epoch_us(us):
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)


# ---------------------------------------------------------------------------
# pyarrow
# ---------------------------------------------------------------------------

def parquet_parts(archive):
    """Relative paths of the Parquet parts on disk, outside _trailpack/."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(archive):
        dirnames[:] = [d for d in dirnames if not d.startswith(("_", "."))]
        out.update(os.path.relpath(os.path.join(dirpath, f), archive)
                   for f in filenames if f.endswith(".parquet"))
    return out


def pyarrow_checks(checks, truth, archive):
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dataset = ds.dataset(archive, format="parquet", partitioning="hive",
                         exclude_invalid_files=True, ignore_prefixes=["_", "."])
    checks.check("pyarrow files are the parts (no _trailpack)", parquet_parts(archive), lambda: {
        os.path.relpath(f, archive) for f in dataset.files})
    checks.check("pyarrow row count", truth.total, dataset.count_rows)

    def per_event():
        table = dataset.to_table(columns=["eventname"])
        counts = table.group_by("eventname").aggregate(
            [("eventname", "count", pc.CountOptions(mode="all"))])
        return dict(zip(counts["eventname"].to_pylist(), counts["eventname_count"].to_pylist()))

    def per_stream():
        table = dataset.to_table(columns=["account", "region"])
        counts = table.group_by(["account", "region"]).aggregate(
            [("region", "count", pc.CountOptions(mode="all"))])
        return {(account_str(a), r): n for a, r, n in zip(
            counts["account"].to_pylist(), counts["region"].to_pylist(),
            counts["region_count"].to_pylist())}

    checks.check("pyarrow count per eventname", dict(truth.by_event), per_event)
    checks.check("pyarrow count per account/region", dict(truth.by_stream), per_stream)


# ---------------------------------------------------------------------------
# trailpack stats
# ---------------------------------------------------------------------------

def stats_checks(checks, truth, archive, binary):
    def stats():
        proc = subprocess.run([binary, "stats", archive, "--json"],
                              capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)

    try:
        doc = stats()
    except Exception as e:  # noqa: BLE001
        doc = e
    checks.check("trailpack stats records", truth.total, lambda: lookup(doc, "records"))
    checks.check("trailpack stats files", truth.files, lambda: lookup(doc, "files"))


def ddl_checks(checks, archive, binary, engine):
    """`trailpack schema --ddl ENGINE` (duckdb: delta_scan; duckdb-parquet: the
    parts' glob) runs in DuckDB, and three representative queries over it give
    what `trailpack query` gives."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from readers import duckdb_with_delta

    ddl = subprocess.run([binary, "schema", "--ddl", engine, "--location", archive],
                         check=True, capture_output=True, text=True).stdout
    con = duckdb_with_delta()
    # The extension is loaded from the pip package; INSTALL would fetch it.
    con.execute("\n".join(line for line in ddl.splitlines()
                          if not line.startswith(("INSTALL ", "LOAD "))))
    engine = "ddl " + engine

    def trailpack_column(args, column):
        out = subprocess.run([binary, "query", archive, "--format", "csv", "--columns", column] + args,
                             check=True, capture_output=True, text=True).stdout
        return out.splitlines()[1:]

    def by_event_name():
        counts = collections.Counter(trailpack_column([], "eventname"))
        return {name: n for name, n in counts.items()}

    checks.check(engine + " count by eventName = trailpack query", by_event_name(), lambda: {
        (name or ""): n for name, n in con.execute(
            "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1").fetchall()})

    key = con.execute("SELECT useridentity.accesskeyid, count(*) FROM cloudtrail WHERE "
                      "useridentity.accesskeyid IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1").fetchone()[0]
    checks.check(engine + " events of one access key = trailpack query",
                 sorted(trailpack_column(["--access-key", key], "eventid")),
                 lambda: sorted(r[0] for r in con.execute(
                     "SELECT eventid FROM cloudtrail WHERE useridentity.accesskeyid = ?", [key]).fetchall()))

    def failed_sign_ins():
        return sorted(r[0] for r in con.execute(
            "SELECT eventid FROM cloudtrail WHERE eventname = 'ConsoleLogin' "
            "AND (errorcode IS NOT NULL OR errormessage IS NOT NULL)").fetchall())

    checks.check(engine + " failed console sign-ins = trailpack query",
                 sorted(trailpack_column(["--event-name", "ConsoleLogin", "--errors-only"], "eventid")),
                 failed_sign_ins)


def lookup(doc, key):
    """doc[key], re-raising the exception stats() hit, if any."""
    if isinstance(doc, Exception):
        raise doc
    return doc[key]


# ---------------------------------------------------------------------------

def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    trail, archive, binary = argv[1:]
    truth = ground_truth(trail)
    if truth.total == 0:
        print("interop: no records found under %s" % trail, file=sys.stderr)
        return 2
    print("ground truth: %d files, %d records, %d event names, %d account/region streams"
          % (truth.files, truth.total, len(truth.by_event), len(truth.by_stream)))

    checks = Checks()
    duckdb_checks(checks, truth, archive)
    pyarrow_checks(checks, truth, archive)
    stats_checks(checks, truth, archive, binary)
    ddl_checks(checks, archive, binary, "duckdb")
    ddl_checks(checks, archive, binary, "duckdb-parquet")

    print("interop: %d passed, %d failed" % (checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
