"""The suite's tools as Realtime `function` tools (function mode): their argument models and the
`session.tools` entries made from them. Pure; `servers.bridge.functions` runs them.

The arguments mirror the MCP tools' (a test checks the names against the servers), minus
`device`: a bridged call acts on its own device only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from servers.skills.text import load_skill_description


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


FrameId = Annotated[
    str, Field(description="The frame_id of a screen image (from capture_screen, zoom or a caption).")
]
Label = Annotated[
    str | None, Field(description="What you are pointing at, e.g. 'the Save button'.", max_length=200)
]


class Region(Args):
    x: float = Field(description="From the display's left edge, in the units list_displays reports.")
    y: float = Field(description="From the display's top edge.")
    width: float = Field(gt=0)
    height: float = Field(gt=0)


class ListDisplays(Args):
    pass


MoveCursor = Annotated[
    bool | None,
    Field(description="Also move the user's real mouse pointer (only when they asked for that)."),
]


class CaptureScreen(Args):
    display: int | Literal["all"] | None = Field(
        default=None,
        description="Display index from list_displays, 'all' for every display; default primary.",
    )
    region: Region | None = Field(default=None, description="Only this part of the display.")
    max_edge: int | None = Field(default=None, ge=64, le=4096, description="Longest image side in pixels.")


class Zoom(Args):
    frame_id: FrameId
    x: float = Field(description="Left edge of the area, in the frame's image pixels.")
    y: float = Field(description="Top edge of the area, in the frame's image pixels.")
    width: float = Field(gt=0, description="Width of the area in the frame's image pixels.")
    height: float = Field(gt=0, description="Height of the area in the frame's image pixels.")
    max_edge: int | None = Field(default=None, ge=64, le=4096)


class PointAt(Args):
    x: float = Field(description="Column in the frame's image pixels, 0..width-1.")
    y: float = Field(description="Row in the frame's image pixels, 0..height-1.")
    frame_id: FrameId
    label: Label = None
    move_cursor: MoveCursor = None


class Highlight(Args):
    x: float = Field(description="Left edge, in the frame's image pixels.")
    y: float = Field(description="Top edge, in the frame's image pixels.")
    width: float = Field(gt=0, description="Width in the frame's image pixels.")
    height: float = Field(gt=0, description="Height in the frame's image pixels.")
    frame_id: FrameId
    label: Label = None
    move_cursor: MoveCursor = None


class ListSkills(Args):
    cursor: str | None = Field(default=None, description="Continue after this cursor; omit to start.")
    limit: int = Field(default=50, ge=1, le=200)


class SearchSkills(Args):
    query: str = Field(min_length=1, max_length=500, description="Words describing the task or topic.")
    limit: int = Field(default=5, ge=1, le=25)


class LoadSkill(Args):
    name: str = Field(min_length=1, max_length=200, description="The skill's name.")


class ReadSkillFile(Args):
    name: str = Field(min_length=1, max_length=200, description="The skill's name.")
    path: str = Field(min_length=1, max_length=1000, description="A file path as load_skill lists it.")


FUNCTIONS: dict[str, tuple[str, type[Args], str]] = {
    # name: (server, argument model, description)
    "list_displays": ("screen", ListDisplays, "The user's displays: index, origin, size, which is primary."),
    "capture_screen": (
        "screen",
        CaptureScreen,
        "See the user's screen: the image arrives as a user message right after this call's output, "
        "captioned with its frame_id and pixel size. Point into it with point_at(x, y, frame_id).",
    ),
    "zoom": (
        "screen",
        Zoom,
        "A sharper look at part of a frame (a rectangle in that frame's image pixels): a new frame "
        "with its own frame_id arrives as an image.",
    ),
    "point_at": (
        "pointer",
        PointAt,
        "Show the user a spot: (x, y) in the pixels of the frame image you saw it in, with that frame_id.",
    ),
    "highlight": (
        "pointer",
        Highlight,
        "Mark a rectangle of a frame's image (its pixels) for the user.",
    ),
    "list_skills": (
        "skills",
        ListSkills,
        "List the available skills (name and description), a page at a time.",
    ),
    "search_skills": (
        "skills",
        SearchSkills,
        "Find the skills most relevant to a task, best first. Then call load_skill with the best name.",
    ),
    "load_skill": ("skills", LoadSkill, load_skill_description("see list_skills")),
    "read_skill_file": ("skills", ReadSkillFile, "Read one file of a skill that load_skill listed."),
}


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's `title`s: noise in every turn's prompt."""
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if isinstance(value, dict):
            value = _clean(value) if key != "properties" else {k: _clean(v) for k, v in value.items()}
        elif isinstance(value, list):
            value = [_clean(v) if isinstance(v, dict) else v for v in value]
        cleaned[key] = value
    return cleaned


def function_tool(name: str) -> dict[str, Any]:
    """One `session.tools` entry of type `function`."""
    _, model, description = FUNCTIONS[name]
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": _clean(model.model_json_schema()),
    }


def function_tools(servers: list[str]) -> list[dict[str, Any]]:
    """The function tools of the named servers, in the order of `FUNCTIONS`."""
    return [function_tool(name) for name, (server, _, _) in FUNCTIONS.items() if server in servers]
