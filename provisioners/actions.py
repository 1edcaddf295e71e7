"""Third-party GitHub Actions every generated workflow uses, pinned by full commit SHA in one table.

A tag can be moved by whoever controls the action's repository; a commit SHA cannot. Workflows name an
action by its key here (`uses("checkout")`) and never spell a version themselves, so moving every
generated workflow to a new release is one edit of `PINNED` (then `make golden`), and the rendered
line keeps the human-readable tag as a trailing comment (`annotate`). A service may run another pin of
an action than this table's: SRE records it as `pins.actions` (`launchpad bulk --action KEY=TAG@SHA`),
written `TAG@SHA`, and the renderer passes those overrides here. Renderers import this; it imports
nothing of ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

_SHA = re.compile(r"^[0-9a-f]{40}$")
PIN = re.compile(r"^(?P<tag>[A-Za-z0-9][A-Za-z0-9._+-]{0,63})@(?P<sha>[0-9a-f]{40})$")


@dataclass(frozen=True)
class Action:
    repository: str  # owner/name (a path inside it allowed: owner/name/sub)
    sha: str  # the full commit the tag pointed at when it was pinned
    tag: str  # what a reviewer reads; kept as a comment next to the pin

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.sha}"


PINNED: dict[str, Action] = {
    "checkout": Action("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "aws": Action("aws-actions/configure-aws-credentials", "ececac1a45f3b08a01d2dd070d28d111c5fe6722", "v4.1.0"),
    "ecr": Action("aws-actions/amazon-ecr-login", "062b18b96a7aff071d4dc91bc00c4c1a7945b076", "v2.0.1"),
}

for _key, _action in PINNED.items():  # a typo here would ship an unpinned (or broken) workflow
    if not _SHA.match(_action.sha):
        raise ValueError(f"action {_key} ({_action.repository}) must be pinned by a full 40-character commit SHA")


def pin_problem(key: str, value: str) -> str | None:
    """Why `value` cannot pin action `key` (None when it can): the key must be a row of `PINNED`, the value
    `TAG@SHA` with the full 40-character commit SHA the tag points at."""
    if key not in PINNED:
        return f"no action {key!r} in the pinned table; use one of: {', '.join(sorted(PINNED))}"
    if not PIN.match(value):
        return (f"action pin {value!r} for {key} must be TAG@SHA with the full 40-character commit SHA, "
                f"e.g. v4.2.2@{PINNED['checkout'].sha}")
    return None


def action(key: str, overrides: Mapping[str, str] | None = None) -> Action:
    """The pinned action `key`: this table's row, or the service's own pin (`TAG@SHA`) when it has one."""
    try:
        row = PINNED[key]
    except KeyError:
        raise KeyError(f"no pinned action {key!r}; add it to provisioners.actions.PINNED") from None
    match = PIN.match((overrides or {}).get(key, ""))
    return replace(row, sha=match["sha"], tag=match["tag"]) if match else row


def uses(key: str, overrides: Mapping[str, str] | None = None) -> str:
    """The `uses:` value for a pinned action: `owner/name@<sha>`."""
    return action(key, overrides).ref


_USES_LINE = re.compile(r"^(?P<line>\s*(?:-\s+)?uses:\s+(?P<ref>\S+@[0-9a-f]{40}))\s*$")


def annotate(workflow_yaml: str, overrides: Mapping[str, str] | None = None) -> str:
    """Add `# <tag>` after every pinned `uses:` line of a serialised workflow (YAML keeps comments out of
    data, so the tag is added to the text after `to_yaml`)."""
    tags = {a.ref: a.tag for a in PINNED.values()}
    tags.update({action(key, overrides).ref: action(key, overrides).tag for key in overrides or {}})
    out = []
    for line in workflow_yaml.splitlines(keepends=True):
        match = _USES_LINE.match(line.rstrip("\n"))
        if match and match.group("ref") in tags:
            line = f"{match.group('line')} # {tags[match.group('ref')]}\n"
        out.append(line)
    return "".join(out)
