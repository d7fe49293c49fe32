#!/usr/bin/python
# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: code_server_user
short_description: A user's code-server container, routed by Traefik at /code/user/<id>/
description:
  - Brings one user's (O(user_id)) or many users' (O(users)) code-server container to a wanted
    state. The container is named C(code-server-user-<id>), keeps the user's home on the
    volume C(code-server-user-<id>-data) and sits alone with Traefik on the network
    C(beacon-user-<id>).
  - Its Traefik labels come from the project's one label builder, with a router on
    C(/code/user/<id>/) B(with) the trailing slash (so user 1 never catches C(/code/user/10/)),
    a redirect of the bare path to the slash form, optional authentication before stripprefix,
    the HTTPS entrypoint, the certificate resolver and the user's network.
  - Compares what you set with what runs and recreates the container only when a change needs
    it; memory, CPU and pids limits change in place.
  - With O(wait=true) it returns once the container answers C(/healthz) and Traefik's router for
    it is enabled with a live server; after a stop or a removal, once Traefik has dropped the
    router (so the path answers 404, not a 502 from a dead address).
  - The bulk form O(users) works on many users in one call, in parallel, so Ansible's per-task
    overhead is paid once.
version_added: "1.0.0"
author: Beacon contributors
options:
  user_id:
    description:
      - The user's id. Lower-case letters, digits and inner hyphens, 1 to 63 characters
        (C(^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$)), to fit a container name, a router name
        and a DNS label.
      - Exactly one of O(user_id) and O(users) is required.
    type: str
  users:
    description:
      - Many users at once. Each item needs C(user_id) and may override C(state), C(image),
        C(env), C(memory), C(cpus), C(pids_limit), C(extra_labels), C(auth), C(hashed_password)
        and C(purge); other options apply to every item.
      - Every item is validated before anything changes.
    type: list
    elements: dict
  state:
    description:
      - V(present) and V(started) create the container if needed and make sure it runs.
      - V(stopped) makes sure it exists and does not run.
      - V(absent) removes the container; the volume stays unless O(purge=true).
    type: str
    choices: [present, started, stopped, absent]
    default: present
  image:
    description:
      - code-server image (required unless O(state=absent) or O(state=stopped)).
      - With O(state=stopped) and no image, the container is stopped as it is, whatever its
        configuration, and nothing is created when there is none.
    type: str
  domain:
    description: Public DNS name the editor is served under (required with O(image)).
    type: str
  traefik_container:
    description:
      - Traefik's container. Each user's container sits alone on its own network
        C(beacon-user-<id>), which only this container joins, so users cannot reach each
        other, the backend or Traefik's internal networks.
    type: str
    default: beacon-traefik
  internet:
    description: Whether the user's network reaches the internet (for package installs and extensions).
    type: bool
    default: true
  entrypoint:
    description: Traefik entrypoint of the user's routers.
    type: str
    default: websecure
  certresolver:
    description: Traefik certificate resolver; an empty string leaves TLS to the default certificate.
    type: str
    default: letsencrypt
  memory:
    description: Memory limit, in bytes or with a unit (V(512m), V(2g)).
    type: str
    default: 2g
  cpus:
    description: CPU limit, in CPUs.
    type: float
    default: 1.0
  pids_limit:
    description: Limit on processes and threads in the container.
    type: int
    default: 512
  env:
    description:
      - Extra environment variables. Anyone with Docker API access can read a container's
        environment, so do not pass secrets here.
    type: dict
    default: {}
  auth:
    description:
      - code-server's own login. V(none) when an authenticating middleware (O(auth_middleware))
        protects the route; V(password) with O(hashed_password).
    type: str
    choices: [none, password]
    default: none
  hashed_password:
    description: Argon2 hash of the password (C(code-server hash-password)), for O(auth=password).
    type: str
  args:
    description: Extra command-line arguments for code-server.
    type: list
    elements: str
    default: []
  auth_middleware:
    description: Traefik middleware (such as a forwardAuth C(beacon-auth@file)) placed before stripprefix.
    type: str
  extra_labels:
    description: More labels; C(traefik.*) and C(org.beacon.*) are computed and may not be set here.
    type: dict
    default: {}
  run_as:
    description: Numeric non-root C(uid[:gid]) the container runs as.
    type: str
    default: "1000:1000"
  purge:
    description: With O(state=absent), also remove the user's volume and everything in it.
    type: bool
    default: false
  wait:
    description:
      - Wait until the container answers C(/healthz) and its Traefik router is live.
      - After a stop or a removal, wait until Traefik no longer lists the router.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait, for all users together.
    type: float
    default: 60
  traefik_api_url:
    description: Traefik's API, used by O(wait).
    type: str
    default: http://127.0.0.1:8081
  traefik_api_user:
    description: User for Traefik's API.
    type: str
    default: admin
  traefik_api_password:
    description: Password for Traefik's API.
    type: str
  parallel:
    description: Docker calls in flight at once for O(users).
    type: int
    default: 8
requirements:
  - docker (the Docker SDK for Python) >= 7.0
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - Runs on the Docker host and talks to the engine through C(DOCKER_HOST) or the default socket.
"""

EXAMPLES = r"""
- name: User 42 has a running editor at https://shlinx.com/code/user/42/.
  code_server_user:
    user_id: "42"
    image: codercom/code-server:4.100.3
    domain: shlinx.com
    auth_middleware: beacon-auth@file
    traefik_api_password: "{{ traefik_dashboard_password }}"
  register: editor

- name: Two hundred users, in one call.
  code_server_user:
    users: "{{ range(1, 201) | map('string') | map('community.general.dict_kv', 'user_id') | list }}"
    image: codercom/code-server:4.100.3
    domain: shlinx.com
    memory: 1g
    traefik_api_password: "{{ traefik_dashboard_password }}"

- name: User 42's editor is gone (and no longer routed); their files stay on the volume.
  code_server_user:
    user_id: "42"
    state: absent
    traefik_api_password: "{{ traefik_dashboard_password }}"

- name: User 7's editor is stopped as it is, whatever its configuration.
  code_server_user:
    user_id: "7"
    state: stopped
    traefik_api_password: "{{ traefik_dashboard_password }}"
"""

RETURN = r"""
user_id:
  description: The user's id (single form).
  returned: when O(user_id) is given
  type: str
url:
  description: Where the user's editor is served.
  returned: when O(user_id) is given and O(state) is not V(absent)
  type: str
  sample: https://shlinx.com/code/user/42/
router:
  description: The Traefik router of the user's editor.
  returned: when O(user_id) is given
  type: str
  sample: code-user-42
network:
  description: The user's own network.
  returned: when O(user_id) is given
  type: str
  sample: beacon-user-42
volume:
  description: The volume holding the user's home.
  returned: when O(user_id) is given
  type: str
  sample: code-server-user-42-data
container:
  description: The container after the run (name, id, image, status, running, ip).
  returned: when O(user_id) is given and O(state) is not V(absent)
  type: dict
route:
  description: Traefik's view of the router after O(wait) (live, router_status, rule, servers).
  returned: when O(wait=true) and the container runs
  type: dict
actions:
  description: What was done (or, in check mode, would be done).
  returned: always
  type: list
  elements: str
  sample: [create code-server-user-42, start code-server-user-42]
results:
  description: One entry per user, with the keys above, for the bulk form.
  returned: when O(users) is given
  type: list
  elements: dict
diff:
  description: Before and after of what changed; secret-looking environment values are hashed.
  returned: when a change is made and diff mode is on
  type: dict
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.beacon_routing import ValidationError
from ansible.module_utils.beacon_traefik import TraefikAPI
from ansible.module_utils.beacon_users import UserError, UserManager, spec_from_params

try:
    import docker
except ImportError:
    HAS_DOCKER = False
    DOCKER_ERROR = traceback.format_exc()
else:
    HAS_DOCKER = True
    DOCKER_ERROR = None

PER_USER_KEYS = {
    "user_id",
    "state",
    "image",
    "env",
    "memory",
    "cpus",
    "pids_limit",
    "extra_labels",
    "auth",
    "hashed_password",
    "purge",
}


def user_params(module_params: dict, item: dict) -> dict:
    unknown = sorted(set(item) - PER_USER_KEYS)
    if unknown:
        raise ValidationError(
            f"users item {item.get('user_id')!r} has unknown keys {unknown}; allowed: {sorted(PER_USER_KEYS)}"
        )
    if "user_id" not in item:
        raise ValidationError(f"users item {item!r} has no user_id")
    return {**module_params, **item}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            user_id=dict(type="str"),
            users=dict(type="list", elements="dict"),
            state=dict(type="str", default="present", choices=["present", "started", "stopped", "absent"]),
            image=dict(type="str"),
            domain=dict(type="str"),
            traefik_container=dict(type="str", default="beacon-traefik"),
            internet=dict(type="bool", default=True),
            entrypoint=dict(type="str", default="websecure"),
            certresolver=dict(type="str", default="letsencrypt"),
            memory=dict(type="str", default="2g"),
            cpus=dict(type="float", default=1.0),
            pids_limit=dict(type="int", default=512),
            env=dict(type="dict", default={}),
            auth=dict(type="str", default="none", choices=["none", "password"]),
            hashed_password=dict(type="str", no_log=True),
            args=dict(type="list", elements="str", default=[]),
            auth_middleware=dict(type="str"),
            extra_labels=dict(type="dict", default={}),
            run_as=dict(type="str", default="1000:1000"),
            purge=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="float", default=60),
            traefik_api_url=dict(type="str", default="http://127.0.0.1:8081"),
            traefik_api_user=dict(type="str", default="admin"),
            traefik_api_password=dict(type="str", no_log=True),
            parallel=dict(type="int", default=8),
        ),
        required_one_of=[("user_id", "users")],
        mutually_exclusive=[("user_id", "users")],
        required_if=[("state", "present", ("image", "domain")), ("state", "started", ("image", "domain"))],
        supports_check_mode=True,
    )
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_ERROR)
    params = module.params
    bulk = params["users"] is not None
    items = params["users"] if bulk else [{"user_id": params["user_id"]}]

    # Validate every user before touching anything, so bad input creates nothing.
    try:
        planned = []
        for item in items:
            merged = user_params(params, item)
            state = merged["state"]
            planned.append((spec_from_params(merged).validated(state), state, bool(merged["purge"])))
    except (ValidationError, TypeError, ValueError) as exc:
        module.fail_json(msg=f"Invalid input, nothing was changed: {exc}")
    ids = [spec.user_id for spec, _, _ in planned]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        module.fail_json(msg=f"Invalid input, nothing was changed: user ids listed twice: {duplicates}")

    try:
        client = docker.from_env(max_pool_size=max(10, params["parallel"]))
        client.ping()
    except Exception as exc:
        module.fail_json(msg=f"Cannot reach the Docker engine (is dockerd running, is DOCKER_HOST right?): {exc}")
    traefik = None
    if params["wait"]:
        traefik = TraefikAPI(params["traefik_api_url"], params["traefik_api_user"], params["traefik_api_password"])
    manager = UserManager(client, check_mode=module.check_mode, traefik=traefik, parallel=params["parallel"])

    results: list = []
    try:
        by_state: dict[tuple[str, bool], list] = {}
        for spec, state, purge in planned:
            by_state.setdefault((state, purge), []).append(spec)
        done = {}
        for (state, purge), specs in by_state.items():
            for result in manager.ensure_many(specs, state, purge):
                done[result.user_id] = result
        results = [done[spec.user_id] for spec, _, _ in planned]
        if params["wait"] and not module.check_mode:
            manager.wait([spec for spec, _, _ in planned], results, params["wait_timeout"])
    except UserError as exc:
        module.fail_json(msg=str(exc), changed=any(r.changed for r in results))
    except Exception as exc:
        module.fail_json(msg=f"Docker failed: {exc}", exception=traceback.format_exc())

    changed = any(r.changed for r in results)
    if bulk:
        output = {"changed": changed, "results": [r.as_dict() for r in results]}
        output["actions"] = [action for r in results for action in r.actions]
        if module._diff:
            output["diff"] = {
                "before": {r.user_id: r.diff.get("before") for r in results if r.diff},
                "after": {r.user_id: r.diff.get("after") for r in results if r.diff},
            }
    else:
        output = {"changed": changed, **results[0].as_dict()}
        if not module._diff:
            output.pop("diff")
    module.exit_json(**output)


if __name__ == "__main__":
    main()
