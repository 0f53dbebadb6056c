"""Periodic sources: agents that act on a clock rather than on a record.

``@agent.every(30)`` runs ``async def poll(ctx: Context) -> None`` every 30
seconds in every process that runs the agent. Each tick has an envelope of its
own, so what a tick publishes shares one correlation id unless it asks for a
fresh one per record (``ctx.publish(..., new_correlation=True)``).

Contract: ticks of one schedule never overlap (a slow tick delays the next);
a tick that raises is logged and not retried, because the next tick is the
retry; on shutdown a running tick is awaited up to the runner's grace period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflux.contract.envelope import Envelope

if TYPE_CHECKING:
    from agentflux.runtime.context import Context, Services
    from agentflux.runtime.declarations import Agent

log = logging.getLogger("agentflux.runtime")
TickFn = Callable[["Context"], Awaitable[Any]]
TICK_TYPE = "agentflux.tick"


@dataclass(eq=False)
class Schedule:
    agent: Agent
    fn: TickFn
    interval: float

    async def __call__(self, ctx: Context) -> Any:
        return await self.fn(ctx)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


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
        from agentflux.runtime.context import Context

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
