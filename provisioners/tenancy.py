"""Tenancy in the gitops repository: a service's Argo CD config names only its own AWS resources.

An AppProject limits repositories, destinations and kinds, never the values inside an object, and a
TargetGroupBinding or SecurityGroupPolicy can name any target group or security group in the account.
So the platform-owned config files the team ApplicationSets read are checked instead: each file's
identity comes from its path (`<gitops_path>/services/<service>/<env>.yaml`), and the target group,
IAM role, namespace and destination it names must be the ones derived for exactly that team, service and
environment. `argocd.render` refuses to write a file that fails (render-time policy check);
`gitops_problems` checks a whole checkout — every file, plus no service under two teams and no security
group or target group shared by two services — for the gitops repository's CI, where hand edits land:

    python -m provisioners.tenancy path/to/gitops-checkout

Pure except for that command-line entry, which only reads files.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from provisioners.platform import PlatformConfig
from provisioners.spec import ServiceSpec

SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")


def config_problems(team: str, service: str, env: str, config: Any, platform: PlatformConfig) -> list[str]:
    """Why the config file of `service` in `env` (team `team`) names something that is not its own."""
    if not isinstance(config, dict):
        return ["is not a mapping of fields"]
    if team not in platform.teams:
        return [f"team {team!r} is not a team of the platform"]
    names = ServiceSpec.model_construct(name=service, team=team, environments=[]).names(env, platform)
    target = platform.target_for(env)
    problems = []
    if config.get("service") != service or config.get("environment") != env:
        problems.append(f"service/environment {config.get('service')!r}/{config.get('environment')!r} differ from "
                        f"its path ({service}/{env}); a file may only describe the service its path names")
    allowed = platform.teams[team].namespaces or [names.namespace]
    namespace = config.get("namespace")
    if not isinstance(namespace, str) or not any(fnmatch.fnmatchcase(namespace, p) for p in allowed):
        problems.append(f"namespace {namespace!r} is not team {team}'s ({', '.join(allowed)})")
    if config.get("targetGroupName") not in ("", names.target_group):
        problems.append(f"targetGroupName {config.get('targetGroupName')!r} is not {service}'s own target group "
                        f"({names.target_group}) in {env}")
    role = f"arn:aws:iam::{target.account_id}:role/{names.iam_role}"
    if config.get("roleArn") != role:
        problems.append(f"roleArn {config.get('roleArn')!r} is not {service}'s own role in {env} ({role})")
    if config.get("server") != target.argocd_destination:
        problems.append(f"server {config.get('server')!r} is not {env}'s cluster ({target.argocd_destination})")
    if not isinstance(config.get("securityGroupId"), str) or not SECURITY_GROUP_ID.match(config["securityGroupId"]):
        problems.append(f"securityGroupId {config.get('securityGroupId')!r} is not a security group id")
    return problems


def _file_pattern(platform: PlatformConfig) -> re.Pattern[str]:
    team_dir = re.escape(platform.gitops_path).replace(re.escape("{team}"), r"(?P<team>[^/]+)")
    return re.compile(rf"^{team_dir}/services/(?P<service>[^/]+)/(?P<env>[^/]+)\.ya?ml$")


def gitops_problems(files: dict[str, str], platform: PlatformConfig) -> list[str]:
    """Every tenancy problem of a gitops tree (path -> text): each service file's own check, a service name
    used by two teams, and a security group id or target group name named by two services."""
    pattern = _file_pattern(platform)
    problems: list[str] = []
    teams_of: dict[str, set[str]] = {}
    claims: dict[tuple[str, str, str], set[str]] = {}
    for path in sorted(files):
        match = pattern.match(path)
        if match is None:
            continue
        team, service, env = match["team"], match["service"], match["env"]
        try:
            config = yaml.safe_load(files[path])
        except yaml.YAMLError as exc:
            problems.append(f"{path}: does not parse as YAML: {exc}")
            continue
        problems += [f"{path}: {p}" for p in config_problems(team, service, env, config, platform)]
        teams_of.setdefault(service, set()).add(team)
        if isinstance(config, dict):
            target = platform.target_for(env).account_id
            for key in ("securityGroupId", "targetGroupName"):
                if config.get(key):
                    claims.setdefault((key, target, str(config[key])), set()).add(f"{team}/{service}")
    for service, teams in sorted(teams_of.items()):
        if len(teams) > 1:
            problems.append(f"service {service} appears under teams {', '.join(sorted(teams))}; a service belongs "
                            "to one team")
    for (key, account, value), owners in sorted(claims.items()):
        if len(owners) > 1:
            problems.append(f"{key} {value} (account {account}) is named by {', '.join(sorted(owners))}; each "
                            "service binds only its own")
    return problems


def main(argv: list[str]) -> int:
    """Check a gitops checkout with the default platform settings or a LaunchPad YAML settings file."""
    if len(argv) not in (1, 2):
        print("usage: python -m provisioners.tenancy GITOPS_CHECKOUT [SETTINGS.yaml]", file=sys.stderr)
        return 2
    root = Path(argv[0])
    platform = PlatformConfig()
    if len(argv) == 2:
        platform = PlatformConfig.model_validate((yaml.safe_load(Path(argv[1]).read_text()) or {}).get("platform", {}))
    files = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*.y*ml") if ".git" not in p.parts}
    problems = gitops_problems(files, platform)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} tenancy problem(s) in {len(files)} file(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
