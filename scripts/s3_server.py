#!/usr/bin/env python3
"""Run a local S3-compatible server (moto) on 127.0.0.1 for tests and benchmarks.

Prints the port on the first line of stdout once the server answers, and stops
when its stdin closes, so a test that starts it cannot leave it running.

    s3_server.py [--port N]
"""

import argparse
import logging
import socket
import sys
import time

from moto.server import ThreadedMotoServer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # One log line per request would bury the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = args.port
    if port == 0:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    print(port, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
