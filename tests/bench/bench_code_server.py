"""The real code-server against the stand-in, on the deployed local stack (`make up` first).

For each image, one user at a time: the code_server_user module call (wait=false) to the first
HTTPS 200 of the editor's page through Traefik, then the container's memory once that page has
been served (Docker's usage minus page cache). Medians and the real/stand-in ratio come from the
same run. Everything created carries beacon-bench-run=<id> and is removed, even on failure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_provisioning as bench

IMAGES = {"stand-in": "beacon/code-server-standin:local", "code-server": "beacon/code-server:local"}
# The page a browser ends on: the stand-in serves the path itself, code-server redirects to its workbench.
PAGES = {"stand-in": "", "code-server": "?folder=/home/coder"}


def memory_mib(client: docker.DockerClient, name: str) -> float:
    stats = client.api.stats(name, stream=False)["memory_stats"]
    cache = (stats.get("stats") or {}).get("cache", 0)
    return (stats["usage"] - cache) / 2**20


def samples(client: docker.DockerClient, kind: str, count: int) -> dict:
    to_200, memory = [], []
    for i in range(count):
        user = f"c{bench.RUN}{kind[0]}{i}"
        started = time.monotonic()
        bench.call_module(user_id=user, image=IMAGES[kind], memory="1g", wait=False)
        to_200.append(bench.first_https_200(f"/code/user/{user}/{PAGES[kind]}", started, timeout=60))
        memory.append(memory_mib(client, f"code-server-user-{user}"))
        bench.call_module(user_id=user, state="absent", purge=True, wait=False)
    return {"to_200_p50": statistics.median(to_200), "memory_mib_p50": statistics.median(memory), "to_200": to_200}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args()
    client = docker.from_env()
    results: dict = {"run": bench.RUN, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        for kind in IMAGES:
            print(f"{kind}: {args.samples} samples...", flush=True)
            results[kind] = samples(client, kind, args.samples)
    finally:
        bench.remove_run(client)
    out = bench.PROJECT / ".local" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"code-server-{bench.RUN}.json").write_text(json.dumps(results, indent=2))
    real, standin = results["code-server"], results["stand-in"]
    print("\n| Measure (median) | stand-in | code-server | ratio |\n|---|---|---|---|")
    for key, label, unit in (
        ("to_200_p50", "Module call to the editor page's first HTTPS 200", "s"),
        ("memory_mib_p50", "Container memory after that page", "MiB"),
    ):
        print(f"| {label} | {standin[key]:.2f} {unit} | {real[key]:.2f} {unit} | {real[key] / standin[key]:.1f} |")
    print(f"\nSaved to {out / f'code-server-{bench.RUN}.json'}")


if __name__ == "__main__":
    main()
