"""Which credential a change set uses, as the application wires it: temporary environments use their base
environment's credential unless one is configured for them, under a name a shell can export; the
platform's environment order ranks environments; a credential that cannot work stops start-up in one
line; and docs/forge.md lists every permission an installation token is asked for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings
from bot.services import CredentialsError, build_services
from provisioners.errors import PermanentError
from provisioners.forge.app import WORKFLOWS, WRITE
from provisioners.forge.credentials import TokenCredential, choose_credential
from provisioners.forge.router import ForgeRouter
from provisioners.platform import PlatformConfig

ORDER = ["devel", "alpha", "prod"]
TOKENS = {"devel": "ghp_devel000000000000000000", "alpha": "ghp_alpha000000000000000000",
          "prod": "ghp_prod0000000000000000000"}
EXPORTABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def creds(*names: str) -> dict[str, TokenCredential]:
    return {name: TokenCredential(f"ghp_{name.replace('-', '').replace('/', '')}0000000000000000") for name in names}


def test_a_temporary_environment_uses_its_base_environments_credential_unless_it_has_one() -> None:
    available = creds("devel", "prod", "default")
    assert choose_credential(available, "platform/infra", ["tmp-q4mig"], ORDER, "devel") == "devel"
    assert choose_credential(available, "platform/infra", ["tmp-q4mig"], ORDER, "alpha") == "default"
    # configured for it: as the environment variable LAUNCHPAD_GITHUB_CREDENTIALS__TMP_Q4MIG__TOKEN names it,
    # as YAML may spell it, and per organisation
    for name in ("tmp_q4mig", "tmp-q4mig", "TMP_Q4MIG", "platform_tmp_q4mig", "platform/tmp-q4mig"):
        assert choose_credential({**available, **creds(name)}, "platform/infra", ["tmp-q4mig"], ORDER,
                                 "devel") == name
    assert choose_credential(creds("acme-corp_prod", "prod"), "acme-corp/infra", ["prod"], ORDER) == "acme-corp_prod"


def test_a_missing_credential_names_variables_a_shell_can_export() -> None:
    with pytest.raises(PermanentError) as err:
        choose_credential(creds("prod"), "platform/infra", ["tmp-q4mig"], ORDER, "devel")
    message = str(err.value)
    suggested = re.findall(r"LAUNCHPAD_GITHUB_CREDENTIALS__\S+__TOKEN", message)
    assert suggested == ["LAUNCHPAD_GITHUB_CREDENTIALS__DEVEL__TOKEN", "LAUNCHPAD_GITHUB_CREDENTIALS__TMP_Q4MIG__TOKEN"]
    assert all(EXPORTABLE.match(name) for name in suggested) and "base environment 'devel'" in message


def github_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path, "forge": "github", "github_api_url": "http://127.0.0.1:9",
                                 "github_credentials": {env: {"token": t} for env, t in TOKENS.items()}}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_the_suggested_variable_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHPAD_GITHUB_CREDENTIALS__TMP_Q4MIG__TOKEN", "ghp_tmpq4mig000000000000000")
    settings = Settings(data_dir=tmp_path, forge="github")
    services = build_services(settings)
    try:
        assert isinstance(services.forges, ForgeRouter)
        assert services.forges.credential_for("platform/infra-live", ["tmp-q4mig"]) == "tmp_q4mig"
    finally:
        services.close()


def test_the_platform_environment_order_and_temporary_base_reach_the_router(tmp_path: Path) -> None:
    services = build_services(github_settings(tmp_path / "defaults"))
    try:
        assert services.forges.credential_for("platform/infra-live", ["tmp-q4mig"]) == "devel"  # type: ignore[attr-defined]
    finally:
        services.close()
    platform = PlatformConfig(environment_order=["devel", "prod", "alpha"], temporary_environment_base="alpha")
    services = build_services(github_settings(tmp_path, platform=platform))
    try:
        routes = services.forges
        assert isinstance(routes, ForgeRouter)
        assert routes.credential_for("platform/infra-live", ["alpha", "prod"]) == "alpha"  # alpha ranks highest here
        assert routes.credential_for("platform/infra-live", ["tmp-q4mig"]) == "alpha"  # its base, not 'default'
    finally:
        services.close()


def test_a_credential_that_cannot_work_stops_start_up_in_one_line_each(tmp_path: Path) -> None:
    bad = {"devel": {"token": "Bearer ghp_devel000000000000000000"},
           "prod": {"app_id": 42, "installation_id": 7, "private_key": "ghp_pasted_a_token_here"}}
    with pytest.raises(CredentialsError) as err:
        build_services(github_settings(tmp_path, github_credentials=bad))
    assert [p.split(":")[0] for p in err.value.problems] == [
        "credential 'devel'", "credential 'prod' (GitHub App 42, installation 7)"]
    assert "LAUNCHPAD_GITHUB_CREDENTIALS__DEVEL__TOKEN" in err.value.problems[0]
    assert "LAUNCHPAD_GITHUB_CREDENTIALS__PROD__PRIVATE_KEY" in err.value.problems[1]
    assert "ghp_devel0" not in str(err.value) and "ghp_pasted" not in str(err.value)  # never the values
    assert all("\n" not in p for p in err.value.problems)


def test_docs_list_every_permission_an_installation_token_asks_for() -> None:
    table = (Path(__file__).parents[2] / "docs" / "forge.md").read_text()
    labels = {"contents": "Contents", "issues": "Issues", "metadata": "Metadata", "pull_requests": "Pull requests",
              "workflows": "Workflows"}
    for permission, level in {**WRITE, **WORKFLOWS}.items():
        wanted = "read & write" if level == "write" else "read"
        assert re.search(rf"^\| {labels[permission]} \| {wanted} \|", table, re.M), permission
