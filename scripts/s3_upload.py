#!/usr/bin/env python3
"""Upload a local CloudTrail tree to an S3-compatible store, as CloudTrail would.

Keys keep the tree's layout below the given directory (under an optional prefix).
Digest files get the user metadata CloudTrail sets (`signature`,
`signature-algorithm`) from a `signatures.json` sidecar in the tree, so that
`trailpack archive s3://...` can be tested against what S3 really serves.

    s3_upload.py --endpoint http://127.0.0.1:5055 --bucket trail TREE [--prefix p]
"""

import argparse
import concurrent.futures
import json
import os
import sys

import boto3
from botocore.config import Config


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(max_pool_connections=args.workers),
    )
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if args.bucket not in existing:
        s3.create_bucket(Bucket=args.bucket)

    signatures = {}
    files = []
    for dirpath, _, names in os.walk(args.tree):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            if name == "signatures.json":
                with open(path) as f:
                    for key, value in json.load(f).items():
                        if isinstance(value, dict):
                            value = value["signature"]
                        signatures[key] = value
                continue
            files.append(path)

    def upload(path):
        relative = os.path.relpath(path, args.tree).replace(os.sep, "/")
        key = f"{args.prefix.strip('/')}/{relative}" if args.prefix else relative
        at = relative.rfind("AWSLogs/")
        metadata = {}
        signature = signatures.get(relative[at:] if at >= 0 else relative)
        if signature:
            metadata = {"signature": signature, "signature-algorithm": "SHA256withRSA"}
        with open(path, "rb") as f:
            s3.put_object(Bucket=args.bucket, Key=key, Body=f.read(), Metadata=metadata)

    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        for _ in pool.map(upload, files):
            pass
    print(f"uploaded {len(files)} objects to s3://{args.bucket}/{args.prefix}", file=sys.stderr)


if __name__ == "__main__":
    main()
