"""The App Home tab: my services, my open requests, and for SRE the approvals waiting on them.

A pure builder (data in, `{"type": "home", ...}` out); `bot.slack.home` fetches the data and publishes.
"""

from __future__ import annotations

from typing import Any

from bot.slack import ids
from bot.slack.blocks import (
    MAX_SURFACE_BLOCKS,
    Block,
    actions,
    button,
    cap_blocks,
    context,
    divider,
    escape,
    header,
    section,
    user_ref,
)
from bot.slack.messages import pr_link, request_list_line, request_title, service_line
from bot.workflow.api import ApprovalInfo, RequestInfo, ServiceInfo

MAX_LISTED = 20


def home_view(services: list[ServiceInfo], requests: list[RequestInfo], approvals: list[ApprovalInfo] | None,
              ) -> dict[str, Any]:
    """`approvals` is None for people outside the SRE group (the section is not shown at all)."""
    blocks: list[Block] = [
        header("LaunchPad"),
        section("Request a new service, or change one by submitting it again under the same name.",
                accessory=button("New service", ids.OPEN_NEW_SERVICE, "new", style="primary")),
        context("Commands: `/launchpad help` · temporary environments tear themselves down after their TTL."),
        divider(),
        header("My services"),
    ]
    if services:
        blocks += [section(service_line(s)) for s in services[:MAX_LISTED]]
        if len(services) > MAX_LISTED:
            blocks.append(context(f"…and {len(services) - MAX_LISTED} more: `/launchpad list`"))
    else:
        blocks.append(context("You own no services yet. *New service* above starts one."))
    blocks += [divider(), header("My open requests")]
    if requests:
        blocks += [section(request_list_line(r)) for r in requests[:MAX_LISTED]]
    else:
        blocks.append(context("No open requests."))
    if approvals is not None:
        blocks += [divider(), header(f"Pending approvals ({len(approvals)})")]
        if not approvals:
            blocks.append(context("Nothing is waiting for the SRE group."))
        seen: set[tuple[int, int]] = set()
        for approval in approvals[:MAX_LISTED]:
            if (approval.request.id, approval.step.id) in seen:  # one set of buttons per step (block ids)
                continue
            seen.add((approval.request.id, approval.step.id))
            blocks += _approval_blocks(approval)
    return {"type": "home", "blocks": cap_blocks(blocks, MAX_SURFACE_BLOCKS)}


def _approval_blocks(approval: ApprovalInfo) -> list[Block]:
    request, step = approval.request, approval.step
    prs = ", ".join(pr_link(s) for s in request.steps if s.pr_url)
    lines = [f"*{escape(request_title(request))}* by {user_ref(request.requester)}", escape(step.title),
             "Why: " + ("; ".join(escape(r) for r in approval.reasons) or "policy requires it")]
    if prs:
        lines.append(prs)
    return [
        section("\n".join(lines)),
        actions(ids.approval_block_id(request.id, step.id),
                button("Approve", ids.APPROVE, ids.approval_value(request.id, step.id), style="primary"),
                button("Deny", ids.DENY, ids.approval_value(request.id, step.id), style="danger")),
    ]
