"""The reference backend of the Beacon platform: a small standard-library HTTP API.

Contract (a replacement backend honours the same): it listens on port 8000 and Traefik
routes ``https://<domain>/api/`` to it without stripping the prefix; ``GET /api/health``
answers 200 with JSON. Requests for ``/code/user/<id>/`` that no running editor takes also
land here and get a 404.

It signs users in (a signed session cookie), answers Traefik's forwardAuth for the editors
(``/api/v1/auth/verify``: only the owner of ``/code/user/<id>/`` gets through) and starts,
stops and reports a user's editor by asking the spawner, the only process with Docker access.
The user id always comes from the session, never from the request.

Configuration: a JSON file at ``$BEACON_CONFIG`` (default /etc/beacon/backend.json), read once
at start; secrets are read from the files it names, never from the environment.
"""

from __future__ import annotations

import collections
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

# In the image the module_utils files sit next to this one; the tests put them on sys.path.
from beacon_auth import (
    PBKDF2_ROUNDS,
    SESSION_COOKIE,
    SESSION_TTL,
    EditorPathError,
    editor_owner,
    hash_password,
    session_user,
    sign_session,
    verify_password,
)
from beacon_routing import USER_PATH_ROOT, ValidationError, user_url, validate_domain, validate_user_id

STARTED = time.time()
DEFAULT_CONFIG = "/etc/beacon/backend.json"
LOGIN_FAILED = "wrong user id or password"
SIGN_IN_REQUIRED = "sign in required"
NO_EDITOR = "no editor is running at this address"
EDITOR_STATES = ("running", "stopped", "absent")
_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")  # a header value: printable ASCII, no spaces
_MISSING = object()
_log_lock = threading.Lock()


def log(**fields: object) -> None:
    """One JSON line on stderr. Callers never pass cookies, passwords or tokens."""
    line = json.dumps({"time": round(time.time(), 3), **fields}, default=str)
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


# Configuration ------------------------------------------------------------------------------


class ConfigError(ValueError):
    """The configuration is missing or invalid; the message names the key."""


def read_json_file(path: str, what: str) -> object:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{what} {path}: is not valid JSON: {exc}") from exc


def read_secret_file(raw: dict, key: str, *, min_length: int = 1) -> bytes:
    """The content of the file named by ``raw[key]``, stripped of surrounding whitespace."""
    path = config_str(raw, key)
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 16).strip()
    except OSError as exc:
        raise ConfigError(f"key {key!r}: the file {path} cannot be read: {exc.strerror or exc}") from exc
    if len(data) < min_length:
        raise ConfigError(f"key {key!r}: the file {path} must hold at least {min_length} characters")
    return data


def read_token_file(raw: dict, key: str, *, min_length: int = 1) -> str:
    data = read_secret_file(raw, key, min_length=min_length)
    text = data.decode("ascii", "replace")
    if not _TOKEN_RE.fullmatch(text):
        raise ConfigError(f"key {key!r}: the token must be printable ASCII without spaces")
    return text


def config_str(raw: dict, key: str, default: object = _MISSING) -> str:
    if key not in raw:
        if default is _MISSING:
            raise ConfigError(f"key {key!r} is missing")
        return default  # type: ignore[return-value]
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"key {key!r} must be a non-empty string, not {value!r}")
    return value


def config_int(raw: dict, key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"key {key!r} must be an integer from {low} to {high}, not {value!r}")
    return value


def config_bool(raw: dict, key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"key {key!r} must be true or false, not {value!r}")
    return value


def check_keys(raw: object, known: tuple[str, ...], what: str) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} must be a JSON object")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{what}: unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    return raw


def read_users(path: str) -> dict[str, str]:
    """users_file: ``[{"user_id": "1", "password_hash": "pbkdf2_sha256$..."}]`` -> {id: hash}."""
    entries = read_json_file(path, "key 'users_file':")
    if not isinstance(entries, list):
        raise ConfigError(f"key 'users_file': {path} must hold a JSON list of users")
    users: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = f"key 'users_file': {path} entry {index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be an object with user_id and password_hash")
        try:
            user_id = validate_user_id(entry.get("user_id"))
        except ValidationError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        encoded = entry.get("password_hash")
        if not isinstance(encoded, str) or not encoded.startswith("pbkdf2_sha256$") or encoded.count("$") != 3:
            raise ConfigError(f"{where} (user {user_id}): password_hash must be pbkdf2_sha256$<rounds>$<salt>$<hash>")
        if user_id in users:
            raise ConfigError(f"{where}: user {user_id} is listed twice")
        users[user_id] = encoded
    return users


BACKEND_KEYS = (
    "domain",
    "users_file",
    "session_secret_file",
    "spawner_url",
    "spawner_token_file",
    "max_concurrent_starts",
    "max_body_bytes",
    "session_ttl",
    "cookie_secure",
    "wait_timeout",
    "allowed_origins",
)


@dataclass(frozen=True)
class BackendConfig:
    domain: str
    users: dict[str, str] = field(repr=False)
    session_secret: bytes = field(repr=False)
    spawner_url: str = "http://beacon-spawner:8001"
    spawner_token: str = field(default="", repr=False)
    max_concurrent_starts: int = 4
    max_body_bytes: int = 4096
    session_ttl: int = SESSION_TTL
    cookie_secure: bool = True
    wait_timeout: int = 60
    allowed_origins: tuple[str, ...] = ()


def load_config(path: str) -> BackendConfig:
    raw = check_keys(read_json_file(path, "config file"), BACKEND_KEYS, f"config file {path}")
    try:
        domain = validate_domain(config_str(raw, "domain"))
    except ValidationError as exc:
        raise ConfigError(f"key 'domain': {exc}") from exc
    spawner_url = config_str(raw, "spawner_url").rstrip("/")
    if not spawner_url.startswith(("http://", "https://")):
        raise ConfigError(f"key 'spawner_url' must start with http:// or https://, not {spawner_url!r}")
    origins = raw.get("allowed_origins", [f"https://{domain}"])
    if not isinstance(origins, list) or not all(isinstance(o, str) and o for o in origins):
        raise ConfigError("key 'allowed_origins' must be a list of origins such as https://shlinx.test")
    return BackendConfig(
        domain=domain,
        users=read_users(config_str(raw, "users_file")),
        session_secret=read_secret_file(raw, "session_secret_file", min_length=16),
        spawner_url=spawner_url,
        spawner_token=read_token_file(raw, "spawner_token_file"),
        max_concurrent_starts=config_int(raw, "max_concurrent_starts", 4, 1, 1000),
        max_body_bytes=config_int(raw, "max_body_bytes", 4096, 64, 1 << 20),
        session_ttl=config_int(raw, "session_ttl", SESSION_TTL, 60, 90 * 86400),
        cookie_secure=config_bool(raw, "cookie_secure", True),
        wait_timeout=config_int(raw, "wait_timeout", 60, 1, 3600),
        allowed_origins=tuple(o.rstrip("/") for o in origins),
    )


# The spawner client ---------------------------------------------------------------------------


class SpawnerError(RuntimeError):
    """The spawner failed or could not be reached; the message says why."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect would carry the bearer token elsewhere: treat it as an error


class SpawnerClient:
    """Asks the spawner (``POST /users/<id>/start`` ...) with the shared bearer token."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        # No proxies from the environment: the token goes to the spawner and nowhere else.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in load_config)
            self.url + path,
            method=method,
            data=b"" if method == "POST" else None,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                payload = json.loads(response.read(1 << 20))
        except urllib.error.HTTPError as exc:
            raise SpawnerError(self._message(exc)) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise SpawnerError(f"the spawner did not answer within {self.timeout:g}s") from exc
            raise SpawnerError(f"the spawner is unreachable: {reason}") from exc
        except ValueError as exc:
            raise SpawnerError(f"the spawner answered malformed JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise SpawnerError("the spawner answered JSON that is not an object")
        return payload

    @staticmethod
    def _message(exc: urllib.error.HTTPError) -> str:
        try:
            message = json.loads(exc.read(1 << 16)).get("error")
        except (ValueError, AttributeError, OSError):
            message = None
        if not isinstance(message, str) or not message:
            message = f"the spawner answered HTTP {exc.code}"
        return message[:1000]


class Backend:
    """What the request handlers share: the configuration, the spawner and the start limit."""

    def __init__(self, config: BackendConfig, spawner: SpawnerClient | None = None) -> None:
        self.config = config
        self.spawner = spawner or SpawnerClient(config.spawner_url, config.spawner_token, config.wait_timeout + 10)
        self.starts = threading.BoundedSemaphore(config.max_concurrent_starts)
        # Unknown users are checked against a hash of the usual cost, so a wrong user id takes
        # as long as a wrong password.
        rounds = collections.Counter(_rounds(h) for h in config.users.values()).most_common(1)
        self.dummy_hash = hash_password(
            secrets.token_urlsafe(16), os.urandom(16), rounds[0][0] if rounds else PBKDF2_ROUNDS
        )

    def check_login(self, user_id: str, password: str) -> str | None:
        try:
            uid: str | None = validate_user_id(user_id)
        except ValidationError:
            uid = None
        encoded = self.config.users.get(uid) if uid else None
        ok = verify_password(password, encoded or self.dummy_hash)
        return uid if ok and encoded is not None else None


def _rounds(encoded: str) -> int:
    try:
        rounds = int(encoded.split("$")[1])
    except (IndexError, ValueError):
        return PBKDF2_ROUNDS
    return rounds if 1 <= rounds <= 10_000_000 else PBKDF2_ROUNDS


# HTTP plumbing shared with the spawner ---------------------------------------------------------


class RequestError(Exception):
    """Answer the request with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None, **extra: object):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        self.extra = extra


class BeaconHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: tuple) -> None:
        """An exception that escaped a handler (e.g. the client went away): one JSON line."""
        exc = sys.exc_info()[1]
        log(level="error", msg="connection error", client=client_address[0], error=repr(exc)[:500])


class JSONHandler(BaseHTTPRequestHandler):
    """JSON answers, JSON log lines, no tracebacks to clients, bodies read only when small."""

    protocol_version = "HTTP/1.1"
    server_version = "beacon"
    # Longer than Traefik's idle timeout for backend connections (90 s), so Traefik closes
    # idle connections first; still frees the threads of clients that stall.
    timeout = 120
    routes: ClassVar[dict[str, dict[str, str]]] = {}  # path -> {method: handler method name}
    max_body_bytes = 4096

    def version_string(self) -> str:
        return self.server_version

    # Per request state. handle_one_request runs once per request of a keep-alive connection.
    def handle_one_request(self) -> None:
        self._t0 = time.monotonic()
        self._responded = False
        self._body_read = False
        self._linger = False
        self._log: dict[str, object] = {}
        self.headers = None  # type: ignore[assignment]  # not the previous request's, if this one is malformed
        super().handle_one_request()

    def handle_expect_100(self) -> bool:
        """Do not invite a body that will be refused: answer 413 straight away instead."""
        length = self.headers.get("Content-Length", "").strip()
        if length.isascii() and length.isdigit() and int(length) > self.max_body_bytes:
            return True
        return super().handle_expect_100()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if getattr(self, "_linger", False):
                self._drain()

    def _drain(self, limit: int = 1 << 20, seconds: float = 2.0) -> None:
        """Read and drop what is left of a refused body before closing (RFC 9112, 9.6).

        Closing a socket with unread data makes the kernel send a reset, and the client may
        lose the answer it has not read yet. Bounded in bytes and time; the data is not kept.
        """
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + seconds
            received = 0
            while received < limit and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                received += len(chunk)
        except OSError:
            pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self.route()
        except RequestError as exc:
            self.send_json(exc.status, {"error": exc.message, **exc.extra}, exc.headers)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The client left (e.g. gave up waiting for a start): nothing to answer.
            self.close_connection = True
            log(
                level="warning", msg="client went away", method=self.command, path=self.path_only[:200], error=repr(exc)
            )
        except Exception as exc:
            log(
                level="error",
                msg="unhandled exception",
                method=self.command,
                path=self.path_only[:200],
                error=repr(exc)[:500],
                traceback=traceback.format_exc(),
            )
            if not self._responded:
                self.send_json(500, {"error": "internal error"}, close=True)
            else:
                self.close_connection = True

    @property
    def path_only(self) -> str:
        return (getattr(self, "path", "") or "").split("?", 1)[0].split("#", 1)[0]

    def route(self) -> None:
        """Dispatch on ``self.routes``: 404 for unknown paths, 405 with Allow for other methods."""
        methods = self.routes.get(self.path_only)
        if methods is None:
            raise RequestError(404, "not found")
        name = methods.get("GET" if self.command == "HEAD" else self.command)
        if name is None:
            allowed = sorted(set(methods) | ({"HEAD"} if "GET" in methods else set()))
            raise RequestError(405, f"use {', '.join(allowed)}", [("Allow", ", ".join(allowed))])
        getattr(self, name)()

    # Bodies ---------------------------------------------------------------------------------

    def _declares_body(self) -> bool:
        headers = getattr(self, "headers", None)
        if headers is None:
            return True
        return "Transfer-Encoding" in headers or headers.get("Content-Length", "0").strip() != "0"

    def read_json(self, *, required: bool) -> object:
        """The JSON body, or None if there is none and none is required.

        411 without Content-Length (chunked bodies included), 413 over max_body_bytes (not
        read), 415 unless it is application/json, 400 if it is not JSON.
        """
        if "Transfer-Encoding" in self.headers:
            raise RequestError(411, "send the body with a Content-Length (chunked bodies are not accepted)")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            if required:
                raise RequestError(411, "Content-Length is required")
            return None
        if len(lengths) > 1 or not lengths[0].strip().isascii() or not lengths[0].strip().isdigit():
            raise RequestError(400, "invalid Content-Length")
        length = int(lengths[0])
        if length > self.max_body_bytes:
            raise RequestError(413, f"the body is over {self.max_body_bytes} bytes")
        if length == 0:
            if required:
                raise RequestError(400, "malformed JSON: the body is empty")
            return None
        if self.headers.get_content_type() != "application/json":
            raise RequestError(415, "Content-Type must be application/json")
        data = self.rfile.read(length)
        self._body_read = True
        if len(data) < length:
            self.close_connection = True
            raise RequestError(400, "the body is shorter than its Content-Length")
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise RequestError(400, f"malformed JSON: {str(exc)[:200]}") from exc

    # Answers --------------------------------------------------------------------------------

    def send_json(
        self,
        status: int,
        payload: object,
        headers: list[tuple[str, str]] | None = None,
        *,
        close: bool = False,
    ) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers or []:
            self.send_header(name, value)
        # A body the client sent and nobody read would be parsed as the next request.
        if self._declares_body() and not getattr(self, "_body_read", False):
            self.close_connection = self._linger = True
        if close:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._responded = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (400, 414, 431, 501, ...) as JSON, and the connection closed."""
        self.close_connection = True
        if not hasattr(self, "_t0"):
            self._t0, self._log = time.monotonic(), {}
        short = self.responses.get(code, ("error",))[0]
        self.send_json(code, {"error": message or short}, close=True)

    # Logs -----------------------------------------------------------------------------------

    def log_request(self, code: object = "-", size: object = "-") -> None:
        headers = getattr(self, "headers", None)
        forwarded = headers.get("X-Forwarded-For", "")[:100] if headers is not None else ""
        log(
            service=self.server_version,
            client=self.client_address[0],
            **({"forwarded_for": forwarded} if forwarded else {}),
            method=getattr(self, "command", None),
            path=self.path_only[:200],
            status=int(code) if str(code).isdigit() else code,
            ms=round((time.monotonic() - getattr(self, "_t0", time.monotonic())) * 1000, 1),
            **getattr(self, "_log", {}),
        )

    def log_message(self, fmt: str, *args: object) -> None:
        log(level="warning", service=self.server_version, client=self.client_address[0], msg=(fmt % args)[:500])


# The backend's endpoints -------------------------------------------------------------------------


class BackendHandler(JSONHandler):
    server_version = "beacon-backend"
    routes: ClassVar[dict[str, dict[str, str]]] = {
        "/api/health": {"GET": "health"},
        "/api/v1/auth/login": {"POST": "login"},
        "/api/v1/auth/logout": {"POST": "logout"},
        "/api/v1/auth/verify": {"GET": "verify"},
        "/api/v1/code-server/start": {"POST": "start"},
        "/api/v1/code-server/stop": {"POST": "stop"},
        "/api/v1/code-server/status": {"GET": "status"},
    }

    @property
    def app(self) -> Backend:
        return self.server.app  # type: ignore[attr-defined]

    @property
    def max_body_bytes(self) -> int:  # type: ignore[override]
        return self.app.config.max_body_bytes

    def route(self) -> None:
        if self.path_only.startswith(USER_PATH_ROOT):
            # Traefik sends here what no user's router takes: an editor that does not run.
            raise RequestError(404, NO_EDITOR)
        if self.command == "POST" and self.path_only in self.routes:
            origin = self.headers.get("Origin")
            if origin is not None and origin.rstrip("/") not in self.app.config.allowed_origins:
                raise RequestError(403, "cross-origin request refused")
        super().route()

    # Sessions -------------------------------------------------------------------------------

    def session(self) -> str | None:
        """The user of the first valid beacon_session cookie; other cookies are ignored."""
        for header in self.headers.get_all("Cookie") or []:
            for part in header.split(";")[:50]:
                name, _, value = part.strip().partition("=")
                if name == SESSION_COOKIE:
                    user = session_user(value.strip().strip('"'), self.app.config.session_secret)
                    if user is not None:
                        return user
        return None

    def require_session(self) -> str:
        user = self.session()
        if user is None:
            raise RequestError(401, SIGN_IN_REQUIRED)
        self._log["user"] = user
        return user

    def cookie(self, value: str, max_age: int) -> tuple[str, str]:
        parts = [f"{SESSION_COOKIE}={value}", "HttpOnly"]
        if self.app.config.cookie_secure:
            parts.append("Secure")
        parts += ["SameSite=Lax", "Path=/", f"Max-Age={max_age}"]
        if max_age == 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        return ("Set-Cookie", "; ".join(parts))

    # Endpoints ------------------------------------------------------------------------------

    def health(self) -> None:
        self.send_json(200, {"status": "ok", "uptime_s": round(time.time() - STARTED, 1)})

    def login(self) -> None:
        body = self.read_json(required=True)
        if not isinstance(body, dict):
            raise RequestError(422, "the body must be a JSON object with user_id and password", field="body")
        for name in ("user_id", "password"):
            if not isinstance(body.get(name), str):
                raise RequestError(422, f"field {name!r} is missing or not a string", field=name)
        user = self.app.check_login(body["user_id"], body["password"])
        if user is None:
            self._log["login"] = "failed"
            raise RequestError(401, LOGIN_FAILED)
        self._log.update(user=user, login="ok")
        ttl = self.app.config.session_ttl
        value = sign_session(user, self.app.config.session_secret, ttl=ttl)
        self.send_json(200, {"user_id": user}, [self.cookie(value, ttl)])

    def logout(self) -> None:
        self.read_json(required=False)
        self.send_json(200, {"status": "signed out"}, [self.cookie("", 0)])

    def verify(self) -> None:
        """Traefik's forwardAuth: may this request reach the editor it addresses?"""
        uri = self.headers.get("X-Forwarded-Uri") or self.headers.get("X-Original-Uri") or "/"
        self._log["uri"] = uri.split("?", 1)[0][:200]
        try:
            owner = editor_owner(uri)
        except EditorPathError as exc:
            self._log["refused"] = str(exc)[:200]
            raise RequestError(400, "refused editor address") from exc
        if owner is None:
            raise RequestError(403, "not an editor address")
        user = self.session()
        if user is None:
            if self._is_navigation():
                # Absolute: Traefik resolves a relative Location from an auth server against the
                # auth server's own address (http://beacon-backend:8000/...).
                location = f"https://{self.app.config.domain}/?next=" + urllib.parse.quote(uri, safe="")
                raise RequestError(302, SIGN_IN_REQUIRED, [("Location", location)])
            raise RequestError(401, SIGN_IN_REQUIRED)
        self._log["user"] = user
        if user != owner:
            raise RequestError(403, "this editor belongs to another user")
        self.send_json(200, {"user_id": user}, [("X-Beacon-User", user)])

    def _is_navigation(self) -> bool:
        """A browser loading a page (sent to the sign-in page) rather than a script or a WebSocket."""
        method = (self.headers.get("X-Forwarded-Method") or self.command).upper()
        accept = self.headers.get("Accept", "").lower()
        # Traefik drops hop-by-hop headers such as Upgrade from the forwardAuth request, but
        # not Sec-WebSocket-Key.
        websocket = "websocket" in self.headers.get("Upgrade", "").lower() or "Sec-WebSocket-Key" in self.headers
        return method == "GET" and "text/html" in accept and not websocket

    def start(self) -> None:
        user = self.require_session()
        self.read_json(required=False)  # ignored: the user comes from the session alone
        if not self.app.starts.acquire(blocking=False):
            raise RequestError(
                429, "too many editors are starting right now; try again shortly", [("Retry-After", "2")]
            )
        try:
            self.app.spawner.call("POST", f"/users/{user}/start")
        except SpawnerError as exc:
            self._log["spawner_error"] = str(exc)[:300]
            raise RequestError(502, str(exc)) from exc
        finally:
            self.app.starts.release()
        self.send_json(200, {"url": user_url(self.app.config.domain, user), "status": "running"})

    def stop(self) -> None:
        user = self.require_session()
        self.read_json(required=False)
        try:
            answer = self.app.spawner.call("POST", f"/users/{user}/stop")
        except SpawnerError as exc:
            raise RequestError(502, str(exc)) from exc
        status = answer.get("status") if answer.get("status") in ("stopped", "absent") else "stopped"
        self.send_json(200, {"user_id": user, "status": status})

    def status(self) -> None:
        user = self.require_session()
        try:
            answer = self.app.spawner.call("GET", f"/users/{user}")
        except SpawnerError as exc:
            raise RequestError(502, str(exc), user_id=user) from exc
        status = answer.get("status")
        if status not in EDITOR_STATES:
            raise RequestError(502, f"the spawner answered an unknown status {str(status)[:50]!r}", user_id=user)
        self.send_json(200, {"user_id": user, "status": status, "url": user_url(self.app.config.domain, user)})


def make_server(
    config: BackendConfig, address: tuple[str, int] = ("0.0.0.0", 8000), spawner: SpawnerClient | None = None
) -> BeaconHTTPServer:
    server = BeaconHTTPServer(address, BackendHandler)
    server.app = Backend(config, spawner)  # type: ignore[attr-defined]
    return server


def main() -> None:
    path = os.environ.get("BEACON_CONFIG", DEFAULT_CONFIG)
    try:
        config = load_config(path)
        port = int(os.environ.get("PORT", "8000"))
    except (ConfigError, ValueError) as exc:
        log(level="fatal", service="beacon-backend", msg=f"configuration error in {path}: {exc}")
        sys.exit(2)
    server = make_server(config, ("0.0.0.0", port))
    log(
        service="beacon-backend",
        msg="backend listening",
        port=server.server_port,
        domain=config.domain,
        users=len(config.users),
        spawner=config.spawner_url,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
