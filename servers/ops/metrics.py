"""Prometheus metrics: counters bumped on the hot path, state read only when `/metrics` is scraped.

Counters live in one process-wide registry (`COUNTERS`), the prometheus-client idiom: a bump is a
lock and an add, so `capture_screen` pays nothing measurable. What is state rather than events
(devices connected, bridge calls active, skills loaded) is read from the app at scrape time by
`AppCollector`, so the hot path never maintains it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from servers.auth.verifier import caller_device
from servers.ops import logs

requests_log = logging.getLogger("realtime_mcp.requests")

COUNTERS = CollectorRegistry(auto_describe=True)

TOOL_CALLS = Counter(
    "realtime_mcp_tool_calls",
    "MCP tool calls by server, tool and outcome (ok, error: an isError result, crash).",
    ["server", "tool", "outcome"],
    registry=COUNTERS,
)
TOOL_SECONDS = Histogram(
    "realtime_mcp_tool_call_seconds",
    "MCP tool call latency by server and tool.",
    ["server", "tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=COUNTERS,
)
FRAMES_CAPTURED = Counter(
    "realtime_mcp_frames_captured", "Frames handed to callers, by device kind.", ["kind"], registry=COUNTERS
)
FRAMES_BLACK_WITHHELD = Counter(
    "realtime_mcp_frames_black_withheld",
    "Captures that came back black (or mid-reconfiguration) and were not shown as they were.",
    registry=COUNTERS,
)
FRAMES_STALE_SERVED = Counter(
    "realtime_mcp_frames_stale_served",
    "Last good frames served (marked STALE) in place of a black or failed capture.",
    registry=COUNTERS,
)
GUARD_PAUSES = Counter(
    "realtime_mcp_guard_pauses",
    "Capture requests a capture client refused because its display guard had paused capture.",
    ["reason"],
    registry=COUNTERS,
)

AnyCall = Callable[..., Awaitable[Any]]


def instrument_tools(server: Any, name: str) -> None:
    """Count and time every tool call of an MCPServer (wraps its `call_tool`, which the SDK's
    request handler calls through the instance)."""
    inner: AnyCall = server.call_tool

    async def call_tool(tool: str, arguments: dict[str, Any], context: Any = None) -> Any:
        started = time.perf_counter()
        outcome = "crash"
        named = arguments.get("device") if isinstance(arguments, dict) else None
        device = logs.DEVICE.set(str(named) if named else caller_device())
        try:
            result = await inner(tool, arguments, context)
            outcome = "error" if getattr(result, "is_error", False) else "ok"
            return result
        except Exception as e:
            # A ToolError becomes an isError result in the SDK's handler: the caller sees an error.
            outcome = "error" if type(e).__name__ == "ToolError" else "crash"
            raise
        finally:
            known = tool if tool in _known_tools(server) else "unknown"  # bounded label values
            elapsed = time.perf_counter() - started
            TOOL_CALLS.labels(name, known, outcome).inc()
            TOOL_SECONDS.labels(name, known).observe(elapsed)
            requests_log.info("tool %s.%s: %s in %.1f ms", name, known, outcome, elapsed * 1000)
            logs.DEVICE.reset(device)

    server.call_tool = call_tool


def _known_tools(server: Any) -> set[str]:
    manager = getattr(server, "_tool_manager", None)
    tools = getattr(manager, "_tools", None)
    return set(tools) if isinstance(tools, dict) else set()


def count_bridge_function(name: str, outcome: str) -> None:
    """A tool the Realtime bridge ran for a call (function mode): server `bridge`."""
    from servers.bridge.function_tools import FUNCTIONS  # lazy: the bridge imports this module

    TOOL_CALLS.labels("bridge", name if name in FUNCTIONS else "unknown", outcome).inc()


def frame_served(kind: str, stale: bool) -> None:
    FRAMES_CAPTURED.labels(kind).inc()
    if stale:
        FRAMES_STALE_SERVED.inc()


class AppCollector(Collector):
    """State of one app, read at scrape time: devices, bridge calls, skills."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        hub = getattr(self._state, "hub", None)
        if hub is not None:
            devices = GaugeMetricFamily(
                "realtime_mcp_devices_connected", "Capture clients connected now.", value=0
            )
            devices.samples.clear()
            devices.add_metric([], len(hub.devices.connected()))
            yield devices
        bridge = getattr(self._state, "bridge", None)
        if bridge is not None:
            calls = list(bridge.calls_of(None))
            active = GaugeMetricFamily(
                "realtime_mcp_bridge_calls_active", "Realtime calls the bridge is attached to or attaching."
            )
            active.add_metric([], sum(1 for c in calls if c.state not in ("ended", "failed")))
            yield active
            frames = CounterMetricFamily(
                "realtime_mcp_bridge_frames_delivered",
                "Frames delivered to Realtime calls (calls still listed by the bridge).",
            )
            frames.add_metric([], sum(c.sequencer.frames_sent for c in calls))
            yield frames
        skills = (getattr(self._state, "servers", None) or {}).get("skills")
        runtime = getattr(skills, "runtime", None)
        if runtime is not None:
            catalog = runtime.catalog
            loaded = GaugeMetricFamily("realtime_mcp_skills_loaded", "Skills in the catalog.")
            loaded.add_metric([], len(catalog))
            yield loaded
            skipped = GaugeMetricFamily(
                "realtime_mcp_skills_skipped", "Skill files skipped with an error diagnostic."
            )
            skipped.add_metric([], skills_skipped(catalog.diagnostics))
            yield skipped
            reloads = CounterMetricFamily(
                "realtime_mcp_skills_reloads", "Skill reloads that changed the catalog."
            )
            reloads.add_metric([], runtime.reloaded)
            yield reloads


def skills_skipped(diagnostics: Iterable[Any]) -> int:
    """Files with at least one error-severity problem (each was not loaded)."""
    return len({p.path for p in diagnostics if str(p.severity) == "error"})


class _Counters(Collector):
    def collect(self) -> Iterable[Metric]:
        return COUNTERS.collect()


def app_registry(state: Any) -> CollectorRegistry:
    """One app's /metrics: the process counters plus that app's state."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Counters())
    registry.register(AppCollector(state))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
