"""Block Kit primitives and Slack's size limits: small pure constructors and the limit checker.

Every view builder in `bot/slack/` composes these, so truncation of user text happens in one place and
`check_block_kit_limits` can prove a produced view is one Slack will accept. Nothing here calls Slack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.workflow.api import State

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_SURFACE_BLOCKS = 100  # modals and the Home tab
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_SECTION_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_MODAL_TITLE = 24
MAX_MODAL_BUTTON = 24
MAX_ID = 255  # action_id, block_id, callback_id
MAX_PRIVATE_METADATA = 3000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_SELECT_OPTIONS = 100
MAX_CHECKBOX_OPTIONS = 10
MAX_LABEL = 2000
MAX_PLACEHOLDER = 150
MAX_MESSAGE_TEXT = 4000  # the notification fallback; Slack truncates longer ones

STATE_EMOJI = {
    State.PENDING: ":hourglass_flowing_sand:",
    State.RUNNING: ":arrows_counterclockwise:",
    State.WAITING: ":raised_hand:",
    State.SUCCEEDED: ":white_check_mark:",
    State.FAILED: ":x:",
    State.CANCELLED: ":no_entry_sign:",
}


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ellipsis, never splitting a `<...>` link or mention in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    open_at = cut.rfind("<")
    if open_at > cut.rfind(">"):
        cut = cut[:open_at]
    return cut + "…"


def escape(text: str) -> str:
    """Escape user text for mrkdwn: `&`, `<`, `>` only (Slack's rule), so nobody can inject a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,20})&gt;")


def escape_keeping_mentions(text: str, people: Iterable[str] | None = None) -> str:
    """`escape(text)`, then give back the user mentions `<@U…>` the workflow wrote into it.

    `people`: only these user ids (the ones the message is about: requester, approver); None keeps
    every user mention, for answers that only the acting person sees. Special mentions (`<!channel>`),
    links and channel references always stay escaped.
    """
    keep = None if people is None else {p for p in people if p}
    return _ESCAPED_MENTION.sub(lambda m: f"<@{m.group(1)}>" if keep is None or m.group(1) in keep else m.group(0),
                                escape(text))


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit) or " "}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def section(text: str, *, block_id: str | None = None, accessory: dict[str, Any] | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id
    if accessory:
        block["accessory"] = accessory
    return block


def fields(pairs: list[tuple[str, str]]) -> Block:
    """A section of up to ten `*label*\\nvalue` fields (extra pairs are dropped, not sent)."""
    return {"type": "section",
            "fields": [mrkdwn(f"*{label}*\n{value}", MAX_FIELD_TEXT) for label, value in pairs[:MAX_SECTION_FIELDS]]}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t, MAX_SECTION_TEXT) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, *, style: str | None = None,
           confirm: dict[str, Any] | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text, MAX_BUTTON_TEXT), "action_id": action_id,
                               "value": value}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def actions(block_id: str, *elements: dict[str, Any]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements[:MAX_ACTIONS_ELEMENTS])}


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, MAX_OPTION_TEXT), "value": value}


def confirm_dialog(title: str, text: str, yes: str, no: str = "Cancel") -> dict[str, Any]:
    return {"title": plain(title, 100), "text": mrkdwn(text, 300), "confirm": plain(yes, 30), "deny": plain(no, 30),
            "style": "danger"}


def chunk_lines(lines: list[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join lines into as few texts as fit in `limit` each; one over-long line is truncated on its own."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = truncate(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def cap_blocks(blocks: list[Block], limit: int,
               more: str = "…and more; use `/launchpad list` to see all") -> list[Block]:
    """Keep within a surface's block limit, saying that something was left out."""
    if len(blocks) <= limit:
        return blocks
    return [*blocks[: limit - 1], context(more)]


def slack_date(moment: datetime | None, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date Slack renders in each reader's time zone, with a UTC fallback for old clients."""
    if moment is None:
        return "never"
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{fmt}|{moment.strftime('%Y-%m-%d %H:%M UTC')}>"


def user_ref(actor_id: str | None) -> str:
    """`<@U…>` for Slack users, the plain id for CLI actors and the scheduler."""
    if not actor_id:
        return "someone"
    if actor_id.startswith(("U", "W")) and actor_id.isalnum():
        return f"<@{actor_id}>"
    return escape(actor_id)


# --- limits ---------------------------------------------------------------------------------------


def check_block_kit_limits(view: dict[str, Any]) -> list[str]:
    """Every way `view` (a message payload, modal or home view) breaks Slack's documented limits."""
    problems: list[str] = []
    kind = view.get("type")
    blocks = view.get("blocks", [])
    block_limit = MAX_SURFACE_BLOCKS if kind in ("modal", "home") else MAX_MESSAGE_BLOCKS
    if len(blocks) > block_limit:
        problems.append(f"{len(blocks)} blocks; a {kind or 'message'} allows {block_limit}")
    if kind == "modal":
        for key in ("title", "submit", "close"):
            if key in view:
                limit = MAX_MODAL_TITLE if key == "title" else MAX_MODAL_BUTTON
                _text(problems, f"modal {key}", view[key], limit)
        if len(view.get("private_metadata", "")) > MAX_PRIVATE_METADATA:
            problems.append(f"private_metadata longer than {MAX_PRIVATE_METADATA}")
    if "callback_id" in view:
        _id(problems, "callback_id", view["callback_id"])
    if "text" in view and isinstance(view["text"], str) and len(view["text"]) > MAX_MESSAGE_TEXT:
        problems.append(f"message text is {len(view['text'])} characters; keep it under {MAX_MESSAGE_TEXT}")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"block {i} ({block.get('type')})"
        if "block_id" in block:
            _id(problems, f"{where} block_id", block["block_id"])
            if block["block_id"] in block_ids:
                problems.append(f"{where} repeats block_id {block['block_id']!r}")
            block_ids.add(block["block_id"])
        _check_block(problems, where, block)
    return problems


def _check_block(problems: list[str], where: str, block: Block) -> None:
    kind = block.get("type")
    if kind == "header":
        _text(problems, where, block.get("text"), MAX_HEADER_TEXT)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{where} has neither text nor fields")
        if "text" in block:
            _text(problems, where, block["text"], MAX_SECTION_TEXT)
        section_fields = block.get("fields", [])
        if len(section_fields) > MAX_SECTION_FIELDS:
            problems.append(f"{where} has {len(section_fields)} fields; at most {MAX_SECTION_FIELDS}")
        for field in section_fields:
            _text(problems, f"{where} field", field, MAX_FIELD_TEXT)
        if "accessory" in block:
            _check_element(problems, f"{where} accessory", block["accessory"])
    elif kind == "context":
        elements = block.get("elements", [])
        if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"{where} has {len(elements)} elements; 1 to {MAX_CONTEXT_ELEMENTS}")
        for element in elements:
            _text(problems, f"{where} element", element, MAX_SECTION_TEXT)
    elif kind == "actions":
        elements = block.get("elements", [])
        if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
            problems.append(f"{where} has {len(elements)} elements; 1 to {MAX_ACTIONS_ELEMENTS}")
        for element in elements:
            _check_element(problems, f"{where} element", element)
    elif kind == "input":
        _text(problems, f"{where} label", block.get("label"), MAX_LABEL)
        if "hint" in block:
            _text(problems, f"{where} hint", block["hint"], MAX_LABEL)
        _check_element(problems, f"{where} element", block.get("element", {}))


def _check_element(problems: list[str], where: str, element: dict[str, Any]) -> None:
    if "action_id" in element:
        _id(problems, f"{where} action_id", element["action_id"])
    kind = element.get("type")
    if kind == "button":
        _text(problems, f"{where} text", element.get("text"), MAX_BUTTON_TEXT)
        if len(element.get("value", "")) > MAX_BUTTON_VALUE:
            problems.append(f"{where} value longer than {MAX_BUTTON_VALUE}")
    if "placeholder" in element:
        _text(problems, f"{where} placeholder", element["placeholder"], MAX_PLACEHOLDER)
    options = element.get("options", [])
    limit = MAX_CHECKBOX_OPTIONS if kind in ("checkboxes", "radio_buttons") else MAX_SELECT_OPTIONS
    if len(options) > limit:
        problems.append(f"{where} has {len(options)} options; at most {limit}")
    values = {o.get("value") for o in options}
    for opt in options:
        _text(problems, f"{where} option", opt.get("text"), MAX_OPTION_TEXT)
        if len(opt.get("value", "")) > MAX_OPTION_VALUE:
            problems.append(f"{where} option value longer than {MAX_OPTION_VALUE}")
    for opt in element.get("initial_options", []) + ([element["initial_option"]] if "initial_option" in element
                                                      else []):
        if opt.get("value") not in values:
            problems.append(f"{where} initial option {opt.get('value')!r} is not one of its options")


def _text(problems: list[str], where: str, obj: Any, limit: int) -> None:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        problems.append(f"{where} needs a text object")
        return
    text = obj["text"]
    if not text:
        problems.append(f"{where} text is empty")
    elif len(text) > limit:
        problems.append(f"{where} text is {len(text)} characters; at most {limit}")


def _id(problems: list[str], where: str, value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        problems.append(f"{where} must be 1 to {MAX_ID} characters")
