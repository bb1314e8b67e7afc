"""The bridge's registry of Realtime calls: each bound to one device, each with its sideband, its
sequencer and its state. Pushed frames and hotkey presses of a device go to that device's calls."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from redis.exceptions import RedisError

from servers.bridge import events as ev
from servers.bridge.frames import cached_frame, pushed_frame
from servers.bridge.functions import FunctionRunner
from servers.bridge.openai_calls import OpenAICalls, OpenAIError, sideband_url
from servers.bridge.sequencer import Action, CallSequencer, Note, RunFunctions, Send
from servers.bridge.session import SessionFactory
from servers.bridge.sideband import Sideband, SidebandError
from servers.hub.cluster.errors import CallNotHere, ClusterUnavailableError
from servers.hub.hub import DeviceEvent, FramePushed, Hub, TalkChanged
from servers.ops import logs, metrics
from servers.settings import Settings

log = logging.getLogger("realtime_mcp.bridge")

CallState = Literal["attaching", "attached", "reconnecting", "ended", "failed"]
KEEP_ENDED = 32
RECENT_TOOLS = 5
"""Ended calls still listed (with why they ended)."""
DEVICE_EVENT_BUFFER = 8
SETTLE_WAIT = 10.0
"""Seconds a create or attach waits for the sideband to attach (or fail) before answering."""


class UnknownCallError(LookupError):
    """No such call for this device (another device's call answers the same)."""


@dataclass
class BridgedCall:
    call_id: str
    device: str
    tools: Literal["mcp", "function"]
    turns: Literal["vad", "push-to-talk"]
    created_by_suite: bool
    sequencer: CallSequencer
    sideband: Sideband | None = None
    state: CallState = "attaching"
    last_error: str | None = None
    ended_reason: str | None = None
    started_at: float = field(default_factory=time.time)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    inbox: MemoryObjectSendStream[DeviceEvent] | None = None
    settled: anyio.Event = field(default_factory=anyio.Event)
    """Set once the sideband first attached, or failed to."""
    failure: SidebandError | None = None
    recent_tools: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_TOOLS))
    """The last function calls the bridge ran for this call (name, outcome, when), for the console."""

    @property
    def current_state(self) -> CallState:
        if self.state == "attached" and self.sideband is not None and not self.sideband.connected:
            return "reconnecting"
        return self.state

    def info(self) -> dict[str, Any]:
        sideband = self.sideband
        return {
            "call_id": self.call_id,
            "device": self.device,
            "state": self.current_state,
            "tools": self.tools,
            "turns": self.turns,
            "created_by_suite": self.created_by_suite,
            "responding": self.sequencer.active_response is not None,
            "frames_sent": self.sequencer.frames_sent,
            "frames_in_conversation": len(self.sequencer.image_items),
            "image_tokens": self.sequencer.image_tokens,
            "connections": sideband.connections if sideband else 0,
            "started_at": self.started_at,
            "last_error": self.last_error or self.sequencer.last_error,
            "ended": self.ended_reason,
            "last_tools": list(self.recent_tools),
        }


class BridgeManager:
    def __init__(
        self,
        hub: Hub,
        settings: Settings,
        runner: FunctionRunner,
        sessions: SessionFactory,
        openai: OpenAICalls | None,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.runner = runner
        self.sessions = sessions
        self.openai = openai
        self._calls: OrderedDict[str, BridgedCall] = OrderedDict()
        self._tg: anyio.abc.TaskGroup | None = None

    @property
    def configured(self) -> bool:
        return self.openai is not None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[BridgeManager]:
        unsubscribe = self.hub.events.subscribe(self._device_event)
        cluster = self.hub.cluster
        if cluster is not None:  # several replicas: this one's calls are found from the others
            cluster.calls.serve(self._held, self._detach_for_replica)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    yield self
                finally:
                    self._tg = None
                    for call in list(self._calls.values()):
                        await self._stop(call, "the suite is shutting down")
                    tg.cancel_scope.cancel()
        finally:
            unsubscribe()
            if self.openai is not None:
                await self.openai.aclose()

    # --- the routes' operations ---------------------------------------------------------------

    def _require_openai(self) -> OpenAICalls:
        if self.openai is None:
            raise OpenAIError(
                "The Realtime bridge has no OpenAI API key: set REALTIME_MCP_OPENAI_API_KEY (or "
                "OPENAI_API_KEY) and restart the suite.",
                status=503,
                code="bridge_not_configured",
            )
        return self.openai

    async def create(self, device: str, sdp_offer: str) -> tuple[BridgedCall, str]:
        """Create a call at OpenAI for `device`, attach to it; returns it and the SDP answer."""
        openai = self._require_openai()
        session = self.sessions.session(device, with_model=True)
        created = await openai.create(sdp_offer, session)
        call = self._start(created.call_id, device, created_by_suite=True)
        log.info("call %s created for device %s (%s tools)", call.call_id, device, call.tools)
        # Attached before the app's WebRTC side starts talking, so no early event is missed.
        with anyio.move_on_after(SETTLE_WAIT):
            await call.settled.wait()
        await self._announce(call)
        return call, created.sdp_answer

    async def attach(self, call_id: str, device: str) -> BridgedCall:
        """Attach to a call an app created itself."""
        self._require_openai()
        existing = self._calls.get(call_id)
        if existing is not None and existing.state not in ("ended", "failed"):
            if existing.device != device:
                raise UnknownCallError(call_id)  # never say another device holds it
            return existing
        call = self._start(call_id, device, created_by_suite=False)
        with anyio.move_on_after(SETTLE_WAIT):
            await call.settled.wait()
        if call.failure is not None:
            # The caller hears why at once (unknown call, key refused); nothing is kept.
            self._calls.pop(call_id, None)
            failure = call.failure
            raise OpenAIError(str(failure), status=failure.status, code=failure.code) from failure
        log.info("attached to call %s for device %s (%s tools)", call_id, device, call.tools)
        await self._announce(call)
        return call

    # --- several replicas (Redis): a call held by another replica -------------------------------

    def _held(self) -> list[dict[str, Any]]:
        return [c.info() for c in self._calls.values() if c.state not in ("ended", "failed")]

    async def _detach_for_replica(self, call_id: str, device: str | None) -> dict[str, Any]:
        try:
            return (await self.detach(call_id, device)).info()
        except UnknownCallError as e:
            raise CallNotHere(call_id) from e

    async def _announce(self, call: BridgedCall) -> None:
        """Tell the other replicas at once (not at the next heartbeat) where this call is held."""
        cluster = self.hub.cluster
        if cluster is None:
            return
        try:
            await cluster.calls.announce(call.info())
        except ClusterUnavailableError as e:
            log.warning("call %s: not announced to the other replicas: %s", call.call_id, e)
        except RedisError as e:
            log.warning("call %s: not announced to the other replicas (%s)", call.call_id, type(e).__name__)

    async def _elsewhere(self, call_id: str, device: str | None) -> dict[str, Any] | None:
        """The call's info if another replica holds it for `device`."""
        cluster = self.hub.cluster
        if cluster is None:
            return None
        try:
            record = await cluster.calls.find(call_id, device)
        except ClusterUnavailableError as e:
            raise OpenAIError(str(e), status=503, code="cluster_unavailable") from e
        if record is None or record["replica"] == cluster.replica_id:
            return None
        return record["info"]

    async def attach_anywhere(self, call_id: str, device: str) -> dict[str, Any]:
        """`attach`, unless another replica already holds the call for this device: then its info."""
        if call_id not in self._calls:
            held = await self._elsewhere(call_id, device)
            if held is not None:
                return held
        return (await self.attach(call_id, device)).info()

    async def detach_anywhere(self, call_id: str, device: str | None) -> dict[str, Any]:
        """`detach`, routed to the replica that holds the call when it is not this one."""
        if call_id in self._calls:
            return (await self.detach(call_id, device)).info()
        cluster = self.hub.cluster
        if cluster is None:
            raise UnknownCallError(call_id)
        try:
            return await cluster.calls.detach(call_id, device)
        except CallNotHere as e:
            raise UnknownCallError(call_id) from e
        except ClusterUnavailableError as e:
            raise OpenAIError(str(e), status=503, code="cluster_unavailable") from e

    async def listed(self, device: str | None) -> list[dict[str, Any]]:
        """Every replica's calls for `device` (other replicas' as of their last heartbeat)."""
        infos = [c.info() for c in self.calls_of(device)]
        cluster = self.hub.cluster
        if cluster is not None:
            try:
                infos += await cluster.calls.elsewhere(device)
            except ClusterUnavailableError as e:
                log.warning("calls of other replicas not listed: %s", e)
        return infos

    def calls_of(self, device: str | None) -> list[BridgedCall]:
        return [c for c in self._calls.values() if device is None or c.device == device]

    def get(self, call_id: str, device: str | None) -> BridgedCall:
        call = self._calls.get(call_id)
        if call is None or (device is not None and call.device != device):
            raise UnknownCallError(call_id)
        return call

    async def detach(self, call_id: str, device: str | None) -> BridgedCall:
        call = self.get(call_id, device)
        await self._stop(call, "detached")
        if call.created_by_suite and self.openai is not None:
            try:
                await self.openai.hangup(call_id)
            except OpenAIError as e:
                call.last_error = str(e)
                log.warning("call %s: hangup failed: %s", call_id, e)
        self._calls.pop(call_id, None)
        await self._announce(call)  # ended: the other replicas forget it
        return call

    # --- one call ---------------------------------------------------------------------------

    def _start(self, call_id: str, device: str, *, created_by_suite: bool) -> BridgedCall:
        if self._tg is None or self.openai is None:
            raise OpenAIError("The bridge is not running.", status=503, code="bridge_not_running")
        settings = self.settings
        call = BridgedCall(
            call_id=call_id,
            device=device,
            tools=settings.bridge_tools,
            turns=settings.call_turns,
            created_by_suite=created_by_suite,
            sequencer=CallSequencer(
                max_frames=settings.call_frames,
                lookup=lambda frame_id: cached_frame(self.hub.pixels, frame_id, device),
                turns=settings.call_turns,
            ),
        )
        send, receive = anyio.create_memory_object_stream[DeviceEvent](DEVICE_EVENT_BUFFER)
        call.inbox = send
        self._calls[call_id] = call
        self._calls.move_to_end(call_id)
        self._prune()
        self._tg.start_soon(self._serve, call, receive)
        return call

    async def _serve(self, call: BridgedCall, inbox: MemoryObjectReceiveStream[DeviceEvent]) -> None:
        assert self.openai is not None
        # This task's log lines (sideband, function calls) name the call and its device.
        logs.CALL.set(call.call_id)
        logs.DEVICE.set(call.device)
        # With several replicas, this call hears its device's events wherever the device is held.
        unfollow = await self.hub.follow(call.device)
        try:
            await self._serve_call(call, inbox)
        finally:
            unfollow()

    async def _serve_call(self, call: BridgedCall, inbox: MemoryObjectReceiveStream[DeviceEvent]) -> None:
        assert self.openai is not None
        key = self.settings.openai_api_key
        url = sideband_url(self.settings.openai_base_url, call.call_id)
        first = True

        async def on_connect() -> None:
            nonlocal first
            call.state = "attached"
            if first and not call.created_by_suite:
                # An app made this call: give its session the bridge's tools and hygiene.
                await self._send(call, ev.session_update(self.sessions.attach_update(call.device)))
            first = False
            call.settled.set()

        async def on_event(event: dict[str, Any]) -> None:
            await self._act(call, call.sequencer.on_server_event(event), tg)

        sideband = Sideband(url, key.get_secret_value() if key else "", on_event, on_connect=on_connect)
        call.sideband = sideband
        with call.scope:
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._device_events, call, inbox, tg)
                    try:
                        reason = await sideband.run()
                    except SidebandError as e:
                        call.state, call.last_error, call.ended_reason = "failed", str(e), str(e)
                        call.failure = e
                        log.warning("call %s: %s", call.call_id, e)
                    else:
                        call.state, call.ended_reason = "ended", reason
                        log.info("call %s ended: %s", call.call_id, reason)
                    tg.cancel_scope.cancel()
            except Exception:  # a bug in one call must not end the bridge's other calls
                log.exception("call %s failed inside the suite", call.call_id)
                call.state, call.last_error = "failed", "the bridge failed on this call (see the logs)"
            finally:
                call.settled.set()
        inbox.close()

    async def _device_events(
        self, call: BridgedCall, inbox: MemoryObjectReceiveStream[DeviceEvent], tg: anyio.abc.TaskGroup
    ) -> None:
        async with inbox:
            async for event in inbox:
                try:
                    if isinstance(event, FramePushed):
                        image = await pushed_frame(self.hub, event.device_id, event.frame)
                        await self._act(call, call.sequencer.push_frame(image), tg)
                    elif isinstance(event, TalkChanged):
                        await self._act(call, call.sequencer.talk(event.state), tg)
                except Exception:  # one bad frame must not end the call
                    log.exception("call %s: a pushed frame or hotkey event failed", call.call_id)

    async def _act(self, call: BridgedCall, actions: list[Action], tg: anyio.abc.TaskGroup) -> None:
        for action in actions:
            match action:
                case Send(event=event):
                    await self._send(call, event)
                case RunFunctions():
                    tg.start_soon(self._run_functions, call, action, tg)
                case Note(text=text):
                    log.info("call %s: %s", call.call_id, text)

    async def _run_functions(self, call: BridgedCall, action: RunFunctions, tg: anyio.abc.TaskGroup) -> None:
        results = await self.runner.run_all(action.calls, call.device)
        for function, result in zip(action.calls, results, strict=False):
            outcome = "error" if result.output.startswith("Error") else "ok"
            call.recent_tools.append({"name": function.name, "outcome": outcome, "at": time.time()})
            metrics.count_bridge_function(function.name, outcome)
        await self._act(call, call.sequencer.functions_done(action.response_id, results), tg)

    async def _send(self, call: BridgedCall, event: dict[str, Any]) -> None:
        sideband = call.sideband
        if sideband is None:
            return
        try:
            await sideband.send(event)
        except SidebandError as e:
            call.last_error = f"{event.get('type')} not sent: {e}"
            log.warning("call %s: %s", call.call_id, call.last_error)

    async def _stop(self, call: BridgedCall, reason: str) -> None:
        if call.state not in ("ended", "failed"):
            call.state, call.ended_reason = "ended", reason
        if call.sideband is not None:
            await call.sideband.close()
        call.scope.cancel()

    def _prune(self) -> None:
        ended = [c.call_id for c in self._calls.values() if c.state in ("ended", "failed")]
        for call_id in ended[: max(0, len(ended) - KEEP_ENDED)]:
            del self._calls[call_id]

    # --- device events (from the hub, inline: hand on, never block) ---------------------------

    def _device_event(self, event: DeviceEvent) -> None:
        for call in self._calls.values():
            if call.device != event.device_id or call.inbox is None or call.state in ("ended", "failed"):
                continue
            try:
                call.inbox.send_nowait(event)
            except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                log.info("call %s: a device event was dropped (the call is busy or ending)", call.call_id)
