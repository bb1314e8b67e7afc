"""The overlay's decisions, as pure code: what to draw (cursor arrow, label box, highlight frame),
where (which display, flipped to stay on it), how it flies there, and when it goes away.

Platform overlays (X11, macOS) only turn a `View` into windows; everything here is tested on any
machine. Coordinates are pointer space (X11 pixels, macOS points, y down); sizes are in the same
units, so on a Retina display the shapes keep their size in points and gain detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from wire.geometry import DisplayInfo, Rect

Point = tuple[float, float]

FLIGHT_MAX = 0.3
"""Seconds at most for the cursor to fly from its last spot to the new one."""
FLIGHT_MIN = 0.12
FRAME_INTERVAL = 1 / 60
"""Seconds between animation frames while flying; nothing ticks faster."""
WATCH_INTERVAL = 0.1
"""Seconds between checks of the user's mouse while something is shown and still."""
DEFAULT_TIMEOUT = 8.0
MOVED_THRESHOLD = 24.0
"""The user's mouse counts as moved once this far from where it was when we pointed."""
FAR_DISTANCE = 400.0
"""...and the overlay goes once the moved mouse is this far from what it shows."""

# The arrow, tip at (0, 0), in units of `ARROW_UNIT` (a classic 12x19 pointer shape).
_ARROW = ((0, 0), (0, 17), (4, 13), (7, 20), (10, 19), (7, 12), (12, 12))
ARROW_UNIT = 1.6
OUTLINE = 2.0
"""Width of the white outline around the arrow and of the highlight frame's white edges."""
LABEL_GAP = 6.0
LABEL_PAD = 4.0
FRAME_WIDTH = 4.0
"""Thickness of the highlight frame (drawn just outside the area, so the area stays visible)."""


@dataclass(frozen=True, slots=True)
class Sprite:
    """One overlay item in its own coordinates: (0, 0) is the top-left of its bounding box.

    `hotspot` is the point of the sprite that sits on the target (the arrow's tip, or the
    highlight area's top-left), so the sprite's box goes at `target - hotspot`.
    """

    width: float
    height: float
    hotspot: Point
    arrow: tuple[Point, ...] = ()
    """Polygon of the arrow (closed implicitly), empty for a highlight."""
    frame: tuple[Rect, ...] = ()
    """Rectangles making up the highlight outline, empty for a pointer."""
    label_box: Rect | None = None
    label_origin: Point | None = None
    """Where the label's text baseline starts (left, baseline)."""
    label: str | None = None


@dataclass(frozen=True, slots=True)
class TextMetrics:
    """How the platform's label font measures: a fixed cell is enough for the X core font and close
    enough to size a box on macOS (which lays the text out itself)."""

    char_width: float = 6.0
    ascent: float = 10.0
    descent: float = 3.0

    def width(self, text: str) -> float:
        return self.char_width * len(text)


def display_at(displays: list[DisplayInfo], x: float, y: float) -> DisplayInfo | None:
    """The display containing (x, y), else the nearest one (None with no displays)."""
    best, best_d = None, math.inf
    for d in displays:
        dx = max(d.x - x, 0.0, x - (d.x + d.width - 1))
        dy = max(d.y - y, 0.0, y - (d.y + d.height - 1))
        dist = math.hypot(dx, dy)
        if dist < best_d:
            best, best_d = d, dist
    return best


def arrow_polygon(unit: float = ARROW_UNIT) -> tuple[Point, ...]:
    return tuple((x * unit, y * unit) for x, y in _ARROW)


def _label_parts(
    label: str, anchor: Rect, room: Rect | None, metrics: TextMetrics, *, prefer: Literal["right", "above"]
) -> tuple[Rect, Point]:
    """The label's box next to `anchor` (sprite-local), flipped to stay inside `room` (sprite-local)."""
    w = metrics.width(label) + 2 * LABEL_PAD
    h = metrics.ascent + metrics.descent + 2 * LABEL_PAD
    if prefer == "right":
        x, y = anchor.x + anchor.width + LABEL_GAP, anchor.y + anchor.height * 0.55
        if room is not None and x + w > room.x + room.width:
            x = anchor.x - LABEL_GAP - w  # no room on the right: to the left of the arrow
        if room is not None and y + h > room.y + room.height:
            y = room.y + room.height - h  # no room below: lifted, beside or above the tip
    else:
        x, y = anchor.x, anchor.y - LABEL_GAP - h
        if room is not None and y < room.y:
            y = anchor.y + anchor.height + LABEL_GAP  # no room above: below the area
        if room is not None and x + w > room.x + room.width:
            x = max(room.x, anchor.x + anchor.width - w)
    return Rect(x=x, y=y, width=w, height=h), (x + LABEL_PAD, y + LABEL_PAD + metrics.ascent)


def _normalise(
    hotspot: Point,
    arrow: tuple[Point, ...],
    frame: tuple[Rect, ...],
    label: str | None,
    box: Rect | None,
    origin: Point | None,
) -> Sprite:
    """Shift everything so the bounding box starts at (0, 0)."""
    xs = [p[0] for p in arrow] + [r.x for r in frame] + ([box.x] if box else [])
    ys = [p[1] for p in arrow] + [r.y for r in frame] + ([box.y] if box else [])
    xe = [p[0] for p in arrow] + [r.x + r.width for r in frame] + ([box.x + box.width] if box else [])
    ye = [p[1] for p in arrow] + [r.y + r.height for r in frame] + ([box.y + box.height] if box else [])
    pad = OUTLINE  # the arrow's outline is drawn centred on its edges
    left, top = min(xs) - pad, min(ys) - pad
    right, bottom = max(xe) + pad, max(ye) + pad

    def shift(p: Point) -> Point:
        return (p[0] - left, p[1] - top)

    def shift_rect(r: Rect) -> Rect:
        return Rect(x=r.x - left, y=r.y - top, width=r.width, height=r.height)

    return Sprite(
        width=math.ceil(right - left),
        height=math.ceil(bottom - top),
        hotspot=shift(hotspot),
        arrow=tuple(shift(p) for p in arrow),
        frame=tuple(shift_rect(r) for r in frame),
        label_box=shift_rect(box) if box else None,
        label_origin=shift(origin) if origin else None,
        label=label,
    )


def pointer_sprite(
    x: float,
    y: float,
    label: str | None,
    displays: list[DisplayInfo],
    metrics: TextMetrics | None = None,
    unit: float = ARROW_UNIT,
) -> Sprite:
    """The arrow with its tip at the target and the label beside it, kept on the target's display."""
    metrics = metrics or TextMetrics()
    arrow = arrow_polygon(unit)
    box = origin = None
    if label:
        display = display_at(displays, x, y)
        room = (
            None
            if display is None
            else Rect(x=display.x - x, y=display.y - y, width=display.width, height=display.height)
        )
        anchor = Rect(x=0, y=0, width=max(p[0] for p in arrow), height=max(p[1] for p in arrow))
        box, origin = _label_parts(label, anchor, room, metrics, prefer="right")
    return _normalise((0.0, 0.0), arrow, (), label, box, origin)


def highlight_sprite(
    area: Rect, label: str | None, displays: list[DisplayInfo], metrics: TextMetrics | None = None
) -> Sprite:
    """A frame just outside `area` (so what it marks stays visible), the label above it."""
    metrics = metrics or TextMetrics()
    t = FRAME_WIDTH
    w, h = area.width, area.height
    frame = (
        Rect(x=-t, y=-t, width=w + 2 * t, height=t),  # top
        Rect(x=-t, y=h, width=w + 2 * t, height=t),  # bottom
        Rect(x=-t, y=0, width=t, height=h),  # left
        Rect(x=w, y=0, width=t, height=h),  # right
    )
    box = origin = None
    if label:
        display = display_at(displays, area.x + w / 2, area.y + h / 2)
        room = (
            None
            if display is None
            else Rect(x=display.x - area.x, y=display.y - area.y, width=display.width, height=display.height)
        )
        anchor = Rect(x=-t, y=-t, width=w + 2 * t, height=h + 2 * t)
        box, origin = _label_parts(label, anchor, room, metrics, prefer="above")
    return _normalise((0.0, 0.0), (), frame, label, box, origin)


def flight_duration(start: Point, end: Point) -> float:
    """Short hops are quick, long ones take longer, never more than `FLIGHT_MAX`."""
    distance = math.hypot(end[0] - start[0], end[1] - start[1])
    if distance < 1:
        return 0.0
    return min(FLIGHT_MAX, FLIGHT_MIN + distance / 5000)


def ease_out(t: float) -> float:
    t = min(1.0, max(0.0, t))
    return 1 - (1 - t) ** 3


def flight_position(start: Point, end: Point, elapsed: float, duration: float) -> Point:
    if duration <= 0 or elapsed >= duration:
        return end
    k = ease_out(elapsed / duration)
    return (start[0] + (end[0] - start[0]) * k, start[1] + (end[1] - start[1]) * k)


def entry_point(target: Point, displays: list[DisplayInfo]) -> Point:
    """Where a first pointer flies in from: a little up and left of the target, on its display."""
    display = display_at(displays, *target)
    x, y = target[0] - 120, target[1] - 90
    if display is not None:
        x = max(display.x, x)
        y = max(display.y, y)
    return (x, y)


@dataclass(frozen=True, slots=True)
class View:
    """What to show now: a sprite with its hotspot at `at`."""

    sprite: Sprite
    at: Point

    @property
    def box(self) -> Rect:
        """The sprite's bounding box in pointer space."""
        return Rect(
            x=self.at[0] - self.sprite.hotspot[0],
            y=self.at[1] - self.sprite.hotspot[1],
            width=self.sprite.width,
            height=self.sprite.height,
        )


@dataclass(frozen=True, slots=True)
class Tick:
    """The overlay's state at one moment: what to show (None: nothing), and when to look again
    (None: nothing to do until the next point or highlight, so no timer runs)."""

    view: View | None
    next_in: float | None
    hidden_because: str | None = None
    flying: bool = False


@dataclass
class Scene:
    """The overlay's one item and its life: flight, timeout, the user's mouse moving away."""

    timeout: float = DEFAULT_TIMEOUT
    moved_threshold: float = MOVED_THRESHOLD
    far_distance: float = FAR_DISTANCE
    _sprite: Sprite | None = None
    _start: Point = (0.0, 0.0)
    _end: Point = (0.0, 0.0)
    _shown_at: float = 0.0
    _duration: float = 0.0
    _mouse_at_start: Point | None = None
    _target_area: Rect | None = None
    _last_at: Point | None = field(default=None)

    def point(
        self, sprite: Sprite, target: Point, now: float, mouse: Point | None, start: Point | None
    ) -> None:
        """Show a pointer sprite flying to `target`: from where the last one is, else from `start`."""
        origin = self._last_at if self._sprite is not None and self._sprite.arrow else None
        begin = origin or start or target
        self._show(sprite, begin, target, now, mouse, Rect(x=target[0], y=target[1], width=1, height=1))
        self._duration = flight_duration(begin, target)

    def highlight(self, sprite: Sprite, area: Rect, now: float, mouse: Point | None) -> None:
        """Show a highlight frame at once (a rectangle has nowhere to fly from)."""
        self._show(sprite, (area.x, area.y), (area.x, area.y), now, mouse, area)
        self._duration = 0.0

    def _show(
        self, sprite: Sprite, begin: Point, end: Point, now: float, mouse: Point | None, area: Rect
    ) -> None:
        self._sprite, self._start, self._end = sprite, begin, end
        self._shown_at, self._mouse_at_start, self._target_area = now, mouse, area
        self._last_at = begin

    def clear(self) -> None:
        self._sprite = None
        self._last_at = None

    @property
    def showing(self) -> bool:
        return self._sprite is not None

    def tick(self, now: float, mouse: Point | None) -> Tick:
        sprite = self._sprite
        if sprite is None:
            return Tick(None, None)
        why = self._why_hide(now, mouse)
        if why is not None:
            self.clear()
            return Tick(None, None, hidden_because=why)
        elapsed = now - self._shown_at
        at = flight_position(self._start, self._end, elapsed, self._duration)
        self._last_at = at
        left = self.timeout - elapsed
        flying = elapsed < self._duration
        next_in = min(FRAME_INTERVAL, self._duration - elapsed) if flying else WATCH_INTERVAL
        return Tick(View(sprite, at), max(0.0, min(next_in, left)), flying=flying)

    def _why_hide(self, now: float, mouse: Point | None) -> str | None:
        if now - self._shown_at >= self.timeout:
            return "timeout"
        start, area = self._mouse_at_start, self._target_area
        if mouse is None or start is None or area is None:
            return None
        if math.hypot(mouse[0] - start[0], mouse[1] - start[1]) < self.moved_threshold:
            return None
        if _distance_to(area, mouse) > self.far_distance:
            return "the user moved the mouse away"
        return None


def _distance_to(area: Rect, p: Point) -> float:
    dx = max(area.x - p[0], 0.0, p[0] - (area.x + area.width))
    dy = max(area.y - p[1], 0.0, p[1] - (area.y + area.height))
    return math.hypot(dx, dy)


def intersects(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def flip_to_appkit(box: Rect, main_height: float) -> Rect:
    """A pointer-space rectangle (top-left origin, y down) as an AppKit frame (bottom-left origin of
    the main display, y up)."""
    return Rect(x=box.x, y=main_height - box.y - box.height, width=box.width, height=box.height)
