"""A stand-in `terragrunt` executable for tests: put on PATH, it behaves like Terragrunt 0.90+ over OpenTofu
closely enough for the pipeline to be tested end to end, without AWS.

It accepts only the new CLI (`run --non-interactive --working-dir DIR --log-format bare -- <tofu args>`;
`run-all` and `--terragrunt-*` flags fail as they do in 0.90+), records every call (working directory,
arguments, the unit relative to the directory holding root.hcl, order) in `calls.jsonl`, keeps a state
per unit (applied resources and the hash of the terragrunt.hcl applied), prints plans as tofu prints
them and `show -json` as tofu does, refuses to apply a unit whose `dependency` has not been applied
(no outputs yet), and fails or replaces on demand (`control.json`). Test support only.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCRIPT = r'''
import hashlib, json, os, re, sys
from pathlib import Path

home = Path(os.environ["STANDIN_DIR"])
argv = sys.argv[1:]

def out(text): sys.stdout.write(text + "\n")
def err(text): sys.stderr.write(text + "\n")

if not argv or argv[0] != "run" or "--" not in argv or any(a.startswith("--terragrunt-") for a in argv):
    err("ERROR: flag provided but not defined (this stand-in speaks the Terragrunt 0.90+ CLI only)")
    sys.exit(2)
own, tofu = argv[1:argv.index("--")], argv[argv.index("--") + 1:]
if "--non-interactive" not in own or "--working-dir" not in own:
    err("ERROR: expected --non-interactive and --working-dir")
    sys.exit(2)
workdir = Path(own[own.index("--working-dir") + 1]).resolve()
root = next((p for p in [workdir, *workdir.parents] if (p / "root.hcl").exists()), None)
if root is None or not (workdir / "terragrunt.hcl").exists():
    err(f"ERROR: {workdir} is not a terragrunt unit (no terragrunt.hcl under a root.hcl)")
    sys.exit(1)
unit = workdir.relative_to(root).as_posix()
text = (workdir / "terragrunt.hcl").read_text()
command = tofu[0]
commit = ""
dot_git = root / ".git"
if dot_git.is_file():  # a git worktree: .git names its private dir, whose HEAD holds the detached commit
    private = Path(dot_git.read_text().split(":", 1)[1].strip())
    commit = (private / "HEAD").read_text().strip()
with open(home / "calls.jsonl", "a") as fh:
    fh.write(json.dumps({"cwd": os.getcwd(), "working_dir": str(workdir), "tree": str(root), "unit": unit,
                         "commit": commit,
                         "command": command, "destroy": "-destroy" in tofu, "args": argv}) + "\n")

control_path = home / "control.json"
control = json.loads(control_path.read_text()) if control_path.exists() else {}
state_path = home / "state.json"
state = json.loads(state_path.read_text()) if state_path.exists() else {}
component = unit.rsplit("/", 1)[-1].replace("-", "_")
resources = [f"aws_{component}.this"] + ([f"aws_{component}_policy.this"] if len(component) % 2 else [])
digest = hashlib.sha256(text.encode()).hexdigest()

def failing(verb):
    for rule in control.get("fail", []):
        if rule["unit"] in unit and rule.get("command", "*") in (verb, "*") and rule.get("times", 1) != 0:
            if rule.get("times", -1) > 0:
                rule["times"] -= 1
                control_path.write_text(json.dumps(control))
            return rule.get("message", f"creating {resources[0]}: AccessDenied: not authorized")
    return None

def actions(destroying):
    if destroying:
        return [(r, ["delete"]) for r in state.get(unit, {}).get("resources", [])]
    if any(p in unit for p in control.get("replace", [])):  # e.g. a name taken by something to be replaced
        return [(resources[0], ["delete", "create"])] + [(r, ["no-op"] if unit in state else ["create"])
                                                         for r in resources[1:]]
    if unit not in state:
        return [(r, ["create"]) for r in resources]
    if state[unit]["hash"] != digest:
        return [(resources[0], ["update"])] + [(r, ["no-op"]) for r in resources[1:]]
    return [(r, ["no-op"]) for r in resources]

def fail(message):
    err("")
    err(f"\u2502 Error: {message}")
    err("\u2502 ")
    err(f"\u2502   with {resources[0]},")
    err(f"\u2502   on main.tf line 1, in resource \"{resources[0].split('.')[0]}\" \"this\":")
    sys.exit(1)

if command == "show":
    plan_file = tofu[-1]
    out(Path(plan_file).read_text())
    sys.exit(0)
message = failing(command)
if message:
    fail(message)
if command == "plan":
    changes = actions("-destroy" in tofu)
    add = sum(1 for _, a in changes if "create" in a)
    change = sum(1 for _, a in changes if a == ["update"])
    gone = sum(1 for _, a in changes if "delete" in a)
    out("OpenTofu will perform the following actions:")
    for address, acts in changes:
        words = {"create": "created", "update": "updated in-place", "delete": "destroyed"}
        if acts != ["no-op"]:
            what = "replaced" if len(acts) == 2 else words[acts[0]]
            out(f"  # {address} will be {what}")
    out(f"Plan: {add} to add, {change} to change, {gone} to destroy.")
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": a, "type": a.split(".")[0], "name": "this", "change": {"actions": acts}} for a, acts in changes]}
    target = next(a.split("=", 1)[1] for a in tofu if a.startswith("-out="))
    Path(target).write_text(json.dumps(plan))
    sys.exit(0)
if command == "apply":
    deps = re.findall(r'config_path\s*=\s*"([^"]+)"', text)
    for dep in deps:
        dep_unit = os.path.normpath(os.path.join(unit, dep))
        if dep_unit not in state:
            fail(f"{dep_unit} has no outputs: apply it first (dependency of {unit})")
    changes = actions(False)
    state[unit] = {"hash": digest, "resources": resources}
    state_path.write_text(json.dumps(state, indent=1))
    add = sum(1 for _, a in changes if "create" in a)
    change = sum(1 for _, a in changes if a == ["update"])
    gone = sum(1 for _, a in changes if "delete" in a)
    out(f"Apply complete! Resources: {add} added, {change} changed, {gone} destroyed.")
    sys.exit(0)
if command == "destroy":
    gone = len(state.pop(unit, {}).get("resources", []))
    state_path.write_text(json.dumps(state, indent=1))
    out(f"Destroy complete! Resources: {gone} destroyed.")
    sys.exit(0)
err(f"stand-in terragrunt: unsupported command {command}")
sys.exit(2)
'''


@dataclass
class StandIn:
    """The stand-in's directory: its calls, its state, and what it should do next."""

    home: Path
    bin_dir: Path

    def calls(self) -> list[dict[str, Any]]:
        path = self.home / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def runs(self, command: str | None = None) -> list[tuple[str, str]]:
        """(command, unit) per call that did something (show is reading), in order; plan -destroy is 'plan-destroy'."""
        out = []
        for call in self.calls():
            name = "plan-destroy" if call["command"] == "plan" and call["destroy"] else call["command"]
            if name != "show" and (command is None or name == command):
                out.append((name, call["unit"]))
        return out

    def state(self) -> dict[str, Any]:
        path = self.home / "state.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return data

    def _control(self) -> dict[str, Any]:
        path = self.home / "control.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return data

    def fail(self, unit: str, command: str = "*", *, times: int = -1, message: str = "") -> None:
        """Fail calls of `command` in units whose path contains `unit` (`times` -1: until cleared)."""
        control = self._control()
        rule: dict[str, Any] = {"unit": unit, "command": command, "times": times}
        if message:
            rule["message"] = message
        control.setdefault("fail", []).append(rule)
        (self.home / "control.json").write_text(json.dumps(control))

    def replace(self, unit: str) -> None:
        control = self._control()
        control.setdefault("replace", []).append(unit)
        (self.home / "control.json").write_text(json.dumps(control))

    def clear(self) -> None:
        (self.home / "control.json").unlink(missing_ok=True)

    def forget_calls(self) -> None:
        (self.home / "calls.jsonl").unlink(missing_ok=True)


def install(home: Path) -> StandIn:
    """Write the executable under home/bin (run by this interpreter); put home/bin on PATH yourself."""
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "terragrunt"
    exe.write_text(f"#!{sys.executable}\n{SCRIPT}")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return StandIn(home=home, bin_dir=bin_dir)


@pytest.fixture
def terragrunt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The stand-in on PATH (first), its state under tmp_path/terragrunt."""
    standin = install(tmp_path / "terragrunt")
    monkeypatch.setenv("PATH", f"{standin.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("STANDIN_DIR", str(standin.home))
    yield standin


@pytest.fixture
def no_terragrunt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH without any terragrunt (git and python stay reachable)."""
    import shutil

    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not (Path(d) / "terragrunt").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))
    assert shutil.which("terragrunt") is None
