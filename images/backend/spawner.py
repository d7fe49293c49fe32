"""The spawner: the only Beacon process with Docker access. It starts and stops users' editors.

Only the backend talks to it, on the internal network, with a shared bearer token; it is never
routed from the internet. Every container it makes comes from its own configuration plus a
validated user id, through ``beacon_users`` (the same code the ``code_server_user`` module
uses), so an editor started from the web is exactly one provisioned by a playbook.

    POST /users/<id>/start  -> 200 {"status": "running", "url": ...}   (waits until it answers)
    POST /users/<id>/stop   -> 200 {"status": "stopped"|"absent"}     (the volume is kept)
    GET  /users/<id>        -> 200 {"user_id": ..., "status": "running"|"stopped"|"absent"}

Every request needs ``Authorization: Bearer <token>`` (the token file's content), else 401.

Configuration: a JSON file at ``$BEACON_SPAWNER_CONFIG`` (default /etc/beacon/spawner.json):
``token_file`` and ``user`` (UserSpec fields but user_id) are required; ``traefik_api``
(``url``, ``user``, ``password_file``), ``wait_timeout`` (60) and ``health_probe`` are
optional. health_probe "direct" (the default) waits with UserManager.wait: the editor's
/healthz at its container address, then Traefik's routes; "traefik" waits for Traefik's
routes only, for a spawner that is not on the users' networks.
The Docker SDK is imported in main() only, so the request handling is testable without it.
"""

from __future__ import annotations

import hmac
import os
import re
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol

from app import (
    BeaconHTTPServer,
    ConfigError,
    JSONHandler,
    RequestError,
    check_keys,
    config_int,
    config_str,
    log,
    read_json_file,
    read_secret_file,
    read_token_file,
)
from beacon_routing import ValidationError, user_url, validate_user_id
from beacon_traefik import TraefikAPI, TraefikAPIError, wait_until_live
from beacon_users import Result, UserError, UserManager, UserSpec, spec_from_params

DEFAULT_CONFIG = "/etc/beacon/spawner.json"
SPAWNER_KEYS = ("token_file", "user", "traefik_api", "wait_timeout", "health_probe")
HEALTH_PROBES = ("direct", "traefik")
TRAEFIK_KEYS = ("url", "user", "password_file")
_USER_PATH_RE = re.compile(r"^/users/([^/]*)(?:/(start|stop))?$")


class Users(Protocol):
    """What the spawner needs from Docker; DockerUsers in production, a fake in the tests."""

    def ensure(self, spec: UserSpec, state: str) -> Result: ...

    def wait(self, specs: list[UserSpec], results: list[Result], timeout: float) -> None: ...

    def status(self, spec: UserSpec) -> str: ...


class DockerUsers:
    """UserManager calls, each on a fresh manager.

    A UserManager caches image ids and Traefik's networks between calls; one per call keeps
    concurrent starts of different users from sharing that state, and picks up a rebuilt
    image without restarting the spawner.
    """

    def __init__(self, client: object, traefik: TraefikAPI | None, health_probe: str = "direct") -> None:
        self.client = client
        self.traefik = traefik
        self.health_probe = health_probe

    def _manager(self) -> UserManager:
        return UserManager(self.client, traefik=self.traefik)

    def ensure(self, spec: UserSpec, state: str) -> Result:
        return self._manager().ensure(spec, state)

    def wait(self, specs: list[UserSpec], results: list[Result], timeout: float) -> None:
        if self.health_probe == "direct":
            # Polls each editor's /healthz at its address on its network, then Traefik's API.
            self._manager().wait(specs, results, timeout)
        else:
            wait_for_routes(self.traefik, specs, results, timeout)

    def status(self, spec: UserSpec) -> str:
        try:
            attrs = self.client.api.inspect_container(spec.name)  # type: ignore[attr-defined]
        except Exception as exc:  # docker.errors.NotFound, without importing docker here
            if getattr(getattr(exc, "response", None), "status_code", None) == 404:
                return "absent"
            raise
        return "running" if (attrs.get("State") or {}).get("Running") else "stopped"


def wait_for_routes(traefik: TraefikAPI | None, specs: list[UserSpec], results: list[Result], timeout: float) -> None:
    """Wait until Traefik routes to each started editor (health_probe "traefik").

    For a spawner that cannot reach the users' networks: only Traefik joins them. Traefik
    lists a server as UP once it is routed; the page polls the editor's /healthz itself.
    """
    started = [s for s, r in zip(specs, results, strict=True) if r.container and r.container.get("running")]
    if not started or traefik is None:
        return
    try:
        status = wait_until_live(traefik, [s.router for s in started], timeout)
    except TraefikAPIError as exc:
        raise UserError(str(exc)) from exc
    dead = sorted(name for name, state in status.items() if not state["live"])
    if dead:
        state = status[dead[0]]
        raise UserError(
            f"{len(dead)} route(s) not live after {timeout:g}s, e.g. {dead[0]}: router {state['router_status']}, "
            f"servers {state['servers'] or 'none'}"
        )


@dataclass(frozen=True)
class SpawnerConfig:
    token: str = field(repr=False)
    user: dict
    wait_timeout: int = 60
    health_probe: str = "direct"
    traefik_url: str | None = None
    traefik_user: str | None = None
    traefik_password: str | None = field(default=None, repr=False)

    def spec(self, user_id: str) -> UserSpec:
        """The spec of one user: the configuration plus the validated id, nothing else."""
        return spec_from_params({**self.user, "user_id": validate_user_id(user_id)}).validated("started")


def load_config(path: str) -> SpawnerConfig:
    raw = check_keys(read_json_file(path, "config file"), SPAWNER_KEYS, f"config file {path}")
    token = read_token_file(raw, "token_file", min_length=16)
    user = raw.get("user")
    if not isinstance(user, dict):
        raise ConfigError("key 'user' is missing or not an object (the spec of every user's container)")
    if "user_id" in user:
        raise ConfigError("key 'user' must not set user_id: it comes from the request, validated")
    ignored = sorted(set(user) - set(UserSpec.__dataclass_fields__))
    if ignored:
        log(level="warning", service="beacon-spawner", msg=f"key 'user': ignoring unknown key(s) {', '.join(ignored)}")
    probe = raw.get("health_probe", "direct")
    if probe not in HEALTH_PROBES:
        raise ConfigError(f"key 'health_probe' must be one of {', '.join(HEALTH_PROBES)}, not {probe!r}")
    config = SpawnerConfig(
        token=token, user=dict(user), wait_timeout=config_int(raw, "wait_timeout", 60, 1, 3600), health_probe=probe
    )
    try:
        config.spec("0")  # every user's spec is valid if one is: only the id differs
    except (ValidationError, TypeError, ValueError) as exc:
        raise ConfigError(f"key 'user': {exc}") from exc
    traefik = raw.get("traefik_api")
    if traefik is None:
        if probe == "traefik":
            raise ConfigError("key 'health_probe' is traefik, so key 'traefik_api' is needed")
        return config
    check_keys(traefik, TRAEFIK_KEYS, "key 'traefik_api'")
    url = config_str(traefik, "url")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"key 'traefik_api.url' must start with http:// or https://, not {url!r}")
    password = None
    if "password_file" in traefik:
        password = read_secret_file(traefik, "password_file").decode("utf-8", "replace")
    return replace(config, traefik_url=url, traefik_user=config_str(traefik, "user", None), traefik_password=password)


class SpawnerHandler(JSONHandler):
    server_version = "beacon-spawner"
    routes: ClassVar[dict[str, dict[str, str]]] = {}

    @property
    def config(self) -> SpawnerConfig:
        return self.server.config  # type: ignore[attr-defined]

    @property
    def users(self) -> Users:
        return self.server.users  # type: ignore[attr-defined]

    def _authorized(self) -> bool:
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        wanted = self.config.token.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("latin-1", "replace"), wanted)

    def route(self) -> None:
        if not self._authorized():
            raise RequestError(401, "unauthorized", [("WWW-Authenticate", "Bearer")])
        match = _USER_PATH_RE.fullmatch(self.path_only)
        if not match:
            raise RequestError(404, "not found")
        action = match.group(2) or "status"
        method = "GET" if action == "status" else "POST"
        if ("GET" if self.command == "HEAD" else self.command) != method:
            allowed = "GET, HEAD" if method == "GET" else "POST"
            raise RequestError(405, f"use {allowed}", [("Allow", allowed)])
        try:
            user_id = validate_user_id(match.group(1))
        except ValidationError as exc:
            raise RequestError(400, str(exc)) from exc
        self._log["user"] = user_id
        spec = self.config.spec(user_id)
        try:
            if action == "status":
                payload = {"user_id": user_id, "status": self.users.status(spec)}
            else:
                with self.server.user_lock(user_id):  # type: ignore[attr-defined]
                    payload = self.start(spec) if action == "start" else self.stop(spec)
        except RequestError:
            raise
        except Exception as exc:
            log(level="error", service=self.server_version, user=user_id, action=action, error=repr(exc)[:1000])
            raise RequestError(502, str(exc)[:1000] or type(exc).__name__) from exc
        self.send_json(200, payload)

    def start(self, spec: UserSpec) -> dict:
        result = self.users.ensure(spec, "started")
        self.users.wait([spec], [result], self.config.wait_timeout)
        if not (result.container and result.container.get("running")):
            raise RequestError(
                502, f"user {spec.user_id}: {spec.name} did not stay running; see `docker logs {spec.name}`"
            )
        return {"user_id": spec.user_id, "status": "running", "url": result.url or user_url(spec.domain, spec.user_id)}

    def stop(self, spec: UserSpec) -> dict:
        if self.users.status(spec) == "absent":
            # ensure("stopped") would create the container; there is nothing to stop.
            return {"user_id": spec.user_id, "status": "absent"}
        self.users.ensure(spec, "stopped")
        return {"user_id": spec.user_id, "status": "stopped"}


class SpawnerServer(BeaconHTTPServer):
    def __init__(self, address: tuple[str, int], config: SpawnerConfig, users: Users) -> None:
        super().__init__(address, SpawnerHandler)
        self.config = config
        self.users = users
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def user_lock(self, user_id: str) -> threading.Lock:
        """One lock per user: two starts (or a start and a stop) of one user never race."""
        with self._locks_guard:
            return self._locks.setdefault(user_id, threading.Lock())


def make_server(config: SpawnerConfig, users: Users, address: tuple[str, int] = ("0.0.0.0", 8001)) -> SpawnerServer:
    return SpawnerServer(address, config, users)


def main() -> None:
    path = os.environ.get("BEACON_SPAWNER_CONFIG", DEFAULT_CONFIG)
    try:
        config = load_config(path)
        port = int(os.environ.get("PORT", "8001"))
    except (ConfigError, ValueError) as exc:
        log(level="fatal", service="beacon-spawner", msg=f"configuration error in {path}: {exc}")
        sys.exit(2)
    import docker  # only here: the handlers and their tests run without it

    traefik = None
    if config.traefik_url:
        traefik = TraefikAPI(config.traefik_url, config.traefik_user, config.traefik_password)
    users = DockerUsers(docker.from_env(), traefik, config.health_probe)
    server = make_server(config, users, ("0.0.0.0", port))
    log(
        service="beacon-spawner",
        msg="spawner listening",
        port=server.server_port,
        image=config.user.get("image"),
        traefik_api=config.traefik_url,
        health_probe=config.health_probe,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
