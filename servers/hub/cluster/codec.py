"""Messages between replicas: a JSON header, a newline, then raw bytes (a frame's pixels or nothing).

`json.dumps` never writes a raw newline, so the first one ends the header and the pixels travel
as they are (no base64). Pure functions, tested directly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from servers.hub.cluster.errors import CallNotHere, ClusterUnavailableError
from servers.hub.device import (
    BlackFrameError,
    CaptureRequest,
    CaptureRequestError,
    CaptureTimeoutError,
    DeviceError,
    DeviceUnavailableError,
    Frame,
    NoDisplayError,
    PointerResult,
)
from servers.hub.frames import StaleLayoutError, UnknownFrameError
from wire.geometry import DisplayInfo, FrameGeometry, GeometryError, Rect


class MessageError(ValueError):
    """Bytes on a channel that are not a message of this suite."""


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    header: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""


def encode(kind: str, payload: bytes = b"", **header: Any) -> bytes:
    return json.dumps({"k": kind, **header}, separators=(",", ":")).encode() + b"\n" + payload


def decode(data: bytes) -> Message:
    head, sep, payload = data.partition(b"\n")
    if not sep:
        raise MessageError("no header line")
    try:
        header = json.loads(head)
    except ValueError as e:
        raise MessageError("the header is not JSON") from e
    if not isinstance(header, dict) or not isinstance(header.get("k"), str):
        raise MessageError("the header has no kind")
    kind = header.pop("k")
    return Message(kind, header, payload)


# --- device calls --------------------------------------------------------------------------


def capture_request_body(request: CaptureRequest) -> dict[str, Any]:
    body = asdict(request)
    body["region"] = request.region.model_dump() if request.region is not None else None
    return body


def capture_request_from(body: dict[str, Any]) -> CaptureRequest:
    region = body.get("region")
    return CaptureRequest(
        display=body.get("display"),
        region=Rect.model_validate(region) if region is not None else None,
        max_edge=int(body.get("max_edge", 1280)),
        format=body.get("format", "jpeg"),
        quality=int(body.get("quality", 80)),
    )


def frame_body(frame: Frame) -> tuple[dict[str, Any], bytes]:
    """A frame as a header and its pixels."""
    return {
        "mime_type": frame.mime_type,
        "geometry": frame.geometry.model_dump(),
        "captured_at": frame.captured_at,
        "stale_reason": frame.stale_reason,
        "frame_id": frame.frame_id,
        "layout_epoch": frame.layout_epoch,
    }, frame.data


def frame_from(body: dict[str, Any], data: bytes) -> Frame:
    return Frame(
        data=data,
        mime_type=str(body["mime_type"]),
        geometry=FrameGeometry.model_validate(body["geometry"]),
        captured_at=float(body["captured_at"]),
        stale_reason=body.get("stale_reason"),
        frame_id=str(body.get("frame_id", "")),
        layout_epoch=int(body.get("layout_epoch", 0)),
    )


def pointer_body(result: PointerResult) -> dict[str, Any]:
    return asdict(result)


def pointer_from(body: dict[str, Any]) -> PointerResult:
    return PointerResult(**body)


def displays_body(displays: list[DisplayInfo]) -> list[dict[str, Any]]:
    return [d.model_dump() for d in displays]


def displays_from(body: list[dict[str, Any]]) -> list[DisplayInfo]:
    return [DisplayInfo.model_validate(d) for d in body]


# --- errors --------------------------------------------------------------------------------

# The domain errors a replica may answer with; the asking replica raises the same type, so the
# model reads the same message wherever its call landed.
KNOWN_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        DeviceError,
        NoDisplayError,
        DeviceUnavailableError,
        CaptureTimeoutError,
        CaptureRequestError,
        BlackFrameError,
        UnknownFrameError,
        StaleLayoutError,
        GeometryError,
        ClusterUnavailableError,
        CallNotHere,
    )
}


def error_body(error: Exception) -> dict[str, str]:
    name = type(error).__name__
    if name not in KNOWN_ERRORS:
        # Only domain errors cross: anything else is a bug on the other replica, logged there.
        return {"type": "DeviceError", "message": "the replica holding the device failed (see its logs)"}
    return {"type": name, "message": str(error)}


def error_from(body: dict[str, Any]) -> Exception:
    cls = KNOWN_ERRORS.get(str(body.get("type")), DeviceError)
    return cls(str(body.get("message", "the replica holding the device failed")))
