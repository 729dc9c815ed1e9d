#!/usr/bin/env python3
"""Check what independent readers see in a trailpack archive: each must count
exactly the records of the source files archived, no more, no less.

Usage:
    python scripts/readers.py ARCHIVE EXPECTED_RECORDS [--label TEXT]
                              [--s3-endpoint URL] [--distinct-ids N]

ARCHIVE            a directory, or s3://bucket/prefix (with --s3-endpoint; the
                   AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of the environment)
EXPECTED_RECORDS   the records in the source files that were archived

Readers (all from PyPI, none of them trailpack's code):
  deltalake   delta-rs: DeltaTable(...).to_pyarrow_table(), the committed snapshot
  duckdb      DuckDB 1.4.4 with the delta extension of duckdb-ext-delta:
              delta_scan(...) (local archives; DuckDB needs httpfs for S3)
  glob        DuckDB read_parquet over the partition directories' part files,
              as Hive-style engines read a table by location (local archives)
  pyarrow     pyarrow.dataset over the directory, skipping `_`/`.` paths as
              Hive, Spark and Athena do (local archives)
  vacuum      deltalake VACUUM dry runs (lite and full, zero retention) list
              no live part and nothing under `_trailpack/` or `_delta_log/`

Prints `ok <check>` or `FAIL <check>: ...` per check, then
`readers[LABEL]: N passed, M failed`; exits 1 on any failure.
"""

import argparse
import glob
import os
import sys


def duckdb_with_delta():
    """A DuckDB connection with the delta extension that duckdb-ext-delta ships."""
    import duckdb
    import duckdb_ext

    roots = [os.path.join(p, "extensions") for p in duckdb_ext.__path__]
    found = [f for root in roots
             for f in glob.glob(os.path.join(root, "*", "*", "delta.duckdb_extension"))]
    if not found:
        raise RuntimeError("duckdb-ext-delta ships no delta.duckdb_extension")
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute("LOAD '%s'" % found[0].replace("'", "''"))
    return con


def quote(text):
    return text.replace("'", "''")


class Checks:
    def __init__(self, label):
        self.label, self.passed, self.failed = label, 0, 0

    def check(self, name, expected, actual):
        try:
            got = actual()
        except Exception as e:  # noqa: BLE001 - a reader that raises fails the check
            got = "%s: %s" % (type(e).__name__, " ".join(str(e).split())[:400])
        if got == expected:
            self.passed += 1
            print("ok %s" % name)
        else:
            self.failed += 1
            print("FAIL %s: expected %r got %r" % (name, expected, got))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive")
    parser.add_argument("expected", type=int)
    parser.add_argument("--label", default="")
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--distinct-ids", type=int)
    args = parser.parse_args(argv[1:])
    from deltalake import DeltaTable

    checks = Checks(args.label)
    remote = args.archive.startswith("s3://")
    options = None
    if remote:
        options = {
            "AWS_ENDPOINT_URL": args.s3_endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }

    def table():
        return DeltaTable(args.archive, storage_options=options)

    checks.check("deltalake rows", args.expected, lambda: table().to_pyarrow_table(
        columns=["eventid"]).num_rows)
    if args.distinct_ids is not None:
        checks.check("deltalake distinct eventid", args.distinct_ids, lambda: len(set(
            table().to_pyarrow_table(columns=["eventid"]).column("eventid").to_pylist())))

    def vacuum_lists_nothing_of_ours():
        dt = table()
        live = set(dt.file_uris())
        listed = set(dt.vacuum(dry_run=True, retention_hours=0, enforce_retention_duration=False))
        listed |= set(dt.vacuum(dry_run=True, retention_hours=0, enforce_retention_duration=False,
                                full=True))
        ours = [p for p in listed
                if p.split("/")[0] in ("_trailpack", "_delta_log") or "/_trailpack/" in p]
        alive = [p for p in listed if any(uri.endswith("/" + p) for uri in live)]
        return sorted(ours + alive)

    checks.check("vacuum spares live parts and trailpack's files", [], vacuum_lists_nothing_of_ours)

    if not remote:
        con = duckdb_with_delta()
        checks.check("duckdb delta_scan rows", args.expected, lambda: con.execute(
            "SELECT count(*) FROM delta_scan('%s')" % quote(args.archive)).fetchone()[0])
        depth = len(table().metadata().partition_columns) - 2
        pattern = os.path.join(args.archive, "account=*", "region=*",
                               *(["*"] * depth), "part-*.parquet")
        checks.check("duckdb glob over the partition directories", args.expected, lambda: (
            con.execute("SELECT count(*) FROM read_parquet('%s', hive_partitioning = true)"
                        % quote(pattern)).fetchone()[0] if glob.glob(pattern) else 0))
        import pyarrow.dataset as ds
        checks.check("pyarrow dataset skipping _ and . paths", args.expected, lambda: ds.dataset(
            args.archive, format="parquet", partitioning="hive",
            ignore_prefixes=["_", "."]).count_rows())
    label = "[%s]" % args.label if args.label else ""
    print("readers%s: %d passed, %d failed" % (label, checks.passed, checks.failed))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
