"""`/launchpad bulk ...` (SRE only): the CLI's `launchpad bulk` syntax, answered with a dry run and a Submit
button, or submitted at once with `--apply`.

Thin: listeners ack first, refuse anyone outside the SRE group with an ephemeral message, parse with the
parser the CLI uses too (`bot.workflow.arguments.parse_bulk`), and call `WorkflowService.preview_bulk` / `submit_bulk`,
which enforce SRE-only again. The button carries the command text itself, so a click submits exactly what
was previewed (planned again at that moment). The message builders are pure. Registered before the
general `/launchpad` listener (`bot/app.py`), whose matcher would otherwise take the command.
"""

from __future__ import annotations

import logging
import shlex
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.slack import ids
from bot.slack.blocks import (
    MAX_BUTTON_VALUE,
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    Block,
    actions,
    button,
    cap_blocks,
    chunk_lines,
    confirm_dialog,
    context,
    escape,
    section,
    truncate,
)
from bot.slack.surface import SlackSurface
from bot.workflow.api import BulkPreview, RequestInfo
from bot.workflow.arguments import USAGE, BulkUsageError, parse_bulk

log = logging.getLogger(__name__)

SUBMIT = "launchpad_bulk_submit"
DISMISS = "launchpad_bulk_dismiss"
SHOWN_SERVICES = 25
Message = dict[str, Any]


def is_bulk(body: dict[str, Any]) -> bool:
    return bulk_text(body) is not None


def bulk_text(body: dict[str, Any]) -> str | None:
    """The arguments after `bulk`, or None when the command is something else."""
    name, _, rest = (body.get("text") or "").strip().partition(" ")
    return rest.strip() if name.lower() == "bulk" else None


# --- messages (pure) ---------------------------------------------------------------------------------
def _message(text: str, blocks: list[Block]) -> Message:
    return {"text": truncate(text, MAX_MESSAGE_TEXT), "blocks": cap_blocks(blocks, MAX_MESSAGE_BLOCKS)}


def refusal_message() -> Message:
    text = (":no_entry: `/launchpad bulk` is for the SRE group: it changes many teams' services at once. "
            "Ask in the SRE channel, or change your own service with `/launchpad new`.")
    return _message(text, [section(text)])


def usage_message(problem: str) -> Message:
    text = (f":warning: {escape(problem)}\nExamples: `/launchpad bulk --team search --chart-revision v1.1.0`, "
            "`/launchpad bulk --env prod --module rds=7.3.0 --apply`")
    return _message(escape(problem), [section(text), context(escape(f"Usage: /launchpad {USAGE} [--apply]"))])


def preview_message(preview: BulkPreview, command: str) -> Message:
    """The dry run: what changes, where, who approves; a Submit button when there is something to submit."""
    where = f" in {preview.selector.environment}" if preview.selector.environment else ""
    what = f"{preview.change.describe()}{where} for {preview.selector.describe()}"
    if not preview.services:
        text = (f"Nothing to change: {preview.matched} service(s) match {escape(preview.selector.describe())} and "
                f"already use {escape(preview.change.describe())}.")
        return _message(text, [section(text)])
    repos = ", ".join(f"`{escape(repo)}` ({n} file{'' if n == 1 else 's'})" for repo, n in preview.repositories.items())
    summary = (f"*Bulk change (dry run):* {escape(what)}\n"
               f"{len(preview.services)} of {preview.matched} matching service(s) change: {preview.files} file(s), "
               f"one pull request per repository: {repos}\n"
               f"Environments: {escape(', '.join(preview.environments))}\n"
               "Approval: " + (escape("; ".join(preview.approvals)) if preview.approvals
                               else "none (the policy lets it run)"))
    blocks = [section(summary)]
    if preview.busy:
        blocks.append(section(":lock: " + escape("; ".join(preview.busy.values()))
                              + "\nSubmitting now would be refused until they finish."))
    lines = [f"• `{escape(s.service)}` (team {escape(s.team)}; {escape(', '.join(s.environments))}): "
             f"{sum(len(p) for p in s.files.values())} file(s)" for s in preview.services[:SHOWN_SERVICES]]
    if len(preview.services) > SHOWN_SERVICES:
        lines.append(f"… and {len(preview.services) - SHOWN_SERVICES} more (`launchpad bulk --dry-run` lists all)")
    blocks += [section(chunk) for chunk in chunk_lines(lines)]
    if preview.unchanged:
        blocks.append(context(escape(f"Already on this value: {', '.join(preview.unchanged)}")))
    if len(command) <= MAX_BUTTON_VALUE:
        blocks.append(actions(
            "bulk",
            button("Submit", SUBMIT, command, style="primary",
                   confirm=confirm_dialog("Submit the bulk change?",
                                          f"{escape(preview.change.describe())} for {len(preview.services)} "
                                          "service(s): one pull request per repository.", "Submit")),
            button("Dismiss", DISMISS, "dismiss")))
    else:
        blocks.append(context("The command is too long for a button; run it again with `--apply` to submit."))
    return _message(f"Bulk change (dry run): {escape(what)}", blocks)


def submitted_message(request: RequestInfo) -> Message:
    text = (f":rocket: Bulk request #{request.id} ({escape(request.description)}) is queued for "
            f"{escape(request.service)}; follow it in its thread.")
    return _message(text, [section(text)])


# --- listeners (thin) ---------------------------------------------------------------------------------
def register(app: App, surface: SlackSurface) -> None:
    """`/launchpad bulk ...` and its Submit / Dismiss buttons."""

    def reply(respond: Respond, message: Message, *, replace: bool = False) -> None:
        respond(text=message["text"], blocks=message["blocks"], response_type="ephemeral",
                replace_original=replace)

    @app.command(ids.COMMAND, matchers=[is_bulk])
    def bulk_command(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        actor = surface.actors.actor(body["user_id"], profile=False)
        if not actor.is_sre:
            surface.workflow.record_refusal(actor, "bulk", "not allowed: only SRE may run a bulk change")
            reply(respond, refusal_message())
            return
        command = bulk_text(body) or ""
        try:
            args = parse_bulk(shlex.split(command))
        except (BulkUsageError, ValueError) as exc:
            reply(respond, usage_message(str(exc)))
            return
        if args.apply:
            request = surface.workflow.submit_bulk(args.selector, args.change, actor)
            log.info("bulk request %s queued by %s", request.id, actor.id, extra={"request_id": request.id})
            surface.notifier.request_changed(request)
            reply(respond, submitted_message(request))
            return
        reply(respond, preview_message(surface.workflow.preview_bulk(args.selector, args.change, actor), command))

    @app.action(SUBMIT)
    def bulk_submit(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        actor = surface.actors.actor(body["user"]["id"], profile=False)
        if not actor.is_sre:
            surface.workflow.record_refusal(actor, "bulk", "not allowed: only SRE may run a bulk change")
            reply(respond, refusal_message())
            return
        args = parse_bulk(shlex.split(body["actions"][0]["value"]))
        request = surface.workflow.submit_bulk(args.selector, args.change, actor)
        surface.notifier.request_changed(request)
        reply(respond, submitted_message(request), replace=True)

    @app.action(DISMISS)
    def bulk_dismiss(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text="Nothing was submitted.", response_type="ephemeral", replace_original=True)
