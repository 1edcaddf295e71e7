"""Resolving platform bindings (security group ids) once the infra change is applied.

`Ec2Bindings` asks EC2 (`describe_security_groups` by group name in the environment's VPC, with
`settings.aws_endpoint_url` when set); `PlaceholderBindings` returns the stable stand-in ids of
`provisioners.bindings` for the embedded default, where there is no AWS to ask. A group that does not
exist yet is a transient error: the infra pull request is merged but may still be applying.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from provisioners.bindings import Bindings, placeholder_security_group_id
from provisioners.errors import PermanentError, TransientError
from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec

_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "InternalError",
                    "ServiceUnavailable", "Unavailable", "RequestTimeout"}


class BindingResolver(Protocol):
    def resolve(self, spec: ServiceSpec, envs: list[str]) -> Bindings: ...


class PlaceholderBindings:
    def __init__(self, platform: PlatformConfig) -> None:
        self.platform = platform

    def resolve(self, spec: ServiceSpec, envs: list[str]) -> Bindings:
        names = {env: spec.names(env, self.platform).security_group for env in envs}
        return Bindings(security_group_ids={env: placeholder_security_group_id(n) for env, n in names.items()})


class Ec2Bindings:
    """Looks the pod security group up by name; `client` is a boto3 EC2 client."""

    def __init__(self, client: Any, platform: PlatformConfig) -> None:
        self.client = client
        self.platform = platform

    def resolve(self, spec: ServiceSpec, envs: list[str]) -> Bindings:
        ids: dict[str, str] = {}
        for env in envs:
            name = spec.names(env, self.platform).security_group
            vpc = self.platform.target_for(env).vpc_id
            try:
                found = self.client.describe_security_groups(
                    Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc]}])
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code in _TRANSIENT_CODES or status >= 500:
                    raise TransientError(f"EC2 is unavailable ({code or status}) looking up {name}") from None
                raise PermanentError(f"EC2 refused to describe security group {name} ({code}); check the "
                                     "worker's IAM permissions (ec2:DescribeSecurityGroups)") from None
            except BotoCoreError as exc:
                raise TransientError(f"could not reach EC2 looking up {name}: {type(exc).__name__}") from None
            groups = found.get("SecurityGroups", [])
            if not groups:
                raise TransientError(f"security group {name} does not exist in {vpc} ({env}) yet; the infra "
                                     "change may still be applying")
            ids[env] = groups[0]["GroupId"]
        return Bindings(security_group_ids=ids)
