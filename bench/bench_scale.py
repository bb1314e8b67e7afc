"""Three replicas on one Redis (issue 13): what a call pays when it lands on a replica that does not
hold the device, and how many skills calls per second the set serves.

One run: a 2560x1600 Xvfb showing a busy UI picture; a real redis-server on loopback; three
`realtime-mcp serve` processes sharing it; the real capture client (`realtime-mcp capture`) in its
own process, connected to replica 1. A real MCP client calls capture_screen and point_at through
replica 1 (the owner) and through replica 2 (the request crosses Redis to replica 1 and back), and
the figures are printed side by side. Then 50 concurrent MCP clients call skills tools through a
balancer in front of the three replicas (Caddy when installed, else a loopback TCP balancer) for a
fixed time, and the calls per second and errors are printed.

Goals: cross-replica overhead <= 5 ms p50 (capture and point_at); zero errors under load.
Usage: python bench/bench_scale.py [--calls N] [--clients N] [--seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from harness import percentile, timed

from tests.support.process import interrupt

DEVICE = "bench"
TOKEN = "bench-device-token"
GOAL_MS = 5.0


def replica_env(redis_url: str) -> dict[str, str]:
    return {
        "REALTIME_MCP_AUTH": "false",
        "REALTIME_MCP_REDIS_URL": redis_url,
        "REALTIME_MCP_DEVICE_TOKENS": f"{DEVICE}={TOKEN}",
        "REALTIME_MCP_LOCAL_DEVICE": "false",
        "REALTIME_MCP_SKILLS_RELOAD": "false",
        "REALTIME_MCP_LOG_LEVEL": "WARNING",
    }


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listens on {port} after {timeout:g} s")
        time.sleep(0.05)


@contextlib.contextmanager
def caddy_balancer(ports: list[int]) -> Iterator[str | None]:
    """Caddy round-robin over the replicas on a loopback port; None when Caddy is not installed."""
    caddy = shutil.which("caddy")
    if caddy is None:
        yield None
        return
    from tests.support.http import free_port

    port = free_port()
    upstreams = " ".join(f"127.0.0.1:{p}" for p in ports)
    config = (
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f"http://127.0.0.1:{port} {{\n\treverse_proxy {upstreams} {{\n\t\tlb_policy round_robin\n"
        "\t\tflush_interval -1\n\t}\n}\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Caddyfile"
        path.write_text(config)
        env = {**os.environ, "XDG_DATA_HOME": folder, "XDG_CONFIG_HOME": folder, "HOME": folder}
        process = subprocess.Popen(
            [caddy, "run", "--config", str(path), "--adapter", "caddyfile"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextlib.asynccontextmanager
async def balancer(ports: list[int]) -> AsyncIterator[tuple[str, str]]:
    with caddy_balancer(ports) as url:
        if url is not None:
            yield url, "Caddy"
            return
        from tests.support.balancer import running_balancer

        async with running_balancer(ports) as tcp:  # first live backend, not round robin
            yield tcp, "a TCP balancer"


async def wait_for_device(url: str, timeout: float = 30) -> None:
    import anyio
    from mcp import Client

    async with Client(f"{url}/screen/mcp") as client:
        with anyio.fail_after(timeout):
            while (await client.call_tool("list_displays", {"device": DEVICE})).is_error:
                await anyio.sleep(0.2)


async def latency(owner: str, other: str, calls: int) -> None:
    """Calls alternate between the two replicas, so both see the same load on a shared box."""
    from mcp import Client

    figures: dict[tuple[str, str], list[float]] = {}
    async with (
        Client(f"{owner}/screen/mcp") as owner_screen,
        Client(f"{other}/screen/mcp") as other_screen,
        Client(f"{owner}/pointer/mcp") as owner_pointer,
        Client(f"{other}/pointer/mcp") as other_pointer,
    ):
        frames: dict[str, str] = {}
        for name, screen in (("owner", owner_screen), ("other", other_screen)):
            _, result = await timed(screen, "capture_screen", [{"device": DEVICE}], warmup=5)
            info = result.structured_content  # type: ignore[attr-defined]
            assert info is not None and not info["stale"], info
            frames[name] = info["frame_id"]
        for _ in range(calls):
            for name, screen in (("owner", owner_screen), ("other", other_screen)):
                seconds, _ = await timed(screen, "capture_screen", [{"device": DEVICE}], warmup=0)
                figures.setdefault(("capture_screen", name), []).extend(seconds)
            for _ in range(2):
                for name, pointer in (("owner", owner_pointer), ("other", other_pointer)):
                    point = [{"x": 640, "y": 400, "frame_id": frames[name]}]
                    seconds, _ = await timed(pointer, "point_at", point, warmup=0)
                    figures.setdefault(("point_at", name), []).extend(seconds)
    print(f"\nend to end over streamable HTTP, {calls} capture / {calls * 2} point calls each, alternating:")
    print(
        f"{'':<16}{'owner p50':>12}{'owner p99':>12}{'other p50':>12}{'other p99':>12}"
        f"{'overhead p50':>15}   goal"
    )
    for tool in ("capture_screen", "point_at"):
        mine, theirs = figures[(tool, "owner")], figures[(tool, "other")]
        cells = [percentile(values, q) * 1000 for values in (mine, theirs) for q in (0.5, 0.99)]
        overhead = cells[2] - cells[0]
        verdict = "met" if overhead <= GOAL_MS else "MISSED"
        print(
            f"{tool:<16}{cells[0]:>9.2f} ms{cells[1]:>9.2f} ms{cells[2]:>9.2f} ms{cells[3]:>9.2f} ms"
            f"{overhead:>12.2f} ms   <= {GOAL_MS:g} ms ({verdict})"
        )


async def throughput(url: str, how: str, clients: int, seconds: float) -> None:
    """`clients` concurrent clients, each with its own connection, calling skills tools the way
    OpenAI's hosted MCP client does (JSON-RPC POSTs to the stateless endpoint) until `seconds` pass."""
    import anyio
    import httpx

    from tests.support.raw_mcp import OPENAI_HEADERS, PROTOCOL, request

    counts = {"ok": 0, "errors": 0}
    first_error: list[str] = []
    deadline = time.monotonic() + seconds
    headers = OPENAI_HEADERS | {"mcp-protocol-version": PROTOCOL}
    calls = [("list_skills", {}), ("load_skill", {"name": "git-recovery"})]

    async def one_client(index: int) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            i = index
            while time.monotonic() < deadline:
                tool, arguments = calls[i % 2]
                i += 1
                body = request("tools/call", i, {"name": tool, "arguments": arguments})
                try:
                    reply = await http.post(f"{url}/skills/mcp", json=body, headers=headers)
                    failed = reply.status_code != 200 or '"isError":true' in reply.text
                    if failed:
                        first_error.append(f"HTTP {reply.status_code}: {reply.text[:200]}")
                except httpx.HTTPError as e:  # counted, and the first one shown
                    failed = True
                    first_error.append(f"{type(e).__name__}: {e}")
                counts["errors" if failed else "ok"] += 1

    started = time.monotonic()
    with anyio.fail_after(seconds + 60):
        async with anyio.create_task_group() as tg:
            for index in range(clients):
                tg.start_soon(one_client, index)
    elapsed = time.monotonic() - started
    print(
        f"{how:<44}{counts['ok'] / elapsed:>8.0f} calls/s{counts['ok']:>8} ok{counts['errors']:>6} errors"
        + (f"  (first: {first_error[0]})" if first_error else "")
    )


def _first_cause(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"[:300]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calls", type=int, default=200, help="Timed capture calls per replica (default 200)."
    )
    parser.add_argument("--clients", type=int, default=50, help="Concurrent skills clients (default 50).")
    parser.add_argument("--seconds", type=float, default=15, help="Length of the load run (default 15).")
    args = parser.parse_args()

    import anyio

    from tests.support.cli_server import running_serve
    from tests.support.redis_server import running_redis
    from tests.support.xserver import running_xvfb

    with contextlib.ExitStack() as stack:
        xserver = stack.enter_context(running_xvfb(2560, 1600))
        redis = stack.enter_context(running_redis())
        env = replica_env(redis.url)
        replicas = [stack.enter_context(running_serve(env=env)) for _ in range(3)]
        command = [sys.executable, "-m", "servers.cli", "capture", "--server", replicas[0].url]
        command += ["--display", xserver.display, "--no-hotkey", "--log-level", "WARNING"]
        client = subprocess.Popen(command, env={**os.environ, "REALTIME_MCP_DEVICE_TOKEN": TOKEN})
        stack.callback(interrupt, client)
        anyio.run(wait_for_device, replicas[1].url)
        print(
            f"Xvfb {xserver.display} 2560x1600 (busy UI picture); redis-server {redis.port}; replicas "
            f"{', '.join(str(r.process.pid) for r in replicas)}; capture client on replica 1"
        )
        anyio.run(latency, replicas[0].url, replicas[1].url, args.calls)
        ports = [int(r.url.rsplit(":", 1)[1]) for r in replicas]

        async def load() -> None:
            print(
                f"\nskills tools (list_skills / load_skill as hosted-MCP JSON-RPC POSTs), "
                f"{args.clients} concurrent clients, {args.seconds:g} s each:"
            )
            async with balancer(ports) as (url, how):
                await throughput(url, f"3 replicas through {how}", args.clients, args.seconds)
            await throughput(replicas[0].url, "1 replica (replica 1 directly)", args.clients, args.seconds)

        anyio.run(load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
