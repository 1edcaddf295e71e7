"""The HCL/YAML encoders and the file checks every renderer relies on."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioners.render import GeneratedFileError, check_file, hcl, hcl_expr, parse_hcl, render_template, to_yaml

NASTY = ['a"b\\c', "x ${foo} %{if} {{y}}", "line1\nline2\t", "ünï 🚀", "$${x}", "a\\${x}", "${", "%%{", "\\u0024{"]


@pytest.mark.parametrize("text", NASTY)
def test_hcl_string_round_trips(text: str) -> None:
    assert parse_hcl(f"x = {hcl(text)}\n")["x"] == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_hcl_string_round_trips_any_text(text: str) -> None:
    parsed = parse_hcl(f"x = {hcl(text)}\ny = 1\n")
    assert parsed["x"] == text
    assert set(parsed) == {"x", "y"}


def test_hcl_encodes_nested_values_and_keeps_expressions_raw() -> None:
    text = "inputs = " + hcl({"name": "svc", "count": 2, "on": True, "tags": {"a-b": "c"}, "ids": ["x"],
                              "vpc": hcl_expr("dependency.vpc.outputs.id"), "none": None}) + "\n"
    assert "dependency.vpc.outputs.id" in text
    assert parse_hcl(text)["inputs"]["count"] == 2


def test_hcl_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        hcl(object())


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_to_yaml_round_trips_any_text(text: str) -> None:
    docs = list(yaml.safe_load_all(to_yaml({"description": text, "after": 1})))
    assert docs == [{"description": text, "after": 1}]


def test_check_file_rejects_broken_output() -> None:
    with pytest.raises(GeneratedFileError):
        check_file("a/terragrunt.hcl", 'x = "unterminated\n')
    with pytest.raises(GeneratedFileError):
        check_file("a/values.yaml", "a: [\n")
    check_file("a/README.md", "anything")


def test_strict_undefined_turns_typos_into_errors(tmp_path: object) -> None:
    import jinja2

    with pytest.raises(jinja2.TemplateNotFound):
        render_template("does-not-exist.j2")
