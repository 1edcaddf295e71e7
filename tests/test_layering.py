"""The layers import only downward, and nothing imports in a circle (docs/BRIEF: CLI and Slack surfaces ->
workflow -> provisioners and store).

Reads every module of `bot/` and `provisioners/` as source (AST), so a module added later is checked
too; every import counts, including those inside functions and under `TYPE_CHECKING`, because a lazy
import hides a cycle rather than removing it. A module in a package not listed in `LAYERS` fails the
test until someone places it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "provisioners")

# Longest prefix wins. A module may import modules of its own rank or below, never above.
LAYERS: dict[str, int] = {
    "provisioners": 0,  # ServiceSpec -> ChangeSet, forges: never imports bot
    "bot.config": 1,
    "bot.logs": 1,
    "bot.store": 1,
    "bot.workflow": 2,
    "bot.aws": 2,  # AWS operations (IAM passwords, domain lookup)
    "bot.argocd": 2,  # the Argo CD API client the workflow follows deploys with
    "bot.services": 3,  # the composition root: builds the workflow from settings
    "bot.jobs": 3,
    "bot.metrics": 4,  # /metrics and probes wrap the Slack WSGI app: a surface
    "bot.slack": 4,
    "bot.app": 4,  # the Slack surface's composition root
    "bot.serving": 4,  # the serving runtime (gunicorn, Socket Mode): composes the Slack surface
    "bot.commands": 4,
    "bot.cli": 4,
}
EXACT = {"bot": 4}  # bot/__init__.py only: a new package under bot/ must be placed above
RANK_NAMES = {0: "provisioners", 1: "store/config", 2: "workflow/aws", 3: "composition root", 4: "surfaces"}

# Surfaces beside each other: (importer prefix, forbidden prefix, why).
FORBIDDEN = [
    ("bot.slack", "bot.commands", "the Slack surface never imports the CLI's; shared parsing lives in "
                                  "bot.workflow.arguments"),
    ("bot.slack", "bot.cli", "the Slack surface never imports the CLI"),
    ("bot.slack", "bot.app", "listeners get what they need from register(app, surface), not the composition root"),
    ("bot.commands", "bot.slack", "the CLI reaches Slack only through its composition roots, bot.app and "
                                  "bot.serving"),
    ("bot.app", "bot.commands", "the Slack composition root never imports the CLI"),
    ("bot.app", "bot.cli", "the Slack composition root never imports the CLI"),
]


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> our modules it imports (`from a import b` counts as a.b when that is a module, else a)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from a import b`: the module a.b when there is one, else a itself
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _rank(module: str) -> int | None:
    if module in EXACT:
        return EXACT[module]
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in _modules() if _rank(m) is None)
    assert not unplaced, f"place these modules in LAYERS of tests/test_layering.py: {unplaced}"


def test_layers_import_only_downward() -> None:
    modules = _modules()
    problems = []
    for importer, targets in sorted(_imports(modules).items()):
        for target in sorted(targets):
            low, high = _rank(importer), _rank(target)
            if low is not None and high is not None and high > low:
                problems.append(f"{importer} ({RANK_NAMES[low]}) imports {target} ({RANK_NAMES[high]})")
            for prefix, forbidden, why in FORBIDDEN:
                if _under(importer, prefix) and _under(target, forbidden):
                    problems.append(f"{importer} imports {target}: {why}")
    assert not problems, "\n".join(problems)


def test_no_import_cycles() -> None:
    graph = _imports(_modules())
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


def test_the_checker_sees_lazy_and_type_checking_imports() -> None:
    """The checker itself: an import inside a function or under TYPE_CHECKING is an edge."""
    graph = _imports(_modules())
    assert "bot.serving" in graph["bot.commands.serve"]  # imported inside run_serve
    assert "bot.services" in graph["bot.metrics"]  # imported under TYPE_CHECKING


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out
