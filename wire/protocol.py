"""The device wire protocol between the hub and a capture client (version 1).

One WebSocket per device, opened by the capture client (it connects *out*, so the server can run
anywhere). Control messages are JSON text messages, one object each, told apart by `type`.
Images travel as ONE binary WebSocket message: a 4-byte big-endian header length, the UTF-8 JSON
header (a `frame` message), then the encoded image bytes. One message per frame keeps header and
pixels together (nothing to pair up, nothing to arrive out of order) and skips base64, which would
cost a third more bytes plus an encode and a decode per frame.

Conversation:

0. The bearer token rides in the upgrade request's `Authorization` header, never in a message; the
   hub checks it before accepting and refuses with HTTP 401 / 403 (no socket opens).
1. client -> hub  `hello` (protocol version, device id, client version, displays); the device id
   must be the token's, or left out.
2. hub -> client  `welcome` (heartbeat interval, caps), or `error` + close (version, wrong device).
3. Either way, any time: `ping` -> `pong`. Silence for three `heartbeat_interval`s is a dead link.
4. hub -> client  `capture` / `move_pointer` / `highlight`, each with a `request_id`.
   client -> hub  binary `frame` (with `request_id`) / `pointer_done` / `request_failed`.
5. client -> hub  unprompted binary `frame` with `pushed: true` (push-to-talk), `talk` (`press` /
   `release` of the push-to-talk hotkey; a press comes before its pushed frame), and
   `displays_changed` whenever the layout changed (after the display guard settled).
6. Either side  `error` for a message it could not take; the connection stays up.
7. hub -> client  fatal `error` `token_expired` + close 1008 when a minted token's `exp` passes.

Everything here is pure: parsing, validation and encoding, tested directly.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from wire.geometry import DisplayInfo, FrameGeometry, Rect

PROTOCOL_VERSION = 1

MAX_TEXT_BYTES = 64 * 1024
"""Cap on one JSON control message (a hello with 32 displays is about 8 KB)."""
MAX_HEADER_BYTES = 16 * 1024
"""Cap on a binary frame's JSON header."""
MAX_IMAGE_BYTES = 12 * 1024 * 1024
"""Cap on one encoded image (a full-resolution 5K PNG fits; defaults are ~150 KB JPEG)."""
MAX_IMAGE_PIXELS = 8192 * 8192
"""Cap on a received image's pixel count, checked before decoding."""
MAX_DISPLAYS = 32
MAX_ID_CHARS = 64
ID_PATTERN = rf"^[A-Za-z0-9_.:-]{{1,{MAX_ID_CHARS}}}$"
"""Device ids (and request ids): what a token may name and a hello may claim."""
DEVICE_PATH = "/devices/connect"
"""The hub's WebSocket path capture clients connect to."""
MISSED_HEARTBEATS = 3
"""A link silent for this many heartbeat intervals is dead (either side)."""

_HEADER_LEN = struct.Struct(">I")

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
Text = Annotated[str, Field(max_length=2000)]
ImageMime = Literal["image/jpeg", "image/png", "image/webp"]


class ProtocolError(ValueError):
    """A message that breaks the protocol; `code` goes back to the peer in an `error` message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    _omit_when_default: ClassVar[tuple[str, ...]] = ()
    """Fields added later (the overlay's): left out of the JSON while they hold their default, so a
    peer that predates them (and forbids unknown fields) still reads the message."""


# --- client -> hub ----------------------------------------------------------------------


class Hello(_Message):
    """First message from a capture client."""

    type: Literal["hello"] = "hello"
    protocol_version: int
    device_id: Id | None = None
    """The device this client says it is; None lets the hub take it from the token."""
    client_version: Annotated[str, Field(max_length=64)] = ""
    platform: Annotated[str, Field(max_length=64)] = ""
    displays: Annotated[list[DisplayInfo], Field(max_length=MAX_DISPLAYS)]
    can_push: bool = False
    """Whether the client may push frames unprompted (a push-to-talk hotkey is armed)."""


class FrameHeader(_Message):
    """The JSON header of a binary frame message; the image bytes follow it."""

    type: Literal["frame"] = "frame"
    request_id: Id | None = None
    """The `capture` this answers; None for a pushed frame."""
    pushed: bool = False
    geometry: FrameGeometry
    mime_type: ImageMime
    captured_at: float
    """`time.time()` on the client when the pixels were grabbed."""
    size: int = Field(ge=1, le=MAX_IMAGE_BYTES)
    """Length of the image bytes that follow, checked against what arrived."""


class PointerDone(_Message):
    """The pointer moved (answer to `move_pointer` or `highlight`)."""

    type: Literal["pointer_done"] = "pointer_done"
    request_id: Id
    x: float
    y: float
    display: int | None = None
    overlay: bool | None = None
    """Whether the overlay shows the spot (None from a client that predates the overlay, whose
    pointer moved; a hub that predates it refuses these fields: update the hub first)."""
    pointer_moved: bool | None = None
    note: Text | None = None
    """Why the overlay is not shown, when it is not."""

    _omit_when_default = ("overlay", "pointer_moved", "note")


FailureCode = Literal["reconfiguring", "black", "no_display", "bad_request", "permission", "error"]


class RequestFailed(_Message):
    """A request the client could not carry out; `code` says whether waiting would help."""

    type: Literal["request_failed"] = "request_failed"
    request_id: Id
    code: FailureCode
    message: Text
    retry_after: float | None = None
    """Seconds after which the same request would likely succeed (the display is settling)."""


class Talk(_Message):
    """The user pressed or released the push-to-talk hotkey (added in 0.2, protocol version 1: a hub
    that predates it answers a non-fatal `error`). A press is followed by a pushed frame."""

    type: Literal["talk"] = "talk"
    state: Literal["press", "release"]


class DisplaysChanged(_Message):
    """The display layout changed; frames taken before this describe a layout that is gone."""

    type: Literal["displays_changed"] = "displays_changed"
    displays: Annotated[list[DisplayInfo], Field(max_length=MAX_DISPLAYS)]
    reason: Annotated[str, Field(max_length=200)] = ""


# --- hub -> client ----------------------------------------------------------------------


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    protocol_version: int = PROTOCOL_VERSION
    device_id: Id
    server_version: Annotated[str, Field(max_length=64)] = ""
    heartbeat_interval: float = Field(gt=0)
    """Seconds between pings; a peer silent for 3 intervals is treated as gone."""
    max_image_bytes: int = MAX_IMAGE_BYTES


class Capture(_Message):
    """Ask for a fresh frame. Fields mirror the hub's `CaptureRequest`."""

    type: Literal["capture"] = "capture"
    request_id: Id
    display: int | Literal["all"] | None = None
    region: Rect | None = None
    max_edge: int = Field(default=1280, ge=16, le=8192)
    format: Literal["jpeg", "png", "webp"] = "jpeg"
    quality: int = Field(default=80, ge=1, le=100)
    wait: float = Field(default=5.0, ge=0, le=60)
    """How long the hub will wait; the client may hold the request that long for a settling display."""


class MovePointer(_Message):
    """Point at (x, y): the client draws its overlay there (an older client moves the pointer
    instead) and moves the user's pointer only with `move_cursor`."""

    type: Literal["move_pointer"] = "move_pointer"
    request_id: Id
    x: float
    y: float
    label: Annotated[str, Field(max_length=200)] | None = None
    move_cursor: bool = False

    _omit_when_default = ("label", "move_cursor")


class Highlight(_Message):
    type: Literal["highlight"] = "highlight"
    request_id: Id
    area: Rect
    label: Annotated[str, Field(max_length=200)] | None = None
    move_cursor: bool = False

    _omit_when_default = ("move_cursor",)


# --- either way -------------------------------------------------------------------------


class Ping(_Message):
    type: Literal["ping"] = "ping"
    seq: int = 0


class Pong(_Message):
    type: Literal["pong"] = "pong"
    seq: int = 0


class ErrorMessage(_Message):
    """A message the sender of this could not take; `request_id` when it concerned one."""

    type: Literal["error"] = "error"
    code: Annotated[str, Field(max_length=64)]
    message: Text
    request_id: str | None = None
    fatal: bool = False
    """The connection closes after this (unsupported version, wrong device, token expired): do not
    retry as is."""


ClientMessage = Hello | PointerDone | RequestFailed | DisplaysChanged | Talk | Ping | Pong | ErrorMessage
HubMessage = Welcome | Capture | MovePointer | Highlight | Ping | Pong | ErrorMessage

_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(
    Annotated[ClientMessage, Field(discriminator="type")]
)
_hub_adapter: TypeAdapter[HubMessage] = TypeAdapter(Annotated[HubMessage, Field(discriminator="type")])


MAX_NUMBER_CHARS = 40
"""Longest number literal accepted: every number in the protocol fits in far fewer characters, and
Python's `int` refuses more than 4,300 digits with a `ValueError` the parser does not expect."""
MAX_NESTING = 32
"""Deepest nesting of arrays and objects accepted (a hello nests 4 deep); deeper text would reach
Python's recursion limit inside the JSON parser."""


def _number(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(literal: str) -> int | float:
        if len(literal) > MAX_NUMBER_CHARS:
            raise ProtocolError(
                "malformed", f"a number of {len(literal)} characters (at most {MAX_NUMBER_CHARS})"
            )
        value = kind(literal)
        if not math.isfinite(value):
            raise ProtocolError("malformed", f"the number {literal[:MAX_NUMBER_CHARS]} is out of range")
        return value

    return parse


def _refuse_constant(name: str) -> object:
    raise ProtocolError("malformed", f"{name} is not a JSON number")


_parse_int, _parse_float = _number(int), _number(float)


def _nesting_depth(text: str) -> int:
    """How deep arrays and objects nest, brackets inside strings not counted; stops past the cap."""
    depth = deepest = 0
    for piece in _STRUCTURE.findall(text):
        if piece == "[" or piece == "{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    break
        elif piece == "]" or piece == "}":
            depth -= 1
    return deepest


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def load_json(text: str | bytes) -> object:
    """JSON as the protocol allows it: RFC 8259 numbers only (no NaN, no Infinity, no overflow),
    short number literals, shallow nesting; anything else is a `malformed` `ProtocolError`."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError("malformed", "not UTF-8 text") from e
    if _nesting_depth(text) > MAX_NESTING:
        raise ProtocolError("malformed", f"nested deeper than {MAX_NESTING} levels")
    try:
        return json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as e:
        raise ProtocolError("malformed", f"not JSON: {e.msg} at character {e.pos}") from e
    except (ValueError, RecursionError) as e:  # belt and braces: the checks above should catch these
        if isinstance(e, ProtocolError):
            raise
        raise ProtocolError("malformed", f"not JSON this protocol accepts ({type(e).__name__})") from e


def _parse_text(text: str | bytes, adapter: TypeAdapter) -> object:
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError("too_large", f"message of {len(text)} bytes exceeds the {MAX_TEXT_BYTES} cap")
    data = load_json(text)
    if not isinstance(data, dict) or "type" not in data:
        raise ProtocolError("malformed", "a message is a JSON object with a `type`")
    try:
        return adapter.validate_python(data)
    except ValidationError as e:
        raise ProtocolError("invalid", _summarise(e)) from e


def _summarise(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_client_text(text: str | bytes) -> ClientMessage:
    """A JSON control message from a capture client, validated, or `ProtocolError`."""
    return _parse_text(text, _client_adapter)  # type: ignore[return-value]


def parse_hub_text(text: str | bytes) -> HubMessage:
    """A JSON control message from the hub, validated, or `ProtocolError`."""
    return _parse_text(text, _hub_adapter)  # type: ignore[return-value]


def encode(message: _Message) -> str:
    """A control message as the JSON text sent over the WebSocket."""
    fields = type(message).model_fields
    omit = {name for name in message._omit_when_default if getattr(message, name) == fields[name].default}
    return message.model_dump_json(exclude=omit or None)


def encode_frame(header: FrameHeader, image: bytes) -> bytes:
    """A binary frame message: header length, header JSON, image bytes."""
    if header.size != len(image):
        raise ValueError("header.size must equal the image length")
    head = header.model_dump_json().encode()
    return _HEADER_LEN.pack(len(head)) + head + image


def parse_frame(data: bytes) -> tuple[FrameHeader, bytes]:
    """Split and validate a binary frame message; the image bytes are not decoded here."""
    if len(data) < _HEADER_LEN.size:
        raise ProtocolError("malformed", "binary message shorter than its length prefix")
    (head_len,) = _HEADER_LEN.unpack_from(data)
    if head_len > MAX_HEADER_BYTES:
        raise ProtocolError("too_large", f"frame header of {head_len} bytes exceeds {MAX_HEADER_BYTES}")
    if _HEADER_LEN.size + head_len > len(data):
        raise ProtocolError("malformed", "frame header runs past the end of the message")
    image = data[_HEADER_LEN.size + head_len :]
    if len(image) > MAX_IMAGE_BYTES:
        raise ProtocolError("too_large", f"image of {len(image)} bytes exceeds the {MAX_IMAGE_BYTES} cap")
    head = data[_HEADER_LEN.size : _HEADER_LEN.size + head_len]
    fields = load_json(head)
    if not isinstance(fields, dict):
        raise ProtocolError("malformed", "a frame header is a JSON object")
    try:
        header = FrameHeader.model_validate(fields)
    except ValidationError as e:
        raise ProtocolError("invalid", _summarise(e)) from e
    if header.size != len(image):
        raise ProtocolError("malformed", f"header says {header.size} image bytes, {len(image)} arrived")
    return header, image


def error(code: str, message: str, *, request_id: str | None = None, fatal: bool = False) -> str:
    """An encoded `error` message (trimmed to the protocol's caps)."""
    return encode(ErrorMessage(code=code[:64], message=message[:2000], request_id=request_id, fatal=fatal))
