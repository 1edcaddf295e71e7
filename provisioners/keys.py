"""Unknown keys: every model that reads a person's YAML forbids keys it does not know, and the error
names the closest valid key (`replica` -> `replicas`), so a typo is refused instead of dropped.

`unknown_key_message(Model, loc)` finds the model that owns the location of a pydantic
`extra_forbidden` error by walking the field annotations (lists, dicts, optionals), and suggests with
difflib. Pure; used by the spec parser, the settings loader, blueprints and the approval policy.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

FORBID = ConfigDict(extra="forbid")  # `model_config = FORBID` on every model that reads user input


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` was most likely meant to be, or None when nothing is close."""
    options = sorted(set(candidates))
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def keys_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """The keys valid where the last element of `loc` was found (None when `loc` leads to no model)."""
    annotation: Any = model
    for part in loc[:-1]:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    owner = _model_in(annotation)
    if owner is None:
        return None
    return sorted(owner.model_fields)


def unknown_key_message(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    """'unknown key 'replica'; did you mean 'replicas'?' (or the valid keys when none is close)."""
    key = str(loc[-1]) if loc else ""
    valid = keys_at(model, loc) or []
    hint = closest(key, valid)
    if hint is not None:
        return f"unknown key {key!r}; did you mean {hint!r}?"
    elsewhere = _find(model, key)
    if elsewhere is not None and elsewhere != ".".join(str(p) for p in loc):
        return f"unknown key {key!r} here; it belongs under {elsewhere.rpartition('.')[0]}"
    if valid:
        return f"unknown key {key!r}; valid keys here: {', '.join(valid)}"
    return f"unknown key {key!r}"


def _find(model: type[BaseModel], key: str, prefix: str = "", depth: int = 3) -> str | None:
    """Where in the model tree a field named `key` lives ('environments[].replicas'), breadth first."""
    nested = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if name == key and prefix:
            return path
        child, many = _nested_model(field.annotation)
        if child is not None:
            nested.append((child, f"{path}{'[]' if many else ''}."))
    if depth > 1:
        for child, path in nested:
            found = _find(child, key, path, depth - 1)
            if found is not None:
                return found
    return None


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate, False
        origin, args = get_origin(candidate), get_args(candidate)
        if origin in (list, tuple, set, frozenset) and args:
            found, _ = _nested_model(args[0])
            if found is not None:
                return found, True
        if origin is dict and len(args) == 2:
            found, _ = _nested_model(args[1])
            if found is not None:
                return found, True
    return None, False


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _members(annotation: Any) -> list[Any]:
    """The alternatives of an Optional/Union/Annotated annotation (the annotation itself otherwise)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            field = candidate.model_fields.get(str(part))
            if field is not None:
                return field.annotation
            continue
        origin = get_origin(candidate)
        args = get_args(candidate)
        if origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
            return args[0]
        if origin is dict and len(args) == 2:
            return args[1]
    return None


def validation_problems(model: type[BaseModel], exc: ValidationError) -> str:
    """Every error of `exc` as `where: what` on one line, unknown keys with their closest valid key."""
    return problems_of(model, exc.errors())


def problems_of(model: type[BaseModel], errors: Iterable[ErrorDetails]) -> str:
    """`validation_problems` for a selection of a ValidationError's errors."""
    problems = []
    for err in errors:
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            what = unknown_key_message(model, err["loc"])
        else:
            what = err["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {what}" if where else what)
    return "; ".join(dict.fromkeys(problems))
