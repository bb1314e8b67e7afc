"""The screen MCP server: `list_displays`, `capture_screen`, `zoom`.

Every frame gets an id whose geometry the hub keeps (`hub.frames`), so `point_at` and `zoom` map
the model's image pixels back to the screen; the model never scales anything itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from servers import __version__
from servers.auth.verifier import caller_device
from servers.hub.hub import Hub
from servers.hub.tooling import DeviceParam, FrameIdParam, domain_errors
from servers.screen import tools
from servers.screen.describe import CaptureResult, DisplaysResult
from servers.screen.tools import Captured
from servers.settings import Settings
from wire.geometry import Rect

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)

INSTRUCTIONS = (
    "Screen frames of the user's desktop. capture_screen returns an image plus its frame_id and size; "
    "coordinates you give point_at, highlight or zoom are pixels of that image (x right, y down, from "
    "its top-left corner). Never rescale them."
)

DisplayParam = Annotated[
    int | Literal["all"] | None,
    Field(
        description="Display index from list_displays, 'all' for every display at once; default: the primary."
    ),
]
MaxEdgeParam = Annotated[
    int | None,
    Field(description="Longest image side in pixels (default from the server, 1280).", ge=64, le=4096),
]


class RegionParam(Rect):
    """A part of the display, from the display's top-left corner, in the units list_displays reports."""


class _Base64Memo:
    """The base64 text of the last few frames' bytes: callers who shared one capture share its
    ~150 KB of base64 too, rather than each encoding the same bytes again."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._recent: list[tuple[bytes, str]] = []

    def __call__(self, data: bytes) -> str:
        for known, text in self._recent:
            if known is data:  # the same object, not merely equal bytes: no compare of 110 KB
                return text
        text = base64.b64encode(data).decode("ascii")
        self._recent = [(data, text), *self._recent[: self._size - 1]]
        return text


def _result(captured: Captured, base64_of: Callable[[bytes], str] | None = None) -> CallToolResult:
    frame = captured.frame
    data = (base64_of or _plain_base64)(frame.data)
    return CallToolResult(
        content=[
            TextContent(type="text", text=captured.text),
            ImageContent(type="image", data=data, mime_type=frame.mime_type),
        ],
        structured_content=captured.result.model_dump(mode="json"),
    )


def _plain_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def create_server(settings: Settings, *, hub: Hub | None = None) -> MCPServer[Any]:
    hub = hub or Hub(settings)
    base64_of = _Base64Memo()
    server: MCPServer[Any] = MCPServer(
        name="realtime-mcp-screen",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=settings.log_level,
    )

    @server.tool(annotations=READ_ONLY)
    async def list_displays(device: DeviceParam = None) -> DisplaysResult:
        """The device's displays: index, origin and size in pointer coordinates (negative origins are
        left of or above the main display), pixel size (2x the points on Retina) and which is primary."""
        with domain_errors():
            return await tools.list_displays(hub, device=device, caller=caller_device())

    @server.tool(annotations=READ_ONLY)
    async def capture_screen(
        display: DisplayParam = None,
        region: Annotated[
            RegionParam | None,
            Field(description="Only this part of the display: x, y from its top-left, width, height."),
        ] = None,
        max_edge: MaxEdgeParam = None,
        format: Annotated[
            Literal["jpeg", "png", "webp"] | None, Field(description="Image format (default jpeg).")
        ] = None,
        quality: Annotated[
            int | None, Field(description="JPEG/WebP quality 1-100 (default 80).", ge=1, le=100)
        ] = None,
        device: DeviceParam = None,
    ) -> Annotated[CallToolResult, CaptureResult]:
        """Capture the screen as an image plus a frame_id. Point at things in it with point_at(x, y,
        frame_id) using the image's own pixel coordinates; zoom(frame_id, ...) for a sharper look."""
        with domain_errors():
            captured = await tools.capture_screen(
                hub,
                settings,
                display=display,
                region=None if region is None else Rect(**region.model_dump()),
                max_edge=max_edge,
                format=format,
                quality=quality,
                device=device,
                caller=caller_device(),
            )
        return _result(captured, base64_of)

    @server.tool(annotations=READ_ONLY)
    async def zoom(
        frame_id: FrameIdParam,
        x: Annotated[float, Field(description="Left edge of the area, in the frame's image pixels.")],
        y: Annotated[float, Field(description="Top edge of the area, in the frame's image pixels.")],
        width: Annotated[float, Field(description="Width of the area in the frame's image pixels.", gt=0)],
        height: Annotated[float, Field(description="Height of the area in the frame's image pixels.", gt=0)],
        max_edge: MaxEdgeParam = None,
        device: DeviceParam = None,
    ) -> Annotated[CallToolResult, CaptureResult]:
        """A sharper look at part of a frame: re-captures that area at up to full resolution and returns
        a new frame (own frame_id, own image size) to point into."""
        with domain_errors():
            captured = await tools.zoom(
                hub,
                settings,
                frame_id=frame_id,
                x=x,
                y=y,
                width=width,
                height=height,
                max_edge=max_edge,
                device=device,
                caller=caller_device(),
            )
        return _result(captured, base64_of)

    return server
