"""Stand-ins for the PyObjC parts the Mac client uses, faithful where the client depends on them.

What they model, and where it comes from:

* `MainRunLoop` + `apphelper()`: PyObjC's `PyObjCTools.AppHelper` (10.3.2+). `runConsoleEventLoop`
  must run on the main thread and returns at once when the run loop has no source or timer
  (`-[NSRunLoop runMode:beforeDate:]` answers NO); `callAfter` is asynchronous (queued for the main
  thread, never run in the caller); `stopEventLoop` finds the loop through the *current* thread's
  run loop: on another thread, or with no console loop running, it calls
  `NSApp().terminate_`, which ends the process (recorded here as `terminated`).
  Ctrl-C (installInterrupt) stops the console loop (`interrupt()`).
* `quartz_tap()`: the event-tap functions of `Quartz` (constants from PyObjC's
  `test_cgeventtypes.py`): `CGEventTapCreate` returns None without Input Monitoring, its callback
  is called `(proxy, type, event, refcon)` from the run loop it was added to.
* `WorkspaceCenter`: NSWorkspace's own notification center; a block added with the main queue
  runs on the main run loop, one added with no queue runs on the posting thread.
* `NSDataProxy`: what `CGDataProviderCopyData` returns: not `bytes`, a buffer-protocol object
  whose `bytes()` method hands out views that leak the proxy (pyobjc#689).
"""

from __future__ import annotations

import inspect
import queue
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any


class ProcessTerminated(Exception):
    """`NSApp().terminate_` was called: on a Mac the process would have ended here."""


class MainRunLoop:
    """The main thread's run loop: sources, timers and calls queued for the main thread."""

    def __init__(self) -> None:
        self.sources: list[object] = []
        self.timers: list[Timer] = []
        self.calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.running = threading.Event()
        self.stopper_installed = False
        self.should_stop = False
        self.terminated = False
        self.interrupt_installed = False

    @staticmethod
    def on_main_thread() -> bool:
        return threading.current_thread() is threading.main_thread()

    def perform_on_main(self, call: Callable[[], None]) -> None:
        self.calls.put(call)

    def attached(self) -> bool:
        return bool(self.sources) or any(t.valid for t in self.timers)

    def run_console(self, installInterrupt: bool = False, max_seconds: float = 30.0) -> None:
        assert self.on_main_thread(), "runConsoleEventLoop runs the calling thread's run loop"
        self.interrupt_installed = installInterrupt
        self.stopper_installed, self.should_stop = True, False
        self.running.set()
        try:
            # Bounded like every wait in the tests; a real loop would run until stopped.
            deadline = threading.Event()
            timer = threading.Timer(max_seconds, deadline.set)
            timer.start()
            try:
                while not self.should_stop:
                    if not self.attached():
                        return  # runMode:beforeDate: answers NO: the console loop ends
                    if deadline.is_set():
                        raise AssertionError(f"the event loop was never stopped within {max_seconds} s")
                    try:
                        call = self.calls.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    call()
            finally:
                timer.cancel()
        finally:
            self.stopper_installed = False
            self.running.clear()

    def stop_event_loop(self) -> None:
        if self.on_main_thread() and self.stopper_installed:
            self.should_stop = True
            return
        self.terminated = True  # no stopper on this thread's run loop: NSApp().terminate_(None)
        raise ProcessTerminated("stopEventLoop without a console loop on this thread ends the process")

    def interrupt(self) -> None:
        """Ctrl-C: with installInterrupt, the Mach signal handler stops the loop on the main thread."""
        assert self.interrupt_installed, "without installInterrupt Ctrl-C kills the process"
        self.perform_on_main(self.stop_event_loop)


class Timer:
    def __init__(self, loop: MainRunLoop, interval: float, repeats: bool, block: Callable[[Any], None]):
        assert len(inspect.signature(block).parameters) == 1, "a timer block gets the timer"
        self.interval, self.repeats, self.block, self.valid = interval, repeats, block, True
        loop.timers.append(self)

    def invalidate(self) -> None:
        self.valid = False


def apphelper(loop: MainRunLoop) -> types.ModuleType:
    module = types.ModuleType("PyObjCTools.AppHelper")

    def callAfter(func, *args, **kwargs):
        loop.perform_on_main(lambda: func(*args, **kwargs))

    module.callAfter = callAfter  # type: ignore[attr-defined]
    module.stopEventLoop = loop.stop_event_loop  # type: ignore[attr-defined]
    module.runConsoleEventLoop = loop.run_console  # type: ignore[attr-defined]
    return module


class WorkspaceCenter:
    """NSWorkspace.sharedWorkspace().notificationCenter()."""

    def __init__(self, loop: MainRunLoop, main_queue: object) -> None:
        self.loop = loop
        self.main_queue = main_queue
        self.observers: dict[object, tuple[str, object, Callable[[Any], None]]] = {}
        self.removed_on: list[threading.Thread] = []

    def addObserverForName_object_queue_usingBlock_(self, name, obj, queue, block):
        assert isinstance(name, str) and obj is None
        assert len(inspect.signature(block).parameters) == 1, "a block gets the notification"
        token = object()
        self.observers[token] = (name, queue, block)
        return token

    def removeObserver_(self, token):
        self.removed_on.append(threading.current_thread())
        del self.observers[token]

    def post(self, name: str) -> None:
        """The system posts workspace notifications on the main thread, from its run loop."""

        def deliver() -> None:
            note = types.SimpleNamespace(name=name)
            for observed, on_queue, block in list(self.observers.values()):
                if observed != name:
                    continue
                if on_queue is self.main_queue:
                    self.loop.perform_on_main(lambda block=block: block(note))
                else:
                    assert on_queue is None, "only the main queue or none is modelled"
                    block(note)

        self.loop.perform_on_main(deliver)


def appkit(loop: MainRunLoop, notification_names: tuple[str, ...]) -> types.ModuleType:
    module = types.ModuleType("AppKit")
    main_queue = object()
    center = WorkspaceCenter(loop, main_queue)
    workspace = types.SimpleNamespace(notificationCenter=lambda: center)
    module.NSWorkspace = types.SimpleNamespace(sharedWorkspace=lambda: workspace)  # type: ignore[attr-defined]
    module.NSOperationQueue = types.SimpleNamespace(mainQueue=lambda: main_queue)  # type: ignore[attr-defined]
    for name in notification_names:
        setattr(module, name, name)  # PyObjC exposes these as NSString constants
    module.NSApplication = types.SimpleNamespace(sharedApplication=lambda: None)  # type: ignore[attr-defined]
    module.NSTimer = types.SimpleNamespace(  # type: ignore[attr-defined]
        scheduledTimerWithTimeInterval_repeats_block_=lambda interval, repeats, block: Timer(
            loop, interval, repeats, block
        )
    )
    module.center = center  # type: ignore[attr-defined]
    return module


class MachPort:
    def __init__(self, callback: Callable[..., Any]) -> None:
        self.callback = callback
        self.enabled = False
        self.valid = True


class Event:
    def __init__(self, flags: int) -> None:
        self.flags = flags


def quartz_tap(loop: MainRunLoop, *, listen_allowed: bool = True, preflight: bool = True) -> types.ModuleType:
    """The event-tap part of `Quartz`; `q.type_flags(flags)` is the user changing modifiers."""
    q = types.ModuleType("Quartz")
    q.kCGSessionEventTap = 1  # type: ignore[attr-defined]
    q.kCGHeadInsertEventTap = 0  # type: ignore[attr-defined]
    q.kCGEventTapOptionListenOnly = 1  # type: ignore[attr-defined]
    q.kCGEventFlagsChanged = 12  # type: ignore[attr-defined]
    q.kCGEventKeyDown = 10  # type: ignore[attr-defined]
    q.kCGEventFlagMaskShift = 0x00020000  # type: ignore[attr-defined]
    q.kCGEventFlagMaskControl = 0x00040000  # type: ignore[attr-defined]
    q.kCGEventFlagMaskAlternate = 0x00080000  # type: ignore[attr-defined]
    q.kCGEventFlagMaskCommand = 0x00100000  # type: ignore[attr-defined]
    q.kCGEventTapDisabledByTimeout = 0xFFFFFFFE  # type: ignore[attr-defined]
    q.kCGEventTapDisabledByUserInput = 0xFFFFFFFF  # type: ignore[attr-defined]
    q.kCFRunLoopCommonModes = "kCFRunLoopCommonModes"  # type: ignore[attr-defined]
    main_loop = object()
    state: dict[str, Any] = {"listen": listen_allowed, "requests": 0, "ports": [], "removed_on": []}
    q.state = state  # type: ignore[attr-defined]

    def CGEventMaskBit(event_type):
        return 1 << event_type

    def CGPreflightListenEventAccess():
        return state["listen"]

    def CGRequestListenEventAccess():
        state["requests"] += 1
        return False  # the prompt; a grant applies to the next start of the program

    def CGEventTapCreate(tap, place, options, mask, callback, refcon):
        assert tap == q.kCGSessionEventTap and place == q.kCGHeadInsertEventTap
        assert options == q.kCGEventTapOptionListenOnly, "push-to-talk only listens"
        assert mask == 1 << q.kCGEventFlagsChanged, "Control and Option are modifier-flag changes"
        assert len(inspect.signature(callback).parameters) == 4, "callback(proxy, type, event, refcon)"
        if not state["listen"]:
            return None
        port = MachPort(callback)
        state["ports"].append(port)
        return port

    def CFMachPortCreateRunLoopSource(allocator, port, order):
        assert allocator is None and isinstance(port, MachPort) and order == 0
        return ("source", port)

    def CFRunLoopGetMain():
        return main_loop

    def CFRunLoopGetCurrent():
        return main_loop if loop.on_main_thread() else object()

    def CFRunLoopAddSource(run_loop, source, mode):
        assert mode == q.kCFRunLoopCommonModes or mode == "kCFRunLoopDefaultMode"
        if run_loop is main_loop:
            loop.sources.append(source)

    def CFRunLoopRemoveSource(run_loop, source, mode):
        state["removed_on"].append(threading.current_thread())
        if run_loop is main_loop and source in loop.sources:
            loop.sources.remove(source)

    def CGEventTapEnable(port, enable):
        assert isinstance(enable, bool)
        port.enabled = enable

    def CGEventTapIsEnabled(port):
        return port.enabled and port.valid

    def CFMachPortInvalidate(port):
        port.valid = False

    def CGEventGetFlags(event):
        return event.flags

    def deliver(event_type: int, flags: int = 0) -> None:
        """The window server's event, handed to every live tap whose source is on the main loop."""
        for port in state["ports"]:
            if port.enabled and port.valid and ("source", port) in loop.sources:
                port.callback(None, event_type, Event(flags), None)

    def type_flags(flags: int) -> None:
        loop.perform_on_main(lambda: deliver(q.kCGEventFlagsChanged, flags))

    for name, value in list(locals().items()):
        if name.startswith(("CG", "CF")):
            setattr(q, name, value)
    if not preflight:
        del q.CGPreflightListenEventAccess  # type: ignore[attr-defined]
        del q.CGRequestListenEventAccess  # type: ignore[attr-defined]
    q.deliver = deliver  # type: ignore[attr-defined]
    q.type_flags = type_flags  # type: ignore[attr-defined]
    return q


class NSDataProxy(bytearray):
    """CFData as PyObjC hands it out: a buffer-protocol object, not `bytes`.

    `bytes()` (the NSData method) returns a view that keeps the proxy alive for ever (pyobjc#689);
    the count of such views is kept so a test can require that nobody asks for one.
    """

    leaked_views = 0

    def bytes(self) -> memoryview:
        type(self).leaked_views += 1
        return memoryview(self)

    def length(self) -> int:
        return len(self)


# --- the overlay: AppKit windows and Core Animation layers ---------------------------------------


def _main_only(loop: MainRunLoop, what: str) -> None:
    assert loop.on_main_thread(), f"{what}: AppKit is used on the main thread only"


class WindowServer:
    """What the window server knows: every window ordered in, by number (ScreenCaptureKit lists these)."""

    def __init__(self) -> None:
        self.windows: dict[int, NSWindow] = {}
        self.next_number = 100


class NSRectLike:
    """An NSRect as PyObjC hands it out: `.origin.x`, `.size.width`."""

    def __init__(self, x: float, y: float, w: float, h: float) -> None:
        self.origin = types.SimpleNamespace(x=x, y=y)
        self.size = types.SimpleNamespace(width=w, height=h)


class NSWindow:
    """Records what the overlay sets; every call asserts the main thread."""

    loop: MainRunLoop
    server: WindowServer

    @classmethod
    def alloc(cls) -> NSWindow:
        return cls.__new__(cls)

    def initWithContentRect_styleMask_backing_defer_(self, rect, style, backing, defer):
        _main_only(self.loop, "NSWindow init")
        assert isinstance(rect, NSRectLike) and isinstance(style, int) and isinstance(backing, int)
        assert defer is False
        self.rect, self.style, self.backing = rect, style, backing
        self.settings: dict[str, Any] = {}
        self.number = 0
        self.ordered_in = False
        self.content = types.SimpleNamespace(
            wants_layer=False,
            root=Layer(),
            setWantsLayer_=lambda v: setattr(self.content, "wants_layer", v),
            layer=lambda: self.content.root if self.content.wants_layer else None,
        )
        return self

    def __getattr__(self, name: str):
        if name.startswith("set") and name.endswith("_"):
            key = name[3:-1]

            def setter(value):
                _main_only(self.loop, name)
                self.settings[key] = value

            return setter
        raise AttributeError(name)

    def contentView(self):
        return self.content

    def orderFrontRegardless(self):
        _main_only(self.loop, "orderFrontRegardless")
        self.ordered_in = True
        self.number = self.server.next_number
        self.server.next_number += 1
        self.server.windows[self.number] = self

    def windowNumber(self) -> int:
        return self.number

    def orderOut_(self, sender):
        _main_only(self.loop, "orderOut_")
        self.ordered_in = False
        self.server.windows.pop(self.number, None)

    def close(self):
        _main_only(self.loop, "close")


class Layer:
    """CALayer, CAShapeLayer and CATextLayer alike: properties set through `setX_` are kept."""

    def __init__(self) -> None:
        self.props: dict[str, Any] = {"Hidden": False}
        self.sublayers: list[Layer] = []

    @classmethod
    def layer(cls) -> Layer:
        return cls()

    def __getattr__(self, name: str):
        if name.startswith("set") and name.endswith("_"):
            return lambda value: self.props.__setitem__(name[3:-1], value)
        raise AttributeError(name)

    def addSublayer_(self, layer: Layer) -> None:
        self.sublayers.append(layer)

    def setSublayers_(self, layers: list[Layer]) -> None:
        self.sublayers = list(layers)


def overlay_parts(
    loop: MainRunLoop, screens: Sequence[tuple[tuple[float, float, float, float], float]], mouse=(0.0, 0.0)
) -> dict[str, Any]:
    """AppKit, Quartz (Core Animation, CGPath, the mouse) and AppHelper for `MacOverlay`.

    `screens`: (AppKit frame (x, y, w, h), backing scale) for each NSScreen, the menu-bar screen first.
    """
    server = WindowServer()
    window_class = type("NSWindow", (NSWindow,), {"loop": loop, "server": server})
    ak = types.ModuleType("AppKit")
    screen_objects = [
        types.SimpleNamespace(frame=lambda f=f: NSRectLike(*f), backingScaleFactor=lambda s=s: s)
        for f, s in screens
    ]
    ak.NSScreen = types.SimpleNamespace(screens=lambda: (_main_only(loop, "NSScreen"), screen_objects)[1])  # type: ignore[attr-defined]
    ak.NSScreen_main = screen_objects[0]  # type: ignore[attr-defined]
    ak.NSWindow = window_class  # type: ignore[attr-defined]
    ak.NSColor = types.SimpleNamespace(clearColor=lambda: "clearColor")  # type: ignore[attr-defined]
    ak.server = server  # type: ignore[attr-defined]
    q = types.ModuleType("Quartz")
    transactions: list[str] = []

    class CATransaction:
        @staticmethod
        def begin():
            _main_only(loop, "CATransaction")
            transactions.append("begin")

        @staticmethod
        def commit():
            transactions.append("commit")

        @staticmethod
        def setDisableActions_(flag):
            assert isinstance(flag, bool)

    q.CATransaction = CATransaction  # type: ignore[attr-defined]
    q.CALayer = q.CAShapeLayer = q.CATextLayer = Layer  # type: ignore[attr-defined]
    q.transactions = transactions  # type: ignore[attr-defined]

    def CGPathCreateMutable():
        return []

    def CGPathMoveToPoint(path, transform, x, y):
        assert transform is None
        path.append(("move", x, y))

    def CGPathAddLineToPoint(path, transform, x, y):
        assert transform is None
        path.append(("line", x, y))

    def CGPathCloseSubpath(path):
        path.append(("close",))

    def CGPathAddRect(path, transform, rect):
        assert transform is None and len(rect) == 2
        path.append(("rect", rect))

    def CGColorCreateGenericRGB(r, g, b, a):
        return ("rgba", r, g, b, a)

    def CGEventCreate(source):
        assert source is None
        return ("event",)

    def CGEventGetLocation(event):
        return types.SimpleNamespace(x=mouse[0], y=mouse[1])

    for name, value in list(locals().items()):
        if name.startswith("CG"):
            setattr(q, name, value)
    return {"AppKit": ak, "Quartz": q, "PyObjCTools.AppHelper": apphelper(loop)}


def run_main_loop_while(loop: MainRunLoop, work: Callable[[], Any], max_seconds: float = 20.0) -> Any:
    """Run `work` on a helper thread while this (the main) thread runs the console event loop, as
    the capture client does; the loop stops when `work` returns. Returns what `work` returned."""
    outcome: dict[str, Any] = {}
    helper = apphelper(loop)

    def worker() -> None:
        try:
            outcome["value"] = work()
        except BaseException as e:
            outcome["error"] = e
        finally:
            helper.callAfter(loop.stop_event_loop)

    keep_alive = Timer(loop, 3600.0, True, lambda timer: None)
    thread = threading.Thread(target=worker, name="capture-client")
    thread.start()
    try:
        loop.run_console(max_seconds=max_seconds)
    finally:
        keep_alive.invalidate()
        thread.join(5)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# --- ScreenCaptureKit ------------------------------------------------------------------------


def screen_capture_kit(
    displays: Sequence[tuple[int, tuple[float, float, float, float]]],
    server: WindowServer | None,
    make_image: Callable[[Any], Any],
    *,
    answer: str = "ok",
) -> types.ModuleType:
    """`ScreenCaptureKit` as PyObjC binds it: completion handlers `(result, error)` called on a
    thread of the system's choosing (here a new one each time); `answer` "error" fails every call
    with an NSError, "never" never calls back. `displays`: (displayID, global frame x, y, w, h)."""
    sc = types.ModuleType("ScreenCaptureKit")
    sc.calls = []  # type: ignore[attr-defined]

    def later(handler, *args):
        assert len(inspect.signature(handler).parameters) == 2, "completion handlers get (result, error)"
        if answer == "never":
            return
        threading.Thread(target=handler, args=args).start()

    def error(text):
        return types.SimpleNamespace(localizedDescription=lambda: text, code=lambda: -3801)

    class Content:
        def displays(self):
            return [
                types.SimpleNamespace(displayID=lambda i=i: i, frame=lambda f=f: NSRectLike(*f))
                for i, f in displays
            ]

        def windows(self):
            numbers = [1, 2] + (sorted(server.windows) if server is not None else [])
            return [types.SimpleNamespace(windowID=lambda n=n: n) for n in numbers]

    class SCShareableContent:
        @staticmethod
        def getShareableContentWithCompletionHandler_(handler):
            sc.calls.append(("getShareableContent",))  # type: ignore[attr-defined]
            if answer == "error":
                later(handler, None, error("The user declined TCCs for application, window, display capture"))
            else:
                later(handler, Content(), None)

    class SCContentFilter:
        @classmethod
        def alloc(cls):
            return cls()

        def initWithDisplay_excludingWindows_(self, display, windows):
            assert hasattr(display, "displayID"), "first the SCDisplay"
            assert isinstance(windows, list) and all(hasattr(w, "windowID") for w in windows), (
                "then SCWindows"
            )
            self.display, self.excluded = display, [w.windowID() for w in windows]
            return self

    class SCStreamConfiguration:
        @classmethod
        def alloc(cls):
            return cls()

        def init(self):
            self.values: dict[str, Any] = {}
            return self

        def __getattr__(self, name):
            if name.startswith("set") and name.endswith("_"):
                return lambda value: self.values.__setitem__(name[3:-1], value)
            raise AttributeError(name)

    class SCScreenshotManager:
        @staticmethod
        def captureImageWithFilter_configuration_completionHandler_(content_filter, config, handler):
            assert isinstance(content_filter, SCContentFilter) and isinstance(config, SCStreamConfiguration)
            sc.calls.append(("captureImage", content_filter, config))  # type: ignore[attr-defined]
            if answer == "error":
                later(handler, None, error("capture failed"))
            else:
                later(handler, make_image(config), None)

    sc.SCShareableContent = SCShareableContent  # type: ignore[attr-defined]
    sc.SCContentFilter = SCContentFilter  # type: ignore[attr-defined]
    sc.SCStreamConfiguration = SCStreamConfiguration  # type: ignore[attr-defined]
    sc.SCScreenshotManager = SCScreenshotManager  # type: ignore[attr-defined]
    return sc
