"""The fake Realtime service's wire vocabulary, built from the openai package's own types.

Client events are validated with `TypeAdapter(RealtimeClientEvent)`; unknown fields are refused
too (the openai models allow extras, the real service answers `unknown_parameter`). Server events
are constructed from the openai server-event model classes and round-tripped through
`TypeAdapter(RealtimeServerEvent)` before they leave, so the fake cannot drift from the SDK.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any, get_args

from openai.types.realtime import (
    ConversationItem,
    RealtimeClientEvent,
    RealtimeServerEvent,
    RealtimeSessionCreateRequest,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

CLIENT_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeClientEvent)
SERVER_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
ITEMS: TypeAdapter[Any] = TypeAdapter(ConversationItem)
SESSION_REQUEST = TypeAdapter(RealtimeSessionCreateRequest)

_ALPHABET = string.ascii_letters + string.digits
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _literal_type(cls: type[BaseModel]) -> str:
    return get_args(cls.model_fields["type"].annotation)[0]


CLIENT_EVENT_CLASSES: dict[str, type[BaseModel]] = {
    _literal_type(cls): cls for cls in get_args(get_args(RealtimeClientEvent)[0])
}


def new_id(prefix: str, length: int = 21) -> str:
    """An id shaped like OpenAI's: `event_`, `item_`, `resp_`, `conv_`, `sess_` + 21 characters."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_call_id() -> str:
    """A WebRTC call id as it appears in the `Location` header: `rtc_` + hex."""
    return "rtc_" + secrets.token_hex(16)


class FakeRealtimeError(Exception):
    """A test drove the fake into something the real service would not do."""


class InvalidClientEvent(Exception):
    """A client event the real service would refuse; carries the fields of the `error` it answers."""

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


def unknown_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first field no openai model declares (openai models keep extras)."""
    if isinstance(value, BaseModel):
        for name in value.model_extra or {}:
            return path + name
        for name in type(value).model_fields:
            found = unknown_field(getattr(value, name), f"{path}{name}.")
            if found:
                return found
    elif isinstance(value, list):
        for index, element in enumerate(value):
            found = unknown_field(element, f"{path[:-1]}[{index}].")
            if found:
                return found
    return None


def _first_error(exc: ValidationError) -> InvalidClientEvent:
    error = exc.errors()[0]
    param = ".".join(str(part) for part in error["loc"]) or None
    code = "missing_required_parameter" if error["type"] == "missing" else "invalid_value"
    return InvalidClientEvent(f"{error['msg']} at '{param}'.", code=code, param=param)


def check_tools(tools: Any, param: str) -> None:
    """Refusals of tool lists the openai types accept but the service does not (FACTS.md): bad
    function names, an mcp entry with both or neither of server_url/connector_id, or with both
    `authorization` and an Authorization header."""
    for index, tool in enumerate(tools or []):
        where = f"{param}[{index}]"
        if tool.get("type") == "function" and not TOOL_NAME.match(tool.get("name") or ""):
            message = f"Invalid '{where}.name': string does not match pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
            raise InvalidClientEvent(message, code="invalid_value", param=f"{where}.name")
        if tool.get("type") != "mcp":
            continue
        if bool(tool.get("server_url")) == bool(tool.get("connector_id")):
            message = f"Exactly one of '{where}.server_url' and '{where}.connector_id' must be set."
            raise InvalidClientEvent(message, code="invalid_value", param=where)
        if tool.get("authorization") and any(k.lower() == "authorization" for k in tool.get("headers") or {}):
            message = f"'{where}.authorization' and an Authorization header cannot both be set."
            raise InvalidClientEvent(message, code="invalid_value", param=f"{where}.headers")


def validate_client_event(data: Any) -> BaseModel:
    """The event as the openai model, or InvalidClientEvent shaped like the service's refusal."""
    if not isinstance(data, dict):
        raise InvalidClientEvent("Expected a JSON object.", code="invalid_json")
    kind = data.get("type")
    if kind not in CLIENT_EVENT_CLASSES:
        supported = ", ".join(sorted(CLIENT_EVENT_CLASSES))
        raise InvalidClientEvent(
            f"Invalid value: {kind!r}. Supported values are: {supported}.", code="invalid_value", param="type"
        )
    try:
        model = CLIENT_EVENTS.validate_python(data)
    except ValidationError:
        try:  # the same event against its own class names the field, not every union member
            CLIENT_EVENT_CLASSES[kind].model_validate(data)
        except ValidationError as exc:
            raise _first_error(exc) from exc
        raise
    extra = unknown_field(model)
    if extra:
        raise InvalidClientEvent(f"Unknown parameter: '{extra}'.", code="unknown_parameter", param=extra)
    if kind == "session.update":
        check_tools(data["session"].get("tools"), "session.tools")
    elif kind == "response.create":
        check_tools((data.get("response") or {}).get("tools"), "response.tools")
    return model


def validate_session(session: Any) -> dict[str, Any]:
    """A session config (multipart `session` field or `create_call`), validated like the service does."""
    try:
        model = SESSION_REQUEST.validate_python(session)
    except ValidationError as exc:
        raise _first_error(exc) from exc
    extra = unknown_field(model)
    if extra:
        raise InvalidClientEvent(
            f"Unknown parameter: 'session.{extra}'.", code="unknown_parameter", param=f"session.{extra}"
        )
    check_tools(session.get("tools"), "session.tools")
    return model.model_dump(mode="json", exclude_unset=True)


def item(data: dict[str, Any]) -> dict[str, Any]:
    """A conversation item, checked against the openai `ConversationItem` union."""
    return ITEMS.validate_python(data).model_dump(mode="json", exclude_unset=True)


def server_event(cls: type[BaseModel], **fields: Any) -> dict[str, Any]:
    """A server event built from its openai model class, dumped to JSON and round-tripped through
    `TypeAdapter(RealtimeServerEvent)`; a fake bug that the SDK would not parse raises here."""
    model = cls(event_id=new_id("event_"), type=_literal_type(cls), **fields)
    data = model.model_dump(mode="json", exclude_unset=True)
    parsed = SERVER_EVENTS.validate_python(data)
    if not isinstance(parsed, cls) or unknown_field(parsed):
        raise FakeRealtimeError(f"{cls.__name__} does not round-trip as a RealtimeServerEvent: {data}")
    return data
