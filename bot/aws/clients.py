"""boto3 clients for the AWS operations, built from settings, and a counter of the AWS calls they make.

The same code path runs in production (the pod's role, real endpoints) and in tests (moto server on
127.0.0.1 via `settings.aws_endpoint_url`). This module only builds and counts; it decides nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_s3 import S3Client

    from bot.config import Settings

BOTO_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=15)

_scope: ContextVar[Counter[str] | None] = ContextVar("aws_call_scope", default=None)


class AwsCallCounter:
    """Counts API calls ("route53.ListHostedZones") through botocore's `before-call` event.

    `total` counts every call since creation; `scope()` counts the calls made by the current thread (or
    context) inside a `with` block, so concurrent lookups do not mix their figures.
    """

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._on_call)

    def _on_call(self, model: Any, **_: Any) -> None:
        key = f"{model.service_model.service_name}.{model.name}"
        with self._lock:
            self.total[key] += 1
        scoped = _scope.get()
        if scoped is not None:
            scoped[key] += 1

    @contextlib.contextmanager
    def scope(self) -> Iterator[Counter[str]]:
        calls: Counter[str] = Counter()
        token = _scope.set(calls)
        try:
            yield calls
        finally:
            _scope.reset(token)


@dataclass
class AwsClients:
    """One client per service the bot uses; load balancer clients per region, created on first use."""

    session: boto3.Session
    region: str
    endpoint_url: str | None = None
    calls: AwsCallCounter = field(default_factory=AwsCallCounter)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, session: boto3.Session | None = None) -> AwsClients:
        return cls(session=session or boto3.Session(), region=settings.aws_region,
                   endpoint_url=settings.aws_endpoint_url)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        with self._lock:
            existing = self._clients.get(key)
            if existing is None:
                existing = self.session.client(service, region_name=key[1],  # type: ignore[call-overload]
                                               endpoint_url=self.endpoint_url, config=BOTO_CONFIG)
                self.calls.attach(existing)
                self._clients[key] = existing
            return existing

    # Global services are served from us-east-1; regional ones from the configured region.
    @property
    def iam(self) -> IAMClient:
        return self.client("iam", "us-east-1")

    @property
    def route53(self) -> Route53Client:
        return self.client("route53", "us-east-1")

    @property
    def cloudfront(self) -> CloudFrontClient:
        return self.client("cloudfront", "us-east-1")

    def elbv2(self, region: str | None = None) -> ElasticLoadBalancingv2Client:
        return self.client("elbv2", region)

    def apigateway(self, region: str | None = None) -> APIGatewayClient:
        return self.client("apigateway", region)

    def s3(self, region: str | None = None) -> S3Client:
        return self.client("s3", region)
