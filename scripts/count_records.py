#!/usr/bin/env python3
"""Count the records of the CloudTrail log and Insights files under a tree, with
the standard library only: the ground truth that reader checks compare against.

    python3 scripts/count_records.py TRAIL [--until YYYYMMDDTHHMMZ]

With --until, only files delivered before that time (from their names, as
`trailpack archive --until` selects) count. Files that do not parse as
CloudTrail JSON (quarantined by trailpack) count nothing.
"""

import argparse
import gzip
import json
import os
import re
import sys

LOG_NAME = re.compile(r"^\d{12}_CloudTrail(-Insight)?_[a-z0-9-]+_(\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json(\.gz)?$")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trail")
    parser.add_argument("--until", help="delivery time, YYYYMMDDTHHMMZ, exclusive")
    args = parser.parse_args(argv[1:])
    total = 0
    for root, _, names in os.walk(args.trail):
        for name in names:
            match = LOG_NAME.match(name)
            if not match or (args.until and match.group(2) >= args.until):
                continue
            data = open(os.path.join(root, name), "rb").read()
            try:
                text = gzip.decompress(data) if name.endswith(".gz") else data
                total += len(json.loads(text)["Records"])
            except (OSError, EOFError, ValueError, KeyError, TypeError):
                pass
    print(total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
