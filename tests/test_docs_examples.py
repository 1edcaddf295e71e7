"""Every fenced example in README.md and docs/*.md is run (issue 12, item 2: the configuration example
crashed `plan`, and its `github_api_url:` was ignored).

- YAML settings load with `Settings` and then plan a service on that platform; spec fragments are
  merged into examples/ranking-web.yaml and planned; a policy loads with `load_policy`; excerpts of
  generated files are compared with what the renderers produce.
- Shell: `VAR=value` / `export` lines load with `Settings`; `make X` names a Makefile target; every
  `launchpad ...` line parses with the real CLI, and the ones that run offline (plan, new, status,
  list, approve, config, bulk --dry-run) run, in order, in a fresh data directory.
- Python: compiles, and its imports resolve. JSON: parses (the IAM policy is checked against the AWS
  calls in tests/aws/test_docs_policy.py).
A YAML example this module cannot place fails, so a new kind of example gets a check here.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import build_parser, main
from bot.config import Settings
from bot.workflow.policy import load_policy
from provisioners import argocd
from provisioners.blueprint import BlueprintRegistry
from provisioners.plan import RenderContext, plan
from provisioners.spec import ServiceSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
EXAMPLE_SPEC = ROOT / "examples" / "ranking-web.yaml"
RUNNABLE = {"plan", "new", "status", "list", "approve", "config", "bulk"}
SRE_LOGIN = "docs-sre"


@dataclass(frozen=True)
class Example:
    doc: str
    line: int
    lang: str
    body: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def _examples() -> list[Example]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Example(str(path.relative_to(ROOT)), line, match.group(1), match.group(2)))
    return found


EXAMPLES = _examples()


def _of(*langs: str) -> list[Example]:
    return [e for e in EXAMPLES if e.lang in langs]


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LAUNCHPAD_") or name == "GITHUB_API_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOGNAME", "docs-dev")
    return tmp_path


# --- YAML ------------------------------------------------------------------------------------------------
def _plan_on(settings: Settings) -> None:
    """A web service with every component in every configured environment, on this platform."""
    ctx = RenderContext(platform=settings.platform, blueprints=BlueprintRegistry.load())
    team = next(iter(settings.platform.teams))
    data = {"name": "docs-example", "team": team, "blueprint": "web-service",
            "environments": [{"name": env} for env in settings.platform.environments],
            "components": {"s3": {}, "rds": {}, "elasticache": {}}}
    changesets = plan(parse_spec(data, ctx.platform, ctx.blueprints), ctx)
    assert {cs.repo for cs in changesets} == {"infra", "values", "gitops", "service"}


def _spec_fragment(data: dict[str, Any]) -> None:
    base = yaml.safe_load(EXAMPLE_SPEC.read_text())
    ctx = RenderContext(platform=Settings().platform, blueprints=BlueprintRegistry.load())
    spec = parse_spec({**base, **data}, ctx.platform, ctx.blueprints)
    assert plan(spec, ctx)


def _generated_excerpt(data: dict[str, Any]) -> None:
    """Excerpts of generated Argo CD files: every key they show exists where they show it."""
    ctx = RenderContext(platform=Settings().platform, blueprints=BlueprintRegistry.load())
    spec = parse_spec(yaml.safe_load(EXAMPLE_SPEC.read_text()), ctx.platform, ctx.blueprints)
    if "service" in data:
        real = argocd.service_config(spec, ctx, data.get("environment", "prod"))
        for key, value in data.items():
            assert key in real, f"the documented key {key} is not in the generated file"
            if isinstance(value, str | bool) and "..." not in str(value) and value != "":
                assert real[key] == value, f"{key}: documented {value!r}, generated {real[key]!r}"
        assert set(real) <= set(data), f"undocumented keys: {sorted(set(real) - set(data))}"
        return
    real = argocd.applicationset(spec.team, ctx.platform)
    _same_shape(data, real, "")


def _same_shape(shown: Any, real: Any, where: str) -> None:
    if isinstance(shown, dict) and isinstance(real, dict):
        for key, value in shown.items():
            if key == "...":
                continue  # "and the rest"
            assert key in real, f"documented key {where}{key} is not in the generated ApplicationSet"
            _same_shape(value, real[key], f"{where}{key}.")


CHART = ROOT / "deploy" / "helm" / "launchpad"


def _chart_values(data: dict[str, Any]) -> None:
    """Values for LaunchPad's own Helm chart: valid against its schema, and its `config` a settings file."""
    import jsonschema

    def concrete(value: Any) -> Any:  # "sha256:..." is the reader's to fill in: leave it out
        if isinstance(value, dict):
            return {k: concrete(v) for k, v in value.items() if not (isinstance(v, str) and "..." in v)}
        return value

    data = concrete(data)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    merged = {**defaults, **{k: ({**defaults[k], **v} if isinstance(v, dict) and isinstance(defaults.get(k), dict)
                                 else v) for k, v in data.items()}}
    jsonschema.validate(merged, json.loads((CHART / "values.schema.json").read_text()))
    if data.get("config"):
        Settings.model_validate(data["config"])


def _classify(data: Any) -> str:
    if not isinstance(data, dict):
        return "unknown"
    keys = set(data)
    if (CHART / "values.yaml").exists() and "config" in keys and keys <= set(
            yaml.safe_load((CHART / "values.yaml").read_text())):
        return "chart values"
    if keys <= set(Settings.model_fields) | {"github_api_url"}:
        return "settings"
    if keys <= set(ServiceSpec.model_fields):
        return "spec"
    if keys <= {"version", "rules"}:
        return "policy"
    if ("service" in keys and "environment" in keys) or ("spec" in keys and keys <= {"metadata", "spec"}):
        return "generated"
    return "unknown"


@pytest.mark.parametrize("example", _of("yaml", "yml"), ids=str)
def test_yaml_examples(example: Example, tmp_path: Path) -> None:
    data = yaml.safe_load(example.body)
    kind = _classify(data)
    assert kind != "unknown", f"{example}: teach tests/test_docs_examples.py what this YAML example is"
    if kind == "settings":
        path = tmp_path / "settings.yaml"
        path.write_text(example.body)
        settings = Settings(config_file=path)
        for key, value in data.items():  # nothing in the example is dropped on the way in
            if isinstance(value, str | int | bool):
                assert getattr(settings, key) == value, f"{example}: {key} was not applied"
        _plan_on(settings)
    elif kind == "spec":
        _spec_fragment(data)
    elif kind == "chart values":
        _chart_values(data)
    elif kind == "policy":
        path = tmp_path / "policy.yaml"
        path.write_text(example.body)
        assert load_policy(path).rules
    else:
        _generated_excerpt(data)


# --- shell -----------------------------------------------------------------------------------------------
def _commands(body: str) -> list[str]:
    """Logical command lines: backslash continuations joined, and lines joined while a quote is open."""
    lines, current = [], ""
    for raw in body.splitlines():
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        try:
            shlex.split(current, comments=True)
        except ValueError:  # an open quote: the command goes on
            current += "\n"
            continue
        if current.strip():
            lines.append(current.strip())
        current = ""
    return lines


def _words(command: str) -> list[str]:
    command = re.sub(r'"\$\([^)]*\)"', "from-a-command", command)
    return shlex.split(command, comments=True)


MAKE_TARGETS = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))


@pytest.mark.parametrize("example", _of("sh", "bash", "shell", "console"), ids=str)
def test_shell_examples(example: Example, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env: dict[str, str] = {}
    runs: list[list[str]] = []
    for command in _commands(example.body):
        words = _words(command)
        if words and words[0] == "export":
            words = words[1:]
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if not words:
            continue
        assert not words[0].endswith("/launchpad") or words[0] == "launchpad", (
            f"{example}: call the CLI as `launchpad` (README's quick start says how to get it on PATH)")
        if words[0] == "make":
            assert set(words[1:]) <= MAKE_TARGETS, f"{example}: no Makefile target {words[1:]}"
        elif words[0] == "launchpad":
            try:
                args = build_parser().parse_args(words[1:])
            except SystemExit:
                pytest.fail(f"{example}: `{command}` does not parse: {capsys.readouterr().err.strip()}")
            if args.command in RUNNABLE and (args.command != "bulk" or args.dry_run):
                runs.append(words[1:])
    for name, value in env.items():  # every variable the example sets names a setting...
        if name.startswith("LAUNCHPAD_") or name == "GITHUB_API_URL":
            _check_setting_name(example, name)
        if "__" not in name and name.startswith("LAUNCHPAD_"):  # ...and a plain one takes the example's value
            with monkeypatch.context() as alone:
                alone.setenv(name, value)
                Settings()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LAUNCHPAD_SRE_USERS", SRE_LOGIN)
    monkeypatch.setenv("LAUNCHPAD_FORGE", "local")  # runs stay on this machine
    examples = ROOT / "examples"
    for argv in runs:
        argv = [str(ROOT / a) if a.startswith("examples/") else a for a in argv]
        monkeypatch.setenv("LOGNAME", SRE_LOGIN if argv[0] in ("approve", "deny", "bulk") else "docs-dev")
        assert examples.is_dir()
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 0, f"{example}: `launchpad {' '.join(argv)}` exited {code}: {err}"


def _check_setting_name(example: Example, variable: str) -> None:
    from provisioners.keys import keys_at

    if variable == "GITHUB_API_URL":
        return
    path = variable.removeprefix("LAUNCHPAD_").lower().split("__")
    for depth in range(len(path)):
        valid = keys_at(Settings, path[: depth + 1])
        if valid is not None and path[depth] not in valid:
            pytest.fail(f"{example}: {variable} names no setting ({path[depth]!r} is not one of {valid})")


# --- Python and JSON -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("example", _of("python", "py"), ids=str)
def test_python_examples_compile_and_import(example: Example) -> None:
    tree = ast.parse(example.body, filename=str(example))
    compile(tree, str(example), "exec")
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    exec(compile(ast.Module(body=imports, type_ignores=[]), str(example), "exec"), {})


@pytest.mark.parametrize("example", _of("json"), ids=str)
def test_json_examples_parse(example: Example) -> None:
    assert json.loads(example.body)


def test_examples_were_found() -> None:
    langs = {e.lang for e in EXAMPLES}
    assert {"yaml", "sh", "python", "json"} <= langs
