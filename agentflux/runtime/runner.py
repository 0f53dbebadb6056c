"""Running agents: provisioning, one consumer per agent, and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable
from typing import Any, Protocol

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from agentflux.contract import compat
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import LifecycleError, SchemaIncompatible
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.topics import TopicSpec, reserved_specs
from agentflux.runtime.context import Context, Services, ToolProvider
from agentflux.runtime.declarations import Agent, AgentApp
from agentflux.runtime.handlers import TICK_TYPE, Schedule
from agentflux.runtime.keyed_consumer import KeyOrderedConsumer
from agentflux.runtime.metrics import LAG_INTERVAL, Lag, Metrics
from agentflux.runtime.processing import EventProcessor
from agentflux.runtime.publisher import Publisher
from agentflux.runtime.tasks.requester import Requester
from agentflux.runtime.tasks.worker import skill_topic_specs, task_consumer
from agentflux.runtime.telemetry import configured_tracer_provider
from agentflux.runtime.tracing import Tracing
from agentflux.transport.base import Transport

log = logging.getLogger("agentflux.runtime")


def kafka_transport(
    app: AgentApp, *, instance_id: str | None = None, connect_timeout: float | None = 10.0
) -> Transport:
    """The Kafka transport for ``app`` from its settings and the environment.

    ``instance_id`` turns on static group membership (``group.instance.id``): a
    restarted process with the same id takes its partitions back at once,
    without waiting for the session timeout. ``connect_timeout`` is how long
    starting waits for a broker (None: as long as it takes).
    """
    from agentflux.transport.kafka import KafkaTransport

    return KafkaTransport.resolve(
        app.bootstrap_servers,
        consumer_extra={"group.instance.id": instance_id} if instance_id else None,
        max_message_bytes=app.max_message_bytes,
        connect_timeout=connect_timeout,
    )


def schema_registry(app: AgentApp | None, transport: Transport) -> Registry | None:
    """The registry client for ``app``: its own URL, else the transport's settings (env, embedded registry)."""
    settings = getattr(transport, "settings", None)
    url = (app.schema_registry_url if app else None) or getattr(settings, "schema_registry_url", None)
    config = getattr(settings, "schema_registry_config", None) or {}
    return Registry(url, config) if url else None


async def check_published_schemas(agents: Iterable[Agent], payloads: Payloads) -> None:
    """Refuse to start an agent whose models break the compatibility rule of a topic it writes.

    For each registry-format topic an agent declares in ``publishes`` (and the
    results topic of each skill it offers) and each
    model the topic declares (``app.topic(name, types=...)``), the registry
    compares the model's schema with the subject's latest version. A subject
    with no versions yet gets the topic's rule now, before its first schema.
    Raises ``SchemaIncompatible`` with the same message as ``agentflux schema
    check``, or ``SchemaRegistryUnavailable`` when the registry does not answer.
    """
    written = {a.name: (*a.publishes, *(s.results_topic for s in a.skills)) for a in agents}
    if payloads.registry is None:
        registered = [t for topics in written.values() for t in topics if payloads.registered(t)]
        if registered:
            payloads.registry_for(registered[0])  # raises the ConfigError saying how to configure one
        return
    seen: set[tuple[str, str]] = set()
    for agent in agents:
        for topic in written[agent.name]:
            fmt = payloads.format_of(topic)
            if not fmt.registered:
                continue
            for model in fmt.types:
                if (topic, model.__qualname__) in seen:
                    continue
                seen.add((topic, model.__qualname__))
                verdict = await compat.check(payloads.registry, fmt, model)
                if not verdict.ok:
                    raise SchemaIncompatible(f"agent {agent.name!r} cannot start: {verdict.message()}")
                if verdict.outcome == "new":
                    await payloads.prepare_subject(fmt, model)


class RunnerPlugin(Protocol):
    """Something that runs beside the agents, such as A2A discovery (``agentflux.a2a.Discovery``).

    ``start(runner)`` is called once the topics exist and before any consumer or
    schedule starts, so it may replace ``runner.services.requester`` before any
    handler uses it; ``stop()`` is called first thing in ``AppRunner.stop()``,
    before the consumers stop, in reverse order.
    """

    async def start(self, runner: AppRunner) -> None: ...

    async def stop(self) -> None: ...


class AppRunner:
    """Runs some or all agents of an app in this process.

    ``start()`` provisions every declared, subscribed and reserved topic before
    any consumer joins, so nothing is published to a topic that does not exist.
    ``stop()`` stops fetching, lets in-flight records finish (up to ``grace``
    seconds), commits, and closes. Both are idempotent.
    """

    def __init__(
        self,
        app: AgentApp,
        transport: Transport,
        *,
        agents: Iterable[str] | None = None,
        tools: ToolProvider | None = None,
        grace: float = 30.0,
        plugins: Iterable[RunnerPlugin] = (),
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.app = app
        self.plugins = list(plugins)
        self.agents: list[Agent] = app.select(agents)
        self.transport = transport
        self.payloads = Payloads(app.format_of, schema_registry(app, transport))
        self.tracing = Tracing(tracer_provider or configured_tracer_provider(service=app.name))
        self.services = Services(
            Publisher(transport, app.topic_spec, self.payloads, self.tracing),
            tools,
            requester=Requester(transport, lookup=app.find_skill, payloads=self.payloads, tracing=self.tracing),
            metrics=Metrics(meter_provider),
        )
        self.grace = grace
        self.consumers: list[KeyOrderedConsumer] = []
        self.processors: dict[str, EventProcessor] = {}  # by agent name: what each one's records came to
        self.schedules: list[ScheduleRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lag_task: asyncio.Task[None] | None = None
        self._started = False

    def topic_specs(self) -> list[TopicSpec]:
        names = {t for a in self.agents for t in (*a.topics, *a.publishes)} | set(self.app.topics)
        return [
            *reserved_specs(self.app.default_partitions, max_message_bytes=self.app.max_message_bytes),
            *(self.app.topic_spec(n) for n in sorted(names)),
            *skill_topic_specs(self.app),
        ]

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await check_published_schemas(self.agents, self.payloads)
        await self.transport.start()
        specs = self.topic_specs()
        await self.transport.ensure_topics(specs)
        self.services.publisher.mark_ready([s.name for s in specs])
        # Plugins first: one may plug a router into the requester (Discovery does), and a record
        # handled before that would be delegated without it.
        for plugin in self.plugins:
            await plugin.start(self)
        for agent in self.agents:
            if not agent.topics:
                continue
            processor = EventProcessor(agent, self.services, max_message_bytes=self.app.max_message_bytes)
            self.processors[agent.name] = processor
            consumer = KeyOrderedConsumer(
                self.transport,
                agent.group_id,
                agent.topics,
                processor,
                concurrency=agent.concurrency,
                grace=self.grace,
            )
            self.consumers.append(consumer)
            self._tasks.append(asyncio.create_task(consumer.run(), name=f"agent:{agent.name}"))
        for agent in (a for a in self.agents if a.skills):
            grace, limit = self.grace, self.app.max_message_bytes
            consumer = task_consumer(agent, self.services, max_message_bytes=limit, grace=grace)
            self.consumers.append(consumer)
            self._tasks.append(asyncio.create_task(consumer.run(), name=f"agent:{agent.name}:tasks"))
        for schedule in (s for a in self.agents for s in a.schedules):
            ticker = ScheduleRunner(schedule, self.services, self.grace)
            self.schedules.append(ticker)
            self._tasks.append(asyncio.create_task(ticker.run(), name=f"agent:{schedule.agent.name}:every"))
        if self.services.metrics.active and self.consumers:
            self._lag_task = asyncio.create_task(self._measure_lag(), name="agentflux:lag")
        log.info("started agents %s", [a.name for a in self.agents])

    async def _measure_lag(self) -> None:
        """Every ``LAG_INTERVAL`` s: each owned partition's end offset minus its committed position, into metrics."""
        tail = self.transport.tail()
        try:
            while True:
                found: Lag = {}
                for consumer in self.consumers:
                    committed = consumer.committed
                    if not committed:
                        continue
                    try:
                        ends = await tail.end_offsets(sorted(committed))
                    except Exception as exc:  # an outage: keep the last figures
                        log.debug("measuring the lag of %s failed: %s", consumer.group_id, exc)
                        found.update({k: v for k, v in self.services.metrics.lag.items() if k[0] == consumer.group_id})
                        continue
                    for tp, position in committed.items():
                        found[(consumer.group_id, tp.topic, tp.partition)] = max(0, ends.get(tp, position) - position)
                self.services.metrics.lag = found
                await asyncio.sleep(LAG_INTERVAL)
        finally:
            await tail.close()

    async def wait(self) -> None:
        """Wait until every consumer has stopped; re-raise the first failure."""
        if not self._started:
            raise LifecycleError("AppRunner.wait() before start()")
        await asyncio.gather(*self._tasks)

    async def stop(self) -> None:
        for plugin in reversed(self.plugins):
            try:
                await plugin.stop()
            except Exception:
                log.exception("stopping plugin %r failed", plugin)
        for consumer in self.consumers:
            consumer.stop()
        for ticker in self.schedules:
            ticker.stop()
        if self._lag_task is not None:
            self._lag_task.cancel()
            await asyncio.gather(self._lag_task, return_exceptions=True)
            self._lag_task = None
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        tools_close = getattr(self.services.tools, "close", None)
        if tools_close is not None:
            await tools_close()
        if self.services.requester is not None:
            await self.services.requester.close()
        await self.payloads.close()
        await self.transport.close()
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("an agent stopped with an error: %r", result)

    async def __aenter__(self) -> AppRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        waiting = asyncio.ensure_future(self.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([waiting, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            log.info("stopping: finishing in-flight records, then committing")
            stopped.cancel()
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        if waiting.done() and not waiting.cancelled():
            with contextlib.suppress(asyncio.CancelledError):
                waiting.result()


class ScheduleRunner:
    """Runs one schedule until ``stop()``."""

    def __init__(self, schedule: Schedule, services: Services, grace: float) -> None:
        self.schedule = schedule
        self.services = services
        self.grace = grace
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        agent = self.schedule.agent.name
        while not self._stopping.is_set():
            started = loop.time()
            ctx = Context(
                agent=agent, envelope=Envelope.new(source=agent, type=TICK_TYPE), record=None, services=self.services
            )
            tick = asyncio.ensure_future(self.schedule(ctx))
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([tick, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not tick.done():
                await asyncio.wait([tick], timeout=self.grace)
                tick.cancel()
            stopping.cancel()
            if not tick.cancelled() and tick.exception() is not None:
                log.error("%s: tick of %s failed: %r", agent, self.schedule.name, tick.exception())
            delay = max(0.0, started + self.schedule.interval - loop.time())
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                pass
