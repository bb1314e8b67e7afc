"""The pointer MCP server: `point_at` and `highlight`, in the image pixels of a captured frame.

The frame id carries the geometry (downscale, region offset, display origin, Retina scale), so
the model's coordinates are mapped here and the pointer lands where the model saw the thing.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from servers import __version__
from servers.auth.verifier import caller_device
from servers.hub.hub import Hub
from servers.hub.tooling import DeviceParam, FrameIdParam, domain_errors
from servers.pointer import tools
from servers.pointer.tools import PointResult
from servers.settings import Settings

POINTS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

INSTRUCTIONS = (
    "Show the user something you saw in a screen frame: an overlay cursor (point_at) or frame "
    "(highlight) appears on their screen; their own mouse stays where it is. Give x, y in that "
    "frame's image pixels (as returned by capture_screen or zoom) with its frame_id; never rescale them."
)

MoveCursorParam = Annotated[
    bool | None,
    Field(
        description="Also move the user's real mouse pointer there (only when they asked for that); "
        "default: the server's setting, normally false."
    ),
]

LabelParam = Annotated[
    str | None, Field(description="What you are pointing at, e.g. 'the Save button'.", max_length=200)
]


def _result(result: PointResult, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


def create_server(settings: Settings, *, hub: Hub | None = None) -> MCPServer[Any]:
    hub = hub or Hub(settings)
    server: MCPServer[Any] = MCPServer(
        name="realtime-mcp-pointer",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=settings.log_level,
    )

    @server.tool(annotations=POINTS)
    async def point_at(
        x: Annotated[float, Field(description="Column in the frame's image pixels, 0..width-1.")],
        y: Annotated[float, Field(description="Row in the frame's image pixels, 0..height-1.")],
        frame_id: FrameIdParam,
        label: LabelParam = None,
        move_cursor: MoveCursorParam = None,
        device: DeviceParam = None,
    ) -> Annotated[CallToolResult, PointResult]:
        """Point at pixel (x, y) of a frame's image (the frame capture_screen or zoom returned): an
        overlay cursor flies there on the user's screen, with the label beside it. Returns the screen
        position and whether the overlay is shown."""
        with domain_errors():
            result, text = await tools.point_at(
                hub,
                x=x,
                y=y,
                frame_id=frame_id,
                label=label,
                move_cursor=move_cursor,
                device=device,
                caller=caller_device(),
            )
        return _result(result, text)

    @server.tool(annotations=POINTS)
    async def highlight(
        x: Annotated[float, Field(description="Left edge, in the frame's image pixels.")],
        y: Annotated[float, Field(description="Top edge, in the frame's image pixels.")],
        width: Annotated[float, Field(description="Width in the frame's image pixels.", gt=0)],
        height: Annotated[float, Field(description="Height in the frame's image pixels.", gt=0)],
        frame_id: FrameIdParam,
        label: LabelParam = None,
        move_cursor: MoveCursorParam = None,
        device: DeviceParam = None,
    ) -> Annotated[CallToolResult, PointResult]:
        """Mark a rectangle of a frame's image for the user: a frame is drawn around it on their
        screen, with the label above. Coordinates are the frame's image pixels."""
        with domain_errors():
            result, text = await tools.highlight(
                hub,
                x=x,
                y=y,
                width=width,
                height=height,
                frame_id=frame_id,
                label=label,
                move_cursor=move_cursor,
                device=device,
                caller=caller_device(),
            )
        return _result(result, text)

    return server
