# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-user code-server containers: the wanted spec, what runs, and how to get from one to the other.

The ``code_server_user`` Ansible module and the reference backend both drive users through
this file, so a container started from the web has exactly the labels, limits and hardening
of one provisioned by a playbook. Needs the Docker SDK for Python; no Ansible imports.
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

try:  # inside Ansible, module_utils are a package
    from ansible.module_utils.beacon_routing import (
        MANAGED_LABEL,
        USER_LABEL,
        ValidationError,
        user_container_name,
        user_labels,
        user_network_name,
        user_router_name,
        user_url,
        user_volume_name,
        validate_domain,
        validate_image,
        validate_name,
        validate_user_id,
    )
    from ansible.module_utils.beacon_traefik import TraefikAPI, TraefikAPIError, wait_until_gone, wait_until_live
except ImportError:  # in the backend image the files sit side by side
    from beacon_routing import (
        MANAGED_LABEL,
        USER_LABEL,
        ValidationError,
        user_container_name,
        user_labels,
        user_network_name,
        user_router_name,
        user_url,
        user_volume_name,
        validate_domain,
        validate_image,
        validate_name,
        validate_user_id,
    )  # type: ignore[no-redef]
    from beacon_traefik import TraefikAPI, TraefikAPIError, wait_until_gone, wait_until_live  # type: ignore[no-redef]

ENV_KEYS_LABEL = "org.beacon.env-keys"
STATES = ("present", "started", "stopped", "absent")
# Limits Docker can change on a running container; every other difference needs a new one.
IN_PLACE = ("memory", "nano_cpus", "pids_limit")
HARDENING = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}
SECRET_KEY_RE = re.compile(r"PASS|SECRET|TOKEN|KEY|HASH", re.IGNORECASE)
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MEMORY_RE = re.compile(r"^([0-9]+)([bkmg]?)$", re.IGNORECASE)
_MIDDLEWARE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(@[a-z]{1,20})?$")


class UserError(RuntimeError):
    """An action on a user's container failed; the message says which and why."""


def parse_memory(value: object) -> int:
    """'2g', '512m', '1048576' or an int, to bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = value, ""
    else:
        match = _MEMORY_RE.match(str(value).strip())
        if not match:
            raise ValidationError(f"memory {value!r} is invalid: use bytes or a number with b, k, m or g (e.g. 2g)")
        number, unit = int(match.group(1)), match.group(2).lower()
    result = number * {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]
    if result < 6 * 1024**2:
        raise ValidationError(f"memory {value!r} is too small: Docker needs at least 6m")
    return result


@dataclass(frozen=True)
class UserSpec:
    """Everything that defines one user's container."""

    user_id: str
    image: str = ""
    domain: str = ""
    # Traefik joins each user's network to reach the editor; nothing else does.
    traefik_container: str = "beacon-traefik"
    # Whether the user's network reaches the internet (package installs, extensions).
    internet: bool = True
    entrypoint: str = "websecure"
    certresolver: str | None = "letsencrypt"
    memory: str | int | None = "2g"
    cpus: float | None = 1.0
    pids_limit: int | None = 512
    env: dict = field(default_factory=dict)
    auth: str = "none"
    hashed_password: str | None = None
    args: tuple = ()
    auth_middleware: str | None = None
    extra_labels: dict = field(default_factory=dict)
    run_as: str = "1000:1000"
    home: str = "/home/coder"
    port: int = 8080

    @property
    def name(self) -> str:
        return user_container_name(self.user_id)

    @property
    def volume(self) -> str:
        return user_volume_name(self.user_id)

    @property
    def router(self) -> str:
        return user_router_name(self.user_id)

    @property
    def network(self) -> str:
        return user_network_name(self.user_id)

    def validated(self, state: str) -> UserSpec:
        """Check every input; raise ValidationError naming the first bad one."""
        user_id = validate_user_id(self.user_id)
        if state not in STATES:
            raise ValidationError(f"state {state!r} is invalid: it must be one of {', '.join(STATES)}")
        if state == "absent" or (state == "stopped" and not self.image):
            # Removing, or stopping as it is (no image given): only the user id matters.
            return replace(self, user_id=user_id)
        validate_image(self.image)
        validate_domain(self.domain)
        validate_name("traefik_container", self.traefik_container)
        validate_name("entrypoint", self.entrypoint)
        if self.certresolver:
            validate_name("certresolver", self.certresolver)
        if self.auth_middleware and not _MIDDLEWARE_RE.match(self.auth_middleware):
            raise ValidationError(
                f"auth_middleware {self.auth_middleware!r} is invalid: it must be a middleware name such as auth@file"
            )
        if self.memory is not None:
            parse_memory(self.memory)
        if self.cpus is not None and not (0.01 <= float(self.cpus) <= 64):
            raise ValidationError(f"cpus {self.cpus!r} is invalid: it must be between 0.01 and 64")
        if self.pids_limit is not None and not (16 <= int(self.pids_limit) <= 1_000_000):
            raise ValidationError(f"pids_limit {self.pids_limit!r} is invalid: it must be between 16 and 1000000")
        if self.auth not in ("none", "password"):
            raise ValidationError(f"auth {self.auth!r} is invalid: it must be none or password")
        if self.auth == "password" and not self.hashed_password:
            raise ValidationError(
                "auth=password needs hashed_password (an argon2 hash, as `code-server hash-password` makes)"
            )
        for key in self.env:
            if not isinstance(key, str) or not _ENV_KEY_RE.match(key):
                raise ValidationError(
                    f"env key {key!r} is invalid: use letters, digits and '_', not starting with a digit"
                )
        for key in self.extra_labels:
            if not isinstance(key, str) or key.startswith(("traefik.", "org.beacon.")) or not key:
                raise ValidationError(
                    f"extra_labels key {key!r} is invalid: traefik.* and org.beacon.* labels are computed, not set"
                )
        if not re.match(r"^[0-9]{1,10}(:[0-9]{1,10})?$", self.run_as) or self.run_as.split(":")[0] == "0":
            raise ValidationError(f"run_as {self.run_as!r} is invalid: it must be a numeric non-root uid[:gid]")
        return replace(self, user_id=user_id)


def desired_config(spec: UserSpec) -> dict:
    """What the user's container must look like, in the shape current_config() reads back."""
    env = {str(k): str(v) for k, v in spec.env.items()}
    if spec.auth == "password":
        env["HASHED_PASSWORD"] = spec.hashed_password
    labels = user_labels(
        spec.user_id,
        spec.domain,
        entrypoint=spec.entrypoint,
        certresolver=spec.certresolver,
        network=spec.network,
        port=spec.port,
        auth_middleware=spec.auth_middleware,
    )
    labels.update({str(k): str(v) for k, v in spec.extra_labels.items()})
    labels[ENV_KEYS_LABEL] = ",".join(sorted(env))
    return {
        "image": spec.image,
        "command": ["--auth", spec.auth, *spec.args],
        "env": env,
        "labels": labels,
        "user": spec.run_as,
        "network": spec.network,
        "volume": f"{spec.volume}:{spec.home}",
        "memory": parse_memory(spec.memory) if spec.memory is not None else 0,
        "nano_cpus": int(float(spec.cpus) * 1e9) if spec.cpus is not None else 0,
        "pids_limit": int(spec.pids_limit) if spec.pids_limit is not None else 0,
        **HARDENING,
    }


def current_config(attrs: dict, desired: dict) -> dict:
    """Read back what runs, limited to what this code manages (so image defaults don't count)."""
    config, host = attrs.get("Config") or {}, attrs.get("HostConfig") or {}
    labels = config.get("Labels") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    managed_env = set(desired["env"]) | set(filter(None, labels.get(ENV_KEYS_LABEL, "").split(",")))
    managed_labels = {k for k in labels if k.startswith(("traefik.", "org.beacon."))} | set(desired["labels"])
    volumes = [
        f"{m.get('Name')}:{m.get('Destination')}" for m in attrs.get("Mounts") or [] if m.get("Type") == "volume"
    ]
    networks = sorted((attrs.get("NetworkSettings") or {}).get("Networks") or {})
    return {
        "image": config.get("Image"),
        "command": config.get("Cmd") or [],
        "env": {k: env[k] for k in sorted(managed_env) if k in env},
        "labels": {k: labels[k] for k in sorted(managed_labels) if k in labels},
        "user": config.get("User"),
        "network": desired["network"] if desired["network"] in networks else ",".join(networks),
        "volume": desired["volume"] if desired["volume"] in volumes else ",".join(volumes),
        "memory": host.get("Memory") or 0,
        "nano_cpus": host.get("NanoCpus") or 0,
        "pids_limit": host.get("PidsLimit") or 0,
        "cap_drop": host.get("CapDrop") or [],
        "security_opt": host.get("SecurityOpt") or [],
    }


def differences(current: dict, desired: dict) -> list[str]:
    return sorted(key for key in desired if current.get(key) != desired[key])


def redact(config: dict) -> dict:
    """A copy safe to show in a diff or a log: secret-looking env values are hashed."""
    shown = dict(config)
    shown["env"] = {
        k: (f"<hidden sha256:{hashlib.sha256(v.encode()).hexdigest()[:12]}>" if SECRET_KEY_RE.search(k) else v)
        for k, v in config.get("env", {}).items()
    }
    return shown


def summarize(attrs: dict, network: str) -> dict:
    state = attrs.get("State") or {}
    net = ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}
    return {
        "name": (attrs.get("Name") or "").lstrip("/"),
        "id": attrs.get("Id"),
        "image": (attrs.get("Config") or {}).get("Image"),
        "status": state.get("Status"),
        "running": bool(state.get("Running")),
        "ip": net.get("IPAddress"),
    }


def healthz_ok(ip: str, port: int, timeout: float = 1) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/healthz", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Result:
    user_id: str
    changed: bool = False
    actions: list = field(default_factory=list)
    diff: dict = field(default_factory=dict)
    container: dict | None = None
    url: str | None = None
    router: str | None = None
    network: str | None = None
    volume: str | None = None
    route: dict | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


class UserManager:
    """Brings users' containers to a wanted state. check_mode computes the same result, changing nothing."""

    def __init__(self, client, *, check_mode: bool = False, traefik: TraefikAPI | None = None, parallel: int = 8):
        self.client = client
        self.check_mode = check_mode
        self.traefik = traefik
        self.parallel = max(1, int(parallel))
        self._image_ids: dict[str, str | None] = {}
        self._traefik_nets: set[str] | None = None

    # Docker helpers -----------------------------------------------------------------------

    def _container(self, name: str) -> dict | None:
        try:
            return self.client.api.inspect_container(name)
        except Exception as exc:  # docker.errors.NotFound, without importing docker here
            if getattr(getattr(exc, "response", None), "status_code", None) == 404:
                return None
            raise

    def _image_id(self, image: str) -> str | None:
        if image not in self._image_ids:
            try:
                self._image_ids[image] = self.client.api.inspect_image(image)["Id"]
            except Exception as exc:
                if getattr(getattr(exc, "response", None), "status_code", None) != 404:
                    raise
                self._image_ids[image] = None
        return self._image_ids[image]

    def _ensure_image(self, image: str) -> None:
        if self._image_id(image) is None:
            repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
            try:
                self.client.api.pull(repository, tag=tag)
            except Exception as exc:
                raise UserError(f"image {image} is not on this host and could not be pulled: {exc}") from exc
            self._image_ids.pop(image, None)
            self._image_id(image)

    def _network(self, name: str) -> dict | None:
        try:
            return self.client.api.inspect_network(name)
        except Exception as exc:
            if getattr(getattr(exc, "response", None), "status_code", None) == 404:
                return None
            raise

    def _traefik_networks(self, traefik: str) -> set[str]:
        """Networks Traefik's container is on, read once per call of ensure_many()."""
        if self._traefik_nets is None:
            attrs = self._container(traefik)
            if attrs is None:
                raise UserError(f"Traefik's container {traefik} does not exist; deploy the stack first")
            self._traefik_nets = set((attrs.get("NetworkSettings") or {}).get("Networks") or {})
        return self._traefik_nets

    def _ensure_network(self, spec: UserSpec) -> None:
        """The user's own network exists and Traefik is on it, before the container starts.

        Traefik refreshes on the container's start event; a network joined later would not be
        noticed until the next event, and Traefik could not reach the editor.
        """
        api = self.client.api
        if self._network(spec.network) is None:
            api.create_network(
                spec.network,
                driver="bridge",
                internal=not spec.internet,
                labels={MANAGED_LABEL: "true", USER_LABEL: spec.user_id},
            )
        if spec.network not in self._traefik_networks(spec.traefik_container):
            api.connect_container_to_network(spec.traefik_container, spec.network)
            self._traefik_nets.add(spec.network)

    def _remove_network(self, spec: UserSpec) -> None:
        network = self._network(spec.network)
        if network is None:
            return
        for container_id in network.get("Containers") or {}:
            self.client.api.disconnect_container_from_network(container_id, spec.network, force=True)
        self.client.api.remove_network(spec.network)
        if self._traefik_nets is not None:
            self._traefik_nets.discard(spec.network)

    def _create(self, spec: UserSpec, desired: dict) -> str:
        api = self.client.api
        self._ensure_network(spec)
        api.create_volume(name=spec.volume, labels={MANAGED_LABEL: "true", USER_LABEL: spec.user_id})
        host_config = api.create_host_config(
            mounts=[{"Type": "volume", "Source": spec.volume, "Target": spec.home}],
            mem_limit=desired["memory"] or None,
            # No swap: the memory limit is the limit.
            memswap_limit=desired["memory"] or None,
            nano_cpus=desired["nano_cpus"] or None,
            pids_limit=desired["pids_limit"] or None,
            cap_drop=HARDENING["cap_drop"],
            security_opt=HARDENING["security_opt"],
            restart_policy={"Name": "unless-stopped"},
            init=True,
        )
        # Join the network at creation: Traefik refreshes on the start event, and a network
        # connected after start would not be seen until the next event.
        networking = api.create_networking_config({spec.network: api.create_endpoint_config()})
        created = api.create_container(
            image=spec.image,
            command=desired["command"],
            name=spec.name,
            hostname=spec.name,
            user=spec.run_as,
            environment=desired["env"],
            labels=desired["labels"],
            host_config=host_config,
            networking_config=networking,
        )
        return created["Id"]

    # The reconciliation -------------------------------------------------------------------

    def plan(self, spec: UserSpec, state: str, purge: bool = False) -> tuple[Result, list]:
        """Decide what to do for one user without doing it. Returns the result and the steps."""
        result = Result(user_id=spec.user_id, router=spec.router, network=spec.network, volume=spec.volume)
        attrs = self._container(spec.name)
        running = bool(attrs and (attrs.get("State") or {}).get("Running"))
        steps: list = []
        if state == "absent":
            if attrs:
                steps.append(("remove", spec.name))
                result.diff = {"before": {"container": spec.name}, "after": {}}
            if self._network(spec.network) is not None:
                steps.append(("remove_network", spec.network))
            if purge and self._volume_exists(spec.volume):
                steps.append(("remove_volume", spec.volume))
            result.actions = [f"{verb} {what}" for verb, what in steps]
            return result, steps

        if state == "stopped" and not spec.image:
            # Stop the container as it is, whatever its configuration (idle users, for one).
            if running:
                steps.append(("stop", spec.name))
            result.actions = [f"{verb} {what}" for verb, what in steps]
            return result, steps

        result.url = user_url(spec.domain, spec.user_id)
        desired = desired_config(spec)
        image_id = self._image_id(spec.image)
        if attrs is None:
            steps += [("create", None)]
            result.diff = {"before": {}, "after": redact(desired)}
        else:
            current = current_config(attrs, desired)
            changed = differences(current, desired)
            stale_image = image_id is not None and attrs.get("Image") != image_id
            if stale_image or set(changed) - set(IN_PLACE):
                steps += [("remove", spec.name), ("create", None)]
            elif changed:
                steps.append(("update", {k: desired[k] for k in changed}))
            if changed or stale_image:
                before, after = redact(current), redact(desired)
                result.diff = {"before": {k: before[k] for k in changed}, "after": {k: after[k] for k in changed}}
                if stale_image:
                    result.diff["before"]["image_id"], result.diff["after"]["image_id"] = attrs.get("Image"), image_id
        recreated = any(step[0] == "create" for step in steps)
        if attrs is not None and not recreated and spec.network not in self._traefik_networks(spec.traefik_container):
            # Traefik was recreated since (compose drops networks it did not declare).
            steps.append(("connect", spec.network))
        if state in ("present", "started") and (recreated or not running):
            steps.append(("start", spec.name))
        if state == "stopped" and running and not recreated:
            steps.append(("stop", spec.name))
        if image_id is None and recreated:
            steps.insert(0, ("pull", spec.image))
        result.actions = [
            f"{verb} {spec.name if what is None or isinstance(what, dict) else what}" for verb, what in steps
        ]
        return result, steps

    def _volume_exists(self, name: str) -> bool:
        try:
            self.client.api.inspect_volume(name)
            return True
        except Exception as exc:
            if getattr(getattr(exc, "response", None), "status_code", None) == 404:
                return False
            raise

    def _update_limits(self, name: str, config: dict) -> None:
        # docker-py's update_container() knows neither NanoCpus nor PidsLimit; the engine does.
        api = self.client.api
        body = {
            "Memory": config["memory"],
            "MemorySwap": config["memory"] or -1,
            "NanoCpus": config["nano_cpus"],
            "PidsLimit": config["pids_limit"] or -1,
        }
        api._raise_for_status(api._post_json(api._url("/containers/{0}/update", name), data=body))

    def apply(self, spec: UserSpec, steps: list) -> None:
        api = self.client.api
        desired = desired_config(spec) if any(s[0] in ("create", "update") for s in steps) else None
        for verb, what in steps:
            if verb == "pull":
                self._ensure_image(what)
            elif verb == "remove":
                api.remove_container(what, force=True)
            elif verb == "remove_volume":
                api.remove_volume(what)
            elif verb == "remove_network":
                self._remove_network(spec)
            elif verb == "connect":
                self._ensure_network(spec)
            elif verb == "create":
                self._create(spec, desired)
            elif verb == "update":
                self._update_limits(spec.name, {**desired, **what})
            elif verb == "start":
                api.start(what)
            elif verb == "stop":
                api.stop(what, timeout=10)

    def ensure(self, spec: UserSpec, state: str, purge: bool = False) -> Result:
        """Bring one user to `state`; reads Traefik's networks afresh (it may have been recreated)."""
        self._traefik_nets = None
        return self._ensure(spec, state, purge)

    def _ensure(self, spec: UserSpec, state: str, purge: bool = False) -> Result:
        result, steps = self.plan(spec, state, purge)
        result.changed = bool(steps)
        if steps and not self.check_mode:
            try:
                self.apply(spec, steps)
            except UserError:
                raise
            except Exception as exc:
                raise UserError(f"user {spec.user_id}: {' then '.join(result.actions)} failed: {exc}") from exc
        if state != "absent" and not self.check_mode:
            attrs = self._container(spec.name)
            result.container = summarize(attrs, spec.network) if attrs else None
        return result

    def wait(self, specs: list[UserSpec], results: list[Result], timeout: float, probe_healthz: bool = True) -> None:
        """Wait until each started user answers /healthz and Traefik routes to it, and until
        Traefik has dropped the routes of users this run stopped or removed.

        The /healthz probe goes straight to the container's address on its own network, which
        the Docker host reaches; a caller inside a container (the spawner) cannot, by design,
        and relies on Traefik's view alone (probe_healthz=False).
        """
        deadline = time.monotonic() + timeout
        pairs = list(zip(specs, results, strict=True))
        started = [(s, r) for s, r in pairs if r.container and r.container.get("running")]
        halted = [s for s, r in pairs if r.changed and not (r.container or {}).get("running")]
        if halted and self.traefik is not None:
            try:
                left = wait_until_gone(self.traefik, [s.router for s in halted], max(0.0, deadline - time.monotonic()))
            except TraefikAPIError as exc:
                raise UserError(str(exc)) from exc
            if left:
                raise UserError(f"Traefik still routes {', '.join(left)} {timeout:g}s after its container stopped")
        for spec, result in started if probe_healthz else []:
            while not healthz_ok(result.container["ip"], spec.port):
                if time.monotonic() >= deadline:
                    raise UserError(
                        f"user {spec.user_id}: {spec.name} did not answer http://{result.container['ip']}:{spec.port}"
                        f"/healthz within {timeout:g}s; see `docker logs {spec.name}`"
                    )
                time.sleep(0.05)
        if not started or self.traefik is None:
            return
        try:
            status = wait_until_live(
                self.traefik, [s.router for s, _ in started], max(0.0, deadline - time.monotonic())
            )
        except TraefikAPIError as exc:
            raise UserError(str(exc)) from exc
        for spec, result in started:
            result.route = status.get(f"{spec.router}@docker")
        dead = {name: state for name, state in status.items() if not state["live"]}
        if dead:
            name, state = next(iter(sorted(dead.items())))
            raise UserError(
                f"{len(dead)} route(s) not live after {timeout:g}s, e.g. {name}: router {state['router_status']}"
                f"{', errors ' + '; '.join(state['router_errors']) if state['router_errors'] else ''}, "
                f"servers {state['servers'] or 'none'}"
            )

    def ensure_many(self, specs: list[UserSpec], state: str, purge: bool = False) -> list[Result]:
        """Provision many users at once; Docker calls run in parallel threads."""
        self._traefik_nets = None
        if state != "absent" and specs:
            self._traefik_networks(specs[0].traefik_container)  # read once, not once per thread
        for image in {s.image for s in specs if s.image}:
            self._image_id(image)
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            return list(pool.map(lambda spec: self._ensure(spec, state, purge), specs))


def spec_from_params(params: dict) -> UserSpec:
    """Build a spec from module-style parameters (unknown keys are ignored)."""
    known = {f for f in UserSpec.__dataclass_fields__}
    values = {k: v for k, v in params.items() if k in known and v is not None}
    if "args" in values:
        values["args"] = tuple(values["args"])
    if values.get("certresolver") == "":
        values["certresolver"] = None
    return UserSpec(**values)
