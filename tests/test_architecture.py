"""Rules of the code's shape, read from the source: no import cycles, one `realtime_mcp.*` logger tree."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

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
def _parsed(path: Path) -> ast.Module:
    """Each source parsed once per test process (the tests below walk all of them); never modified."""
    return ast.parse(path.read_text(encoding="utf-8"))


def _running_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk`, without the bodies of `if TYPE_CHECKING:`: those imports exist for annotations
    only, nothing is imported when the code runs."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend([node.test, *node.orelse])
        else:
            todo.extend(ast.iter_child_nodes(node))


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules `path` imports, wherever the import sits (function-level ones count too;
    `if TYPE_CHECKING:` ones do not)."""
    found = set()
    for node in _running_nodes(_parsed(path)):
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
    modules = _modules()
    assert "servers.skills.model" in modules and "wire.protocol" in modules
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    assert _cycles(graph) == [], "import cycle: move what both sides need into the lower module"


def test_every_logger_is_in_the_realtime_mcp_tree():
    """Log configuration (levels, redaction, handlers) applies to `realtime_mcp`; a module logger named
    after its module (`__name__`, `servers.auth.verifier`) escapes it."""
    outside = []
    count = 0
    for name, path in _modules().items():
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
    modules = _modules()
    users: dict[str, set[str]] = {}
    for name, path in modules.items():
        if name.startswith("servers"):
            reached = {m for m in _imports(path, modules) if m.startswith(CLIENT_CORE)} - CLIENT_ENTRY_POINTS
            if reached:
                users[name] = reached
    assert IN_PROCESS_CLIENT in users and "capture_client.client" in users[IN_PROCESS_CLIENT]
    assert set(users) - {IN_PROCESS_CLIENT} == set(OTHER_CLIENT_USES), users
    hub = {name for name in users if name.startswith("servers.hub")}
    assert hub == {IN_PROCESS_CLIENT}, "the hub reaches devices through RelayDevice and the in-process client"


def test_the_capture_client_never_imports_the_servers():
    modules = _modules()
    reached = {
        (name, m)
        for name, path in modules.items()
        if name.startswith("capture_client")
        for m in _imports(path, modules)
        if m.startswith("servers")
    }
    assert reached == set()
