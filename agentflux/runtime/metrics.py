"""OpenTelemetry metrics of the runtime, and a Prometheus endpoint to scrape them.

With no SDK meter provider, nothing is recorded (``Metrics.active`` is False,
decided once when a runner starts). ``serve_prometheus(port)`` sets one up
whose readings a Prometheus server scrapes at ``http://HOST:PORT/metrics``
(``agentflux run --metrics-port``). Instruments (Prometheus names in brackets:
dots become underscores, with the unit and ``_total`` appended):

=================================  ==========  ==========================================================
instrument                         kind        attributes
=================================  ==========  ==========================================================
``agentflux.records.handled``      counter     ``agent``, ``topic``, ``outcome``: ``ok`` or ``dead_letter``
``agentflux.handler.duration``     histogram   ``agent``, ``topic``, ``outcome`` (seconds, all attempts)
``agentflux.handler.retries``      counter     ``agent``, ``topic``: attempts after the first
``agentflux.dead_letters``         counter     ``agent``, ``topic``, ``reason``: ``unreadable`` or ``failed``
``agentflux.tasks.in_flight``      up-down     ``skill``: tasks this process is running now
``agentflux.task.duration``        histogram   ``skill``, ``state``: the terminal state (seconds)
``agentflux.tool.duration``        histogram   ``server``, ``tool``, ``outcome``: ``ok`` or ``error``
``agentflux.consumer.lag``         gauge       ``group``, ``topic``, ``partition``: records not yet committed
=================================  ==========  ==========================================================

Lag is the partition's end offset minus the group's committed position, for
each partition this process owns, measured every ``LAG_INTERVAL`` seconds by
the runner; a partition with no commit yet is not reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from agentflux.contract.errors import ConfigError

INSTALL = "pip install 'agentflux[otel]'"
LAG_INTERVAL = 2.0  # seconds between two measurements of consumer lag
Lag = dict[tuple[str, str, int], int]  # (group, topic, partition) -> records behind


class Metrics:
    """The runtime's instruments on ``provider`` (the global meter provider by default)."""

    def __init__(self, provider: metrics.MeterProvider | None = None) -> None:
        found = provider or metrics.get_meter_provider()
        self.active = sdk_configured(found)
        meter = found.get_meter("agentflux")
        self.handled = meter.create_counter("agentflux.records.handled", "{record}", "Records handled, by outcome")
        self.duration = meter.create_histogram("agentflux.handler.duration", "s", "Handling a record, all attempts")
        self.retries = meter.create_counter("agentflux.handler.retries", "{attempt}", "Attempts after the first")
        self.dead_letters = meter.create_counter("agentflux.dead_letters", "{record}", "Records dead-lettered")
        self.in_flight = meter.create_up_down_counter("agentflux.tasks.in_flight", "{task}", "Tasks running here")
        self.task_duration = meter.create_histogram("agentflux.task.duration", "s", "A task, to its terminal state")
        self.tool_duration = meter.create_histogram("agentflux.tool.duration", "s", "An MCP tool call")
        self.lag: Lag = {}  # replaced whole by the runner at each measurement
        meter.create_observable_gauge(
            "agentflux.consumer.lag", [self._observe_lag], "{record}", "Records after the committed position"
        )

    def _observe_lag(self, options: CallbackOptions) -> Iterable[Observation]:
        for (group, topic, partition), behind in self.lag.items():
            yield Observation(behind, {"group": group, "topic": topic, "partition": str(partition)})

    def record_handled(self, agent: str, topic: str, outcome: str, seconds: float, attempts: int) -> None:
        where = {"agent": agent, "topic": topic}
        self.handled.add(1, {**where, "outcome": outcome})
        self.duration.record(seconds, {**where, "outcome": outcome})
        if attempts > 1:
            self.retries.add(attempts - 1, where)
        if outcome == "dead_letter":
            self.dead_letters.add(1, {**where, "reason": "failed"})

    def record_unreadable(self, agent: str, topic: str) -> None:
        self.handled.add(1, {"agent": agent, "topic": topic, "outcome": "dead_letter"})
        self.dead_letters.add(1, {"agent": agent, "topic": topic, "reason": "unreadable"})


def sdk_configured(provider: metrics.MeterProvider) -> bool:
    """True unless ``provider`` is the API's no-op or a proxy with no SDK provider behind it."""
    return not isinstance(provider, (metrics.NoOpMeterProvider, _proxy_type()))


def _proxy_type() -> type:
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    return _ProxyMeterProvider


_CURRENT: Metrics | None = None


def current() -> Metrics:
    """The process's metrics on the global meter provider (for code a runner does not hand them to)."""
    global _CURRENT
    if _CURRENT is None or (not _CURRENT.active and sdk_configured(metrics.get_meter_provider())):
        _CURRENT = Metrics()
    return _CURRENT


def serve_prometheus(port: int, host: str = "0.0.0.0") -> Any:
    """Set up the global meter provider with a Prometheus reader, and serve ``/metrics`` on ``port``."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource
        from prometheus_client import start_http_server
    except ImportError as exc:
        raise ConfigError(f"--metrics-port needs the OpenTelemetry SDK and its Prometheus exporter: {INSTALL}") from exc
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigError(f"--metrics-port {port}: cannot listen on {host}:{port}: {exc}") from exc
    provider = MeterProvider(resource=Resource.create({}), metric_readers=[PrometheusMetricReader()])
    metrics.set_meter_provider(provider)
    return server
