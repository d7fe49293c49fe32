"""Shared fixtures for the verifier: where the project and its local files are."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(PROJECT / "tests" / "support"))

DOMAIN = "shlinx.test"


@pytest.fixture(scope="session")
def project() -> Path:
    return PROJECT


@pytest.fixture(scope="session")
def acme_root() -> str:
    path = PROJECT / ".local" / "acme-root.pem"
    assert path.is_file(), f"{path} should have been written by the deploy"
    return str(path)


@pytest.fixture(scope="session")
def dashboard_auth() -> tuple[str, str]:
    return ("admin", (PROJECT / ".local" / "traefik-dashboard-password").read_text().strip())
