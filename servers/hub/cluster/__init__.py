"""Several replicas on one Redis: device presence, shared frame geometry, requests routed to the
replica that holds a device's WebSocket, and device events carried to the replica that holds a call.

Redis is the engine (pub/sub for requests, replies and events; TTL'd keys for presence and frame
geometry); nothing here persists pixels. Without `REALTIME_MCP_REDIS_URL` none of it runs.
"""

from servers.hub.cluster.errors import ClusterError, ClusterUnavailableError

__all__ = ["ClusterError", "ClusterUnavailableError"]
