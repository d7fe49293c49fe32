"""A stand-in for code-server, standard library only.

It behaves like code-server where the platform depends on it: ``/healthz`` answers
``{"status": ..., "lastHeartbeat": ...}`` without login, pages are served relative to the
stripped prefix, a WebSocket upgrade on any path is accepted and echoes text frames, and files
under the workspace can be written and read back (``PUT``/``GET /files/<name>``) so tests can
prove the volume survives a recreation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WORKSPACE = Path(os.environ.get("STANDIN_WORKSPACE", "/home/coder/project"))
HEARTBEAT = Path.home() / ".local/share/code-server/heartbeat"
MAX_BODY = 1 << 20


def heartbeat() -> None:
    HEARTBEAT.parent.mkdir(parents=True, exist_ok=True)
    HEARTBEAT.touch()


def last_heartbeat_ms() -> int:
    try:
        return int(HEARTBEAT.stat().st_mtime * 1000)
    except FileNotFoundError:
        return 0


class Handler(BaseHTTPRequestHandler):
    server_version = "code-server-standin"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: object) -> None:
        self.send_body(status, json.dumps(payload).encode(), "application/json")

    def file_target(self) -> Path | None:
        name = self.path.split("?", 1)[0].removeprefix("/files/")
        if not name or "/" in name or name in {".", ".."}:
            return None
        return WORKSPACE / name

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket()
        elif path == "/healthz":
            last = last_heartbeat_ms()
            alive = last and time.time() * 1000 - last < 5 * 60 * 1000
            self.send_json(200, {"status": "alive" if alive else "expired", "lastHeartbeat": last})
        elif path.startswith("/files/"):
            target = self.file_target()
            if target is None or not target.is_file():
                self.send_json(404, {"error": "no such file"})
            else:
                self.send_body(200, target.read_bytes(), "application/octet-stream")
        elif path == "/":
            heartbeat()
            # Containers are named (and so host-named) code-server-user-<id>.
            user = socket.gethostname().removeprefix("code-server-user-")
            page = (
                "<!doctype html><title>code-server stand-in</title>"
                f"<h1>code-server stand-in for user {user}</h1>"
                '<p><a href="./healthz">healthz</a></p>'
            )
            self.send_body(200, page.encode(), "text/html; charset=utf-8")
        else:
            self.send_json(404, {"error": "not found", "path": path})

    def do_PUT(self) -> None:
        target = self.file_target()
        length = int(self.headers.get("Content-Length") or 0)
        if target is None or not self.path.startswith("/files/"):
            self.send_json(404, {"error": "PUT goes to /files/<name>"})
        elif length > MAX_BODY:
            self.send_json(413, {"error": f"body over {MAX_BODY} bytes"})
        else:
            WORKSPACE.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.rfile.read(length))
            self.send_json(201, {"written": target.name, "bytes": length})

    def websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key")
        if not key:
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": "missing Sec-WebSocket-Key"})
            return
        # RFC 6455 fixes SHA-1 for the handshake; it is not used for security here.
        digest = hashlib.sha1((key + WS_GUID).encode(), usedforsecurity=False).digest()
        accept = base64.b64encode(digest).decode()
        self.send_response(HTTPStatus.SWITCHING_PROTOCOLS)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True
        heartbeat()
        try:
            while frame := self.read_frame():
                opcode, payload = frame
                if opcode == 0x8:
                    self.write_frame(0x8, payload[:2])
                    return
                if opcode == 0x9:
                    self.write_frame(0xA, payload)
                elif opcode in (0x1, 0x2):
                    heartbeat()
                    self.write_frame(opcode, payload)
        except (TimeoutError, ConnectionError):
            return

    def read_frame(self) -> tuple[int, bytes] | None:
        head = self.rfile.read(2)
        if len(head) < 2:
            return None
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.rfile.read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.rfile.read(8))
        if length > MAX_BODY:
            return None
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = self.rfile.read(length)
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def write_frame(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        self.wfile.write(header + payload)
        self.wfile.flush()


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True
    print(f"code-server stand-in listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
