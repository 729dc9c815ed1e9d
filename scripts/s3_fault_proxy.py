#!/usr/bin/env python3
"""An HTTP proxy in front of an S3-compatible server that injects faults.

Every Nth request is answered `503 SlowDown` (S3's throttling reply) and every
Mth with `500 InternalError`, without reaching the server; the rest pass through.
It prints its port on the first line of stdout, and counts what it did in a JSON
file after every request, so tests can check that faults really happened. It stops when its stdin closes.

    s3_fault_proxy.py --upstream http://127.0.0.1:5055 --slowdown-every 7 \
        --error-every 11 --stats stats.json

With `--drop-header If-None-Match` it also plays a store that ignores
conditional writes: that header never reaches the server.
"""

import argparse
import http.client
import http.server
import json
import sys
import threading
import urllib.parse

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--slowdown-every", type=int, default=0)
    parser.add_argument("--error-every", type=int, default=0)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--drop-header", action="append", default=[],
                        help="a request header not passed on (repeatable)")
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    lock = threading.Lock()
    stats = {"requests": 0, "slowdown": 0, "internal_error": 0, "passed": 0}

    def save():
        with open(args.stats, "w") as f:
            json.dump(stats, f)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def reply_error(self, status, code, message):
            body = (
                f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            # A reply to HEAD has no body, or the connection's next reply is garbled.
            if self.command == "HEAD":
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with lock:
                stats["requests"] += 1
                n = stats["requests"]
                fault = None
                if args.slowdown_every and n % args.slowdown_every == 0:
                    fault = "slowdown"
                elif args.error_every and n % args.error_every == 0:
                    fault = "internal_error"
                stats[fault or "passed"] += 1
                save()
            if fault == "slowdown":
                return self.reply_error(503, "SlowDown", "Please reduce your request rate.")
            if fault == "internal_error":
                return self.reply_error(500, "InternalError", "Injected by the fault proxy.")
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            dropped = HOP_HEADERS | {h.lower() for h in args.drop_header}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                    self.send_header(key, value)
            # HEAD answers with the object's length and no body: pass it through.
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    save()
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Stop when the test that started us goes away.
    sys.stdin.read()


if __name__ == "__main__":
    main()
