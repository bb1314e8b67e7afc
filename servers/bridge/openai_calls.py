"""HTTP to OpenAI's Realtime calls API: create a WebRTC call from an SDP offer, hang one up.

Every failure becomes an `OpenAIError` whose message says what to fix; the API key never appears
in one (nor in a log).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

log = logging.getLogger("realtime_mcp.bridge")

TIMEOUT = httpx.Timeout(20.0, connect=10.0)
CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class OpenAIError(Exception):
    """OpenAI refused or could not be reached; `status` is what the suite answers its own caller."""

    def __init__(self, message: str, *, status: int = 502, code: str = "openai_error") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class KeyRefusedError(OpenAIError):
    """OpenAI does not accept the suite's API key."""


class OfferRefusedError(OpenAIError):
    """OpenAI refused the SDP offer or the session config."""


class UnreachableError(OpenAIError):
    """OpenAI could not be reached, or answered out of turn."""


@dataclass(frozen=True, slots=True)
class CreatedCall:
    call_id: str
    sdp_answer: str


def sideband_url(base_url: str, call_id: str) -> str:
    """`wss://<base>/realtime?call_id=<id>` from the API base URL (https -> wss, http -> ws)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"The OpenAI base URL must be http(s)://host[/path], not {base_url!r}.")
    return urlunsplit((scheme, parts.netloc, parts.path + "/realtime", f"call_id={call_id}", ""))


def _openai_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")[:300]
    return str(body)[:300]


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    said = _openai_message(response)
    if response.status_code == 401:
        raise KeyRefusedError(
            f"OpenAI refused the suite's API key while {what} (HTTP 401: {said}). Set a valid key in "
            "REALTIME_MCP_OPENAI_API_KEY (or OPENAI_API_KEY) and restart the suite.",
            status=502,
            code="openai_key_refused",
        )
    if response.status_code == 400:
        raise OfferRefusedError(
            f"OpenAI refused the request while {what} (HTTP 400: {said}). Check the SDP offer your "
            "app sent (it must be a WebRTC offer starting with v=0).",
            status=400,
            code="openai_refused_offer",
        )
    if response.status_code == 404:
        raise OpenAIError(f"OpenAI does not know that call ({what}): {said}", status=404, code="unknown_call")
    raise UnreachableError(
        f"OpenAI answered HTTP {response.status_code} while {what}: {said}", code="openai_unavailable"
    )


class OpenAICalls:
    """The suite's client of `{base}/realtime/calls`. `transport` lets tests pass a mock transport."""

    def __init__(
        self, base_url: str, api_key: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._client = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, follow_redirects=False)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def create(self, sdp_offer: str, session: dict[str, Any]) -> CreatedCall:
        """Create a call: multipart `sdp` + `session`; the call id comes from `Location`."""
        files = {
            "sdp": (None, sdp_offer, "application/sdp"),
            "session": (None, json.dumps(session), "application/json"),
        }
        try:
            response = await self._client.post(
                f"{self.base_url}/realtime/calls", files=files, headers=self._headers()
            )
        except httpx.HTTPError as e:
            raise UnreachableError(
                f"OpenAI could not be reached at {self.base_url} ({type(e).__name__}). Check the network "
                "and REALTIME_MCP_OPENAI_BASE_URL.",
                code="openai_unreachable",
            ) from e
        _raise_for(response, "creating the call")
        location = response.headers.get("location", "")
        call_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not CALL_ID.match(call_id):
            raise UnreachableError(
                "OpenAI created a call but named no call id in its Location header; the suite cannot "
                "attach to it.",
                code="openai_no_call_id",
            )
        return CreatedCall(call_id=call_id, sdp_answer=response.text)

    async def hangup(self, call_id: str) -> None:
        try:
            response = await self._client.post(
                f"{self.base_url}/realtime/calls/{call_id}/hangup", headers=self._headers()
            )
        except httpx.HTTPError as e:
            raise UnreachableError(
                f"OpenAI could not be reached to hang up call {call_id} ({type(e).__name__}).",
                code="openai_unreachable",
            ) from e
        if response.status_code == 404:
            return  # already over
        _raise_for(response, f"hanging up call {call_id}")
