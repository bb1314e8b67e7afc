"""The cluster layer's exceptions, and Redis failures turned into errors a caller can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError

from servers.hub.device import DeviceUnavailableError


class ClusterError(Exception):
    """Setting up the shared state failed (Redis unreachable at start, a bad URL)."""


class ClusterUnavailableError(DeviceUnavailableError):
    """Redis or the replica holding a device did not answer; the message says which and what to do."""


class CallNotHere(LookupError):
    """No replica holds this Realtime call for this device."""


def safe_url(url: str) -> str:
    """The Redis URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


@contextmanager
def redis_errors(what: str) -> Iterator[None]:
    """A Redis failure while doing `what` becomes a `ClusterUnavailableError` (a device error the
    model reads) instead of an internal error; the cause is chained."""
    try:
        yield
    except RedisError as e:
        raise ClusterUnavailableError(
            f"The suite's shared state (Redis) is unreachable, so {what} failed "
            f"({type(e).__name__}); nothing was done. Try again in a few seconds."
        ) from e
