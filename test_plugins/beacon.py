# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja tests for the platform's input rules, from the same module_utils the modules use."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SOURCE = Path(__file__).resolve().parent.parent / "module_utils" / "beacon_routing.py"
_spec = importlib.util.spec_from_file_location("beacon_routing", _SOURCE)
routing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(routing)


def _passes(check):
    def test(value) -> bool:
        try:
            check(value)
        except routing.ValidationError:
            return False
        return True

    return test


class TestModule:
    def tests(self):
        return {
            "valid_beacon_domain": _passes(routing.validate_domain),
            "valid_beacon_user_id": _passes(routing.validate_user_id),
            "valid_beacon_image": _passes(routing.validate_image),
        }
