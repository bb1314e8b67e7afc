"""The scale-out tests' shared parts (issue 13): replicas on one Redis, hosted-MCP-shaped calls (a new
session per call) and the checks that a frame captured on one replica points right on another."""

from __future__ import annotations

import base64
import contextlib
import io
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
from PIL import Image, ImageChops, ImageStat

from tests.support.auth import SECRET, mcp_client, token, write_skill
from tests.support.cli_server import ServedCli, running_serves
from tests.support.redis_server import RedisServer
from tests.support.xserver import XServer, pointer_position

WIDTH, HEIGHT = 1280, 800
MAX_EDGE = 640
HEARTBEAT = 0.5
MAC1 = token("mac-1", ("screen", "pointer", "device"))
MAC2 = token("mac-2", ("screen", "pointer"))


def replica_env(redis: RedisServer, skills: Path) -> dict[str, str]:
    return {
        "REALTIME_MCP_REDIS_URL": redis.url,
        "REALTIME_MCP_AUTH": "true",
        "REALTIME_MCP_TOKEN_SECRET": SECRET,
        "REALTIME_MCP_LOCAL_DEVICE": "false",
        "REALTIME_MCP_SKILLS_DIRS": str(skills),
        "REALTIME_MCP_SKILLS_RELOAD": "false",
        "REALTIME_MCP_CLUSTER_HEARTBEAT": str(HEARTBEAT),
        "REALTIME_MCP_CAPTURE_TIMEOUT": "3",
        "REALTIME_MCP_MOVE_CURSOR": "true",
    }


@contextlib.contextmanager
def three_replicas(redis: RedisServer, skills: Path) -> Iterator[list[ServedCli]]:
    """Three `serve` replicas, started side by side."""
    with running_serves(3, env=replica_env(redis, write_skill(skills))) as replicas:
        yield replicas


async def call(url: str, server: str, tool: str, arguments: dict[str, Any], bearer: str = MAC1) -> Any:
    """One tool call in a session of its own, as OpenAI's hosted MCP client makes them."""
    async with mcp_client(f"{url}/{server}/mcp", bearer) as client:
        return await client.call_tool(tool, arguments)


def text_of(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def shows_the_screen(result: Any, x: XServer) -> bool:
    image = next(c for c in result.content if c.type == "image")
    got = Image.open(io.BytesIO(base64.b64decode(image.data))).convert("RGB")
    assert x.shown is not None
    want = x.shown.convert("RGB").resize(got.size)
    diff = ImageStat.Stat(ImageChops.difference(got, want)).mean
    return sum(diff) / 3 < 12


def landing(info: dict[str, Any], px: int, py: int) -> tuple[int, int]:
    scale_x, scale_y = WIDTH / info["width"], HEIGHT / info["height"]
    return math.floor((px + 0.5) * scale_x), math.floor((py + 0.5) * scale_y)


async def capture_then_point(capture_url: str, point_url: str, x: XServer, px: int, py: int) -> None:
    """Capture on one replica, point with that frame id on another; the X pointer must land."""
    captured = await call(capture_url, "screen", "capture_screen", {"max_edge": MAX_EDGE})
    assert not captured.is_error, text_of(captured)
    assert shows_the_screen(captured, x)
    info = captured.structured_content
    assert info["device"] == "mac-1"
    pointed = await call(point_url, "pointer", "point_at", {"x": px, "y": py, "frame_id": info["frame_id"]})
    assert not pointed.is_error, text_of(pointed)
    assert pointer_position(x.display) == landing(info, px, py)


async def until_ok(url: str, limit: float) -> tuple[float, int]:
    """Seconds until a capture on `url` works again, and the failed calls before (each failure
    must be a clear, fast error)."""
    start = time.monotonic()
    errors = 0
    with anyio.fail_after(limit):
        while True:
            began = time.monotonic()
            result = await call(url, "screen", "capture_screen", {"max_edge": MAX_EDGE})
            if not result.is_error:
                return time.monotonic() - start, errors
            errors += 1
            assert time.monotonic() - began < 6, "a failing call took too long: it must fail fast"
            assert text_of(result), "an error without a message"
            await anyio.sleep(0.1)
