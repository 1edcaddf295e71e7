"""The image definition (Dockerfile), checked as text: no container runtime runs here (docs/deploy.md).

It must pin its base by digest, build in stages, run as a non-root user with only volumes writable,
ship git, carry the two Procfile processes as its commands and a health check that works against
LaunchPad's real probe endpoint.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.metrics import MeteredWsgi, Metrics
from bot.slack.web import HttpServer

ROOT = Path(__file__).resolve().parents[2]
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"
PINNED = re.compile(r"^[\w./-]+:(?P<tag>\d+\.\d+\.\d+[\w.-]*)@sha256:(?P<digest>[0-9a-f]{64})$")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages(text: str) -> dict[str, Stage]:
    """Dockerfile instructions grouped by stage (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            current = found.setdefault(name.strip(), Stage(base.strip(), name.strip()))
        else:
            assert current is not None, f"{keyword} before FROM"
            current.instructions.append((keyword, args))
    return found


def lineage(all_stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and every stage it is built on, nearest first."""
    chain = [all_stages[name]]
    while chain[-1].base in all_stages:
        chain.append(all_stages[chain[-1].base])
    return chain


def effective(all_stages: dict[str, Stage], name: str, keyword: str) -> str | None:
    """What an image built with `--target name` has for a keyword Docker inherits (the last one wins)."""
    for stage in lineage(all_stages, name):
        if stage.all(keyword):
            return stage.all(keyword)[-1]
    return None


@pytest.fixture(scope="module")
def dockerfile() -> dict[str, Stage]:
    return stages((ROOT / "Dockerfile").read_text())


def procfile() -> dict[str, list[str]]:
    return {name: shlex.split(cmd) for name, _, cmd in
            (line.partition(":") for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())}


def test_the_base_is_pinned_by_digest_and_an_exact_version(dockerfile: dict[str, Stage]) -> None:
    external = {s.base for s in dockerfile.values() if s.base not in dockerfile}
    assert len(external) == 1, f"one base image for every stage, got {external}"
    (base,) = external
    pinned = PINNED.match(base)
    assert pinned, f"{base} must be name:X.Y.Z-variant@sha256:<digest>"
    assert base in (ROOT / "docs" / "deploy.md").read_text(), "docs/deploy.md names the pinned base"


def test_multi_stage_and_the_runtime_carries_no_build(dockerfile: dict[str, Stage]) -> None:
    assert {"build", "runtime", "web", "worker"} <= set(dockerfile)
    assert list(dockerfile)[-1] == "web", "the default target (the last stage) is the web process"
    runtime = dockerfile["runtime"]
    assert any("--from=build /opt/launchpad" in copy for copy in runtime.all("COPY"))
    assert not any(re.search(r"pip (wheel|install)|gcc|build-essential", run) for run in runtime.all("RUN"))
    installs = " ".join(runtime.all("RUN"))
    assert re.search(r"apt-get install -y --no-install-recommends [^&]*\bgit\b", installs), "git is in the image"
    assert "rm -rf /var/lib/apt/lists/*" in installs


@pytest.mark.parametrize("target", ["web", "worker"])
def test_each_target_runs_as_a_non_root_user(dockerfile: dict[str, Stage], target: str) -> None:
    user = effective(dockerfile, target, "USER")
    assert user is not None
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or int(gid) > 0), "numeric (runAsNonRoot can check it)"
    assert f"--uid {uid}" in " ".join(dockerfile["runtime"].all("RUN"))


def test_writable_paths_are_volumes_for_a_read_only_root(dockerfile: dict[str, Stage]) -> None:
    runtime = dockerfile["runtime"]
    volumes = set(json.loads(runtime.all("VOLUME")[-1]))
    env = " ".join(runtime.all("ENV"))
    data_dir = re.search(r"LAUNCHPAD_DATA_DIR=(\S+)", env)
    assert data_dir and data_dir.group(1) in volumes
    assert "/tmp" in volumes and "TMPDIR=/tmp" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(dockerfile["base"].all("ENV"))


@pytest.mark.parametrize("process", ["web", "worker"])
def test_the_procfile_processes_are_the_image_commands(dockerfile: dict[str, Stage], process: str) -> None:
    entrypoint = json.loads(effective(dockerfile, process, "ENTRYPOINT") or "[]")
    cmd = json.loads(effective(dockerfile, process, "CMD") or "[]")
    assert entrypoint + cmd == procfile()[process]


def test_the_health_check_is_declared_and_copied(dockerfile: dict[str, Stage]) -> None:
    check = effective(dockerfile, "web", "HEALTHCHECK")
    assert check is not None and "CMD" in check
    command = json.loads(check.split(" CMD ", 1)[1])
    assert command[-1] == "/opt/launchpad/healthcheck.py"
    assert "deploy/docker/healthcheck.py /opt/launchpad/healthcheck.py" in dockerfile["runtime"].all("COPY")


@pytest.fixture
def probe_server() -> Iterator[HttpServer]:
    """LaunchPad's real probe handler (what `launchpad worker --metrics-port` serves), on a free port."""
    server = HttpServer(MeteredWsgi(None, Metrics(), ready=lambda: None), "127.0.0.1", 0).start()
    yield server
    server.stop()


def test_the_health_check_passes_on_a_live_probe_and_fails_on_none(probe_server: HttpServer) -> None:
    port = probe_server.url.rsplit(":", 1)[1]
    check = [sys.executable, str(HEALTHCHECK)]
    assert subprocess.run([*check, port], timeout=30).returncode == 0
    probe_server.stop()
    assert subprocess.run([*check, port], timeout=30).returncode == 1


def test_the_build_context_holds_what_the_build_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text()
    for copied in ("pyproject.toml", "README.md", "bot/", "provisioners/", "templates/", "schemas/", "deploy/docker/"):
        assert f"!{copied}" in ignore
