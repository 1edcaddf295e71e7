"""What developers and CI own stays theirs. On the local forge: CI sets devel's image in the values repository,
a developer adds `env` by hand, and change requests (replicas) keep both — byte for byte where nothing else in
the file changes. A request that would have to overwrite the image is refused, naming the field and why. The
renderer's read-back rules themselves are pure (tested without I/O below)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from bot.workflow.api import State
from bot.workflow.clock import ManualClock
from provisioners import helm
from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import InvalidSpecError
from provisioners.forge.local import LocalForge
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec
from tests.deploy.support import VALUES, build, ci_deploys, run
from tests.workflow.support import ALICE, spec

DIGEST = "sha256:" + "9" * 64
DEVEL = "teams/search/ranking-api/values-devel.yaml"
ALPHA = "teams/search/ranking-api/values-alpha.yaml"
SHARED = "teams/search/ranking-api/values.yaml"


def with_replicas(**replicas: int) -> dict[str, object]:
    data = spec(envs=["devel", "alpha"])
    data["environments"] = [{"name": e, **({"replicas": replicas[e]} if e in replicas else {})}
                            for e in ("devel", "alpha")]
    return data


def test_change_requests_keep_what_ci_and_developers_own_byte_for_byte(tmp_path: Path) -> None:
    clock, forge = ManualClock(), LocalForge(tmp_path / "repos")
    services = build(tmp_path, None, clock, forge)
    wf = services.workflow
    assert run(services, clock, wf.submit_create(with_replicas(), ALICE).id).state == State.SUCCEEDED

    ci_deploys(forge, "ranking-api", "devel", "3f2a9c1", DIGEST)  # CI's pull request, merged
    shared = forge.read_file(VALUES, SHARED) or ""
    forge.commit_files(VALUES, {SHARED: shared + "env:\n  FEATURE_RANKING_V2: 'on'\n"}, message="by hand")
    devel_before, shared_before = forge.read_file(VALUES, DEVEL), forge.read_file(VALUES, SHARED)

    assert run(services, clock, wf.submit_create(with_replicas(alpha=3), ALICE).id).state == State.SUCCEEDED
    assert forge.read_file(VALUES, DEVEL) == devel_before  # CI's file, untouched to the byte
    assert forge.read_file(VALUES, SHARED) == shared_before  # the hand-added env survives
    assert yaml.safe_load(forge.read_file(VALUES, ALPHA) or "")["replicas"] == 3

    assert run(services, clock, wf.submit_create(with_replicas(devel=2, alpha=3), ALICE).id).state == State.SUCCEEDED
    devel = forge.read_file(VALUES, DEVEL) or ""
    assert yaml.safe_load(devel)["replicas"] == 2  # what the request owns changes...
    assert yaml.safe_load(devel)["image"] == yaml.safe_load(devel_before or "")["image"]  # ...CI's image does not
    assert "3f2a9c1" in devel and DIGEST in devel

    with pytest.raises(InvalidSpecError) as refused:
        wf.submit_create(with_replicas() | {"image": "registry.local/search/ranking-api:hotfix"}, ALICE)
    assert list(refused.value.errors) == ["image"]
    assert "belongs to CI (which deploys devel) and to promotions" in refused.value.errors["image"]
    assert "launchpad promote ranking-api ENV" in refused.value.errors["image"]


# --- the renderer's read-back, pure ---------------------------------------------------------------------------
CTX = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
SPEC = parse_spec(spec(envs=["devel", "alpha", "prod"]), CTX.platform, CTX.blueprints)
FILES = {e: f"teams/search/ranking-api/values-{e}.yaml" for e in ("devel", "alpha", "prod")}


def test_images_written_before_they_moved_per_environment_are_kept_everywhere() -> None:
    legacy = "image:\n  repository: r.local/search/ranking-api\n  tag: 'abc'\nport: 8080\n"
    ctx = dataclasses.replace(CTX, current={SHARED.replace("ranking-api", "ranking-api"): legacy})
    files = helm.render(SPEC, ctx).files
    assert "image" not in yaml.safe_load(files[SHARED])
    for path in FILES.values():
        assert yaml.safe_load(files[path])["image"] == {"repository": "r.local/search/ranking-api", "tag": "abc"}


def test_a_new_environment_starts_from_the_image_of_the_one_it_is_promoted_from() -> None:
    rendered = helm.environment_values(SPEC, CTX, "alpha")  # replicas and resources as the spec renders them
    alpha = yaml.safe_dump({"image": {"repository": "r.local/x", "tag": "2"},
                            **{k: v for k, v in rendered.items() if k != "image"}}, sort_keys=False)
    ctx = dataclasses.replace(CTX, current={FILES["devel"]: "image:\n  repository: r.local/x\n  tag: '3'\n",
                                            FILES["alpha"]: alpha})
    files = helm.render(SPEC, ctx).files
    assert yaml.safe_load(files[FILES["prod"]])["image"]["tag"] == "2"  # alpha's, not CI's newest build
    assert files[FILES["alpha"]] == alpha  # same data: the repository's text is kept as is


def test_promotion_changes_only_the_image_of_its_environment() -> None:
    current = "# hand\nimage:\n  repository: r.local/x\n  tag: '1'\nreplicas: 4\nenv:\n  A: b\n"
    ctx = dataclasses.replace(CTX, current={FILES["prod"]: current})
    cs = helm.render_promotion(SPEC, ctx, "prod", {"repository": "r.local/x", "tag": "2", "digest": DIGEST})
    assert list(cs.files) == [FILES["prod"]] and cs.environments == ["prod"]
    assert yaml.safe_load(cs.files[FILES["prod"]]) == {
        "image": {"repository": "r.local/x", "tag": "2", "digest": DIGEST}, "replicas": 4, "env": {"A": "b"}}
    with pytest.raises(Exception, match=r"values-alpha\.yaml is missing"):
        helm.render_promotion(SPEC, ctx, "alpha", {"repository": "r.local/x", "tag": "2"})
