"""Validation of Kubernetes objects and chart values files, before any of them leaves LaunchPad.

Built-in kinds validate against the pinned Kubernetes version's strict OpenAPI schemas
(kubernetes-validate ships them, so this works offline); CRD kinds (Argo CD, TargetGroupBinding,
SecurityGroupPolicy) validate against the openAPIV3Schema of the CRDs vendored in `schemas/crds/`,
made strict the way `kubectl apply --validate=strict` is (an unknown field is an error, not silently
pruned). Values files validate against the developer schema derived from the chart's
`values.schema.json`. This module only judges: it never renders, writes or talks to a cluster.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from provisioners.bundled import SCHEMAS_DIR, TEMPLATES_DIR

KUBERNETES_VERSION = "1.30"
CRDS_DIR = SCHEMAS_DIR / "crds"
CHART_DIR = TEMPLATES_DIR / "chart"
OWNER = "x-launchpad-owner"

# (group, kind) -> vendored CRD file; the one place that says which custom kinds we know.
CRD_FILES: dict[tuple[str, str], str] = {
    ("argoproj.io", "Application"): "argoproj.io_applications.yaml",
    ("argoproj.io", "ApplicationSet"): "argoproj.io_applicationsets.yaml",
    ("argoproj.io", "AppProject"): "argoproj.io_appprojects.yaml",
    ("elbv2.k8s.aws", "TargetGroupBinding"): "elbv2.k8s.aws_targetgroupbindings.yaml",
    ("vpcresources.k8s.aws", "SecurityGroupPolicy"): "vpcresources.k8s.aws_securitygrouppolicies.yaml",
}

DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
ANNOTATIONS_MAX_BYTES = 256 * 1024
# Kinds whose names must be DNS-1035 labels rather than subdomains.
LABEL_NAMED_KINDS = {("", "Service"), ("", "Namespace")}
METADATA_FIELDS = {"name", "namespace", "labels", "annotations", "finalizers"}


class ManifestError(ValueError):
    """A generated object or values file is invalid; `problems` lists every finding, each with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source} is invalid:\n  " + "\n  ".join(problems))


# --- Kubernetes objects ---------------------------------------------------------------------------
def object_problems(obj: Any) -> list[str]:
    """Every problem of one object (empty when valid): schema of its kind plus metadata formats."""
    if not isinstance(obj, dict):
        return [f"expected a Kubernetes object (a mapping), got {type(obj).__name__}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return ["apiVersion and kind are required strings"]
    group, _, version = api_version.rpartition("/")
    problems = _metadata_problems(group, kind, obj.get("metadata"))
    if (group, kind) in CRD_FILES:
        validator = crd_validator(group, version, kind)
        problems += [_describe(err) for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.path))]
    else:
        problems += _builtin_problems(obj)
    return problems


def validate_object(obj: Any, source: str = "object") -> None:
    problems = object_problems(obj)
    if problems:
        raise ManifestError(f"{source} ({_kind_name(obj)})", problems)


def validate_manifests(text: str, source: str = "manifest") -> list[dict[str, Any]]:
    """Parse a (multi-document) YAML manifest and validate every object in it; returns the objects."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(source, [f"does not parse as YAML: {exc}"]) from None
    for doc in docs:
        validate_object(doc, source)
    return docs


@lru_cache(maxsize=4096)
def validate_manifest_text(text: str, source: str = "manifest") -> None:
    """`validate_manifests` memoised on the text: a team's shared files render identically for every
    one of its services, so a bulk plan validates each distinct file once."""
    validate_manifests(text, source)


def _kind_name(obj: Any) -> str:
    if isinstance(obj, dict):
        meta = obj.get("metadata")
        return f"{obj.get('kind')}/{meta.get('name') if isinstance(meta, dict) else None}"
    return "?"


def _metadata_problems(group: str, kind: str, meta: Any) -> list[str]:
    if not isinstance(meta, dict):
        return ["metadata: required mapping is missing"]
    problems = [f"metadata.{k}: not a field LaunchPad generates (typo?)" for k in meta if k not in METADATA_FIELDS]
    finalizers = meta.get("finalizers", [])
    if not isinstance(finalizers, list) or not all(isinstance(f, str) and _qualified_name(f) for f in finalizers):
        problems.append("metadata.finalizers: must be a list of qualified names")
    name = meta.get("name")
    pattern = DNS_LABEL if (group, kind) in LABEL_NAMED_KINDS else DNS_SUBDOMAIN
    if not isinstance(name, str) or not pattern.match(name):
        problems.append(f"metadata.name: {name!r} is not a valid {kind} name")
    namespace = meta.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not DNS_LABEL.match(namespace)):
        problems.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    for field in ("labels", "annotations"):
        entries = meta.get(field) or {}
        if not isinstance(entries, dict):
            problems.append(f"metadata.{field}: must be a mapping of strings")
            continue
        for key, value in entries.items():
            if not _qualified_name(key):
                problems.append(f"metadata.{field}: key {key!r} is not a qualified name")
            if not isinstance(value, str):
                problems.append(f"metadata.{field}.{key}: value must be a string, got {type(value).__name__}")
            elif field == "labels" and not LABEL_VALUE.match(value):
                problems.append(f"metadata.labels.{key}: {value!r} is not a valid label value")
    annotations = meta.get("annotations") or {}
    if isinstance(annotations, dict):
        size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
        if size > ANNOTATIONS_MAX_BYTES:
            problems.append(f"metadata.annotations: {size} bytes; Kubernetes allows {ANNOTATIONS_MAX_BYTES}")
    return problems


def _qualified_name(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    return bool(LABEL_NAME.match(name)) and (not prefix or bool(DNS_SUBDOMAIN.match(prefix)))


def _builtin_problems(obj: dict[str, Any]) -> list[str]:
    import kubernetes_validate  # test/dev dependency: only chart-rendered (built-in) objects need it

    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{obj['apiVersion']}/{obj['kind']} is not a kind of Kubernetes {KUBERNETES_VERSION} "
                "and no vendored CRD describes it"]
    except kubernetes_validate.ValidationError as err:
        return [_describe(err)]
    return []


def _describe(err: Any) -> str:
    path = ".".join(str(p) for p in err.path) or "(root)"
    if err.validator == "not":  # e.g. port 8081 (nginx's) or an AWS_* variable (IRSA's)
        return f"{path}: {err.instance!r} is reserved by the platform; choose another"
    return f"{path}: {err.message}"


# --- CRD schemas -----------------------------------------------------------------------------------
@cache
def _crd_document(filename: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the ApplicationSet CRD is 1.4 MB
    with (CRDS_DIR / filename).open() as fh:
        doc: dict[str, Any] = yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader either way
    return doc


@cache
def crd_validator(group: str, version: str, kind: str) -> jsonschema.Draft7Validator:
    """A strict validator for one served version of a vendored CRD (built once per process)."""
    crd = _crd_document(CRD_FILES[(group, kind)])
    for v in crd["spec"]["versions"]:
        if v["name"] == version and v.get("served", True):
            schema = strict_schema(v["schema"]["openAPIV3Schema"])
            schema["properties"]["apiVersion"] = {"const": f"{group}/{version}"}
            schema["properties"]["kind"] = {"const": kind}
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
            return jsonschema.Draft7Validator(schema)
    served = [v["name"] for v in crd["spec"]["versions"] if v.get("served", True)]
    raise KeyError(f"{group}/{version} {kind} is not served by the vendored CRD; use one of {served}")


def strict_schema(node: Any) -> Any:
    """OpenAPI v3 (structural CRD schema) -> JSON Schema in which unknown fields are errors."""
    if isinstance(node, list):
        return [strict_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


# --- chart values ------------------------------------------------------------------------------------
@cache
def chart_values_schema(chart_dir: Path = CHART_DIR) -> dict[str, Any]:
    """The chart's own values.schema.json: what Helm enforces on the merged values."""
    schema: dict[str, Any] = json.loads((chart_dir / "values.schema.json").read_text())
    return schema


@cache
def chart_defaults(chart_dir: Path = CHART_DIR) -> dict[str, Any]:
    """The chart's own values.yaml (SRE defaults); empty when a chart copy carries only its schema."""
    path = chart_dir / "values.yaml"
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    return data if isinstance(data, dict) else {}


@cache
def developer_values_schema(chart_dir: Path = CHART_DIR) -> dict[str, Any]:
    """Only the keys marked `x-launchpad-owner: developer`, nothing else allowed; no `required`, since
    values.yaml and values-<env>.yaml each hold a part (the chart checks the merged whole)."""
    chart = chart_values_schema(chart_dir)
    props = {k: _without_required(v) for k, v in chart["properties"].items() if v.get(OWNER) == "developer"}
    return {
        "$schema": chart.get("$schema", "http://json-schema.org/draft-07/schema#"),
        "title": "developer values (services/<service>/values.yaml and values-<env>.yaml)",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
    }


def _without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return copy.deepcopy(node)


@cache
def _developer_validator(chart_dir: Path = CHART_DIR) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(developer_values_schema(chart_dir))


def developer_values_problems(data: Any, chart_dir: Path = CHART_DIR) -> list[str]:
    """Every reason a developer values file is not acceptable, each naming the key and the fix."""
    if data is None:
        return []
    owners = {k: v.get(OWNER, "sre") for k, v in chart_values_schema(chart_dir)["properties"].items()}
    problems: list[str] = []
    for err in sorted(_developer_validator(chart_dir).iter_errors(data), key=lambda e: list(e.path)):
        if err.validator == "additionalProperties" and not err.path and isinstance(data, dict):
            allowed = set(developer_values_schema(chart_dir)["properties"])
            for key in sorted((k for k in data if k not in allowed), key=str):
                problems.append(_foreign_key(key, owners.get(key), allowed))
        else:
            problems.append(_describe(err))
    return problems


def _foreign_key(key: Any, owner: str | None, allowed: set[str]) -> str:
    if owner == "platform":
        return (f"{key}: set by the platform (Argo CD passes it from the gitops repository); "
                "remove it from this file")
    if owner == "sre":
        return f"{key}: SRE-owned chart setting; ask the platform team to change the chart instead"
    return f"{key}: not a value of this chart; allowed keys: {', '.join(sorted(allowed))}"


def validate_developer_values(data: Any, source: str = "values file", chart_dir: Path = CHART_DIR) -> None:
    problems = developer_values_problems(data, chart_dir)
    if problems:
        raise ManifestError(source, problems)


def validate_developer_values_text(text: str, source: str = "values file", chart_dir: Path = CHART_DIR) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(source, [f"does not parse as YAML: {exc}"]) from None
    validate_developer_values(data, source, chart_dir)
