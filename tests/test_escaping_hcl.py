"""Whatever a user types, the Terragrunt files keep their shape and the text survives verbatim.

Free text (the description; the owner, which is unvalidated) reaches every package: verbatim in
`locals`, sanitised in AWS tags. Each generated file is parsed back and compared with a baseline
render: same blocks, same keys, same list lengths, same number of lines — the text may change values,
never structure.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioners import terragrunt
from provisioners.blueprint import BlueprintRegistry
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.render import parse_hcl
from provisioners.spec import DESCRIPTION_MAX, FORBIDDEN_CONTROL, parse_spec

ROOT = Path(__file__).resolve().parent.parent
CTX = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
EXAMPLES = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))}
# One environment and every component: each template once, so a property run stays cheap.
EVERY_TEMPLATE = {
    "name": "shop-web", "team": "search", "blueprint": "web-service", "domain": "shop.example.com",
    "environments": [{"name": "prod"}], "ingress_cidrs": ["10.0.0.0/8"],
    "iam_policy_arns": ["arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"],
    "components": {"s3": {}, "rds": {}, "elasticache": {}},
}
PIECES = ['"', "'", "\\", "\\\\", "${", "%{", "{{", "}}", "$${", "%%{", "\\u0024{", "\n", "\t", "#", "//", "/*",
          "*/", "<<EOF", "\nEOF\n", "}\n", "]", "=", ": ", "- ", "? ", "&a ", "*a", "!!python/object", "| ", "> ",
          "`", "ü", "日本", "🚀", "\u2028", "\u0085", "\ufeff", "\u200b", "e\u0301", " "]
FREE_TEXT = st.one_of(st.text(max_size=120), st.lists(st.sampled_from(PIECES), max_size=16).map("".join))
NASTY = ['a"b\\c', "x ${foo} %{if true}y%{endif} {{z}}", "line1\nline2\n\tindented\n", "}\ninputs = {\n",
         '" }\nlocals { x = "', "ünï 🚀 \u2028 \u0085", "<<EOF\nEOF", "$${x} \\${y}"]


def render(data: dict[str, Any], description: str, owner: str) -> dict[str, str]:
    spec = parse_spec({**data, "description": description, "owner": owner}, CTX.platform, CTX.blueprints)
    return {p: c for p, c in terragrunt.render(spec, CTX).files.items() if p.endswith(".hcl")}


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return None


@cache
def baseline(example: str, description_tag: bool, owner_tag: bool) -> dict[str, tuple[Any, int]]:
    """Shape and line count of every file for text that leaves (or not) a description/owner tag."""
    data = EVERY_TEMPLATE if example == "*" else EXAMPLES[example]
    files = render(data, "a" if description_tag else "", "b" if owner_tag else "")
    return {path: (shape(parse_hcl(content)), content.count("\n")) for path, content in files.items()}


def check(example: str, description: str, owner: str) -> None:
    data = EVERY_TEMPLATE if example == "*" else EXAMPLES[example]
    files = render(data, description, owner)
    description_tag, owner_tag = terragrunt.aws_tag_value(description), terragrunt.aws_tag_value(owner)
    expected = baseline(example, bool(description_tag), bool(owner_tag))
    assert sorted(files) == sorted(expected)
    for path, content in files.items():
        parsed = parse_hcl(content)
        assert (shape(parsed), content.count("\n")) == expected[path], f"{path} changed shape"
        if "include" not in parsed:
            continue  # root.hcl holds no request text
        local = parsed["locals"][0]
        assert local["description"] == description, path
        if "tags" in local:
            assert local["tags"].get("description", "") == description_tag
            assert local["tags"].get("requested-by", "") == owner_tag


def valid_description(text: str) -> str:
    return FORBIDDEN_CONTROL.sub("", text)[:DESCRIPTION_MAX]


@settings(max_examples=200, deadline=None)
@given(description=FREE_TEXT, owner=FREE_TEXT)
def test_any_text_round_trips_through_every_template(description: str, owner: str) -> None:
    check("*", valid_description(description), owner)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
@pytest.mark.parametrize("text", NASTY)
def test_nasty_text_in_every_example(example: str, text: str) -> None:
    check(example, text, text)


def test_longest_description_fits() -> None:
    check("*", ('"${x}"\n' * 100)[:DESCRIPTION_MAX], "")


@settings(max_examples=200, deadline=None)
@given(FREE_TEXT)
def test_tag_values_use_only_the_aws_tag_charset(text: str) -> None:
    value = terragrunt.aws_tag_value(text)
    assert len(value) <= terragrunt.TAG_VALUE_MAX
    assert value == value.strip() and "  " not in value
    assert all(ch.isalnum() or ch in " _.:/=+-@" for ch in value), value
    assert terragrunt.aws_tag_value(value) == value
