"""The capture client's reconnects, keepalive and refusals against the real suite on loopback (uvicorn),
reached through a TCP relay the test drives one connection at a time: refuse it, forward it, cut it,
or freeze it (nothing passes and nothing closes, as when a NAT forgets the link or the hub's host
hangs). The backoff and the retry rules are also tested on their own."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import websockets
from anyio.abc import SocketAttribute, SocketStream, TaskGroup, TaskStatus
from pydantic import SecretStr
from websockets.datastructures import Headers
from websockets.http11 import Response

from capture_client.backoff import Backoff
from capture_client.client import DeviceService
from capture_client.connection import CaptureClient, ClientConfig, RefusedError, retry_or_stop
from capture_client.guard import DisplayGuard
from servers.app import create_app
from servers.hub.hub import Hub
from servers.settings import Settings
from tests.support.auth import SECRET
from tests.support.auth import token as minted_token
from tests.support.http import serve
from tests.support.standin_backends import StandInScreen, standin_backends

pytestmark = pytest.mark.anyio

TOKEN = "desk-token"
BOUND = 20.0


# --- the backoff and the retry rules on their own --------------------------------------------------


def test_the_backoff_doubles_up_to_its_cap_with_jitter_either_side():
    low = Backoff(0.5, 4, reset_after=10, random_unit=lambda: 0.0)
    assert [low.next_delay() for _ in range(6)] == pytest.approx([0.4, 0.8, 1.6, 3.2, 3.2, 3.2])
    high = Backoff(0.5, 4, reset_after=10, random_unit=lambda: 1.0)
    assert [high.next_delay() for _ in range(5)] == pytest.approx([0.6, 1.2, 2.4, 4.8, 4.8])


def test_the_backoff_starts_over_only_after_a_link_that_lived():
    backoff = Backoff(1, 60, reset_after=10, random_unit=lambda: 0.5)
    assert [backoff.next_delay() for _ in range(3)] == [1, 2, 4]
    backoff.link_ended(lived=9.9)  # up, then dropped at once: a hub that drops every link
    assert backoff.next_delay() == 8
    backoff.link_ended(lived=10)
    assert backoff.next_delay() == 1


def test_every_delay_generator_draws_from_the_one_backoff():
    # websockets asks for a fresh generator after each link that opened: that must not start over.
    backoff = Backoff(1, 60, reset_after=10, random_unit=lambda: 0.5)
    first = backoff.delays()
    assert [next(first), next(first)] == [1, 2]
    assert next(backoff.delays()) == 4


def _status(code: int, challenge: str | None = None) -> websockets.InvalidStatus:
    headers = Headers({"WWW-Authenticate": challenge} if challenge else {})
    return websockets.InvalidStatus(Response(code, "refused", headers))


def test_network_failures_and_5xx_are_retried():
    for error in (
        ConnectionRefusedError("refused"),
        TimeoutError("timed out during opening handshake"),
        websockets.InvalidMessage("did not receive a valid HTTP response"),
        _status(502),
        _status(503),
    ):
        assert retry_or_stop(error) is None, error


def test_a_refused_token_stops_with_what_to_fix():
    expired = retry_or_stop(
        _status(401, 'Bearer error="invalid_token", error_description="The device token expired"')
    )
    assert isinstance(expired, RefusedError) and str(expired) == "HTTP 401: The device token expired"
    unscoped = retry_or_stop(_status(403))
    assert isinstance(unscoped, RefusedError) and "--scopes device" in str(unscoped)


def test_a_bug_is_not_retried():
    bug = TypeError("unexpected keyword")
    assert retry_or_stop(bug) is bug


# --- against the real suite ----------------------------------------------------------------------


class Link:
    """One forwarded connection. `cut` closes both sides (the client sees the link drop); `freeze`
    lets nothing through either way and closes nothing, whatever either side does."""

    def __init__(self, client: SocketStream, server: SocketStream) -> None:
        self.frozen = False
        self._ends = (client, server)
        self._scope = anyio.CancelScope()

    async def run(self) -> None:
        client, server = self._ends
        with self._scope:
            async with client, server, anyio.create_task_group() as tg:
                tg.start_soon(self._pump, client, server)
                tg.start_soon(self._pump, server, client)

    async def _pump(self, source: SocketStream, sink: SocketStream) -> None:
        try:
            async for chunk in source:
                if not self.frozen:
                    await sink.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        if self.frozen:
            await anyio.sleep_forever()  # a blackhole carries no close either
        self._scope.cancel()  # one side closed: so does the other, as TCP would tell it

    def cut(self) -> None:
        self._scope.cancel()

    def freeze(self) -> None:
        self.frozen = True


class Relay:
    def __init__(self, tg: TaskGroup, server_port: int) -> None:
        self._tg = tg
        self._server_port = server_port
        self._accepted, self._incoming = anyio.create_memory_object_stream[SocketStream](16)
        self.port = 0

    async def listen(self, *, task_status: TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio's, not Django's
        task_status.started()
        await listener.serve(self._accepted.send)

    async def next_attempt(self) -> SocketStream:
        """The client's next connection attempt (bounded)."""
        with anyio.fail_after(BOUND):
            return await self._incoming.receive()

    async def refuse(self) -> None:
        """The next attempt finds a server that closes before answering (a proxy with no upstream)."""
        await (await self.next_attempt()).aclose()

    async def forward(self) -> Link:
        client = await self.next_attempt()
        link = Link(client, await anyio.connect_tcp("127.0.0.1", self._server_port))
        self._tg.start_soon(link.run)
        return link

    def start_forwarding_all(self) -> None:
        """Forward every attempt from now on (for a test that does not count them)."""

        async def forward_all() -> None:
            async for client in self._incoming:
                link = Link(client, await anyio.connect_tcp("127.0.0.1", self._server_port))
                self._tg.start_soon(link.run)

        self._tg.start_soon(forward_all)


@asynccontextmanager
async def suite_behind_relay(**changes: Any) -> AsyncIterator[tuple[Hub, Relay]]:
    base: dict[str, Any] = {
        "auth": False,
        "local_device": False,
        "device_tokens": {"desk": TOKEN},
        "servers": ["screen"],
        "skills_reload": False,
    }
    app = create_app(Settings(**(base | changes)))
    async with serve(app) as url, anyio.create_task_group() as tg:
        relay = Relay(tg, int(url.rsplit(":", 1)[1]))
        await tg.start(relay.listen)
        yield app.state.hub, relay
        tg.cancel_scope.cancel()


@asynccontextmanager
async def running_client(config: ClientConfig) -> AsyncIterator[CaptureClient]:
    screen = StandInScreen()
    service = DeviceService(lambda: standin_backends(screen), DisplayGuard())
    client = CaptureClient(config, service)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.run)
            yield client
            tg.cancel_scope.cancel()
    finally:
        await service.aclose()


async def connected(client: CaptureClient) -> None:
    """Until the client has its welcome (the hub lists a device from its hello on, a moment earlier)."""
    with anyio.fail_after(BOUND):
        await client.connected.wait()


def logged_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(d) for d in re.findall(r"reconnecting in ([\d.]+) s", caplog.text)]


@pytest.mark.slow
async def test_the_backoff_grows_until_a_link_lives_and_only_then_starts_over(caplog):
    caplog.set_level(logging.INFO)
    async with suite_behind_relay() as (_, relay):
        config = ClientConfig(
            server=f"http://127.0.0.1:{relay.port}",
            token=TOKEN,
            reconnect_min=0.05,
            reconnect_max=5,
            backoff_reset_after=1.0,
        )
        async with running_client(config) as client:
            for _ in range(3):  # 0.05, 0.1, 0.2 s
                await relay.refuse()
            brief = await relay.forward()
            await connected(client)
            brief.cut()  # dropped at once: the backoff goes on (0.4 s)
            await relay.refuse()  # and goes on after a failed attempt too (0.8 s)
            lasting = await relay.forward()
            await connected(client)
            await anyio.sleep(1.2)  # the link outlives backoff_reset_after
            lasting.cut()  # so the backoff starts over (0.05 s)
            await relay.next_attempt()
    delays = logged_delays(caplog)
    assert len(delays) == 6, caplog.text
    refused, after_brief, refused_again, after_lasting = delays[:3], delays[3], delays[4], delays[5]
    assert refused == sorted(refused) and refused[-1] >= 0.15, delays  # 0.2 s +- 20 %
    assert after_brief >= 0.3, f"a link that dropped at once reset the backoff: {delays}"
    assert refused_again >= 0.6, f"the backoff started over after a link that had not lived: {delays}"
    assert after_lasting <= 0.1, f"the backoff did not start over after a link that lived: {delays}"
    assert TOKEN not in caplog.text


@pytest.mark.slow
async def test_a_hub_gone_silent_is_dropped_after_three_of_its_heartbeats_and_the_client_comes_back(
    caplog,
):
    caplog.set_level(logging.INFO)
    async with suite_behind_relay(device_heartbeat_interval=0.4) as (hub, relay):
        config = ClientConfig(server=f"http://127.0.0.1:{relay.port}", token=TOKEN, reconnect_min=0.05)
        async with running_client(config) as client:
            link = await relay.forward()
            await connected(client)
            first = hub.devices.get("desk")
            link.freeze()
            relay.start_forwarding_all()  # the attempts after the client gave the frozen link up
            with anyio.fail_after(BOUND):
                while (device := hub.devices.get("desk")) in (None, first):
                    await anyio.sleep(0.01)
                await client.connected.wait()
            displays = await device.list_displays()
    assert "no word from the hub for 1.2 s" in caplog.text  # the window the hub's welcome set
    assert [d.width for d in displays] == [320]  # the hello announced the displays again


async def run_until_refused(config: ClientConfig, relay: Relay) -> str:
    """Run the client against the relay, forwarding its one attempt; the refusal it stopped with."""
    screen = StandInScreen()
    service = DeviceService(lambda: standin_backends(screen), DisplayGuard())
    refusals: list[str] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(relay.forward)
            with anyio.fail_after(BOUND), pytest.raises(RefusedError) as refused:
                await CaptureClient(config, service).run()
            refusals.append(str(refused.value))
    finally:
        await service.aclose()
    return refusals[0]


async def test_a_token_without_the_device_scope_stops_the_client_at_once(caplog):
    caplog.set_level(logging.DEBUG)
    bearer = minted_token("desk", scopes=("screen",))
    async with suite_behind_relay(auth=True, token_secret=SecretStr(SECRET)) as (_, relay):
        config = ClientConfig(server=f"http://127.0.0.1:{relay.port}", token=bearer, reconnect_min=0.05)
        refused = await run_until_refused(config, relay)
    assert refused.startswith("HTTP 403: "), refused
    assert "--scopes device" in refused
    assert "reconnecting" not in caplog.text  # stopped at the first answer, no retry
    assert bearer not in caplog.text  # DEBUG logs every handshake header


async def test_a_refused_hello_stops_the_client_with_the_hubs_reason(caplog):
    caplog.set_level(logging.INFO)
    async with suite_behind_relay() as (_, relay):
        config = ClientConfig(
            server=f"http://127.0.0.1:{relay.port}", token=TOKEN, device_id="laptop", reconnect_min=0.05
        )
        refused = await run_until_refused(config, relay)
    assert refused.startswith("wrong_device: This token is for device 'desk'"), refused
    assert "reconnecting" not in caplog.text
