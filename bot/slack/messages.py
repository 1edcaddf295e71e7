"""Messages: the request thread (root message, step replies, approval prompts), command replies and DMs.

Pure builders: workflow data in, `{"text": ..., "blocks": [...]}` out. `text` is the notification
fallback; blocks are what people read. User-typed text (service description, deny reasons, errors that
quote input) is escaped and truncated here, so a listener never has to think about Block Kit limits.
"""

from __future__ import annotations

from typing import Any

from bot.slack import ids
from bot.slack.blocks import (
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    STATE_EMOJI,
    Block,
    actions,
    button,
    cap_blocks,
    chunk_lines,
    confirm_dialog,
    context,
    divider,
    escape,
    escape_keeping_mentions,
    fields,
    header,
    section,
    slack_date,
    truncate,
    user_ref,
)
from bot.workflow.api import (
    ApprovalInfo,
    EnvironmentImage,
    EnvironmentInfo,
    RequestInfo,
    RequestKind,
    ServiceInfo,
    State,
    StepInfo,
)

Message = dict[str, Any]

KIND_VERB = {
    RequestKind.CREATE: "Create",
    RequestKind.CHANGE: "Change",
    RequestKind.DELETE: "Delete",
    RequestKind.EXTEND: "Extend",
    RequestKind.BULK: "Bulk change",
    RequestKind.PROMOTE: "Promote",
}
ERROR_SHOWN = 1500


def _message(text: str, blocks: list[Block]) -> Message:
    return {"text": truncate(text, MAX_MESSAGE_TEXT), "blocks": cap_blocks(blocks, MAX_MESSAGE_BLOCKS)}


def request_title(request: RequestInfo) -> str:
    envs = ", ".join(request.environments) or "no environments"
    return f"#{request.id} {KIND_VERB[request.kind]} {request.service} ({envs})"


def group_label(group: str | None) -> str:
    """Approver groups as people say them: 'the SRE group', 'team search'."""
    return "the SRE group" if group in (None, "", "sre") else f"team {escape(group)}"


def pr_link(step: StepInfo) -> str:
    if not step.pr_url:
        return ""
    label = f"PR #{step.pr_number}" if step.pr_number else "PR"
    where = f" in {escape(step.repo)}" if step.repo else ""
    return f"<{step.pr_url}|{label}{where}>"


def people_of(request: RequestInfo) -> set[str]:
    """The user ids the workflow may name in a request's texts: its requester and its approvers."""
    return {request.requester, *(s.decided_by for s in request.steps if s.decided_by)}


def step_line(step: StepInfo) -> str:
    """One line per step: state emoji, title, PR link, decision, error."""
    line = f"{STATE_EMOJI[step.state]} {step.number}. {escape(step.title)}"
    link = pr_link(step)
    if link:
        line += f" · {link}"
    if step.kind == "approval":
        if step.decided_by and step.state == State.SUCCEEDED:
            line += f" · approved by {user_ref(step.decided_by)}"
        elif step.decided_by:
            line += f" · denied by {user_ref(step.decided_by)}"
            if step.decision_reason:
                line += f": _{escape(truncate(step.decision_reason, 300))}_"
        elif step.state == State.WAITING:
            line += f" · waiting for approval by {group_label(step.approver_group)}"
    elif step.state == State.WAITING and step.pr_url:
        line += " · waiting for merge"
    if step.attempts > 1 and not step.state.finished:
        line += f" (attempt {step.attempts})"
    if step.error and step.state == State.FAILED:
        line += f"\n      `{escape(truncate(step.error, 300))}`"
    return line


def request_message(request: RequestInfo, *, interactive: bool = True) -> Message:
    """The root message of a request's thread, rebuilt in full on every change (chat.update)."""
    emoji = STATE_EMOJI[request.state]
    blocks: list[Block] = [
        header(request_title(request)),
        fields([
            ("Status", f"{emoji} {request.state.value}"),
            ("Requested by", user_ref(request.requester)),
            ("Team", escape(request.team)),
            ("Blueprint", escape(request.blueprint or "—")),
        ]),
    ]
    if request.description:
        blocks.append(context(escape(truncate(request.description, 500))))
    if request.steps:
        blocks.append(divider())
        blocks += _step_sections(request, room=MAX_MESSAGE_BLOCKS - len(blocks) - 3)
    if request.state == State.FAILED:
        failed = request.failed_step()
        error = request.error or (failed.error if failed else None) or "no error recorded"
        blocks.append(section(f":x: *Failed*{f' at step {failed.number}' if failed else ''}: "
                              f"{escape_keeping_mentions(truncate(error, ERROR_SHOWN), people_of(request))}"))
        if request.denied:  # a denial is final: retrying would be refused, so no button offers it
            blocks.append(context("Denied requests cannot be retried: address the reason, then submit a new request."))
        elif interactive:
            blocks.append(actions(f"retry:{request.id}",
                                  button("Retry from the failed step", ids.RETRY, str(request.id), style="primary")))
    blocks.append(context(f"Updated {slack_date(request.updated_at)} · `/launchpad status {request.id}`"))
    text = f"{emoji} {escape(request_title(request))}: {request.state.value}"
    return _message(text, blocks)


def _step_sections(request: RequestInfo, room: int) -> list[Block]:
    """The step lines as sections; beyond `room` blocks the rest is summarised (the Retry button stays)."""
    lines = [step_line(s) for s in request.steps]
    chunks = chunk_lines(lines)
    if len(chunks) <= room:
        return [section(c) for c in chunks]
    shown, used, current = 0, 1, ""
    for line in lines:
        line = truncate(line, MAX_SECTION_TEXT)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MAX_SECTION_TEXT:
            used, current = used + 1, line
        else:
            current = candidate
        if used > room - 1:
            break
        shown += 1
    more = f"…{len(lines) - shown} more steps: `/launchpad status {request.id}`"
    return [*[section(c) for c in chunk_lines(lines[:shown])], context(more)]


def step_reply(request: RequestInfo, step: StepInfo, text: str) -> Message:
    """A thread reply for one step's progress; a failure carries the error and a Retry button.

    `text` comes from the workflow and may quote people (a deny reason, an error echoing input): it is
    escaped, keeping only the mentions of this request's requester and approvers."""
    emoji = STATE_EMOJI[step.state]
    people = people_of(request)
    shown = escape_keeping_mentions(truncate(text, 2000), people)
    body = f"{emoji} *{step.number}. {escape(step.title)}* — {shown}"
    link = pr_link(step)
    if link and step.pr_url and step.pr_url not in text:
        body += f"\n{link}"
    blocks: list[Block] = [section(body)]
    if step.state == State.FAILED:
        if step.error and step.error not in text:
            blocks.append(section(f"`{escape(truncate(step.error, ERROR_SHOWN))}`"))
        if not request.denied:
            label = "Retry apply" if step.kind == "wait_apply" else "Retry"  # re-runs the failed jobs of the run
            blocks.append(actions(f"retry:{request.id}:{step.id}",
                                  button(label, ids.RETRY, str(request.id), style="primary")))
    return _message(f"#{request.id} step {step.number}: {shown}", blocks)


def approval_message(approval: ApprovalInfo) -> Message:
    """Approve/Deny buttons for one approval step, posted in the request's thread."""
    request, step = approval.request, approval.step
    reasons = "; ".join(escape(r) for r in approval.reasons) or "policy requires it"
    prs = [pr_link(s) for s in request.steps if s.pr_url]
    lines = [f":raised_hand: *Approval needed* — {escape(request_title(request))}",
             f"*{escape(step.title)}*", f"Why: {reasons}", f"Requested by {user_ref(request.requester)}"]
    if prs:
        lines.append("Review: " + ", ".join(prs))
    if approval.plan:  # the infra plan's per-unit summary (wait_plan), so the decision sees what changes
        shown = approval.plan[:15] + ([f"… {len(approval.plan) - 15} more"] if len(approval.plan) > 15 else [])
        lines.append("Plan:\n" + "\n".join(f"• `{escape(truncate(line, 180))}`" for line in shown))
    blocks: list[Block] = [
        section(truncate("\n".join(lines), MAX_SECTION_TEXT)),
        actions(ids.approval_block_id(request.id, step.id),
                button("Approve", ids.APPROVE, ids.approval_value(request.id, step.id), style="primary"),
                button("Deny", ids.DENY, ids.approval_value(request.id, step.id), style="danger")),
        context(f"Only members of {group_label(step.approver_group)} may decide; "
                "the requester never approves their own request."),
    ]
    return _message(f"Approval needed for #{request.id} ({escape(step.title)})", blocks)


def decided_approval_message(request: RequestInfo, step: StepInfo) -> Message:
    """The approval prompt after the decision: who decided and when, no buttons left to click."""
    if step.state == State.SUCCEEDED:
        verdict = f":white_check_mark: Approved by {user_ref(step.decided_by)}"
    else:
        verdict = f":no_entry: Denied by {user_ref(step.decided_by)}"
        if step.decision_reason:
            verdict += f": _{escape(truncate(step.decision_reason, 500))}_"
    when = f" · {slack_date(step.decided_at)}" if step.decided_at else ""
    blocks = [section(f"*{escape(step.title)}* — {escape(request_title(request))}\n{verdict}{when}")]
    return _message(f"#{request.id} {escape(step.title)}: {verdict}", blocks)


def request_finished_message(request: RequestInfo) -> Message:
    """The DM to the requester when a request ends."""
    emoji = STATE_EMOJI[request.state]
    outcome = {State.SUCCEEDED: "is done", State.FAILED: "failed", State.CANCELLED: "was cancelled"}.get(
        request.state, request.state.value)
    if request.denied:
        outcome = "was denied"
    lines = [f"{emoji} Your request {escape(request_title(request))} {outcome}."]
    prs = [pr_link(s) for s in request.steps if s.pr_url]
    if prs:
        lines.append("Pull requests: " + ", ".join(prs))
    if request.state == State.FAILED:
        lines.append(f"Error: `{escape(truncate(request.error or 'see the thread', ERROR_SHOWN))}`")
        if request.denied:
            lines.append("A denial is final: address the reason, then submit a new request.")
        else:
            lines.append(f"Fix the cause, then `/launchpad retry {request.id}` resumes from the failed step.")
    if request.slack_channel and request.slack_ts:
        lines.append(f"Details in <#{request.slack_channel}>.")
    return _message(lines[0], [section("\n".join(lines))])


def ttl_reminder_message(service: ServiceInfo, env: EnvironmentInfo) -> Message:
    """Warn an owner that a temporary environment is about to be torn down, and how to keep it; or, when it
    expired and its automatic teardown did not go through, when LaunchPad tries again."""
    if env.teardown is not None:
        stopped = env.teardown
        then = (f"LaunchPad opens the teardown again {slack_date(stopped.retry_at)}." if stopped.retry_at else
                f"Retry it (`/launchpad retry {stopped.request_id}`) or cancel it; LaunchPad then tries again.")
        text = (f":alarm_clock: The temporary environment *{escape(env.name)}* of *{escape(service.name)}* expired "
                f"{slack_date(env.expires_at)} and is still up: its automatic teardown (request "
                f"#{stopped.request_id}) was {escape(stopped.outcome)}. {then}\n"
                f"To keep it instead: `/launchpad extend {service.name} {env.name} 48h`")
        return _message(f"{service.name} {env.name} expired and is still up", [section(text)])
    text = (f":alarm_clock: The temporary environment *{escape(env.name)}* of *{escape(service.name)}* "
            f"expires {slack_date(env.expires_at)} and will then be decommissioned automatically.\n"
            f"To keep it longer: `/launchpad extend {escape(service.name)} {escape(env.name)} 48h`")
    return _message(f"{escape(service.name)} {escape(env.name)} expires soon", [section(text)])


# --- command replies ------------------------------------------------------------------------------

HELP_LINES = [
    ("new [blueprint]", "open the form to request a new service (or change one by reusing its name)"),
    ("status [request-id | service]", "a request's steps and PRs, or a service's environments"),
    ("list [all | team <team>]", "your services and open requests; `all` lists every open request"),
    ("retry <request-id>", "resume a failed request from its failed step (owner or SRE)"),
    ("delete <service> [env ...]", "decommission a service or some of its environments (owner or SRE)"),
    ("extend <service> <tmp-env> <hours|Nh|Nd>", "keep a temporary environment longer"),
    ("promote <service> <env>", "copy the image that is Healthy in the previous environment to <env> (a reviewed "
                                "PR; prod: the SRE group approves)"),
    ("lookup <domain>", "what is behind a domain, and which team owns it"),
    ("password [user]", "reset your AWS console password (SRE: someone else's); shown once, only to you"),
    ("bulk --team T --chart-revision V [--apply]", "SRE: one change to every matching service (dry run first)"),
    ("help", "this message"),
]


def help_message(problem: str | None = None) -> Message:
    lines = [f"`/launchpad {escape(usage)}` — {escape(what)}" for usage, what in HELP_LINES]
    blocks: list[Block] = []
    if problem:
        blocks.append(section(f":warning: {escape(truncate(problem, 500))}"))
    blocks += [section("*LaunchPad* turns a service request into reviewed infrastructure pull requests.\n"
                       + "\n".join(lines)),
               context("Approvals (prod, IAM, data stores, deletes) are given by the SRE group in the request's "
                       "thread. The App Home tab lists your services and requests.")]
    return _message("LaunchPad commands: " + ", ".join(u.split()[0] for u, _ in HELP_LINES), blocks)


def text_message(text: str) -> Message:
    """A one-line reply (confirmations, refusals) with user text already escaped by the caller."""
    return _message(text, [section(text)])


def request_list_message(title: str, requests: list[RequestInfo], *, empty: str = "Nothing here.") -> Message:
    lines = [request_list_line(r) for r in requests] or [empty]
    blocks: list[Block] = [section(f"*{escape(title)}*"), *[section(c) for c in chunk_lines(lines)]]
    return _message(f"{escape(title)}: {len(requests)}", blocks)


def request_list_line(request: RequestInfo) -> str:
    current = request.current_step()
    where = f" · step {current.number}: {escape(current.title)}" if current else ""
    return (f"{STATE_EMOJI[request.state]} *{escape(request_title(request))}* · {request.state.value}{where} · "
            f"{user_ref(request.requester)} · {slack_date(request.updated_at, '{date_short}')}")


def service_line(service: ServiceInfo) -> str:
    envs = ", ".join(environment_text(e) for e in service.environments) or "no environments"
    prs = ", ".join(f"<{url}|PR>" for url in service.pr_urls[-5:])
    line = f"*{escape(service.name)}* · {escape(service.team)} · {escape(service.blueprint)}\n{envs}"
    if service.images:
        line += "\nRunning: " + " · ".join(f"{escape(i.environment)} `{escape(short_image(i.image))}`"
                                           for i in service.images)
    return f"{line}\n{prs}" if prs else line


def short_image(image: str) -> str:
    """`registry/team/app:tag@sha256:…` -> `app:tag@sha256:1234567` (the part people compare)."""
    name = image.rsplit("/", 1)[-1]
    ref, _, digest = name.partition("@")
    return f"{ref}@{digest[:14]}" if digest else ref


def images_text(images: list[EnvironmentImage]) -> str:
    """Which image runs where, one line per environment."""
    lines = []
    for i in images:
        shown = f"`{escape(short_image(i.image))}`" if i.image else "—"
        line = f"`{escape(i.environment)}` {shown} · {escape(i.state)}"
        if i.declared and i.declared != i.image:
            line += f" (values file: `{escape(short_image(i.declared))}`)"
        if i.link:
            line += f" · <{i.link}|Argo CD>"
        lines.append(line)
    return "\n".join(lines)


def environment_text(env: EnvironmentInfo) -> str:
    text = f"`{escape(env.name)}`"
    if env.expires_at:
        text += f" (expires {slack_date(env.expires_at)})"
    return text


def service_message(service: ServiceInfo, requests: list[RequestInfo],
                    images: list[EnvironmentImage] | None = None) -> Message:
    blocks: list[Block] = [
        header(f"{service.name}"),
        fields([("Team", escape(service.team)), ("Blueprint", escape(service.blueprint)),
                ("Owner", user_ref(service.owner)),
                ("Environments", ", ".join(environment_text(e) for e in service.environments) or "none")]),
    ]
    if service.description:
        blocks.append(context(escape(truncate(service.description, 500))))
    shown = images if images is not None else service.images
    if shown:
        blocks += [section(c) for c in chunk_lines(["*Which image runs where*", *images_text(shown).splitlines()])]
    if service.pr_urls:
        blocks.append(section("Pull requests: " + ", ".join(f"<{u}|{i + 1}>" for i, u in
                                                            enumerate(service.pr_urls[-20:]))))
    if requests:
        blocks += [section(c) for c in chunk_lines([request_list_line(r) for r in requests])]
    return _message(f"{escape(service.name)}: {len(service.environments)} environments", blocks)


def services_message(title: str, services: list[ServiceInfo], requests: list[RequestInfo]) -> Message:
    blocks: list[Block] = [section(f"*{escape(title)}*")]
    blocks += [section(c) for c in chunk_lines([service_line(s) for s in services] or ["No services yet."])]
    if requests:
        blocks.append(section("*Open requests*"))
        blocks += [section(c) for c in chunk_lines([request_list_line(r) for r in requests])]
    return _message(f"{escape(title)}: {len(services)} services, {len(requests)} open requests", blocks)


def delete_confirmation(service: ServiceInfo, environments: list[str]) -> Message:
    """Asks before anything is torn down; the buttons carry only the service and environments."""
    envs = environments or [e.name for e in service.environments]
    value = f"{service.name}|{','.join(environments)}"
    what = f"environments {', '.join(envs)} of" if environments else "every environment of"
    text = (f":warning: This opens pull requests that remove {escape(what)} *{escape(service.name)}* "
            f"(team {escape(service.team)}). Deleting prod waits for an SRE approval.")
    blocks = [
        section(text),
        actions(f"delete:{truncate(service.name, 200)}",
                button("Delete", ids.DELETE_CONFIRM, value, style="danger",
                       confirm=confirm_dialog("Really delete?", f"Remove {escape(what)} {escape(service.name)}.",
                                              "Delete")),
                button("Keep it", ids.DELETE_CANCEL, value)),
    ]
    return _message(f"Delete {escape(service.name)}?", blocks)


def parse_delete_value(value: str) -> tuple[str, list[str]]:
    service, _, envs = value.partition("|")
    return service, [e for e in envs.split(",") if e]
