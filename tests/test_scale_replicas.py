"""Three replicas on one real redis-server (issue 13): a capture client on Xvfb held by replica 1,
a hosted-MCP-shaped client (a new session per call) alternating over replicas 2 and 3, and the
faults: replica 1 killed, Redis restarted mid-traffic, Redis absent at start."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.support import launcher
from tests.support.auth import write_skill
from tests.support.balancer import running_balancer
from tests.support.capture_client import running_capture_client
from tests.support.redis_server import RedisServer, running_redis
from tests.support.scale import (
    HEIGHT,
    MAC1,
    MAC2,
    MAX_EDGE,
    WIDTH,
    call,
    capture_then_point,
    replica_env,
    text_of,
    three_replicas,
    until_ok,
)
from tests.support.xserver import running_xvfb

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240), pytest.mark.slow]


async def test_a_device_on_replica_1_serves_calls_landing_on_replicas_2_and_3(tmp_path: Path) -> None:
    with running_xvfb(WIDTH, HEIGHT) as x, running_redis() as redis, three_replicas(redis, tmp_path) as r:
        async with running_capture_client(r[0].url, MAC1, x.display):
            await until_ok(r[1].url, 10)  # presence reaches the other replicas
            errors = 0
            for i in range(6):
                a, b = (r[1].url, r[2].url) if i % 2 == 0 else (r[2].url, r[1].url)
                try:
                    await capture_then_point(a, b, x, 40 + 50 * i, 30 + 40 * i)
                except AssertionError:
                    errors += 1
                    raise
            assert errors == 0
            # Highlight and zoom through a frame of the other replica work as well.
            captured = await call(r[1].url, "screen", "capture_screen", {"max_edge": MAX_EDGE})
            frame_id = captured.structured_content["frame_id"]
            zoomed = await call(
                r[2].url,
                "screen",
                "zoom",
                {"frame_id": frame_id, "x": 0, "y": 0, "width": 320, "height": 200},
            )
            assert not zoomed.is_error, text_of(zoomed)
            assert zoomed.structured_content["width"] == 1280 or zoomed.structured_content["width"] <= 1280
            lit = await call(
                r[2].url,
                "pointer",
                "highlight",
                {"x": 10, "y": 10, "width": 50, "height": 40, "frame_id": frame_id},
            )
            assert not lit.is_error, text_of(lit)

            # A token for another device sees nothing of mac-1, on any replica.
            for url in (r[1].url, r[2].url):
                theirs = await call(url, "screen", "capture_screen", {}, bearer=MAC2)
                assert theirs.is_error and "mac-1" not in text_of(theirs)
                named = await call(url, "screen", "capture_screen", {"device": "mac-1"}, bearer=MAC2)
                assert named.is_error and "mac-2" in text_of(named)
                pointed = await call(
                    url, "pointer", "point_at", {"x": 1, "y": 1, "frame_id": frame_id}, bearer=MAC2
                )
                assert pointed.is_error and "unknown" in text_of(pointed)


async def test_killing_the_owning_replica_moves_the_device_and_calls_recover(tmp_path: Path) -> None:
    with running_xvfb(WIDTH, HEIGHT) as x, running_redis() as redis, three_replicas(redis, tmp_path) as r:
        ports = [int(s.url.rsplit(":", 1)[1]) for s in r]
        async with (
            running_balancer(ports) as balanced,
            running_capture_client(balanced, MAC1, x.display) as client,
        ):
            await until_ok(r[2].url, 10)
            await capture_then_point(r[1].url, r[2].url, x, 100, 100)
            r[0].process.kill()  # SIGKILL: no goodbye, its keys only expire
            r[0].process.wait(timeout=5)
            recovered, errors = await until_ok(r[1].url, 20)
            print(
                f"replica 1 killed: calls recovered after {recovered:.2f} s, {errors} clear errors meanwhile"
            )
            assert client.connected.is_set()
            await capture_then_point(r[2].url, r[1].url, x, 200, 150)


async def test_a_redis_restart_mid_traffic_recovers(tmp_path: Path) -> None:
    with running_xvfb(WIDTH, HEIGHT) as x, running_redis() as redis, three_replicas(redis, tmp_path) as r:
        async with running_capture_client(r[0].url, MAC1, x.display):
            await until_ok(r[1].url, 10)
            counts = {"before": 0, "errors": 0, "after": 0}
            phase = "before"
            slowest = 0.0
            messages: set[str] = set()
            enough = anyio.Event()

            async def traffic() -> None:
                nonlocal slowest
                i = 0
                while True:
                    i += 1
                    began = time.monotonic()
                    result = await call(r[1 + i % 2].url, "screen", "capture_screen", {"max_edge": MAX_EDGE})
                    slowest = max(slowest, time.monotonic() - began)
                    if result.is_error:
                        counts["errors"] += 1
                        messages.add(text_of(result)[:80])
                    else:
                        counts[phase] += 1
                        if phase == "after" and counts["after"] >= 10:
                            enough.set()

            with anyio.fail_after(90):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(traffic)
                    while counts["before"] < 5:
                        await anyio.sleep(0.05)
                    redis.stop()
                    await anyio.sleep(1.5)  # the outage: calls meanwhile must fail fast and clearly
                    redis.start()
                    phase = "after"
                    await enough.wait()
                    tg.cancel_scope.cancel()
            print(f"Redis restart: {counts}, slowest call {slowest:.2f} s, errors said: {sorted(messages)}")
            assert slowest < 6, "a call hung through the Redis outage"
            assert all("Redis" in m or "replica" in m for m in messages), messages
            # The device was re-announced: a frame from one replica still points on the other.
            await capture_then_point(r[1].url, r[2].url, x, 300, 200)


def test_a_replica_without_its_redis_refuses_to_start_with_a_clear_error(tmp_path: Path) -> None:
    with running_redis() as redis:
        url = redis.url
    env = replica_env(RedisServer(int(url.rsplit(":", 1)[1].split("/")[0]), tmp_path), write_skill(tmp_path))
    done = launcher.run(
        [sys.executable, "-m", "servers.cli", "serve", "--port", "0"],
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "does not answer" in output and "REALTIME_MCP_REDIS_URL" in output
