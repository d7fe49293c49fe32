"""Remove what a test run created on the real engine, even after a failure."""

from __future__ import annotations

TEST_LABEL = "beacon-test-run"


def remove_test_users(client, run: str, id_marks: tuple[str, ...]) -> None:
    """Containers labelled with this run, then the volumes and networks of users whose ids carry
    one of ``id_marks`` (the module labels those with the user id, not the test run)."""
    for container in client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={run}"}):
        container.remove(force=True)
    for volume in client.volumes.list(filters={"label": "org.beacon.user"}):
        if any(volume.name.startswith(f"code-server-user-{mark}") for mark in id_marks):
            volume.remove(force=True)
    for network in client.networks.list(filters={"label": "org.beacon.user"}):
        if any(network.name.startswith(f"beacon-user-{mark}") for mark in id_marks):
            network.disconnect("beacon-traefik", force=True)
            network.remove()
