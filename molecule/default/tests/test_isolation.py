"""The locked-down user flow: sign in, start, owner-only editors, and no way from one user to another.

Every test here is an attack a user of the platform could try, or a property they rely on,
checked against the deployed stack (real Traefik, backend, spawner, Docker engine).
"""

from __future__ import annotations

import html
import json
import re
import secrets
import socket
import ssl
import time
import uuid

import beacon_http
import docker
import pytest
import websocket
from conftest import DOMAIN

RUN = secrets.token_hex(3)
TEST_LABEL = "beacon-test-run"
PROBE_IMAGE = "beacon/code-server-standin:local"


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    yield client
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={RUN}"}):
        container.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def demo_users(project) -> dict[str, str]:
    records = json.loads((project / ".local" / "demo-users.json").read_text())
    assert len(records) >= 2
    return {r["user_id"]: r["password"] for r in records}


def api(method: str, path: str, acme_root: str, *, cookie: str | None = None, body: object = None, **kwargs):
    headers = dict(kwargs.pop("headers", {}))
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    if cookie:
        headers["Cookie"] = f"beacon_session={cookie}"
    return beacon_http.request(method, path, domain=DOMAIN, ca_file=acme_root, headers=headers, body=data, **kwargs)


def login(user_id: str, password: str, acme_root: str) -> str:
    response = api("POST", "/api/v1/auth/login", acme_root, body={"user_id": user_id, "password": password})
    assert response.status == 200, response.body
    cookie = response.headers["set-cookie"]
    return cookie.split("beacon_session=", 1)[1].split(";", 1)[0]


@pytest.fixture(scope="module")
def sessions(demo_users, acme_root) -> dict[str, str]:
    return {user: login(user, password, acme_root) for user, password in list(demo_users.items())[:2]}


# Signing in ------------------------------------------------------------------------------


def test_login_sets_a_hardened_session_cookie(demo_users, acme_root):
    user, password = next(iter(demo_users.items()))
    response = api("POST", "/api/v1/auth/login", acme_root, body={"user_id": user, "password": password})
    assert response.status == 200
    cookie = response.headers["set-cookie"].lower()
    for attribute in ("httponly", "secure", "samesite=lax", "path=/"):
        assert attribute in cookie


@pytest.mark.parametrize(
    "body",
    [{"user_id": "1", "password": "wrong"}, {"user_id": "nobody", "password": "x"}, {"user_id": "1`", "password": "x"}],
)
def test_wrong_credentials_get_401(body, acme_root):
    assert api("POST", "/api/v1/auth/login", acme_root, body=body).status == 401


def test_malformed_and_oversized_bodies_are_refused(acme_root):
    assert api("POST", "/api/v1/auth/login", acme_root, body=b"{not json").status == 400
    assert api("POST", "/api/v1/auth/login", acme_root, body=["a", "list"]).status == 422
    assert api("POST", "/api/v1/auth/login", acme_root, body=b"x" * 100_000).status == 413


# Owner-only editors ----------------------------------------------------------------------


# The demo users run the real code-server. It serves any file of its container through
# VS Code's remote-resource route; each container's hostname is its name, so this path says
# whose editor answered.
WHOAMI = "vscode-remote-resource?path=/etc/hostname"


def test_owner_opens_their_editor(sessions, acme_root):
    landing = api("GET", "/code/user/1/", acme_root, cookie=sessions["1"])
    # code-server's redirect is relative: it only works under the path with its trailing slash.
    assert landing.status == 302 and landing.headers["location"] == "./?folder=/home/coder", landing.headers
    workbench = api("GET", "/code/user/1/?folder=/home/coder", acme_root, cookie=sessions["1"])
    assert workbench.status == 200
    assert b'id="vscode-workbench-web-configuration"' in workbench.body
    whoami = api("GET", f"/code/user/1/{WHOAMI}", acme_root, cookie=sessions["1"])
    assert (whoami.status, whoami.body.strip()) == (200, b"code-server-user-1")


def test_another_user_gets_403(sessions, acme_root):
    assert api("GET", "/code/user/2/", acme_root, cookie=sessions["1"]).status == 403
    assert api("GET", "/code/user/1/healthz", acme_root, cookie=sessions["2"]).status == 403


def test_no_session_redirects_a_browser_and_refuses_a_script(acme_root):
    browser = api("GET", "/code/user/1/", acme_root, headers={"Accept": "text/html"})
    assert browser.status == 302 and browser.headers["location"].startswith(f"https://{DOMAIN}/?next=")
    assert api("GET", "/code/user/1/healthz", acme_root, headers={"Accept": "application/json"}).status == 401


def test_forged_identity_headers_and_cookies_do_not_help(sessions, acme_root):
    forged = {"X-Beacon-User": "2", "X-Forwarded-Uri": "/code/user/1/", "X-Forwarded-User": "2"}
    assert api("GET", "/code/user/2/", acme_root, cookie=sessions["1"], headers=forged).status == 403
    _, expiry, mac = sessions["1"].split(".")
    assert api("GET", "/code/user/2/", acme_root, cookie=f"2.{expiry}.{mac}").status in (302, 401)
    assert api("GET", "/code/user/1/", acme_root, cookie=f"1.{int(expiry) + 10**6}.{mac}").status in (302, 401)


@pytest.mark.parametrize(
    "path",
    [
        f"/code/user/1/../2/{WHOAMI}",
        f"/code/user/1/%2e%2e/2/{WHOAMI}",
        f"/code/user/1%2F..%2F2/{WHOAMI}",
        f"/code/user/1/..%2F2/{WHOAMI}",
        f"/code/user//2/{WHOAMI}",
        f"/code/user/1/{WHOAMI}&" + "a" * 9000,
    ],
)
def test_paths_that_try_to_reach_another_users_editor(path, sessions, acme_root):
    response = api("GET", path, acme_root, cookie=sessions["1"])
    assert b"code-server-user-2" not in response.body
    assert response.status != 200 or response.body.strip() == b"code-server-user-1", (response.status, response.body)


def open_websocket(user: str, acme_root: str, cookie: str | None, origin: str = f"https://{DOMAIN}"):
    """The WebSocket the workbench opens to its server, as Chromium sends it (Origin included)."""
    raw = socket.create_connection(("127.0.0.1", 443), timeout=10)
    tls = ssl.create_default_context(cafile=acme_root).wrap_socket(raw, server_hostname=DOMAIN)
    headers = [f"Cookie: beacon_session={cookie}"] if cookie else []
    path = f"/code/user/{user}/?reconnectionToken={uuid.uuid4()}&reconnection=false&skipWebSocketFrames=false"
    return websocket.create_connection(f"wss://{DOMAIN}{path}", socket=tls, header=headers, origin=origin, timeout=10)


def test_websocket_to_own_editor_works(sessions, acme_root):
    ws = open_websocket("1", acme_root, sessions["1"])
    try:
        assert ws.getstatus() == 101
        assert ws.getheaders()["upgrade"].lower() == "websocket"
    finally:
        ws.close()


def test_websocket_from_another_origin_is_refused_by_code_server(sessions, acme_root):
    """code-server compares Origin with the forwarded host: Traefik must pass the host through."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_websocket("1", acme_root, sessions["1"], origin="https://evil.example")
    assert refused.value.status_code == 403


@pytest.mark.parametrize(("cookie_user", "status"), [("2", 403), (None, 401)])
def test_websocket_to_someone_elses_editor_is_refused(cookie_user, status, sessions, acme_root):
    cookie = sessions[cookie_user] if cookie_user else None
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_websocket("1", acme_root, cookie)
    assert refused.value.status_code == status


# Starting and stopping from the web ------------------------------------------------------


def wait_for_editor(user: str, cookie: str, acme_root: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    status = 0
    while time.monotonic() < deadline:
        status = api("GET", f"/code/user/{user}/healthz", acme_root, cookie=cookie).status
        if status == 200:
            return status
        time.sleep(0.2)
    return status


def test_stop_then_start_from_the_api_uses_the_sessions_user(sessions, acme_root, engine):
    stopped = api("POST", "/api/v1/code-server/stop", acme_root, cookie=sessions["2"], body={"user_id": "1"})
    assert stopped.status == 200
    assert engine.containers.get("code-server-user-2").status == "exited"
    assert engine.containers.get("code-server-user-1").status == "running"
    status = api("GET", "/api/v1/code-server/status", acme_root, cookie=sessions["2"])
    assert status.json()["status"] == "stopped"
    started = api("POST", "/api/v1/code-server/start", acme_root, cookie=sessions["2"], body={"user_id": "1"})
    assert started.status == 200, started.body
    assert started.json()["url"] == f"https://{DOMAIN}/code/user/2/"
    assert wait_for_editor("2", sessions["2"], acme_root) == 200


def test_start_without_a_session_is_401(acme_root):
    assert api("POST", "/api/v1/code-server/start", acme_root, body={}).status == 401


def test_too_many_concurrent_starts_get_429(sessions, acme_root):
    from concurrent.futures import ThreadPoolExecutor

    def start(_):
        return api("POST", "/api/v1/code-server/start", acme_root, cookie=sessions["1"], body={}).status

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(start, range(12)))
    assert 429 in statuses, statuses
    assert set(statuses) <= {200, 429}, statuses


# No lateral movement ---------------------------------------------------------------------


def ip_on(engine, container: str, network: str) -> str:
    return engine.containers.get(container).attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


PROBE = r"""
import json, socket, sys, urllib.request, base64
results = {}
for name, host, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((host, port), timeout=1.5).close()
        results[name] = "open"
    except OSError as exc:
        results[name] = type(exc).__name__
api_host, auth = sys.argv[2], sys.argv[3]
request = urllib.request.Request(f"http://{api_host}:8080/api/http/routers", headers={"Authorization": "Basic " + auth})
try:
    results["traefik-api-with-credentials"] = urllib.request.urlopen(request, timeout=3).status
except urllib.error.HTTPError as exc:
    results["traefik-api-with-credentials"] = exc.code
except OSError as exc:
    results["traefik-api-with-credentials"] = type(exc).__name__
print(json.dumps(results))
"""


def test_from_inside_a_users_container_nothing_else_is_reachable(engine, dashboard_auth):
    targets = [
        ("user-2-editor", ip_on(engine, "code-server-user-2", "beacon-user-2"), 8080),
        ("backend", ip_on(engine, "beacon-backend", "beacon-network"), 8000),
        ("spawner", ip_on(engine, "beacon-spawner", "beacon-network"), 8001),
        ("frontend", ip_on(engine, "beacon-frontend", "beacon-network"), 8080),
        ("pebble", ip_on(engine, "beacon-pebble", "beacon-network"), 14000),
        ("traefik-api-on-service-network", ip_on(engine, "beacon-traefik", "beacon-network"), 8080),
        ("docker-socket-proxy", ip_on(engine, "beacon-docker-proxy", "beacon-docker"), 2375),
        ("host-dashboard-port", engine.networks.get("beacon-user-1").attrs["IPAM"]["Config"][0]["Gateway"], 8081),
    ]
    traefik_here = ip_on(engine, "beacon-traefik", "beacon-user-1")
    import base64

    auth = base64.b64encode(f"{dashboard_auth[0]}:{dashboard_auth[1]}".encode()).decode()
    output = engine.containers.run(
        PROBE_IMAGE,
        entrypoint=["python3", "-c", PROBE, json.dumps(targets), traefik_here, auth],
        network_mode="container:code-server-user-1",
        labels={TEST_LABEL: RUN},
        remove=True,
    )
    results = json.loads(output)
    reachable = {name for name, outcome in results.items() if outcome == "open"}
    assert reachable == set(), results
    # Traefik must share the user's network to reach the editor, but its API refuses the user
    # even with the right credentials.
    assert results["traefik-api-with-credentials"] == 403, results


def test_traefik_still_reaches_every_users_editor(sessions, acme_root):
    for user in ("1", "2"):
        assert wait_for_editor(user, sessions[user], acme_root) == 200


def test_each_user_is_alone_with_traefik_on_their_network(engine):
    for user in ("1", "2"):
        members = {c["Name"] for c in engine.networks.get(f"beacon-user-{user}").attrs["Containers"].values()}
        assert members == {f"code-server-user-{user}", "beacon-traefik"}


# Docker socket ---------------------------------------------------------------------------


def test_only_the_spawner_and_the_read_only_proxy_mount_the_docker_socket(engine):
    mounting = {
        c.name
        for c in engine.containers.list()
        if any(m["Source"] == "/var/run/docker.sock" for m in c.attrs["Mounts"])
    }
    assert mounting == {"beacon-spawner", "beacon-docker-proxy"}
    for name in mounting:
        labels = engine.containers.get(name).labels
        assert labels.get("traefik.enable") != "true", f"{name} must not be routed"


def test_socket_proxy_allows_reads_and_refuses_writes(engine):
    script = r"""
import http.client, json
out = {}
for method, path in [("GET", "/v1.41/containers/json"), ("GET", "/v1.41/version"), ("POST", "/v1.41/containers/create"),
                     ("DELETE", "/v1.41/containers/beacon-traefik"), ("POST", "/v1.41/containers/beacon-traefik/exec"),
                     ("GET", "/v1.41/images/json"), ("GET", "/v1.41/secrets")]:
    conn = http.client.HTTPConnection("beacon-docker-proxy", 2375, timeout=5)
    conn.request(method, path, body="{}" if method == "POST" else None)
    out[f"{method} {path}"] = conn.getresponse().status
print(json.dumps(out))
"""
    output = engine.containers.run(
        PROBE_IMAGE,
        entrypoint=["python3", "-c", script],
        network="beacon-docker",
        labels={TEST_LABEL: RUN},
        remove=True,
    )
    results = json.loads(output)
    assert results["GET /v1.41/containers/json"] == 200
    assert results["GET /v1.41/version"] == 200
    for refused in (
        "POST /v1.41/containers/create",
        "DELETE /v1.41/containers/beacon-traefik",
        "POST /v1.41/containers/beacon-traefik/exec",
        "GET /v1.41/images/json",
        "GET /v1.41/secrets",
    ):
        assert results[refused] == 403, (refused, results)


# Hardened user containers ----------------------------------------------------------------


@pytest.mark.parametrize("user", ["1", "2"])
def test_user_containers_are_hardened(user, engine):
    attrs = engine.containers.get(f"code-server-user-{user}").attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "1000:1000"
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert not host.get("Privileged")
    assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
    assert host["MemorySwap"] == host["Memory"]
    assert not any(m["Source"] == "/var/run/docker.sock" for m in attrs["Mounts"])
    env = "\n".join(attrs["Config"]["Env"]).upper()
    for secret_word in ("PASSWORD=", "SECRET", "TOKEN"):
        assert secret_word not in env
    assert set(attrs["NetworkSettings"]["Networks"]) == {f"beacon-user-{user}"}


def test_no_secrets_in_any_platform_containers_environment(engine):
    for container in engine.containers.list(filters={"label": "com.docker.compose.project"}):
        env = [e.split("=", 1)[0].upper() for e in container.attrs["Config"]["Env"]]
        assert not [k for k in env if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN"))], container.name


# The real code-server's settings ---------------------------------------------------------


def workbench_settings(cookie: str, acme_root: str) -> dict:
    """The configuration code-server hands the workbench, from the page it serves."""
    page = api("GET", "/code/user/1/?folder=/home/coder", acme_root, cookie=cookie)
    found = re.search(rb'id="vscode-workbench-web-configuration"\s+data-settings="([^"]*)"', page.body)
    assert found, page.body[:500]
    return json.loads(html.unescape(found.group(1).decode()))


def test_code_server_runs_with_its_own_login_telemetry_updates_and_proxy_off(engine, sessions, acme_root):
    attrs = engine.containers.get("code-server-user-1").attrs
    args = attrs["Args"]
    assert args[args.index("--auth") + 1] == "none"  # Traefik's forwardAuth decides who gets in
    assert {"--disable-telemetry", "--disable-update-check", "--disable-proxy"} <= set(args)
    settings = workbench_settings(sessions["1"], acme_root)
    assert "updateEndpoint" not in settings["productConfiguration"]
    # The port proxy would let a user serve pages on everyone's origin: refused.
    for path in ("/code/user/1/proxy/8080/", "/code/user/1/absproxy/8080/"):
        assert api("GET", path, acme_root, cookie=sessions["1"]).status == 403, path


def test_code_server_keeps_workspace_and_settings_on_the_users_volume(engine, sessions, acme_root):
    container = engine.containers.get("code-server-user-1")
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/home/coder"]["Type"] == "volume"
    assert mounts["/home/coder"]["Name"] == "code-server-user-1-data"
    assert workbench_settings(sessions["1"], acme_root)["userDataPath"] == "/home/coder/.local/share/code-server"
    paths = ["/home/coder", "/home/coder/.local/share/code-server", "/home/coder/.config/code-server"]
    listing = container.exec_run(["stat", "-c", "%u:%g %n", *paths])
    assert listing.exit_code == 0, listing.output
    assert listing.output.decode().split("\n")[:3] == [f"1000:1000 {path}" for path in paths]
