"""Provisioning benchmarks against the deployed local stack (`make up` first; `make bench` does).

1. Latency: from the code_server_user module call to the first HTTPS 200 through Traefik at
   /code/user/<id>/, with 0 and with 500 other users already routed. p50 and p95.
2. Bulk: 200 users in one module call, against the same 200 containers created directly with
   the Docker SDK in parallel (same labels, limits, volume, parallelism), in the same run.

The module runs in this process through its real main() (arguments patched in the way
ansible-core's own tests do), so the numbers are the module's, not Ansible's start-up.
Everything created carries the label beacon-bench-run=<id> and is removed at the end, even on
failure. Results are printed as a Markdown table and saved to .local/bench/.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ansible.module_utils
import docker
from ansible.module_utils.testing import patch_module_args

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests" / "support"))
sys.path.insert(0, str(PROJECT / "module_utils"))
ansible.module_utils.__path__.append(str(PROJECT / "module_utils"))

import beacon_http  # noqa: E402
import beacon_routing  # noqa: E402

DOMAIN = "shlinx.test"
IMAGE = "beacon/code-server-standin:local"
RUN = secrets.token_hex(3)
LABEL = "beacon-bench-run"
PASSWORD = (PROJECT / ".local" / "traefik-dashboard-password").read_text().strip()
CA_FILE = str(PROJECT / ".local" / "acme-root.pem")

_spec = importlib.util.spec_from_file_location("code_server_user", PROJECT / "library" / "code_server_user.py")
code_server_user = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(code_server_user)


def call_module(**args) -> dict:
    base = {"image": IMAGE, "domain": DOMAIN, "traefik_api_password": PASSWORD, "memory": "256m"}
    base["extra_labels"] = {LABEL: RUN}
    out = io.StringIO()
    with patch_module_args({**base, **args}), contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        code_server_user.main()
    result = json.loads(out.getvalue())
    if result.get("failed"):
        raise RuntimeError(result["msg"])
    return result


def first_https_200(path: str, started: float, timeout: float = 30) -> float:
    while time.monotonic() - started < timeout:
        try:
            if beacon_http.get(path, domain=DOMAIN, ca_file=CA_FILE, timeout=5).status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{path} not 200 within {timeout}s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_samples(prefix: str, count: int) -> dict:
    """Provision `count` users one by one; time each to its first HTTPS 200, then remove it."""
    to_200, module_wait = [], []
    for i in range(count):
        user = f"{prefix}{i}"
        started = time.monotonic()
        call_module(user_id=user, wait=False)
        to_200.append(first_https_200(f"/code/user/{user}/", started))
        call_module(user_id=user, state="absent", purge=True, wait=False)
        started = time.monotonic()
        call_module(user_id=f"{user}w", wait=True)
        module_wait.append(time.monotonic() - started)
        call_module(user_id=f"{user}w", state="absent", purge=True, wait=False)
    return {
        "p50": statistics.median(to_200),
        "p95": percentile(to_200, 0.95),
        "wait_p50": statistics.median(module_wait),
        "samples": to_200,
    }


def sdk_create(client: docker.DockerClient, user: str) -> None:
    """What the module does for one user, written directly against the SDK."""
    network = beacon_routing.user_network_name(user)
    labels = beacon_routing.user_labels(user, DOMAIN, network=network) | {LABEL: RUN}
    name = beacon_routing.user_container_name(user)
    volume = beacon_routing.user_volume_name(user)
    client.api.create_network(network, driver="bridge", labels={LABEL: RUN})
    client.api.connect_container_to_network("beacon-traefik", network)
    client.api.create_volume(name=volume, labels={LABEL: RUN})
    client.containers.run(
        IMAGE,
        ["--auth", "none"],
        name=name,
        hostname=name,
        user="1000:1000",
        labels=labels,
        network=network,
        mounts=[docker.types.Mount("/home/coder", volume)],
        mem_limit=256 * 2**20,
        memswap_limit=256 * 2**20,
        nano_cpus=10**9,
        pids_limit=512,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        restart_policy={"Name": "unless-stopped"},
        init=True,
        detach=True,
    )


def remove_run(client: docker.DockerClient, parallel: int = 8) -> None:
    containers = client.containers.list(all=True, filters={"label": f"{LABEL}={RUN}"})
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda c: c.remove(force=True), containers))
    for volume in client.volumes.list(filters={"label": f"{LABEL}={RUN}"}):
        volume.remove(force=True)
    # The module labels users' volumes and networks with their user id; every id this run
    # made contains RUN.
    for volume in client.volumes.list(filters={"label": beacon_routing.USER_LABEL}):
        if RUN in volume.name:
            volume.remove(force=True)
    networks = [
        n for n in client.networks.list() if n.name.startswith(beacon_routing.USER_NETWORK_PREFIX) and RUN in n.name
    ]
    for network in networks:
        with contextlib.suppress(docker.errors.APIError):
            network.disconnect("beacon-traefik", force=True)
        network.remove()


def bulk(client: docker.DockerClient, users: int, rounds: int) -> dict:
    sdk_times, module_times = [], []
    for r in range(rounds):
        ids = [f"b{RUN}s{r}x{i}" for i in range(users)]
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda u: sdk_create(client, u), ids))
        sdk_times.append(time.monotonic() - started)
        remove_run(client)

        ids = [{"user_id": f"b{RUN}m{r}x{i}"} for i in range(users)]
        started = time.monotonic()
        call_module(users=ids, wait=False, parallel=8)
        module_times.append(time.monotonic() - started)
        remove_run(client)
    sdk, module = statistics.median(sdk_times), statistics.median(module_times)
    return {"sdk_s": sdk, "module_s": module, "ratio": module / sdk, "sdk_all": sdk_times, "module_all": module_times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--background", type=int, default=500)
    parser.add_argument("--bulk-users", type=int, default=200)
    parser.add_argument("--bulk-rounds", type=int, default=3)
    args = parser.parse_args()
    client = docker.from_env(max_pool_size=16)
    results: dict = {"run": RUN, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        print(f"latency with 0 other users ({args.samples} samples)...", flush=True)
        results["latency_0"] = latency_samples(f"l{RUN}a", args.samples)
        print(f"routing {args.background} background users in one module call...", flush=True)
        started = time.monotonic()
        call_module(users=[{"user_id": f"g{RUN}x{i}"} for i in range(args.background)], wait=True, wait_timeout=600)
        results["background_setup_s"] = time.monotonic() - started
        print(f"latency with {args.background} other users ({args.samples} samples)...", flush=True)
        results[f"latency_{args.background}"] = latency_samples(f"l{RUN}b", args.samples)
        remove_run(client)
        print(f"bulk: {args.bulk_users} users, SDK vs module, {args.bulk_rounds} rounds...", flush=True)
        results["bulk"] = bulk(client, args.bulk_users, args.bulk_rounds)
    finally:
        remove_run(client)
    out = PROJECT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"provisioning-{RUN}.json").write_text(json.dumps(results, indent=2))
    lat0, latn, b = results["latency_0"], results[f"latency_{args.background}"], results["bulk"]
    n = args.background
    rows = [
        ("Module call to first HTTPS 200, 0 users routed", f"p50 {lat0['p50']:.2f} s, p95 {lat0['p95']:.2f} s"),
        (f"Module call to first HTTPS 200, {n} users routed", f"p50 {latn['p50']:.2f} s, p95 {latn['p95']:.2f} s"),
        (f"Module with wait=true, 0 / {n} users", f"p50 {lat0['wait_p50']:.2f} s / {latn['wait_p50']:.2f} s"),
        (f"{n} users in one bulk call, until all routed", f"{results['background_setup_s']:.1f} s"),
        (
            f"{args.bulk_users} users: bulk module vs direct SDK (median of {args.bulk_rounds})",
            f"{b['module_s']:.1f} s vs {b['sdk_s']:.1f} s, ratio {b['ratio']:.2f}",
        ),
    ]
    print("\n| Measure | Result |\n|---|---|")
    for measure, result in rows:
        print(f"| {measure} | {result} |")
    print(f"\nSaved to {out / f'provisioning-{RUN}.json'}")


if __name__ == "__main__":
    main()
