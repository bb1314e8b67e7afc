"""How the tests give servers ports: a port picked free could be taken by another test's process before
the server binds it (parallel workers start hundreds of servers), so `free_port` keeps it from being
handed out meanwhile; and the `realtime-mcp serve` helper (tests/support/cli_server.py) reports a server
that fails to start with its log."""

from __future__ import annotations

import socket

import pytest

from tests.support import cli_server
from tests.support.http import free_port


def test_a_server_that_fails_to_start_is_reported_with_its_log():
    with pytest.raises(RuntimeError, match="serve exited with"), cli_server.running_serve("--no-such-flag"):
        pass


def test_a_picked_port_is_not_handed_out_meanwhile_but_a_server_can_bind_it():
    picked = {free_port() for _ in range(20)}
    handed_out = []
    for _ in range(3000):
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            handed_out.append(other.getsockname()[1])
    assert picked.isdisjoint(handed_out)
    for port in picked:
        with socket.socket() as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen()
