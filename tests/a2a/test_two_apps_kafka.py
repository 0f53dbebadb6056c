"""Two apps on one cluster, each with an agent of the same name: neither shadows the other (real broker)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from a2a_helpers import gateway
from pydantic import BaseModel
from test_discovery_kafka import with_discovery
from typer.testing import CliRunner

from agentflux import AgentApp, AgentClient, Context
from agentflux.a2a import CardPublisher, CardRegistry, build_card
from agentflux.a2a.cards import LIVENESS_URI
from agentflux.cli.main import app as cli
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.timeout(120), pytest.mark.asyncio]


class Job(BaseModel):
    skill: str
    text: str


class Done(BaseModel):
    text: str


def team(app_name: str, worker: str, skill: str, *, caller: str | None = None) -> AgentApp:
    """An app whose agent ``worker`` offers ``skill``; with ``caller``, also an agent that delegates any skill."""
    app = AgentApp(app_name)

    @app.agent(worker).skill(skill, description=f"Does {skill}")
    async def work(job: Job, ctx: Context) -> Done:
        return Done(text=f"{app_name}: {job.text}")

    if caller:

        @app.agent(caller).skill(caller, description="Delegates a job to the skill it names")
        async def call(job: Job, ctx: Context) -> Done:
            return Done.model_validate(await ctx.delegate(job.skill, job.model_dump(), timeout=20))

    return app


async def test_two_apps_with_an_agent_of_the_same_name_are_both_listed_and_both_delegable(
    kafka_bootstrap: str, unique: str
) -> None:
    worker, east, west = f"worker-{unique}", f"east-{unique}", f"west-{unique}"
    east_job, west_job, caller = f"east-job-{unique}", f"west-job-{unique}", f"caller-{unique}"
    async with (
        with_discovery(team(west, worker, west_job), kafka_bootstrap),
        with_discovery(team(east, worker, east_job, caller=caller), kafka_bootstrap) as discovery,
        AgentClient(kafka_bootstrap) as client,
    ):
        registry = discovery.registry
        assert registry is not None
        await registry.wait_for(west_job, 10)
        # Both cards stay listed across heartbeats (every 0.5 s), so ctx.delegate finds either skill every time.
        for round_ in range(6):
            for skill, app in [(east_job, east), (west_job, west)]:
                done = await client.delegate(caller, {"skill": skill, "text": f"round {round_}"}, timeout=20)
                assert done == {"text": f"{app}: round {round_}"}
            await asyncio.sleep(0.25)

        assert {f"{east}.{worker}", f"{west}.{worker}"} <= set(registry.names())  # qualified: two apps, one name
        assert [x.app for x in registry.offering(east_job)] == [east]
        assert [x.app for x in registry.offering(west_job)] == [west]
        for app, skill in [(east, east_job), (west, west_job)]:
            card = registry.card(f"{app}.{worker}")
            assert card is not None and [s.id for s in card.skills] == [skill]
        assert registry.card(worker) is not None  # the agent name alone: whichever was heard last

        wide = {"COLUMNS": "300"}  # one table row per line
        listed = await asyncio.to_thread(CliRunner().invoke, cli, ["cards", "list", "-b", kafka_bootstrap], env=wide)
        assert listed.exit_code == 0, listed.output
        rows = [line for line in listed.output.splitlines() if worker in line]
        assert len(rows) == 2, listed.output
        assert any(f"{east}.{worker}" in r and east_job in r and "live" in r for r in rows), listed.output
        assert any(f"{west}.{worker}" in r and west_job in r and "live" in r for r in rows), listed.output
        shown = await asyncio.to_thread(
            CliRunner().invoke, cli, ["cards", "show", f"{west}.{worker}", "-b", kafka_bootstrap]
        )
        assert shown.exit_code == 0 and f'"{west_job}"' in shown.output and east_job not in shown.output


async def test_the_gateway_serves_each_app_s_agent_under_its_qualified_name(kafka_bootstrap: str, unique: str) -> None:
    worker = f"worker-{unique}"
    transport = KafkaTransport(KafkaSettings(kafka_bootstrap))
    await transport.start()
    publishers = [
        CardPublisher(transport, [build_card(team(app, worker, f"{app}-job").agents[worker])], app=app, ttl=60)
        for app in (f"north-{unique}", f"south-{unique}")
    ]
    registry = CardRegistry(transport)
    try:
        for publisher in publishers:
            await publisher.publish()
        await registry.start()
        async with gateway(kafka_bootstrap, registry) as (_gw, url), httpx.AsyncClient() as http:
            for app in (f"north-{unique}", f"south-{unique}"):
                served = (await http.get(f"{url}/agents/{app}.{worker}/.well-known/agent-card.json")).json()
                assert [s["id"] for s in served["skills"]] == [f"{app}-job"]
                assert {i["url"] for i in served["supportedInterfaces"]} >= {f"{url}/agents/{app}.{worker}"}
                assert LIVENESS_URI not in {e["uri"] for e in served["capabilities"]["extensions"]}
            latest = (await http.get(f"{url}/agents/{worker}/.well-known/agent-card.json")).json()
            assert [s["id"] for s in latest["skills"]] == [f"south-{unique}-job"]  # heard last
            listed = [c for c in (await http.get(f"{url}/agents")).json() if c["name"] == worker]
            assert len(listed) == 2
    finally:
        await registry.close()
        await transport.close()
