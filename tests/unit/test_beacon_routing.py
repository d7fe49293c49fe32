"""Unit tests of module_utils/beacon_routing.py: names, validation and Traefik labels."""

from __future__ import annotations

import re

import beacon_routing as routing
import pytest
from beacon_routing import ValidationError

DOMAIN = "shlinx.test"


def router_key(name: str, field: str) -> str:
    return f"traefik.http.routers.{name}.{field}"


def path_prefix_of(rule: str) -> str:
    match = re.search(r"PathPrefix\(`([^`]*)`\)", rule)
    assert match, rule
    return match.group(1)


def go_replacement(replacement: str) -> str:
    """Translate a Go regexp replacement (``${1}``) to Python's syntax (``\\g<1>``)."""
    return re.sub(r"\$\{(\d+)\}", r"\\g<\1>", replacement)


# --- validate_user_id -------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["1", "42", "alice", "a-b", "a" * 63, "0", "a1-b2-c3"])
def test_validate_user_id_accepts(user_id):
    assert routing.validate_user_id(user_id) == user_id


@pytest.mark.parametrize(("user_id", "expected"), [(7, "7"), (0, "0"), (123456, "123456")])
def test_validate_user_id_turns_ints_into_strings(user_id, expected):
    assert routing.validate_user_id(user_id) == expected


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        "A",
        "Alice",
        "a b",
        "a`b",
        "1 && 2",
        "../2",
        "1/",
        "-a",
        "a-",
        "a" * 64,
        "a" * 200,
        None,
        True,
        False,
        "a_b",
        "ü",
        "1.0",
        "1\n",
        "\n1",
        -1,
        1.0,
        ["1"],
    ],
    ids=repr,
)
def test_validate_user_id_rejects_and_names_the_rule(user_id):
    with pytest.raises(ValidationError) as excinfo:
        routing.validate_user_id(user_id)
    message = str(excinfo.value)
    assert "lower-case" in message
    assert routing.USER_ID_PATTERN in message


def test_validate_user_id_error_is_a_value_error():
    with pytest.raises(ValueError):
        routing.validate_user_id("Bad")


def test_validate_user_id_error_message_is_bounded():
    with pytest.raises(ValidationError) as excinfo:
        routing.validate_user_id("x" * 10_000)
    assert len(str(excinfo.value)) < 400


# --- validate_domain --------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    [
        "shlinx.com",
        "shlinx.test",
        "a.b.c.example",
        "x-1.example.org",
        "a.b",
        "1a.example",
    ],
)
def test_validate_domain_accepts(domain):
    assert routing.validate_domain(domain) == domain


@pytest.mark.parametrize(
    "domain",
    [
        "Shlinx.com",
        "shlinx",
        "http://shlinx.com",
        "https://shlinx.com/",
        "shlinx.com:443",
        "shlinx.com/x",
        "*.shlinx.com",
        "a..b",
        ".shlinx.com",
        "shlinx.com.",
        "",
        "1.2.3.4",
        "127.0.0.1",
        "shlinx`.com",
        "shlinx.com`) || Host(`evil.com",
        "-a.com",
        "a-.com",
        "a.com-",
        "shlinx.com\n",
        "shlinx com",
        "a" * 64 + ".com",
        None,
        42,
    ],
    ids=repr,
)
def test_validate_domain_rejects(domain):
    with pytest.raises(ValidationError) as excinfo:
        routing.validate_domain(domain)
    assert "lower-case DNS name" in str(excinfo.value)


def test_validate_domain_rejects_names_over_253_characters():
    label = "a" * 63
    long_name = ".".join([label, label, label, "b" * 61, "com"])  # 63*3 + 61 + 3 + 4 dots = 257
    assert len(long_name) > 253
    with pytest.raises(ValidationError):
        routing.validate_domain(long_name)
    fits = ".".join([label, label, label, "b" * 57, "com"])
    assert len(fits) == 253
    assert routing.validate_domain(fits) == fits


# --- validate_image ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "traefik:v3.6.15",
        "traefik",
        "codercom/code-server:4.100.3",
        "beacon/frontend:local",
        "beacon/code-server-standin:local",
        "registry.example:5000/a/b:tag",
        "registry.example/a/b",
        "localhost:5000/a:b",
        "localhost/a",
        "ghcr.io/org/some_image:1.0-rc1",
        "codercom/code-server@sha256:" + "a" * 64,
        "codercom/code-server:4.100.3@sha256:" + "0123456789abcdef" * 4,
    ],
)
def test_validate_image_accepts(image):
    assert routing.validate_image(image) == image


@pytest.mark.parametrize(
    "image",
    [
        "bad image",
        "UPPER/case",
        "Upper",
        "beacon/Frontend:local",
        "",
        "a;rm -rf",
        "a;rm -rf /",
        "a:b;c",
        "a:$(id)",
        "a`id`",
        "a:b\n",
        "/a",
        "a/",
        "a:",
        "a@sha256:abc",
        "a@sha256:" + "A" * 64,
        "a:" + "t" * 129,
        "a" * 256,
        None,
        1,
    ],
    ids=repr,
)
def test_validate_image_rejects(image):
    with pytest.raises(ValidationError) as excinfo:
        routing.validate_image(image)
    assert "Docker image reference" in str(excinfo.value)


# --- validate_name / validate_path_prefix / host_rule -----------------------------------


@pytest.mark.parametrize("name", ["websecure", "code-user-1", "a_b", "A1", "x" * 63])
def test_validate_name_accepts(name):
    assert routing.validate_name("router name", name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a.b", "a b", "a`b", "-a", "_a", "x" * 64, "a@file", "a,b", "a\n", None],
    ids=repr,
)
def test_validate_name_rejects_and_says_which_kind(name):
    with pytest.raises(ValidationError) as excinfo:
        routing.validate_name("entrypoint", name)
    assert str(excinfo.value).startswith("entrypoint ")


@pytest.mark.parametrize("path", ["/", "/api/", "/code/user/1/", "/a.b/c_d/~e-f/"])
def test_validate_path_prefix_accepts(path):
    assert routing.validate_path_prefix(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "api/",
        "/a/../b/",
        "/../",
        "/a b/",
        "",
        "//",
        "/a//b/",
        "/a`b/",
        "/api/\n",
        None,
    ],
    ids=repr,
)
def test_validate_path_prefix_rejects(path):
    with pytest.raises(ValidationError) as excinfo:
        routing.validate_path_prefix(path)
    assert "path prefix" in str(excinfo.value)


def test_host_rule_without_path():
    assert routing.host_rule("shlinx.com") == "Host(`shlinx.com`)"


def test_host_rule_with_path_prefix():
    assert routing.host_rule("shlinx.com", "/api/") == "Host(`shlinx.com`) && PathPrefix(`/api/`)"


@pytest.mark.parametrize("empty", [None, ""])
def test_host_rule_with_empty_path_is_host_only(empty):
    assert routing.host_rule(DOMAIN, empty) == f"Host(`{DOMAIN}`)"


@pytest.mark.parametrize(
    ("domain", "path"),
    [("Shlinx.com", None), ("shlinx.com", "/api"), ("a`b.com", "/x/")],
)
def test_host_rule_validates_its_inputs(domain, path):
    with pytest.raises(ValidationError):
        routing.host_rule(domain, path)


# --- names ------------------------------------------------------------------------------


def test_user_names():
    assert routing.user_container_name("1") == "code-server-user-1"
    assert routing.user_volume_name("1") == "code-server-user-1-data"
    assert routing.user_router_name("1") == "code-user-1"
    assert routing.user_path("1") == "/code/user/1/"
    assert routing.user_url(DOMAIN, "1") == "https://shlinx.test/code/user/1/"


def test_user_names_accept_int_ids():
    assert routing.user_container_name(7) == "code-server-user-7"
    assert routing.user_volume_name(7) == "code-server-user-7-data"
    assert routing.user_router_name(7) == "code-user-7"


@pytest.mark.parametrize(
    "func",
    [
        routing.user_container_name,
        routing.user_volume_name,
        routing.user_router_name,
        routing.user_path,
    ],
)
@pytest.mark.parametrize("bad", ["../2", "A", "", None, True])
def test_user_names_reject_bad_ids(func, bad):
    with pytest.raises(ValidationError):
        func(bad)


def test_user_url_rejects_bad_domain():
    with pytest.raises(ValidationError):
        routing.user_url("shlinx.com:443", "1")


# --- route_labels -----------------------------------------------------------------------


def test_route_labels_defaults():
    labels = routing.route_labels("frontend", rule="Host(`shlinx.test`)", port=80)
    assert labels == {
        "traefik.enable": "true",
        "traefik.docker.network": "beacon-network",
        "traefik.http.routers.frontend.rule": "Host(`shlinx.test`)",
        "traefik.http.routers.frontend.entrypoints": "websecure",
        "traefik.http.routers.frontend.service": "frontend",
        "traefik.http.routers.frontend.tls": "true",
        "traefik.http.routers.frontend.tls.certresolver": "letsencrypt",
        "traefik.http.services.frontend.loadbalancer.server.port": "80",
    }
    assert all(isinstance(value, str) for value in labels.values())


def test_route_labels_options():
    labels = routing.route_labels(
        "api",
        rule="Host(`shlinx.test`) && PathPrefix(`/api/`)",
        port=8000,
        entrypoint="web",
        certresolver=None,
        network="other-net",
        middlewares=["auth", "strip"],
        priority=100,
    )
    assert labels["traefik.http.routers.api.entrypoints"] == "web"
    assert labels["traefik.docker.network"] == "other-net"
    assert labels["traefik.http.routers.api.middlewares"] == "auth,strip"
    assert labels["traefik.http.routers.api.priority"] == "100"
    assert labels["traefik.http.services.api.loadbalancer.server.port"] == "8000"
    assert not any("certresolver" in key for key in labels)


@pytest.mark.parametrize("port", [1, 443, 65535])
def test_route_labels_accepts_ports(port):
    labels = routing.route_labels("r", rule="Host(`a.b`)", port=port)
    assert labels["traefik.http.services.r.loadbalancer.server.port"] == str(port)


@pytest.mark.parametrize("port", [0, -1, 65536, 70000, "80", True, False, 80.0, None], ids=repr)
def test_route_labels_rejects_bad_port(port):
    with pytest.raises(ValidationError) as excinfo:
        routing.route_labels("r", rule="Host(`a.b`)", port=port)
    assert "port" in str(excinfo.value)


@pytest.mark.parametrize("name", ["a.b", "a b", "a`b", "", "code.user.1", "x" * 64], ids=repr)
def test_route_labels_rejects_bad_router_name(name):
    with pytest.raises(ValidationError) as excinfo:
        routing.route_labels(name, rule="Host(`a.b`)", port=80)
    assert "router name" in str(excinfo.value)


@pytest.mark.parametrize("entrypoint", ["web secure", "a.b", ""])
def test_route_labels_rejects_bad_entrypoint(entrypoint):
    with pytest.raises(ValidationError, match="entrypoint"):
        routing.route_labels("r", rule="Host(`a.b`)", port=80, entrypoint=entrypoint)


@pytest.mark.parametrize("resolver", ["le.staging", "le resolver", "a`b"])
def test_route_labels_rejects_bad_certresolver(resolver):
    with pytest.raises(ValidationError, match="certresolver"):
        routing.route_labels("r", rule="Host(`a.b`)", port=80, certresolver=resolver)


# --- user_labels ------------------------------------------------------------------------


@pytest.fixture
def labels_1():
    return routing.user_labels("1", DOMAIN)


def test_user_labels_main_router_rule_has_trailing_slash(labels_1):
    assert labels_1[router_key("code-user-1", "rule")] == "Host(`shlinx.test`) && PathPrefix(`/code/user/1/`)"


def test_user_labels_bare_path_router(labels_1):
    assert labels_1[router_key("code-user-1-slash", "rule")] == "Host(`shlinx.test`) && Path(`/code/user/1`)"
    assert labels_1[router_key("code-user-1-slash", "entrypoints")] == "websecure"
    assert labels_1[router_key("code-user-1-slash", "service")] == "code-user-1"
    assert labels_1[router_key("code-user-1-slash", "tls")] == "true"
    assert labels_1[router_key("code-user-1-slash", "tls.certresolver")] == "letsencrypt"
    assert labels_1[router_key("code-user-1-slash", "middlewares")] == "code-user-1-slash"


def test_user_labels_redirect_regex_only_matches_the_bare_path(labels_1):
    prefix = "traefik.http.middlewares.code-user-1-slash.redirectregex"
    regex = re.compile(labels_1[f"{prefix}.regex"])
    assert regex.search("https://shlinx.test/code/user/1")
    assert regex.search("http://shlinx.test/code/user/1")
    assert not regex.search("https://shlinx.test/code/user/10")
    assert not regex.search("https://shlinx.test/code/user/1/")
    assert not regex.search("https://shlinx.test/code/user/1/x")
    assert not regex.search("https://shlinx.test/x/code/user/1")
    assert labels_1[f"{prefix}.permanent"] == "false"


def test_user_labels_redirect_adds_the_slash(labels_1):
    prefix = "traefik.http.middlewares.code-user-1-slash.redirectregex"
    regex = labels_1[f"{prefix}.regex"]
    replacement = go_replacement(labels_1[f"{prefix}.replacement"])
    url = "https://shlinx.test/code/user/1"
    assert re.sub(regex, replacement, url) == "https://shlinx.test/code/user/1/"


def test_user_labels_redirect_regex_escapes_hyphenated_ids():
    labels = routing.user_labels("a-b", DOMAIN)
    regex = re.compile(labels["traefik.http.middlewares.code-user-a-b-slash.redirectregex.regex"])
    assert regex.search("https://shlinx.test/code/user/a-b")
    assert not regex.search("https://shlinx.test/code/user/a-bc")
    assert not regex.search("https://shlinx.test/code/user/a")


def test_user_labels_stripprefix(labels_1):
    assert labels_1["traefik.http.middlewares.code-user-1-stripprefix.stripprefix.prefixes"] == "/code/user/1"


def test_user_labels_service_entrypoint_tls_network(labels_1):
    assert labels_1["traefik.enable"] == "true"
    assert labels_1["traefik.http.services.code-user-1.loadbalancer.server.port"] == "8080"
    assert labels_1[router_key("code-user-1", "service")] == "code-user-1"
    assert labels_1[router_key("code-user-1", "entrypoints")] == "websecure"
    assert labels_1[router_key("code-user-1", "tls")] == "true"
    assert labels_1[router_key("code-user-1", "tls.certresolver")] == "letsencrypt"
    assert labels_1["traefik.docker.network"] == "beacon-network"


def test_user_labels_managed_and_user_labels(labels_1):
    assert labels_1["org.beacon.managed"] == "true"
    assert labels_1["org.beacon.user"] == "1"


def test_user_labels_int_id_is_a_string_label():
    labels = routing.user_labels(7, DOMAIN)
    assert labels["org.beacon.user"] == "7"
    assert labels[router_key("code-user-7", "rule")] == "Host(`shlinx.test`) && PathPrefix(`/code/user/7/`)"


def test_user_labels_are_all_strings(labels_1):
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in labels_1.items())


def test_user_labels_without_auth_only_strip(labels_1):
    assert labels_1[router_key("code-user-1", "middlewares")] == "code-user-1-stripprefix"


def test_user_labels_auth_runs_before_stripprefix():
    labels = routing.user_labels("1", DOMAIN, auth_middleware="beacon-auth")
    chain = labels[router_key("code-user-1", "middlewares")].split(",")
    assert chain == ["beacon-auth", "code-user-1-stripprefix"]
    assert chain.index("beacon-auth") < chain.index("code-user-1-stripprefix")


def test_user_labels_without_certresolver():
    labels = routing.user_labels("1", DOMAIN, certresolver=None)
    assert not any("certresolver" in key for key in labels)
    assert labels[router_key("code-user-1", "tls")] == "true"
    assert labels[router_key("code-user-1-slash", "tls")] == "true"


def test_user_labels_options():
    labels = routing.user_labels(
        "alice",
        "shlinx.com",
        entrypoint="web",
        certresolver="acme",
        network="n1",
        port=9000,
    )
    assert labels[router_key("code-user-alice", "entrypoints")] == "web"
    assert labels[router_key("code-user-alice-slash", "entrypoints")] == "web"
    assert labels[router_key("code-user-alice", "tls.certresolver")] == "acme"
    assert labels[router_key("code-user-alice-slash", "tls.certresolver")] == "acme"
    assert labels["traefik.docker.network"] == "n1"
    assert labels["traefik.http.services.code-user-alice.loadbalancer.server.port"] == "9000"
    assert labels[router_key("code-user-alice", "rule")] == "Host(`shlinx.com`) && PathPrefix(`/code/user/alice/`)"


def test_user_1_route_never_catches_user_10():
    prefix_1 = path_prefix_of(routing.user_labels("1", DOMAIN)[router_key("code-user-1", "rule")])
    prefix_10 = path_prefix_of(routing.user_labels("10", DOMAIN)[router_key("code-user-10", "rule")])
    assert prefix_1 == "/code/user/1/"
    assert prefix_10 == "/code/user/10/"
    assert "/code/user/10/".startswith(prefix_1) is False
    assert "/code/user/10/x".startswith(prefix_1) is False
    assert "/code/user/1/".startswith(prefix_10) is False
    assert "/code/user/1/x".startswith(prefix_1)


@pytest.mark.parametrize(("one", "other"), [("1", "10"), ("1", "11"), ("a", "a-b"), ("ab", "abc")])
def test_user_routes_are_disjoint(one, other):
    labels_one = routing.user_labels(one, DOMAIN)
    labels_other = routing.user_labels(other, DOMAIN)
    prefix_one = path_prefix_of(labels_one[router_key(f"code-user-{one}", "rule")])
    prefix_other = path_prefix_of(labels_other[router_key(f"code-user-{other}", "rule")])
    assert not prefix_other.startswith(prefix_one)
    assert not prefix_one.startswith(prefix_other)
    regex_one = labels_one[f"traefik.http.middlewares.code-user-{one}-slash.redirectregex.regex"]
    assert not re.search(regex_one, f"https://{DOMAIN}/code/user/{other}")


def test_two_users_share_no_router_or_middleware_keys():
    keys_1 = {key for key in routing.user_labels("1", DOMAIN) if key.startswith("traefik.http.")}
    keys_10 = {key for key in routing.user_labels("10", DOMAIN) if key.startswith("traefik.http.")}
    assert keys_1.isdisjoint(keys_10)


@pytest.mark.parametrize(
    ("user_id", "domain"),
    [
        ("../2", DOMAIN),
        ("1 && 2", DOMAIN),
        ("A", DOMAIN),
        ("1", "Shlinx.test"),
        ("1", "shlinx.test`)"),
    ],
)
def test_user_labels_validate_inputs(user_id, domain):
    with pytest.raises(ValidationError):
        routing.user_labels(user_id, domain)


@pytest.mark.parametrize("port", [0, 70000, "8080", True])
def test_user_labels_reject_bad_port(port):
    with pytest.raises(ValidationError, match="port"):
        routing.user_labels("1", DOMAIN, port=port)
