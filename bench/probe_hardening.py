"""The hostile probe of issue 9, items 1, 3 and 4, repeated after the fixes; prints figures.

1. X clients on a real Xvnc before and after 50 screen-backend resets with display changes (the
   backend alone, then the server's local device with its RandR watcher).
2. Seconds from a device's link wedging (the peer stops reading while it floods messages the hub
   answers; 4 KB socket buffers) to the hub dropping it, with the default 2 s heartbeat (6 s window).
3. `/healthz` latency from a served suite (`realtime-mcp serve`, its own process) while 3x
   `max_connections` idle sockets are held open; once with the defaults, once with 256 file
   descriptors and a cap of 64 (300 sockets would take every descriptor without the cap).

Usage: python bench/probe_hardening.py
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import time

import anyio
import httpx

from tests.support.cli_server import running_serve


def x_clients() -> None:
    from capture_client.backends.x11 import X11Screen
    from servers.hub.device import CaptureRequest, DeviceError
    from servers.hub.local import LocalDevice
    from servers.settings import Settings
    from tests.support.xvnc import output_off, running_xvnc, set_mode, x_client_count

    modes = [(1280, 800), (1024, 768), (1680, 1050)]
    with running_xvnc(1280, 800) as x:
        before = x_client_count(x)
        screen = X11Screen(x.display)
        screen.displays()
        opened = x_client_count(x)
        for i in range(50):
            if i % 10 == 5:
                set_mode(x, *modes[i % 3])
            elif i % 10 == 9:
                output_off(x)
            screen.reset()
            screen.displays()
            if i % 10 == 9:
                set_mode(x, 1280, 800)
        after = x_client_count(x)
        screen.close()
        print(
            f"X clients, screen backend: {before} before, {opened} open, {after} after 50 resets, "
            f"{x_client_count(x)} after close"
        )

    with running_xvnc(1280, 800) as x:
        before = x_client_count(x)

        async def local() -> tuple[int, int]:
            device = LocalDevice(Settings(display=x.display, skills_reload=False), quiet_period=0.05)
            try:
                await device.capture(CaptureRequest(max_edge=320))
                settled = x_client_count(x)
                for i in range(50):
                    if i % 5 == 0:
                        set_mode(x, *modes[(i // 5) % 3])
                    elif i % 5 == 3:
                        output_off(x)
                    with contextlib.suppress(DeviceError):
                        await device.capture(CaptureRequest(max_edge=320))
                    if i % 5 == 3:
                        set_mode(x, 1280, 800)
                return settled, x_client_count(x)
            finally:
                await device.aclose()

        settled, after = anyio.run(local)
        print(
            f"X clients, local device: {settled} open after the first capture, {after} after 50 "
            f"captures with 20 display changes, {x_client_count(x)} after close (base {before})"
        )


def wedged_link() -> None:
    from servers.hub.relay import RelayDevice
    from tests.support.fake_device import device_hub, stuck_device, wait_for_device

    async def probe() -> float:
        async with device_hub(send_buffer=4096) as (hub, url), stuck_device(url):
            await wait_for_device(hub, "mac-1")
            relay = hub.devices.resolve("mac-1")
            assert isinstance(relay, RelayDevice)
            with anyio.fail_after(60):
                while relay.silence() < 0.2 and not relay.closed:
                    await anyio.sleep(0.01)
                wedged_at = time.monotonic() - relay.silence()
                await wait_for_device(hub, "mac-1", present=False, timeout=60)
            return time.monotonic() - wedged_at

    took = [anyio.run(probe) for _ in range(3)]
    print(
        "non-reading link dropped after "
        + ", ".join(f"{t:.1f}" for t in took)
        + " s (heartbeat 2 s: window 6 s)"
    )


def idle_flood(max_connections: int, sockets_count: int, open_files: int | None) -> None:
    env = {"REALTIME_MCP_MAX_CONNECTIONS": str(max_connections)}
    with running_serve("--no-auth", "--no-local-device", "--no-reload", env=env, open_files=open_files) as s:
        host, port = s.url.removeprefix("http://").split(":")
        with httpx.Client(timeout=5) as http:
            quiet = [_timed_get(http, f"{s.url}/healthz") for _ in range(20)]
        flood: list[socket.socket] = []
        started = time.monotonic()
        try:
            for _ in range(sockets_count):
                c = socket.socket()
                c.settimeout(2)
                with contextlib.suppress(OSError):
                    c.connect((host, int(port)))
                flood.append(c)
            opened_in = time.monotonic() - started
            with httpx.Client(timeout=5) as http:
                loaded = [_timed_get(http, f"{s.url}/healthz") for _ in range(20)]
        finally:
            for c in flood:
                c.close()
        log_bytes = len(s.log())
    limit = f"{open_files} fds" if open_files else "default fds"
    failures = sum(x == float("inf") for x in loaded)
    print(
        f"/healthz, {sockets_count} idle sockets (opened in {opened_in:.1f} s), cap {max_connections}, "
        f"{limit}: p50 {statistics.median(loaded) * 1e3:.1f} ms, max {max(loaded) * 1e3:.1f} ms "
        f"(quiet p50 {statistics.median(quiet) * 1e3:.1f} ms); failures {failures}/20; "
        f"server log {log_bytes} bytes"
    )


def _timed_get(http: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    try:
        if http.get(url).status_code != 200:
            return float("inf")
    except httpx.HTTPError:
        return float("inf")
    return time.perf_counter() - started


def main() -> None:
    x_clients()
    wedged_link()
    idle_flood(1000, 3000, None)
    idle_flood(64, 300, 256)


if __name__ == "__main__":
    main()
