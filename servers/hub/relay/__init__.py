"""The relay: the hub's `Device` for a capture client, wherever the client runs (over the device
WebSocket, or in-process for the server's own display).

`device` holds `RelayDevice`; `pending` matches answers to requests; `checks` tests a frame
against the layout the hub was told; `fallback` keeps the last good and pushed frames.
"""

from servers.hub.relay.device import POINTER_TIMEOUT, RelayDevice, SendMessage
from servers.hub.relay.fallback import PUSH_WINDOW

__all__ = ["POINTER_TIMEOUT", "PUSH_WINDOW", "RelayDevice", "SendMessage"]
