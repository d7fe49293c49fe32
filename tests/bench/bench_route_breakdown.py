"""Where a new route's time goes, with 0 and with 500 other containers on the host.

For each sample: module_utils' create+start of a user's container, then the time from start to
the first HTTPS 200 through Traefik, then one list-and-inspect of every running container
through the Docker API (what Traefik's Docker provider does on every event).
Run after `make up`: .venv/bin/python tests/bench/bench_route_breakdown.py
Everything created carries beacon-bench-run=<id> and is removed at the end, even on failure.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "module_utils"))
sys.path.insert(0, str(PROJECT / "tests" / "support"))

import beacon_http  # noqa: E402
import beacon_traefik  # noqa: E402
import beacon_users  # noqa: E402

RUN = secrets.token_hex(3)
CA_FILE = str(PROJECT / ".local" / "acme-root.pem")


def spec(user_id: str) -> beacon_users.UserSpec:
    return beacon_users.UserSpec(
        user_id=user_id,
        image="beacon/code-server-standin:local",
        domain="shlinx.test",
        memory="256m",
        extra_labels={"beacon-bench-run": RUN},
    ).validated("present")


def sample(manager: beacon_users.UserManager, client: docker.DockerClient, tag: str, count: int = 7) -> None:
    create, route, inspect_all = [], [], []
    for i in range(count):
        user = spec(f"k{RUN}{tag}{i}")
        started = time.monotonic()
        manager.ensure(user, "present")
        running = time.monotonic()
        while beacon_http.get(f"/code/user/{user.user_id}/", domain="shlinx.test", ca_file=CA_FILE).status != 200:
            time.sleep(0.01)
        routed = time.monotonic()
        for container_id in [c["Id"] for c in client.api.containers()]:
            client.api.inspect_container(container_id)
        inspected = time.monotonic()
        create.append(running - started)
        route.append(routed - running)
        inspect_all.append(inspected - routed)
        manager.ensure(user, "absent", purge=True)
    print(
        f"{tag}: {len(client.api.containers())} containers running; create+start p50 {statistics.median(create):.2f} s;"
        f" start to HTTPS 200 p50 {statistics.median(route):.2f} s;"
        f" list+inspect all p50 {statistics.median(inspect_all):.2f} s",
        flush=True,
    )


def main() -> None:
    password = (PROJECT / ".local" / "traefik-dashboard-password").read_text().strip()
    client = docker.from_env(max_pool_size=16)
    api = beacon_traefik.TraefikAPI("http://127.0.0.1:8081", "admin", password)
    manager = beacon_users.UserManager(client, traefik=api, parallel=8)
    try:
        sample(manager, client, "zero")
        manager.ensure_many([spec(f"g{RUN}x{i}") for i in range(500)], "present")
        sample(manager, client, "fivehundred")
    finally:
        leftovers = client.containers.list(all=True, filters={"label": f"beacon-bench-run={RUN}"})
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.remove(force=True), leftovers))
        for volume in client.volumes.list(filters={"label": "org.beacon.user"}):
            if RUN in volume.name:
                volume.remove(force=True)
        for network in client.networks.list(filters={"label": "org.beacon.user"}):
            if RUN in network.name:
                network.disconnect("beacon-traefik", force=True)
                network.remove()


if __name__ == "__main__":
    main()
