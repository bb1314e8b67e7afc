"""How long the capture client waits between connection attempts (pure logic, no I/O).

websockets' reconnecting `connect` asks its `reconnect_delays` factory for a fresh generator after
every link that opened, so its own backoff starts over each time, even for a hub that accepts the
handshake and drops the link at once. Here every generator draws from one shared state, and the
state starts over only when the client reports a link that stayed up (`link_ended`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator

JITTER = 0.2
"""Each delay is scaled by a factor in [1 - JITTER, 1 + JITTER], so clients that lost the same hub
do not all come back at the same instant."""


class Backoff:
    """Delays from `first` doubling up to `cap`, with jitter; `link_ended` starts them over when a
    link lived `reset_after` seconds or more (a redeploy after hours must not wait `cap`)."""

    def __init__(
        self,
        first: float,
        cap: float,
        reset_after: float,
        *,
        random_unit: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"need 0 < first <= cap, got first={first}, cap={cap}")
        self.first = first
        self.cap = cap
        self.reset_after = reset_after
        self._random_unit = random_unit
        self._next = first

    def next_delay(self) -> float:
        """The delay before the next attempt; the one after it doubles (up to `cap`)."""
        delay = self._next * (1 - JITTER + 2 * JITTER * self._random_unit())
        self._next = min(self._next * 2, self.cap)
        return delay

    def link_ended(self, lived: float) -> None:
        """A link that had opened ended after `lived` seconds."""
        if lived >= self.reset_after:
            self._next = self.first

    def delays(self) -> Generator[float]:
        """websockets' `reconnect_delays`: endless delays, all drawn from this one state."""
        while True:
            yield self.next_delay()
