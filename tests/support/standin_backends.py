"""In-process stand-ins for a screen and a pointer, whose layout and pixels a test sets: for the capture
logic around the backends (guard, fallbacks, reconnects). Real X servers test the backends themselves."""

from __future__ import annotations

from capture_client.backends.base import Backends, PointerBackend, RawCapture, ScreenBackend
from wire.geometry import Rect
from wire.protocol import DisplayInfo


def one_display(width: int, height: int) -> DisplayInfo:
    return DisplayInfo(index=0, x=0, y=0, width=width, height=height, pixel_width=width, pixel_height=height)


class StandInScreen(ScreenBackend):
    """One display of `size`, every pixel `level` (0: a black screen). `resize_during_next_grab` changes the
    real screen as the next grab runs, the way a mode change lands between reading the layout and copying."""

    def __init__(self, width: int = 320, height: int = 200) -> None:
        self.size = (width, height)
        self.level = 128
        self.resize_during_next_grab: tuple[int, int] | None = None
        self.grabs = 0

    def displays(self) -> list[DisplayInfo]:
        return [one_display(*self.size)]

    def grab(self, area: Rect) -> RawCapture:
        self.grabs += 1
        if self.resize_during_next_grab is not None:
            self.size, self.resize_during_next_grab = self.resize_during_next_grab, None
        w, h = int(area.width), int(area.height)
        return RawCapture(bytes([self.level]) * (w * h * 4), w, h, w * 4, "BGRX", area)


class StillPointer(PointerBackend):
    def move(self, x: float, y: float) -> tuple[float, float]:
        return x, y

    def position(self) -> tuple[float, float]:
        return 0.0, 0.0


def standin_backends(screen: StandInScreen) -> Backends:
    return Backends(screen=screen, pointer=StillPointer(), platform="stand-in")
