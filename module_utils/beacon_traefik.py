# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for Traefik's API: is a router live, and what does Traefik route?

Used by the ``traefik_route_info`` and ``code_server_user`` modules and by the reference
backend. Standard library only.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request


class TraefikAPIError(RuntimeError):
    """Traefik's API could not be reached or answered with an error."""


class TraefikAPI:
    def __init__(self, url: str, username: str | None = None, password: str | None = None, timeout: float = 5) -> None:
        if not url.startswith(("http://", "https://")):
            raise TraefikAPIError(f"Traefik API URL {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"

    def get(self, path: str) -> object:
        request = urllib.request.Request(self.url + path, headers=self._headers)  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (scheme checked)
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            hint = " (check the dashboard credentials)" if exc.code == 401 else ""
            raise TraefikAPIError(f"Traefik API {self.url}{path} answered HTTP {exc.code}{hint}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TraefikAPIError(f"Traefik API {self.url}{path} is unreachable: {exc}") from exc

    def _list(self, kind: str) -> list[dict]:
        items: list[dict] = []
        page = 1
        # The API pages its lists (100 per page by default) and says where the next page is.
        while True:
            batch = self.get(f"/api/http/{kind}?per_page=1000&page={page}")
            if not batch:
                return items
            items.extend(batch)
            if len(batch) < 1000:
                return items
            page += 1

    def routers(self) -> list[dict]:
        return self._list("routers")

    def services(self) -> list[dict]:
        return self._list("services")

    def middlewares(self) -> list[dict]:
        return self._list("middlewares")

    def router(self, name: str) -> dict | None:
        return self.get(f"/api/http/routers/{urllib.parse.quote(qualified(name), safe='@')}")

    def service(self, name: str) -> dict | None:
        return self.get(f"/api/http/services/{urllib.parse.quote(qualified(name), safe='@')}")


def qualified(name: str, provider: str = "docker") -> str:
    """Router and service names in the API carry their provider: ``code-user-1@docker``."""
    return name if "@" in name else f"{name}@{provider}"


def route_status(router: dict | None, service: dict | None) -> dict:
    """Summarise whether a router is enabled and its service has a server that is up."""
    # serverStatus is Traefik's own view of each server; a server only listed in the
    # load balancer's configuration is not known to be up yet.
    servers = dict((service or {}).get("serverStatus") or {})
    live = bool(router and router.get("status") == "enabled" and any(s == "UP" for s in servers.values()))
    return {
        "live": live,
        "router_status": router.get("status") if router else "absent",
        "router_errors": (router or {}).get("error", []),
        "rule": (router or {}).get("rule"),
        "servers": servers,
    }


def _one_route(api: TraefikAPI, name: str) -> dict:
    """One router's status in as few requests as possible (each pays Traefik's basic-auth hash).

    The service is polled first: until its server is up and it lists the router, the router
    cannot be live, so only then is the router itself read.
    """
    service = api.service(name.split("@")[0])
    if not service or name not in service.get("usedBy", []) or "UP" not in (service.get("serverStatus") or {}).values():
        return route_status(None, service)
    return route_status(api.router(name), service)


def wait_until_live(api: TraefikAPI, routers: list[str], timeout: float, interval: float = 0.05) -> dict[str, dict]:
    """Poll until every named router is enabled with a live server, or the timeout passes.

    Returns the last status of each router. One listing per poll serves any number of routers,
    so waiting for a bulk provisioning costs the same as waiting for one user.
    """
    deadline = time.monotonic() + timeout
    pending = {qualified(name) for name in routers}
    status: dict[str, dict] = {}
    while True:
        if len(pending) == 1:
            found = {name: _one_route(api, name) for name in pending}
        else:
            all_routers = {r["name"]: r for r in api.routers()}
            all_services = {s["name"]: s for s in api.services()}
            found = {}
            for name in pending:
                router = all_routers.get(name)
                service = all_services.get(qualified((router or {}).get("service", name.split("@")[0])))
                found[name] = route_status(router, service)
        status.update(found)
        pending = {name for name, state in found.items() if not state["live"]}
        if not pending or time.monotonic() >= deadline:
            return status
        time.sleep(interval)


def wait_until_gone(api: TraefikAPI, routers: list[str], timeout: float, interval: float = 0.05) -> list[str]:
    """Poll until Traefik no longer lists any of the named routers, or the timeout passes.

    Traefik drops a stopped or removed container's routers on the next Docker event it
    handles; until then it still routes to the dead address (502). Returns those still listed.
    """
    deadline = time.monotonic() + timeout
    pending = {qualified(name) for name in routers}
    while pending:
        if len(pending) == 1:
            pending = {name for name in pending if api.router(name) is not None}
        else:
            pending &= {r["name"] for r in api.routers()}
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return sorted(pending)
