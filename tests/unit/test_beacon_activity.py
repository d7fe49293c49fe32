"""Unit tests of module_utils/beacon_activity.py: timestamps, idle rules, and /healthz over real HTTP."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest
from beacon_activity import Activity, idle, last_used, parse_docker_time, probe


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T20:55:01Z", 1795640101.0),
        ("2026-11-25T20:55:01.123456789Z", 1795640101.123456789),
        ("2026-11-25T21:55:01.5+01:00", 1795640101.5),
    ],
)
def test_docker_timestamps_keep_their_zone_and_nanoseconds(text, expected):
    assert parse_docker_time(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", ["", "0001-01-01", "yesterday", "2026-11-25 20:55:01Z"])
def test_other_timestamps_are_refused_by_name(text):
    with pytest.raises(ValueError, match="not a Docker timestamp"):
        parse_docker_time(text)


def test_last_used_is_the_heartbeat_or_the_start_whichever_is_later():
    assert last_used(1_000_000, started_at=900.0) == 1000.0
    assert last_used(1_000_000, started_at=1200.0) == 1200.0
    assert last_used(0, started_at=1200.0) == 1200.0  # never used since it started


def editor(user_id: str, idle_seconds: float | None, error: str | None = None) -> Activity:
    return Activity(
        user_id=user_id,
        name=f"code-server-user-{user_id}",
        ip="x",
        started_at=0,
        idle_seconds=idle_seconds,
        error=error,
    )


def test_idle_means_strictly_longer_than_the_threshold_and_sorted():
    found = [editor("b", 61), editor("a", 3600), editor("c", 60), editor("d", 5)]
    assert idle(found, 60) == ["a", "b"]


def test_an_editor_whose_heartbeat_is_unreadable_is_never_idle():
    assert idle([editor("1", None, error="timed out")], 1) == []


class Healthz(http.server.BaseHTTPRequestHandler):
    body: object = None

    def do_GET(self):
        data = json.dumps(self.body).encode()
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def healthz():
    def serve(body: object) -> int:
        handler = type("Handler", (Healthz,), {"body": body})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    servers: list = []
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_probe_reads_code_servers_heartbeat(healthz):
    port = healthz({"status": "expired", "lastHeartbeat": 1_000_000})
    found = probe(Activity("1", "code-server-user-1", "127.0.0.1", started_at=500.0), port, 2, now=1100.0)
    assert (found.last_heartbeat, found.status, found.last_used, found.idle_seconds, found.error) == (
        1_000_000,
        "expired",
        1000.0,
        100.0,
        None,
    )


def test_probe_of_something_that_is_not_code_server_reports_an_error(healthz):
    port = healthz(["not", "code-server"])
    found = probe(Activity("1", "code-server-user-1", "127.0.0.1", started_at=0.0), port, 2, now=10.0)
    assert found.idle_seconds is None and "not code-server's" in found.error


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probe_of_a_closed_port_reports_an_error_not_idle():
    port = free_port()
    found = probe(Activity("1", "code-server-user-1", "127.0.0.1", started_at=0.0), port, 1, now=10.0)
    assert found.idle_seconds is None and f"127.0.0.1:{port}/healthz" in found.error
    assert idle([found], 1) == []


def test_probe_without_an_address_names_the_users_network():
    found = probe(Activity("7", "code-server-user-7", None, started_at=0.0), 8080, 1, now=10.0)
    assert found.error == "no address on beacon-user-7"
