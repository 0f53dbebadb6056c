"""A plugin that replaces the requester (as A2A discovery does) starts before any handler can delegate."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from agentflux import AgentApp, AppRunner, Context
from agentflux.runtime.tasks.requester import Requester
from agentflux.transport.memory import MemoryTransport


class Name(BaseModel):
    name: str


class SwappingPlugin:
    """Takes a while to start, then replaces the runner's requester and closes the old one."""

    def __init__(self) -> None:
        self.handlers_before_start = -1

    async def start(self, runner: AppRunner) -> None:
        await asyncio.sleep(0.3)
        self.handlers_before_start = len(greeted)
        previous = runner.services.requester
        runner.services.requester = Requester(runner.transport, lookup=runner.app.find_skill)
        assert previous is not None
        await previous.close()

    async def stop(self) -> None:
        pass


greeted: list[str] = []


@pytest.mark.asyncio
async def test_a_record_waiting_at_start_delegates_through_the_plugins_requester() -> None:
    app = AgentApp("swap")
    agent = app.agent("greeter")

    @agent.skill("swap-shout")
    async def shout(name: Name, ctx: Context) -> Name:
        return Name(name=name.name.upper())

    @agent.on("swap.greeting-requested.v1")
    async def greet(name: Name, ctx: Context) -> None:
        greeted.append((await ctx.delegate("swap-shout", name, timeout=5)).name)

    transport = MemoryTransport()
    await transport.start()
    await transport.publish("swap.greeting-requested.v1", b'{"name": "ada"}', key=b"a")  # there before the agent
    plugin = SwappingPlugin()
    async with AppRunner(app, transport, plugins=[plugin]):
        async with asyncio.timeout(10):
            while not greeted:
                await asyncio.sleep(0.01)
    assert plugin.handlers_before_start == 0 and greeted == ["ADA"]
