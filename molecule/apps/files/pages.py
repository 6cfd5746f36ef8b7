"""A site of generated pages for the crawler: each page once per request, counted and timed.

    python3 pages.py --port 8080 --pages 4000 --token-file FILE

Every page wants the token (header X-Crawler-Token), 403 otherwise.
GET /page/<n>           page n (links to two others);
GET /slow/<n>?seconds=S a page that takes S seconds to arrive, a few bytes every 0.2 s (a slow server);
GET /big/<n>?mb=M       a page of M MiB (to fill a worker's memory);
GET /stats              as JSON: how often each page was served ("hits"), when each request for a page
                        began (epoch seconds, "times"), each slow or big request's start, end and whether
                        it was sent whole ("requests", by path), and how many requests were refused.
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HITS: dict[int, int] = {}
TIMES: dict[int, list[float]] = {}
REQUESTS: dict[str, list[dict]] = {}
REFUSED = [0]
LOCK = threading.Lock()
DRIP = 0.2


def handler(pages: int, token: str):
    class Pages(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the journal would hold every request
            pass

        def send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def stats(self) -> None:
            with LOCK:
                body = json.dumps({"hits": HITS, "times": TIMES, "requests": REQUESTS, "refused": REFUSED[0]})
            self.send(200, body.encode(), "application/json")

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path == "/stats":
                return self.stats()
            kind, _, number = url.path[1:].partition("/")
            if kind not in ("page", "slow", "big") or not number.isdigit():
                return self.send(404, b"no such page", "text/plain")
            if self.headers.get("X-Crawler-Token") != token:
                with LOCK:
                    REFUSED[0] += 1
                return self.send(403, b"token wanted", "text/plain")
            number = int(number)
            if kind == "page":
                return self.page(number)
            query = {key: float(values[0]) for key, values in parse_qs(url.query).items()}
            record = {"start": time.time(), "end": None, "whole": False}
            with LOCK:
                REQUESTS.setdefault(url.path, []).append(record)
            try:
                if kind == "slow":
                    self.slow(number, query.get("seconds", 60))
                else:
                    self.big(int(query.get("mb", 600)))
                record["whole"] = True
            except OSError:  # the client went away: its task was stopped
                pass
            finally:
                record["end"] = time.time()

        def page(self, number: int) -> None:
            if number >= pages:
                return self.send(404, b"no such page", "text/plain")
            with LOCK:
                HITS[number] = HITS.get(number, 0) + 1
                TIMES.setdefault(number, []).append(time.time())
            links = "".join(f'<a href="/page/{(number * k + 1) % pages}">next</a>' for k in (3, 7))
            body = (
                f"<!DOCTYPE html><html><head><title>Page {number}</title></head>"
                f"<body><p>This is page {number} of the generated site.</p>{links}</body></html>"
            ).encode()
            return self.send(200, body, "text/html; charset=utf-8")

        def slow(self, number: int, seconds: float) -> None:
            steps = max(1, int(seconds / DRIP))
            head = f"<!DOCTYPE html><html><head><title>Slow {number}</title></head><body><p>".encode()
            tail = b"</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(head) + steps + len(tail)))
            self.end_headers()
            self.wfile.write(head)
            self.wfile.flush()
            for _ in range(steps):
                time.sleep(DRIP)
                self.wfile.write(b".")
                self.wfile.flush()
            self.wfile.write(tail)

        def big(self, mib: int) -> None:
            chunk = b"x" * (1 << 20)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(mib << 20))
            self.end_headers()
            for _ in range(mib):
                self.wfile.write(chunk)

    return Pages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--pages", type=int, default=4000)
    parser.add_argument("--token-file", required=True)
    args = parser.parse_args()
    with open(args.token_file, encoding="utf-8") as handle:
        token = handle.read()
    ThreadingHTTPServer(("", args.port), handler(args.pages, token)).serve_forever()


if __name__ == "__main__":
    main()
