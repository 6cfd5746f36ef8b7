"""A site of generated pages for the crawler: each page once per request, counted.

    python3 pages.py --port 8080 --pages 3000 --token-file FILE

GET /page/<n> serves page n (links to two others) to a request that carries
the token (header X-Crawler-Token), 403 otherwise; GET /stats tells, as
JSON, how often each page was served and how many requests were refused.
"""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HITS: dict[int, int] = {}
REFUSED = [0]
LOCK = threading.Lock()


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

        def do_GET(self):
            if self.path == "/stats":
                with LOCK:
                    body = json.dumps({"hits": HITS, "refused": REFUSED[0]}).encode()
                return self.send(200, body, "application/json")
            if not self.path.startswith("/page/") or not self.path[6:].isdigit() or int(self.path[6:]) >= pages:
                return self.send(404, b"no such page", "text/plain")
            if self.headers.get("X-Crawler-Token") != token:
                with LOCK:
                    REFUSED[0] += 1
                return self.send(403, b"token wanted", "text/plain")
            number = int(self.path[6:])
            with LOCK:
                HITS[number] = HITS.get(number, 0) + 1
            links = "".join(f'<a href="/page/{(number * k + 1) % pages}">next</a>' for k in (3, 7))
            body = (
                f"<!DOCTYPE html><html><head><title>Page {number}</title></head>"
                f"<body><p>This is page {number} of the generated site.</p>{links}</body></html>"
            ).encode()
            return self.send(200, body, "text/html; charset=utf-8")

    return Pages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--token-file", required=True)
    args = parser.parse_args()
    with open(args.token_file, encoding="utf-8") as handle:
        token = handle.read()
    ThreadingHTTPServer(("", args.port), handler(args.pages, token)).serve_forever()


if __name__ == "__main__":
    main()
