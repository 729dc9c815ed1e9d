#!/usr/bin/env python3
"""Bytes and CPU time of each top-level column of an archive's parts at several
zstd levels.

    scripts/column_levels.py ARCHIVE [LEVELS]     # LEVELS default 1,3,6

Each row group of each part is read back, and each of its top-level columns (a
struct or list column with all its leaves) is written alone by pyarrow's Parquet
writer at each level, with the encodings trailpack uses for it (options.rs) and
pages of about 4,096 rows. Best of two runs per level. Sizes are close to
trailpack's; times are pyarrow's, so compare them between levels of one column,
not with trailpack's stage times. This is how the per-column levels of FORMAT.md
§4.2 were chosen, then checked on trailpack's own archive (docs/BENCHMARKS.md).
Needs pyarrow.
"""

import collections
import glob
import io
import sys
import time

import pyarrow.parquet as pq

UNIQUE = {"eventid", "requestid", "sharedeventid"}
DELTA = {"eventtime", "_record_index"}
PAGE_BYTES = 150_000


def main():
    archive = sys.argv[1]
    levels = [int(level) for level in (sys.argv[2] if len(sys.argv) > 2 else "1,3,6").split(",")]
    tables = collections.defaultdict(list)
    for path in sorted(glob.glob(f"{archive}/account=*/**/*.parquet", recursive=True)):
        part = pq.ParquetFile(path)
        for row_group in range(part.num_row_groups):
            table = part.read_row_group(row_group)
            for name in table.column_names:
                tables[name].append(table.select([name]))
    totals = {level: [0, 0.0] for level in levels}
    rows = []
    for column, pieces in tables.items():
        encoding = "DELTA_LENGTH_BYTE_ARRAY" if column in UNIQUE else "DELTA_BINARY_PACKED" if column in DELTA else None
        results = []
        for level in levels:
            best = float("inf")
            for _ in range(2):
                size, start = 0, time.perf_counter()
                for piece in pieces:
                    sink = io.BytesIO()
                    pq.write_table(
                        piece,
                        sink,
                        compression="zstd",
                        compression_level=level,
                        use_dictionary=encoding is None,
                        column_encoding=encoding,
                        data_page_size=PAGE_BYTES,
                        write_statistics=False,
                    )
                    size += sink.tell()
                best = min(best, time.perf_counter() - start)
            results.append((size, best))
            totals[level][0] += size
            totals[level][1] += best
        rows.append((max(size for size, _ in results), column, results))
    for _, column, results in sorted(rows, reverse=True):
        cells = "  ".join(f"L{level} {size / 1e6:7.3f} MB {seconds * 1e3:6.1f} ms" for level, (size, seconds) in zip(levels, results))
        print(f"{column[:40]:40} {cells}")
    print("total" + " " * 36 + "  ".join(f"L{level} {size / 1e6:7.3f} MB {seconds * 1e3:6.0f} ms" for level, (size, seconds) in totals.items()))


if __name__ == "__main__":
    main()
