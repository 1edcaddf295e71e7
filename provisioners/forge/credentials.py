"""GitHub credentials as plain values, which one a change set may use, and keeping them out of logs.

A credential is a token or a GitHub App installation (app id, private key, installation id); the
bot maps its settings to these types, so `provisioners` never imports `bot`. Choosing a
credential is a pure function of (repository owner, the change set's environments): a devel change
never resolves to the prod credential. A change set spanning several environments uses the
credential of its most privileged environment (the last one in the configured order), so a
devel+prod pull request is opened with the prod credential and a devel-only one never is.
Names compare case-insensitively with '-' read as '_' (a temporary environment 'tmp-q4mig' is
configured as LAUNCHPAD_GITHUB_CREDENTIALS__TMP_Q4MIG__TOKEN), and a temporary environment without
a credential of its own uses its base environment's. `credential_problems` finds what is wrong with
a credential before any call (token format, ids, private key), one line each. Secrets are hidden
from `repr`, and `redact_github_logs` masks them in PyGithub's debug logs (which otherwise print
installation-token responses verbatim).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provisioners.errors import PermanentError


@dataclass(frozen=True)
class TokenCredential:
    """A personal access token or a fine-grained token."""

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("a GitHub token credential needs a non-empty token")
        register_secret(self.token)


@dataclass(frozen=True)
class AppCredential:
    """A GitHub App installation; installation tokens are fetched and cached until they expire."""

    app_id: int
    private_key: str = field(repr=False)
    installation_id: int

    def __post_init__(self) -> None:
        if not self.private_key:
            raise ValueError("a GitHub App credential needs its private key")
        register_secret(self.private_key)


Credential = TokenCredential | AppCredential


def make_credential(*, token: str | None = None, app_id: int | None = None, private_key: str | None = None,
                    installation_id: int | None = None) -> Credential:
    """Build a credential from plain values (what bot/config.py GitHubCredential holds, unwrapped)."""
    if token:
        return TokenCredential(token)
    if app_id is not None and private_key and installation_id is not None:
        return AppCredential(app_id=app_id, private_key=private_key, installation_id=installation_id)
    raise ValueError("a GitHub credential needs a token, or app_id + private_key + installation_id")


def credential_name(name: str) -> str:
    """A credential name as lookups compare it: lower case, anything an environment variable cannot hold
    (the '-' of 'tmp-q4mig', of 'acme-corp') as '_'; the YAML-only 'owner/env' keeps its '/'."""
    return re.sub(r"[^a-z0-9_/]", "_", name.lower())


def credential_variable(name: str, field: str = "TOKEN") -> str:
    """The environment variable that sets `field` of credential `name`, spelled so a shell can export it."""
    return f"LAUNCHPAD_GITHUB_CREDENTIALS__{credential_name(name).replace('/', '_').upper()}__{field}"


def credential_keys(repo: str, environment: str | None, base: str | None = None) -> list[str]:
    """Names tried in order for one environment: organisation-specific first, then generic; then, for a
    temporary environment, its `base` environment's names; then default. YAML may use 'acme/prod';
    environment variables cannot hold '/' or '-', so 'acme_prod' and 'tmp_q4mig' work too."""
    owner = repo.split("/", 1)[0] if "/" in repo else ""
    names = [environment] if environment else []
    if base and environment and credential_name(base) != credential_name(environment):
        names.append(base)
    names.append("default")
    keys: list[str] = []
    for name in names:
        if owner:
            keys += [f"{owner}/{name}", f"{owner}_{name}"]
        keys.append(name)
    return [credential_name(k) for k in keys]


def choose_credential(credentials: Mapping[str, Credential], repo: str, environments: Sequence[str],
                      order: Sequence[str], temporary_base: str | None = None) -> str:
    """The configured name of the credential for this repository and change set.

    `order` lists standard environments from least to most privileged; environments not in it
    (temporary ones) rank lowest and, unless a credential names them, use `temporary_base`'s
    credential (platform.temporary_environment_base). Raises PermanentError naming what to configure
    when none fits."""
    available = {credential_name(k): k for k in credentials}
    rank = {env.lower(): i for i, env in enumerate(order)}
    env = max(environments, key=lambda e: rank.get(e.lower(), -1)) if environments else None
    temporary = env is not None and env.lower() not in rank
    base = temporary_base if temporary else None
    for key in credential_keys(repo, env, base):
        if key in available:
            return available[key]
    wanted = env or "default"
    hint = f"set {credential_variable(wanted)} (or the App fields)"
    if base:
        hint = (f"set {credential_variable(base)} (temporary environment {wanted!r} uses its base environment "
                f"{base!r}'s credential) or {credential_variable(wanted)} (or the App fields)")
    raise PermanentError(f"no GitHub credential for {repo} in environment {wanted!r}; {hint}, see docs/forge.md")


# --- checking credentials before they are used ---------------------------------------------------

_TOKEN_FORMATS = re.compile(r"gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,}|[0-9a-f]{40}")


def describe(name: str, credential: Credential) -> str:
    """How messages name a credential: its configured name, and for an App its app and installation ids."""
    if isinstance(credential, AppCredential):
        return (f"credential {name!r} (GitHub App {credential.app_id}, "
                f"installation {credential.installation_id})")
    return f"credential {name!r}"


def private_key_pem(credential: AppCredential) -> str:
    """The key as PEM text; a key pasted into one line with literal '\\n' escapes (a common way to put a
    .pem into an environment variable) is accepted too."""
    text = credential.private_key.strip()
    if "\\n" in text and "\n" not in text:
        text = text.replace("\\n", "\n")
    return text


def load_private_key(name: str, credential: AppCredential) -> Any:
    """The App's RSA private key, or a PermanentError (one line) saying what is wrong with it."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    where = credential_variable(name, "PRIVATE_KEY")
    text = private_key_pem(credential)
    if "-----BEGIN" not in text:
        raise PermanentError(f"{describe(name, credential)}: the private key is not a PEM key (no '-----BEGIN' "
                             f"line); set {where} to the whole .pem file GitHub generated for the App")
    try:
        # the RSA consistency check costs ~0.1 s a key; a key that parses but is inconsistent signs JWTs GitHub
        # rejects, which is reported as clearly (app.py)
        key = load_pem_private_key(text.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError) as err:
        reason = " ".join(str(err).split())[:120] or type(err).__name__
        raise PermanentError(f"{describe(name, credential)}: the private key does not parse ({reason}); set "
                             f"{where} to the whole .pem file GitHub generated for the App, line breaks "
                             "included") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PermanentError(f"{describe(name, credential)}: the private key is not an RSA key; GitHub Apps sign "
                             f"with RSA (RS256): set {where} to the .pem file GitHub generated")
    return key


def credential_problems(name: str, credential: Credential) -> list[str]:
    """What is wrong with a credential before any call (token format, ids, private key): one line each."""
    if isinstance(credential, TokenCredential):
        if _TOKEN_FORMATS.fullmatch(credential.token):
            return []
        stray = "; it has spaces, quotes or a 'Bearer' prefix" if re.search(r"\s|[\"']|^bearer",
                                                                              credential.token, re.I) else ""
        return [f"{describe(name, credential)}: the token does not look like a GitHub token (ghp_…, github_pat_…, "
                f"ghs_… or a 40-character classic token){stray}; check {credential_variable(name)}"]
    problems = []
    for setting, value in (("APP_ID", credential.app_id), ("INSTALLATION_ID", credential.installation_id)):
        if value <= 0:
            problems.append(f"{describe(name, credential)}: {setting.lower()} must be a positive number; check "
                            f"{credential_variable(name, setting)}")
    try:
        load_private_key(name, credential)
    except PermanentError as err:
        problems.append(str(err))
    return problems


# --- keeping secrets out of logs -----------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_TOKEN_FIELD = re.compile(r"""(["']token["']\s*:\s*["'])[^"']+(["'])""")
_TOKEN_SHAPES = re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})\b")


def register_secret(secret: str) -> None:
    """Remember a secret so the log filter masks it wherever it appears."""
    if len(secret) >= 8:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def redact(text: str) -> str:
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _TOKEN_FIELD.sub(r"\1***\2", text)
    return _TOKEN_SHAPES.sub("***", text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()


def redact_github_logs() -> None:
    """Attach the masking filter to PyGithub's request logger (idempotent; filters do not propagate,
    so it goes on the exact logger PyGithub writes to)."""
    for name in ("github.Requester", "github.GithubIntegration", "github"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
