"""The Realtime bridge's latency: how soon a frame is in the call's conversation.

One run: a 2560x1600 Xvfb showing a busy UI picture; the suite in its own process (bridge in
hosted-MCP mode, its public URL its own loopback listener); the fake Realtime service and the real
capture client in this process, all over loopback. Two figures:

- push-to-talk: the hotkey press (`CaptureClient.press()`: talk message, guarded grab, encode,
  pushed frame) until the image's `conversation.item.create` reaches the fake. Goal p50 <= 60 ms
  at the default 1280 JPEG.
- hosted-MCP capture: the fake's model calls `capture_screen` through the suite's MCP endpoint (as
  OpenAI's hosted client would) until the image item arrives; and from that response's
  `response.done` to the image item (the bridge's own share).

Usage: python bench/bench_bridge.py [--presses N] [--captures N]
"""

from __future__ import annotations

import argparse
import sys
import time

from harness import percentile, run_uvicorn, served

DEVICE = "bench"
TOKEN = "bench-device-token"
KEY = "sk-bench-fake-key"


def serve(port: int, display: str) -> None:
    from pydantic import SecretStr

    from servers.app import create_app
    from servers.settings import Settings

    settings = Settings(
        display=display,
        local_device=False,
        auth=False,
        device_tokens={DEVICE: SecretStr(TOKEN)},
        public_url=f"http://127.0.0.1:{port}",
        call_tools="mcp",
        skills_reload=False,
        log_level="WARNING",
    )
    run_uvicorn(create_app(settings), port)


def _row(name: str, seconds: list[float], goal: float | None = None) -> str:
    p50, p99 = (percentile(seconds, q) * 1000 for q in (0.5, 0.99))
    verdict = f"   goal p50 <= {goal:g} ms ({'met' if p50 <= goal else 'MISSED'})" if goal else ""
    return f"{name:<40}{p50:>9.2f} ms{p99:>9.2f} ms{verdict}"


async def measure(url: str, display: str, fake, presses: int, captures: int) -> None:
    import httpx

    from tests.support.capture_client import running_capture_client

    def is_image(event: dict) -> bool:
        return event["item"]["type"] == "message"

    async with running_capture_client(url, TOKEN, display) as client:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                f"{url}/realtime/calls?device={DEVICE}",
                content="v=0\r\ns=-\r\n",
                headers={"Content-Type": "application/sdp"},
            )
        assert response.status_code == 201, response.text
        call = fake.calls[response.headers["location"].rsplit("/", 1)[-1]]
        await call.wait_connected()

        push: list[float] = []
        grab: list[float] = []
        for i in range(presses + 3):
            start = time.perf_counter()
            assert await client.press()
            sent = time.perf_counter()
            await call.wait_for("conversation.item.create", is_image, timeout=10)
            if i >= 3:  # warm-up
                push.append(time.perf_counter() - start)
                grab.append(sent - start)
            await client.release()

        whole: list[float] = []
        share: list[float] = []
        for i in range(captures + 2):
            start = time.perf_counter()
            await call.model_calls_mcp("capture_screen", {}, server_label="screen")
            done = time.perf_counter()
            await call.wait_for("conversation.item.create", is_image, timeout=10)
            end = time.perf_counter()
            await call.wait_for("response.create", timeout=10)
            await call.wait_idle(timeout=10)
            if i >= 2:
                whole.append(end - start)
                share.append(end - done)
        assert call.invalid == [], call.invalid
        size = len(call.images()[-1])

    print(f"\n{'':<40}{'p50':>12}{'p99':>12}")
    print(_row(f"push-to-talk press -> image item ({presses})", push, 60.0))
    print(_row("  of which the client's grab + encode + send", grab))
    rest = [p - g for p, g in zip(push, grab, strict=True)]
    print(_row("  of which hub + bridge + sideband + fake", rest))
    print(_row(f"hosted-MCP capture -> image item ({captures})", whole))
    print(_row("  of which response.done -> image item", share))
    print(f"image: 1280x800 JPEG q80, {size / 1024:.0f} KiB ({len(call.images())} kept in the call)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presses", type=int, default=100, help="Timed push-to-talk presses (default 100).")
    parser.add_argument("--captures", type=int, default=50, help="Timed hosted-MCP captures (default 50).")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DISPLAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0

    import anyio

    from tests.support.fake_realtime import FakeRealtime
    from tests.support.xserver import running_xvfb

    async def run(display: str) -> None:
        async with FakeRealtime(api_key=KEY) as fake:
            env = {
                "REALTIME_MCP_AUTH": "false",
                "REALTIME_MCP_OPENAI_API_KEY": KEY,
                "REALTIME_MCP_OPENAI_BASE_URL": fake.base_url,
            }
            # Started from a thread: the fake must keep serving while the suite comes up.
            stack = await anyio.to_thread.run_sync(lambda: served(__file__, display, env))
            url, server = await anyio.to_thread.run_sync(stack.__enter__)
            try:
                print(
                    f"Xvfb {display} 2560x1600 (busy UI picture); suite pid {server.pid}; fake and capture "
                    "client in this process; all on loopback"
                )
                await measure(url, display, fake, args.presses, args.captures)
            finally:
                await anyio.to_thread.run_sync(stack.__exit__, None, None, None)

    with running_xvfb(2560, 1600) as xserver:
        anyio.run(run, xserver.display)
    return 0


if __name__ == "__main__":
    sys.exit(main())
