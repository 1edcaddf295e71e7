"""Block Kit for the AWS operations: the password reset modal and its result, and the domain lookup answer.

Pure functions: data in, JSON out; no Slack or AWS calls. The only view that carries a temporary
password is `password_result_modal`, which the listener sends once, to the requester's own modal.
"""

from __future__ import annotations

from typing import Any

from bot.aws.iam_password import PasswordReset
from bot.aws.lookup_tree import LookupResult, owner_lines, render_tree
from bot.slack.blocks import (
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    Block,
    cap_blocks,
    chunk_lines,
    context,
    escape,
    plain,
    section,
)

PASSWORD_VIEW = "launchpad_aws_password_reset"  # callback_id of the modal's submission
FIELD_TARGET = "aws_password_target"
ACTION_TARGET = "target"
FIELD_CONFIRM = "aws_password_confirm"
ACTION_CONFIRM = "confirm"
TITLE = "AWS console password"

Message = dict[str, Any]


def _modal(blocks: list[Block], *, submit: str | None = None, close: str = "Close") -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "callback_id": PASSWORD_VIEW, "title": plain(TITLE, 24),
                            "close": plain(close, 24), "blocks": blocks}
    if submit:
        view["submit"] = plain(submit, 24)
    return view


def password_reset_modal(*, is_sre: bool, target: str | None = None) -> dict[str, Any]:
    """The form: SRE may name someone else; everyone confirms that the current password stops working."""
    blocks: list[Block] = [section(
        "LaunchPad sets a new password for your AWS console sign-in (your IAM user). It is shown to you once, "
        "here, and you must change it when you sign in. Your current password stops working.")]
    if is_sre:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": ACTION_TARGET,
                                   "placeholder": plain("alice@example.com or alice", 150)}
        if target:
            element["initial_value"] = target
        blocks.append({"type": "input", "block_id": FIELD_TARGET, "optional": True,
                       "label": plain("Someone else's (SRE only)"), "element": element,
                       "hint": plain("An email or IAM user name; leave empty for your own. They are told "
                                     "that you reset it; the password is shown only to you.")})
    blocks.append({"type": "input", "block_id": FIELD_CONFIRM, "label": plain("Confirm"),
                   "element": {"type": "checkboxes", "action_id": ACTION_CONFIRM, "options": [
                       {"text": plain("I understand the current password stops working"), "value": "yes"}]}})
    return _modal(blocks, submit="Reset password", close="Cancel")


def target_from_form(state_values: dict[str, Any]) -> str | None:
    value = (state_values.get(FIELD_TARGET, {}).get(ACTION_TARGET) or {}).get("value")
    return value.strip() or None if isinstance(value, str) else None


def confirmed(state_values: dict[str, Any]) -> bool:
    selected = (state_values.get(FIELD_CONFIRM, {}).get(ACTION_CONFIRM) or {}).get("selected_options") or []
    return any(o.get("value") == "yes" for o in selected)


def password_progress_modal() -> dict[str, Any]:
    return _modal([section(":hourglass_flowing_sand: Setting a new password…")])


def password_result_modal(reset: PasswordReset, *, notified: bool = False) -> dict[str, Any]:
    """The one place the temporary password is shown: the requester's own modal, once."""
    user = reset.user
    whose = "your IAM user" if reset.for_self else "IAM user"
    account = f" in account {user.account_id}" if user.account_id else ""
    blocks: list[Block] = [
        section(f":key: New console password for {whose} *{escape(user.name)}*{account}:"),
        section(f"```{escape(reset.password.reveal())}```"),
        section(f"Sign in at <{reset.sign_in_url}|{escape(reset.sign_in_url)}> — AWS asks for a new password "
                "straight away. *This is the only time it is shown:* copy it now; LaunchPad keeps no copy."),
    ]
    if not reset.for_self:
        if notified:
            told = f"{escape(str(reset.notify_email))} was told by direct message that you reset it"
        elif reset.notify_email:
            told = f"{escape(reset.notify_email)} has no Slack account LaunchPad can find: let them know yourself"
        else:
            told = "LaunchPad does not know this user's email, so nobody was told: let them know yourself"
        blocks.append(context(f"{told}; give them the password over a channel only the two of you share."))
    blocks += [context(f":warning: {escape(w)}") for w in reset.warnings]
    return _modal(blocks, close="Done")


def password_error_modal(message: str, *, escaped: bool = False) -> dict[str, Any]:
    """`escaped`: `message` is already mrkdwn (e.g. `reporting.failure_text`, which starts with its emoji)."""
    return _modal([section(message if escaped else f":warning: {escape(message)}")])


def password_reset_notice(reset: PasswordReset, by: str) -> Message:
    """The DM to the person whose password an SRE reset. It never contains the password."""
    text = (f":key: Your AWS console password (IAM user *{escape(reset.user.name)}*) was reset by {by}. "
            "They have the temporary password; AWS asks you to choose a new one at sign-in. "
            "If you did not ask for this, tell the SRE team.")
    return {"text": text, "blocks": [section(text)]}


# --- domain lookup ----------------------------------------------------------------------------------------------


def lookup_message(result: LookupResult) -> Message:
    """Owning team first, then where it runs, then the tree (monospace), then what could not be seen."""
    blocks: list[Block] = [section(f":mag: *{escape(result.domain)}*")]
    if not result.found:
        if result.zones:
            zones = ", ".join(escape(z.describe()) for z in result.zones)
            blocks.append(section(f"No record for `{escape(result.domain)}` (or a wildcard above it) in {zones}."))
        else:
            searched = ", ".join(escape(z.describe()) for z in result.zones_searched) or "none are visible to LaunchPad"
            blocks.append(section(f"No hosted zone in this AWS account contains `{escape(result.domain)}`. "
                                  f"Zones searched: {searched}."))
    else:
        blocks.append(section("\n".join(f"*{escape(line)}*" if i == 0 else escape(line)
                                        for i, line in enumerate(owner_lines(result)))))
        if result.workloads:
            blocks.append(section("\n".join(f"Runs in Kubernetes: {escape(w.describe())} (from `{escape(w.source)}`)"
                                            for w in result.workloads)))
    tree = [escape(line) for line in render_tree(result.tree)]
    for chunk in chunk_lines(tree, MAX_SECTION_TEXT - 6):
        blocks.append(section(f"```{chunk}```"))
    if result.problems:
        blocks.append(context(*(f":warning: {escape(p)}" for p in result.problems)))
    count = result.aws_call_count
    blocks.append(context(f"{count} AWS call{'' if count == 1 else 's'}"))
    return {"text": escape(result.summary()), "blocks": cap_blocks(blocks, MAX_MESSAGE_BLOCKS,
                                                         "…the tree is longer; run `launchpad lookup` for all of it")}


def lookup_error_message(domain: str, message: str) -> Message:
    text = f":warning: Lookup of {escape(domain)} failed: {escape(message)}"
    return {"text": text, "blocks": [section(text)]}
