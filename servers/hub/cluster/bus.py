"""Requests, replies and broadcasts between replicas over Redis pub/sub.

Each replica reads one inbox channel (requests for the devices it holds, replies to its own
requests), the control channel, and the event channels of devices it follows. A request published
to an inbox nobody reads is answered at once: PUBLISH says how many replicas received it, so a
replica that died fails its callers immediately rather than at the timeout. Nothing is persisted.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from servers.hub.cluster import codec
from servers.hub.cluster.errors import ClusterUnavailableError, redis_errors
from servers.hub.cluster.keys import Keys
from servers.hub.device import DeviceError
from servers.hub.relay.pending import PendingRequests

log = logging.getLogger("realtime_mcp.cluster")

Handler = Callable[[dict[str, Any], bytes], Awaitable[tuple[dict[str, Any], bytes]]]
"""Serves one request: (body, payload) in, (body, payload) out; domain errors are raised."""
Listener = Callable[[str, codec.Message], None]
"""Hears a message on a followed channel (called inline: hand on, never block)."""

POLL = 0.25
"""Seconds one wait for a message lasts; subscriptions change between waits."""
RECONNECT_PAUSE = 0.2
RESUBSCRIBE_WAIT = 1.0
"""Seconds a request waits for this replica's own subscription to come back after a Redis blip."""


class ReplicaGoneError(ClusterUnavailableError):
    """The replica a request was for no longer reads its inbox (stopped or killed)."""


class Bus:
    def __init__(self, redis: Redis, keys: Keys, replica_id: str) -> None:
        self.redis = redis
        self.keys = keys
        self.replica_id = replica_id
        self._handlers: dict[str, Handler] = {}
        self._listeners: dict[str, Listener] = {}
        self._pending = PendingRequests()
        self._wanted: set[str] = {keys.inbox(replica_id), keys.control()}
        self._subscribed: dict[str, anyio.Event] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self.connected = anyio.Event()
        self.live = False
        """Whether the inbox is subscribed now: presence is announced only while it is, or another
        replica would send requests to an inbox nobody reads yet (just after a Redis restart); and a
        request goes out only while it is, or its reply would reach an inbox nobody reads."""
        self._back = anyio.Event()
        self.reconnected: Callable[[], None] | None = None
        """Called when the subscription comes back after a Redis outage (re-announce presence)."""

    def handle(self, op: str, handler: Handler) -> None:
        self._handlers[op] = handler

    def listen(self, channel: str, listener: Listener) -> anyio.Event:
        """Hear messages on `channel`; the event is set once the subscription is sent (within one poll)."""
        self._listeners[channel] = listener
        self._wanted.add(channel)
        return self._subscribed.setdefault(channel, anyio.Event())

    def unlisten(self, channel: str) -> None:
        self._listeners.pop(channel, None)
        self._wanted.discard(channel)
        self._subscribed.pop(channel, None)

    # --- asking -----------------------------------------------------------------------------

    async def request(
        self, replica: str, op: str, body: dict[str, Any], *, limit: float, what: str
    ) -> codec.Message:
        """Ask `replica` to run `op`; the reply, or the domain error it answered with."""
        if not self.live:
            with anyio.move_on_after(min(limit, RESUBSCRIBE_WAIT)):
                await self._back.wait()
            if not self.live:
                raise ClusterUnavailableError(
                    f"This replica's link to the suite's shared state (Redis) is down, so {what} failed; "
                    "nothing was done. Try again in a few seconds."
                )
        request_id = secrets.token_hex(8)
        with self._pending.expect(request_id) as answer:
            message = codec.encode("req", id=request_id, op=op, reply_to=self.replica_id, body=body)
            with redis_errors(what):
                received = await self.redis.publish(self.keys.inbox(replica), message)
            if not received:
                # Nobody reads its inbox: the replica died, or it is subscribing again after a Redis
                # restart (its device can be announced a moment before). Either way, a retry soon works.
                raise ReplicaGoneError(
                    f"The replica holding this device ({replica}) is not listening (gone, or reconnecting to "
                    f"Redis), so {what} failed; nothing was done. Try again in a few seconds: if it is gone, "
                    "the capture client reconnects to a live replica."
                )
            try:
                with anyio.fail_after(limit):
                    reply = await answer.wait()
            except TimeoutError as e:
                raise ClusterUnavailableError(
                    f"The replica holding this device ({replica}) did not answer within {limit:g} s, so "
                    f"{what} failed. Try again."
                ) from e
        assert isinstance(reply, codec.Message)
        if not reply.header.get("ok"):
            raise codec.error_from(reply.header.get("error") or {})
        return reply

    async def publish(self, channel: str, data: bytes) -> int:
        return await self.redis.publish(channel, data)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Read messages until cancelled. After a Redis failure the subscription is made anew (a
        fresh pub/sub connection subscribed to every channel), whatever the redis-py version does
        with the broken one; requests that wait meanwhile end at their own timeouts."""
        started = down = False
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                while True:
                    pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                    try:
                        await self._sync_subscriptions(pubsub)
                        if down:
                            log.info("Redis link back: subscribed again")
                            if self.reconnected is not None:
                                self.reconnected()
                        down = False
                        self.live = True
                        self._back.set()
                        self.connected.set()
                        if not started:
                            started = True
                            task_status.started()
                        await self._loop(pubsub)
                    except (RedisError, OSError) as e:
                        if self.live:
                            self.live, self._back = False, anyio.Event()
                        if not started:
                            raise
                        if not down:
                            log.warning("Redis link lost (%s); reconnecting", type(e).__name__)
                        down = True
                    finally:
                        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                            await pubsub.aclose()
                    await anyio.sleep(RECONNECT_PAUSE)
            finally:
                self._tg = None

    async def _loop(self, pubsub: PubSub) -> None:
        while True:
            await self._sync_subscriptions(pubsub)
            message = await pubsub.get_message(timeout=POLL)
            if message is not None and message.get("type") == "message":
                self._dispatch(_text(message["channel"]), message["data"])

    async def _sync_subscriptions(self, pubsub: PubSub) -> None:
        current = {_text(c) for c in pubsub.channels}
        if extra := current - self._wanted:
            await pubsub.unsubscribe(*extra)
        if missing := self._wanted - current:
            await pubsub.subscribe(*missing)
        for channel in self._wanted:
            if (event := self._subscribed.get(channel)) is not None:
                event.set()

    def _dispatch(self, channel: str, data: bytes) -> None:
        try:
            message = codec.decode(data)
        except codec.MessageError as e:
            log.warning("a message on %s was refused: %s", channel, e)
            return
        if message.kind == "rep":
            self._pending.resolve(str(message.header.get("id")), message)
        elif message.kind == "req" and channel == self.keys.inbox(self.replica_id):
            if self._tg is not None:
                self._tg.start_soon(self._serve, message)
        elif (listener := self._listeners.get(channel)) is not None:
            try:
                listener(channel, message)
            except Exception:  # one listener's bug must not stop the loop
                log.exception("a listener of %s failed", channel)

    async def _serve(self, message: codec.Message) -> None:
        header = message.header
        handler = self._handlers.get(str(header.get("op")))
        payload = b""
        try:
            if handler is None:
                raise DeviceError(f"this replica does not serve {header.get('op')!r}")
            body, payload = await handler(header.get("body") or {}, message.payload)
            reply = codec.encode("rep", payload, id=header.get("id"), ok=True, body=body)
        except Exception as e:
            if type(e).__name__ not in codec.KNOWN_ERRORS:
                log.exception("serving %s for another replica failed", header.get("op"))
            reply = codec.encode("rep", id=header.get("id"), ok=False, error=codec.error_body(e))
        try:
            await self.redis.publish(self.keys.inbox(str(header.get("reply_to"))), reply)
        except RedisError as e:
            log.warning("a reply was not sent (%s)", type(e).__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
