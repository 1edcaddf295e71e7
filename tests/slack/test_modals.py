"""The new-service form <-> spec mapping: what a submission becomes, and where each error is shown."""

from __future__ import annotations

import pytest

from bot.slack.modals import form_errors, new_service_modal, spec_from_form
from provisioners.blueprint import BlueprintRegistry
from provisioners.errors import InvalidSpecError
from provisioners.platform import PlatformConfig
from provisioners.spec import parse_spec
from tests.slack.payloads import new_service_values

REGISTRY = BlueprintRegistry.load()
PLATFORM = PlatformConfig()


def errors_for(values: dict, blueprint: str = "web-service") -> dict[str, str]:
    data = spec_from_form(values, owner="U012ABCDEF")
    modal = new_service_modal(REGISTRY.all(), blueprint, sorted(PLATFORM.teams))
    with pytest.raises(InvalidSpecError) as exc:
        parse_spec(data, PLATFORM, REGISTRY)
    return form_errors(exc.value.errors, data, modal["blocks"])


def test_a_full_form_becomes_a_valid_spec() -> None:
    values = new_service_values(name="ranking-web", environments=["devel", "prod"], tmp_env="pr42", ttl="48",
                                image="111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-web:1.4.2",
                                port="9000", domain="ranking.example.com", components=["s3"],
                                description="Ranks results")
    data = spec_from_form(values, owner="U012ABCDEF")
    spec = parse_spec(data, PLATFORM, REGISTRY)
    assert [e.name for e in spec.environments] == ["devel", "prod", "tmp-pr42"]
    assert spec.environment("tmp-pr42").ttl_hours == 48
    assert spec.port == 9000 and spec.components.enabled() == ["s3"] and spec.owner == "U012ABCDEF"


def test_empty_optional_fields_are_left_to_defaults() -> None:
    data = spec_from_form(new_service_values(name="ranking-web", port=None, ttl=None), owner="U1")
    assert "port" not in data and "image" not in data and "domain" not in data and "components" not in data
    assert data["environments"] == [{"name": "devel"}]


def test_too_long_name_is_shown_on_the_name_field() -> None:
    errors = errors_for(new_service_values(name="a-very-long-service-name-for-target-groups"))
    assert list(errors) == ["name"]
    assert "target group" in errors["name"]


def test_unknown_domain_is_shown_on_the_domain_field() -> None:
    errors = errors_for(new_service_values(name="ranking-web", environments=["prod"], domain="ranking.evil.org"))
    assert list(errors) == ["domain"]
    assert "outside the hosted zones" in errors["domain"]


def test_missing_ttl_and_bad_slug_land_on_the_temporary_environment_fields() -> None:
    assert list(errors_for(new_service_values(name="svc", environments=[], tmp_env="pr42", ttl=None))) == ["ttl_hours"]
    assert list(errors_for(new_service_values(name="svc", environments=[], tmp_env="Way_Too_Long_Slug"))) == [
        "tmp_env"]


def test_no_environment_and_bad_team_are_each_on_their_field() -> None:
    errors = errors_for(new_service_values(name="svc", environments=[], team="nobody"))
    assert set(errors) == {"environments", "team"}


def test_errors_without_a_field_land_on_the_name_field_with_their_path() -> None:
    blocks = new_service_modal(REGISTRY.all(), "worker", sorted(PLATFORM.teams))["blocks"]
    errors = form_errors({"health_check_path": "must start with /", "domain": "no domain for a worker"},
                         {"environments": []}, blocks)
    assert errors == {"name": "health_check_path: must start with /; domain: no domain for a worker"}


def test_worker_form_has_no_domain_field() -> None:
    block_ids = {b.get("block_id") for b in new_service_modal(REGISTRY.all(), "worker", ["search"])["blocks"]}
    assert "domain" not in block_ids and "components" in block_ids
