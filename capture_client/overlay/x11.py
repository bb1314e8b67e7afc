"""X11 overlay: one small override-redirect window per item, shaped to the item's pixels.

* override-redirect: no window manager frame, no focus, stays where it is put;
* empty input shape (SHAPE, `Input` kind, no rectangles): clicks fall through to the window below;
* bounding shape from a 1-bit mask of the drawing: without a compositor only the arrow, the frame
  and the label exist on screen (with one, the same shaped window shows just as well);
* the drawing is the window's background pixmap, so the server repaints it on exposure and the
  overlay needs no event loop; flying is moving the window.

One python-xlib connection of its own, used under the overlay's lock (the animator's thread and
the capture thread both touch it).
"""

from __future__ import annotations

import math
from typing import Any

from capture_client.backends.x11 import display_name, open_xlib_display
from capture_client.overlay.base import Overlay, OverlayError
from capture_client.overlay.drawing import OUTLINE, Point, Sprite, View

ACCENT = (0x1F, 0x7A, 0xFF)
"""The cursor and frame colour: a saturated blue that reads on light and dark screens."""
EDGE = (0xFF, 0xFF, 0xFF)
LABEL_BG = (0x1F, 0x7A, 0xFF)
LABEL_FG = (0xFF, 0xFF, 0xFF)
FONT = "fixed"
"""The X core font every server has (6x13 cells, as `TextMetrics` assumes)."""


class X11Overlay(Overlay):
    required_extension = "SHAPE"

    def __init__(self, display: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._name = display_name(display)
        self._d: Any = None
        self._window: Any = None
        self._sprite: Sprite | None = None
        self._mapped = False
        self._pixels: dict[tuple[int, int, int], int] = {}

    def _connect(self) -> None:
        from Xlib import error as xerror

        try:
            d = open_xlib_display(self._name, (self.required_extension,))
        except (xerror.DisplayError, OSError) as e:
            raise OverlayError(f"cannot open X display {self._name!r} ({e})") from e
        if not d.has_extension(self.required_extension):
            d.close()
            raise OverlayError(
                f"X display {self._name!r} lacks the {self.required_extension} extension a click-through "
                "overlay needs"
            )
        self._d = d
        self._screen = d.screen()
        self._root = self._screen.root
        self._font = d.open_font(FONT)

    def _pixel(self, rgb: tuple[int, int, int]) -> int:
        if rgb not in self._pixels:
            r, g, b = rgb
            self._pixels[rgb] = self._screen.default_colormap.alloc_color(r * 257, g * 257, b * 257).pixel
        return self._pixels[rgb]

    def _render(self, view: View | None) -> None:
        if view is None:
            if self._window is not None and self._mapped:
                self._window.unmap()
                self._mapped = False
                self._d.sync()
            return
        if view.sprite is not self._sprite or self._window is None:
            self._build(view.sprite)
        window: Any = self._window
        box = view.box
        from Xlib import X

        window.configure(x=math.floor(box.x), y=math.floor(box.y), stack_mode=X.Above)
        if not self._mapped:
            window.map()
            self._mapped = True
        self._d.sync()  # drawn when this returns: a grab or a screenshot right after sees it

    def _build(self, sprite: Sprite) -> None:
        from Xlib import X
        from Xlib.ext import shape

        if self._window is not None:
            self._window.destroy()
            self._window, self._mapped = None, False
        w, h = max(1, int(sprite.width)), max(1, int(sprite.height))
        depth = self._screen.root_depth
        picture = self._root.create_pixmap(w, h, depth)
        mask = self._root.create_pixmap(w, h, 1)
        try:
            self._paint(picture, depth, sprite, colour=True)
            self._paint(mask, 1, sprite, colour=False)
            window = self._root.create_window(
                0,
                0,
                w,
                h,
                0,
                depth,
                X.InputOutput,
                X.CopyFromParent,
                background_pixmap=picture,
                override_redirect=True,
                save_under=True,
                event_mask=0,
            )
            window.shape_mask(shape.SO.Set, shape.SK.Bounding, 0, 0, mask)
            window.shape_rectangles(shape.SO.Set, shape.SK.Input, X.Unsorted, 0, 0, [])
            window.change_property(
                self._d.intern_atom("_NET_WM_WINDOW_TYPE"),
                self._d.intern_atom("ATOM"),
                32,
                [self._d.intern_atom("_NET_WM_WINDOW_TYPE_NOTIFICATION")],
            )
            window.set_wm_name("realtime-mcp overlay")
        finally:
            picture.free()  # the window keeps its own reference to the background
            mask.free()
        self._window, self._sprite = window, sprite

    def _paint(self, target: Any, depth: int, sprite: Sprite, *, colour: bool) -> None:
        from Xlib import X

        def pixel(rgb: tuple[int, int, int]) -> int:
            return self._pixel(rgb) if colour else 1

        gc = target.create_gc(foreground=0, line_width=0, font=self._font)
        try:
            w, h = int(sprite.width), int(sprite.height)
            gc.change(foreground=0)
            target.fill_rectangle(gc, 0, 0, w, h)
            if sprite.arrow:
                points = [(round(x), round(y)) for x, y in sprite.arrow]
                gc.change(foreground=pixel(EDGE), line_width=int(OUTLINE * 2), join_style=X.JoinRound)
                target.poly_line(gc, X.CoordModeOrigin, [*points, points[0]])
                gc.change(foreground=pixel(ACCENT), line_width=0)
                target.fill_poly(gc, X.Nonconvex, X.CoordModeOrigin, points)
            for r in sprite.frame:
                gc.change(foreground=pixel(ACCENT))
                target.fill_rectangle(gc, round(r.x), round(r.y), math.ceil(r.width), math.ceil(r.height))
            if sprite.label_box is not None and sprite.label_origin is not None and sprite.label:
                b = sprite.label_box
                gc.change(foreground=pixel(LABEL_BG))
                target.fill_rectangle(gc, round(b.x), round(b.y), math.ceil(b.width), math.ceil(b.height))
                if colour:
                    gc.change(foreground=pixel(LABEL_FG))
                    ox, oy = sprite.label_origin
                    target.draw_text(
                        gc, round(ox), round(oy), sprite.label.encode("latin-1", "replace").decode("latin-1")
                    )
        finally:
            gc.free()

    def _mouse(self) -> Point | None:
        reply = self._root.query_pointer()
        return (reply.root_x, reply.root_y)

    def _hide(self) -> None:
        if self._window is not None and self._mapped:
            self._window.unmap()
            self._mapped = False
            self._d.sync()

    def _show_again(self) -> None:
        if self._window is not None and self.view is not None and not self._mapped:
            self._window.map()
            self._mapped = True
            self._d.flush()

    def _close(self) -> None:
        try:
            if self._window is not None:
                self._window.destroy()
                self._d.sync()
        finally:
            self._d.close()
