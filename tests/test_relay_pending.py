"""The relay's table of requests waiting for their answers (anyio events, in-process)."""

from __future__ import annotations

import anyio
import pytest

from servers.hub.device import DeviceUnavailableError
from servers.hub.relay.pending import CAPTURE_PREFIX, POINTER_PREFIX, PendingRequests

pytestmark = pytest.mark.anyio


async def test_an_answer_reaches_the_request_that_waits_for_it():
    pending = PendingRequests()
    rid = pending.new_id(CAPTURE_PREFIX)
    assert rid.startswith(CAPTURE_PREFIX) and pending.new_id(POINTER_PREFIX).startswith(POINTER_PREFIX)
    with pending.expect(rid) as answer:
        assert pending.resolve(rid, "frame")
        assert pending.resolve(rid, "a second answer")  # known, and ignored
        with anyio.fail_after(1):
            assert await answer.wait() == "frame"
    assert not pending.is_waiting(rid)
    assert not pending.resolve(rid, "late")  # never expired, no longer waiting: unknown


async def test_a_request_that_timed_out_takes_its_late_answer_quietly():
    pending = PendingRequests()
    rid = pending.new_id(CAPTURE_PREFIX)
    with pytest.raises(TimeoutError), pending.expect(rid) as answer, anyio.fail_after(0.01):
        await answer.wait()
    assert pending.is_expired(rid) and not pending.is_waiting(rid)
    assert pending.resolve(rid, "late frame")  # known (dropped), not refused as unknown
    assert not pending.resolve("c999", "never asked")


async def test_closing_fails_every_waiting_request_and_every_later_one():
    pending = PendingRequests()
    failures: list[BaseException] = []

    async def wait(rid: str) -> None:
        with pending.expect(rid) as answer:
            try:
                await answer.wait()
            except DeviceUnavailableError as e:
                failures.append(e)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(wait, f"c{i}")
            await anyio.wait_all_tasks_blocked()
            pending.fail_all(lambda: DeviceUnavailableError("disconnected"))
    assert len(failures) == 3 and len({id(e) for e in failures}) == 3  # one exception each
    with pending.expect("c9") as answer, pytest.raises(DeviceUnavailableError), anyio.fail_after(1):
        await answer.wait()
