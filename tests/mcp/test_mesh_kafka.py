"""The official MCP client drives ``agentflux mcp serve`` (a real subprocess) against a real broker."""

import asyncio
import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from kafka_helpers import ROOT, await_until
from mcp import Client, StdioServerParameters
from pydantic import BaseModel

from agentflux import AgentApp, AppRunner, Context, RetryPolicy
from agentflux.a2a import Discovery
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


class Numbers(BaseModel):
    x: int


class Doubled(BaseModel):
    doubled: int


def mesh_server(bootstrap: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "agentflux.cli.main", "mcp", "serve"],
        env={**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap},
        cwd=str(ROOT),
    )


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{tool} failed: {text}"
    structured = result.structured_content
    if isinstance(structured, dict) and set(structured) == {"result"}:
        return structured["result"]
    return structured if structured is not None else json.loads(text)


@pytest.mark.asyncio
async def test_an_mcp_client_drives_and_inspects_the_mesh(kafka_bootstrap: str, unique: str) -> None:
    signals, echoes, poison = (f"mesh.{name}-{unique}.v1" for name in ("signal-sent", "signal-echoed", "poison-fed"))
    app = AgentApp(f"mesh-{unique}")
    listener, doubler, taster = (
        app.agent("listener"),
        app.agent("doubler"),  # cards are keyed by app and agent: other apps' doublers are other entries
        app.agent("taster"),
    )
    heard: list[dict] = []
    echoed: list[Context] = []

    @listener.on(signals)
    async def on_signal(event: dict, ctx: Context) -> None:
        heard.append(event)
        await ctx.publish(echoes, {"echo": event["n"]}, key=ctx.key)

    @listener.on(echoes)
    async def on_echo(event: dict, ctx: Context) -> None:
        echoed.append(ctx)

    @doubler.skill(f"double-{unique}", description="Doubles a number")
    async def double(task: Numbers, ctx: Context) -> Doubled:
        return Doubled(doubled=task.x * 2)

    @taster.on(poison, retry=RetryPolicy(max_attempts=2, initial_backoff=0.01))
    async def taste(event: dict, ctx: Context) -> None:
        raise RuntimeError(f"poisoned by {event['dose']}")

    runner = AppRunner(app, KafkaTransport(KafkaSettings(kafka_bootstrap)), plugins=[Discovery()])
    async with runner:
        async with Client(mesh_server(kafka_bootstrap)) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools >= {
                "list_agents",
                "publish_event",
                "delegate_task",
                "get_task",
                "find_by_correlation",
                "list_dead_letters",
                "redrive_dead_letter",
            }

            agents = {(a["app"], a["card"]["name"]): a for a in await call(client, "list_agents")}
            doubler_card = agents[(f"mesh-{unique}", "doubler")]
            assert doubler_card["live"]
            assert [s["id"] for s in doubler_card["card"]["skills"]] == [f"double-{unique}"]

            sent = await call(client, "publish_event", topic=signals, payload={"n": 7}, key="k1")
            await await_until(lambda: heard == [{"n": 7}] and len(echoed) == 1, 30, "the signal and its echo")

            bad = await client.call_tool("publish_event", {"topic": "not a topic", "payload": {}})
            assert bad.is_error and "event topics of the form {domain}.{event-type}.v{N}" in bad.content[0].text

            doubled = await call(client, "delegate_task", skill=f"double-{unique}", input={"x": 21}, timeout=20)
            assert doubled["result"] == {"doubled": 42}
            # The result reaches the requester and the completed state reaches agent.tasks.v1
            # independently; the task log may still say "working" for a moment.
            for _ in range(50):
                task = await call(client, "get_task", task_id=doubled["task_id"])
                if task["state"] == "completed":
                    break
                await asyncio.sleep(0.1)
            assert task["state"] == "completed" and task["result"] == {"doubled": 42}
            assert task["skill"] == f"double-{unique}" and {"submitted", "completed"} <= set(task["timestamps"])
            missing = await client.call_tool("get_task", {"task_id": "no-such-task"})
            assert missing.is_error and "no task 'no-such-task'" in missing.content[0].text

            hops = await call(client, "find_by_correlation", correlation_id=sent["correlation_id"])
            assert [h["topic"] for h in hops] == [signals, echoes]
            assert hops[1]["causation_id"] == hops[0]["id"] == sent["id"]
            assert hops[1]["source"] == "listener" and hops[1]["value"] == {"echo": 7}

            await call(client, "publish_event", topic=poison, payload={"dose": "hemlock"}, key="p")
            letters: list[dict] = []

            async def poisoned() -> bool:
                nonlocal letters
                letters = [d for d in await call(client, "list_dead_letters", limit=500) if d["source_topic"] == poison]
                return bool(letters)

            for _ in range(100):
                if await poisoned():
                    break
            [letter] = letters
            assert letter["error_type"] == "RuntimeError" and letter["error_message"] == "poisoned by hemlock"
            assert letter["attempts"] == "2" and letter["group"] == f"mesh-{unique}.taster"
            redriven = await call(client, "redrive_dead_letter", letter_id=letter["id"])
            assert redriven["topic"] == poison and redriven["offset"] == 1


@pytest.mark.asyncio
async def test_the_mesh_server_over_streamable_http(kafka_bootstrap: str, unique: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentflux.cli.main", "mcp", "serve", "--http", str(port)],
        cwd=ROOT,
        env={**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap},
    )
    try:
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            await asyncio.sleep(0.05)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            topic = f"mesh.http-ping-{unique}.v1"
            sent = await call(client, "publish_event", topic=topic, payload={"ping": True}, key="k")
            hops = await call(client, "find_by_correlation", correlation_id=sent["correlation_id"])
            assert [(h["topic"], h["value"]) for h in hops] == [(topic, {"ping": True})]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
