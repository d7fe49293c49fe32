#!/usr/bin/python
# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: traefik_route_info
short_description: What Traefik routes, from its API, and whether a router is live
description:
  - Reads Traefik's API (with the dashboard credentials) for HTTP routers, services and
    middlewares, optionally only those whose name contains O(name_filter).
  - With O(router), reports that router's status, rule and the status of its service's
    servers; with O(wait=true) it waits until the router is enabled and a server is up.
  - Replaces C(curl .../api/http/routers | grep) troubleshooting with data a play can assert on.
version_added: "1.0.0"
author: Beacon contributors
options:
  api_url:
    description: Base URL of Traefik's API entrypoint.
    type: str
    default: http://127.0.0.1:8081
  api_user:
    description: Basic-auth user for the API.
    type: str
    default: admin
  api_password:
    description: Basic-auth password for the API.
    type: str
  router:
    description: A router to report on, such as C(code-user-42) (the C(@docker) provider is assumed).
    type: str
  name_filter:
    description: Only list routers, services and middlewares whose name contains this string.
    type: str
  wait:
    description: With O(router), wait until it is enabled and its service has a server that is up.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait.
    type: float
    default: 30
  timeout:
    description: Seconds for each API request.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Read every route Traefik has.
  traefik_route_info:
    api_password: "{{ traefik_dashboard_password }}"
  register: traefik

- name: User 42's editor is routed.
  traefik_route_info:
    api_password: "{{ traefik_dashboard_password }}"
    router: code-user-42
    wait: true
  register: route
  failed_when: not route.route.live
"""

RETURN = r"""
routers:
  description: HTTP routers (name, rule, status, service, middlewares, entryPoints, tls).
  returned: always
  type: list
  elements: dict
services:
  description: HTTP services with their servers and serverStatus.
  returned: always
  type: list
  elements: dict
middlewares:
  description: HTTP middlewares (name, type, status).
  returned: always
  type: list
  elements: dict
hosts:
  description: Every host name in a C(Host(...)) rule of an enabled router, sorted.
  returned: always
  type: list
  elements: str
  sample: [shlinx.com]
route:
  description: Status of O(router) (live, router_status, router_errors, rule, servers).
  returned: when O(router) is given
  type: dict
  sample:
    live: true
    router_status: enabled
    rule: "Host(`shlinx.com`) && PathPrefix(`/code/user/42/`)"
    servers: {"http://172.20.0.9:8080": UP}
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.beacon_traefik import TraefikAPI, TraefikAPIError, qualified, route_status, wait_until_live

ROUTER_KEYS = (
    "name",
    "rule",
    "status",
    "service",
    "middlewares",
    "entryPoints",
    "tls",
    "priority",
    "provider",
    "error",
)
HOST_RE = re.compile(r"Host\(`([^`]+)`\)")


def hosts_of(routers: list[dict]) -> list[str]:
    found = {host for r in routers if r.get("status") == "enabled" for host in HOST_RE.findall(r.get("rule", ""))}
    return sorted(found)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            api_url=dict(type="str", default="http://127.0.0.1:8081"),
            api_user=dict(type="str", default="admin"),
            api_password=dict(type="str", no_log=True),
            router=dict(type="str"),
            name_filter=dict(type="str"),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="float", default=30),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["wait"] and not params["router"]:
        module.fail_json(msg="wait=true needs router: the name of the router to wait for")
    api = TraefikAPI(params["api_url"], params["api_user"], params["api_password"], timeout=params["timeout"])
    wanted = params["name_filter"] or ""
    try:
        route = None
        if params["router"]:
            if params["wait"]:
                route = wait_until_live(api, [params["router"]], params["wait_timeout"])[qualified(params["router"])]
            else:
                router = api.router(params["router"])
                service = api.service((router or {}).get("service", params["router"].split("@")[0])) if router else None
                route = route_status(router, service)
        routers = [{k: r[k] for k in ROUTER_KEYS if k in r} for r in api.routers() if wanted in r["name"]]
        services = [s for s in api.services() if wanted in s["name"]]
        middlewares = [m for m in api.middlewares() if wanted in m["name"]]
    except TraefikAPIError as exc:
        module.fail_json(msg=str(exc))
    result = {"changed": False, "routers": routers, "services": services, "middlewares": middlewares}
    result["hosts"] = hosts_of(routers)
    if route is not None:
        result["route"] = route
        if params["wait"] and not route["live"]:
            module.fail_json(
                msg=f"router {qualified(params['router'])} not live after {params['wait_timeout']:g}s: "
                f"router {route['router_status']}, servers {route['servers'] or 'none'}",
                **result,
            )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
