#!/usr/bin/python
# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: code_server_activity_info
short_description: When each user last used their code-server, and who is idle
description:
  - Lists the running user containers (label C(org.beacon.user)) and reads each one's
    code-server C(/healthz) at its address on its own network C(beacon-user-<id>), which the
    Docker host reaches. Reading C(/healthz) does not count as use.
  - An editor was last used at its C(lastHeartbeat), or when its container started if that is
    later (code-server starts with no heartbeat), so a freshly started editor is never idle.
  - code-server records at most one heartbeat a minute while a tab stays open: thresholds
    under two minutes may call an open but quiet tab idle.
  - With O(idle_after), also returns the users idle for longer than that. It never stops
    anything; C(playbooks/stop_idle_users.yml) stops them with M(code_server_user).
version_added: "1.0.0"
author: Beacon contributors
options:
  idle_after:
    description: Seconds without use after which a user counts as idle. Must be positive.
    type: float
  user_ids:
    description: Only look at these users; by default every running editor.
    type: list
    elements: str
  port:
    description: Port code-server listens on in the container.
    type: int
    default: 8080
  timeout:
    description: Seconds for each C(/healthz) request.
    type: float
    default: 3
  parallel:
    description: C(/healthz) requests in flight at once.
    type: int
    default: 8
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
requirements:
  - Docker SDK for Python
"""

EXAMPLES = r"""
- name: Who has not used their editor for an hour?
  code_server_activity_info:
    idle_after: 3600
  register: activity

- name: Those users' editors are stopped (their volumes stay).
  code_server_user:
    users: "{{ activity.idle | map('community.general.dict_kv', 'user_id') | list }}"
    state: stopped
    traefik_api_password: "{{ traefik_dashboard_password }}"
  when: activity.idle | length > 0
"""

RETURN = r"""
users:
  description: Every running editor looked at, by user id.
  returned: always
  type: list
  elements: dict
  contains:
    user_id: {description: The user., type: str}
    name: {description: The container., type: str}
    ip: {description: Its address on the user's network., type: str}
    started_at: {description: When the container started (seconds since the epoch)., type: float}
    last_heartbeat: {description: code-server's lastHeartbeat (milliseconds since the epoch, 0 if never)., type: int}
    status: {description: code-server's own word, alive or expired., type: str}
    last_used: {description: The later of the heartbeat and the start (seconds since the epoch)., type: float}
    idle_seconds: {description: Seconds since last_used., type: float}
    error: {description: Why the heartbeat could not be read; such a user is never idle., type: str}
  sample:
    - {user_id: "1", name: code-server-user-1, ip: 172.31.0.3, started_at: 1795639596.1, last_heartbeat: 1795639961067,
       status: expired, last_used: 1795639961.067, idle_seconds: 4211.2, error: null}
idle:
  description: Users idle for longer than O(idle_after), sorted; empty without O(idle_after).
  returned: always
  type: list
  elements: str
  sample: ["1"]
unreadable:
  description: Users whose heartbeat could not be read (see their RV(users[].error)).
  returned: always
  type: list
  elements: str
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.beacon_activity import activity, idle
from ansible.module_utils.beacon_routing import ValidationError, validate_user_id

try:
    import docker
except ImportError:  # reported in main()
    docker = None


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            idle_after=dict(type="float"),
            user_ids=dict(type="list", elements="str"),
            port=dict(type="int", default=8080),
            timeout=dict(type="float", default=3),
            parallel=dict(type="int", default=8),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if docker is None:
        module.fail_json(msg="The Docker SDK for Python is needed: pip install docker")
    if params["idle_after"] is not None and params["idle_after"] <= 0:
        module.fail_json(msg=f"idle_after must be a positive number of seconds, got {params['idle_after']:g}")
    try:
        user_ids = [validate_user_id(u) for u in params["user_ids"]] if params["user_ids"] is not None else None
    except ValidationError as exc:
        module.fail_json(msg=f"Invalid user_ids: {exc}")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        module.fail_json(msg=f"Cannot reach the Docker engine (is dockerd running, is DOCKER_HOST right?): {exc}")
    try:
        found = activity(client, time.time(), user_ids, params["port"], params["timeout"], params["parallel"])
    except Exception as exc:
        module.fail_json(msg=f"Docker failed: {exc}", exception=traceback.format_exc())
    module.exit_json(
        changed=False,
        users=[a.as_dict() for a in found],
        idle=idle(found, params["idle_after"]) if params["idle_after"] is not None else [],
        unreadable=[a.user_id for a in found if a.error],
    )


if __name__ == "__main__":
    main()
