"""Checks on an image a capture client sent, before the hub trusts or forwards it."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from wire.protocol import MAX_IMAGE_PIXELS

PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class BadImageError(ValueError):
    """The bytes are not the image their header promised."""


def check_image(data: bytes, mime_type: str, width: int, height: int) -> None:
    """The image parses as `mime_type`, is `width` x `height`, and is no decompression bomb.

    Only the header is read (Pillow decodes lazily), so this costs microseconds; Pillow's own
    decompression-bomb check runs on the declared size inside `Image.open`, and a warning-level
    bomb is treated as an error too.
    """
    fmt = PIL_FORMATS.get(mime_type)
    if fmt is None:
        raise BadImageError(f"unsupported image type {mime_type!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                size = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImageError(f"image refused as a decompression bomb: {e}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadImageError(f"not a readable {fmt} image") from e
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise BadImageError(f"image of {size[0]}x{size[1]} pixels exceeds the {MAX_IMAGE_PIXELS} pixel cap")
    if size != (width, height):
        raise BadImageError(f"image is {size[0]}x{size[1]}, its header says {width}x{height}")
