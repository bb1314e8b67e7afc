"""macOS overlay: one borderless, transparent, click-through NSWindow per screen, drawn with Core
Animation layers on the main thread's run loop (through PyObjC). Imported only on macOS.

Each window covers its NSScreen at screen-saver level, ignores mouse events, joins all Spaces and
shows over full-screen apps. The item being shown is one layer per window (arrow or frame, label),
placed in AppKit coordinates (bottom-left origin of the main screen, y up) from pointer space;
sub-layers are laid out top-down (`geometryFlipped`) as `drawing.Sprite` describes them.

AppKit must be used on the main thread: every window and layer change goes through
`AppHelper.callAfter`. The capture client runs the Cocoa event loop there; a process without one
(the server's own display on a Mac) cannot show the overlay, and says so.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any

from capture_client.overlay.base import Overlay, OverlayError
from capture_client.overlay.drawing import OUTLINE, Point, Sprite, View, flip_to_appkit, intersects
from wire.geometry import DisplayInfo, Rect

MAIN_WAIT = 2.0
"""Seconds to wait for the main run loop to build or hide the windows."""

# AppKit constants (NSWindow.h, NSGraphics.h), as PyObjC exposes them.
NS_WINDOW_STYLE_MASK_BORDERLESS = 0
NS_BACKING_STORE_BUFFERED = 2
NS_SCREEN_SAVER_WINDOW_LEVEL = 1000
NS_COLLECTION_CAN_JOIN_ALL_SPACES = 1 << 0
NS_COLLECTION_STATIONARY = 1 << 4
NS_COLLECTION_FULL_SCREEN_AUXILIARY = 1 << 8
COLLECTION_BEHAVIOUR = (
    NS_COLLECTION_CAN_JOIN_ALL_SPACES | NS_COLLECTION_STATIONARY | NS_COLLECTION_FULL_SCREEN_AUXILIARY
)

ACCENT = (0x1F / 255, 0x7A / 255, 0xFF / 255)
LABEL_FONT_SIZE = 12.0


@dataclass
class _ScreenWindow:
    window: Any
    frame: Rect
    """The screen's frame in AppKit coordinates."""
    layer: Any
    """The item's layer in this window (hidden when the item is not on this screen)."""
    scale: float


class MacOverlay(Overlay):
    def __init__(self, *, modules: dict[str, Any] | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._given = modules or {}
        self._windows: list[_ScreenWindow] = []
        self._main_height = 0.0
        self._sprite: Sprite | None = None
        self._layout: tuple = ()

    def _module(self, name: str) -> Any:
        if name in self._given:
            return self._given[name]
        try:
            return importlib.import_module(name)
        except ImportError as e:
            raise OverlayError(
                f"the macOS overlay needs PyObjC ({name}): pip install 'realtime-mcp[macos]'"
            ) from e

    # --- main-thread plumbing --------------------------------------------------------------

    def _on_main(self, work: Any, what: str) -> None:
        """Run `work` on the main run loop and wait for it (bounded)."""
        done = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                work()
            except BaseException as e:  # handed back to the caller's thread
                errors.append(e)
            finally:
                done.set()

        self._apphelper.callAfter(run)
        if not done.wait(MAIN_WAIT):
            raise OverlayError(
                f"{what}: the main thread's Cocoa event loop did not answer within {MAIN_WAIT:g} s (the "
                "overlay runs in the capture client, which runs that loop)"
            )
        if errors:
            raise OverlayError(f"{what} failed: {errors[0]}") from errors[0]

    # --- Overlay ----------------------------------------------------------------------------

    def _connect(self) -> None:
        self._appkit = self._module("AppKit")
        self._quartz = self._module("Quartz")
        self._apphelper = self._module("PyObjCTools.AppHelper")
        self._on_main(self._build_windows, "opening the overlay windows")

    def _follow_layout(self, displays: list[DisplayInfo]) -> None:
        """A screen added, removed or resized: new windows for the new screens."""
        layout = tuple((d.x, d.y, d.width, d.height) for d in displays)
        if not self._layout:
            self._layout = layout
        elif layout != self._layout:
            self._layout = layout

            def rebuild() -> None:
                self._close_windows()
                self._sprite = None
                self._build_windows()

            with self._lock:
                self._on_main(rebuild, "following the new screen layout")

    def window_ids(self) -> list[int]:
        """The window numbers to leave out of captures (ScreenCaptureKit's content filter)."""
        return [int(w.window.windowNumber()) for w in self._windows]

    def _build_windows(self) -> None:
        ak, q = self._appkit, self._quartz
        screens = list(ak.NSScreen.screens() or ())
        if not screens:
            raise OverlayError("macOS reports no screen")
        # Screen 0 holds the menu bar: AppKit's y axis starts at its bottom edge.
        self._main_height = float(screens[0].frame().size.height)
        for screen in screens:
            f = screen.frame()
            window = ak.NSWindow.alloc().initWithContentRect_styleMask_backing_defer_(
                f, NS_WINDOW_STYLE_MASK_BORDERLESS, NS_BACKING_STORE_BUFFERED, False
            )
            window.setOpaque_(False)
            window.setBackgroundColor_(ak.NSColor.clearColor())
            window.setHasShadow_(False)
            window.setLevel_(NS_SCREEN_SAVER_WINDOW_LEVEL)
            window.setIgnoresMouseEvents_(True)
            window.setCollectionBehavior_(COLLECTION_BEHAVIOUR)
            window.setReleasedWhenClosed_(False)
            view = window.contentView()
            view.setWantsLayer_(True)
            layer = q.CALayer.layer()
            layer.setGeometryFlipped_(True)  # sub-layers laid out top-down, as the sprite is
            layer.setHidden_(True)
            view.layer().addSublayer_(layer)
            window.orderFrontRegardless()
            frame = Rect(x=f.origin.x, y=f.origin.y, width=f.size.width, height=f.size.height)
            self._windows.append(_ScreenWindow(window, frame, layer, float(screen.backingScaleFactor())))

    def _render(self, view: View | None) -> None:
        # Animation frames are queued for the main thread without waiting: it draws them in order.
        self._apphelper.callAfter(self._apply, view)

    def _hide(self) -> None:
        self._on_main(lambda: self._apply(None), "hiding the overlay for a capture")

    def _show_again(self) -> None:
        self._apphelper.callAfter(self._apply, self.view)

    def _mouse(self) -> Point | None:
        q = self._quartz
        location = q.CGEventGetLocation(q.CGEventCreate(None))  # pointer space, any thread
        return (float(location.x), float(location.y))

    def _close(self) -> None:
        self._apphelper.callAfter(self._close_windows)

    def _close_windows(self) -> None:
        windows, self._windows = self._windows, []
        for w in windows:
            w.window.orderOut_(None)
            w.window.close()

    # --- on the main thread ------------------------------------------------------------------

    def _apply(self, view: View | None) -> None:
        q = self._quartz
        q.CATransaction.begin()
        q.CATransaction.setDisableActions_(True)  # the animator moves it; no implicit animation on top
        try:
            if view is None:
                for w in self._windows:
                    w.layer.setHidden_(True)
                return
            if view.sprite is not self._sprite:
                for w in self._windows:
                    self._draw(w, view.sprite)
                self._sprite = view.sprite
            box = flip_to_appkit(view.box, self._main_height)
            for w in self._windows:
                if not intersects(box, w.frame):
                    w.layer.setHidden_(True)
                    continue
                w.layer.setFrame_(((box.x - w.frame.x, box.y - w.frame.y), (box.width, box.height)))
                w.layer.setHidden_(False)
        finally:
            q.CATransaction.commit()

    def _draw(self, w: _ScreenWindow, sprite: Sprite) -> None:
        q = self._quartz
        accent = q.CGColorCreateGenericRGB(*ACCENT, 1.0)
        white = q.CGColorCreateGenericRGB(1.0, 1.0, 1.0, 1.0)
        parts = []
        if sprite.arrow:
            path = q.CGPathCreateMutable()
            (x0, y0), *rest = sprite.arrow
            q.CGPathMoveToPoint(path, None, x0, y0)
            for x, y in rest:
                q.CGPathAddLineToPoint(path, None, x, y)
            q.CGPathCloseSubpath(path)
            arrow = q.CAShapeLayer.layer()
            arrow.setPath_(path)
            arrow.setFillColor_(accent)
            arrow.setStrokeColor_(white)
            arrow.setLineWidth_(OUTLINE)
            parts.append(arrow)
        if sprite.frame:
            path = q.CGPathCreateMutable()
            for r in sprite.frame:
                q.CGPathAddRect(path, None, ((r.x, r.y), (r.width, r.height)))
            frame = q.CAShapeLayer.layer()
            frame.setPath_(path)
            frame.setFillColor_(accent)
            parts.append(frame)
        if sprite.label and sprite.label_box is not None:
            b = sprite.label_box
            box = q.CALayer.layer()
            box.setFrame_(((b.x, b.y), (b.width, b.height)))
            box.setBackgroundColor_(accent)
            box.setCornerRadius_(4.0)
            text = q.CATextLayer.layer()
            text.setString_(sprite.label)
            text.setFontSize_(LABEL_FONT_SIZE)
            text.setForegroundColor_(white)
            text.setContentsScale_(w.scale)  # sharp text on a Retina screen
            text.setFrame_(((4.0, 3.0), (b.width - 8.0, b.height - 6.0)))
            box.addSublayer_(text)
            parts.append(box)
        for part in parts:
            part.setContentsScale_(w.scale)
        w.layer.setSublayers_(parts)
