"""Idle editors: playbooks/stop_idle_users.yml against real code-server containers.

code-server's /healthz reports its last heartbeat (any request to the editor, except /healthz
itself); the playbook stops editors unused for longer than a threshold, keeps their volumes,
and a later start resumes the user's work.
"""

from __future__ import annotations

import json
import secrets
import time

import beacon_ansible
import beacon_cleanup
import beacon_http
import docker
import pytest
from conftest import DOMAIN

RUN = secrets.token_hex(3)
TEST_LABEL = beacon_cleanup.TEST_LABEL
CODE_SERVER = "beacon/code-server:local"
THRESHOLD = 20  # seconds; short for the test, an hour by default


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    yield client
    # Remove what this run created, even when a test failed.
    beacon_cleanup.remove_test_users(client, RUN, (f"i{RUN}-",))
    client.close()


@pytest.fixture(scope="module")
def common(project, engine):
    # Open routes (no forwardAuth): these tests use the editors directly, as a script would.
    return {
        "image": CODE_SERVER,
        "domain": DOMAIN,
        "traefik_api_password": (project / ".local" / "traefik-dashboard-password").read_text().strip(),
        "extra_labels": {TEST_LABEL: RUN},
        "memory": "512m",
        "args": ["--disable-telemetry", "--disable-update-check", "--disable-proxy"],
    }


def get(path: str, acme_root: str) -> beacon_http.Response:
    return beacon_http.get(path, domain=DOMAIN, ca_file=acme_root)


def ensure(common: dict, user: str, state: str = "started") -> dict:
    result = beacon_ansible.module("code_server_user", {**common, "user_id": user, "state": state})
    assert not result.get("failed"), result.get("msg")
    return result


def stop_idle(*users: str, idle_after: object = THRESHOLD) -> beacon_ansible.Run:
    only = json.dumps({"only_users": list(users)})
    return beacon_ansible.playbook("stop_idle_users.yml", "-e", f"idle_after={idle_after}", "-e", only)


def test_idle_editor_is_stopped_busy_one_kept_and_work_resumes(common, engine, acme_root):
    idle_user, busy_user = f"i{RUN}-idle", f"i{RUN}-busy"
    ensure(common, idle_user)
    # One use of the editor: code-server records the heartbeat (a /healthz read does not).
    assert get(f"/code/user/{idle_user}/", acme_root).status == 302
    used = time.time()
    heartbeat = get(f"/code/user/{idle_user}/healthz", acme_root).json()["lastHeartbeat"]
    assert used - 10 <= heartbeat / 1000 <= used + 1, heartbeat
    work = engine.containers.get(f"code-server-user-{idle_user}").exec_run(
        ["sh", "-c", "echo unsaved-work > ~/work.txt"], user="1000:1000"
    )
    assert work.exit_code == 0, work.output

    time.sleep(max(0.0, used + THRESHOLD + 1 - time.time()))
    ensure(common, busy_user)
    assert get(f"/code/user/{busy_user}/", acme_root).status == 302  # in use right now

    run = stop_idle(idle_user, busy_user)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap["changed"] == 1
    assert f"stopped: {idle_user}. Still running: {busy_user}." in " ".join(run.stdout.split())
    assert engine.containers.get(f"code-server-user-{idle_user}").status == "exited"
    assert engine.volumes.get(f"code-server-user-{idle_user}-data")  # the work is kept
    assert get(f"/code/user/{idle_user}/", acme_root).status == 404  # Traefik no longer routes it
    assert engine.containers.get(f"code-server-user-{busy_user}").status == "running"
    assert get(f"/code/user/{busy_user}/healthz", acme_root).status == 200
    # Only the users named were looked at: the demo users, idle for long, still run.
    assert engine.containers.get("code-server-user-1").status == "running"

    again = stop_idle(idle_user, busy_user)
    assert again.rc == 0, again.stdout[-3000:]
    assert again.recap["changed"] == 0

    # The next start resumes the user's work, and a fresh start is not idle.
    started = ensure(common, idle_user)
    assert started["actions"] == [f"start code-server-user-{idle_user}"]
    assert get(f"/code/user/{idle_user}/healthz", acme_root).status == 200
    kept = engine.containers.get(f"code-server-user-{idle_user}").exec_run(["cat", "/home/coder/work.txt"])
    assert kept.output.strip() == b"unsaved-work"
    info = beacon_ansible.module("code_server_activity_info", {"idle_after": THRESHOLD, "user_ids": [idle_user]})
    assert info["idle"] == [] and info["users"][0]["idle_seconds"] < THRESHOLD, info


@pytest.mark.parametrize("threshold", ["0", "-5", "soon"])
def test_a_bad_threshold_is_refused_and_nothing_stops(threshold, engine):
    run = stop_idle("1", idle_after=threshold)
    assert run.rc != 0
    assert "idle_after" in run.stdout and "must be a positive number of seconds" in run.stdout
    assert engine.containers.get("code-server-user-1").status == "running"


def test_a_hostile_user_id_is_refused_by_name():
    result = beacon_ansible.module("code_server_activity_info", {"idle_after": 60, "user_ids": ["1`) || Path(`/"]})
    assert result.get("failed") and "Invalid user_ids" in result["msg"], result
