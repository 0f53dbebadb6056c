"""Discovery over Kafka: cards with a heartbeat, skill lookup, fail-fast delegation, agents added at runtime."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from agentflux import AgentApp, AgentClient, Context, TaskFailed, UnknownSkill
from agentflux.a2a import CardPublisher, CardRegistry, Discovery, build_card
from agentflux.cli.main import app as cli
from agentflux.runtime.runner import AppRunner, kafka_transport
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90), pytest.mark.asyncio]


class Dish(BaseModel):
    name: str


class Cooked(BaseModel):
    name: str
    by: str


class Plan(BaseModel):
    dish: str


def kitchen(unique: str, cook: str) -> AgentApp:
    app = AgentApp(f"kitchen-{cook}-{unique}")
    agent = app.agent(f"{cook}-{unique}", description=f"The {cook}")

    @agent.skill(f"cook-{unique}", description="Cooks a dish")
    async def cook_dish(dish: Dish, ctx: Context) -> Cooked:
        return Cooked(name=dish.name, by=cook)

    return app


def orchestrator(unique: str) -> AgentApp:
    app = AgentApp(f"planner-{unique}")
    agent = app.agent(f"planner-{unique}", description="Plans dinner")

    @agent.skill(f"plan-{unique}", description="Plans a dish and has it cooked")
    async def plan(task: Plan, ctx: Context) -> Cooked:
        cooked = await ctx.delegate(f"cook-{unique}", {"name": task.dish}, timeout=20)
        return Cooked.model_validate(cooked)

    return app


@asynccontextmanager
async def with_discovery(
    app: AgentApp, bootstrap: str, *, plugins: list[Discovery] | None = None
) -> AsyncIterator[Discovery]:
    """``app`` running with discovery (a heartbeat every 0.5 s unless ``plugins`` says otherwise)."""
    discovery = plugins[0] if plugins else Discovery(interval=0.5)
    app.bootstrap_servers = bootstrap
    runner = AppRunner(app, kafka_transport(app), grace=2.0, plugins=[discovery])
    await runner.start()
    try:
        async with asyncio.timeout(30):
            while not all(c.assigned for c in runner.consumers):
                await asyncio.sleep(0.02)
        yield discovery
    finally:
        await runner.stop()


async def test_a_skill_is_delegable_once_an_agent_offers_it_and_waited_for_while_its_agent_restarts(
    kafka_bootstrap: str, unique: str
) -> None:
    async with with_discovery(orchestrator(unique), kafka_bootstrap) as planner, AgentClient(kafka_bootstrap) as client:
        assert planner.registry is not None
        await planner.registry.wait_for(f"plan-{unique}", 10)  # its own card, at once
        started = time.monotonic()
        with pytest.raises(TaskFailed) as nobody:  # no agent has ever offered cook: at once
            await client.delegate(f"plan-{unique}", {"dish": "soup"}, timeout=20)
        assert nobody.value.error_type == "UnknownSkill" and f"cook-{unique}" in nobody.value.error
        assert time.monotonic() - started < 5, "UnknownSkill must not wait for the delegation timeout"

        async with with_discovery(kitchen(unique, "chef"), kafka_bootstrap):  # started after the orchestrator
            await planner.registry.wait_for(f"cook-{unique}", 10)
            cooked = await client.delegate(f"plan-{unique}", {"dish": "soup"}, timeout=20)
            assert cooked == {"name": "soup", "by": "chef"}
            offering = [x.card.name for x in planner.registry.offering(f"cook-{unique}")]
            assert offering == [f"chef-{unique}"]

        # The chef stopped (its card says so): a delegation now waits for a chef, and a new one answers it.
        assert not planner.registry.offering(f"cook-{unique}")
        waiting = asyncio.create_task(client.delegate(f"plan-{unique}", {"dish": "stew"}, timeout=40))
        await asyncio.sleep(2)
        assert not waiting.done()
        async with with_discovery(kitchen(unique, "sous-chef"), kafka_bootstrap):
            assert await waiting == {"name": "stew", "by": "sous-chef"}


async def test_a_crashed_agent_expires_after_its_ttl_and_cards_list_shows_it(kafka_bootstrap: str, unique: str) -> None:
    settings = KafkaSettings(kafka_bootstrap)
    transport = KafkaTransport(settings)
    await transport.start()
    registry = CardRegistry(transport)
    app = kitchen(unique, "sous")
    card = build_card(app.agents[f"sous-{unique}"], bootstrap_servers=kafka_bootstrap)
    publisher = CardPublisher(transport, [card], app=app.name, interval=0.2, ttl=1.0)
    try:
        await registry.start()
        await publisher.start()
        await registry.wait_for(f"cook-{unique}", 10)
        assert registry.is_live(f"sous-{unique}")
        assert publisher._loop is not None
        publisher._loop.cancel()  # a crash: the heartbeat stops, no farewell record
        await asyncio.gather(publisher._loop, return_exceptions=True)
        publisher._loop = None
        await asyncio.sleep(1.3)
        assert not registry.is_live(f"sous-{unique}") and not registry.offering(f"cook-{unique}")
        listed = await asyncio.to_thread(CliRunner().invoke, cli, ["cards", "list", "-b", kafka_bootstrap])
        assert listed.exit_code == 0, listed.output
        (row,) = [line for line in listed.output.splitlines() if f"sous-{unique}" in line]
        assert "gone" in row and f"cook-{unique}" in row
        shown = await asyncio.to_thread(
            CliRunner().invoke, cli, ["cards", "show", f"sous-{unique}", "-b", kafka_bootstrap]
        )
        assert shown.exit_code == 0 and f'"cook-{unique}"' in shown.output
    finally:
        await publisher.stop()
        await registry.close()
        await transport.close()


async def test_a_delegation_to_an_unknown_skill_fails_at_once(kafka_bootstrap: str, unique: str) -> None:
    app = AgentApp(f"lonely-{unique}")
    agent = app.agent(f"lonely-{unique}")
    outcome: dict[str, object] = {}

    @agent.skill(f"ask-nobody-{unique}")
    async def ask(task: Plan, ctx: Context) -> Cooked:
        try:
            await ctx.delegate(f"nobody-{unique}", {"x": 1}, timeout=20)
        except UnknownSkill as exc:
            outcome["error"] = str(exc)
        return Cooked(name=task.dish, by="nobody")

    async with with_discovery(app, kafka_bootstrap), AgentClient(kafka_bootstrap) as client:
        started = time.monotonic()
        await client.delegate(f"ask-nobody-{unique}", {"dish": "air"}, timeout=20)
        assert time.monotonic() - started < 5
    assert f"no agent offers skill 'nobody-{unique}'" in str(outcome["error"])


async def test_agentflux_gateway_serves_agents_it_finds_in_the_registry(kafka_bootstrap: str, unique: str) -> None:
    import signal
    import subprocess
    import sys

    import httpx
    from a2a.helpers import new_data_part
    from a2a.types import Message, Role, SendMessageRequest
    from a2a.types import TaskState as S
    from a2a.utils.constants import TransportProtocol
    from a2a_helpers import client_for, free_port

    port = free_port()
    command = [sys.executable, "-m", "agentflux.cli.main", "gateway", "--port", str(port), "-b", kafka_bootstrap]
    gateway = subprocess.Popen([*command, "--log-level", "warning"])
    base = f"http://127.0.0.1:{port}"
    try:
        async with with_discovery(kitchen(unique, "baker"), kafka_bootstrap), httpx.AsyncClient() as http:
            async with asyncio.timeout(30):
                while True:  # the gateway starts, then finds the baker's card on agent.cards.v1
                    try:
                        listed = (await http.get(f"{base}/agents")).json()
                        if any(c["name"] == f"baker-{unique}" for c in listed):
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)
            async with client_for(
                f"{base}/agents/baker-{unique}", TransportProtocol.JSONRPC, streaming=False
            ) as client:
                message = Message(role=Role.ROLE_USER, message_id="m", parts=[new_data_part({"name": "bread"})])
                (done,) = [e async for e in client.send_message(SendMessageRequest(message=message))]
            assert done.task.status.state == S.TASK_STATE_COMPLETED
            missing = await http.get(f"{base}/agents/nobody-{unique}/.well-known/agent-card.json")
            assert missing.status_code == 404
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(timeout=20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(timeout=10)
    assert gateway.returncode in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
