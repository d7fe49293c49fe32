"""Per-user provisioning against the real engine, Traefik and Pebble: what an operator sees."""

from __future__ import annotations

import secrets
import socket
import ssl

import beacon_ansible
import beacon_cleanup
import beacon_http
import docker
import pytest
import websocket
from conftest import DOMAIN

RUN = secrets.token_hex(3)
TEST_LABEL = beacon_cleanup.TEST_LABEL
# Numeric ids like real users, unique per run; the second id shares the first as a prefix.
BASE = str(int(RUN, 16) % 90000 + 10000)
STANDIN = "beacon/code-server-standin:local"


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    yield client
    # Remove what this run created, even when a test failed.
    beacon_cleanup.remove_test_users(client, RUN, (BASE, f"t{RUN}"))
    client.close()


@pytest.fixture(scope="module")
def api_password(project):
    return (project / ".local" / "traefik-dashboard-password").read_text().strip()


@pytest.fixture(scope="module")
def common(api_password, engine):
    return {
        "image": STANDIN,
        "domain": DOMAIN,
        "traefik_api_password": api_password,
        "extra_labels": {TEST_LABEL: RUN},
        "memory": "256m",
    }


def provision(user_id: str, *extra: str) -> beacon_ansible.Run:
    """provision_user.yml for a test user. These tests are about routing, so the user's editor
    is the small stand-in (it echoes WebSocket messages and stores files over HTTP) and is left
    open (no forwardAuth middleware); owner-only access is tested in test_isolation.py with the
    inventory's demo users, who can sign in, and the real code-server in test_browser.py."""
    labels = '{"code_server_users_extra_labels": {"%s": "%s"}}' % (TEST_LABEL, RUN)  # noqa: UP031
    open_route = "code_server_users_auth_middleware="
    standin = f"code_server_users_image={STANDIN}"
    args = ["-e", f"user_id={user_id}", "-e", labels, "-e", open_route, "-e", standin, *extra]
    return beacon_ansible.playbook("provision_user.yml", *args)


def get(path: str, acme_root: str, **kwargs) -> beacon_http.Response:
    return beacon_http.get(path, domain=DOMAIN, ca_file=acme_root, **kwargs)


def test_demo_users_editors_exist_and_ask_for_a_login(acme_root):
    for user in ("1", "2"):
        response = get(f"/code/user/{user}/", acme_root, headers={"Accept": "text/html"})
        assert response.status == 302
        assert response.headers["location"].startswith(f"https://{DOMAIN}/?next=")


def test_provision_user_playbook_serves_the_editor_over_https(acme_root, engine):
    run = provision(BASE)
    assert run.rc == 0, run.stdout[-3000:]
    assert f"https://{DOMAIN}/code/user/{BASE}/" in run.stdout
    response = get(f"/code/user/{BASE}/", acme_root)
    assert response.status == 200
    assert "Pebble Intermediate CA" in response.issuer
    health = get(f"/code/user/{BASE}/healthz", acme_root)
    assert health.status == 200 and health.json()["status"] in ("alive", "expired")


def test_second_provision_reports_no_change(engine):
    run = provision(BASE)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap["changed"] == 0
    assert "no change" in run.stdout


def test_bare_path_redirects_to_the_slash_form(acme_root):
    response = get(f"/code/user/{BASE}", acme_root)
    assert response.status in (302, 307)
    assert response.headers["location"] == f"https://{DOMAIN}/code/user/{BASE}/"


def test_bare_path_with_a_query_keeps_the_query(acme_root):
    response = get(f"/code/user/{BASE}?folder=/home/coder", acme_root)
    assert response.status in (302, 307)
    assert response.headers["location"] == f"https://{DOMAIN}/code/user/{BASE}/?folder=/home/coder"


def test_a_longer_id_is_not_caught_by_the_shorter_users_route(acme_root):
    for path in (f"/code/user/{BASE}1/", f"/code/user/{BASE}1", f"/code/user/{BASE}1/healthz"):
        assert get(path, acme_root).status == 404, path


def test_websocket_upgrade_through_traefik(acme_root):
    raw = socket.create_connection(("127.0.0.1", 443), timeout=10)
    tls = ssl.create_default_context(cafile=acme_root).wrap_socket(raw, server_hostname=DOMAIN)
    ws = websocket.create_connection(f"wss://{DOMAIN}/code/user/{BASE}/ws", socket=tls, timeout=10)
    try:
        ws.send("hello through traefik")
        assert ws.recv() == "hello through traefik"
    finally:
        ws.close()


def test_route_info_reports_the_router_live(api_password):
    result = beacon_ansible.module(
        "traefik_route_info",
        {"api_password": api_password, "router": f"code-user-{BASE}", "wait": True, "name_filter": f"user-{BASE}"},
    )
    assert not result.get("failed"), result.get("msg")
    assert result["route"]["live"] is True
    assert result["route"]["rule"] == f"Host(`{DOMAIN}`) && PathPrefix(`/code/user/{BASE}/`)"
    assert DOMAIN in result["hosts"]
    assert {r["name"] for r in result["routers"]} == {f"code-user-{BASE}@docker", f"code-user-{BASE}-slash@docker"}


def test_files_survive_deprovision_and_reprovision(acme_root, engine):
    body = f"written before deprovision {RUN}".encode()
    put = beacon_http.request("PUT", f"/code/user/{BASE}/files/note.txt", domain=DOMAIN, ca_file=acme_root, body=body)
    assert put.status == 201

    gone = beacon_ansible.playbook("deprovision_user.yml", "-e", f"user_id={BASE}")
    assert gone.rc == 0, gone.stdout[-3000:]
    assert get(f"/code/user/{BASE}/", acme_root).status == 404
    assert engine.volumes.get(f"code-server-user-{BASE}-data")  # kept without purge
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(f"code-server-user-{BASE}")

    assert provision(BASE).rc == 0
    again = get(f"/code/user/{BASE}/files/note.txt", acme_root)
    assert (again.status, again.body) == (200, body)


def test_check_mode_creates_nothing(common, engine):
    user = f"t{RUN}-check"
    result = beacon_ansible.module("code_server_user", {**common, "user_id": user}, check=True, diff=True)
    assert result["changed"] is True
    assert result["actions"] == [f"create code-server-user-{user}", f"start code-server-user-{user}"]
    assert result["diff"]["after"]["labels"][f"traefik.http.routers.code-user-{user}.rule"].endswith(
        f"PathPrefix(`/code/user/{user}/`)"
    )
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(f"code-server-user-{user}")
    with pytest.raises(docker.errors.NotFound):
        engine.volumes.get(f"code-server-user-{user}-data")


def test_limits_change_in_place_and_other_changes_recreate(common, engine):
    user = f"t{RUN}-update"
    first = beacon_ansible.module("code_server_user", {**common, "user_id": user})
    assert first["changed"] and first["container"]["running"], first.get("msg")
    same = beacon_ansible.module("code_server_user", {**common, "user_id": user})
    assert same["changed"] is False and same["actions"] == []

    check = beacon_ansible.module("code_server_user", {**common, "user_id": user, "memory": "300m"}, check=True)
    assert check["changed"] is True and check["actions"] == [f"update code-server-user-{user}"]
    resized = beacon_ansible.module("code_server_user", {**common, "user_id": user, "memory": "300m"}, diff=True)
    assert resized["actions"] == [f"update code-server-user-{user}"]
    assert resized["container"]["id"] == first["container"]["id"]
    assert resized["diff"] == {"before": {"memory": 256 * 2**20}, "after": {"memory": 300 * 2**20}}
    assert engine.containers.get(f"code-server-user-{user}").attrs["HostConfig"]["Memory"] == 300 * 2**20

    env = {**common, "user_id": user, "memory": "300m", "env": {"TZ": "UTC"}}
    recreated = beacon_ansible.module("code_server_user", env)
    assert recreated["actions"] == [
        f"remove code-server-user-{user}",
        f"create code-server-user-{user}",
        f"start code-server-user-{user}",
    ]
    assert recreated["container"]["id"] != first["container"]["id"]


def test_stopped_then_started(common, engine, acme_root):
    user = f"t{RUN}-stop"
    assert beacon_ansible.module("code_server_user", {**common, "user_id": user})["changed"]
    stopped = beacon_ansible.module("code_server_user", {**common, "user_id": user, "state": "stopped"})
    assert stopped["actions"] == [f"stop code-server-user-{user}"]
    assert engine.containers.get(f"code-server-user-{user}").status == "exited"
    assert get(f"/code/user/{user}/", acme_root).status == 404
    started = beacon_ansible.module("code_server_user", {**common, "user_id": user, "state": "started"})
    assert started["actions"] == [f"start code-server-user-{user}"]
    assert get(f"/code/user/{user}/", acme_root).status == 200


def test_bulk_form_provisions_many_users_in_one_call(common, acme_root):
    users = [{"user_id": f"t{RUN}-b{i}"} for i in range(6)]
    result = beacon_ansible.module("code_server_user", {**common, "users": users})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert [r["user_id"] for r in result["results"]] == [u["user_id"] for u in users]
    assert all(r["route"]["live"] for r in result["results"])
    for user in users:
        assert get(f"/code/user/{user['user_id']}/", acme_root).status == 200
    again = beacon_ansible.module("code_server_user", {**common, "users": users})
    assert again["changed"] is False
    removed = beacon_ansible.module(
        "code_server_user",
        {"users": users, "state": "absent", "purge": True, "traefik_api_password": common["traefik_api_password"]},
    )
    assert not removed.get("failed"), removed.get("msg")
    assert removed["changed"] is True
    assert all(get(f"/code/user/{u['user_id']}/", acme_root).status == 404 for u in users)


HOSTILE_IDS = [
    "",
    "1`) || PathPrefix(`/",
    "1 && 2",
    "a b",
    "../2",
    "1/../2",
    "Alice",
    "-1",
    "1-",
    "x" * 200,
    "1\n",
    "%2e%2e",
]


def test_hostile_ids_are_refused_and_nothing_is_created(common, engine, api_password):
    containers_before = {c.name for c in engine.containers.list(all=True)}
    volumes_before = {v.name for v in engine.volumes.list()}
    routers_before = beacon_ansible.module("traefik_route_info", {"api_password": api_password})["routers"]
    for user_id in HOSTILE_IDS:
        result = beacon_ansible.module("code_server_user", {**common, "user_id": user_id})
        assert result.get("failed") is True, user_id
        assert "nothing was changed" in result["msg"], (user_id, result["msg"])
        assert "lower-case letters, digits and inner hyphens" in result["msg"], (user_id, result["msg"])
    assert {c.name for c in engine.containers.list(all=True)} == containers_before
    assert {v.name for v in engine.volumes.list()} == volumes_before
    routers_after = beacon_ansible.module("traefik_route_info", {"api_password": api_password})["routers"]
    assert {r["name"] for r in routers_after} == {r["name"] for r in routers_before}


def test_one_hostile_id_in_a_bulk_call_creates_nothing(common, engine):
    users = [{"user_id": f"t{RUN}-ok"}, {"user_id": "1`) || Host(`evil"}]
    result = beacon_ansible.module("code_server_user", {**common, "users": users})
    assert result.get("failed") is True and "nothing was changed" in result["msg"]
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(f"code-server-user-t{RUN}-ok")


def test_provision_playbook_refuses_a_hostile_id(engine):
    before = {c.name for c in engine.containers.list(all=True)}
    run = provision("../../etc")
    assert run.rc != 0
    assert "lower-case letters, digits and inner hyphens" in run.stdout
    assert {c.name for c in engine.containers.list(all=True)} == before


def test_check_tls_playbook_passes_for_every_routed_host():
    run = beacon_ansible.playbook("check_tls.yml")
    assert run.rc == 0, run.stdout[-3000:]
    assert f"{DOMAIN}: CN=Pebble Intermediate CA" in run.stdout
