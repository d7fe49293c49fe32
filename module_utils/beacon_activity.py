# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When did each user last use their editor? code-server's ``/healthz`` says so.

code-server answers ``/healthz`` with ``{"status": "alive"|"expired", "lastHeartbeat": <ms>}``
without beating its heart; a heartbeat is any request to the editor, and at most one a minute
while a tab stays open. A container that nobody used since it started reports 0: it counts as
used when it started, so an editor someone has just started is never idle.

Used by the ``code_server_activity_info`` module. Needs the Docker SDK's client object only.
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

try:  # inside Ansible, module_utils are a package
    from ansible.module_utils.beacon_routing import USER_LABEL, user_network_name
except ImportError:  # pragma: no cover - loaded by path in the unit tests
    from beacon_routing import USER_LABEL, user_network_name  # type: ignore[no-redef]

_DOCKER_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def parse_docker_time(value: str) -> float:
    """Seconds since the epoch of a Docker timestamp such as ``2026-11-25T20:55:01.123456789Z``."""
    match = _DOCKER_TIME.match(value or "")
    if not match:
        raise ValueError(f"not a Docker timestamp: {value!r}")
    base, fraction, zone = match.groups()
    stamp = datetime.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float(fraction) if fraction else 0.0)


def last_used(last_heartbeat_ms: int, started_at: float) -> float:
    """When the editor was last used, in seconds since the epoch: its last heartbeat, or its
    start if that is later (code-server forgets its heartbeat when it restarts)."""
    return max(last_heartbeat_ms / 1000.0, started_at)


@dataclass
class Activity:
    user_id: str
    name: str
    ip: str | None
    started_at: float
    last_heartbeat: int | None = None
    status: str | None = None
    last_used: float | None = None
    idle_seconds: float | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def read_healthz(ip: str, port: int, timeout: float) -> dict:
    with urllib.request.urlopen(f"http://{ip}:{port}/healthz", timeout=timeout) as response:
        body = json.load(response)
    if not isinstance(body, dict) or not isinstance(body.get("lastHeartbeat"), int):
        raise ValueError(f"/healthz answered {body!r}, not code-server's {{status, lastHeartbeat}}")
    return body


def probe(activity: Activity, port: int, timeout: float, now: float) -> Activity:
    """Fill in the heartbeat and idle time of one running editor (or the error that prevents it)."""
    if not activity.ip:
        activity.error = f"no address on {user_network_name(activity.user_id)}"
        return activity
    try:
        body = read_healthz(activity.ip, port, timeout)
    except (OSError, ValueError) as exc:
        activity.error = f"http://{activity.ip}:{port}/healthz: {exc}"
        return activity
    activity.last_heartbeat, activity.status = body["lastHeartbeat"], body.get("status")
    activity.last_used = last_used(body["lastHeartbeat"], activity.started_at)
    activity.idle_seconds = round(max(0.0, now - activity.last_used), 3)
    return activity


def running_editors(client, user_ids: list[str] | None = None) -> list[Activity]:
    """Every running user container (or only those of ``user_ids``), before probing."""
    found = []
    for attrs in client.api.containers(filters={"label": USER_LABEL, "status": "running"}):
        user_id = (attrs.get("Labels") or {}).get(USER_LABEL, "")
        if user_ids is not None and user_id not in user_ids:
            continue
        details = client.api.inspect_container(attrs["Id"])
        network = ((details.get("NetworkSettings") or {}).get("Networks") or {}).get(user_network_name(user_id)) or {}
        found.append(
            Activity(
                user_id=user_id,
                name=details["Name"].lstrip("/"),
                ip=network.get("IPAddress") or None,
                started_at=parse_docker_time(details["State"]["StartedAt"]),
            )
        )
    return sorted(found, key=lambda a: a.user_id)


def activity(
    client, now: float, user_ids: list[str] | None = None, port: int = 8080, timeout: float = 3, parallel: int = 8
) -> list[Activity]:
    """The activity of every running editor, probed in parallel."""
    editors = running_editors(client, user_ids)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(lambda a: probe(a, port, timeout, now), editors))


def idle(activities: list[Activity], idle_after: float) -> list[str]:
    """The users whose editors have not been used for longer than ``idle_after`` seconds.

    An editor whose heartbeat could not be read is never called idle: stopping it would
    act on a guess.
    """
    return sorted(a.user_id for a in activities if a.idle_seconds is not None and a.idle_seconds > idle_after)
