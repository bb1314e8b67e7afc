"""An independent screenshot of an X screen: `xwd -root` (x11-apps), read into a Pillow image.

The XWD file format (X11 XWDFile.h): a header of 25 big-endian CARD32 fields, the window name,
`ncolors` 12-byte colour entries, then the pixels (ZPixmap, `bytes_per_line` per row).
"""

from __future__ import annotations

import struct
import subprocess

from PIL import Image

_FIELDS = [
    "header_size",
    "file_version",
    "pixmap_format",
    "pixmap_depth",
    "pixmap_width",
    "pixmap_height",
    "xoffset",
    "byte_order",
    "bitmap_unit",
    "bitmap_bit_order",
    "bitmap_pad",
    "bits_per_pixel",
    "bytes_per_line",
    "visual_class",
    "red_mask",
    "green_mask",
    "blue_mask",
    "bits_per_rgb",
    "colormap_entries",
    "ncolors",
    "window_width",
    "window_height",
    "window_x",
    "window_y",
    "window_bdrwidth",
]


def parse_xwd(data: bytes) -> Image.Image:
    header = dict(zip(_FIELDS, struct.unpack_from(">25I", data), strict=True))
    if header["pixmap_format"] != 2 or header["bits_per_pixel"] != 32:
        raise ValueError(f"unexpected XWD layout: {header}")
    start = header["header_size"] + 12 * header["ncolors"]
    width, height, stride = header["pixmap_width"], header["pixmap_height"], header["bytes_per_line"]
    raw = "BGRX" if header["byte_order"] == 0 else "XRGB"  # LSBFirst / MSBFirst 32-bit words
    return Image.frombuffer(
        "RGB", (width, height), data[start : start + stride * height], "raw", raw, stride, 1
    )


def screenshot(display: str) -> Image.Image:
    """The whole X screen as the X server has it, taken by xwd (not by the suite's capture code)."""
    result = subprocess.run(
        ["xwd", "-root", "-silent", "-display", display], capture_output=True, timeout=20, check=True
    )
    return parse_xwd(result.stdout)
