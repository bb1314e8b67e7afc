"""Real X servers for tests and benchmarks: start one on a free display number, show a picture on it.

`start_x_server(command)` works for any server that takes `-displayfd` (Xvfb, Xvnc, ...): the
server picks a free display number itself and writes it to the pipe when it accepts connections,
so parallel test runs never collide and nothing polls. Every wait is bounded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import select
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import PIL
from PIL import Image, ImageDraw, ImageFont

from tests.support.process import terminate


class XServerError(RuntimeError):
    pass


@dataclass
class XServer:
    process: subprocess.Popen[bytes]
    display: str
    """The display name, e.g. ":7"."""
    shown: Image.Image | None = field(default=None)
    """The picture on the root window, if `show_picture` was used."""

    def stop(self, timeout: float = 5.0) -> None:
        terminate(self.process, timeout, kill_timeout=timeout)


def start_x_server(command: Sequence[str], *, timeout: float = 15.0) -> XServer:
    """Start `command` (an X server binary and its options) with `-displayfd` and wait until it serves."""
    # A file, not a pipe, for the server's messages: nobody drains it, and a closed pipe would
    # kill the server with SIGPIPE on its next warning. The server keeps its own descriptor.
    with tempfile.TemporaryFile() as log:
        read_fd, write_fd = os.pipe()
        try:
            process = subprocess.Popen(
                [*command, "-displayfd", str(write_fd)],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            os.close(write_fd)
        try:
            number = _read_display_number(read_fd, process, log, command[0], timeout)
        except BaseException:
            if process.poll() is None:
                process.kill()
                process.wait(5)
            raise
        finally:
            os.close(read_fd)
    return XServer(process=process, display=f":{number}")


def _read_display_number(
    fd: int, process: subprocess.Popen[bytes], log: IO[bytes], name: str, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    text = b""
    while not text.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise XServerError(f"{name} did not report a display within {timeout} s")
        chunk = os.read(fd, 64)
        if not chunk:
            process.wait(timeout=5)
            log.seek(0)
            raise XServerError(f"{name} exited before serving: {log.read()[-2000:].decode(errors='replace')}")
        text += chunk
    return int(text.strip())


# Nothing here draws with OpenGL: without GLX a server skips loading Mesa, about 40% of what starting
# and stopping one costs (the suite starts ~90).
NO_GLX = ("-extension", "GLX")


def xvfb_command(width: int = 2560, height: int = 1600, depth: int = 24) -> list[str]:
    return ["Xvfb", "-screen", "0", f"{width}x{height}x{depth}", "-nolisten", "tcp", "-noreset", *NO_GLX]


@contextmanager
def running_xvfb(
    width: int = 2560, height: int = 1600, *, picture: Image.Image | None = None
) -> Iterator[XServer]:
    """An Xvfb of the given size showing `picture` (default: a busy UI picture) until the block ends."""
    server = start_x_server(xvfb_command(width, height))
    try:
        show_picture(server, picture if picture is not None else busy_ui_picture(width, height))
        yield server
    finally:
        server.stop()


def show_picture(server: XServer, picture: Image.Image) -> None:
    """Make `picture` the root window's background, so every capture of the screen shows it."""
    from Xlib import X

    from capture_client.backends.x11 import open_xlib_display

    d = open_xlib_display(server.display, ())
    try:
        screen = d.screen()
        root = screen.root
        # Converted and cropped only when needed: each is a copy of the whole picture (16 MB at
        # 2560x1600, ~25 ms), and most tests show one that already fits.
        if picture.mode != "RGB":
            picture = picture.convert("RGB")
        size = (screen.width_in_pixels, screen.height_in_pixels)
        if picture.size != size:
            picture = picture.crop((0, 0, *size))
        pixmap = root.create_pixmap(picture.width, picture.height, screen.root_depth)
        gc = pixmap.create_gc()
        pixels = picture.tobytes("raw", "BGRX")  # encoded once, sent in slices
        stride = picture.width * 4
        # Requests are capped (no BIG-REQUESTS in python-xlib): send the picture in bands of rows.
        rows = max(1, (200 * 1024) // stride)
        for top in range(0, picture.height, rows):
            height = min(picture.height, top + rows) - top
            band = pixels[top * stride : (top + height) * stride]
            pixmap.put_image(gc, 0, top, picture.width, height, X.ZPixmap, screen.root_depth, 0, band)
            d.flush()  # band by band: python-xlib re-slices its whole output buffer after each send
        root.change_attributes(background_pixmap=pixmap)
        root.clear_area(0, 0, 0, 0)
        gc.free()
        pixmap.free()  # the root window keeps its own reference to its background
        d.sync()
    finally:
        d.close()
    server.shown = picture


def pointer_position(display: str) -> tuple[int, int]:
    """Where the X server says the pointer is."""
    from capture_client.backends.x11 import open_xlib_display

    d = open_xlib_display(display, ())
    try:
        reply = d.screen().root.query_pointer()
        return (reply.root_x, reply.root_y)
    finally:
        d.close()


def busy_ui_picture(width: int, height: int, *, seed: int = 7) -> Image.Image:
    """A desktop-like picture: gradient wallpaper, overlapping windows with title bars, text, buttons,
    icons and a chart. Realistic for compression and downscaling (not flat, not noise)."""
    drawn = _drawn_busy_ui_picture(width, height, seed)
    # Callers may draw on theirs: a read-only image over the shared pixels, which Pillow copies before
    # its first change (paste, ImageDraw, putpixel; pixel access refuses). An eager copy is 16 MB and
    # ~25 ms at 2560x1600, for every X server a test starts.
    picture = drawn._new(drawn.im)
    picture.readonly = 1
    return picture


PICTURES = Path(tempfile.gettempdir()) / f"realtime-mcp-test-pictures-{os.getuid()}"


@functools.cache
def _drawn_busy_ui_picture(width: int, height: int, seed: int) -> Image.Image:
    """Drawn once per size on a machine (~0.3 s of CPU at 2560x1600, and every test process that starts
    an X server shows one), kept as raw RGB under PICTURES, named for the drawing code and Pillow."""
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    path = PICTURES / f"busy-{width}x{height}-{seed}-{code}-{PIL.__version__}.rgb"
    try:
        return Image.frombytes("RGB", (width, height), path.read_bytes())
    except (OSError, ValueError):  # not drawn yet, or cut short
        pass
    image = _draw_busy_ui_picture(width, height, seed)
    PICTURES.mkdir(mode=0o700, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}")
    part.write_bytes(image.tobytes())
    part.replace(path)  # whole or absent, whichever worker writes first
    return image


def _draw_busy_ui_picture(width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height))
    # Wallpaper: a vertical gradient drawn as a 1-pixel column, then stretched.
    column = Image.new("RGB", (1, 256))
    column.putdata([(20 + i // 4, 60 + i // 3, 110 + i // 3) for i in range(256)])
    image.paste(column.resize((width, height), Image.Resampling.BILINEAR))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, height // 110))
    title_font = ImageFont.load_default(size=max(11, height // 95))
    line_height = max(12, height // 80)
    words = [
        "file",
        "edit",
        "view",
        "window",
        "help",
        "project",
        "render",
        "export",
        "layer",
        "brush",
        "modifier",
        "object",
        "mesh",
        "scene",
        "camera",
        "light",
        "material",
        "timeline",
        "keyframe",
        "node",
        "shader",
        "texture",
        "viewport",
        "settings",
        "preferences",
    ]
    # Menu bar and dock.
    draw.rectangle((0, 0, width, line_height + 8), fill=(236, 236, 236))
    for i, word in enumerate(words[:8]):
        draw.text((12 + i * (width // 20), 4), word.title(), fill=(20, 20, 20), font=font)
    for n in range(max(3, width // 250)):
        w = rng.randint(width // 5, width // 2)
        h = rng.randint(height // 5, height // 2)
        x = rng.randint(0, width - w)
        y = rng.randint(line_height + 10, height - h)
        tint = rng.choice([(250, 250, 250), (40, 42, 48), (245, 240, 230)])
        ink = (25, 25, 25) if sum(tint) > 400 else (220, 220, 220)
        draw.rectangle((x + 6, y + 6, x + w + 6, y + h + 6), fill=(0, 0, 0))  # shadow
        draw.rectangle((x, y, x + w, y + h), fill=tint, outline=(120, 120, 120))
        bar = line_height + 10
        draw.rectangle((x, y, x + w, y + bar), fill=(200, 200, 205) if sum(tint) > 400 else (60, 62, 70))
        for k, color in enumerate([(255, 95, 87), (254, 188, 46), (40, 200, 64)]):
            cx = x + 12 + k * (bar - 2)
            draw.ellipse((cx, y + 5, cx + bar - 10, y + bar - 5), fill=color)
        draw.text((x + 5 * bar, y + 4), f"Window {n + 1} - {rng.choice(words)}", fill=ink, font=title_font)
        # Sidebar with icons, then lines of text, then a few buttons and a chart.
        side = w // 5
        draw.rectangle((x, y + bar, x + side, y + h), fill=tuple(max(0, c - 18) for c in tint))
        for row in range(y + bar + 8, y + h - line_height, line_height + 6):
            color = (rng.randint(40, 230), rng.randint(40, 230), rng.randint(40, 230))
            draw.rectangle((x + 8, row, x + 8 + line_height - 2, row + line_height - 2), fill=color)
            draw.text((x + 14 + line_height, row), rng.choice(words), fill=ink, font=font)
        text_x = x + side + 12
        for row in range(y + bar + 10, y + h - 3 * line_height, line_height + 4):
            line = " ".join(rng.choice(words) for _ in range(max(2, (w - side) // (line_height * 5))))
            draw.text((text_x, row), line, fill=ink, font=font)
        chart_w, chart_h = (w - side) // 3, h // 4
        cx0, cy0 = x + w - chart_w - 12, y + h - chart_h - 12
        draw.rectangle((cx0, cy0, cx0 + chart_w, cy0 + chart_h), fill=(255, 255, 255), outline=(90, 90, 90))
        bars = 12
        for b in range(bars):
            bh = rng.randint(chart_h // 10, chart_h - 4)
            bx = cx0 + 4 + b * (chart_w - 8) // bars
            draw.rectangle(
                (bx, cy0 + chart_h - bh, bx + (chart_w - 8) // bars - 3, cy0 + chart_h - 2),
                fill=(66, 133, 244),
            )
        for b in range(3):
            bx = text_x + b * (line_height * 7)
            by = y + h - 2 * line_height - 6
            draw.rounded_rectangle(
                (bx, by, bx + line_height * 6, by + line_height + 8), radius=6, fill=(0, 122, 255)
            )
            draw.text((bx + 10, by + 4), rng.choice(words).title(), fill=(255, 255, 255), font=font)
    return image
