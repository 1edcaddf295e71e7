"""The bind step against EC2 (boto3 on a moto server on 127.0.0.1): a security group that does not exist
yet is a transient error retried with backoff; once it exists, its real id flows into the gitops change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.workflow.bindings import Ec2Bindings
from bot.workflow.clock import ManualClock
from provisioners.platform import PlatformConfig
from tests.support.moto import moto_server
from tests.workflow.support import ALICE, drain, non_empty_tree, spec

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def test_bind_waits_for_the_security_group_then_renders_its_id(make: Any, moto_url: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    devel = PlatformConfig().environments["devel"].model_copy(update={"vpc_id": vpc, "vpc_cidr": "10.42.0.0/16"})
    platform = PlatformConfig(environments={"devel": devel})
    clock = ManualClock()
    services = make(clock=clock, platform=platform, aws_endpoint_url=moto_url, aws_region=REGION,
                    step_max_attempts=5)
    assert isinstance(services.workflow.engine.actions.resolver, Ec2Bindings)
    wf = services.workflow
    info = wf.submit_create(spec("bind-api"), ALICE)
    drain(services)
    bind = next(s for s in wf.get_request(info.id).steps if s.kind == "bind")
    assert bind.state == "pending" and "devel-bind-api-pods does not exist" in (bind.error or "")

    group = ec2.create_security_group(GroupName="devel-bind-api-pods", Description="pods", VpcId=vpc)["GroupId"]
    clock.advance(hours=1)
    drain(services)
    info = wf.get_request(info.id)
    assert info.state == "succeeded", info.error
    assert next(s for s in info.steps if s.kind == "bind").attempts == 2
    files = non_empty_tree(services.local_forge or services.forges.forge.forge)  # type: ignore[attr-defined]
    assert any(group in (content or "") for repo in files.values() for content in repo.values())
