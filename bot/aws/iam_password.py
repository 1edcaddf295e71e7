"""IAM console password reset: who may reset whose password, a policy-compliant password, and the reset itself.

Owns: mapping a verified email to an IAM user (user tag or configured map), the self-or-SRE rule, the
per-user rate limit, generating a password that satisfies the account policy, and creating or
updating the login profile with PasswordResetRequired. The temporary password leaves this module
only inside the returned `PasswordReset` (wrapped so that printing or logging it shows nothing);
it must never reach a log, an exception, an audit event, the database or a channel.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from botocore.exceptions import ClientError

from bot.aws.cache import Clock, TtlCache
from bot.aws.errors import (
    AwsError,
    NoIdentityMapping,
    NoSuchIamUser,
    PolicyUnreadable,
    ResetNotAllowed,
    ResetRateLimited,
    error_code,
    is_access_denied,
    translate,
)
from bot.aws.redact import secret_kept_out_of_logs

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

log = logging.getLogger(__name__)

# IAM accepts these symbols (see iam:UpdateAccountPasswordPolicy RequireSymbols). We draw from a subset that
# survives copy and paste into shells and Slack mrkdwn: no quote, backslash, pipe, ampersand, asterisk or underscore.
IAM_SYMBOLS = "!@#$%^&*()_+-=[]{}|'"
SAFE_SYMBOLS = "!#$%+-=@^()[]{}"
CLASSES: tuple[str, ...] = (string.ascii_lowercase, string.ascii_uppercase, string.digits, SAFE_SYMBOLS)
DEFAULT_LENGTH = 20
MAX_LENGTH = 128
IAM_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


# --- the password policy and the password (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class PasswordPolicy:
    """The parts of the account password policy a new password must satisfy."""

    minimum_length: int = 8
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase: bool = False
    require_lowercase: bool = False
    allow_users_to_change_password: bool = True
    from_account: bool = False  # False: the account has no policy and AWS's defaults apply

    @classmethod
    def from_aws(cls, data: Mapping[str, Any]) -> PasswordPolicy:
        return cls(minimum_length=int(data.get("MinimumPasswordLength", 8)),
                   require_symbols=bool(data.get("RequireSymbols", False)),
                   require_numbers=bool(data.get("RequireNumbers", False)),
                   require_uppercase=bool(data.get("RequireUppercaseCharacters", False)),
                   require_lowercase=bool(data.get("RequireLowercaseCharacters", False)),
                   allow_users_to_change_password=bool(data.get("AllowUsersToChangePassword", False)),
                   from_account=True)


class TemporaryPassword:
    """A password that shows itself only through `reveal()`: repr, str, f-strings and pickling hide it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "TemporaryPassword('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a temporary password is never serialised")


def generate_password(policy: PasswordPolicy, rng: random.Random | None = None) -> TemporaryPassword:
    """At least DEFAULT_LENGTH characters (more if the policy asks), always one of every class.

    Using every class whatever the policy says satisfies any combination of RequireXxx flags.
    """
    rng = rng or secrets.SystemRandom()
    length = min(MAX_LENGTH, max(DEFAULT_LENGTH, policy.minimum_length, len(CLASSES)))
    alphabet = "".join(CLASSES)
    chars = [rng.choice(pool) for pool in CLASSES] + [rng.choice(alphabet) for _ in range(length - len(CLASSES))]
    rng.shuffle(chars)
    return TemporaryPassword("".join(chars))


def policy_problems(policy: PasswordPolicy, password: str) -> list[str]:
    """What about `password` the policy rejects (empty when it complies). Never includes the password."""
    problems = []
    if len(password) < policy.minimum_length:
        problems.append(f"shorter than {policy.minimum_length}")
    if len(password) > MAX_LENGTH:
        problems.append(f"longer than {MAX_LENGTH}")
    if policy.require_lowercase and not any(c in string.ascii_lowercase for c in password):
        problems.append("no lowercase letter")
    if policy.require_uppercase and not any(c in string.ascii_uppercase for c in password):
        problems.append("no uppercase letter")
    if policy.require_numbers and not any(c in string.digits for c in password):
        problems.append("no digit")
    if policy.require_symbols and not any(c in IAM_SYMBOLS for c in password):
        problems.append("no symbol")
    if any(c not in string.ascii_letters + string.digits + IAM_SYMBOLS for c in password):
        problems.append("a character IAM does not accept")
    return problems


# --- rate limit and audit (injectable) ----------------------------------------------------------------------------


class ResetLimiter(Protocol):
    """Per-user limit on resets; `check` raises ResetRateLimited, `record` counts a reset that happened."""

    def check(self, user: str) -> None: ...

    def record(self, user: str) -> None: ...


class InMemoryResetLimiter:
    """A sliding one-hour window per IAM user, in this process.

    With several bot replicas each keeps its own window; the limit is then per replica (see docs/aws.md).
    """

    WINDOW_SECONDS = 3600.0

    def __init__(self, per_hour: int, clock: Clock = time.time) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._resets: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _window(self, user: str, now: float) -> deque[float]:
        window = self._resets.setdefault(user, deque())
        while window and now - window[0] >= self.WINDOW_SECONDS:
            window.popleft()
        return window

    def check(self, user: str) -> None:
        now = self._clock()
        with self._lock:
            window = self._window(user, now)
            if len(window) >= self.per_hour:
                raise ResetRateLimited.over(user, len(window), self.per_hour,
                                            datetime.fromtimestamp(window[0] + self.WINDOW_SECONDS, UTC))

    def record(self, user: str) -> None:
        now = self._clock()
        with self._lock:
            self._window(user, now).append(now)


class AuditSink(Protocol):
    """Where "password reset for X by Y" is recorded. Implementations get no secret, by construction."""

    def record(self, *, action: str, actor: str, subject: str, message: str) -> None: ...


class LogAudit:
    """Audit events as INFO lines on the `launchpad.audit` logger (default until a store is wired)."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("launchpad.audit")

    def record(self, *, action: str, actor: str, subject: str, message: str) -> None:
        self.logger.info("%s", message, extra={"audit_action": action, "audit_actor": actor,
                                               "audit_subject": subject})


# --- identity ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IamUser:
    name: str
    arn: str
    email: str | None = None  # from the email tag, or the configured map

    @property
    def account_id(self) -> str:
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 4 else ""


@dataclass(frozen=True)
class ResetRequest:
    """Who asks, and for whom. `actor_email` is the Slack profile email, only when Slack says it is verified."""

    actor: str  # Slack user id or cli:<login>; only for the audit line
    actor_email: str | None
    actor_is_sre: bool = False
    target: str | None = None  # email or IAM user name; None = the actor's own user


@dataclass(frozen=True)
class PasswordReset:
    """The outcome. `password` is shown once to the requester; `notify_email` (if set) must be told it happened."""

    user: IamUser
    password: TemporaryPassword = field(repr=False)
    created: bool  # True: the user had no console access before
    for_self: bool
    requested_by: str
    notify_email: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def sign_in_url(self) -> str:
        account = self.user.account_id
        return f"https://{account}.signin.aws.amazon.com/console" if account else "https://console.aws.amazon.com/"


def _tags(items: list[Any] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in items or []}


class ConsolePasswords:
    """Resets IAM console passwords for Slack and CLI users. Thin: every decision is in the pure functions above."""

    def __init__(self, iam: IAMClient, *, user_map: Mapping[str, str], email_tag: str, limiter: ResetLimiter,
                 audit: AuditSink | None = None, index_ttl_seconds: float = 300.0,
                 clock: Clock = time.monotonic, rng_factory: Callable[[], random.Random] = secrets.SystemRandom
                 ) -> None:
        self.iam = iam
        self.user_map = {k.strip().lower(): v for k, v in user_map.items()}
        self.email_tag = email_tag
        self.limiter = limiter
        self.audit = audit or LogAudit()
        self._rng_factory = rng_factory
        self._tag_index: TtlCache[dict[str, list[str]]] = TtlCache(index_ttl_seconds, clock)

    # identity -------------------------------------------------------------------------------------------------
    def _get_user(self, name: str) -> IamUser | None:
        try:
            user = self.iam.get_user(UserName=name)["User"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise translate(exc, "iam:GetUser", name) from None
        email = _tags(user.get("Tags")).get(self.email_tag) or self._mapped_email(user["UserName"])
        return IamUser(name=user["UserName"], arn=user["Arn"], email=email.lower() if email else None)

    def _mapped_email(self, user_name: str) -> str | None:
        return next((email for email, name in self.user_map.items() if name == user_name), None)

    def _email_index(self) -> dict[str, list[str]]:
        """email (lowercase) -> IAM user names carrying it in the email tag. One ListUserTags per user."""
        index: dict[str, list[str]] = {}
        try:
            for page in self.iam.get_paginator("list_users").paginate():
                for user in page["Users"]:
                    name = user["UserName"]
                    tags = _tags(self.iam.list_user_tags(UserName=name).get("Tags"))
                    if self.email_tag in tags:
                        index.setdefault(tags[self.email_tag].strip().lower(), []).append(name)
        except ClientError as exc:
            raise translate(exc, "iam:ListUsers / iam:ListUserTags") from None
        return index

    def user_for_email(self, email: str) -> IamUser:
        """The IAM user for a verified email: the configured map first, then the email tag."""
        email = email.strip().lower()
        if email in self.user_map:
            name = self.user_map[email]
            user = self._get_user(name)
            if user is None:
                raise NoSuchIamUser(f"iam_user_map maps {email} to IAM user {name!r}, which does not exist; "
                                    "ask an SRE to fix the mapping")
            return user
        # Cheap guesses first: users are often named after the email or its local part; GetUser returns tags.
        for guess in dict.fromkeys((email, email.split("@")[0])):
            if IAM_USER_NAME.match(guess):
                user = self._get_user(guess)
                if user is not None and user.email == email:
                    return user
        names = self._tag_index.get_or_load("index", self._email_index).get(email, [])
        if len(names) > 1:
            raise NoIdentityMapping(f"IAM users {', '.join(sorted(names))} all carry {self.email_tag}={email}; "
                                    "ask an SRE to remove the duplicate tag or add you to iam_user_map")
        if not names:
            raise NoIdentityMapping(f"no IAM user is tagged {self.email_tag}={email}; ask an SRE to tag your "
                                    "IAM user or add you to iam_user_map")
        user = self._get_user(names[0])
        if user is None:  # deleted since the index was built
            self._tag_index.invalidate()
            raise NoSuchIamUser(f"IAM user {names[0]!r} (tagged {email}) no longer exists; ask an SRE")
        return user

    def resolve_target(self, target: str) -> IamUser:
        target = target.strip()
        if "@" in target and not IAM_USER_NAME.match(target):
            return self.user_for_email(target)
        if "@" in target:
            try:
                return self.user_for_email(target)
            except NoIdentityMapping:
                pass  # IAM user names may contain '@': try it as a name
        user = self._get_user(target) if IAM_USER_NAME.match(target) else None
        if user is None:
            raise NoSuchIamUser(f"no IAM user named {target!r}; give an IAM user name or a mapped email")
        return user

    # policy ---------------------------------------------------------------------------------------------------
    def password_policy(self) -> PasswordPolicy:
        try:
            data = self.iam.get_account_password_policy()["PasswordPolicy"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return PasswordPolicy()
            if is_access_denied(exc):
                raise PolicyUnreadable("cannot read the account password policy (iam:GetAccountPasswordPolicy "
                                       "denied), so no compliant password can be made; ask an SRE to grant "
                                       "it (docs/aws.md)") from None
            raise PolicyUnreadable(f"cannot read the account password policy: {error_code(exc)}; "
                                   "try again, or ask an SRE") from None
        return PasswordPolicy.from_aws(data)

    # the reset ------------------------------------------------------------------------------------------------
    def who(self, request: ResetRequest) -> tuple[IamUser, bool]:
        """The IAM user whose password `request` would reset, and whether it is the actor's own."""
        own: IamUser | None = None
        if request.actor_email:
            try:
                own = self.user_for_email(request.actor_email)
            except (NoIdentityMapping, NoSuchIamUser):
                if not request.actor_is_sre or not request.target:
                    raise
        elif not (request.actor_is_sre and request.target):
            raise NoIdentityMapping("your Slack profile has no verified email, so LaunchPad cannot tell which "
                                    "IAM user is yours; verify your email in Slack or ask an SRE")
        if not request.target:
            assert own is not None
            return own, True
        target = self.resolve_target(request.target)
        if own is not None and target.name == own.name:
            return own, True
        if not request.actor_is_sre:
            mine = f" (yours is {own.name})" if own else ""
            raise ResetNotAllowed(f"you may reset only your own console password{mine}; "
                                  f"ask an SRE to reset {target.name}'s")
        return target, False

    def reset(self, request: ResetRequest) -> PasswordReset:
        try:
            user, for_self = self.who(request)
            self.limiter.check(user.name)
        except (ResetNotAllowed, ResetRateLimited, NoIdentityMapping) as exc:  # refusals leave an audit trail
            subject = request.target or request.actor_email or request.actor
            self.audit.record(action="aws.console_password_reset_refused", actor=request.actor, subject=subject,
                              message=f"console password reset for {subject} refused for {request.actor}: {exc}")
            raise
        policy = self.password_policy()
        password = generate_password(policy, self._rng_factory())
        problems = policy_problems(policy, password.reveal())
        if problems:  # cannot happen with a sane policy; refuse rather than send AWS a password it will reject
            raise AwsError(f"could not generate a password for the account policy ({', '.join(problems)}); "
                           "ask an SRE to check the policy")
        created = self._set_login_profile(user.name, password)
        self.limiter.record(user.name)
        who = "their own" if for_self else f"{user.name}'s"
        self.audit.record(action="aws.console_password_reset", actor=request.actor, subject=user.name,
                          message=f"console password reset for IAM user {user.name} ({who}) by {request.actor}")
        warnings = []
        if not policy.allow_users_to_change_password:
            warnings.append("the account policy does not let users change their own password: the user needs "
                            "iam:ChangePassword (e.g. the IAMUserChangePassword managed policy) to sign in")
        return PasswordReset(user=user, password=password, created=created, for_self=for_self,
                             requested_by=request.actor, notify_email=None if for_self else user.email,
                             warnings=tuple(warnings))

    def _set_login_profile(self, name: str, password: TemporaryPassword) -> bool:
        """Create or update the login profile; True when created. Errors never carry the password."""
        try:
            self.iam.get_login_profile(UserName=name)
            exists = True
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise translate(exc, "iam:GetLoginProfile", name) from None
            exists = False
        with secret_kept_out_of_logs(password.reveal()):
            try:
                if not exists:
                    try:
                        self.iam.create_login_profile(UserName=name, Password=password.reveal(),
                                                      PasswordResetRequired=True)
                        return True
                    except ClientError as exc:
                        if error_code(exc) != "EntityAlreadyExists":  # created meanwhile: update it instead
                            raise
                self.iam.update_login_profile(UserName=name, Password=password.reveal(), PasswordResetRequired=True)
                return False
            except ClientError as exc:
                action = "iam:UpdateLoginProfile" if exists else "iam:CreateLoginProfile"
                code = error_code(exc)
                if code == "PasswordPolicyViolation":
                    raise AwsError(f"AWS rejected the generated password for {name} under the account policy; "
                                   "ask an SRE to check the policy") from None
                if code == "NoSuchEntity":
                    raise NoSuchIamUser(f"IAM user {name!r} no longer exists") from None
                raise translate(exc, action, name) from None
