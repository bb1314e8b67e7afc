"""The shipped scale-out balancer for real (issue 13): docker/Caddyfile.scale run by a real Caddy in
front of three real replicas on one real redis-server. The capture client's WebSocket and every
hosted-MCP-shaped call (a new session per call) go through Caddy; then the replica holding the
device is killed and the device comes back through Caddy on another one."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.caddy import running_caddy
from tests.support.capture_client import running_capture_client
from tests.support.cli_server import ServedCli
from tests.support.redis_server import running_redis
from tests.support.scale import (
    HEIGHT,
    MAC1,
    MAX_EDGE,
    WIDTH,
    call,
    capture_then_point,
    text_of,
    three_replicas,
    until_ok,
)
from tests.support.xserver import running_xvfb

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240), pytest.mark.slow]

CONNECTED = "device mac-1 connected"


def port_of(replica: ServedCli) -> int:
    return int(replica.url.rsplit(":", 1)[1])


async def holder(replicas: list[ServedCli], connections: int = 1, limit: float = 10) -> ServedCli:
    """The replica that logged the device's `connections`-th connection (the log is written
    asynchronously, after the client already counts itself connected)."""
    with anyio.fail_after(limit):
        while True:
            held = [r for r in replicas if r.log().count(CONNECTED) >= connections]
            if held:
                assert len(held) == 1, "the device connected to several replicas at once"
                return held[0]
            await anyio.sleep(0.05)


def leaves(group: BaseExceptionGroup[Exception]) -> list[Exception]:
    return [
        e for sub in group.exceptions for e in (leaves(sub) if isinstance(sub, BaseExceptionGroup) else [sub])
    ]


async def until_ok_through_caddy(url: str, limit: float) -> tuple[float, list[str]]:
    """Seconds until a capture through Caddy works again, and what each failed call before said.

    The suite's own clear errors are tool results; an HTTP error (Caddy answering 502 for a POST it
    could not retry on another replica) is recorded as such."""
    start = time.monotonic()
    errors: list[str] = []
    with anyio.fail_after(limit):
        while True:
            began = time.monotonic()
            try:
                result = await call(url, "screen", "capture_screen", {"max_edge": MAX_EDGE})
            except* MCPError as group:
                errors.extend(f"HTTP error: {e}" for e in leaves(group))
            else:
                if not result.is_error:
                    return time.monotonic() - start, errors
                assert text_of(result), "an error without a message"
                errors.append(text_of(result)[:80])
            assert time.monotonic() - began < 6, "a failing call took too long: it must fail fast"
            await anyio.sleep(0.1)


async def test_calls_through_the_shipped_caddyfile_reach_the_device_on_any_replica(tmp_path: Path) -> None:
    with (
        running_xvfb(WIDTH, HEIGHT) as x,
        running_redis() as redis,
        three_replicas(redis, tmp_path) as r,
        running_caddy([port_of(s) for s in r]) as balanced,
    ):
        async with running_capture_client(balanced, MAC1, x.display):
            await holder(r)
            await until_ok(balanced, 10)
            # Round robin spreads each call's requests (initialize, call, close) over the replicas, so
            # captures and points land on replicas other than the device's as well.
            for i in range(6):
                await capture_then_point(balanced, balanced, x, 40 + 50 * i, 30 + 40 * i)


async def test_killing_the_device_replica_behind_caddy_moves_the_device_and_calls_recover(
    tmp_path: Path,
) -> None:
    with (
        running_xvfb(WIDTH, HEIGHT) as x,
        running_redis() as redis,
        three_replicas(redis, tmp_path) as r,
        running_caddy([port_of(s) for s in r]) as balanced,
    ):
        async with running_capture_client(balanced, MAC1, x.display) as client:
            first = await holder(r)
            await until_ok(balanced, 10)
            await capture_then_point(balanced, balanced, x, 100, 100)

            first.process.kill()  # SIGKILL: no goodbye, its keys only expire
            first.process.wait(timeout=5)
            killed_at = time.monotonic()
            survivors = [s for s in r if s is not first]
            # The client's WebSocket broke with the replica; it reconnects through Caddy, which
            # skips the dead upstream.
            second = await holder(survivors, limit=20)
            moved = time.monotonic() - killed_at
            recovered, errors = await until_ok_through_caddy(balanced, 20)
            print(
                f"device replica killed behind Caddy: the device came back after {moved:.2f} s, "
                f"calls recovered {recovered:.2f} s later, {len(errors)} errors meanwhile: {errors}"
            )
            # Caddy keeps request bodies (SCALE_BUFFERING), so a POST caught on the dead replica's
            # pooled connection is retried elsewhere instead of reaching the client as a 502.
            assert not [e for e in errors if e.startswith("HTTP error")], errors
            assert client.connected.is_set()
            assert second.process.poll() is None
            # Debian's Caddy 2.6.2 once (1 of ~10 runs, under CI load) cut a response after its
            # headers in the seconds after a kill ("received 0 bytes, expected 603"): one such
            # transport error is retried and printed; a second, or any tool error, fails the test.
            cut: list[str] = []
            for i in range(3):
                try:
                    await capture_then_point(balanced, balanced, x, 200 + 40 * i, 150 + 30 * i)
                except* (MCPError, httpx2.TransportError) as group:
                    cut.extend(str(e) for e in leaves(group))
                    assert len(cut) <= 1, cut
                    print(f"after recovery, one HTTP error through Caddy, retried: {cut}")
                    await capture_then_point(balanced, balanced, x, 200 + 40 * i, 150 + 30 * i)
