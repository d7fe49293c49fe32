"""Tests of the reference backend (images/backend/app.py) and the spawner (images/backend/spawner.py).

The backend runs for real on 127.0.0.1 in a thread and is spoken to over HTTP with http.client.
Its spawner is a fake HTTP server written here that records calls and checks the bearer token.
The spawner's own request handling runs with a fake in place of Docker.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKEND_DIR = REPO_ROOT / "images" / "backend"
for _path in (REPO_ROOT / "module_utils", BACKEND_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import app as backend  # noqa: E402
import spawner  # noqa: E402
from beacon_auth import hash_password, session_user, sign_session, stable_salt  # noqa: E402
from beacon_routing import user_url  # noqa: E402
from beacon_users import Result, UserError, spec_from_params  # noqa: E402

DOMAIN = "shlinx.test"
TOKEN = "spawner-token-0123456789abcdef"  # noqa: S105 (a test token)
SECRET = b"session-secret-0123456789abcdef"
PASSWORDS = {"1": "pw-one", "2": "pw-two", "alice": "correct horse"}
FAST = 1000  # PBKDF2 rounds in the users file: quick tests; the backend's dummy hash follows them
JSON_HEADERS = {"Content-Type": "application/json"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
USER_CONFIG = {
    "image": "codercom/code-server:4.100.3",
    "domain": DOMAIN,
    "entrypoint": "websecure",
    "certresolver": "letsencrypt",
    "memory": "2g",
    "cpus": 1.0,
    "pids_limit": 512,
    "args": ["--disable-telemetry"],
    "auth_middleware": "beacon-auth@file",
}


# --- HTTP client ---------------------------------------------------------------------------------


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self) -> object:
        return json.loads(self.body)

    @property
    def error(self) -> str:
        return self.json()["error"]


class Client:
    """Requests to one server on 127.0.0.1, a new connection each time unless one is given."""

    def __init__(self, port: int, server: object = None) -> None:
        self.port = port
        self.server = server

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        cookie: str | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        if cookie:
            headers["Cookie"] = cookie
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, path, body=body, headers=headers)
            return Reply(conn.getresponse())
        finally:
            if own:
                conn.close()

    def login(self, user: str = "1", password: str | None = None) -> str:
        """Sign in; the Cookie header value of the session."""
        reply = self.request(
            "POST", "/api/v1/auth/login", json_body={"user_id": user, "password": password or PASSWORDS[user]}
        )
        assert reply.status == 200, reply.body
        return reply.headers["Set-Cookie"].split(";", 1)[0]

    def verify(self, uri: str | None, cookie: str | None = None, **headers: str) -> Reply:
        wanted = {"X-Forwarded-Method": "GET", "Accept": "application/json"}
        if uri is not None:
            wanted["X-Forwarded-Uri"] = uri
        wanted.update({k.replace("_", "-"): v for k, v in headers.items()})
        return self.request("GET", "/api/v1/auth/verify", headers=wanted, cookie=cookie)


def raw_request(port: int, data: bytes) -> bytes:
    """Send bytes as they are; the answer up to the server closing (or 5 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


# --- The fake spawner ------------------------------------------------------------------------------


class FakeSpawner:
    """Records the backend's calls; answers like the spawner. ``gate`` holds starts until set."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, str, bool]] = []
        self.statuses: dict[str, str] = {}
        self.fail: str | None = None
        self.gate: threading.Event | None = None
        self.arrived = threading.Semaphore(0)
        self.lock = threading.Lock()

    def starts(self) -> list[str]:
        return [path for method, path, _ in self.calls if method == "POST" and path.endswith("/start")]


class FakeSpawnerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def answer(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.handle_call()

    def do_POST(self) -> None:
        self.handle_call()

    def handle_call(self) -> None:
        fake: FakeSpawner = self.server.fake  # type: ignore[attr-defined]
        authorized = self.headers.get("Authorization") == f"Bearer {fake.token}"
        with fake.lock:
            fake.calls.append((self.command, self.path, authorized))
        if int(self.headers.get("Content-Length") or 0):
            self.rfile.read(int(self.headers["Content-Length"]))
        if not authorized:
            return self.answer(401, {"error": "unauthorized"})
        match = re.fullmatch(r"/users/([a-z0-9-]+)(?:/(start|stop))?", self.path)
        if not match:
            return self.answer(404, {"error": "not found"})
        user, action = match.group(1), match.group(2)
        if action == "start":
            fake.arrived.release()
            if fake.gate is not None:
                fake.gate.wait(10)
        if fake.fail:
            return self.answer(502, {"error": fake.fail})
        if action == "start":
            fake.statuses[user] = "running"
            return self.answer(200, {"status": "running", "url": f"https://{DOMAIN}/code/user/{user}/"})
        if action == "stop":
            fake.statuses[user] = "stopped" if user in fake.statuses else "absent"
            return self.answer(200, {"status": fake.statuses[user]})
        return self.answer(200, {"user_id": user, "status": fake.statuses.get(user, "absent")})


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # e.g. a held start answering after the backend gave up on it


@pytest.fixture
def fake_spawner():
    fake = FakeSpawner(TOKEN)
    server = QuietServer(("127.0.0.1", 0), FakeSpawnerHandler)
    server.daemon_threads = True
    server.fake = fake  # type: ignore[attr-defined]
    thread = serve(server)
    fake.url = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    yield fake
    if fake.gate is not None:
        fake.gate.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


# --- The backend -------------------------------------------------------------------------------------


def write_config(directory: Path, spawner_url: str, **overrides: object) -> Path:
    users = [
        {"user_id": uid, "password_hash": hash_password(pw, stable_salt(uid, pw), FAST)}
        for uid, pw in PASSWORDS.items()
    ]
    (directory / "users.json").write_text(json.dumps(users))
    (directory / "session-secret").write_bytes(SECRET + b"\n")
    (directory / "spawner-token").write_text(TOKEN + "\n")
    config = {
        "domain": DOMAIN,
        "users_file": str(directory / "users.json"),
        "session_secret_file": str(directory / "session-secret"),
        "spawner_url": spawner_url,
        "spawner_token_file": str(directory / "spawner-token"),
        "max_concurrent_starts": 4,
        "max_body_bytes": 4096,
        "session_ttl": 43200,
        "cookie_secure": True,
    }
    config.update(overrides)
    path = directory / "backend.json"
    path.write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
    return path


@pytest.fixture
def make_backend(tmp_path, fake_spawner):
    servers = []

    def make(**overrides: object) -> Client:
        directory = tmp_path / f"backend{len(servers)}"
        directory.mkdir()
        path = write_config(directory, overrides.pop("spawner_url", fake_spawner.url), **overrides)
        server = backend.make_server(backend.load_config(str(path)), ("127.0.0.1", 0))
        servers.append((server, serve(server)))
        return Client(server.server_port, server)

    yield make
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def api(make_backend) -> Client:
    return make_backend()


def assert_json_reply(reply: Reply) -> None:
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Cache-Control"] == "no-store"
    json.loads(reply.body)


# --- Health, paths, methods ------------------------------------------------------------------------


def test_health(api):
    reply = api.request("GET", "/api/health")
    assert reply.status == 200
    assert reply.json()["status"] == "ok"
    assert_json_reply(reply)


def test_head_health_has_no_body(api):
    conn = api.connect()
    conn.request("HEAD", "/api/health")
    response = conn.getresponse()
    assert response.status == 200
    assert response.read() == b""
    conn.close()


def test_server_header_does_not_name_python(api):
    assert "Python" not in api.request("GET", "/api/health").headers["Server"]


@pytest.mark.parametrize("path", ["/nope", "/api/", "/api/v1/auth", "/api/health/", "/api/v1/auth/login/x"])
def test_unknown_paths_are_404(api, path):
    reply = api.request("GET", path)
    assert reply.status == 404
    assert_json_reply(reply)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/code/user/9/"), ("POST", "/code/user/9/x?y=1"), ("GET", "/code/user/1"), ("PUT", "/code/user/")],
)
def test_editor_paths_are_404_with_the_editor_message(api, method, path):
    reply = api.request(method, path)
    assert reply.status == 404
    assert reply.json() == {"error": "no editor is running at this address"}
    assert_json_reply(reply)


def test_code_user_without_slash_is_an_ordinary_404(api):
    assert api.request("GET", "/code/user").error == "not found"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/v1/auth/login", "POST"),
        ("PUT", "/api/v1/auth/logout", "POST"),
        ("POST", "/api/health", "GET, HEAD"),
        ("DELETE", "/api/v1/code-server/start", "POST"),
        ("POST", "/api/v1/auth/verify", "GET, HEAD"),
        ("OPTIONS", "/api/v1/code-server/status", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_with_allow(api, method, path, allow):
    reply = api.request(method, path)
    assert reply.status == 405
    assert reply.headers["Allow"] == allow
    assert_json_reply(reply)


def test_unknown_method_is_answered_in_json(api):
    reply = api.request("BREW", "/api/health")
    assert reply.status == 501
    assert_json_reply(reply)


def test_too_many_headers_is_431_in_json(api):
    headers = "".join(f"X-H{i}: {i}\r\n" for i in range(120))
    answer = raw_request(api.port, f"GET /api/health HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"Content-Type: application/json" in answer
    assert b"Traceback" not in answer


def test_overlong_request_line_is_414(api):
    answer = raw_request(api.port, b"GET /api/" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 ")


def test_keep_alive_connections_serve_several_requests(api):
    conn = api.connect()
    for _ in range(3):
        assert api.request("GET", "/api/health", conn=conn).status == 200
    conn.close()


def test_an_unread_body_closes_the_connection(api):
    conn = api.connect()
    reply = api.request("POST", "/api/health", body=b'{"x": 1}', headers=JSON_HEADERS, conn=conn)
    assert reply.status == 405
    assert reply.headers["Connection"] == "close"
    conn.close()


# --- Login -----------------------------------------------------------------------------------------


def test_login_sets_a_session_cookie(api):
    reply = api.request("POST", "/api/v1/auth/login", json_body={"user_id": "1", "password": "pw-one"})
    assert reply.status == 200
    assert reply.json() == {"user_id": "1"}
    assert_json_reply(reply)
    cookie = reply.headers["Set-Cookie"]
    value = cookie.split(";", 1)[0].removeprefix("beacon_session=")
    assert session_user(value, SECRET) == "1"
    attributes = [part.strip() for part in cookie.split(";")[1:]]
    assert {"HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=43200"} <= set(attributes)
    assert "Domain" not in cookie


def test_cookie_is_not_secure_when_configured(make_backend):
    api = make_backend(cookie_secure=False, session_ttl=600)
    reply = api.request("POST", "/api/v1/auth/login", json_body={"user_id": "2", "password": "pw-two"})
    attributes = [part.strip() for part in reply.headers["Set-Cookie"].split(";")[1:]]
    assert "Secure" not in attributes
    assert {"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"} <= set(attributes)


def test_login_accepts_a_charset(api):
    reply = api.request(
        "POST",
        "/api/v1/auth/login",
        json_body={"user_id": "alice", "password": "correct horse"},
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert reply.status == 200


@pytest.mark.parametrize(
    ("user_id", "password"),
    [("1", "wrong"), ("1", ""), ("1", "pw-two"), ("3", "pw-one"), ("nobody", "x"), ("Alice/../1", "pw-one"), ("", "x")],
)
def test_failed_logins_are_401_with_one_message(api, user_id, password):
    reply = api.request("POST", "/api/v1/auth/login", json_body={"user_id": user_id, "password": password})
    assert reply.status == 401
    assert reply.json() == {"error": "wrong user id or password"}
    assert "Set-Cookie" not in reply.headers


def test_unknown_and_malformed_users_cost_a_hash_too(api, monkeypatch):
    """Unknown or malformed ids are checked against a dummy hash of the users' cost, so they take as long."""
    assert api.server.app.dummy_hash.split("$")[1] == str(FAST)
    checked = []
    real = backend.verify_password
    monkeypatch.setattr(backend, "verify_password", lambda pw, encoded: checked.append(encoded) or real(pw, encoded))
    for user_id in ("nobody", "Not/Valid", "1"):
        api.request("POST", "/api/v1/auth/login", json_body={"user_id": user_id, "password": "x"})
    dummy = api.server.app.dummy_hash
    assert checked == [dummy, dummy, api.server.app.config.users["1"]]


@pytest.mark.parametrize("body", [b"{", b"{'user_id': '1'}", b"not json", b"\xff\xfe\x00", b"[" * 3000])
def test_malformed_json_is_400(api, body):
    reply = api.request("POST", "/api/v1/auth/login", body=body, headers=JSON_HEADERS)
    assert reply.status == 400
    assert reply.error.startswith("malformed JSON")


def test_empty_login_body_is_400(api):
    reply = api.request("POST", "/api/v1/auth/login", body=b"", headers=JSON_HEADERS)
    assert reply.status == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ("1", "body"),
        (None, "body"),
        ({"password": "pw-one"}, "user_id"),
        ({"user_id": 1, "password": "pw-one"}, "user_id"),
        ({"user_id": "1"}, "password"),
        ({"user_id": "1", "password": ["pw-one"]}, "password"),
    ],
)
def test_wrong_shape_is_422_naming_the_field(api, body, field):
    reply = api.request("POST", "/api/v1/auth/login", body=json.dumps(body).encode(), headers=JSON_HEADERS)
    assert reply.status == 422
    assert reply.json()["field"] == field
    assert field in reply.error


def test_oversized_body_is_413_without_reading_it(api):
    conn = api.connect()
    conn.putrequest("POST", "/api/v1/auth/login")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "100000000")
    conn.endheaders()  # and no body: the server must answer anyway
    response = conn.getresponse()
    assert response.status == 413
    assert response.headers["Connection"] == "close"
    conn.close()


def test_body_just_over_the_limit_is_413(make_backend):
    api = make_backend(max_body_bytes=100)
    body = json.dumps({"user_id": "1", "password": "x" * 100}).encode()
    assert api.request("POST", "/api/v1/auth/login", body=body, headers=JSON_HEADERS).status == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_other_content_types_are_415(api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"user_id": "1", "password": "pw-one"}).encode()
    reply = api.request("POST", "/api/v1/auth/login", body=body, headers=headers)
    assert reply.status == 415


def test_missing_content_length_is_411(api):
    conn = api.connect()
    conn.putrequest("POST", "/api/v1/auth/login")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()


def test_chunked_body_is_411(api):
    conn = api.connect()
    conn.request("POST", "/api/v1/auth/login", body=iter([b'{"user_id": "1"}']), headers=JSON_HEADERS)
    assert conn.getresponse().status == 411
    conn.close()


def test_invalid_content_length_is_400(api):
    answer = raw_request(api.port, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_cross_origin_posts_are_refused(api):
    body = {"user_id": "1", "password": "pw-one"}
    reply = api.request("POST", "/api/v1/auth/login", json_body=body, headers={"Origin": "https://evil.example"})
    assert reply.status == 403
    reply = api.request("POST", "/api/v1/auth/login", json_body=body, headers={"Origin": f"https://{DOMAIN}"})
    assert reply.status == 200


def test_logout_expires_the_cookie(api):
    cookie = api.login()
    reply = api.request("POST", "/api/v1/auth/logout", cookie=cookie)
    assert reply.status == 200
    set_cookie = reply.headers["Set-Cookie"]
    assert set_cookie.startswith("beacon_session=;")
    assert "Max-Age=0" in set_cookie and "Path=/" in set_cookie and "HttpOnly" in set_cookie


# --- forwardAuth -------------------------------------------------------------------------------------


def test_verify_lets_the_owner_in(api):
    reply = api.verify("/code/user/1/static/app.js?v=2", cookie=api.login("1"))
    assert reply.status == 200
    assert reply.headers["X-Beacon-User"] == "1"
    assert_json_reply(reply)


def test_verify_refuses_another_user(api):
    reply = api.verify("/code/user/2/", cookie=api.login("1"))
    assert reply.status == 403
    assert "X-Beacon-User" not in reply.headers


def test_verify_does_not_let_user_1_into_user_10(api):
    assert api.verify("/code/user/10/", cookie=api.login("1")).status == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json"},  # a script
        {"Accept": "*/*"},
        {"Accept": "text/html", "Upgrade": "websocket"},
        {"Accept": "text/html", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},  # Traefik drops Upgrade
        {"Accept": "text/html", "X-Forwarded-Method": "POST"},
    ],
)
def test_verify_without_session_is_401_for_non_navigations(api, headers):
    reply = api.verify("/code/user/1/", **{k.replace("-", "_"): v for k, v in headers.items()})
    assert reply.status == 401
    assert "Location" not in reply.headers


def test_verify_without_session_redirects_browsers_to_sign_in(api):
    uri = "/code/user/1/?folder=/home/coder/project&x=a b"
    reply = api.verify(uri, Accept=BROWSER_ACCEPT)
    assert reply.status == 302
    assert (
        reply.headers["Location"]
        == "https://shlinx.test/?next=%2Fcode%2Fuser%2F1%2F%3Ffolder%3D%2Fhome%2Fcoder%2Fproject%26x%3Da%20b"
    )


@pytest.mark.parametrize(
    "uri", ["/code/user/1/../2/", "/code/user/1%2F..%2F2/", "/code/user/1%2f..%2f2/", "/code/user/1/%2e%2e/2/"]
)
def test_verify_refuses_escapes_with_400(api, uri):
    assert api.verify(uri, cookie=api.login("1")).status == 400
    assert api.verify(uri).status == 400


@pytest.mark.parametrize("uri", ["/", "/api/v1/code-server/start", None])
def test_verify_refuses_non_editor_addresses(api, uri):
    assert api.verify(uri, cookie=api.login("1")).status == 403


def test_verify_falls_back_to_x_original_uri(api):
    reply = api.request(
        "GET", "/api/v1/auth/verify", headers={"X-Original-Uri": "/code/user/1/"}, cookie=api.login("1")
    )
    assert reply.status == 200


def test_verify_ignores_a_forged_user_header(api):
    assert api.verify("/code/user/1/", X_Beacon_User="1").status == 401
    reply = api.verify("/code/user/1/", cookie=api.login("2"), X_Beacon_User="1")
    assert reply.status == 403
    assert "X-Beacon-User" not in reply.headers


def test_verify_refuses_expired_forged_and_foreign_sessions(api):
    expired = sign_session("1", SECRET, now=time.time() - 100_000, ttl=10)
    foreign = sign_session("1", b"another-secret-0123456789")
    forged = "1.99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    for value in (expired, foreign, forged, "", "1"):
        assert api.verify("/code/user/1/", cookie=f"beacon_session={value}").status == 401


def test_verify_finds_the_session_among_other_cookies(api):
    cookie = f'theme=dark; code-server-session=abc; {api.login("1")}; other="quoted"'
    assert api.verify("/code/user/1/", cookie=cookie).status == 200


# --- Editors -----------------------------------------------------------------------------------------


def test_start_uses_the_session_user_only(api, fake_spawner):
    cookie = api.login("1")
    reply = api.request(
        "POST",
        "/api/v1/code-server/start?user_id=2",
        json_body={"user_id": "2"},
        cookie=cookie,
        headers={"X-Beacon-User": "2"},
    )
    assert reply.status == 200, reply.body
    assert reply.json() == {"url": "https://shlinx.test/code/user/1/", "status": "running"}
    assert fake_spawner.calls == [("POST", "/users/1/start", True)]


def test_start_without_a_body(api, fake_spawner):
    assert api.request("POST", "/api/v1/code-server/start", cookie=api.login("alice")).status == 200
    assert fake_spawner.starts() == ["/users/alice/start"]


def test_start_needs_a_session(api, fake_spawner):
    assert api.request("POST", "/api/v1/code-server/start").status == 401
    reply = api.request("POST", "/api/v1/code-server/start", json_body={"user_id": "1"}, cookie="beacon_session=1.2.3")
    assert reply.status == 401
    assert fake_spawner.calls == []


def test_start_with_a_non_json_body_is_415(api, fake_spawner):
    reply = api.request("POST", "/api/v1/code-server/start", body=b"user_id=2", cookie=api.login("1"))
    assert reply.status == 415
    assert fake_spawner.calls == []


def test_start_reports_spawner_failures_as_502(make_backend, fake_spawner):
    api = make_backend(max_concurrent_starts=1)
    cookie = api.login("1")
    fake_spawner.fail = "user 1: image codercom/code-server:4.100.3 could not be pulled"
    reply = api.request("POST", "/api/v1/code-server/start", cookie=cookie)
    assert reply.status == 502
    assert reply.error == fake_spawner.fail
    fake_spawner.fail = None  # the failed start gave its slot back
    assert api.request("POST", "/api/v1/code-server/start", cookie=cookie).status == 200


def test_unreachable_spawner_is_502(make_backend):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    api = make_backend(spawner_url=f"http://127.0.0.1:{closed_port}")
    reply = api.request("POST", "/api/v1/code-server/start", cookie=api.login("1"))
    assert reply.status == 502
    assert "unreachable" in reply.error


def test_the_bearer_token_reaches_the_spawner(tmp_path, make_backend, fake_spawner):
    api = make_backend()
    api.request("GET", "/api/v1/code-server/status", cookie=api.login("1"))
    assert fake_spawner.calls == [("GET", "/users/1", True)]
    fake_spawner.token = "another-token"  # noqa: S105 (a test token)
    reply = api.request("GET", "/api/v1/code-server/status", cookie=api.login("1"))
    assert reply.status == 502
    assert reply.error == "unauthorized"


def test_concurrent_starts_beyond_the_limit_are_429(make_backend, fake_spawner):
    api = make_backend(max_concurrent_starts=2)
    cookies = {user: api.login(user) for user in ("1", "2", "alice")}
    fake_spawner.gate = threading.Event()
    replies: dict[str, Reply] = {}

    def start(user: str) -> None:
        replies[user] = api.request("POST", "/api/v1/code-server/start", cookie=cookies[user])

    threads = [threading.Thread(target=start, args=(user,)) for user in ("1", "2")]
    for thread in threads:
        thread.start()
    for _ in threads:  # both starts are in the spawner, held there
        assert fake_spawner.arrived.acquire(timeout=10)
    busy = api.request("POST", "/api/v1/code-server/start", cookie=cookies["alice"])
    assert busy.status == 429
    assert busy.headers["Retry-After"] == "2"
    assert "error" in busy.json()
    fake_spawner.gate.set()
    for thread in threads:
        thread.join(10)
    assert [replies[user].status for user in ("1", "2")] == [200, 200]
    assert api.request("POST", "/api/v1/code-server/start", cookie=cookies["alice"]).status == 200
    assert sorted(fake_spawner.starts()) == ["/users/1/start", "/users/2/start", "/users/alice/start"]


def test_status_and_stop(api, fake_spawner):
    cookie = api.login("2")
    url = "https://shlinx.test/code/user/2/"
    status = api.request("GET", "/api/v1/code-server/status", cookie=cookie)
    assert status.status == 200
    assert status.json() == {"user_id": "2", "status": "absent", "url": url}
    api.request("POST", "/api/v1/code-server/start", cookie=cookie)
    assert api.request("GET", "/api/v1/code-server/status", cookie=cookie).json()["status"] == "running"
    stop = api.request("POST", "/api/v1/code-server/stop", json_body={"user_id": "1"}, cookie=cookie)
    assert stop.status == 200
    assert stop.json() == {"user_id": "2", "status": "stopped"}
    assert api.request("GET", "/api/v1/code-server/status", cookie=cookie).json()["status"] == "stopped"
    assert [c[1] for c in fake_spawner.calls] == ["/users/2", "/users/2/start", "/users/2", "/users/2/stop", "/users/2"]


def test_status_and_stop_need_a_session(api, fake_spawner):
    assert api.request("GET", "/api/v1/code-server/status").status == 401
    assert api.request("POST", "/api/v1/code-server/stop").status == 401
    assert fake_spawner.calls == []


def test_status_502_still_names_the_user(api, fake_spawner):
    fake_spawner.fail = "docker is down"
    reply = api.request("GET", "/api/v1/code-server/status", cookie=api.login("1"))
    assert reply.status == 502
    assert reply.json() == {"error": "docker is down", "user_id": "1"}


# --- Errors and logs -----------------------------------------------------------------------------------


def test_exceptions_are_500_without_traceback_and_logged_as_json(api, capsys):
    class Broken:
        def call(self, method: str, path: str) -> dict:
            raise RuntimeError("secret internals")

    api.server.app.spawner = Broken()
    reply = api.request("POST", "/api/v1/code-server/start", cookie=api.login("1"))
    assert reply.status == 500
    assert reply.json() == {"error": "internal error"}
    assert b"secret internals" not in reply.body and b"Traceback" not in reply.body
    # The start slot is given back even then.
    assert api.server.app.starts.acquire(blocking=False)
    api.server.app.starts.release()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    errors = [line for line in lines if line.get("level") == "error"]
    assert len(errors) == 1
    assert "secret internals" in errors[0]["error"] and "Traceback" in errors[0]["traceback"]


def test_one_json_log_line_per_request_without_secrets(api, capsys):
    capsys.readouterr()
    cookie = api.login("1")
    api.request("POST", "/api/v1/auth/login", json_body={"user_id": "1", "password": "a-wrong-password"})
    api.verify("/code/user/1/?tkn=query-secret", cookie=cookie)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/api/v1/auth/login", 200),
        ("/api/v1/auth/login", 401),
        ("/api/v1/auth/verify", 200),
    ]
    assert lines[0]["user"] == "1" and lines[2]["uri"] == "/code/user/1/"
    for secret in ("pw-one", "a-wrong-password", cookie.split("=", 1)[1], "query-secret", TOKEN):
        assert secret not in err


# --- Configuration ------------------------------------------------------------------------------------


def test_load_config_reads_everything(tmp_path):
    config = backend.load_config(str(write_config(tmp_path, "http://spawner:8001/")))
    assert config.domain == DOMAIN
    assert set(config.users) == set(PASSWORDS)
    assert config.session_secret == SECRET
    assert config.spawner_token == TOKEN
    assert config.spawner_url == "http://spawner:8001"
    assert (config.max_concurrent_starts, config.max_body_bytes, config.session_ttl) == (4, 4096, 43200)
    assert config.cookie_secure is True and config.wait_timeout == 60
    assert config.allowed_origins == (f"https://{DOMAIN}",)
    assert TOKEN not in repr(config) and "pbkdf2" not in repr(config) and str(SECRET) not in repr(config)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"domain": None}, "domain"),
        ({"domain": "localhost:8443"}, "domain"),
        ({"users_file": None}, "users_file"),
        ({"users_file": "/nonexistent/users.json"}, "users_file"),
        ({"session_secret_file": None}, "session_secret_file"),
        ({"session_secret_file": "/nonexistent"}, "session_secret_file"),
        ({"spawner_url": None}, "spawner_url"),
        ({"spawner_url": "file:///etc/passwd"}, "spawner_url"),
        ({"spawner_token_file": None}, "spawner_token_file"),
        ({"max_concurrent_starts": 0}, "max_concurrent_starts"),
        ({"max_concurrent_starts": "4"}, "max_concurrent_starts"),
        ({"max_body_bytes": True}, "max_body_bytes"),
        ({"session_ttl": -1}, "session_ttl"),
        ({"cookie_secure": "yes"}, "cookie_secure"),
        ({"cookie_secur": False}, "cookie_secur"),
    ],
)
def test_bad_config_names_the_key(tmp_path, overrides, key):
    with pytest.raises(backend.ConfigError, match=re.escape(key)):
        backend.load_config(str(write_config(tmp_path, **{"spawner_url": "http://spawner:8001", **overrides})))


def test_short_session_secret_is_refused(tmp_path):
    path = write_config(tmp_path, "http://spawner:8001")
    (tmp_path / "session-secret").write_text("short\n")
    with pytest.raises(backend.ConfigError, match="session_secret_file"):
        backend.load_config(str(path))


@pytest.mark.parametrize(
    "users",
    [
        {"1": "x"},
        [{"user_id": "Alice", "password_hash": "pbkdf2_sha256$1$2$3"}],
        [{"user_id": "1", "password_hash": "plain-text"}],
        [
            {"user_id": "1", "password_hash": "pbkdf2_sha256$1$2$3"},
            {"user_id": "1", "password_hash": "pbkdf2_sha256$1$2$3"},
        ],
    ],
)
def test_bad_users_file_is_refused(tmp_path, users):
    path = write_config(tmp_path, "http://spawner:8001")
    (tmp_path / "users.json").write_text(json.dumps(users))
    with pytest.raises(backend.ConfigError, match="users_file"):
        backend.load_config(str(path))


def test_user_ids_may_be_numbers_in_the_users_file(tmp_path):
    path = write_config(tmp_path, "http://spawner:8001")
    (tmp_path / "users.json").write_text(json.dumps([{"user_id": 7, "password_hash": "pbkdf2_sha256$1000$a$b"}]))
    assert list(backend.load_config(str(path)).users) == ["7"]


def test_main_exits_naming_the_problem(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BEACON_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(SystemExit) as exit_info:
        backend.main()
    assert exit_info.value.code == 2
    message = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert message["level"] == "fatal" and "missing.json" in message["msg"]


# --- The spawner ----------------------------------------------------------------------------------------


class FakeUsers:
    """Stands in for DockerUsers: records calls, keeps container states in a dict."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.states: dict[str, str] = {}
        self.error: Exception | None = None
        self.stays_running = True
        self.barrier: threading.Barrier | None = None
        self.delay = 0.0
        self.active: dict[str, int] = {}
        self.most_active: dict[str, int] = {}
        self.lock = threading.Lock()

    def ensure(self, spec, state):
        with self.lock:
            self.calls.append(("ensure", spec, state))
            self.active[spec.user_id] = self.active.get(spec.user_id, 0) + 1
            self.most_active[spec.user_id] = max(self.most_active.get(spec.user_id, 0), self.active[spec.user_id])
        try:
            if self.barrier is not None:
                self.barrier.wait()
            time.sleep(self.delay)
            if self.error:
                raise self.error
            running = state == "started" and self.stays_running
            self.states[spec.user_id] = "running" if running else "stopped"
            return Result(
                user_id=spec.user_id,
                changed=True,
                url=user_url(spec.domain, spec.user_id),
                container={"running": running, "ip": "10.1.2.3"},
            )
        finally:
            with self.lock:
                self.active[spec.user_id] -= 1

    def wait(self, specs, results, timeout):
        self.calls.append(("wait", [s.user_id for s in specs], [r.user_id for r in results], timeout))

    def status(self, spec):
        return self.states.get(spec.user_id, "absent")


def expected_spec(user_id: str):
    return spec_from_params({**USER_CONFIG, "user_id": user_id}).validated("started")


@pytest.fixture
def fake_users():
    return FakeUsers()


@pytest.fixture
def spawner_api(fake_users):
    config = spawner.SpawnerConfig(token=TOKEN, user=dict(USER_CONFIG), wait_timeout=7)
    server = spawner.make_server(config, fake_users, ("127.0.0.1", 0))
    thread = serve(server)
    yield Client(server.server_port, server)
    server.shutdown()
    server.server_close()
    thread.join(5)


BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer wrong",
    ],
)
def test_spawner_needs_the_token(spawner_api, fake_users, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in (("POST", "/users/1/start"), ("GET", "/users/1"), ("GET", "/nowhere")):
        reply = spawner_api.request(method, path, headers=headers)
        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert fake_users.calls == []


def test_spawner_token_scheme_is_case_insensitive(spawner_api):
    assert spawner_api.request("GET", "/users/1", headers={"Authorization": f"bearer {TOKEN}"}).status == 200


@pytest.mark.parametrize("user_id", ["Alice", "a.b", "%31", "-1", "a" * 64, "1%2F..%2F2", ""])
def test_spawner_refuses_bad_ids(spawner_api, fake_users, user_id):
    reply = spawner_api.request("POST", f"/users/{user_id}/start", headers=BEARER)
    assert reply.status == 400, reply.body
    assert "user_id" in reply.error
    assert fake_users.calls == []


def test_spawner_start_builds_the_spec_from_its_config_only(spawner_api, fake_users):
    reply = spawner_api.request(
        "POST",
        "/users/7/start?image=evil/image:latest&user_id=8",
        json_body={"user_id": "8", "image": "evil/image:latest", "memory": "64g", "args": ["--auth", "none"]},
        headers={**BEARER, "X-Beacon-User": "8"},
    )
    assert reply.status == 200, reply.body
    assert reply.json() == {"user_id": "7", "status": "running", "url": "https://shlinx.test/code/user/7/"}
    assert fake_users.calls == [("ensure", expected_spec("7"), "started"), ("wait", ["7"], ["7"], 7)]
    spec = fake_users.calls[0][1]
    assert (spec.user_id, spec.image, spec.memory, spec.args) == (
        "7",
        USER_CONFIG["image"],
        "2g",
        ("--disable-telemetry",),
    )


def test_spawner_start_fails_if_the_container_does_not_stay_up(spawner_api, fake_users):
    fake_users.stays_running = False
    reply = spawner_api.request("POST", "/users/7/start", headers=BEARER)
    assert reply.status == 502
    assert "code-server-user-7" in reply.error


def test_spawner_errors_are_502_with_the_message(spawner_api, fake_users):
    fake_users.error = UserError("user 7: start code-server-user-7 failed: no space left on device")
    reply = spawner_api.request("POST", "/users/7/start", headers=BEARER)
    assert reply.status == 502
    assert reply.error == str(fake_users.error)


def test_spawner_stop_and_status(spawner_api, fake_users):
    status = spawner_api.request("GET", "/users/7", headers=BEARER)
    assert status.json() == {"user_id": "7", "status": "absent"}
    # Nothing to stop: no container is made just to be stopped.
    assert spawner_api.request("POST", "/users/7/stop", headers=BEARER).json()["status"] == "absent"
    assert fake_users.calls == []
    spawner_api.request("POST", "/users/7/start", headers=BEARER)
    assert spawner_api.request("GET", "/users/7", headers=BEARER).json()["status"] == "running"
    stop = spawner_api.request("POST", "/users/7/stop", headers=BEARER)
    assert stop.status == 200 and stop.json()["status"] == "stopped"
    assert fake_users.calls[-1] == ("ensure", expected_spec("7"), "stopped")
    assert spawner_api.request("GET", "/users/7", headers=BEARER).json()["status"] == "stopped"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/users/7/start", 405),
        ("POST", "/users/7", 405),
        ("DELETE", "/users/7", 405),
        ("POST", "/users/7/restart", 404),
        ("POST", "/users/7/start/x", 404),
        ("GET", "/", 404),
        ("GET", "/users/", 400),
    ],
)
def test_spawner_paths_and_methods(spawner_api, fake_users, method, path, status):
    reply = spawner_api.request(method, path, headers=BEARER)
    assert reply.status == status
    assert fake_users.calls == []


def test_spawner_serialises_one_users_actions(spawner_api, fake_users):
    fake_users.delay = 0.2
    threads = [
        threading.Thread(target=spawner_api.request, args=("POST", "/users/7/start"), kwargs={"headers": BEARER})
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len([c for c in fake_users.calls if c[0] == "ensure"]) == 3
    assert fake_users.most_active["7"] == 1


def test_spawner_starts_different_users_at_once(spawner_api, fake_users):
    # Each ensure waits for the other: this only finishes if the two run at the same time.
    fake_users.barrier = threading.Barrier(2, timeout=5)
    replies = []
    threads = [
        threading.Thread(
            target=lambda u=user: replies.append(spawner_api.request("POST", f"/users/{u}/start", headers=BEARER))
        )
        for user in ("7", "8")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [r.status for r in replies] == [200, 200]


def test_backend_and_spawner_together(make_backend, spawner_api, fake_users):
    api = make_backend(spawner_url=f"http://127.0.0.1:{spawner_api.port}")
    cookie = api.login("alice")
    reply = api.request("POST", "/api/v1/code-server/start", json_body={"user_id": "1"}, cookie=cookie)
    assert reply.status == 200, reply.body
    assert reply.json()["url"] == "https://shlinx.test/code/user/alice/"
    assert fake_users.calls[0] == ("ensure", expected_spec("alice"), "started")
    assert api.request("GET", "/api/v1/code-server/status", cookie=cookie).json()["status"] == "running"
    fake_users.error = UserError("user alice: docker said no")
    reply = api.request("POST", "/api/v1/code-server/stop", cookie=cookie)
    assert reply.status == 502 and reply.error == "user alice: docker said no"


# --- The spawner's configuration and Docker adapter ---------------------------------------------------------


def write_spawner_config(directory: Path, **overrides: object) -> Path:
    (directory / "spawner-token").write_text(TOKEN + "\n")
    (directory / "traefik-password").write_text("traefik-pw\n")
    config = {
        "token_file": str(directory / "spawner-token"),
        "user": USER_CONFIG,
        "traefik_api": {
            "url": "http://beacon-traefik:8080",
            "user": "admin",
            "password_file": str(directory / "traefik-password"),
        },
        "wait_timeout": 30,
    }
    config.update(overrides)
    path = directory / "spawner.json"
    path.write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
    return path


def test_spawner_load_config(tmp_path):
    config = spawner.load_config(str(write_spawner_config(tmp_path)))
    assert config.token == TOKEN
    assert config.wait_timeout == 30
    assert (config.traefik_url, config.traefik_user, config.traefik_password) == (
        "http://beacon-traefik:8080",
        "admin",
        "traefik-pw",
    )
    assert config.spec("5") == expected_spec("5")
    assert TOKEN not in repr(config) and "traefik-pw" not in repr(config)


def test_spawner_config_without_traefik(tmp_path):
    config = spawner.load_config(str(write_spawner_config(tmp_path, traefik_api=None)))
    assert config.traefik_url is None


def test_spawner_config_warns_about_ignored_user_keys(tmp_path, capsys):
    spawner.load_config(str(write_spawner_config(tmp_path, user={**USER_CONFIG, "colour": "blue"})))
    assert "colour" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"token_file": None}, "token_file"),
        ({"user": None}, "user"),
        ({"user": {**USER_CONFIG, "user_id": "1"}}, "user"),
        ({"user": {**USER_CONFIG, "image": "UPPER/case"}}, "user"),
        ({"user": {**USER_CONFIG, "memory": "lots"}}, "user"),
        ({"user": {**USER_CONFIG, "cpus": "many"}}, "user"),
        ({"wait_timeout": 0}, "wait_timeout"),
        ({"traefik_api": {"url": "ftp://x"}}, "traefik_api"),
        ({"traefik_api": {"url": "http://x", "pasword_file": "/x"}}, "traefik_api"),
        ({"docker_host": "tcp://x"}, "docker_host"),
    ],
)
def test_spawner_bad_config_names_the_key(tmp_path, overrides, key):
    with pytest.raises(backend.ConfigError, match=key):
        spawner.load_config(str(write_spawner_config(tmp_path, **overrides)))


def test_spawner_refuses_a_short_token(tmp_path):
    path = write_spawner_config(tmp_path)
    (tmp_path / "spawner-token").write_text("short")
    with pytest.raises(backend.ConfigError, match="token_file"):
        spawner.load_config(str(path))


def test_docker_users_status():
    class NotFoundError(Exception):
        response = type("Response", (), {"status_code": 404})()

    class API:
        def __init__(self, attrs):
            self.attrs = attrs

        def inspect_container(self, name):
            assert name == "code-server-user-7"
            if self.attrs is None:
                raise NotFoundError()
            return self.attrs

    class FakeClient:
        def __init__(self, attrs):
            self.api = API(attrs)

    spec = expected_spec("7")
    assert spawner.DockerUsers(FakeClient(None), None).status(spec) == "absent"
    assert spawner.DockerUsers(FakeClient({"State": {"Running": True}}), None).status(spec) == "running"
    assert spawner.DockerUsers(FakeClient({"State": {"Running": False}}), None).status(spec) == "stopped"


def test_spawner_imports_without_docker():
    code = "import sys; sys.modules['docker'] = None; import spawner; print(spawner.make_server.__name__)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "module_utils"), str(BACKEND_DIR)])}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "make_server"


def test_oversized_body_sent_in_full_still_gets_its_413(api):
    """The unread body is drained after the answer, so closing does not reset the connection and lose it."""
    body = b"x" * 300_000
    head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
        time.sleep(0.05)  # the server answers and half-closes while the body is still on its way
        sock.sendall(body)  # drained by the server: no reset
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert answer.count(b"HTTP/1.1") == 1


def test_oversized_body_is_not_invited_by_100_continue(api):
    head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
    answer = raw_request(api.port, f"{head}Content-Length: 100000\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"health_probe": "ping"}, "health_probe"), ({"health_probe": "traefik", "traefik_api": None}, "traefik_api")],
)
def test_spawner_health_probe_config(tmp_path, overrides, message):
    with pytest.raises(backend.ConfigError, match=message):
        spawner.load_config(str(write_spawner_config(tmp_path, **overrides)))
    assert spawner.load_config(str(write_spawner_config(tmp_path, health_probe="traefik"))).health_probe == "traefik"


class FakeTraefik:
    """Answers like Traefik's API for wait_until_live: one router and its service."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.asked: list[str] = []

    def service(self, name):
        self.asked.append(name)
        servers = {"http://10.1.2.3:8080": "UP"} if self.live else {}
        return {"usedBy": [f"{name}@docker"], "serverStatus": servers}

    def router(self, name):
        return {"status": "enabled", "rule": "Host(`x`)"}


def test_traefik_probe_waits_for_the_route_only():
    spec = expected_spec("7")
    result = Result(user_id="7", container={"running": True, "ip": "10.1.2.3"})
    traefik = FakeTraefik(live=True)
    spawner.DockerUsers(object(), traefik, "traefik").wait([spec], [result], 1)
    assert traefik.asked == ["code-user-7"]
    with pytest.raises(UserError, match="not live"):
        spawner.wait_for_routes(FakeTraefik(live=False), [spec], [result], 0.1)
    # A container that is not running has no route to wait for.
    spawner.wait_for_routes(FakeTraefik(live=False), [spec], [Result(user_id="7", container=None)], 0.1)


def test_spawner_timeouts_are_502_naming_the_wait(make_backend, fake_spawner):
    api = make_backend()
    api.server.app.spawner.timeout = 0.3
    fake_spawner.gate = threading.Event()  # the start never comes back in time
    reply = api.request("POST", "/api/v1/code-server/start", cookie=api.login("1"))
    assert reply.status == 502
    assert reply.error == "the spawner did not answer within 0.3s"


def test_spawner_main_exits_naming_the_problem(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BEACON_SPAWNER_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(SystemExit) as exit_info:
        spawner.main()
    assert exit_info.value.code == 2
    assert "missing.json" in json.loads(capsys.readouterr().err.strip().splitlines()[-1])["msg"]
