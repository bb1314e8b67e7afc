"""`realtime-mcp capture`: run the capture client on the machine whose screen the model should see."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
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
    p.add_argument(
        "--overlay-timeout",
        type=_seconds,
        default=8.0,
        help="Seconds the pointing overlay (cursor or highlight) stays shown (default 8).",
    )
    p.add_argument(
        "--no-overlay",
        action="store_true",
        help="Draw no pointing overlay (pointing then only moves the pointer when the server asks to).",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="Test this machine's permissions, capture and hotkey now, say what to grant, and exit "
        "(needs no server or token).",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 30:
        raise argparse.ArgumentTypeError("give seconds between 0 and 30, e.g. 1.5")
    return value


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.check:
        from capture_client.check import run_checks

        return run_checks(display=args.display, hotkey=not args.no_hotkey)
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


def can_push(hotkey: Any) -> bool:
    """What Hello.can_push says: only a hotkey that key events really reach (a live tap or listener)."""
    return bool(hotkey is not None and hotkey.live)


class HotkeyRelay:
    """Hands the hotkey's press and release (on the listener's thread) to the client's event loop.

    On macOS the hotkey exists before the event loop does (both start on the main thread); events
    before `run` and after it ends are dropped. Handlers run one after the other, in key order, so
    a release is handled after the push its press started.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[str] | None = None

    async def run(
        self,
        on_press: Callable[[], Awaitable[object]],
        on_release: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Handle the events until cancelled (a task in the client's task group)."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._queue, self._loop = queue, asyncio.get_running_loop()
        try:
            while True:
                handler = on_press if await queue.get() == "press" else on_release
                if handler is not None:
                    await handler()
        finally:
            self._loop = self._queue = None

    def press(self) -> None:
        self._post("press")

    def release(self) -> None:
        self._post("release")

    def _post(self, kind: str) -> None:
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return
        try:
            loop.call_soon_threadsafe(queue.put_nowait, kind)
        except RuntimeError:  # the loop closed meanwhile: the client is stopping
            log.debug("push-to-talk event after the client stopped")


def _run_macos(args: argparse.Namespace) -> int:
    from capture_client.backends import BackendError
    from capture_client.backends.macos import SCREEN_RECORDING_HELP, ask_for_screen_capture
    from capture_client.guard import DisplayGuard
    from capture_client.hotkey import start_push_to_talk
    from capture_client.macos_signals import MacDisplaySignals, run_with_event_loop

    guard = DisplayGuard(quiet_period=args.quiet_period)
    # Everything with a run-loop source starts here, on the main thread, whose run loop delivers
    # its callbacks, and stops here once that loop has returned, so no callback runs meanwhile.
    signals = MacDisplaySignals(guard).start()
    try:
        # Asked first, so the prompts come in the order of need: the screen, then the hotkey.
        if not ask_for_screen_capture():
            log.warning("%s", SCREEN_RECORDING_HELP)
    except BackendError as e:  # PyObjC missing: the backends say so again, with what to install
        log.warning("%s", e)
    relay = HotkeyRelay()
    hotkey = None if args.no_hotkey else start_push_to_talk(relay.press, relay.release, platform="darwin")
    result: list[int] = []
    stop = threading.Event()

    def work(stop_event_loop: Callable[[], None]) -> None:
        try:
            result.append(asyncio.run(_main(args, stop, guard=guard, hotkey=hotkey, relay=relay)))
        finally:
            stop_event_loop()

    try:
        run_with_event_loop(work, stop)
    finally:
        if hotkey is not None:
            hotkey.stop()
        signals.stop()
        log.info("capture client stopped")
    return result[0] if result else 0


async def _main(
    args: argparse.Namespace,
    stop: threading.Event | None,
    *,
    guard: Any = None,
    hotkey: Any = None,
    relay: HotkeyRelay | None = None,
) -> int:
    """The client on an asyncio loop. On macOS the caller owns `guard`'s signals and the hotkey
    (main thread); elsewhere they start and stop here."""
    import anyio

    from capture_client.backends import BackendError, get_backends
    from capture_client.client import DeviceService
    from capture_client.connection import CaptureClient, ClientConfig, RefusedError
    from capture_client.guard import DisplayGuard
    from capture_client.hotkey import start_push_to_talk

    platform = "macos" if sys.platform == "darwin" else "x11"
    probe = None
    owned: list[Any] = []  # sources started here, stopped here
    if guard is None:
        guard = DisplayGuard(quiet_period=args.quiet_period)
        owned, probe = _start_x11_signals(guard, args.display)
    service = DeviceService(
        lambda: get_backends(
            display=args.display, overlay=not args.no_overlay, overlay_timeout=args.overlay_timeout
        ),
        guard,
        layout_probe=probe,
    )
    code = 0
    if relay is None:
        relay = HotkeyRelay()
        if not args.no_hotkey:
            hotkey = start_push_to_talk(relay.press, relay.release, display=args.display)
            if hotkey is not None:
                owned.append(hotkey)
    try:
        async with anyio.create_task_group() as tg:
            client = CaptureClient(
                ClientConfig(
                    server=args.server, token=args.token, device_id=args.device_id, platform=platform
                ),
                service,
            )
            client.config.can_push = can_push(hotkey)
            tg.start_soon(relay.run, client.press, client.release)
            tg.start_soon(service.follow_guard)  # the hub hears of a settled layout change at once
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
        for source in owned:
            source.stop()
        await service.aclose()
        if stop is None:
            log.info("capture client stopped")
    return code


def _start_x11_signals(guard: Any, display: str | None) -> tuple[list[Any], Any]:
    """RandR change events and the screen-size probe (best effort: frame checks still guard)."""
    try:
        from capture_client.x11_signals import start_x11_signals
    except ImportError as e:
        log.warning("display-change signals unavailable (%s); relying on frame checks", e)
        return [], None
    return start_x11_signals(guard, display)


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
