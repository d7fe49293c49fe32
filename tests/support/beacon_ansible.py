"""Run the project's playbooks and modules the way an operator does, and read their results."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
BIN = PROJECT / ".venv" / "bin"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return env


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def recap(self) -> dict:
        """changed/failed counts from the PLAY RECAP line."""
        for line in self.stdout.splitlines():
            if line.startswith("localhost") and "ok=" in line:
                return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}
        return {}


def playbook(name: str, *extra: str, check: bool = False) -> Run:
    cmd = [str(BIN / "ansible-playbook"), f"playbooks/{name}", *extra] + (["--check"] if check else [])
    done = subprocess.run(cmd, cwd=PROJECT, env=_env(), capture_output=True, text=True, timeout=600)
    return Run(done.returncode, done.stdout, done.stderr)


def module(name: str, args: dict, *, check: bool = False, diff: bool = False) -> dict:
    """Run one module on localhost and return its result (with 'failed' and 'msg' on failure)."""
    env = _env() | {
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }
    cmd = [str(BIN / "ansible"), "localhost", "-m", name, "-a", json.dumps(args)]
    cmd += (["--check"] if check else []) + (["--diff"] if diff else [])
    done = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
    # Other callbacks (profile_tasks) may print around the JSON document.
    start = done.stdout.find("\n{")
    try:
        report, _ = json.JSONDecoder().raw_decode(done.stdout[start + 1 if start >= 0 else 0 :])
    except json.JSONDecodeError as exc:
        raise AssertionError(f"no JSON from ansible (rc={done.returncode}): {done.stdout}\n{done.stderr}") from exc
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]
