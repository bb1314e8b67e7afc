"""What the bridge does on one call, as a pure state machine: server events and local happenings
in, actions out (events to send, functions to run). No I/O, no clock; tested with plain dicts.

The rules (see FACTS.md, "The Realtime bridge"):
- `response.create` only when no response is active: after a response's `response.done`, never
  before it and never while another runs (the API refuses it).
- Hosted MCP: a response holding a completed `mcp_call` of `capture_screen` / `zoom` gets that
  frame added as a user image item once the response is done, then one `response.create` (after an
  `mcp_call` the model does not go on by itself, so every response with an `mcp_call` gets one).
- Function mode: calls run only when `response.done` says `completed` (a cancelled or incomplete
  response's calls never run); once all of a response's outputs are sent, one `response.create`.
- A response that held only tool calls and no speech is followed by a response told to speak,
  with tools off (`tool_choice: "none"`), except right after a new frame came into view: the model
  must still be able to point at what it just saw (bounded by `MAX_SILENT_LOOKS` in a row).
- At most `max_frames` image items stay in the conversation; older ones are deleted.
- Item ids come from `conversation.item.added` / `done` / `deleted` (GA events; never `created`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from servers.bridge import events as ev
from servers.bridge.events import FrameImage, FunctionCall, ResponseOutcome

MAX_SILENT_LOOKS = 3
"""Tool-only responses in a row that may keep their tools because they brought a new frame."""

ToolsMode = Literal["mcp", "function"]
TurnsMode = Literal["vad", "push-to-talk"]
FrameLookup = Callable[[str], FrameImage | None]
"""The frame's pixels by id, only if it belongs to this call's device (else None)."""


@dataclass(frozen=True, slots=True)
class Send:
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunFunctions:
    """Run these calls (concurrently), then report with `CallSequencer.functions_done`."""

    response_id: str
    calls: tuple[FunctionCall, ...]


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth a log line (never frame bytes)."""

    text: str


Action = Send | RunFunctions | Note


@dataclass(frozen=True, slots=True)
class FunctionResult:
    call_id: str
    output: str
    frame: FrameImage | None = None
    """A capture's frame, shown to the model beside the output."""


@dataclass
class CallSequencer:
    max_frames: int
    lookup: FrameLookup
    turns: TurnsMode = "vad"
    active: set[str] = field(default_factory=set)
    """Responses created and not yet done (out-of-band ones can overlap the main one)."""
    frames_sent: int = 0
    silent_rounds: int = 0
    """Responses in a row that held tool calls and no speech."""
    image_items: list[str] = field(default_factory=list)
    """Our image items still in the conversation, oldest first."""
    confirmed: set[str] = field(default_factory=set)
    """Items the server acknowledged (`conversation.item.added`)."""
    running: dict[str, bool] = field(default_factory=dict)
    """Responses whose function calls are running -> whether that response was silent."""
    last_error: str | None = None
    image_tokens: int = 0
    """Image input tokens billed so far on this call (what old frames cost each turn)."""

    # --- server events ----------------------------------------------------------------------

    def on_server_event(self, event: dict[str, Any]) -> list[Action]:
        kind = event.get("type")
        if kind == "response.created":
            response = event.get("response") or {}
            self.active.add(str(response.get("id") or "active"))
            return []
        if kind == "response.done":
            outcome = ev.response_outcome(event)
            self.active.discard(outcome.response_id or "active")
            self.image_tokens += outcome.image_tokens
            return self._response_done(outcome)
        if kind in ("conversation.item.added", "conversation.item.done"):
            item_id = ev.item_id_of(event)
            if item_id is not None:
                self.confirmed.add(item_id)
            return []
        if kind == "conversation.item.deleted":
            item_id = ev.item_id_of(event)
            if item_id is not None:
                self.confirmed.discard(item_id)
                if item_id in self.image_items:
                    self.image_items.remove(item_id)
            return []
        if kind == "error":
            code, message = ev.error_of(event)
            self.last_error = f"{code}: {message}"[:300]
            return [Note(f"OpenAI reported an error on the call: {self.last_error}")]
        return []

    def _response_done(self, outcome: ResponseOutcome) -> list[Action]:
        actions: list[Action] = []
        if outcome.status != "completed":
            if outcome.function_calls:
                actions.append(
                    Note(
                        f"response {outcome.response_id} ended {outcome.status or 'unfinished'}: "
                        f"its {len(outcome.function_calls)} function call(s) are not run"
                    )
                )
            return actions
        if not outcome.function_calls and not outcome.mcp_calls:
            self.silent_rounds = 0
            return actions
        self.silent_rounds = 0 if outcome.spoke else self.silent_rounds + 1
        if outcome.function_calls:
            self.running[outcome.response_id] = not outcome.spoke
            actions.append(RunFunctions(outcome.response_id, outcome.function_calls))
            return actions
        looked = False
        for call in outcome.mcp_calls:
            if call.name not in ev.FRAME_TOOLS or call.failed:
                continue
            frame_id = ev.frame_id_in(call.output)
            frame = self.lookup(frame_id) if frame_id else None
            if frame is None:
                actions.append(Note(f"no frame to show for {call.name} ({frame_id or 'no frame id'})"))
                continue
            actions.extend(self._add_frame(frame))
            looked = True
        actions.extend(self._follow_up(quiet=not outcome.spoke, looked=looked))
        return actions

    # --- local happenings -------------------------------------------------------------------

    def functions_done(self, response_id: str, results: list[FunctionResult]) -> list[Action]:
        """The outputs of a response's function calls: send them, show frames, then go on."""
        quiet = self.running.pop(response_id, False)
        actions: list[Action] = [Send(ev.function_call_output(r.call_id, r.output)) for r in results]
        looked = False
        for result in results:
            if result.frame is not None:
                actions.extend(self._add_frame(result.frame))
                looked = True
        actions.extend(self._follow_up(quiet=quiet, looked=looked))
        return actions

    def push_frame(self, frame: FrameImage) -> list[Action]:
        """A push-to-talk frame: into the conversation at once (the user is about to speak)."""
        return self._add_frame(frame)

    def talk(self, state: Literal["press", "release"]) -> list[Action]:
        """The hotkey; it steers turns only when the session has no server VAD."""
        if self.turns != "push-to-talk":
            return []
        if state == "press":
            actions: list[Action] = []
            if self.active_response is not None:
                # The user takes the turn: the model stops talking, and its queued audio with it.
                actions += [Send(ev.response_cancel()), Send(ev.output_audio_clear())]
            return [*actions, Send(ev.input_audio_clear())]
        actions = [Send(ev.input_audio_commit())]
        if self.active_response is None:
            actions.append(Send(ev.response_create()))
        return actions

    @property
    def active_response(self) -> str | None:
        """A response still running, if any (none may be created meanwhile)."""
        return next(iter(self.active), None)

    # --- internals --------------------------------------------------------------------------

    def _follow_up(self, *, quiet: bool, looked: bool) -> list[Action]:
        if self.active_response is not None:
            # A new response (the user spoke) is already running with these items in view.
            return [Note("a response is already active: no follow-up response.create")]
        if not quiet:
            return [Send(ev.response_create())]
        tools_on = looked and self.silent_rounds <= MAX_SILENT_LOOKS
        instructions = ev.LOOK_AND_SPEAK_INSTRUCTIONS if looked else ev.SPEAK_INSTRUCTIONS
        return [Send(ev.response_create(instructions=instructions, tools=tools_on))]

    def _add_frame(self, frame: FrameImage) -> list[Action]:
        item_id = ev.new_item_id()
        actions: list[Action] = [Send(ev.frame_item_create(frame, item_id=item_id))]
        self.image_items.append(item_id)
        self.frames_sent += 1
        while len(self.image_items) > self.max_frames:
            old = self.image_items.pop(0)
            actions.append(Send(ev.item_delete(old)))
        return actions
