"""Rules of the code's shape, read from the source: no import cycles, one `realtime_mcp.*` logger tree."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("architecture")  # one worker parses and walks the sources
ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("servers", "capture_client", "wire")
# Other libraries' own loggers the code configures (a filter, a redacting wrapper), never logs its own to.
FOREIGN_LOGGERS = {"uvicorn.error", "websockets.client"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@functools.cache
def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@functools.cache
def _parsed(path: Path) -> ast.Module:
    """Each source parsed once per test process (the tests below walk all of them); never modified."""
    return ast.parse(_source(path))


def _import_statements(statements: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports among `statements` and in every block nested in them (function-level ones too),
    without the bodies of `if TYPE_CHECKING:`: those exist for annotations only, nothing is imported
    when the code runs. Imports are statements, so no expression is walked (most of a module's nodes)."""
    for node in statements:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_statements(node.orelse)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from _import_statements([child])
                elif isinstance(child, ast.ExceptHandler | ast.match_case):
                    yield from _import_statements(child.body)


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules `path` imports, wherever the import sits (function-level ones count too;
    `if TYPE_CHECKING:` ones do not)."""
    found = set()
    for node in _import_statements(_parsed(path).body):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    found.add(full)
                elif node.module in modules:
                    found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
    return found


@functools.cache
def _import_graph() -> dict[str, frozenset[str]]:
    """Each package module and the package modules it imports, read once per test process (the tests
    share one xdist worker, so once per run)."""
    modules = _modules()
    return {name: frozenset(_imports(path, modules)) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back():
    graph = {name: set(imported) - {name} for name, imported in _import_graph().items()}
    assert "servers.skills.model" in graph and "wire.protocol" in graph
    assert _cycles(graph) == [], "import cycle: move what both sides need into the lower module"


def test_every_logger_is_in_the_realtime_mcp_tree():
    """Log configuration (levels, redaction, handlers) applies to `realtime_mcp`; a module logger named
    after its module (`__name__`, `servers.auth.verifier`) escapes it."""
    outside = []
    count = 0
    for name, path in _modules().items():
        if "getLogger" not in _source(path):
            continue
        for node in ast.walk(_parsed(path)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger":
                count += 1
                arg = node.args[0] if node.args else None
                value = arg.value if isinstance(arg, ast.Constant) else None
                if not isinstance(value, str) or not (
                    value == "realtime_mcp" or value.startswith("realtime_mcp.") or value in FOREIGN_LOGGERS
                ):
                    outside.append(f"{name}:{node.lineno}")
    assert count >= 10
    assert outside == []


# The server reaches the capture client's core (backends, pipeline, guard, service, signals) only
# through its in-process client; the rest of `servers` talks to devices through the hub. Each other
# use is named here with its reason, so a new one fails until it is routed or justified.
IN_PROCESS_CLIENT = "servers.hub.local"
OTHER_CLIENT_USES = {
    "servers.serve_cli": "process-wide allocator tuning at start-up (pipeline.tune_allocator)",
    "servers.ops.doctor": "the doctor's macOS Screen Recording check (backends.macos)",
    "servers.screen.describe": "display selection for relative regions (pipeline.target_area)",
}
CLIENT_CORE = "capture_client."
CLIENT_ENTRY_POINTS = {"capture_client.cli"}  # the `capture` subcommand registers itself


def test_servers_reach_the_capture_client_only_through_the_in_process_client():
    users: dict[str, set[str]] = {}
    for name, imported in _import_graph().items():
        if name.startswith("servers"):
            reached = {m for m in imported if m.startswith(CLIENT_CORE)} - CLIENT_ENTRY_POINTS
            if reached:
                users[name] = reached
    assert IN_PROCESS_CLIENT in users and "capture_client.client" in users[IN_PROCESS_CLIENT]
    assert set(users) - {IN_PROCESS_CLIENT} == set(OTHER_CLIENT_USES), users
    hub = {name for name in users if name.startswith("servers.hub")}
    assert hub == {IN_PROCESS_CLIENT}, "the hub reaches devices through RelayDevice and the in-process client"


def test_the_capture_client_never_imports_the_servers():
    reached = {
        (name, m)
        for name, imported in _import_graph().items()
        if name.startswith("capture_client")
        for m in imported
        if m.startswith("servers")
    }
    assert reached == set()
