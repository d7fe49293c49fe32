# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names, Traefik labels and route rules of the Beacon platform, in one place.

Everything that decides what a container, a volume or a Traefik router is called, and which
requests reach it, is computed here. The custom modules, the roles' templates (through the
``beacon`` filter plugin) and the reference backend all import this file, so the platform can
never disagree with itself about a route.

Pure Python, standard library only: it runs inside Ansible modules, on the controller and in
the backend container alike.
"""

from __future__ import annotations

import re

NETWORK = "beacon-network"
USER_PATH_ROOT = "/code/user/"
USER_CONTAINER_PREFIX = "code-server-user-"
USER_VOLUME_PREFIX = "code-server-user-"
USER_VOLUME_SUFFIX = "-data"
USER_ROUTER_PREFIX = "code-user-"
USER_NETWORK_PREFIX = "beacon-user-"
CODE_SERVER_PORT = 8080
MANAGED_LABEL = "org.beacon.managed"
USER_LABEL = "org.beacon.user"

# A user id must fit a container name, a Traefik router name and a DNS label at once.
# Every pattern here is applied with fullmatch: with match, "$" also accepts a trailing newline.
USER_ID_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
USER_ID_RULE = "lower-case letters, digits and inner hyphens, 1 to 63 characters"
_USER_ID_RE = re.compile(USER_ID_PATTERN)

# RFC 1123 host names with at least two labels; no wildcards, ports, paths or IP addresses.
_DOMAIN_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_PATTERN = rf"^(?=.{{1,253}}$){_DOMAIN_LABEL}(\.{_DOMAIN_LABEL})*\.[a-z]([a-z0-9-]{{0,61}}[a-z0-9])?$"
DOMAIN_RULE = "a lower-case DNS name such as shlinx.com (letters, digits, hyphens, dots; no port or path)"
_DOMAIN_RE = re.compile(DOMAIN_PATTERN)

# Docker's reference grammar, simplified: [registry[:port]/]path[:tag][@digest]. As in Docker,
# the first component is a registry only if it has a dot or a port or is localhost; otherwise
# it is part of the (lower-case) path, so "UPPER/case" is rejected.
_IMAGE_RE = re.compile(
    r"^(?:(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+(?::[0-9]+)?|[a-zA-Z0-9-]+:[0-9]+|localhost)/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
IMAGE_RULE = "a Docker image reference such as codercom/code-server:4.100.3"

# Traefik names (routers, middlewares, entrypoints, resolvers) end up in label keys.
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_-]{0,62})$")
NAME_RULE = "letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters"


class ValidationError(ValueError):
    """An input that would produce a wrong or dangerous name, label or rule."""


def validate_user_id(user_id: object) -> str:
    """Return the user id as a string, or raise naming the rule it breaks."""
    text = str(user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else user_id
    if not isinstance(text, str) or not _USER_ID_RE.fullmatch(text):
        shown = repr(text)[:80]
        raise ValidationError(f"user_id {shown} is invalid: it must be {USER_ID_RULE} ({USER_ID_PATTERN})")
    return text


def validate_domain(domain: object) -> str:
    if not isinstance(domain, str) or not _DOMAIN_RE.fullmatch(domain):
        raise ValidationError(f"domain {repr(domain)[:80]} is invalid: it must be {DOMAIN_RULE}")
    return domain


def validate_image(image: object) -> str:
    if not isinstance(image, str) or len(image) > 255 or not _IMAGE_RE.fullmatch(image):
        raise ValidationError(f"image {repr(image)[:80]} is invalid: it must be {IMAGE_RULE}")
    return image


def validate_name(kind: str, value: object) -> str:
    """Validate a Traefik entrypoint, resolver, router or middleware name."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise ValidationError(f"{kind} {repr(value)[:80]} is invalid: it must be {NAME_RULE}")
    return value


def validate_path_prefix(path: object) -> str:
    """A path prefix for a router: starts and ends with '/', plain characters only."""
    if not isinstance(path, str) or not re.fullmatch(r"^/([A-Za-z0-9._~-]+/)*$", path) or "/../" in f"{path}":
        raise ValidationError(
            f"path prefix {repr(path)[:80]} is invalid: "
            "it must look like /api/ (plain segments, leading and trailing '/')"
        )
    return path


def user_container_name(user_id: object) -> str:
    return USER_CONTAINER_PREFIX + validate_user_id(user_id)


def user_id_of_container(name: str) -> str:
    """The user id in a container name such as ``code-server-user-42`` (Docker may add a '/')."""
    return validate_user_id(name.lstrip("/").removeprefix(USER_CONTAINER_PREFIX))


def user_volume_name(user_id: object) -> str:
    return USER_VOLUME_PREFIX + validate_user_id(user_id) + USER_VOLUME_SUFFIX


def user_network_name(user_id: object) -> str:
    """Each user's container sits alone on its own network, which only Traefik joins."""
    return USER_NETWORK_PREFIX + validate_user_id(user_id)


def user_router_name(user_id: object) -> str:
    return USER_ROUTER_PREFIX + validate_user_id(user_id)


def user_path(user_id: object) -> str:
    """The path a user's editor lives under, always with the trailing slash."""
    return f"{USER_PATH_ROOT}{validate_user_id(user_id)}/"


def user_url(domain: str, user_id: object) -> str:
    return f"https://{validate_domain(domain)}{user_path(user_id)}"


def host_rule(domain: str, path_prefix: str | None = None) -> str:
    """A Traefik v3 rule for a host, optionally narrowed to a path prefix."""
    rule = f"Host(`{validate_domain(domain)}`)"
    if path_prefix:
        rule += f" && PathPrefix(`{validate_path_prefix(path_prefix)}`)"
    return rule


def editors_fallback_labels(domain: str, port: int, **route: object) -> dict[str, str]:
    """A router that sends every editor path no user's router takes to the backend (a 404).

    Without it, /code/user/<missing>/ would fall through to the frontend's catch-all. Traefik
    ranks routers by rule length unless told otherwise, and a short user id's bare-path rule is
    shorter than this one, so the priority is set between the domain's own rule (the
    frontend) and the shortest user rule.
    """
    return route_labels(
        "backend-editors",
        rule=f"Host(`{validate_domain(domain)}`) && PathPrefix(`{USER_PATH_ROOT}`)",
        port=port,
        priority=len(host_rule(domain)) + 1,
        **route,
    )


def route_labels(
    name: str,
    *,
    rule: str,
    port: int,
    entrypoint: str = "websecure",
    certresolver: str | None = "letsencrypt",
    network: str = NETWORK,
    middlewares: list[str] | tuple[str, ...] = (),
    priority: int | None = None,
    service: str | None = None,
) -> dict[str, str]:
    """Docker labels that give a container one Traefik router and its service.

    Several routers may share one service: pass the same ``service`` to each call.
    """
    validate_name("router name", name)
    service = validate_name("service name", service) if service else name
    validate_name("entrypoint", entrypoint)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValidationError(f"port {port!r} is invalid: it must be an integer from 1 to 65535")
    router = f"traefik.http.routers.{name}"
    labels = {
        "traefik.enable": "true",
        "traefik.docker.network": network,
        f"{router}.rule": rule,
        f"{router}.entrypoints": entrypoint,
        f"{router}.service": service,
        f"{router}.tls": "true",
        f"traefik.http.services.{service}.loadbalancer.server.port": str(port),
    }
    if certresolver:
        labels[f"{router}.tls.certresolver"] = validate_name("certresolver", certresolver)
    if middlewares:
        labels[f"{router}.middlewares"] = ",".join(middlewares)
    if priority is not None:
        labels[f"{router}.priority"] = str(int(priority))
    return labels


def user_labels(
    user_id: object,
    domain: str,
    *,
    entrypoint: str = "websecure",
    certresolver: str | None = "letsencrypt",
    network: str = NETWORK,
    port: int = CODE_SERVER_PORT,
    auth_middleware: str | None = None,
) -> dict[str, str]:
    """The complete label set of one user's code-server container.

    The router matches ``/code/user/<id>/`` *with* the slash, so user 1's route never catches
    ``/code/user/10/``. A second router takes the bare ``/code/user/<id>`` and redirects it to
    the slash form, because code-server's relative redirects break without it. Authentication
    runs before stripprefix so that forwardAuth sees the full path.
    """
    uid = validate_user_id(user_id)
    router = user_router_name(uid)
    path = user_path(uid)
    strip = f"{router}-stripprefix"
    slash = f"{router}-slash"
    chain = ([auth_middleware] if auth_middleware else []) + [strip]
    labels = route_labels(
        router,
        rule=host_rule(domain, path),
        port=port,
        entrypoint=entrypoint,
        certresolver=certresolver,
        network=network,
        middlewares=chain,
    )
    bare = f"traefik.http.routers.{slash}"
    labels.update(
        {
            f"{bare}.rule": f"Host(`{validate_domain(domain)}`) && Path(`{path.rstrip('/')}`)",
            f"{bare}.entrypoints": entrypoint,
            f"{bare}.service": router,
            f"{bare}.tls": "true",
            f"{bare}.middlewares": slash,
            # The query string, if any, is kept: /code/user/1?folder=x -> /code/user/1/?folder=x
            f"traefik.http.middlewares.{slash}.redirectregex.regex": (
                f"^(https?://[^/]+{re.escape(path.rstrip('/'))})(\\?.*)?$"
            ),
            f"traefik.http.middlewares.{slash}.redirectregex.replacement": "${1}/${2}",
            f"traefik.http.middlewares.{slash}.redirectregex.permanent": "false",
            f"traefik.http.middlewares.{strip}.stripprefix.prefixes": path.rstrip("/"),
            MANAGED_LABEL: "true",
            USER_LABEL: uid,
        }
    )
    if certresolver:
        labels[f"{bare}.tls.certresolver"] = certresolver
    return labels
