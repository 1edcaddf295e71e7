"""What the thread shows of the pipeline (pure view builders): the plan inside the approval prompt, and a
"Retry apply" button on a failed apply."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.slack.messages import approval_message, step_reply
from bot.workflow.api import ApprovalInfo, RequestInfo, RequestKind, State, StepInfo

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def request(*steps: StepInfo) -> RequestInfo:
    return RequestInfo(id=7, kind=RequestKind.CREATE, service="svc", team="search", environments=["prod"],
                       requester="U0ALICE", state=State.WAITING, steps=list(steps), created_at=NOW, updated_at=NOW)


def test_the_approval_prompt_carries_the_plan() -> None:
    gate = StepInfo(id=3, position=2, kind="approval", title="Approval by sre: touches prod", state=State.WAITING,
                    approver_group="sre")
    plan = ["333/eu-west-1/prod/svc/rds (plan): +1 ~0 -1; replaces aws_db_instance.this", "x <b> (plan): +1 ~0 -0"]
    text = json.dumps(approval_message(ApprovalInfo(request=request(gate), step=gate, reasons=["touches prod"],
                                                    plan=plan)))
    assert "Plan:" in text and "replaces aws_db_instance.this" in text and "<b>" not in text


def test_a_failed_apply_offers_retry_apply() -> None:
    step = StepInfo(id=5, position=4, kind="wait_apply", title="Apply the infra PR", state=State.FAILED,
                    error="The apply of PR #1 in infra failed: .../s3 failed to apply.")
    message = step_reply(request(step), step, "Failed: The apply of PR #1 in infra failed")
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Retry apply"]
