"""The pricing system on the real broker: the site, one process per agent, an observer.

Each test gets its own namespace (topics, groups, skill), its own databases
and its own competitor site. The event topics are Avro through the session's
schema registry, which every agent process is given. Every process a test starts is stopped when the
test ends, after a failure too: agents get SIGTERM (so they close their MCP
servers) and SIGKILL if they linger.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import httpx
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the example lives in examples/ beside the package
    sys.path.insert(0, str(REPO))

from agentflux.contract.payloads import Payloads  # noqa: E402
from agentflux.contract.registry import Registry  # noqa: E402
from agentflux.transport.base import Record  # noqa: E402
from agentflux.transport.kafka import KafkaTransport  # noqa: E402
from agentflux.transport.settings import KafkaSettings  # noqa: E402
from examples.ecommerce_pricing.app import ANALYSIS, build_app  # noqa: E402
from examples.ecommerce_pricing.config import PricingConfig  # noqa: E402
from examples.ecommerce_pricing.demo import post  # noqa: E402
from examples.ecommerce_pricing.feed import FixtureSite, ScriptedChange  # noqa: E402
from examples.ecommerce_pricing.observer import FlowObserver  # noqa: E402
from examples.ecommerce_pricing.report import complete  # noqa: E402

APP_REF = "examples.ecommerce_pricing:app"
M = TypeVar("M", bound=BaseModel)


class PricingSystem:
    def __init__(self, bootstrap: str, unique: str, tmp_path: Path, registry: str) -> None:
        self.bootstrap = bootstrap
        self.registry = registry
        self.tmp_path = tmp_path
        self.site = FixtureSite()
        self.config = PricingConfig(
            poll_seconds=0.3,
            inventory_db=tmp_path / "inventory.sqlite",
            notifier_db=tmp_path / "outbox.sqlite",
            namespace=f"t{unique}",
        )
        self.app = build_app(self.config)
        self.transport = KafkaTransport(KafkaSettings(bootstrap))
        self.payloads = Payloads(self.app.format_of, Registry(registry))
        self.observer: FlowObserver | None = None
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}
        self._logs: list[IO[bytes]] = []
        self._started = time.monotonic()

    def mark(self, what: str) -> None:
        """Print how long the test has taken so far (pytest shows it with the test's output)."""
        print(f"{time.monotonic() - self._started:6.1f}s {what}")

    async def start(self) -> FlowObserver:
        """Start the site and the observer (topics provisioned first); agents come with ``agent()``."""
        self.site.start()
        self.config = dataclasses.replace(self.config, site_url=self.site.url)
        await self.transport.start()
        topics = [self.config.price_changed, self.config.price_decided, self.config.order_updated]
        topics += [self.config.price_adjustment, self.config.customer_alert]
        await self.transport.ensure_topics([self.app.topic_spec(t) for t in topics])
        self.observer = FlowObserver(self.transport, self.config, payloads=self.payloads)
        await self.observer.start()
        return self.observer

    def agent(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start one ``agentflux run --agent NAME`` process (``env`` added to its environment).

        Its stderr (the log) goes to ``{name}-{n}.log`` in tmp_path, its stdout to ``{name}-{n}.out``.
        """
        where = self.tmp_path / f"{name}-{len(self.procs.get(name, []))}"
        log, out = where.with_suffix(".log").open("wb"), where.with_suffix(".out").open("wb")
        self._logs += [log, out]
        env = {**os.environ, **self.config.env(), "AGENTFLUX_BOOTSTRAP_SERVERS": self.bootstrap, **(env or {})}
        env["AGENTFLUX_SCHEMA_REGISTRY_URL"] = self.registry
        command = [sys.executable, "-m", "agentflux.cli.main", "run", APP_REF, "--agent", name]
        proc = subprocess.Popen([*command, "--log-level", "warning", *args], cwd=REPO, env=env, stdout=out, stderr=log)
        self.procs.setdefault(name, []).append(proc)
        return proc

    def analysis(self) -> subprocess.Popen[bytes]:
        return self.agent(ANALYSIS, "--instance-id", f"{self.config.namespace}-analysis")

    def kill(self, name: str) -> None:
        for proc in self.procs[name]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)

    async def play(self, script: list[ScriptedChange], interval: float, before: Callable[[int], None]) -> None:
        """Post the changes (never two of one product before the collector saw the first); ``before(n)`` first.

        Returns once the collector has reported every change.
        """
        assert self.observer is not None
        posted: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
            for n, change in enumerate(script):
                before(n)
                await post(client, self.observer, self.site.url, change, posted)
                await asyncio.sleep(interval)
        observer = self.observer
        reported = await observer.wait_for(lambda: all(observer.latest_price(p) == v for p, v in posted.items()), 30)
        assert reported, f"the collector did not report every change; logs in {self.tmp_path}"
        self.mark(f"played {len(script)} changes")

    async def settle(self, timeout: float) -> None:
        """Wait until every observed change is handled as the rules predict."""
        observer = self.observer
        assert observer is not None
        if not await observer.wait_for(lambda: complete(observer, self.config), timeout):
            raise AssertionError(f"not every change was handled within {timeout}s; logs in {self.tmp_path}")
        self.mark("settled: every change handled")

    async def wait_for_members(self, group: str, count: int, timeout: float = 60) -> None:
        """Wait until ``group`` is stable with ``count`` members that all own partitions."""
        from confluent_kafka import ConsumerGroupState, KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                found = await asyncio.wrap_future(admin.describe_consumer_groups([group])[group])  # type: ignore[arg-type]
            except KafkaException:
                found = None
            if (
                found is not None
                and found.state == ConsumerGroupState.STABLE
                and len(found.members) == count
                and all(m.assignment.topic_partitions for m in found.members)
            ):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"group {group} did not get {count} members within {timeout}s")

    def stop_processes(self) -> None:
        alive = [p for procs in self.procs.values() for p in procs if p.poll() is None]
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        for proc in alive:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for log in self._logs:
            log.close()
        self.site.stop()

    async def read(self, topic: str, model: type[M]) -> list[tuple[Record, M]]:
        """Every record of ``topic`` with its payload, decoded through the registry (Avro) or as JSON."""
        return [(r, await self.payloads.decode(topic, r.value, model)) for r in await self.transport.read_all(topic)]

    async def close(self) -> None:
        if self.observer is not None:
            await self.observer.close()
        await self.payloads.close()
        await self.transport.close()
        self.stop_processes()
