"""Pieces the demos share: agent processes, following outputs, percentiles."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from rich.console import Console

from agentflux.contract.envelope import Envelope
from agentflux.transport.base import Record, Transport

ROOT = Path(__file__).resolve().parent.parent


class AgentProcesses:
    """Each agent in its own ``agentflux run`` process; all are stopped (SIGTERM) on exit."""

    def __init__(self, bootstrap: str, console: Console, env: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.console = console
        self.env = env or {}
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


async def wait_for_groups(bootstrap: str, groups: list[str], console: Console, timeout: float = 60) -> None:
    """Wait until every consumer group has a member with partitions, so latencies exclude start-up."""
    from confluent_kafka import ConsumerGroupState, KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = asyncio.get_running_loop().time() + timeout
    with console.status(f"waiting for {len(groups)} agent group(s) to join"):
        while asyncio.get_running_loop().time() < deadline:
            futures = admin.describe_consumer_groups(groups)
            try:
                described = [await asyncio.wrap_future(f) for f in futures.values()]  # type: ignore[arg-type]
            except KafkaException:  # the group or its coordinator does not exist yet
                described = []
            if described and all(d.state == ConsumerGroupState.STABLE and d.members for d in described):
                return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"agent groups {groups} did not become stable within {timeout}s")
