"""The infra pipeline module against the stand-in terragrunt: which units run, in which order, from which
commit; a failure stops an apply and names its error; a re-run does only what failed; plans are reduced
to +add ~change -destroy per unit, naming what they replace."""

from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

import pytest

from provisioners import infra_pipeline as ip
from tests.infra.conftest import STACK, UNIT, Repo, unit_file
from tests.support.terragrunt_standin import StandIn


def apply(repo: Repo, base: str | None, head: str, **kw: object) -> ip.Report:
    changes = ip.find_changes(repo.path, base, head)
    return ip.run(repo.path, changes, "apply", ip.Runner(log=io.StringIO()), **kw)  # type: ignore[arg-type]


def test_the_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(ip.__file__).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import would not exist in the infra repository"
            names.add((node.module or "").split(".")[0])
    outside = sorted(n for n in names if n not in sys.stdlib_module_names and n != "__future__")
    assert outside == [], f"{outside} is not in the standard library; the workflow installs nothing"


def test_apply_runs_units_in_dependency_order(repo: Repo, terragrunt: StandIn) -> None:
    first = repo.commit(STACK)
    report = apply(repo, None, first)
    assert report.ok
    order = [u.rsplit("/", 1)[1] for _, u in terragrunt.runs("apply")]
    assert sorted(order) == ["iam-role", "rds", "rds-security-group", "s3", "security-group"]
    assert order.index("security-group") < order.index("rds-security-group") < order.index("rds")
    assert {c["commit"] for c in terragrunt.calls()} == {first}
    call = terragrunt.calls()[0]
    assert call["args"][:2] == ["run", "--non-interactive"] and "--log-format" in call["args"]
    assert not any(a.startswith("--terragrunt-") or a == "run-all" for c in terragrunt.calls() for a in c["args"])
    rds = next(r for r in report.results if r.unit.endswith("/rds"))
    assert (rds.status, rds.add, rds.change, rds.destroy) == ("ok", 2, 0, 0)  # the stand-in's rds has 2 resources


def test_removed_units_are_destroyed_from_the_parent_commit_dependents_first(repo: Repo, terragrunt: StandIn) -> None:
    first = repo.commit(STACK)
    assert apply(repo, None, first).ok
    terragrunt.forget_calls()
    gone = (f"{UNIT}/rds/terragrunt.hcl", f"{UNIT}/rds-security-group/terragrunt.hcl")
    second = repo.commit({f"{UNIT}/s3/terragrunt.hcl": unit_file(extra="\n  versioning = true\n")}, deletes=gone)
    report = apply(repo, first, second)
    assert report.ok
    assert terragrunt.runs() == [("destroy", f"{UNIT}/rds"), ("destroy", f"{UNIT}/rds-security-group"),
                                 ("apply", f"{UNIT}/s3")]
    commits = [c["commit"] for c in terragrunt.calls()]
    assert commits == [first, first, second]  # destroyed where the unit still exists
    assert set(terragrunt.state()) == {f"{UNIT}/{u}" for u in ("security-group", "s3", "iam-role")}
    s3 = report.results[-1]
    assert (s3.add, s3.change, s3.destroy) == (0, 1, 0)


def test_a_failing_unit_stops_the_apply_and_a_rerun_does_only_what_failed(repo: Repo, terragrunt: StandIn) -> None:
    first = repo.commit(STACK)
    terragrunt.fail("rds-security-group", "apply", message="creating security group: InvalidGroup.Duplicate")
    log = io.StringIO()
    report = ip.run(repo.path, ip.find_changes(repo.path, None, first), "apply", ip.Runner(log=log))
    [failed] = report.failed
    assert failed.unit == f"{UNIT}/rds-security-group"
    assert failed.error.startswith("Error: creating security group: InvalidGroup.Duplicate")
    after = report.results[report.results.index(failed) + 1:]
    assert after and all(r.status == "not-run" and "rds-security-group failed first" in r.note for r in after)
    ran = [r.key for r in report.results if r.status != "not-run"]
    assert [r.key for r in ip.results_in_log(log.getvalue())] == ran

    terragrunt.clear()
    terragrunt.forget_calls()
    done = [r.key for r in ip.results_in_log(log.getvalue()) if r.status == "ok"]
    again = apply(repo, None, first, done=done)
    assert again.ok
    assert terragrunt.runs() == [("apply", r.unit) for r in [failed, *after]]
    assert all(r.note == "done in an earlier attempt" for r in again.results if r.key in done)


def test_a_plan_names_what_it_replaces_and_continues_past_a_failure(repo: Repo, terragrunt: StandIn) -> None:
    first = repo.commit(STACK)
    assert apply(repo, None, first).ok
    second = repo.commit({path: text + "# touched\n" for path, text in STACK.items() if path != "root.hcl"})
    terragrunt.replace("/rds")
    terragrunt.fail("/s3", "plan")
    terragrunt.forget_calls()
    report = ip.run(repo.path, ip.find_changes(repo.path, first, second, merge_base=True), "plan",
                    ip.Runner(log=io.StringIO()))
    by_unit = {r.unit.rsplit("/", 1)[1]: r for r in report.results}
    assert by_unit["rds"].replaced == ["aws_rds.this"]
    assert (by_unit["rds"].add, by_unit["rds"].destroy) == (1, 1)
    assert by_unit["s3"].status == "failed" and by_unit["iam-role"].status == "ok"  # a plan keeps going
    assert [c for c, _ in terragrunt.runs()] == ["plan"] * 5
    assert by_unit["security-group"].counts() == "+0 ~1 -0"
    text = ip.markdown(report)
    assert text.startswith(ip.PLAN_MARKER) and "replaces `aws_rds.this`" in text
    back = ip.report_in(text)
    assert back is not None and [r.line() for r in back.results] == [r.line() for r in report.results]


def test_removed_units_are_planned_for_destroy_on_a_pull_request(repo: Repo, terragrunt: StandIn) -> None:
    first = repo.commit(STACK)
    assert apply(repo, None, first).ok
    terragrunt.forget_calls()
    repo.git("checkout", "--quiet", "-b", "feature")
    head = repo.commit({}, deletes=(f"{UNIT}/s3/terragrunt.hcl",))
    repo.git("checkout", "--quiet", "main")
    moved = repo.commit({"README.md": "someone else\n"})  # the base moved: the PR still removes only s3
    report = ip.run(repo.path, ip.find_changes(repo.path, moved, head, merge_base=True), "plan",
                    ip.Runner(log=io.StringIO()))
    [only] = report.results
    assert (only.action, only.unit, only.destroy, only.destroyed) == ("plan-destroy", f"{UNIT}/s3", 1, ["aws_s3.this"])
    assert terragrunt.calls()[0]["commit"] == first


def test_changes_follow_root_hcl_and_local_modules(repo: Repo) -> None:
    stack = {**STACK, f"{UNIT}/target-group/terragrunt.hcl":
             'terraform {\n  source = "${get_repo_root()}/modules/launchpad-target-group"\n}\n',
             "modules/launchpad-target-group/main.tf": "# v1\n"}
    first = repo.commit(stack)
    second = repo.commit({"modules/launchpad-target-group/main.tf": "# v2\n"})
    assert ip.find_changes(repo.path, first, second).changed == [f"{UNIT}/target-group"]
    third = repo.commit({"root.hcl": "# new backend\n"})
    assert len(ip.find_changes(repo.path, second, third).changed) == 6
    assert ip.find_changes(repo.path, third, third) == ip.Changes(base=third, head=third, changed=[], removed=[])
    only = ip.only_account(ip.find_changes(repo.path, None, third), "222222222222", 0)
    assert only.changed == [] and only.removed == []


def test_a_dependency_cycle_is_refused() -> None:
    with pytest.raises(ip.PipelineError, match="cycle"):
        ip.dependency_order(["a", "b"], {"a": ["b"], "b": ["a"]})


def test_atlantis_projects_follow_the_dependency_blocks() -> None:
    units = {f"{UNIT}/{u}": STACK[f"{UNIT}/{u}/terragrunt.hcl"] for u in ("security-group", "rds-security-group")}
    rds_sg, sg = ip.atlantis_projects(units)  # by path
    assert rds_sg["depends_on"] == [f"{UNIT}/security-group"] and "depends_on" not in sg
    assert "../../../../../root.hcl" in sg["autoplan"]["when_modified"]


def test_the_command_line_applies_and_reports(repo: Repo, terragrunt: StandIn, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    first = repo.commit(STACK)
    results = tmp_path / "report.json"
    assert ip.main(["apply", "--repo", str(repo.path), "--head", first, "--results", str(results)]) == 0
    assert "Total: +6 ~0 -0" in capsys.readouterr().out
    terragrunt.fail("/s3", "apply")
    second = repo.commit({f"{UNIT}/s3/terragrunt.hcl": "# changed\n" + STACK[f"{UNIT}/s3/terragrunt.hcl"]})
    assert ip.main(["apply", "--repo", str(repo.path), "--base", first, "--head", second,
                    "--results", str(results)]) == 1
    assert ip.main(["verdict", "--results", str(results)]) == 1
    assert ip.main(["units", "--repo", str(repo.path), "--base", first, "--head", second]) == 0
    assert capsys.readouterr().out.endswith(f"change {UNIT}/s3\n")


def test_launchpad_infra_apply_and_plan(repo: Repo, terragrunt: StandIn, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    first = repo.commit(STACK)
    assert main(["infra", "apply", str(repo.path), "", first, "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "apply: 5 unit(s), +6 ~0 -0" in out and "ok       " in out
    second = repo.commit({}, deletes=(f"{UNIT}/s3/terragrunt.hcl",))
    assert main(["infra", "plan", str(repo.path), first, second]) == 0
    assert f"{UNIT}/s3 (plan-destroy): +0 ~0 -1" in capsys.readouterr().out
    terragrunt.fail("/s3", "destroy")
    assert main(["infra", "apply", str(repo.path), first, second]) == 1
    assert "destroy 111111111111/eu-west-1/devel/svc/s3 failed" in capsys.readouterr().err


def test_launchpad_infra_without_terragrunt_says_so(repo: Repo, no_terragrunt: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    first = repo.commit(STACK)
    assert main(["infra", "apply", str(repo.path), "", first]) == 3
    assert capsys.readouterr().err.startswith("skipped: terragrunt is not installed; nothing was applied")
