"""The deployed stack, checked from outside the way a user would notice it."""

from __future__ import annotations

import json
import ssl

import beacon_http
import pytest
from conftest import DOMAIN

SERVICES = ["beacon-traefik", "beacon-pebble", "beacon-frontend", "beacon-backend"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_and_is_healthy(host, name):
    container = host.docker(name)
    assert container.is_running
    assert container.inspect()["State"]["Health"]["Status"] == "healthy"


def test_only_traefik_publishes_host_ports(host):
    names = host.check_output("docker ps --format '{{.Names}}'").split()
    published = {}
    for name in names:
        bindings = host.docker(name).inspect()["HostConfig"]["PortBindings"] or {}
        if any(bindings.values()):
            published[name] = sorted(bindings)
    assert published == {"beacon-traefik": ["443/tcp", "80/tcp", "8080/tcp"]}


def test_dashboard_port_is_published_on_loopback_only(host):
    bindings = host.docker("beacon-traefik").inspect()["HostConfig"]["PortBindings"]["8080/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]


def test_frontend_is_served_with_a_pebble_certificate(acme_root):
    response = beacon_http.get("/", domain=DOMAIN, ca_file=acme_root)
    assert response.status == 200
    assert b"<title>Beacon" in response.body
    assert "Pebble Intermediate CA" in response.issuer
    assert ("commonName", DOMAIN) in [pair for rdn in response.peer_cert["subject"] for pair in rdn]


def test_certificate_is_not_trusted_without_the_acme_root():
    with pytest.raises(ssl.SSLCertVerificationError):
        beacon_http.get("/", domain=DOMAIN, ca_file=None)


def test_api_health_answers_json(acme_root):
    response = beacon_http.get("/api/health", domain=DOMAIN, ca_file=acme_root)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "ok"


def test_unknown_api_path_reaches_the_backend_not_the_frontend(acme_root):
    response = beacon_http.get("/api/no-such-thing", domain=DOMAIN, ca_file=acme_root)
    assert response.status == 404
    assert response.json()["error"] == "not found"


@pytest.mark.parametrize("path", ["/", "/api/health", "/code/user/1/"])
def test_http_redirects_to_https(path):
    response = beacon_http.get(path, domain=DOMAIN, scheme="http")
    assert response.status in (301, 308)
    assert response.headers["location"] == f"https://{DOMAIN}{path}"


def test_responses_carry_security_headers(acme_root):
    headers = beacon_http.get("/", domain=DOMAIN, ca_file=acme_root).headers
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/api/http/routers", "/dashboard/", "/metrics"])
def test_dashboard_api_and_metrics_need_credentials(path, dashboard_auth):
    anonymous = beacon_http.get(path, domain="127.0.0.1", scheme="http", port=8081)
    wrong = beacon_http.get(path, domain="127.0.0.1", scheme="http", port=8081, basic_auth=("admin", "wrong"))
    right = beacon_http.get(path, domain="127.0.0.1", scheme="http", port=8081, basic_auth=dashboard_auth)
    assert (anonymous.status, wrong.status, right.status) == (401, 401, 200)


def test_dashboard_api_lists_the_routers(dashboard_auth):
    response = beacon_http.get(
        "/api/http/routers", domain="127.0.0.1", scheme="http", port=8081, basic_auth=dashboard_auth
    )
    routers = {r["name"]: r for r in response.json()}
    for name in ("frontend@docker", "backend@docker"):
        assert routers[name]["status"] == "enabled"
        assert routers[name]["tls"]["certResolver"] == "letsencrypt"


def test_dashboard_is_not_reachable_through_the_public_entrypoints(acme_root):
    # /api/ on the public host belongs to the backend, never to Traefik's own API.
    response = beacon_http.get("/api/http/routers", domain=DOMAIN, ca_file=acme_root)
    assert response.status == 404
    assert "error" in json.loads(response.body)


def test_acme_store_has_mode_0600(host):
    mountpoint = host.check_output("docker volume inspect --format '{{.Mountpoint}}' traefik-certs")
    store = host.file(f"{mountpoint}/acme.json")
    assert store.exists
    assert store.mode == 0o600
    assert DOMAIN in store.content_string


def test_traefik_never_runs_the_insecure_api(host, project):
    static = host.file("/opt/beacon/traefik/traefik.yml").content_string
    assert "insecure" not in static
