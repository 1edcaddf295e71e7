"""Every GraphQL document the forge sends validates against GitHub's real schema (the vendored 1.2 MB
schemas/apis/github-schema.graphql, built once per session), not only against the local server's subset:
the documents the forge builds, and those it actually sent through a delivery, a repeat, a rebuild on a
moved base, a merge and a close."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from provisioners.changeset import ChangeSet
from provisioners.forge import graphql
from tests.forge.conftest import FakeClock, github_forge
from tests.support.github_server import GRAPHQL_PATH, GitHubServer

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "apis" / "github-schema.graphql"


@pytest.fixture(scope="session")
def github_schema() -> GraphQLSchema:
    # assume_valid too: GitHub's schema has a deprecation graphql-core's schema check rejects (an interface
    # field deprecated on one implementation only); checking documents against it does not need that check
    return build_schema(SCHEMA_FILE.read_text(), assume_valid_sdl=True, assume_valid=True)


def errors_of(schema: GraphQLSchema, document: str) -> list[str]:
    return [e.message for e in validate(schema, parse(document))]


def built_documents() -> dict[str, str]:
    """Every document graphql.py can build: the queries, and a mutation per field it knows."""
    docs = {"LaunchPadPull": graphql.PULL_QUERY}
    for n in (1, 3, graphql.PATHS_PER_QUERY):
        docs[f"LaunchPadChange/{n} paths"] = graphql.state_query([f"dir/file{i}.txt" for i in range(n)])
    for field in graphql._SELECTIONS:
        docs[f"mutation {field}"] = graphql.mutation([graphql.Step(field, {})], f"LaunchPad{field}")[0]
    docs["mutation all"] = graphql.mutation([graphql.Step(f, {}) for f in graphql._SELECTIONS])[0]
    return docs


@pytest.mark.parametrize("name", sorted(built_documents()))
def test_every_built_document_validates_against_githubs_schema(github_schema: GraphQLSchema, name: str) -> None:
    assert errors_of(github_schema, built_documents()[name]) == []


def test_every_document_sent_validates_against_githubs_schema(github_schema: GraphQLSchema) -> None:
    with GitHubServer() as server:
        server.seed_repo("acme/infra", {"README.md": "hi\n"})
        forge = github_forge(server, FakeClock(), api="graphql")
        change = ChangeSet(repo="infra", files={"a/b.txt": "one\n"}, deletes=["README.md"])
        forge.open_change("acme/infra", "k1", change, title="t", body="b", labels=["launchpad"])
        forge.open_change("acme/infra", "k1", change, title="t", body="b", labels=["launchpad"])  # a repeat
        server.commit("acme/infra", {"c.txt": "someone\n"})  # the base moves: the commit is rebuilt
        forge.open_change("acme/infra", "k1", change.model_copy(update={"files": {"a/b.txt": "two\n"}}), title="t2",
                          body="b")
        forge.get_change("acme/infra", "k1")
        forge.merge_change("acme/infra", "k1")
        forge.open_change("acme/infra", "k2", ChangeSet(repo="infra", files={"x.txt": "x\n"}), title="t", body="b")
        forge.close_change("acme/infra", "k2")
        sent = {c.document for c in server.calls if c.path == GRAPHQL_PATH}
    operations = {c.split("(")[0] for c in sent}
    assert {"query LaunchPadChange", "query LaunchPadPull", "mutation LaunchPadDeliver", "mutation LaunchPadMerge",
            "mutation LaunchPadClose"} <= operations
    for document in sent:
        assert errors_of(github_schema, document) == [], document
