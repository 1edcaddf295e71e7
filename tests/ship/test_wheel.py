"""The wheel is LaunchPad without the checkout: built from the sources, installed (not editable) into a
fresh virtualenv, it plans from another directory exactly what the checkout plans.

Kept fast and offline: the wheel is built with this venv's setuptools (`--no-build-isolation`) from a
copy of the sources, and the fresh venv borrows this venv's third-party packages through a `.pth`
line (directories named in a `.pth` file are not scanned for `.pth` files themselves, so this venv's
editable finder for `bot`/`provisioners` is NOT installed there). `pip install --no-deps --no-index`
of the built wheel then provides our own packages, and a probe proves they are imported from it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "ranking-web.yaml"
# What the build reads; everything else in the checkout (tests, docs, .venv) stays out of the copy.
SOURCES = ("pyproject.toml", "README.md", "bot", "provisioners", "templates", "schemas")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no settings leaking in from the test run, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAUNCHPAD_", "PYTHON", "PIP_REQUIRE"))}
    return {**env, **extra}


def run(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the wheel, the build's log)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    result = run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index",
                  "-w", dist, src], cwd=src)
    (wheel,) = dist.glob("launchpad_chatops-*.whl")
    return wheel, result.stdout + result.stderr


@pytest.fixture(scope="module")
def venv(built: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed (not editable) and this venv's dependencies borrowed."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    site = Path(run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=venv).stdout.strip())
    (site / "_launchpad_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index",
         built[0]], cwd=venv)
    return venv


def test_building_the_wheel_prints_no_warning(built: tuple[Path, str]) -> None:
    _, log = built
    warnings = [line for line in log.splitlines()
                if re.search(r"Warning|deprecat", line, re.IGNORECASE) and "byte-compiling is disabled" not in line]
    assert warnings == [], "\n".join(warnings)


def test_the_wheel_carries_templates_blueprints_chart_and_schemas(built: tuple[Path, str]) -> None:
    names = set(zipfile.ZipFile(built[0]).namelist())
    data = "provisioners/bundled/"
    for path in ("templates/policy.yaml", "templates/blueprints/web-service.yaml", "templates/chart/Chart.yaml",
                 "templates/chart/values.schema.json", "templates/chart/templates/deployment.yaml",
                 "schemas/crds/argoproj.io_applications.yaml", "bot/store/migrations/script.py.mako"):
        assert (path if path.startswith("bot/") else data + path) in names, path
    tracked = {p.relative_to(ROOT).as_posix() for d in ("templates", "schemas") for p in (ROOT / d).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert {data + p for p in tracked} <= names, "every file under templates/ and schemas/ is in the wheel"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_installed_wheel_plans_from_another_directory_like_the_checkout(
        venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = run([venv / "bin" / "python", "-c", "import bot, provisioners.bundled as b; "
                 "print(bot.__file__, b.__file__, b.TEMPLATES_DIR, b.SCHEMAS_DIR)"], cwd=elsewhere).stdout.split()
    site = (venv / "lib").resolve()
    assert all(Path(p).resolve().is_relative_to(site) for p in probe), f"imported from outside the wheel: {probe}"
    installed = run([venv / "bin" / "launchpad", "plan", SPEC, "--out", tmp_path / "installed"], cwd=elsewhere)

    for name in [k for k in os.environ if k.startswith("LAUNCHPAD_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT)
    assert main(["plan", str(SPEC), "--out", str(tmp_path / "checkout")]) == 0
    checkout = capsys.readouterr().out
    assert installed.stdout.replace(str(tmp_path / "installed"), "OUT") == \
        checkout.replace(str(tmp_path / "checkout"), "OUT")
    assert tree(tmp_path / "installed") == tree(tmp_path / "checkout")
    assert len(tree(tmp_path / "installed")) > 20


def test_templates_dir_still_overrides_the_bundled_templates(venv: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates, ignore=shutil.ignore_patterns("__pycache__"))
    root = templates / "terragrunt" / "root.hcl.j2"
    root.write_text("# from the team's own templates\n" + root.read_text())
    run([venv / "bin" / "launchpad", "plan", SPEC, "--out", tmp_path / "out"], cwd=tmp_path,
        LAUNCHPAD_TEMPLATES_DIR=str(templates))
    assert (tmp_path / "out" / "infra" / "root.hcl").read_text().startswith("# from the team's own templates\n")


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
