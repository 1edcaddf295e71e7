"""provisioners.k8s: the judge every generated Kubernetes object and values file goes through."""

from __future__ import annotations

from typing import Any

import pytest

from provisioners import k8s


def config_map(**metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", **metadata}, "data": {"a": "b"}}


def test_builtin_kinds_validate_strictly_against_the_pinned_kubernetes_version() -> None:
    assert k8s.object_problems(config_map()) == []
    bad = config_map() | {"spec": {}}
    assert any("spec" in p for p in k8s.object_problems(bad))
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "a", "imag": "b"}]}}}}
    [problem] = k8s.object_problems(deployment)
    assert problem.startswith("spec.template.spec.containers.0:") and "imag" in problem


@pytest.mark.parametrize(("metadata", "needle"), [
    ({"name": "Upper"}, "metadata.name"),
    ({"namespace": "bad_ns"}, "metadata.namespace"),
    ({"labels": {"a": "has space"}}, "metadata.labels.a"),
    ({"labels": {"bad key!": "x"}}, "qualified name"),
    ({"annotations": {"a": 1}}, "must be a string"),
    ({"annotations": {"a": "x" * (256 * 1024)}}, "bytes"),
    ({"finalizer": ["x"]}, "metadata.finalizer"),
])
def test_metadata_formats_are_checked_for_every_kind(metadata: dict[str, Any], needle: str) -> None:
    assert any(needle in p for p in k8s.object_problems(config_map(**metadata)))


def test_unknown_kinds_are_refused_not_waved_through() -> None:
    problems = k8s.object_problems({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    assert problems and "no vendored CRD" in problems[0]
    assert k8s.object_problems("not an object") and k8s.object_problems({"metadata": {}})


def test_crd_kinds_validate_against_the_vendored_schema() -> None:
    tgb = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": {"name": "app"},
           "spec": {"serviceRef": {"name": "app", "port": 80}, "targetGroupName": "devel-app-tg", "targetType": "ip"}}
    assert k8s.object_problems(tgb) == []
    assert any("serviceRef" in p for p in k8s.object_problems(tgb | {"spec": {"targetType": "ip"}}))
    wrong_version = tgb | {"apiVersion": "elbv2.k8s.aws/v2"}
    with pytest.raises(KeyError, match="v1beta1"):
        k8s.object_problems(wrong_version)
    sgp = {"apiVersion": "vpcresources.k8s.aws/v1beta1", "kind": "SecurityGroupPolicy", "metadata": {"name": "a"},
           "spec": {"podSelector": {"matchLabels": {"a": "b"}}, "securityGroups": {"groupIds": []}}}
    assert any("groupIds" in p for p in k8s.object_problems(sgp))


def test_crd_validators_are_built_once() -> None:
    first = k8s.crd_validator("argoproj.io", "v1alpha1", "ApplicationSet")
    assert k8s.crd_validator("argoproj.io", "v1alpha1", "ApplicationSet") is first


def test_strict_schema_translates_openapi_extensions() -> None:
    schema = k8s.strict_schema({
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "note": {"type": "string", "nullable": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
        },
    })
    assert schema["additionalProperties"] is False
    assert "type" not in schema["properties"]["port"]
    assert schema["properties"]["note"]["type"] == ["string", "null"]
    assert "additionalProperties" not in schema["properties"]["free"]
    assert not any(k.startswith("x-kubernetes") for k in schema["properties"]["free"])


def test_validate_manifests_parses_every_document_and_names_the_source() -> None:
    text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# empty\n---\n" \
           "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b}\n"
    assert [o["kind"] for o in k8s.validate_manifests(text, "x.yaml")] == ["ConfigMap", "ServiceAccount"]
    with pytest.raises(k8s.ManifestError, match=r"x\.yaml"):
        k8s.validate_manifests("a: [\n", "x.yaml")
    with pytest.raises(k8s.ManifestError, match="ServiceAccount/B"):
        k8s.validate_manifests("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: B}\n", "x.yaml")


def test_developer_schema_is_the_developer_slice_of_the_chart_schema() -> None:
    chart = k8s.chart_values_schema()
    developer = k8s.developer_values_schema()
    owners = {k: v[k8s.OWNER] for k, v in chart["properties"].items()}
    assert set(owners.values()) == {"developer", "platform", "sre"}
    assert set(developer["properties"]) == {k for k, o in owners.items() if o == "developer"}
    assert developer["additionalProperties"] is False
    assert "required" not in str(developer)
    assert "platform" in chart["required"]


def test_values_file_text_validation() -> None:
    k8s.validate_developer_values_text("replicas: 2\n", "values-devel.yaml")
    with pytest.raises(k8s.ManifestError, match=r"values-devel\.yaml"):
        k8s.validate_developer_values_text("platform: {}\n", "values-devel.yaml")
    with pytest.raises(k8s.ManifestError, match="parse"):
        k8s.validate_developer_values_text("a: [\n", "values.yaml")
