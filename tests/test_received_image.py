"""`check_image`: what the hub verifies about an image a capture client sent, before trusting it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from servers.hub.received_image import BadImageError, check_image

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def encoded(mime_type: str, width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(out, FORMATS[mime_type])
    return out.getvalue()


@pytest.mark.parametrize("mime_type", sorted(FORMATS))
def test_an_image_of_the_declared_type_and_size_passes(mime_type):
    check_image(encoded(mime_type, 64, 40), mime_type, 64, 40)


@pytest.mark.parametrize("mime_type", sorted(FORMATS))
@pytest.mark.parametrize(("width", "height"), [(32, 40), (64, 20), (40, 64)])
def test_a_correctly_typed_image_of_another_size_is_refused(mime_type, width, height):
    with pytest.raises(BadImageError, match=f"image is {width}x{height}, its header says 64x40"):
        check_image(encoded(mime_type, width, height), mime_type, 64, 40)


def test_an_image_of_another_type_than_declared_is_refused():
    with pytest.raises(BadImageError, match="not a readable JPEG image"):
        check_image(encoded("image/png", 64, 40), "image/jpeg", 64, 40)


def test_an_unsupported_type_is_refused():
    with pytest.raises(BadImageError, match="unsupported image type 'image/gif'"):
        check_image(b"GIF89a", "image/gif", 1, 1)
