# ruff: noqa: E402 - the collector's thresholds are raised before the imports below
import gc

# Collection imports the SDKs' thousands of pydantic models; the young generation's collections they
# trigger find nothing to free (~15% of the import time). Restored once collection is done. The imports
# happen in the tests' modules: this file imports nothing heavy, so pytest-xdist's controller (which
# runs no test) starts the launcher its workers wait for a second sooner.
_THRESHOLDS = gc.get_threshold()
gc.set_threshold(100_000, *_THRESHOLDS[1:])

import functools
import importlib
import json
import logging
import os
import shlex
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import launcher
from tests.support.browser import Chromium, start_chromium

_SHARED_LAUNCHER = pytest.StashKey[launcher.Launcher]()
LAUNCHER_PYTHON = Path(__file__).parent / "support" / "launcher_python.py"


def pytest_configure(config: pytest.Config) -> None:
    """`realtime-mcp` processes the tests start are forked from a launcher (tests/support/launcher.py)
    unless a test asks for a fresh interpreter. With pytest-xdist the controller starts one before its
    workers exist, and they all use it; the workers themselves are forked from it too
    (tests/support/launcher_python.py), unless TESTS_FRESH_PYTHON=1 or `--tx` names other gateways."""
    launcher.enabled = True
    workers = config.getoption("numprocesses", default=None)
    if workers and not hasattr(config, "workerinput"):
        config.stash[_SHARED_LAUNCHER] = launcher.start_for_workers()
        gateways = config.getoption("tx", default=None) or []
        if os.environ.get(launcher.FRESH_ENV) != "1" and gateways and set(gateways) == {"popen"}:
            python = shlex.join([sys.executable, "-S", "-P", str(LAUNCHER_PYTHON)])
            config.option.tx = [f"popen//python={python}"] * len(gateways)


def pytest_unconfigure(config: pytest.Config) -> None:
    shared = config.stash.get(_SHARED_LAUNCHER, None)
    if shared is not None:
        shared.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first, each group in collection order: pytest-xdist hands tests out in this
    order, so the seconds-long ones start while there is plenty left to run beside them, and the run
    ends on short tests instead of one worker finishing a long one alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported for collection (the SDKs' hundreds of pydantic models among it) lives as long
    as the process: frozen out of the collector, so the full collections the tests' own allocations
    trigger do not walk it again and again (about 15% of a worker's CPU time). Frozen without a
    collection first: what collection left unreachable is little, and finding it would walk every
    object once more (~0.2 CPU-s a worker)."""
    gc.set_threshold(*_THRESHOLDS)
    gc.freeze()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """One headless Chromium per test process; `chromium_page(chromium)` gives each test a fresh context.
    The tests that use it share an xdist group, so one worker starts it (`just pytest` runs loadgroup)."""
    browser = start_chromium()
    try:
        yield browser
    finally:
        browser.stop()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Session-wide, so a module may keep an async fixture (and the event loop it runs on) for its tests."""
    return "asyncio"


@pytest.fixture(scope="session")
def _state_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(autouse=True)
def _auth_off_unless_asked(monkeypatch, _state_dirs):
    """Auth is on by default; tests that call servers without tokens get it off (they listen on
    loopback, where that is allowed). Auth tests pass `Settings(auth=True, ...)` explicitly.
    The state dir (generated token secret) is a temporary folder of the test's own, never the user's
    (made with mkdtemp: a numbered `mktemp` per test lists every earlier one to pick its number)."""
    monkeypatch.setenv("REALTIME_MCP_AUTH", "false")
    monkeypatch.setenv("REALTIME_MCP_STATE_DIR", tempfile.mkdtemp(dir=_state_dirs))
    monkeypatch.delenv("REALTIME_MCP_TOKEN_SECRET", raising=False)


@pytest.fixture(autouse=True)
def _no_log_filter_left_behind():
    """`realtime-mcp serve` run in-process puts its log filter on the root logger's handlers, which
    include pytest's own capture handlers for the whole session: take it off after each test."""
    from servers.log_safety import SafeLogFilter

    yield
    for handler in logging.getLogger().handlers:
        for f in [f for f in handler.filters if isinstance(f, SafeLogFilter)]:
            handler.removeFilter(f)


def _one_context_per_process(create: Callable[..., ssl.SSLContext]) -> Callable[..., ssl.SSLContext]:
    made: dict[tuple[tuple[str, Any], ...], ssl.SSLContext] = {}

    @functools.wraps(create)
    def create_ssl_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        if args or kwargs.get("verify", True) is not True or kwargs.get("cert") is not None:
            return create(*args, **kwargs)
        key = tuple(sorted(kwargs.items()))
        if key not in made:
            made[key] = create(*args, **kwargs)
        return made[key]

    return create_ssl_context


@pytest.fixture(autouse=True, scope="session")
def _shared_tls_context() -> Iterator[None]:
    """httpx and httpx2 build a verifying SSLContext for every client, loading the CA bundle again:
    30-100 ms of CPU, about half of what a whole MCP session over loopback HTTP costs (the tests open
    hundreds, and never use TLS). Here a process builds it once, the same way, and shares it, as a
    long-lived program keeps one client (an SSLContext is meant to be shared)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("httpx._transports.default", "httpx2._transports.default"):
            module = importlib.import_module(name)
            create = getattr(module, "create_ssl_context", None)
            if create is not None:
                patch.setattr(module, "create_ssl_context", _one_context_per_process(create))
        yield


def _one_validator_per_schema(compile_validator: Callable[..., Any]) -> Callable[..., Any]:
    made: dict[str, Any] = {}

    @functools.wraps(compile_validator)
    def output_schema_validator(self: Any, name: str, output_schema: dict[str, Any]) -> Any:
        key = json.dumps(output_schema, sort_keys=True)
        if key not in made:  # an invalid schema raises here every time, as the SDK's own does
            made[key] = compile_validator(self, name, output_schema)
        self._tool_output_validators[name] = made[key]
        return made[key]

    return output_schema_validator


@pytest.fixture(autouse=True, scope="session")
def _shared_output_validators() -> Iterator[None]:
    """The SDK's client compiles a tool's output-schema validator (a check against the JSON Schema
    metaschema, ~60x a validation) once per session, and the tests open hundreds of sessions to the
    same few tools: about 2 CPU-s a run. Here a process compiles each distinct schema once; a validator
    holds no state of a session's, so sharing one changes nothing the tests can see."""
    from mcp.client.session import ClientSession

    with pytest.MonkeyPatch.context() as patch:
        compile_validator = getattr(ClientSession, "_output_schema_validator", None)
        if compile_validator is not None:
            patch.setattr(
                ClientSession, "_output_schema_validator", _one_validator_per_schema(compile_validator)
            )
        yield


@pytest.fixture(autouse=True, scope="session")
def _shared_tool_schemas() -> Iterator[None]:
    """Each tool's argument model and JSON schema built once per process, not once per app the tests
    create (about 10 CPU-s per run; tests/support/tool_schemas.py, checked by test_tool_schema_memo)."""
    from tests.support.tool_schemas import memoised_tool_schemas

    with memoised_tool_schemas():
        yield
