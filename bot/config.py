"""Every knob in one place: a pydantic-settings class read from env (`LAUNCHPAD_*`), `.env`, and YAML.

Precedence: init arguments > environment > `.env` > the YAML file named by `LAUNCHPAD_CONFIG_FILE`
> defaults. Defaults run the whole tool on a fresh machine: SQLite, local git repositories, no
Slack or cloud credentials. No other module reads `os.environ`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from provisioners.keys import FORBID, closest, problems_of
from provisioners.platform import EnvironmentTarget, PlatformConfig, Team


class GitHubCredential(BaseModel):
    """A token, or a GitHub App installation; one per environment (and organisation) keeps blast radius small."""

    model_config = FORBID

    token: SecretStr | None = None
    app_id: int | None = None
    private_key: SecretStr | None = None
    installation_id: int | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GitHubCredential:
        app = (self.app_id, self.private_key, self.installation_id)
        if self.token is None and not all(v is not None for v in app):
            raise ValueError("a GitHub credential needs a token, or app_id + private_key + installation_id")
        return self


class ArgoCdEndpoint(BaseModel):
    """An Argo CD API server and a read-only token for it (an account with `applications, get` only)."""

    url: str = Field(description="API server, e.g. https://argocd.devel.example.com")
    token: SecretStr = Field(description="API token of a read-only Argo CD account")
    ui_url: str = Field(default="", description="base of the links in threads; default: url")
    ca_bundle: str = Field(default="", description="PEM file of the CA that signed the server's certificate")


class Settings(BaseSettings):
    """LaunchPad settings. Nested fields use `__` in env names: LAUNCHPAD_PLATFORM__ORGANISATION=acme."""

    model_config = SettingsConfigDict(env_prefix="LAUNCHPAD_", env_file=".env", env_nested_delimiter="__",
                                      extra="forbid")

    config_file: Path | None = Field(default=None, description="YAML file with any of these settings")
    data_dir: Path = Field(default=Path(".launchpad"), description="SQLite file and local git repositories")
    database_url: str = Field(default="", description="SQLAlchemy URL; default sqlite in data_dir")
    log_level: str = "INFO"
    log_json: bool = Field(default=False, description="structured JSON logs (one object per line)")

    # --- forge -------------------------------------------------------------------------------
    forge: Literal["local", "github"] = Field(default="local", description="where pull requests are opened")
    github_api_url: str = Field(default="https://api.github.com",
                                validation_alias=AliasChoices("github_api_url", "LAUNCHPAD_GITHUB_API_URL",
                                                                "GITHUB_API_URL"),
                                description="GitHub Enterprise: https://HOST/api/v3")
    github_credentials: dict[str, GitHubCredential] = Field(
        default_factory=dict,
        description="per environment name (or 'default'); e.g. LAUNCHPAD_GITHUB_CREDENTIALS__PROD__TOKEN; a "
                    "temporary environment uses its base environment's unless one is named for it, '-' written "
                    "'_' (LAUNCHPAD_GITHUB_CREDENTIALS__TMP_Q4MIG__TOKEN); check them with `launchpad config "
                    "--check`")
    github_rate_limit_wait_cap_seconds: int = Field(default=300,
                                                    description="longest wait for a primary rate-limit reset")
    github_api_mode: Literal["graphql", "rest"] = Field(
        default="graphql",
        description="graphql: 3 calls per new pull request, 1 per check; rest: the Git Data API (7 calls), the "
                    "fallback where GraphQL is unavailable; see docs/forge.md")
    github_writes_per_minute: int = Field(default=60, description="pace content-creating calls (GitHub caps ~80)")
    github_timeout_seconds: float = 15.0
    github_max_retries: int = 5

    # --- Slack -------------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = Field(default=None, description="xapp- token for Socket Mode")
    slack_signing_secret: SecretStr | None = Field(default=None, description="HTTP mode request verification")
    slack_api_url: str = Field(default="https://slack.com/api/",
                               description="Web API base URL (tests point it at a local server)")
    requests_channel: str = Field(default="", description="channel id where request threads live")
    sre_usergroup: str = Field(default="", description="Slack user group id of the approvers (SRE)")
    sre_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="extra approvers: Slack user ids, and the logins (or cli:<login>) who act as SRE from the CLI; "
                    "comma-separated in the environment")
    usergroup_cache_seconds: int = 300
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    http_workers: int = Field(default=1, ge=1, description="`serve --http`: gunicorn worker processes; each runs "
                              "the whole app (and the background jobs unless --no-worker), like a replica")
    http_threads: int = Field(default=16, ge=1, description="`serve --http`: request threads per gunicorn worker "
                              "(gthread); a thread is held only until the ack")
    http_graceful_timeout_seconds: int = Field(default=30, ge=1, description="`serve --http`: on SIGTERM or a "
                                               "reload (SIGHUP), how long requests in flight get to finish")
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger request bodies get 413 before "
                                     "they are read or verified (Slack's payloads are far smaller)")
    slack_after_ack_workers: int = Field(default=2, ge=1, description="listeners running their post-ack part "
                                         "(render, write, call Slack) at once, per process; sized for 2 cores")
    slack_after_ack_queue: int = Field(default=200, ge=0, description="post-ack parts waiting for a turn; one more "
                                       "is refused and the user told to try again (nothing is done)")
    slack_ack_threads: int = Field(default=16, ge=1, description="threads for ack parts (validate, ack) on top of "
                                   "the post-ack workers and queue; Bolt's listener pool is the sum of the three")
    slack_reconnect_max_seconds: float = Field(default=5.0, gt=0, description="Socket Mode: the longest wait "
                                               "between reconnect attempts (backoff from 0.5 s doubles up to it)")

    # --- workflow ----------------------------------------------------------------------------
    approval_policy_file: Path | None = Field(default=None, description="YAML approval rules; default built in")
    worker_lease_seconds: int = Field(default=120, description="a step whose worker is silent this long is reclaimed")
    worker_poll_seconds: float = 2.0
    worker_shutdown_grace_seconds: float = Field(
        default=25.0, ge=0,
        description="on SIGTERM a worker claims nothing more and gives its running steps this long to finish, then "
                    "hands them back to other workers and exits 0; keep the pod's terminationGracePeriodSeconds a "
                    "few seconds above it")
    step_max_attempts: int = Field(default=6, description="a step fails after this many attempts (transient "
                                                          "failures and runs whose worker died both count)")
    step_backoff_base_seconds: float = 5.0
    step_backoff_max_seconds: float = 900.0
    ttl_reminder_hours: int = Field(default=24, description="remind the owner this long before expiry")
    ttl_teardown_retry_hours: int = Field(
        default=24, ge=1,
        description="an expired temporary environment whose automatic teardown was cancelled or denied: the owner "
                    "is reminded at once and the teardown is opened again this long after it ended")
    auto_merge_local: bool = Field(default=True, description="local forge only: merge PRs as the demo proceeds")
    infra_pipeline_start_timeout_minutes: int = Field(
        default=15, description="wait_plan/wait_apply give up, saying the pipeline is missing or disabled, when no "
                                "run has started for the commit this long")
    infra_pipeline_poll_seconds: float = Field(
        default=20.0, description="first look at a running pipeline after this; each later look waits 1.5x "
                                  "longer, up to infra_pipeline_poll_max_seconds (see docs/pipeline.md)")
    infra_pipeline_poll_max_seconds: float = Field(default=300.0, description="longest wait between two looks")

    # --- following deployments (Argo CD) -------------------------------------------------------
    argocd: dict[str, ArgoCdEndpoint] = Field(
        default_factory=dict,
        description="per environment name (or 'default'), like github_credentials: e.g. "
                    "LAUNCHPAD_ARGOCD__PROD__URL and LAUNCHPAD_ARGOCD__PROD__TOKEN; temporary environments use "
                    "their base environment's; none: deploy steps say 'skipped: Argo CD not configured'")
    argocd_timeout_seconds: float = Field(default=10.0, description="one Argo CD API call")
    argocd_max_retries: int = Field(default=3, description="retries of one Argo CD call on 5xx, 429 and timeouts")
    deploy_timeout_seconds: int = Field(default=900, description="wait_deploy fails when a deployment is not "
                                                                 "Synced, Healthy (and live) this long after it began")
    prune_timeout_seconds: int = Field(default=900, description="wait_prune fails (and no infrastructure is "
                                                                "destroyed) when an Application is not gone by then")
    deploy_poll_seconds: float = Field(default=10.0, description="first poll interval of wait_deploy/wait_prune; "
                                                                 "it doubles per poll")
    deploy_poll_max_seconds: float = Field(default=60.0, description="longest poll interval")
    deploy_probe: bool = Field(default=True, description="after Healthy, GET https://<domain><path> of web services")
    deploy_probe_path: str = Field(default="", description="path the probe requests; default: the service's "
                                                           "health check path")
    deploy_probe_timeout_seconds: float = 5.0

    # --- AWS ---------------------------------------------------------------------------------
    aws_region: str = "eu-west-1"
    aws_endpoint_url: str | None = Field(default=None, description="tests point boto3 at a local moto server")
    iam_user_map: dict[str, str] = Field(default_factory=dict, description="email -> IAM user name")
    iam_user_email_tag: str = Field(default="email", description="IAM user tag holding the owner's email")
    password_resets_per_hour: int = 3
    lookup_cache_seconds: int = 300

    # --- what gets generated -------------------------------------------------------------------
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    templates_dir: Path | None = Field(default=None, description="override the bundled templates/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _OwnDotEnv(dotenv_settings), _YamlSource(settings_cls),
                file_secret_settings)

    @field_validator("sre_users", mode="before")
    @classmethod
    def _comma_separated(cls, v: Any) -> Any:
        """`LAUNCHPAD_SRE_USERS=alice,U012ABCDEF` (a JSON list works too)."""
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return yaml.safe_load(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return v

    @model_validator(mode="after")
    def _environments_are_named(self) -> Settings:
        """A configured environment names its own VPC, load balancer and cluster: the field defaults are the
        embedded example's placeholders, and a real environment silently using them deploys nowhere."""
        for env, target in self.platform.environments.items():
            missing = target.placeholders()
            if missing:
                raise ValueError(f"platform.environments.{env} leaves {', '.join(missing)} at the example "
                                 "placeholders; set them to this environment's own values (docs/configuration.md)")
        return self

    @field_validator("slack_bot_token", "slack_app_token", "slack_signing_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`LAUNCHPAD_SLACK_APP_TOKEN=` (set but empty, as a blank Kubernetes secret makes it) means unset."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'launchpad.db'}"

    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None


class _OwnDotEnv(PydanticBaseSettingsSource):
    """The `.env` file's LaunchPad variables only: it may hold other tools' variables too, but a
    `LAUNCHPAD_*` name that is no setting stays in, so it is refused with the closest setting named."""

    def __init__(self, source: PydanticBaseSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self.source = source

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.source().items()
                if k in Settings.model_fields or k == "github_api_url" or k.lower().startswith("launchpad_")}


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by LAUNCHPAD_CONFIG_FILE (or config_file passed at init)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self.current_state.get("config_file") or os.environ.get("LAUNCHPAD_CONFIG_FILE")
        if not path:
            return {}
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"settings file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"settings file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings at the top level")
        return data


def settings_problems(exc: ValidationError) -> str:
    """A settings error as one line: each problem with where it is, unknown keys with the closest setting."""
    extra = [e for e in exc.errors() if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    lines = []
    for err in extra:  # top level: from the YAML file (`forg`) or a LAUNCHPAD_* variable in .env
        key = str(err["loc"][0])
        bare = key.lower().removeprefix("launchpad_")
        hint = closest(bare, Settings.model_fields)
        shown = f"LAUNCHPAD_{bare.upper()}" if key.lower().startswith("launchpad_") else key
        wanted = (f"LAUNCHPAD_{hint.upper()}" if key.lower().startswith("launchpad_") else hint) if hint else None
        lines.append(f"unknown setting {shown!r}" + (f"; did you mean {wanted!r}?" if wanted else ""))
    rest = [e for e in exc.errors() if e not in extra]
    if rest:
        lines.append(problems_of(Settings, rest))
    return "; ".join(lines) + " (see docs/configuration.md)"


def mask_url(url: str) -> str:
    """A URL with its password replaced by ***, for display (`launchpad config`, error messages)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def reference_markdown() -> str:
    """The settings reference in docs/configuration.md, generated from the fields so it cannot drift."""
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default: Any = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            shown = "(see below)"
        elif isinstance(default, dict | list) and not default:
            shown = "empty"
        elif default is None or default == "":
            shown = "unset"
        else:
            shown = f"`{default}`"
        lines.append(f"| `LAUNCHPAD_{name.upper()}` | {shown} | {field.description or ''} |")
    lines += ["", "### Platform (`LAUNCHPAD_PLATFORM__*` or `platform:` in the YAML file)", "",
              "| key | default | what it does |", "|---|---|---|"]
    for name, field in PlatformConfig.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "(structured; see example)" if isinstance(default, dict | list | BaseModel) else f"`{default}`"
        lines.append(f"| `platform.{name}` | {shown} | {field.description or ''} |")
    for prefix, model in (("platform.teams.<team>", Team), ("platform.environments.<env>", EnvironmentTarget)):
        lines += ["", f"#### `{prefix}`", "", "| key | default | what it does |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            default = field.get_default(call_default_factory=True)
            shown = "required" if field.is_required() else ("empty" if default in ([], "") else f"`{default}`")
            lines.append(f"| `{name}` | {shown} | {field.description or ''} |")
    return "\n".join(lines) + "\n"
