"""Single flight for captures: callers asking one device for the same capture at the same moment
share one grab and one encode.

A device serves captures one at a time (one screen thread, one capture client), so without this
25 callers of one display wait for 25 grabs in a row. Here the first caller starts the capture and
everyone who asks for the same thing (device, layout epoch, request) before it finishes waits for
that one; whoever asks after it finished starts a new one, so no caller gets pixels older than its
call. It only uses the `Device` interface, so it works the same for the local display, a relayed
capture client and a device served from elsewhere. Each caller still stores the frame under its
own frame id (`servers.screen.tools`).

Cancellation: one caller giving up never cancels the capture the others wait for. The capture runs
in the first caller's task, shielded; if that caller is cancelled while others still wait, it
leaves once the capture is over (its result is dropped), and the capture is cancelled as soon as
nobody is waiting for it any more.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from dataclasses import dataclass, field, fields

import anyio
from pydantic import BaseModel

from servers.hub.device import CaptureRequest, Device, DeviceError, Frame

_Key = tuple[str, int, Hashable]
"""(device id, layout epoch, request key)."""


@dataclass(eq=False)
class _Flight:
    waiters: int = 1
    done: anyio.Event = field(default_factory=anyio.Event)
    frame: Frame | None = None
    error: BaseException | None = None
    scope: anyio.CancelScope = field(default_factory=lambda: anyio.CancelScope(shield=True))


class SharedCaptures:
    """The captures in flight, by (device id, layout epoch, request)."""

    def __init__(self) -> None:
        self._flights: dict[_Key, _Flight] = {}
        self.started = 0
        """Captures actually asked of a device (callers that joined one are not counted)."""

    def __len__(self) -> int:
        return len(self._flights)

    def waiting(self, device_id: str) -> int:
        """Callers waiting for a capture of `device_id` now."""
        return sum(flight.waiters for key, flight in self._flights.items() if key[0] == device_id)

    async def capture(self, device: Device, request: CaptureRequest) -> Frame:
        """`device.capture(request)`, shared with every caller asking the same at the same moment.

        A failed capture raises its error in each caller (a copy of it for those who joined)."""
        key = (device.id, device.layout_epoch, request_key(request))
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight()
            self.started += 1
            return await self._lead(key, flight, device, request)
        flight.waiters += 1
        try:
            await flight.done.wait()
        except BaseException:
            self._leave(key, flight)
            raise
        return _outcome(flight, shared=True)

    async def _lead(self, key: _Key, flight: _Flight, device: Device, request: CaptureRequest) -> Frame:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._run, key, flight, device, request)
            try:
                await flight.done.wait()
            except BaseException:
                # This caller is cancelled: the capture goes on for the others (the task group
                # waits for it), or stops here if nobody else is waiting.
                self._leave(key, flight)
                raise
        return _outcome(flight, shared=False)

    async def _run(self, key: _Key, flight: _Flight, device: Device, request: CaptureRequest) -> None:
        try:
            # The scope is shielded, so cancelling the first caller does not reach the capture;
            # `_leave` cancels the scope itself once nobody waits.
            with flight.scope:
                flight.frame = await device.capture(request)
        except Exception as e:  # handed to every waiter rather than failing the task group
            flight.error = e
        finally:
            # From now on a caller asking the same starts a fresh capture.
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.done.set()

    def _leave(self, key: _Key, flight: _Flight) -> None:
        flight.waiters -= 1
        if flight.waiters == 0 and not flight.done.is_set():
            flight.scope.cancel()
            if self._flights.get(key) is flight:
                del self._flights[key]  # nobody may join a capture that is being cancelled


def request_key(request: CaptureRequest) -> Hashable:
    """The request as a dict key: every field, the region (a pydantic model) by value."""
    return tuple(
        tuple(value.model_dump().items()) if isinstance(value, BaseModel) else value
        for value in (getattr(request, f.name) for f in fields(request))
    )


def _outcome(flight: _Flight, *, shared: bool) -> Frame:
    if flight.error is not None:
        if not shared:
            raise flight.error
        # Each caller raises its own copy: one exception object raised in several tasks would
        # collect all their tracebacks.
        raise copy.copy(flight.error).with_traceback(None) from flight.error
    if flight.frame is None:  # the capture ended by something other than an error (shutdown)
        raise DeviceError("The capture was interrupted; capture again.")
    return flight.frame
