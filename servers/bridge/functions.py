"""Function mode: the bridge runs the model's function calls itself, through the same plain tool
functions the MCP servers call, bound to the call's device. Outputs are text; a capture's frame is
returned beside its text so the sequencer shows it as an image item."""

from __future__ import annotations

import json
import logging

import anyio
from pydantic import ValidationError

from servers.bridge import function_tools as ft
from servers.bridge.events import FunctionCall
from servers.bridge.frames import frame_image
from servers.bridge.sequencer import FunctionResult
from servers.hub.device import DeviceError
from servers.hub.hub import Hub
from servers.pointer import tools as pointer
from servers.screen import tools as screen
from servers.screen.tools import Captured
from servers.settings import Settings
from servers.skills.tools import SkillAnswer, SkillTools
from wire.geometry import GeometryError, Rect

log = logging.getLogger("realtime_mcp.bridge")

MAX_OUTPUT_CHARS = 20_000
"""A function output is text the model reads every turn after: long skill files are cut."""


class FunctionRunner:
    def __init__(self, hub: Hub, settings: Settings, skills: SkillTools | None) -> None:
        self.hub = hub
        self.settings = settings
        self.skills = skills

    async def run_all(self, calls: tuple[FunctionCall, ...], device: str) -> list[FunctionResult]:
        """Every call of one response, concurrently; results in the calls' order."""
        results: list[FunctionResult | None] = [None] * len(calls)

        async def one(index: int, call: FunctionCall) -> None:
            results[index] = await self.run(call, device)

        async with anyio.create_task_group() as tg:
            for index, call in enumerate(calls):
                tg.start_soon(one, index, call)
        return [r for r in results if r is not None]

    async def run(self, call: FunctionCall, device: str) -> FunctionResult:
        spec = ft.FUNCTIONS.get(call.name)
        if spec is None:
            return FunctionResult(call.call_id, f"Error: there is no function {call.name!r}.")
        server, model, _ = spec
        try:
            raw = json.loads(call.arguments or "{}")
            args = model.model_validate(raw)
        except (ValueError, ValidationError) as e:
            return FunctionResult(call.call_id, f"Error: invalid arguments for {call.name}: {_summary(e)}")
        try:
            if server == "skills":
                return FunctionResult(call.call_id, await self._skills(call.name, args))
            return await self._device_tool(call, args, device)
        except (DeviceError, GeometryError) as e:
            return FunctionResult(call.call_id, f"Error: {e}")
        except Exception:
            log.exception("function %s failed", call.name)
            return FunctionResult(call.call_id, f"Error: {call.name} failed inside the suite.")

    async def _device_tool(self, call: FunctionCall, args: ft.Args, device: str) -> FunctionResult:
        hub, settings = self.hub, self.settings
        match args:
            case ft.ListDisplays():
                result = await screen.list_displays(hub, device=device, caller=device)
                return FunctionResult(call.call_id, result.model_dump_json())
            case ft.CaptureScreen(display=display, region=region, max_edge=max_edge):
                area = None if region is None else Rect(**region.model_dump())
                captured = await screen.capture_screen(
                    hub,
                    settings,
                    display=display,
                    region=area,
                    max_edge=max_edge,
                    device=device,
                    caller=device,
                )
                return _with_frame(call, captured)
            case ft.Zoom():
                captured = await screen.zoom(
                    hub,
                    settings,
                    frame_id=args.frame_id,
                    x=args.x,
                    y=args.y,
                    width=args.width,
                    height=args.height,
                    max_edge=args.max_edge,
                    device=device,
                    caller=device,
                )
                return _with_frame(call, captured)
            case ft.PointAt():
                _, text = await pointer.point_at(
                    hub,
                    x=args.x,
                    y=args.y,
                    frame_id=args.frame_id,
                    label=args.label,
                    move_cursor=args.move_cursor,
                    device=device,
                    caller=device,
                )
                return FunctionResult(call.call_id, text)
            case ft.Highlight():
                _, text = await pointer.highlight(
                    hub,
                    x=args.x,
                    y=args.y,
                    width=args.width,
                    height=args.height,
                    frame_id=args.frame_id,
                    label=args.label,
                    move_cursor=args.move_cursor,
                    device=device,
                    caller=device,
                )
                return FunctionResult(call.call_id, text)
        return FunctionResult(call.call_id, f"Error: {call.name} is not available here.")

    async def _skills(self, name: str, args: ft.Args) -> str:
        skills = self.skills
        if skills is None:
            return "Error: the skills server is not running in this suite."
        answer: SkillAnswer
        match args:
            case ft.ListSkills(cursor=cursor, limit=limit):
                answer = await skills.list_skills(cursor, limit)
            case ft.SearchSkills(query=query, limit=limit):
                answer = await skills.search_skills(query, limit)
            case ft.LoadSkill(name=skill):
                answer = await skills.load_skill(skill)
            case ft.ReadSkillFile(name=skill, path=path):
                answer = await skills.read_skill_file(skill, path)
            case _:
                return f"Error: {name} is not available here."
        text = (
            answer.text
            if len(answer.text) <= MAX_OUTPUT_CHARS
            else answer.text[:MAX_OUTPUT_CHARS] + "\n[cut]"
        )
        return f"Error: {text}" if answer.error else text


def _with_frame(call: FunctionCall, captured: Captured) -> FunctionResult:
    frame = captured.frame
    image = frame_image(captured.frame_id, frame.data, frame.mime_type, captured.text)
    output = captured.text + "\nThe image follows in the next user message."
    return FunctionResult(call.call_id, output, image)


def _summary(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors()[:3]:
            where = ".".join(str(p) for p in item["loc"]) or "arguments"
            parts.append(f"{where}: {item['msg']}")
        return "; ".join(parts)
    return "not a JSON object"
