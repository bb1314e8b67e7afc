"""The device relay's cost: capture_screen and point_at through a capture client vs the local device.

One run, one harness: a 2560x1600 Xvfb showing a busy UI picture; the suite in its own process
(screen + pointer, offering that display as its local device); the real capture client
(`realtime-mcp capture`) in a third process, connected over loopback to `/devices/connect` and
capturing the same display. A real MCP client over streamable HTTP calls each tool with
`device="local"` and with `device="bench"` (the relay), and the figures are printed side by side.

Goals (relay, p50): capture_screen <= 40 ms, point_at <= 10 ms.
Usage: python bench/bench_relay.py [--calls N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from harness import percentile, run_uvicorn, served, timed

from tests.support.process import interrupt

DEVICE = "bench"
TOKEN = "bench-device-token"


def serve(port: int, display: str) -> None:
    from pydantic import SecretStr

    from servers.app import create_app
    from servers.settings import Settings

    settings = Settings(
        display=display,
        servers=["screen", "pointer"],
        auth=False,
        device_tokens={DEVICE: SecretStr(TOKEN)},
        log_level="WARNING",
    )
    run_uvicorn(create_app(settings), port)


async def wait_for_relay(url: str, timeout: float = 30) -> None:
    import anyio
    from mcp import Client

    async with Client(f"{url}/screen/mcp") as client:
        with anyio.fail_after(timeout):
            while (await client.call_tool("list_displays", {"device": DEVICE})).is_error:
                await anyio.sleep(0.2)


async def measure(url: str, calls: int) -> None:
    from mcp import Client

    figures: dict[tuple[str, str], list[float]] = {}
    sizes: dict[str, str] = {}
    for device in ("local", DEVICE):
        async with Client(f"{url}/screen/mcp") as screen:
            capture, result = await timed(screen, "capture_screen", [{"device": device}] * calls)
        info = result.structured_content  # type: ignore[attr-defined]
        assert info is not None and not info["stale"], info
        sizes[device] = f"{info['width']}x{info['height']}"
        async with Client(f"{url}/pointer/mcp") as pointer:
            point, _ = await timed(
                pointer, "point_at", [{"x": 640, "y": 400, "frame_id": info["frame_id"]}] * (calls * 2)
            )
        figures[("capture_screen", device)] = capture
        figures[("point_at", device)] = point

    print(f"\nend to end over streamable HTTP, {calls} capture / {calls * 2} point calls per device:")
    print(f"{'':<16}{'local p50':>12}{'local p99':>12}{'relay p50':>12}{'relay p99':>12}   relay goal")
    goals = {"capture_screen": 40.0, "point_at": 10.0}
    for tool in ("capture_screen", "point_at"):
        local, relay = figures[(tool, "local")], figures[(tool, DEVICE)]
        cells = [percentile(values, q) * 1000 for values in (local, relay) for q in (0.5, 0.99)]
        verdict = "met" if cells[2] <= goals[tool] else "MISSED"
        print(
            f"{tool:<16}{cells[0]:>9.2f} ms{cells[1]:>9.2f} ms{cells[2]:>9.2f} ms{cells[3]:>9.2f} ms"
            f"   <= {goals[tool]:g} ms ({verdict})"
        )
    print(f"images: local {sizes['local']}, relay {sizes[DEVICE]} (JPEG q80 defaults)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calls", type=int, default=200, help="Timed capture calls per device (default 200)."
    )
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DISPLAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0

    import anyio

    from tests.support.xserver import running_xvfb

    with (
        running_xvfb(2560, 1600) as xserver,
        served(__file__, xserver.display, {"REALTIME_MCP_AUTH": "false"}) as (url, server),
    ):
        command = [sys.executable, "-m", "servers.cli", "capture", "--server", url]
        command += ["--display", xserver.display, "--no-hotkey", "--log-level", "WARNING"]
        client = subprocess.Popen(command, env={**os.environ, "REALTIME_MCP_DEVICE_TOKEN": TOKEN})
        try:
            anyio.run(wait_for_relay, url)
            print(
                f"Xvfb {xserver.display} 2560x1600 (busy UI picture); server pid {server.pid}, "
                f"capture client pid {client.pid}, both on loopback"
            )
            anyio.run(measure, url, args.calls)
        finally:
            interrupt(client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
