"""Free text (the description) through YAML: values file -> Helm -> chart annotation, byte for byte.

Whatever a developer types (quotes, backslashes, `{{`, `${`, newlines, YAML indicators, document
markers, unicode, control characters) must come out of every parser unchanged, and must never add a
key or a document. Parsers: PyYAML (what LaunchPad checks with) and Helm's own YAML parser (what
Argo CD and Kubernetes use), through helm-python-sdk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioners import argocd
from provisioners import helm as helm_values
from provisioners.blueprint import BlueprintRegistry
from provisioners.k8s import CHART_DIR, validate_manifests
from provisioners.plan import RenderContext
from provisioners.platform import PlatformConfig
from provisioners.render import to_yaml
from provisioners.spec import DESCRIPTION_MAX, FORBIDDEN_CONTROL, ServiceSpec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
CTX = RenderContext(platform=PlatformConfig(), blueprints=BlueprintRegistry.load())
BASE = yaml.safe_load((ROOT / "examples" / "ranking-web.yaml").read_text())

NASTY = [
    'He said "hi" and \'bye\' \\ done',
    "{{ .Values.platform.targetGroupName }} {{- toYaml . }} ${HOME} %{if x}",
    "line one\nline two\n\n  indented\n",
    "---\nplatform:\n  targetGroupName: evil\n...\n",
    "key: value\n- item\n? complex\n: value",
    "# not a comment &anchor *alias !tag |literal >folded @at `tick` %percent",
    "trailing spaces   \n\ttab-led line",
    "yes", "no", "null", "~", "0x1F", "1e3", "2024-01-01", "",
    "unicode: ünïcödé — “quotes” 🚀 \u200b zero-width \u2028 line sep \u2029 para sep",
    "\x85 next-line \xa0 nbsp \ufeff bom \x80\x9f c1 controls",
    "\\u0041 is not A; \\n is not a newline",
    " leading space", "a" * DESCRIPTION_MAX,
]
spec_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)).filter(lambda c: not FORBIDDEN_CONTROL.match(c)),
    max_size=DESCRIPTION_MAX,
)


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def spec_with(description: str) -> ServiceSpec:
    return parse_spec(BASE | {"description": description}, CTX.platform, CTX.blueprints)


def values_yaml(spec: ServiceSpec) -> str:
    return helm_values.render(spec, CTX).files[helm_values.values_file(spec, CTX)]


def chart_values(spec: ServiceSpec, env: str = "devel") -> dict[str, Any]:
    """values.yaml + values-<env>.yaml as Helm parses them, then the platform block, as Argo CD merges them."""
    files = helm_values.render(spec, CTX).files
    merged: dict[str, Any] = helm.values_from_yaml(files[helm_values.values_file(spec, CTX)])
    merged |= helm.values_from_yaml(files[helm_values.environment_file(spec, CTX, env)])
    app = next(a for a in argocd.applications(spec, CTX) if a["spec"]["destination"]["namespace"].endswith(env))
    return merged | app["spec"]["sources"][0]["helm"]["valuesObject"]


def annotation_through_chart(chart: helm.Chart, values: dict[str, Any]) -> str:
    text = chart.render(values=values, name="ranking-web", namespace="search-devel")[
        "launchpad-service/templates/deployment.yaml"]
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert len(docs) == 1, "the description added a document"
    [deployment] = docs
    annotations = deployment["metadata"].get("annotations", {})
    assert set(annotations) <= {"launchpad.io/description"}, "the description added an annotation"
    assert set(deployment) == {"apiVersion", "kind", "metadata", "spec"}
    as_helm_reads_it = helm.values_from_yaml(text)["metadata"].get("annotations", {})
    assert as_helm_reads_it == annotations, "Helm's YAML parser and PyYAML disagree"
    validate_manifests(text, "deployment.yaml")
    return str(annotations.get("launchpad.io/description", ""))


# --- values file: pure YAML, property-based --------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_text)
def test_description_round_trips_through_the_values_file(description: str) -> None:
    text = values_yaml(spec_with(description))
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 1
    [data] = docs
    expected_keys = {"port", "healthCheckPath"} | ({"description"} if description else set())
    assert set(data) == expected_keys
    assert data.get("description", "") == description
    assert helm.values_from_yaml(text).get("description", "") == description


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_to_yaml_round_trips_any_text_for_helm_too(text: str) -> None:
    encoded = to_yaml({"description": text, "port": 8080})
    assert yaml.safe_load(encoded) == {"description": text, "port": 8080}
    assert helm.values_from_yaml(encoded) == {"description": text, "port": 8080}


def test_description_never_reaches_the_gitops_repository() -> None:
    marker = "UNIQUE-MARKER-{{ .x }}"
    files = argocd.render(spec_with(marker), CTX).files
    assert not any(marker in content for content in files.values())


# --- through the chart: the Kubernetes annotation -----------------------------------------------------------
@pytest.mark.parametrize("description", NASTY)
def test_nasty_descriptions_reach_the_annotation_unchanged(description: str, chart: helm.Chart) -> None:
    assert annotation_through_chart(chart, chart_values(spec_with(description))) == description


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec_text)
def test_any_description_reaches_the_annotation_unchanged(chart: helm.Chart, description: str) -> None:
    assert annotation_through_chart(chart, chart_values(spec_with(description))) == description


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=500))
def test_chart_quotes_any_text_even_what_the_spec_would_refuse(chart: helm.Chart, text: str) -> None:
    """A developer can edit values.yaml by hand: the chart alone must keep any text inert."""
    values = chart_values(spec_with("x")) | {"description": text}
    assert annotation_through_chart(chart, values) == text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,20}\Z").filter(lambda k: not k.startswith("AWS_")),
                       st.text(max_size=100), max_size=4))
def test_env_values_reach_the_container_unchanged(chart: helm.Chart, env: dict[str, str]) -> None:
    values = chart_values(spec_with("x")) | {"env": env}
    chart.validate_schema(values)
    text = chart.render(values=values, name="ranking-web", namespace="search-devel")[
        "launchpad-service/templates/deployment.yaml"]
    [deployment] = [d for d in yaml.safe_load_all(text) if d is not None]
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in app.get("env", [])} == env
    assert set(app) >= {"name", "image", "ports", "resources"}
