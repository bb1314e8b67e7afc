"""`realtime-mcp capture`: run the capture client on the machine whose screen the model should see."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from typing import Any

log = logging.getLogger("realtime_mcp.capture")

TOKEN_ENV = "REALTIME_MCP_DEVICE_TOKEN"  # noqa: S105 - a variable name, not a secret
SERVER_ENV = "REALTIME_MCP_SERVER"


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "capture",
        help="Connect this machine's screen and pointer to a realtime-mcp server (the capture client).",
        description="Run the capture client: connects out to the server's /devices/connect, answers "
        "captures and pointer moves, guards against black frames while displays reconfigure, and "
        "reconnects on its own. Ctrl-C stops it.",
    )
    p.add_argument(
        "--server",
        default=os.environ.get(SERVER_ENV),
        help=f"Server URL, http(s)://host:port (or ${SERVER_ENV}).",
    )
    p.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"Device token (or ${TOKEN_ENV}, which keeps it out of the process list).",
    )
    p.add_argument("--device-id", help="Device id to connect as (default: the one the token names).")
    p.add_argument("--display", help="X display to capture on Linux (default $DISPLAY).")
    p.add_argument(
        "--quiet-period",
        type=_seconds,
        default=1.5,
        help="Seconds without a display-change sign before capture resumes (default 1.5).",
    )
    p.add_argument("--no-hotkey", action="store_true", help="Do not listen for the push-to-talk hotkey.")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 30:
        raise argparse.ArgumentTypeError("give seconds between 0 and 30, e.g. 1.5")
    return value


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.server or not args.token:
        print(
            f"realtime-mcp capture: give --server URL and --token TOKEN (or ${SERVER_ENV} / ${TOKEN_ENV}).",
            file=sys.stderr,
        )
        return 2
    from capture_client.pipeline import tune_allocator

    tune_allocator()  # process-wide, so at start-up rather than inside the first capture
    if sys.platform == "darwin":
        return _run_macos(args)
    return asyncio.run(_main(args, None))


def _run_macos(args: argparse.Namespace) -> int:
    from capture_client.guard import DisplayGuard
    from capture_client.macos_signals import MacDisplaySignals, run_with_event_loop

    guard = DisplayGuard(quiet_period=args.quiet_period)
    signals: list[Any] = []
    try:
        # Registered on the main thread, whose run loop delivers the callbacks.
        signals.append(MacDisplaySignals(guard).start())
    except Exception as e:
        log.warning("display-change signals unavailable (%s); relying on frame checks", e)
    result: list[int] = []
    stop = threading.Event()

    def work(stop_event_loop) -> None:
        try:
            result.append(asyncio.run(_main(args, stop, guard=guard, signals=signals)))
        finally:
            stop_event_loop()

    run_with_event_loop(work, stop)
    return result[0] if result else 0


async def _main(
    args: argparse.Namespace,
    stop: threading.Event | None,
    *,
    guard: Any = None,
    signals: list[Any] | None = None,
) -> int:
    import anyio

    from capture_client.backends import BackendError, get_backends
    from capture_client.client import DeviceService
    from capture_client.connection import CaptureClient, ClientConfig, RefusedError
    from capture_client.guard import DisplayGuard
    from capture_client.hotkey import start_push_to_talk

    platform = "macos" if sys.platform == "darwin" else "x11"
    probe = None
    if guard is None:
        guard = DisplayGuard(quiet_period=args.quiet_period)
        signals, probe = _start_x11_signals(guard, args.display)
    service = DeviceService(lambda: get_backends(display=args.display), guard, layout_probe=probe)
    loop = asyncio.get_running_loop()
    hotkey = None
    code = 0
    try:
        async with anyio.create_task_group() as tg:
            client = CaptureClient(
                ClientConfig(
                    server=args.server, token=args.token, device_id=args.device_id, platform=platform
                ),
                service,
            )
            if not args.no_hotkey:

                def on_chord() -> None:  # the hotkey listener's thread
                    loop.call_soon_threadsafe(tg.start_soon, client.push)

                hotkey = start_push_to_talk(on_chord)
                client.config.can_push = hotkey is not None
            tg.start_soon(_stop_on_signal, tg.cancel_scope, stop)
            try:
                await client.run()
            except RefusedError as e:
                log.error("the server refused this client: %s", e)
                code = 2
            except BackendError as e:
                log.error("cannot use this screen: %s", e)
                code = 1
            tg.cancel_scope.cancel()
    finally:
        if hotkey is not None:
            hotkey.stop()
        for source in signals or []:
            source.stop()
        await service.aclose()
        log.info("capture client stopped")
    return code


def _start_x11_signals(guard: Any, display: str | None) -> tuple[list[Any], Any]:
    """RandR change events and the screen-size probe (best effort: frame checks still guard)."""
    sources: list[Any] = []
    probe = None
    try:
        from capture_client.x11_signals import RandrSignals, ScreenSizeProbe

        sources.append(RandrSignals(guard, display).start())
        probe = ScreenSizeProbe(display)
        sources.append(_Closing(probe))
    except Exception as e:
        log.warning("display-change signals unavailable (%s); relying on frame checks", e)
    return sources, probe


class _Closing:
    def __init__(self, thing: Any) -> None:
        self._thing = thing

    def stop(self) -> None:
        self._thing.close()


async def _stop_on_signal(scope, stop: threading.Event | None) -> None:
    import anyio
    import anyio.to_thread

    if stop is not None:  # macOS: the main thread owns signals; it sets `stop` on Ctrl-C
        await anyio.to_thread.run_sync(stop.wait, abandon_on_cancel=True)
        log.info("stopping")
        scope.cancel()
        return
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            log.info("stopping (%s)", signal.Signals(received).name)
            scope.cancel()
            return
