# Copyright (c) 2026 Beacon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters that hand the roles' templates the names, labels and rules of module_utils.

Controller-side plugins cannot import a playbook project's module_utils by package name, so
the one source of truth is loaded from its file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

_MODULE_UTILS = Path(__file__).resolve().parent.parent / "module_utils"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _MODULE_UTILS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


routing = _load("beacon_routing")
auth = _load("beacon_auth")


def password_hash_for(password: str, user_id: str) -> str:
    """PBKDF2 hash with a salt derived from user and password, so redeploys change nothing."""
    return auth.hash_password(password, auth.stable_salt(str(user_id), password))


def _wrap(func):
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (routing.ValidationError, auth.ValidationError) as exc:
            raise AnsibleFilterError(str(exc)) from exc

    call.__name__ = func.__name__
    call.__doc__ = func.__doc__
    return call


class FilterModule:
    def filters(self):
        return {
            "beacon_host_rule": _wrap(routing.host_rule),
            "beacon_editors_fallback_labels": _wrap(routing.editors_fallback_labels),
            "beacon_route_labels": _wrap(routing.route_labels),
            "beacon_user_id_of_container": _wrap(routing.user_id_of_container),
            "beacon_password_hash": _wrap(password_hash_for),
        }
