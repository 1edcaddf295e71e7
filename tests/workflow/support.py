"""Shared test support for the workflow: settings on a given database, specs, actors, a recording
notifier, and a forge wrapper that counts (and can block) deliveries. Also imported by `worker_proc`,
the worker the crash and concurrency tests run as a separate process."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.services import Services, build_services
from bot.workflow.api import Actor, ApprovalInfo, EnvironmentInfo, RequestInfo, ServiceInfo, StepInfo
from bot.workflow.clock import Clock
from provisioners.changeset import ChangeSet
from provisioners.forge.base import Change
from provisioners.forge.local import LocalForge
from provisioners.forge.router import StaticForgeRouter

ALICE = Actor(id="U0ALICE", name="alice", teams=["search"])
BOB = Actor(id="U0BOB", name="bob", teams=["search"])
MALLORY = Actor(id="U0MALLORY", name="mallory", teams=["payments"])
SRE = Actor(id="U0SRE", name="sre", is_sre=True)
SRE2 = Actor(id="U0SRE2", name="sre2", is_sre=True)


def spec(name: str = "ranking-api", *, team: str = "search", envs: list[str] | None = None,
         blueprint: str = "worker", **extra: Any) -> dict[str, Any]:
    """A worker-blueprint spec (no domain needed); devel only unless told otherwise."""
    environments: list[dict[str, Any]] = []
    for env in envs or ["devel"]:
        environments.append({"name": env, "ttl_hours": 48} if env.startswith("tmp-") else {"name": env})
    data: dict[str, Any] = {"name": name, "team": team, "blueprint": blueprint, "port": 8080,
                            "description": "test service", "environments": environments, "owner": "U0ALICE"}
    data.update(extra)
    return data


def settings_for(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "database_url": database_url, "forge": "local",
                              "auto_merge_local": True, "worker_lease_seconds": 120}
    values.update(overrides)
    return Settings(**values)


class CountingForge:
    """A LocalForge that records every delivery call in a file (appends are atomic across processes)
    and can stop dead after opening the change for one key, as a worker killed mid-step would (until
    `release_marker` exists, when given: a long step that ends), or kill its own process right there
    (`die_key`: a step that takes its worker down every time, as running out of memory would)."""

    def __init__(self, forge: LocalForge, log: Path | None = None, block_key: str | None = None,
                 blocked_marker: Path | None = None, fail: dict[str, Exception] | None = None,
                 release_marker: Path | None = None, die_key: str | None = None) -> None:
        self.forge = forge
        self.root = forge.root
        self.log = log
        self.block_key = block_key
        self.blocked_marker = blocked_marker
        self.release_marker = release_marker
        self.die_key = die_key
        self.fail = fail if fail is not None else {}
        self.calls: list[tuple[str, str]] = []

    def _record(self, op: str, key: str) -> None:
        self.calls.append((op, key))
        if self.log is not None:
            with open(self.log, "a") as fh:
                fh.write(json.dumps({"op": op, "key": key, "pid": os.getpid()}) + "\n")

    def open_change(self, repo: str, key: str, changeset: ChangeSet, **kwargs: Any) -> Change:
        self._record("open_change", key)
        if key in self.fail:
            raise self.fail[key]
        change = self.forge.open_change(repo, key, changeset, **kwargs)
        if key == self.die_key:
            os.kill(os.getpid(), signal.SIGKILL)
        if key == self.block_key:
            assert self.blocked_marker is not None
            self.blocked_marker.write_text(key)
            # the PR exists; this worker now "hangs" until it is killed (or released)
            while self.release_marker is None or not self.release_marker.exists():
                time.sleep(0.05)
        return change

    def get_change(self, repo: str, key: str) -> Change | None:
        return self.forge.get_change(repo, key)

    def merge_change(self, repo: str, key: str) -> Change:
        self._record("merge_change", key)
        return self.forge.merge_change(repo, key)

    def close_change(self, repo: str, key: str) -> None:
        self._record("close_change", key)
        self.forge.close_change(repo, key)

    def read_file(self, repo: str, path: str, ref: str = "main") -> str | None:
        return self.forge.read_file(repo, path, ref)

    def list_files(self, repo: str, prefix: str = "", ref: str = "main") -> list[str]:
        return self.forge.list_files(repo, prefix, ref)

    def __getattr__(self, name: str) -> Any:  # the pipeline reads (checks, runs, jobs, logs, comments) as they are
        return getattr(self.forge, name)


class Recorder:
    """A Notifier that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def request_changed(self, request: RequestInfo) -> None:
        self.events.append(("request_changed", request))

    def step_progress(self, request: RequestInfo, step: StepInfo, text: str) -> None:
        self.events.append(("step_progress", text))

    def approval_needed(self, approval: ApprovalInfo) -> None:
        self.events.append(("approval_needed", approval))

    def request_finished(self, request: RequestInfo) -> None:
        self.events.append(("request_finished", request))

    def ttl_reminder(self, service: ServiceInfo, env: EnvironmentInfo) -> None:
        self.events.append(("ttl_reminder", (service, env)))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]


def build(data_dir: Path, database_url: str, *, clock: Clock | None = None, forge: CountingForge | None = None,
          notifier: Recorder | None = None, **overrides: Any) -> Services:
    settings = settings_for(data_dir, database_url, **overrides)
    forge = forge or CountingForge(LocalForge(data_dir / "repos"))
    return build_services(settings, notifier, forges=StaticForgeRouter(forge), clock=clock, rng=random.Random(7))


def drain(services: Services, worker: str = "test-worker") -> int:
    """Run worker passes until nothing is runnable right now; returns steps run."""
    total = 0
    while (ran := services.workflow.run_pending(worker)) > 0:
        total += ran
    return total


def pulls(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every pull-request record under a local forge root, by repository directory."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(root.rglob("launchpad-pulls.json")):
        out[str(path.parent.relative_to(root))] = json.loads(path.read_text())["pulls"]
    return out


def tree(forge: LocalForge) -> dict[str, dict[str, str | None]]:
    """Every repository's files and contents on main (history is not compared)."""
    out: dict[str, dict[str, str | None]] = {}
    for git_dir in sorted(forge.root.rglob("*.git")):
        repo = str(git_dir.relative_to(forge.root))[: -len(".git")]
        out[repo] = {p: forge.read_file(repo, p) for p in forge.list_files(repo)}
    return out


def merge(forge: LocalForge, key: str) -> None:
    """Merge the pull request with this key, wherever it is (what a reviewer's click does)."""
    for repo_dir, prs in pulls(forge.root).items():
        if any(p["key"] == key for p in prs):
            forge.merge_change(repo_dir[: -len(".git")], key)
            return
    raise AssertionError(f"no pull request with key {key}")


def non_empty_tree(forge: LocalForge) -> dict[str, dict[str, str | None]]:
    """`tree`, leaving out repositories with no files (an emptied repository equals an absent one)."""
    return {repo: files for repo, files in tree(forge).items() if files}
