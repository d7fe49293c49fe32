"""The reference backend of the Beacon platform: a small standard-library HTTP API.

Contract (a replacement backend honours the same): it listens on port 8000 and Traefik
routes ``https://<domain>/api/`` to it without stripping the prefix; ``GET /api/health``
answers 200 with JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    server_version = "beacon-backend"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stderr.write(json.dumps({"client": self.address_string(), "msg": fmt % args}) + "\n")

    def send_json(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            self.send_json(200, {"status": "ok", "uptime_s": round(time.time() - STARTED, 1)})
        elif path.startswith("/code/user/"):
            # Traefik sends here what no user's router takes: an editor that does not run.
            self.send_json(404, {"error": "no editor is running at this address", "path": path})
        else:
            self.send_json(404, {"error": "not found", "path": path})


def main() -> None:
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler)
    server.daemon_threads = True
    print(json.dumps({"msg": "backend listening", "port": server.server_port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
