import logging

import pytest

from servers.log_safety import SafeLogFilter


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _auth_off_unless_asked(monkeypatch, tmp_path_factory):
    """Auth is on by default; tests that call servers without tokens get it off (they listen on
    loopback, where that is allowed). Auth tests pass `Settings(auth=True, ...)` explicitly.
    The state dir (generated token secret) is a temporary folder, never the user's own."""
    monkeypatch.setenv("REALTIME_MCP_AUTH", "false")
    monkeypatch.setenv("REALTIME_MCP_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("REALTIME_MCP_TOKEN_SECRET", raising=False)


@pytest.fixture(autouse=True)
def _no_log_filter_left_behind():
    """`realtime-mcp serve` run in-process puts its log filter on the root logger's handlers, which
    include pytest's own capture handlers for the whole session: take it off after each test."""
    yield
    for handler in logging.getLogger().handlers:
        for f in [f for f in handler.filters if isinstance(f, SafeLogFilter)]:
            handler.removeFilter(f)
