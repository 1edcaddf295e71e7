"""The infra repository's pipeline: which Terragrunt units a change adds, changes or removes, the order
they run in, running terragrunt on each, and the per-unit `+add ~change -destroy` summary.

One implementation, three users: LaunchPad writes this file verbatim into the infra repository as
`.launchpad/infra_pipeline.py`, which its GitHub Actions workflows run with the runner's python3 (no
install step); `launchpad infra plan|apply` runs it here; the local forge runs it after a merge. So it
imports nothing outside the standard library (a test checks), reads the environment only in its CI
entry points (GitHub sets GITHUB_*; LaunchPad's settings do not exist in that repository), and never
decides what the units contain.

Terragrunt never destroys a unit whose directory was removed (gruntwork-io/terragrunt#433), so a
removed unit is planned for destroy (on a pull request) and destroyed (on push) from the commit where
it still exists, in a git worktree of that commit, dependents first. Added and changed units are
planned or applied in a worktree of the new commit in dependency order, read from their `dependency`
and `dependencies` blocks. An apply stops at the first failing unit; the rest are reported as not run.
Terragrunt is called with its 0.90+ CLI: `terragrunt run --non-interactive --working-dir DIR
--log-format bare -- <tofu command>`, and plans are read from `show -json`, never from text.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

UNIT_FILE = "terragrunt.hcl"
ROOT_FILE = "root.hcl"
SCRIPT_PATH = ".launchpad/infra_pipeline.py"  # where LaunchPad writes this file in the infra repository
PLAN_WORKFLOW = ".github/workflows/launchpad-infra-plan.yaml"  # on pull requests
APPLY_WORKFLOW = ".github/workflows/launchpad-infra-apply.yaml"  # on push to the default branch
JOB_PREFIX = "launchpad-infra"  # every job (so every check run) of the pipeline starts with it
PLAN_MARKER = "<!-- launchpad-infra:plan -->"  # first line of the one pull-request comment, found and updated
REPORT_PREFIX = "<!-- launchpad-infra-report "
RESULT_PREFIX = "launchpad-infra-result "  # one log line per unit, read back by LaunchPad and by a re-run
ERROR_LINES = 8
COMMENT_LIMIT = 60000  # GitHub refuses comments over 65536 characters

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_DEPENDENCY = re.compile(r'^\s*dependency\s+"[^"]*"\s*\{(?P<body>.*?)^\s*\}', re.S | re.M)
_DEPENDENCIES = re.compile(r"^\s*dependencies\s*\{(?P<body>.*?)^\s*\}", re.S | re.M)
_CONFIG_PATH = re.compile(r'config_path\s*=\s*"(?P<path>[^"]+)"')
_PATHS = re.compile(r"paths\s*=\s*\[(?P<list>[^\]]*)\]", re.S)
_QUOTED = re.compile(r'"([^"]+)"')
_APPLIED = re.compile(r"Apply complete! Resources: (\d+) added, (\d+) changed, (\d+) destroyed")
_DESTROYED = re.compile(r"Destroy complete! Resources: (\d+) destroyed")


class PipelineError(Exception):
    """The pipeline itself cannot go on (not a git repository, unknown commit, dependency cycle)."""


# --- what changed ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """Units (directories holding terragrunt.hcl, relative to the repository root) a change touches."""

    base: str | None  # None: nothing before (a first push)
    head: str
    changed: list[str]  # added or changed, in dependency order (dependencies first)
    removed: list[str]  # gone at head, in destroy order (dependents first)


def git(repo: Path, *args: str, input_text: str | None = None) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, input=input_text,
                            check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PipelineError(f"git {args[0]} failed in {repo}: {detail}")
    return result.stdout


def resolve(repo: Path, ref: str | None) -> str | None:
    """The full commit id of `ref`; None for no commit (absent, empty, or all zeros as GitHub sends it)."""
    if not ref or set(ref) == {"0"}:
        return None
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()


def files_at(repo: Path, commit: str | None) -> list[str]:
    if commit is None:
        return []
    return [p for p in git(repo, "ls-tree", "-r", "-z", "--name-only", commit).split("\0") if p]


def read_many(repo: Path, commit: str | None, paths: Iterable[str]) -> dict[str, str]:
    """Several files of one commit in one `git cat-file --batch` (a repository holds many units)."""
    wanted = sorted(set(paths))
    if commit is None or not wanted:
        return {}
    request = "".join(f"{commit}:{p}\n" for p in wanted).encode()
    result = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch"], input=request, capture_output=True,
                            check=False)
    if result.returncode != 0:
        raise PipelineError(f"git cat-file failed in {repo}")
    out, at, texts = result.stdout, 0, {}
    for path in wanted:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            texts[path] = out[at:at + size].decode("utf-8", "replace")
            at += size + 1
    return texts


def units_in(paths: Iterable[str]) -> list[str]:
    """Directories holding a terragrunt.hcl (the repository's root.hcl is not a unit)."""
    return sorted({posixpath.dirname(p) for p in paths if posixpath.basename(p) == UNIT_FILE and "/" in p})


def dependencies(text: str, unit: str) -> list[str]:
    """The units `unit` depends on, from its `dependency` blocks and `dependencies { paths = [...] }`."""
    found = [m.group("path") for block in _DEPENDENCY.finditer(text)
             for m in _CONFIG_PATH.finditer(block.group("body"))]
    for block in _DEPENDENCIES.finditer(text):
        for paths in _PATHS.finditer(block.group("body")):
            found += _QUOTED.findall(paths.group("list"))
    return sorted({posixpath.normpath(posixpath.join(unit, p)) for p in found if "${" not in p})


def dependency_order(units: Iterable[str], deps: dict[str, list[str]]) -> list[str]:
    """Dependencies first; ties in path order, so every run of the same change is the same. A dependency
    outside `units` is taken as already in place (unchanged units are not run)."""
    pending = sorted(set(units))
    inside = set(pending)
    waiting = {u: {d for d in deps.get(u, []) if d in inside and d != u} for u in pending}
    ordered: list[str] = []
    while pending:
        ready = [u for u in pending if not waiting[u]]
        if not ready:
            raise PipelineError("the dependency blocks of these units form a cycle: " + ", ".join(pending))
        ordered.append(ready[0])
        pending.remove(ready[0])
        for others in waiting.values():
            others.discard(ready[0])
    return ordered


def find_changes(repo: Path, base: str | None, head: str, *, merge_base: bool = False) -> Changes:
    """What `head` changes against `base`: units added or changed (a file under them changed, a local
    module they read changed, or root.hcl changed, which every unit includes) and units removed.
    `merge_base` compares with the fork point (a pull request), not with base's tip."""
    head_sha = resolve(repo, head)
    if head_sha is None:
        raise PipelineError(f"{head!r} is not a commit of {repo}")
    base_sha = resolve(repo, base)
    if base_sha is not None and merge_base:
        base_sha = git(repo, "merge-base", base_sha, head_sha).strip()
    head_files, base_files = files_at(repo, head_sha), files_at(repo, base_sha)
    head_units, base_units = units_in(head_files), units_in(base_files)
    if base_sha is None:
        touched = set(head_files)
    else:
        out = git(repo, "diff", "--name-only", "-z", "--no-renames", base_sha, head_sha)
        touched = {p for p in out.split("\0") if p}
    unit_set = set(head_units)
    owners = {p: _unit_of(p, unit_set) for p in touched}
    changed = {u for u in owners.values() if u is not None}
    if ROOT_FILE in touched:
        changed = set(head_units)
    modules = sorted({posixpath.dirname(p) for p, u in owners.items() if u is None and p != ROOT_FILE
                      if p.endswith((".tf", ".tf.json")) and "/" in p})
    texts = read_many(repo, head_sha, [f"{u}/{UNIT_FILE}" for u in (head_units if modules else changed)])
    for module_dir in modules:  # a local module changed: every unit reading it changed
        changed |= {posixpath.dirname(p) for p, text in texts.items() if module_dir in text}
    removed = sorted(set(base_units) - set(head_units))
    old = read_many(repo, base_sha, [f"{u}/{UNIT_FILE}" for u in removed])
    head_deps = {u: dependencies(texts.get(f"{u}/{UNIT_FILE}", ""), u) for u in changed}
    base_deps = {u: dependencies(old.get(f"{u}/{UNIT_FILE}", ""), u) for u in removed}
    return Changes(base=base_sha, head=head_sha, changed=dependency_order(changed, head_deps),
                   removed=list(reversed(dependency_order(removed, base_deps))))


def _unit_of(path: str, units: set[str]) -> str | None:
    """The innermost unit directory holding `path` (None: outside every unit)."""
    parts = path.split("/")
    return next(("/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1) if "/".join(parts[:i]) in units), None)


def only_account(changes: Changes, account: str | None, index: int) -> Changes:
    """The units whose path segment `index` is `account` (one CI job per AWS account)."""
    if not account:
        return changes

    def mine(unit: str) -> bool:
        parts = unit.split("/")
        return len(parts) > index and parts[index] == account

    return Changes(base=changes.base, head=changes.head, changed=[u for u in changes.changed if mine(u)],
                   removed=[u for u in changes.removed if mine(u)])


# --- results --------------------------------------------------------------------------------------


@dataclass
class UnitResult:
    """What happened to one unit: `action` is plan, plan-destroy, apply or destroy; `status` ok, failed
    or not-run; counts are resources to add/change/destroy (plans) or added/changed/destroyed."""

    unit: str
    action: str
    status: str = "not-run"
    add: int = 0
    change: int = 0
    destroy: int = 0
    replaced: list[str] = field(default_factory=list)  # resources a plan deletes and creates again
    destroyed: list[str] = field(default_factory=list)  # resources a plan deletes for good
    error: str = ""  # the first error lines of the unit's output
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.action} {self.unit}"

    def counts(self) -> str:
        if self.status == "failed":
            return "failed"
        if self.status == "not-run":
            return "not run"
        return f"+{self.add} ~{self.change} -{self.destroy}"

    def line(self) -> str:
        """The unit's one-line summary: `unit: +1 ~0 -0` (plus what it destroys or replaces)."""
        text = f"{self.unit} ({self.action}): {self.counts()}"
        if self.replaced:
            text += "; replaces " + ", ".join(self.replaced)
        if self.destroyed and self.action in ("plan", "apply"):
            text += "; destroys " + ", ".join(self.destroyed)
        if self.note:
            text += f" ({self.note})"
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitResult:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        return cls(**known)


@dataclass
class Report:
    """One run over a change: every unit's result, in the order they ran."""

    mode: str  # plan | apply
    base: str | None
    head: str
    results: list[UnitResult] = field(default_factory=list)
    skipped: str = ""  # why nothing ran at all (e.g. terragrunt is not installed)

    @property
    def failed(self) -> list[UnitResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def totals(self) -> tuple[int, int, int]:
        done = [r for r in self.results if r.status == "ok"]
        return sum(r.add for r in done), sum(r.change for r in done), sum(r.destroy for r in done)

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "mode": self.mode, "base": self.base, "head": self.head, "skipped": self.skipped,
                "results": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(mode=str(data.get("mode", "")), base=data.get("base"), head=str(data.get("head", "")),
                   skipped=str(data.get("skipped") or ""),
                   results=[UnitResult.from_dict(r) for r in data.get("results") or [] if isinstance(r, dict)])


def merge_reports(reports: list[Report]) -> Report:
    """Several jobs' reports (one per account) as one."""
    if not reports:
        raise PipelineError("no report to merge")
    first = reports[0]
    merged = Report(mode=first.mode, base=first.base, head=first.head)
    for report in reports:
        merged.results += report.results
    skipped = {r.skipped for r in reports if r.skipped}
    merged.skipped = "; ".join(sorted(skipped)) if len(skipped) == len(reports) else ""
    return merged


# --- reading plans and outputs (pure) -------------------------------------------------------------


def clean(text: str) -> str:
    """Without colour codes and the timestamps GitHub puts before every log line."""
    return "\n".join(_TIMESTAMP.sub("", _ANSI.sub("", line)) for line in text.splitlines())


def read_plan_json(text: str) -> dict[str, Any]:
    """The plan document `show -json` printed (the last JSON object in the output)."""
    stripped = text.strip()
    candidates = [stripped] + [line.strip() for line in reversed(stripped.splitlines())]
    for candidate in candidates:
        if candidate.startswith("{"):
            try:
                data = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    raise PipelineError("show -json printed no plan document")


def count_plan(plan: dict[str, Any], result: UnitResult) -> None:
    """Reduce a plan to +add ~change -destroy, naming what it destroys and what it replaces."""
    for change in plan.get("resource_changes") or []:
        actions = list((change.get("change") or {}).get("actions") or [])
        address = str(change.get("address", "?"))
        if sorted(actions) == ["create", "delete"]:
            result.add += 1
            result.destroy += 1
            result.replaced.append(address)
        elif actions == ["create"]:
            result.add += 1
        elif actions == ["update"]:
            result.change += 1
        elif actions == ["delete"]:
            result.destroy += 1
            result.destroyed.append(address)


def count_applied(output: str, result: UnitResult) -> None:
    text = clean(output)
    applied = _APPLIED.findall(text)
    if applied:
        result.add, result.change, result.destroy = (int(n) for n in applied[-1])
    destroyed = _DESTROYED.findall(text)
    if destroyed:
        result.destroy = int(destroyed[-1])


def first_error_lines(output: str, limit: int = ERROR_LINES) -> str:
    """The first error and the lines after it (terraform's `Error:` block), else the output's last lines."""
    lines = [line.rstrip() for line in clean(output).splitlines()]
    lines = [line for line in lines if line.strip() and not line.startswith(("::group::", "::endgroup::"))]
    start = next((i for i, line in enumerate(lines) if re.search(r"\bError\b|\bERROR\b", line)), None)
    chosen = lines[start:start + limit] if start is not None else lines[-limit:]
    return "\n".join(line.strip("│ ").rstrip() if line.startswith("│") else line for line in chosen)[:1500]


def results_in_log(log: str) -> list[UnitResult]:
    """The unit results a run printed (one `launchpad-infra-result {...}` line each)."""
    out = []
    for line in clean(log).splitlines():
        at = line.find(RESULT_PREFIX)
        if at < 0:
            continue
        try:
            data = json.loads(line[at + len(RESULT_PREFIX):])
        except ValueError:
            continue
        if isinstance(data, dict):
            out.append(UnitResult.from_dict(data))
    return out


# --- running terragrunt ----------------------------------------------------------------------------


@dataclass
class Runner:
    """Runs terragrunt for units of worktrees; `log` receives everything as it happens."""

    log: IO[str]
    terragrunt: str = "terragrunt"
    env: dict[str, str] | None = None

    def tofu(self, worktree: Path, unit: str, *args: str) -> tuple[int, str, str]:
        command = [self.terragrunt, "run", "--non-interactive", "--working-dir", str(worktree / unit),
                   "--log-format", "bare", "--", *args]
        env = {**(self.env if self.env is not None else os.environ), "TF_IN_AUTOMATION": "1"}
        try:
            result = subprocess.run(command, cwd=worktree, capture_output=True, text=True, env=env, check=False)
        except FileNotFoundError:
            return 127, "", f"Error: {self.terragrunt} is not installed (not found on PATH)"
        return result.returncode, result.stdout, result.stderr

    def run_unit(self, worktree: Path, unit: str, action: str, scratch: Path) -> UnitResult:
        result = UnitResult(unit=unit, action=action)
        self.log.write(f"::group::{action} {unit}\n")
        self.log.flush()
        output = ""
        try:
            if action in ("plan", "plan-destroy"):
                plan_file = scratch / (re.sub(r"[^A-Za-z0-9]+", "-", unit) + ".tfplan")
                args = ["plan", "-input=false", "-no-color", "-lock-timeout=5m", f"-out={plan_file}"]
                if action == "plan-destroy":
                    args.insert(1, "-destroy")
                code, out, err = self.tofu(worktree, unit, *args)
                output = out + err
                self.log.write(output)
                if code == 0:
                    code, out, err = self.tofu(worktree, unit, "show", "-json", "-no-color", str(plan_file))
                    output += err
                    self.log.write(err)
                    if code == 0:
                        count_plan(read_plan_json(out), result)
            else:
                verb = "apply" if action == "apply" else "destroy"
                code, out, err = self.tofu(worktree, unit, verb, "-input=false", "-no-color", "-auto-approve",
                                           "-lock-timeout=5m")
                output = out + err
                self.log.write(output)
                if code == 0:
                    count_applied(out, result)
        except PipelineError as exc:
            code, output = 1, f"Error: {exc}"
            self.log.write(output + "\n")
        result.status = "ok" if code == 0 else "failed"
        if code != 0:
            result.error = first_error_lines(output)
            self.log.write(f"::error title=launchpad-infra {action} failed::{unit}\n")
        self.log.write("::endgroup::\n")
        self.log.write(RESULT_PREFIX + json.dumps(asdict(result), sort_keys=True) + "\n")
        self.log.flush()
        return result


@contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """A detached checkout of `commit` beside the repository (works for bare repositories too)."""
    holder = Path(tempfile.mkdtemp(prefix="launchpad-infra-"))
    path = holder / "tree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True,
                       check=False)
        shutil.rmtree(holder, ignore_errors=True)
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True, check=False)


def run(repo: Path, changes: Changes, mode: str, runner: Runner, *, done: Iterable[str] = (),
        removed_only: bool = False) -> Report:
    """Plan (`mode` plan: every unit, even after a failure) or apply (`mode` apply: destroy removed units
    from the base commit, then apply changed units; stop at the first failure). `done` holds keys of
    units an earlier attempt already finished (a re-run does only what failed); `removed_only` leaves
    added and changed units to someone else (Atlantis)."""
    if mode not in ("plan", "apply"):
        raise PipelineError(f"mode must be plan or apply, not {mode!r}")
    report = Report(mode=mode, base=changes.base, head=changes.head)
    todo: list[tuple[str, str, str]] = []  # (commit, unit, action)
    if changes.removed and changes.base is not None:
        todo += [(changes.base, u, "plan-destroy" if mode == "plan" else "destroy") for u in changes.removed]
    if not removed_only:
        todo += [(changes.head, u, mode) for u in changes.changed]
    finished = set(done)
    stopped: UnitResult | None = None
    with tempfile.TemporaryDirectory(prefix="launchpad-plans-") as scratch:
        trees: dict[str, Path] = {}
        with _trees(repo, sorted({c for c, _, _ in todo}), trees):
            for commit, unit, action in todo:
                if stopped is not None:
                    report.results.append(UnitResult(unit=unit, action=action, note=f"{stopped.unit} failed first"))
                    continue
                if f"{action} {unit}" in finished:
                    earlier = UnitResult(unit=unit, action=action, status="ok", note="done in an earlier attempt")
                    runner.log.write(RESULT_PREFIX + json.dumps(asdict(earlier), sort_keys=True) + "\n")
                    report.results.append(earlier)
                    continue
                result = runner.run_unit(trees[commit], unit, action, Path(scratch))
                report.results.append(result)
                if result.status == "failed" and mode == "apply":
                    stopped = result
    return report


@contextmanager
def _trees(repo: Path, commits: list[str], into: dict[str, Path]) -> Iterator[None]:
    if not commits:
        yield
        return
    with worktree(repo, commits[0]) as path:
        into[commits[0]] = path
        with _trees(repo, commits[1:], into):
            yield


# --- what people read -----------------------------------------------------------------------------

_MARKS = {"ok": "✅", "failed": "❌", "not-run": "⏸️"}


def markdown(report: Report, *, title: str = "", link: str = "") -> str:
    """The job summary and pull-request comment: a table with one row per unit, then the report as
    JSON inside an HTML comment (what LaunchPad reads back)."""
    verb = "plan" if report.mode == "plan" else "apply"
    lines = [PLAN_MARKER if report.mode == "plan" else "<!-- launchpad-infra:apply -->",
             f"### {title or 'Terragrunt ' + verb} for `{report.head[:12]}`", ""]
    if report.skipped:
        lines.append(f"Skipped: {report.skipped}.")
    elif not report.results:
        lines.append("No Terragrunt unit is added, changed or removed.")
    else:
        lines += ["| | unit | " + verb + " |", "|---|---|---|"]
        for r in report.results:
            risky = r.status == "ok" and (r.replaced or (r.destroyed and r.action == "plan"))
            mark = "⚠️" if risky else _MARKS[r.status]
            what = r.counts()
            if r.replaced:
                what += " · replaces " + ", ".join(f"`{a}`" for a in r.replaced[:5])
            if r.destroyed and r.action in ("plan", "apply"):
                what += " · destroys " + ", ".join(f"`{a}`" for a in r.destroyed[:5])
            if r.note:
                what += f" ({r.note})"
            removed = " (removed)" if r.action in ("plan-destroy", "destroy") else ""
            lines.append(f"| {mark} | `{r.unit}`{removed} | {what} |")
        add, change, destroy = report.totals()
        lines += ["", f"Total: +{add} ~{change} -{destroy}"]
        for r in report.failed:
            lines += ["", f"<details><summary>❌ {r.action} {r.unit}</summary>", "", "```",
                      r.error.replace("```", "'''"), "```", "</details>"]
    if link:
        lines += ["", f"[Run log]({link})"]
    data = json.dumps(report.to_dict(), sort_keys=True, separators=(",", ":")).replace(">", "\\u003e")
    text = "\n".join(lines)
    room = COMMENT_LIMIT - len(REPORT_PREFIX) - 10
    if len(text) + len(data) > room:
        text = text[: max(0, room - len(data) - 40)] + "\n\n…(cut; see the run log)"
    return f"{text}\n\n{REPORT_PREFIX}{data} -->\n"


def report_in(text: str) -> Report | None:
    """The report a comment or summary carries (None when it has none)."""
    at = text.rfind(REPORT_PREFIX)
    if at < 0:
        return None
    end = text.find(" -->", at)
    try:
        data = json.loads(text[at + len(REPORT_PREFIX): end if end > 0 else None])
    except ValueError:
        return None
    return Report.from_dict(data) if isinstance(data, dict) else None


def atlantis_projects(units: dict[str, str], workflow: str = "launchpad-terragrunt") -> list[dict[str, Any]]:
    """atlantis.yaml projects for units (path -> terragrunt.hcl text): one per unit, its dependencies as
    `depends_on`, and `when_modified` covering its own files, root.hcl and the local modules it reads."""
    projects = []
    for unit in sorted(units):
        up = "/".join([".."] * (unit.count("/") + 1))
        watched = ["*.hcl", "*.tf*", f"{up}/{ROOT_FILE}"]
        watched += [f"{up}/{m}/*.tf*" for m in sorted(set(re.findall(r"get_repo_root\(\)\}/([\w./-]+)", units[unit])))]
        project: dict[str, Any] = {"name": unit, "dir": unit, "workflow": workflow,
                                   "autoplan": {"enabled": True, "when_modified": watched}}
        deps = [d for d in dependencies(units[unit], unit) if d in units]
        if deps:
            project["depends_on"] = deps
        projects.append(project)
    return projects


# --- GitHub (CI only) -----------------------------------------------------------------------------


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # surfaces as an HTTPError carrying Location


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)


class GitHub:
    """The few REST calls the workflow needs, with the job's GITHUB_TOKEN (urllib: no install step)."""

    def __init__(self, api_url: str, token: str, repository: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.repository = repository

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method, headers={  # noqa: S310
            "Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "launchpad-infra-pipeline",
            "Content-Type": "application/json"})
        for attempt in range(4):
            try:
                with _NO_REDIRECTS.open(request, timeout=30) as response:
                    raw = response.read().decode("utf-8", "replace")
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as err:
                if err.code in (301, 302, 307) and err.headers.get("Location"):
                    # a log download: the signed URL must not get our token
                    with urllib.request.urlopen(err.headers["Location"], timeout=60) as download:  # noqa: S310
                        return download.read().decode("utf-8", "replace")
                if err.code in (429, 500, 502, 503, 504) and attempt < 3:
                    time.sleep(float(err.headers.get("Retry-After") or 2 ** attempt))
                    continue
                raise
        return None

    def upsert_comment(self, number: int, body: str) -> int:
        """Update our one comment on the pull request (found by its first line), or post it."""
        page = 1
        while True:
            comments = self.call("GET", f"/repos/{self.repository}/issues/{number}/comments?per_page=100&page={page}")
            for comment in comments or []:
                if str(comment.get("body") or "").startswith(PLAN_MARKER):
                    self.call("PATCH", f"/repos/{self.repository}/issues/comments/{comment['id']}", {"body": body})
                    return int(comment["id"])
            if not comments or len(comments) < 100:
                break
            page += 1
        created = self.call("POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body})
        return int(created["id"])

    def earlier_results(self, run_id: str, attempt: int, job_name: str) -> list[UnitResult]:
        """What this job finished in the previous attempt of its run (a re-run of failed jobs)."""
        if attempt <= 1:
            return []
        jobs = self.call("GET", f"/repos/{self.repository}/actions/runs/{run_id}/attempts/{attempt - 1}/jobs")
        job = next((j for j in (jobs or {}).get("jobs", []) if j.get("name") == job_name), None)
        if job is None:
            return []
        log = self.call("GET", f"/repos/{self.repository}/actions/jobs/{job['id']}/logs")
        return [r for r in results_in_log(str(log or "")) if r.status == "ok"]


# --- command line ---------------------------------------------------------------------------------


def _reports_from_needs(needs: str) -> list[Report]:
    """The reports of the plan jobs, from `${{ toJSON(needs) }}` (each job's `report` output)."""
    out = []
    for name, job in sorted((json.loads(needs or "{}") or {}).items()):
        report = None
        raw = ((job or {}).get("outputs") or {}).get("report")
        if raw:
            try:
                report = Report.from_dict(json.loads(raw))
            except ValueError:
                report = None
        if report is None and (job or {}).get("result") in ("success", "skipped"):
            continue  # nothing to plan in that account
        if report is None:
            report = Report(mode="plan", base=None, head="")
            report.results.append(UnitResult(unit=name, action="plan", status="failed",
                                             error=f"job {name} ended {(job or {}).get('result')} without a report"))
        out.append(report)
    return out


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra_pipeline", description=__doc__.splitlines()[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("units", "plan", "apply"):
        p = sub.add_parser(name)
        p.add_argument("--repo", default=".", help="the infra repository (a checkout or a bare repository)")
        p.add_argument("--base", default="", help="the commit before (pull request base, or the push's before)")
        p.add_argument("--head", required=True, help="the commit to plan or apply")
        p.add_argument("--account", default="", help="only units in this AWS account")
        p.add_argument("--account-index", type=int, default=0, help="path segment holding the account id")
        p.add_argument("--removed-only", action="store_true", help="only destroy removed units (Atlantis applies)")
        p.add_argument("--terragrunt", default="terragrunt")
        p.add_argument("--job-name", default="", help="this job's name (a re-run reads its earlier attempt)")
        p.add_argument("--github", action="store_true", help="write GITHUB_OUTPUT and GITHUB_STEP_SUMMARY")
        p.add_argument("--results", default="", help="write the report as JSON to this file")
    p = sub.add_parser("comment", help="post the plan jobs' reports as one pull-request comment")
    p.add_argument("--pr", type=int, required=True)
    p.add_argument("--head", default="")
    p = sub.add_parser("verdict", help="exit 1 when the report holds a failed unit")
    p.add_argument("--results", required=True)
    args = parser.parse_args(argv)
    env = os.environ
    try:
        if args.command == "verdict":
            report = Report.from_dict(json.loads(Path(args.results).read_text(encoding="utf-8")))
            for failed in report.failed:
                print(f"{failed.action} {failed.unit} failed:\n{failed.error}", file=sys.stderr)
            return 1 if report.failed else 0
        if args.command == "comment":
            reports = [r for r in _reports_from_needs(env.get("NEEDS", "")) if r.results or r.skipped]
            merged = merge_reports(reports) if reports else Report(mode="plan", base=None, head=args.head)
            merged.head = merged.head or args.head
            link = f"{env.get('GITHUB_SERVER_URL', '')}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/" \
                   f"{env.get('GITHUB_RUN_ID', '')}"
            body = markdown(merged, link=link)
            _append(env.get("GITHUB_STEP_SUMMARY"), body)
            GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), env["GITHUB_TOKEN"],
                   env["GITHUB_REPOSITORY"]).upsert_comment(args.pr, body)
            return 0
        repo = Path(args.repo)
        changes = find_changes(repo, args.base, args.head, merge_base=args.command == "plan")
        changes = only_account(changes, args.account, args.account_index)
        if args.command == "units":
            any_units = bool(changes.removed) or (bool(changes.changed) and not args.removed_only)
            for unit in changes.removed:
                print(f"remove {unit}")
            for unit in [] if args.removed_only else changes.changed:
                print(f"change {unit}")
            if args.github:
                _append(env.get("GITHUB_OUTPUT"), f"any={'true' if any_units else 'false'}\n")
            return 0
        done: list[str] = []
        if args.github and args.command == "apply" and env.get("GITHUB_TOKEN"):
            try:
                earlier = GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), env["GITHUB_TOKEN"],
                                 env.get("GITHUB_REPOSITORY", "")).earlier_results(
                    env.get("GITHUB_RUN_ID", ""), int(env.get("GITHUB_RUN_ATTEMPT", "1") or 1), args.job_name)
                done = [r.key for r in earlier]
            except (urllib.error.URLError, ValueError, KeyError) as exc:
                print(f"could not read the earlier attempt ({exc}); running every unit", file=sys.stderr)
        report = run(repo, changes, args.command, Runner(log=sys.stdout, terragrunt=args.terragrunt), done=done,
                     removed_only=args.removed_only)
        data = json.dumps(report.to_dict(), sort_keys=True, separators=(",", ":"))
        if args.results:
            Path(args.results).write_text(data, encoding="utf-8")
        text = markdown(report)
        print(text)
        if args.github:
            _append(env.get("GITHUB_STEP_SUMMARY"), text)
            _append(env.get("GITHUB_OUTPUT"), f"report={data}\n")
        return 1 if report.failed and args.command == "apply" else 0
    except PipelineError as exc:
        print(f"infra pipeline: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
