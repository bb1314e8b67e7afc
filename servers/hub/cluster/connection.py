"""The Redis client every replica uses, configured so that nothing waits long on a Redis that is gone."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servers.hub.cluster.errors import ClusterError, safe_url

CONNECT_TIMEOUT = 1.0
"""Seconds to open a connection to Redis."""
COMMAND_TIMEOUT = 2.0
"""Seconds one command may take; with the retries below a call gives up within about 4 s."""
RETRIES = 2
HEALTH_CHECK_INTERVAL = 5
"""Seconds an idle connection (the pub/sub one too) goes unchecked before a PING."""


def client(url: str) -> Redis:
    """A pooled client for `url` that reconnects with a short exponential backoff."""
    try:
        return Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            health_check_interval=HEALTH_CHECK_INTERVAL,
            # RESP2: redis-py's RESP3 parser turns every pub/sub message into a string for a debug
            # log line, even with debug off (measured: ~3 ms per 280 KB frame crossing replicas).
            protocol=2,
        )
    except ValueError as e:
        raise ClusterError(f"REALTIME_MCP_REDIS_URL is not a Redis URL ({safe_url(url)}): {e}") from e


def _unreachable(url: str, error: Exception) -> ClusterError:
    return ClusterError(
        f"Redis at {safe_url(url)} (REALTIME_MCP_REDIS_URL) does not answer ({type(error).__name__}: "
        f"{error}). Start it, or fix the URL; leave REALTIME_MCP_REDIS_URL unset to run one replica "
        "without Redis."
    )


async def check(redis: Redis, url: str) -> None:
    """Fail at start with a message that names the Redis and what to do, when it does not answer."""
    try:
        await redis.ping()
    except RedisError as e:
        raise _unreachable(url, e) from e


def preflight(url: str) -> None:
    """The same check before the server starts (`realtime-mcp serve`), so the error is one line."""
    import anyio

    async def ping() -> None:
        redis = client(url)
        try:
            await check(redis, url)
        finally:
            await redis.aclose()

    anyio.run(ping)
