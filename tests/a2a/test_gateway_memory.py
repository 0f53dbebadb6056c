"""The gateway on the in-memory transport, through the official client over ASGI (fast tier).

The same executor, task store and handler API as on Kafka; what only a broker
and a real port can show (replicas, SSE on the wire, the Kafka binding) is in
test_gateway_kafka.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import mesh_app
import pytest
import pytest_asyncio
from a2a.client import ClientConfig, ClientFactory
from a2a.client.client import Client
from a2a.helpers import new_data_part, new_text_part
from a2a.types import GetTaskRequest, Message, Role, SendMessageRequest, StreamResponse
from a2a.types import TaskState as S
from a2a.utils.constants import TransportProtocol
from google.protobuf.json_format import MessageToDict

from agentflux.a2a import AppCards, Gateway
from agentflux.testing import TestApp

pytestmark = pytest.mark.asyncio
U = "mem"


@pytest_asyncio.fixture
async def writer() -> AsyncIterator[Client]:
    app = mesh_app.build(U)
    async with TestApp(app) as t:
        gateway = Gateway(t.transport, AppCards(app), public_url="http://gateway")
        await gateway.start()
        try:
            transport = httpx.ASGITransport(app=gateway)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                config = ClientConfig(httpx_client=http, supported_protocol_bindings=[TransportProtocol.JSONRPC])
                client = await ClientFactory(config).create_from_url(f"http://gateway/agents/writer-{U}")
                yield client
                await client.close()
        finally:
            await gateway.close(grace=1)


def msg(*parts: object, skill: str) -> Message:
    built = [new_text_part(p) if isinstance(p, str) else new_data_part(p) for p in parts]
    message = Message(role=Role.ROLE_USER, message_id=f"m-{skill}", parts=built)
    message.metadata.update({"skill": skill})
    return message


async def send(client: Client, message: Message) -> list[StreamResponse]:
    return [e async for e in client.send_message(SendMessageRequest(message=message))]


async def test_a_streamed_task_carries_every_update_in_order(writer: Client) -> None:
    events = await send(writer, msg({"topic": "a fox"}, skill=f"story-{U}"))
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[:2] == ["task", "status_update"] and kinds[-1] == "status_update"
    ids = [e.artifact_update.artifact.artifact_id for e in events if e.HasField("artifact_update")]
    assert ids[:5] == ["text", "text", "text", "data", "cover"] and ids[-1] == "result"
    task = await writer.get_task(GetTaskRequest(id=events[0].task.id))
    assert task.status.state == S.TASK_STATE_COMPLETED
    assert [p.text for p in task.artifacts[0].parts] == ["Once upon ", "a time, ", "a fox."]
    assert MessageToDict(task.artifacts[-1].parts[0].data) == {"title": "A Fox", "words": 6.0}


async def test_input_required_then_follow_up(writer: Client) -> None:
    events = await send(writer, msg({"item": "cap"}, skill=f"ask-{U}"))
    task, last = events[0].task, events[-1].status_update.status
    assert last.state == S.TASK_STATE_INPUT_REQUIRED and last.message.parts[0].text == "Which colour should the cap be?"
    follow_up = msg("green", skill=f"ask-{U}")
    follow_up.task_id, follow_up.context_id, follow_up.message_id = task.id, task.context_id, "m-2"
    answered = await send(writer, follow_up)
    assert answered[-1].status_update.status.state == S.TASK_STATE_COMPLETED
    done = await writer.get_task(GetTaskRequest(id=task.id))
    assert MessageToDict(done.artifacts[-1].parts[0].data) == {"item": "cap", "color": "green"}
    assert [m.role for m in done.history] == [Role.ROLE_USER, Role.ROLE_AGENT, Role.ROLE_USER]
