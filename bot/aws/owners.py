"""Who owns a domain or a Kubernetes service, according to LaunchPad: the lookup's only view of the database.

The lookup asks through the small `OwnerDirectory` protocol so it stays independent of the workflow;
`CatalogOwners` answers from anything with the workflow's `list_services` / `get_service` (the
`WorkflowService`), using only the public vocabulary in `bot.workflow.api`. It never writes.
"""

from __future__ import annotations

from typing import Protocol

from bot.aws.lookup_tree import Owner
from bot.workflow.api import NotFound, ServiceInfo


class OwnerDirectory(Protocol):
    def by_domain(self, domain: str) -> Owner | None:
        """The service that declared `domain` for one of its environments."""

    def by_service(self, namespace: str | None, service: str) -> Owner | None:
        """The LaunchPad service named `service` (its namespace, when known, pins the environment)."""


class ServiceCatalog(Protocol):
    """The two read methods of `WorkflowService` the directory needs."""

    def get_service(self, name: str) -> ServiceInfo: ...

    def list_services(self, *, owner: str | None = None, team: str | None = None) -> list[ServiceInfo]: ...


class NoOwners:
    """No database: owners come only from resource tags."""

    def by_domain(self, domain: str) -> Owner | None:
        return None

    def by_service(self, namespace: str | None, service: str) -> Owner | None:
        return None


class CatalogOwners:
    """Answers from LaunchPad's services. Namespaces follow the platform convention `<team>-<environment>`."""

    def __init__(self, catalog: ServiceCatalog) -> None:
        self.catalog = catalog

    def by_domain(self, domain: str) -> Owner | None:
        for service in self.catalog.list_services():
            for env in service.environments:
                if env.domain and env.domain.lower().rstrip(".") == domain:
                    return Owner(service=service.name, team=service.team, owner=service.owner,
                                 environment=env.name, matched_by="domain")
        return None

    def by_service(self, namespace: str | None, service: str) -> Owner | None:
        try:
            info = self.catalog.get_service(service)
        except NotFound:
            return None
        environment = None
        if namespace:
            if not namespace.startswith(info.team + "-"):
                return None  # same name, another team's namespace: not this service
            env_name = namespace[len(info.team) + 1:]
            environment = next((e.name for e in info.environments if e.name == env_name), None)
        return Owner(service=info.name, team=info.team, owner=info.owner, environment=environment,
                     matched_by="namespace/service" if namespace else "service name")
