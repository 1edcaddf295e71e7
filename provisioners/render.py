"""One Jinja2 environment for every template, and the filters that make user text safe in HCL and YAML.

User text never reaches a template raw: templates use `| hcl` for every HCL value and build YAML
from Python data with `to_yaml` (never string concatenation). Every generated file is parsed back
before it leaves (`check_file`), so a renderer bug fails a test, not a `terragrunt apply`.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import hcl2
import jinja2
import yaml

from provisioners.blueprint import TEMPLATES_DIR


class _HclRaw(str):
    """An HCL expression (reference, function call) that must be emitted as-is, never quoted."""


def hcl_expr(expression: str) -> _HclRaw:
    """Mark a trusted, renderer-built expression such as `dependency.sg.outputs.security_group_id`."""
    return _HclRaw(expression)


_HCL_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t",
                **{c: f"\\u{c:04x}" for c in [*range(0x20), 0x7F] if c not in (0x09, 0x0A, 0x0D)}}


def hcl_string(value: str) -> str:
    """Encode text as an HCL quoted string: escapes, and `${`/`%{` made inert so no template is evaluated."""
    # `$${` is HCL's documented escape, but python-hcl2 mis-lexes it; `\u0024{` is equally inert in
    # HCL (the template scanner looks for `${` in the raw text) and both parsers decode it to `${`.
    text = value.translate(_HCL_ESCAPES).replace("${", "\\u0024{").replace("%{", "\\u0025{")
    return f'"{text}"'


def hcl(value: Any, indent: int = 0) -> str:
    """Encode a Python value (str, int, bool, None, list, dict) as an HCL expression."""
    pad = "  " * indent
    if isinstance(value, _HclRaw):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = ",\n".join(f"{pad}  {hcl(v, indent + 1)}" for v in value)
        return f"[\n{items},\n{pad}]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{\n" + "\n".join(_aligned([(_hcl_key(k), hcl(v, indent + 1)) for k, v in value.items()], pad)) \
            + f"\n{pad}}}"
    raise TypeError(f"cannot encode {type(value).__name__} as HCL")


def _aligned(items: list[tuple[str, str]], pad: str) -> list[str]:
    """`key = value` lines aligned like `terraform fmt`: a value spanning lines ends the aligned run."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(k) for k, _ in run), default=0)
        lines.extend(f"{pad}  {k.ljust(width)} = {v}" for k, v in run)
        run.clear()

    for key, encoded in items:
        if "\n" in encoded:
            flush()
            lines.append(f"{pad}  {key} = {encoded}")
        else:
            run.append((key, encoded))
    flush()
    return lines


def _hcl_key(key: Any) -> str:
    key = str(key)
    if key.replace("_", "a").replace("-", "a").isalnum() and not key[0].isdigit():
        return key
    return hcl_string(key)


# libyaml when present: the pure-Python parser/emitter was most of a plan's time
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SafeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """SafeDumper that double-quotes strings holding YAML line breaks PyYAML would otherwise fold away."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(ch in value for ch in "\x85\u2028\u2029\ufeff"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if _go_yaml_would_retype(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


def _go_yaml_would_retype(value: str) -> bool:
    """Go's YAML (Helm, Argo CD, Kubernetes) reads more plain scalars as non-strings than PyYAML does:
    y/Y/n/N are booleans, 0o17 and 1e3 are numbers. Quote those and anything number-like."""
    return value in ("y", "Y", "n", "N") or value[:1] in tuple("+-.0123456789")


_SafeDumper.add_representer(str, _represent_str)


class YamlBlock(str):
    """Multi-line text (a shell script, a config file) that reads best as a `|` literal block."""


def _represent_block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # The emitter itself falls back to a quoted style when the text cannot be a literal block
    # (trailing spaces, special characters), so the text still round-trips unchanged.
    if "\n" in value and not any(ch in value for ch in "\x85\u2028\u2029\ufeff"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")
    return _represent_str(dumper, str(value))


_SafeDumper.add_representer(YamlBlock, _represent_block)


def to_yaml(data: Any) -> str:
    """Serialise data as YAML; quoting is the emitter's job, so no user text can add a key."""
    return yaml.dump(data, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=1_000_000)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


@cache
def environment(templates_dir: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """The one cached Jinja environment; StrictUndefined turns a typo into an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["hcl"] = hcl
    env.filters["hcl_string"] = hcl_string
    env.filters["to_yaml"] = to_yaml
    env.filters["to_json"] = to_json
    return env


def render_template(name: str, templates_dir: Path = TEMPLATES_DIR, **context: Any) -> str:
    return environment(templates_dir).get_template(name).render(**context)


def parse_hcl(content: str) -> dict[str, Any]:
    """Parse HCL into plain Python values (strings unquoted and unescaped), for checks and tests."""
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)
    return hcl2.loads(content, serialization_options=options)


@lru_cache(maxsize=4096)
def _check_hcl_syntax(content: str) -> None:
    """Syntax check only (the parse tree, not its conversion to Python): ~5x cheaper than parse_hcl, and
    cached because shared files (root.hcl, local modules) repeat for every service in a bulk plan."""
    hcl2.parses_to_tree(content)


@lru_cache(maxsize=4096)
def _check_yaml_syntax(content: str) -> None:
    """Cached like `_check_hcl_syntax`: the infra pipeline's workflows and each team's Argo CD files repeat
    in every service's change set."""
    list(yaml.load_all(content, Loader=_SAFE_LOADER))


class GeneratedFileError(ValueError):
    """A generated file does not parse; always a LaunchPad bug, never the user's."""


def check_file(path: str, content: str) -> None:
    """Parse a generated file back by its extension; raise GeneratedFileError when it does not parse."""
    try:
        if path.endswith(".hcl") or path.endswith(".tf"):
            _check_hcl_syntax(content)
        elif path.endswith((".yaml", ".yml")):
            _check_yaml_syntax(content)
        elif path.endswith(".json"):
            json.loads(content)
    except Exception as exc:
        raise GeneratedFileError(f"generated {path} does not parse: {exc}") from exc
