"""Console password reset against moto server: policy-compliant passwords, who may reset whose, rate limit,
clear errors, and a temporary password that never reaches a log, an exception, an audit line or a file."""

from __future__ import annotations

import contextlib
import logging
import pickle
import random
import string
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.aws.clients import AwsClients
from bot.aws.errors import (
    AwsAccessDenied,
    AwsError,
    NoIdentityMapping,
    NoSuchIamUser,
    PolicyUnreadable,
    ResetNotAllowed,
    ResetRateLimited,
)
from bot.aws.iam_password import (
    IAM_SYMBOLS,
    ConsolePasswords,
    InMemoryResetLimiter,
    PasswordPolicy,
    ResetRequest,
    TemporaryPassword,
    generate_password,
    policy_problems,
)
from bot.aws.redact import secret_forms

IAM_ALLOWED = set(string.ascii_letters + string.digits + IAM_SYMBOLS)


class RecordingAudit:
    def __init__(self) -> None:
        self.events: list[dict[str, str]] = []

    def record(self, *, action: str, actor: str, subject: str, message: str) -> None:
        self.events.append({"action": action, "actor": actor, "subject": subject, "message": message})


class WallClock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def iam(clients: AwsClients) -> Any:
    return clients.iam


@pytest.fixture
def make_user(iam: Any) -> Callable[..., tuple[str, str]]:
    """A fresh IAM user (unique name) tagged with a fresh email; returns (name, email)."""
    def make(stem: str = "user", *, tagged: bool = True, name: str | None = None) -> tuple[str, str]:
        suffix = uuid.uuid4().hex[:8]
        email = f"{stem}-{suffix}@example.com"
        user = name or f"{stem}-{suffix}"
        tags = [{"Key": "email", "Value": email.upper() if stem == "shouty" else email}] if tagged else []
        iam.create_user(UserName=user, **({"Tags": tags} if tags else {}))
        return user, email
    return make


@pytest.fixture
def audit() -> RecordingAudit:
    return RecordingAudit()


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def passwords(iam: Any, audit: RecordingAudit, wall: WallClock) -> Callable[..., ConsolePasswords]:
    def build(user_map: dict[str, str] | None = None, per_hour: int = 3, **kw: Any) -> ConsolePasswords:
        return ConsolePasswords(iam, user_map=user_map or {}, email_tag="email",
                                limiter=InMemoryResetLimiter(per_hour, wall), audit=audit, **kw)
    return build


@pytest.fixture
def account_policy(iam: Any) -> Iterator[Callable[..., None]]:
    def put(**policy: Any) -> None:
        iam.update_account_password_policy(**policy)
    yield put
    with contextlib.suppress(ClientError):
        iam.delete_account_password_policy()


def login_profile(iam: Any, user: str) -> dict[str, Any] | None:
    try:
        profile: dict[str, Any] = iam.get_login_profile(UserName=user)["LoginProfile"]
        return profile
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchEntity"
        return None


def refuse(client: Any, event: str, code: str, operation: str) -> None:
    """Gap: moto server does not enforce IAM permissions, so a refusal is injected on this one call."""
    def handler(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "User is not authorized to perform this action"}},
                          operation)
    client.meta.events.register(f"before-call.iam.{event}", handler)


# --- the password itself --------------------------------------------------------------------------------------------

POLICIES = st.builds(PasswordPolicy, minimum_length=st.integers(6, 128), require_symbols=st.booleans(),
                     require_numbers=st.booleans(), require_uppercase=st.booleans(), require_lowercase=st.booleans(),
                     from_account=st.just(True))


@settings(max_examples=300)
@given(POLICIES, st.randoms(use_true_random=False))
def test_generated_passwords_satisfy_any_policy(policy: PasswordPolicy, rng: random.Random) -> None:
    password = generate_password(policy, rng).reveal()
    assert policy_problems(policy, password) == []
    assert max(20, policy.minimum_length) <= len(password) <= 128
    assert set(password) <= IAM_ALLOWED
    # every class, whatever the policy asks: stricter policies later still accept it
    assert policy_problems(PasswordPolicy(minimum_length=6, require_symbols=True, require_numbers=True,
                                          require_uppercase=True, require_lowercase=True), password) == []


def test_policy_problems_names_what_is_missing_without_the_password() -> None:
    strict = PasswordPolicy(minimum_length=30, require_symbols=True, require_numbers=True, require_uppercase=True,
                            require_lowercase=True)
    problems = policy_problems(strict, "lowercaseonly")
    assert problems == ["shorter than 30", "no uppercase letter", "no digit", "no symbol"]
    assert not any("lowercaseonly" in p for p in problems)


def test_passwords_differ_and_hide_themselves() -> None:
    a, b = generate_password(PasswordPolicy()), generate_password(PasswordPolicy())
    assert a.reveal() != b.reveal()
    for shown in (repr(a), str(a), f"{a}", f"{a}", f"{a!s:>40}"):
        assert a.reveal() not in shown
    with pytest.raises(TypeError, match="never serialised"):
        pickle.dumps(a)
    assert isinstance(a, TemporaryPassword) and len(a) == 20


# --- who may reset whose --------------------------------------------------------------------------------------------


def test_own_reset_creates_then_updates_the_login_profile(passwords: Callable[..., ConsolePasswords], iam: Any,
                                                          make_user: Callable[..., tuple[str, str]],
                                                          audit: RecordingAudit) -> None:
    user, email = make_user("alice")
    assert login_profile(iam, user) is None
    sent: list[tuple[str, Any]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, params.get("PasswordResetRequired")))

    iam.meta.events.register("provide-client-params.iam", record)
    ops = passwords()
    first = ops.reset(ResetRequest(actor="<@U0ALICE>", actor_email=email.upper()))
    assert (first.user.name, first.created, first.for_self, first.notify_email) == (user, True, True, None)
    assert first.user.account_id == "123456789012"
    assert first.sign_in_url == "https://123456789012.signin.aws.amazon.com/console"
    assert login_profile(iam, user) is not None
    # Gap: moto's CreateLoginProfile ignores PasswordResetRequired (its UpdateLoginProfile honours it), so for
    # the create the test checks what the client sent.
    assert ("CreateLoginProfile", True) in sent
    second = ops.reset(ResetRequest(actor="<@U0ALICE>", actor_email=email))
    assert second.created is False
    assert second.password.reveal() != first.password.reveal()
    profile = login_profile(iam, user)
    assert profile is not None and profile["PasswordResetRequired"] is True
    assert [e["message"] for e in audit.events] == [
        f"console password reset for IAM user {user} (their own) by <@U0ALICE>"] * 2


def test_account_policy_is_read_and_honoured(passwords: Callable[..., ConsolePasswords], iam: Any,
                                             make_user: Callable[..., tuple[str, str]],
                                             account_policy: Callable[..., None]) -> None:
    account_policy(MinimumPasswordLength=64, RequireSymbols=True, RequireNumbers=True,
                   RequireUppercaseCharacters=True, RequireLowercaseCharacters=True, AllowUsersToChangePassword=False)
    _, email = make_user("bob")
    ops = passwords()
    policy = ops.password_policy()
    assert (policy.minimum_length, policy.require_symbols, policy.from_account) == (64, True, True)
    reset = ops.reset(ResetRequest(actor="U0BOB", actor_email=email))
    assert len(reset.password) == 64
    assert policy_problems(policy, reset.password.reveal()) == []
    assert reset.warnings and "iam:ChangePassword" in reset.warnings[0]


def test_no_account_policy_means_a_sane_default(passwords: Callable[..., ConsolePasswords]) -> None:
    policy = passwords().password_policy()
    assert policy == PasswordPolicy()  # NoSuchEntity: AWS's defaults; our passwords are stronger anyway


def test_someone_elses_reset_is_refused_for_non_sre(passwords: Callable[..., ConsolePasswords], iam: Any,
                                                    make_user: Callable[..., tuple[str, str]],
                                                    audit: RecordingAudit) -> None:
    alice, alice_email = make_user("alice")
    bob, bob_email = make_user("bob")
    ops = passwords()
    for target in (bob_email, bob):
        with pytest.raises(ResetNotAllowed, match=f"only your own console password \\(yours is {alice}\\)"):
            ops.reset(ResetRequest(actor="U0ALICE", actor_email=alice_email, target=target))
    assert login_profile(iam, bob) is None and login_profile(iam, alice) is None
    # refusals are audited too (issue 12, item 17): who asked, for whom, why; never a password
    assert [e["action"] for e in audit.events] == ["aws.console_password_reset_refused"] * 2
    assert all("only your own console password" in e["message"] and e["actor"] == "U0ALICE" for e in audit.events)
    # naming yourself is fine
    assert ops.reset(ResetRequest(actor="U0ALICE", actor_email=alice_email, target=alice)).for_self


def test_sre_may_reset_someone_elses_and_that_person_is_to_be_told(passwords: Callable[..., ConsolePasswords],
                                                                   iam: Any, audit: RecordingAudit,
                                                                   make_user: Callable[..., tuple[str, str]]) -> None:
    _, sre_email = make_user("carol")
    bob, bob_email = make_user("bob")
    reset = passwords().reset(ResetRequest(actor="<@U0CAROL>", actor_email=sre_email, actor_is_sre=True,
                                           target=bob))
    assert (reset.user.name, reset.for_self, reset.notify_email) == (bob, False, bob_email)
    assert login_profile(iam, bob) is not None
    assert audit.events[-1]["message"] == f"console password reset for IAM user {bob} ({bob}'s) by <@U0CAROL>"
    # an SRE without an IAM user of their own (e.g. the CLI) may still reset others
    again = passwords().reset(ResetRequest(actor="cli:ops", actor_email=None, actor_is_sre=True, target=bob_email))
    assert again.user.name == bob


# --- identity mapping -----------------------------------------------------------------------------------------------


def test_mapping_by_tag_when_the_user_name_says_nothing(passwords: Callable[..., ConsolePasswords],
                                                        clients: AwsClients,
                                                        make_user: Callable[..., tuple[str, str]]) -> None:
    user, email = make_user("dana", name=f"iam-{uuid.uuid4().hex[:10]}")
    ops = passwords()
    with clients.calls.scope() as calls:
        assert ops.user_for_email(email).name == user
    assert calls["iam.ListUsers"] >= 1 and calls["iam.ListUserTags"] >= 1
    with clients.calls.scope() as cached:
        assert ops.user_for_email(email).name == user
    assert "iam.ListUsers" not in cached  # the email index is cached


def test_mapping_by_configured_map(passwords: Callable[..., ConsolePasswords],
                                   make_user: Callable[..., tuple[str, str]]) -> None:
    user, _ = make_user("legacy", tagged=False)
    ops = passwords(user_map={"Eve@Corp.example": user})
    assert ops.user_for_email("eve@corp.example").name == user
    assert ops.user_for_email("eve@corp.example").email == "eve@corp.example"


def test_clear_errors_for_unmapped_missing_and_ambiguous(passwords: Callable[..., ConsolePasswords], iam: Any,
                                                         make_user: Callable[..., tuple[str, str]]) -> None:
    with pytest.raises(NoIdentityMapping, match=r"no IAM user is tagged email=nobody@example.com; ask an SRE"):
        passwords().reset(ResetRequest(actor="U1", actor_email="nobody@example.com"))
    with pytest.raises(NoSuchIamUser, match=r"iam_user_map maps ghost@example\.com to IAM user 'ghost-user', "
                                            r"which does not exist"):
        passwords(user_map={"ghost@example.com": "ghost-user"}).reset(
            ResetRequest(actor="U1", actor_email="ghost@example.com"))
    with pytest.raises(NoIdentityMapping, match="no verified email"):
        passwords().reset(ResetRequest(actor="U1", actor_email=None))
    email = f"twin-{uuid.uuid4().hex[:6]}@example.com"
    for _ in range(2):
        iam.create_user(UserName=f"iam-{uuid.uuid4().hex[:10]}", Tags=[{"Key": "email", "Value": email}])
    with pytest.raises(NoIdentityMapping, match="all carry email="):
        passwords().user_for_email(email)
    # a user named after the email (or its local part) is taken first: cheap, and the obvious owner
    named, named_email = make_user("twin")
    iam.create_user(UserName=f"iam-{uuid.uuid4().hex[:10]}", Tags=[{"Key": "email", "Value": named_email}])
    assert passwords().user_for_email(named_email).name == named
    # ...but a name alone maps nobody: without the email tag, `bob` could be anyone's (docs/aws.md said
    # otherwise; issue 12, item 16)
    _, untagged_email = make_user("plain", tagged=False)
    with pytest.raises(NoIdentityMapping, match="no IAM user is tagged"):
        passwords().user_for_email(untagged_email)
    with pytest.raises(NoSuchIamUser, match="no IAM user named 'nobody-at-all'"):
        passwords().reset(ResetRequest(actor="U1", actor_email=None, actor_is_sre=True, target="nobody-at-all"))


# --- rate limit -----------------------------------------------------------------------------------------------------


@pytest.fixture(params=["process", "database"])
def limiter_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_resets_are_rate_limited_per_user(passwords: Callable[..., ConsolePasswords], wall: WallClock,
                                          make_user: Callable[..., tuple[str, str]], limiter_kind: str,
                                          tmp_path: Any, iam: Any, audit: RecordingAudit) -> None:
    user, email = make_user("frank")
    _, other_email = make_user("gina")
    ops = passwords(per_hour=3)
    if limiter_kind == "database":
        from bot.aws.operations import StoreResetLimiter
        from bot.store.database import Store

        store = Store(f"sqlite:///{tmp_path / 'lp.db'}")
        store.upgrade()
        ops = ConsolePasswords(iam, user_map={}, email_tag="email", limiter=StoreResetLimiter(store, 3, wall),
                               audit=audit)
    for _ in range(3):
        ops.reset(ResetRequest(actor="U1", actor_email=email))
        wall.now += 60
    with pytest.raises(ResetRateLimited, match=f"{user}'s console password was reset 3 times in the last hour") as exc:
        ops.reset(ResetRequest(actor="U1", actor_email=email))
    assert exc.value.retry_at.timestamp() == pytest.approx(1_900_000_000.0 + 3600)
    assert audit.events[-1]["action"] == "aws.console_password_reset_refused"
    ops.reset(ResetRequest(actor="U2", actor_email=other_email))  # another user is not affected
    wall.now = 1_900_000_000.0 + 3600
    ops.reset(ResetRequest(actor="U1", actor_email=email))  # the first reset has left the window


def test_the_limit_in_the_database_holds_across_processes(iam: Any, audit: RecordingAudit, wall: WallClock,
                                                         make_user: Callable[..., tuple[str, str]],
                                                         tmp_path: Any) -> None:
    """Each `launchpad reset-password` run (and each bot replica) builds its own limiter; the count is shared
    (issue 12, item 17: the limit used to restart with every CLI run)."""
    from bot.aws.operations import StoreResetLimiter
    from bot.store.database import Store

    store = Store(f"sqlite:///{tmp_path / 'lp.db'}")
    store.upgrade()
    user, email = make_user("ivan")
    for _ in range(2):  # two "runs", each with a fresh limiter
        ConsolePasswords(iam, user_map={}, email_tag="email", limiter=StoreResetLimiter(store, 2, wall),
                         audit=audit).reset(ResetRequest(actor="U1", actor_email=email))
    fresh = ConsolePasswords(iam, user_map={}, email_tag="email", limiter=StoreResetLimiter(store, 2, wall),
                             audit=audit)
    with pytest.raises(ResetRateLimited, match=f"{user}'s console password was reset 2 times"):
        fresh.reset(ResetRequest(actor="U1", actor_email=email))


# --- AWS refusals ---------------------------------------------------------------------------------------------------


def test_policy_unreadable_and_access_denied_say_what_to_do(passwords: Callable[..., ConsolePasswords],
                                                            clients: AwsClients, settings_factory: Any,
                                                            make_user: Callable[..., tuple[str, str]]) -> None:
    user, email = make_user("hank")
    denied_policy = settings_factory()
    refuse(denied_policy.iam, "GetAccountPasswordPolicy", "AccessDenied", "GetAccountPasswordPolicy")
    ops = passwords()
    ops.iam = denied_policy.iam
    with pytest.raises(PolicyUnreadable, match=r"iam:GetAccountPasswordPolicy denied.*ask an SRE"):
        ops.reset(ResetRequest(actor="U1", actor_email=email))
    denied_create = settings_factory()
    refuse(denied_create.iam, "CreateLoginProfile", "AccessDenied", "CreateLoginProfile")
    ops.iam = denied_create.iam
    with pytest.raises(AwsAccessDenied, match=f"may not iam:CreateLoginProfile on {user}; an SRE must grant it"):
        ops.reset(ResetRequest(actor="U1", actor_email=email))
    assert login_profile(clients.iam, user) is None


@pytest.fixture
def settings_factory(settings: Any, aws_session: Any) -> Callable[[], AwsClients]:
    """Clients of their own, so a refusal injected on one does not touch the others."""
    return lambda: AwsClients.from_settings(settings, session=aws_session)


# --- the password goes nowhere but the result -----------------------------------------------------------------------


@pytest.fixture
def loud_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything at DEBUG, to the log capture and to stderr (captured by capfd), botocore included."""
    caplog.set_level(logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield caplog
    finally:
        logging.getLogger().removeHandler(handler)


def test_the_temporary_password_reaches_no_log_exception_audit_or_file(
        passwords: Callable[..., ConsolePasswords], make_user: Callable[..., tuple[str, str]],
        audit: RecordingAudit, loud_logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
        settings_factory: Callable[[], AwsClients], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _, email = make_user("ivy")
    ops = passwords()
    created = ops.reset(ResetRequest(actor="U1", actor_email=email))
    updated = ops.reset(ResetRequest(actor="U1", actor_email=email))
    secrets = [created.password.reveal(), updated.password.reveal()]

    # A failure after the password was generated: the generator is seeded so the test knows the password.
    seeded = ConsolePasswords(settings_factory().iam, user_map={}, email_tag="email",
                              limiter=InMemoryResetLimiter(10), audit=audit, rng_factory=lambda: random.Random(7))
    refuse(seeded.iam, "UpdateLoginProfile", "PasswordPolicyViolation", "UpdateLoginProfile")
    expected = generate_password(seeded.password_policy(), random.Random(7)).reveal()
    secrets.append(expected)
    with pytest.raises(AwsError) as failure:
        seeded.reset(ResetRequest(actor="U1", actor_email=email))
    shown_error = f"{failure.value}\n{failure.value!r}\n" + "".join(traceback.format_exception(failure.value))

    out, err = capfd.readouterr()
    logged = loud_logs.text
    assert "UpdateLoginProfile" in logged and "[redacted]" in logged  # botocore did log the calls, scrubbed
    assert "AWS rejected the generated password" in str(failure.value)
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in logged
            assert form not in out and form not in err
            assert form not in shown_error
            assert form not in repr(created) + repr(updated)
            assert all(form not in str(event) for event in audit.events)
    assert list(tmp_path.iterdir()) == []  # nothing written to disk
