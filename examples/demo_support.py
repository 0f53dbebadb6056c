"""Pieces the demos share: agent processes, following outputs and dead letters, percentiles.

A demo runs on whatever broker it is given, which may be a user's own: its
topics are its own (``quickstart.*``, or a fresh namespace per run), never the
README's ``shop.*``. Its dead letters go where every agent's go,
``agent.dead-letter.v1``; ``DeadLetterWatch`` counts a run's own so the summary
can say how many it left there (``DEAD_LETTERS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from pydantic import BaseModel
from rich.console import Console

from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import ConfigError, TransportError
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import TopicFormat
from agentflux.contract.topics import DEAD_LETTER_TOPIC, reserved_specs
from agentflux.ops.deadletters import SOURCE_TOPIC
from agentflux.transport.base import Record, Tail, TopicPartition, Transport

ROOT = Path(__file__).resolve().parent.parent
M = TypeVar("M", bound=BaseModel)
#: The summary figure of how many dead letters a run left (``agentflux demo`` adds a note below the table).
DEAD_LETTERS = f"dead letters left on {DEAD_LETTER_TOPIC}"


def demo_registry(bootstrap: str, given: str | None, what: str) -> str:
    """The schema registry a demo on ``bootstrap`` uses: ``given``, else the one its settings resolve.

    That is ``AGENTFLUX_SCHEMA_REGISTRY_URL``, else the embedded registry of
    ``agentflux up`` when ``bootstrap`` is the embedded broker's. A ``ConfigError``
    saying how to get one when there is none: ``what`` (a demo's Avro topics) needs it.
    """
    from agentflux.transport.settings import ENV_REGISTRY, KafkaSettings

    url = given or KafkaSettings.resolve(bootstrap).schema_registry_url
    if not url:
        raise ConfigError(
            f"{what} needs a schema registry: `agentflux up` starts one beside Kafka "
            f"(`agentflux demo` starts both), or set {ENV_REGISTRY}"
        )
    return url


def demo_payloads(format_of: Callable[[str], TopicFormat], url: str) -> Payloads:
    """Payloads that read (and write) a demo's topics, in their declared formats, through the registry at ``url``."""
    return Payloads(format_of, Registry(url))


class AgentProcesses:
    """Each agent in its own ``agentflux run`` process; all are stopped (SIGTERM) on exit.

    Each process gets ``AGENTFLUX_BOOTSTRAP_SERVERS`` and, when given, ``AGENTFLUX_SCHEMA_REGISTRY_URL``.
    """

    def __init__(
        self, bootstrap: str, console: Console, env: dict[str, str] | None = None, registry: str | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.console = console
        self.env = {**({"AGENTFLUX_SCHEMA_REGISTRY_URL": registry} if registry else {}), **(env or {})}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, app_ref: str, agent: str, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentflux.cli.main",
                "run",
                app_ref,
                "--agent",
                agent,
                "--log-level",
                "warning",
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": self.bootstrap, **self.env},
        )
        self.procs[agent] = proc
        self.console.print(f"[green]started[/] agent [bold]{agent}[/] (pid {proc.pid})")
        return proc

    def kill(self, agent: str) -> None:
        proc = self.procs[agent]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.console.print(f"[red]killed[/] agent [bold]{agent}[/] (pid {proc.pid}) with SIGKILL")

    def __enter__(self) -> AgentProcesses:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class OutputWatcher:
    """Follows output topics in the background, noting when each record of interest arrived.

    It runs in its own consumer group from the beginning of the topics, so a
    record can never be missed however early it comes; ``wanted`` filters the
    records to this run's correlation ids.
    """

    def __init__(self, transport: Transport, topics: list[str], *, group: str) -> None:
        self.group = group
        self._consumer = transport.consumer(group, topics, from_beginning=True)
        self.wanted: set[str] = set()
        self.arrivals: list[tuple[float, Record, Envelope]] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        try:
            while True:
                for record in await self._consumer.poll(500, 0.1):
                    env = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)
                    if env.correlation_id in self.wanted:
                        self.arrivals.append((time.perf_counter(), record, env))
                        self._changed.set()
        finally:
            await self._consumer.close()

    async def records(self, expected: int, timeout: float) -> AsyncIterator[tuple[float, Record, Envelope]]:
        """Yield arrivals as they come until ``expected`` have arrived or ``timeout`` passes."""
        given = 0
        deadline = asyncio.get_running_loop().time() + timeout
        while given < expected:
            while given < len(self.arrivals):
                given += 1
                yield self.arrivals[given - 1]
            if given >= expected:
                break
            self._changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                break

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass(frozen=True)
class Latency:
    """p50, p95 and p99 of one hop, in ms, over ``count`` samples; printed as ``p50 12 / p95 35 / p99 41 (n=20)``.

    With fewer than 100 samples the p99 is the largest (and with fewer than 20, so is the p95).
    """

    p50: float
    p95: float
    p99: float
    count: int

    @classmethod
    def of(cls, millis: list[float]) -> Latency:
        return cls(percentile(millis, 50), percentile(millis, 95), percentile(millis, 99), len(millis))

    def __str__(self) -> str:
        if not self.count:
            return "-"
        return f"p50 {self.p50:.0f} / p95 {self.p95:.0f} / p99 {self.p99:.0f} (n={self.count})"


async def wait_for_groups(bootstrap: str, groups: list[str], console: Console, timeout: float = 60) -> None:
    """Wait until every consumer group is stable with its partitions assigned, so latencies exclude start-up."""
    from confluent_kafka import ConsumerGroupState, KafkaException
    from confluent_kafka.admin import AdminClient

    from agentflux.transport.kafka_client import client_config, cluster_watch, make_client
    from agentflux.transport.settings import KafkaSettings

    settings = KafkaSettings(bootstrap)  # our client config: librdkafka's log goes through logging, not stderr
    admin = make_client(AdminClient, client_config(settings, cluster_watch(settings)))
    seen: dict[str, str] = {g: "not described yet" for g in groups}
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        with console.status(f"waiting for {len(groups)} agent group(s) to join"):
            while asyncio.get_running_loop().time() < deadline:
                for group, future in admin.describe_consumer_groups(groups).items():
                    try:
                        found = await asyncio.wrap_future(future)
                    except KafkaException as exc:  # the group or its coordinator does not exist yet
                        seen[group] = str(exc.args[0] if exc.args else exc)
                        continue
                    owned = sum(len(m.assignment.topic_partitions) for m in found.members if m.assignment)
                    ready = found.state == ConsumerGroupState.STABLE and found.members and owned
                    seen[group] = "ready" if ready else f"{found.state.name}, {len(found.members)} member(s)"
                if all(state == "ready" for state in seen.values()):
                    return
                await asyncio.sleep(0.2)
    finally:
        del admin  # destroyed now, while the broker still runs, not at exit
    states = "; ".join(f"{g}: {state}" for g, state in seen.items() if state != "ready")
    raise TimeoutError(f"agent groups did not become stable within {timeout:g}s ({states})")


class TopicObserver:
    """Follows topics from their end at ``follow()``, outside any group, handing each record to ``take``.

    A subclass implements ``async take(record)``, which may ``await self.decode(record, Model)``:
    through the schema registry when the observer has ``payloads`` (Avro topics), else as JSON.
    A ``ValueError`` from it (a payload the observer cannot read, ``PayloadDecodeError``
    included) skips the record, because judging bad input is the agents' job. ``wait_for``
    waits on what ``take`` has gathered.
    """

    def __init__(self, transport: Transport, payloads: Payloads | None = None) -> None:
        self._transport = transport
        self.payloads = payloads
        self._tail: Tail | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def take(self, record: Record) -> None:
        raise NotImplementedError

    async def decode(self, record: Record, model: type[M]) -> M:
        """``record``'s value as ``model``: by its first byte, the Confluent wire format (registry) or JSON."""
        if self.payloads is None:
            return model.model_validate_json(record.value or b"")
        decoded: M = await self.payloads.decode(record.topic, record.value, model)
        return decoded

    async def follow(self, topics: list[str]) -> None:
        """Start reading at the current end of ``topics`` (which must exist)."""
        self._tail = tail = self._transport.tail()
        partitions = [TopicPartition(t, p) for t in topics for p in range(await partition_count(tail, t))]
        for attempt in range(50):  # a topic created a moment ago may not have settled its leader yet
            try:
                ends = await tail.end_offsets(partitions)
                break
            except TransportError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)
        await tail.assign(ends)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        assert self._tail is not None
        while True:
            for record in await self._tail.poll(500, 0.1):
                with contextlib.suppress(ValueError):
                    await self.take(record)
            self._changed.set()

    async def wait_for(self, check: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``check()`` holds (True) or ``timeout`` passes (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._tail is not None:
            await self._tail.close()


async def partition_count(tail: Tail, topic: str, timeout: float = 10.0) -> int:
    """The partition count of a topic just created (its metadata may take a moment to show up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (count := await tail.partition_count(topic)) == 0:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topic {topic} does not exist")
        await asyncio.sleep(0.1)
    return count


class DeadLetterWatch(TopicObserver):
    """This run's dead letters on ``agent.dead-letter.v1``, read from its end at ``start()``.

    A letter is this run's when its source topic is one of ``sources`` and, if
    ``wanted`` is given, its correlation id is in it (a demo whose topics
    outlive a run, like the quickstart's, tells its letters apart that way).
    """

    def __init__(self, transport: Transport, sources: Collection[str], wanted: Collection[str] | None = None) -> None:
        super().__init__(transport)
        self.sources = set(sources)
        self.wanted = wanted
        self.letters: list[Record] = []

    async def start(self) -> None:
        await self._transport.ensure_topics([s for s in reserved_specs() if s.name == DEAD_LETTER_TOPIC])
        await self.follow([DEAD_LETTER_TOPIC])

    async def take(self, record: Record) -> None:
        source = next((v for k, v in record.headers if k == SOURCE_TOPIC), None)
        if source is None or source.decode("utf-8", "replace") not in self.sources:
            return  # another system's letter, or a redrive marker
        if self.wanted is not None:  # a malformed envelope raises ValueError: not a letter of ours
            env = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)
            if env.correlation_id not in self.wanted:
                return
        self.letters.append(record)
