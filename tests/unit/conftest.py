"""Shared setup of the unit tests: load the project's pure helpers by path, not via Ansible."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = REPO_ROOT / "module_utils"
LIBRARY = REPO_ROOT / "library"

if str(MODULE_UTILS) not in sys.path:
    sys.path.insert(0, str(MODULE_UTILS))
