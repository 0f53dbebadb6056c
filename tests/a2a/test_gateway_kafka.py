"""The official a2a-sdk client against the gateway: real port, real broker, both HTTP bindings.

One app (``mesh_app``) runs for the whole module behind two gateway replicas;
every test uses its own skill of it, so their tasks never mix.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import mesh_app
import pytest
import pytest_asyncio
from a2a.client.client import Client
from a2a.helpers import new_data_part, new_text_part
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
)
from a2a.types import TaskState as S
from a2a.utils.constants import TransportProtocol
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from a2a_helpers import client_for, gateway, running
from google.protobuf.json_format import MessageToDict

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]
BINDINGS = [TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON]


@dataclass
class Mesh:
    unique: str
    first: str
    second: str

    def agent(self, url: str, name: str) -> str:
        return f"{url}/agents/{name}-{self.unique}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh(kafka_bootstrap: str) -> AsyncIterator[Mesh]:
    import uuid

    unique = uuid.uuid4().hex[:10]
    app = mesh_app.build(unique)
    async with running(app, kafka_bootstrap), gateway(kafka_bootstrap, app) as (_a, first):
        async with gateway(kafka_bootstrap, app) as (_b, second):
            yield Mesh(unique, first, second)


def message(*parts: object, skill: str | None = None, task: Task | None = None, mid: str | None = None) -> Message:
    built = [new_text_part(p) if isinstance(p, str) else new_data_part(p) for p in parts]
    msg = Message(role=Role.ROLE_USER, message_id=mid or f"m-{id(built)}", parts=built)
    if skill:
        msg.metadata.update({"skill": skill})
    if task is not None:
        msg.task_id, msg.context_id = task.id, task.context_id
    return msg


async def send(client: Client, msg: Message, **config: object) -> list[StreamResponse]:
    request = SendMessageRequest(message=msg, configuration=SendMessageConfiguration(**config))  # type: ignore[arg-type]
    return [e async for e in client.send_message(request)]


def data(part: object) -> object:
    return MessageToDict(part.data)  # type: ignore[attr-defined]


@pytest.mark.parametrize("binding", BINDINGS)
async def test_blocking_send_returns_the_completed_task_with_its_result(mesh: Mesh, binding: str) -> None:
    async with client_for(mesh.agent(mesh.first, "pricer"), binding, streaming=False) as client:
        (only,) = await send(client, message({"item": "tea", "quantity": 4}))
        task = only.task
        assert task.status.state == S.TASK_STATE_COMPLETED, task
        assert [a.artifact_id for a in task.artifacts] == ["result"]
        assert data(task.artifacts[0].parts[0]) == {"item": "tea", "total": 10.0}
        assert task.history[0].parts[0].HasField("data") and task.metadata["skill"] == f"price-{mesh.unique}"
        text_json = await send(client, message('{"item": "jam", "quantity": 2}'))
        assert data(text_json[-1].task.artifacts[0].parts[0]) == {"item": "jam", "total": 5.0}


@pytest.mark.parametrize("binding", BINDINGS)
async def test_streaming_delivers_status_and_every_artifact_kind_in_order(mesh: Mesh, binding: str) -> None:
    async with client_for(mesh.agent(mesh.first, "writer"), binding) as client:
        events = await send(client, message({"topic": "a fox"}, skill=f"story-{mesh.unique}"))
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and events[0].task.status.state == S.TASK_STATE_SUBMITTED
    statuses = [
        (S.Name(e.status_update.status.state), _text(e.status_update.status.message))
        for e in events
        if e.HasField("status_update")
    ]
    assert statuses == [
        ("TASK_STATE_WORKING", ""),
        ("TASK_STATE_WORKING", "outlining"),
        ("TASK_STATE_WORKING", "illustrating"),
        ("TASK_STATE_COMPLETED", ""),
    ]
    artifacts = [e.artifact_update for e in events if e.HasField("artifact_update")]
    text = [a for a in artifacts if a.artifact.artifact_id == "text"]
    assert [(a.artifact.parts[0].text, a.append, a.last_chunk) for a in text] == [
        ("Once upon ", False, False),
        ("a time, ", True, False),
        ("a fox.", True, True),
    ]
    by_id = {a.artifact.artifact_id: a.artifact for a in artifacts}
    assert data(by_id["data"].parts[0]) == {"characters": ["fox", "owl"]}
    cover = by_id["cover"].parts[0]
    assert (cover.raw, cover.filename, cover.media_type) == (mesh_app.PNG, "cover.png", "image/png")
    (url,) = [a.artifact.parts[0] for a in artifacts if a.artifact.parts[0].HasField("url")]
    assert (url.url, url.filename, url.media_type) == ("https://example.com/story.pdf", "story.pdf", "application/pdf")
    assert data(by_id["result"].parts[0]) == {"title": "A Fox", "words": 6.0}
    order = [
        e.artifact_update.artifact.artifact_id
        if e.HasField("artifact_update")
        else _text(e.status_update.status.message)
        for e in events[1:]
        if not e.HasField("task")
    ]
    assert (
        order.index("outlining")
        < order.index("text")
        < order.index("illustrating")
        < order.index("data")
        < order.index("result")
    )
    async with client_for(mesh.agent(mesh.second, "writer"), binding) as other:
        stored = await other.get_task(GetTaskRequest(id=events[0].task.id))
    (chunked,) = [a for a in stored.artifacts if a.artifact_id == "text"]
    assert [p.text for p in chunked.parts] == ["Once upon ", "a time, ", "a fox."]
    assert len(stored.artifacts) == 5 and stored.status.state == S.TASK_STATE_COMPLETED


async def _tail(client: Client, task_id: str, seen: list[StreamResponse]) -> None:
    async for event in client.subscribe(SubscribeToTaskRequest(id=task_id)):
        seen.append(event)


async def _until(check: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def _text(msg: Message) -> str:
    return "".join(p.text for p in msg.parts)


async def _await_state(client: Client, task_id: str, state: int, timeout: float = 20) -> Task:
    async with asyncio.timeout(timeout):
        while True:
            task = await client.get_task(GetTaskRequest(id=task_id))
            if task.status.state == state:
                return task
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("binding", BINDINGS)
async def test_return_immediately_then_get_and_subscribe_through_the_other_replica(mesh: Mesh, binding: str) -> None:
    key = f"ri-{binding}"
    skill = f"wait-{mesh.unique}"
    async with client_for(mesh.agent(mesh.first, "writer"), binding, streaming=False) as one:
        (first,) = await send(one, message({"key": key}, skill=skill), return_immediately=True)
    task = first.task
    assert task.status.state in (S.TASK_STATE_SUBMITTED, S.TASK_STATE_WORKING)
    async with (
        client_for(mesh.agent(mesh.second, "writer"), binding) as two,
        client_for(mesh.agent(mesh.first, "writer"), binding) as local,
    ):
        await _await_state(two, task.id, S.TASK_STATE_WORKING)
        seen: list[StreamResponse] = []
        seen_locally: list[StreamResponse] = []  # the replica that runs the task taps it directly
        tailing = asyncio.gather(_tail(two, task.id, seen), _tail(local, task.id, seen_locally))
        await _until(lambda: bool(seen) and bool(seen_locally))
        mesh_app.RELEASE.setdefault(key, asyncio.Event()).set()
        async with asyncio.timeout(20):
            await tailing
        assert seen_locally[-1].status_update.status.state == S.TASK_STATE_COMPLETED
        assert seen[0].HasField("task")
        final = [e for e in seen if e.HasField("status_update")][-1]
        assert final.status_update.status.state == S.TASK_STATE_COMPLETED
        assert any(e.HasField("artifact_update") and e.artifact_update.artifact.artifact_id == "result" for e in seen)
        done = await two.get_task(GetTaskRequest(id=task.id))
        assert done.status.state == S.TASK_STATE_COMPLETED and data(done.artifacts[-1].parts[0]) == {"key": key}


@pytest.mark.parametrize("binding", BINDINGS)
async def test_cancel_list_and_history_length(mesh: Mesh, binding: str) -> None:
    key = f"cancel-{binding}"
    async with client_for(mesh.agent(mesh.first, "writer"), binding, streaming=False) as client:
        (first,) = await send(client, message({"key": key}, skill=f"wait-{mesh.unique}"), return_immediately=True)
        await _await_state(client, first.task.id, S.TASK_STATE_WORKING)
        async with client_for(mesh.agent(mesh.second, "writer"), binding) as other:
            canceled = await other.cancel_task(CancelTaskRequest(id=first.task.id))
        assert canceled.status.state == S.TASK_STATE_CANCELED
        await _await_state(client, first.task.id, S.TASK_STATE_CANCELED)
        mesh_app.RELEASE.setdefault(key, asyncio.Event()).set()
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=first.task.id))
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="no-such-task"))
        listed = await client.list_tasks(ListTasksRequest(context_id=first.task.context_id))
        assert [t.id for t in listed.tasks] == [first.task.id]
        assert listed.tasks[0].status.state == S.TASK_STATE_CANCELED


@pytest.mark.parametrize("binding", BINDINGS)
async def test_input_required_round_trip_keeps_context_and_history(mesh: Mesh, binding: str) -> None:
    async with client_for(mesh.agent(mesh.first, "writer"), binding, streaming=False) as client:
        (asked,) = await send(client, message({"item": "hat"}, skill=f"ask-{mesh.unique}", mid=f"q-{binding}"))
        task = asked.task
        assert task.status.state == S.TASK_STATE_INPUT_REQUIRED
        assert _text(task.status.message) == "Which colour should the hat be?"
    async with client_for(mesh.agent(mesh.second, "writer"), binding, streaming=False) as other:
        (answered,) = await send(other, message("blue", task=task, mid=f"a-{binding}"))
        done = answered.task
        assert done.id == task.id and done.context_id == task.context_id
        assert done.status.state == S.TASK_STATE_COMPLETED, done
        assert data(done.artifacts[-1].parts[0]) == {"item": "hat", "color": "blue"}
        full = await other.get_task(GetTaskRequest(id=task.id))
        roles = [(Role.Name(m.role), _text(m) or "data") for m in full.history]
        assert roles == [
            ("ROLE_USER", "data"),
            ("ROLE_AGENT", "Which colour should the hat be?"),
            ("ROLE_USER", "blue"),
        ]
        last = await other.get_task(GetTaskRequest(id=task.id, history_length=1))
        assert [_text(m) for m in last.history] == ["blue"]


@pytest.mark.parametrize("binding", BINDINGS)
async def test_rejection_failure_and_direct_message(mesh: Mesh, binding: str) -> None:
    async with client_for(mesh.agent(mesh.first, "writer"), binding, streaming=False) as client:
        (refused,) = await send(client, message({"item": "gold"}, skill=f"refuse-{mesh.unique}"))
        assert refused.task.status.state == S.TASK_STATE_REJECTED
        assert _text(refused.task.status.message) == "we do not sell gold"
        (failed,) = await send(client, message({"item": "bread"}, skill=f"boom-{mesh.unique}"))
        assert failed.task.status.state == S.TASK_STATE_FAILED
        assert _text(failed.task.status.message) == "RuntimeError: the oven is on fire"
    async with client_for(mesh.agent(mesh.first, "greeter"), binding, streaming=False) as client:
        (reply,) = await send(client, message("Ada"))
        assert reply.HasField("message") and not reply.HasField("task")
        assert _text(reply.message) == "Hello, Ada!" and data(reply.message.parts[1]) == {"greeted": "Ada"}


async def _rpc(url: str, body: object, version: str | None = "1.0") -> dict[str, object]:
    headers = {"A2A-Version": version} if version else {}
    async with httpx.AsyncClient(timeout=10) as http:
        content = body if isinstance(body, str) else None
        response = await http.post(url, content=content, json=None if content else body, headers=headers)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_bad_requests_get_the_spec_error_codes(mesh: Mesh) -> None:
    url = mesh.agent(mesh.first, "writer")
    send_params = {"message": {"role": "ROLE_USER", "messageId": "x", "parts": [{"text": "{}"}]}}

    def rpc(method: str, params: object) -> dict[str, object]:
        return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}

    async def code(body: object, version: str | None = "1.0") -> object:
        error = (await _rpc(url, body, version))["error"]
        return error["code"]  # type: ignore[index]

    assert await code("{not json") == -32700
    assert await code({"jsonrpc": "2.0", "id": 1}) == -32600
    assert await code(rpc("tasks/send", {})) == -32601
    assert await code(rpc("GetTask", {"id": "nope"}), version="2.0") == -32009
    assert await code(rpc("GetTask", {"id": "nope"}), version=None) == -32009  # no header means 0.3
    assert await code(rpc("GetTask", {"id": "nope"})) == -32001
    assert await code(rpc("SendMessage", send_params)) == -32602  # several skills, none named
    async with client_for(mesh.agent(mesh.first, "pricer"), TransportProtocol.JSONRPC, streaming=False) as client:
        (done,) = await send(client, message({"item": "tea"}))
    pricer = mesh.agent(mesh.first, "pricer")
    cancel = (await _rpc(pricer, rpc("CancelTask", {"id": done.task.id})))["error"]
    assert cancel["code"] == -32002  # type: ignore[index]
    again = {"message": {**send_params["message"], "taskId": done.task.id, "contextId": done.task.context_id}}
    assert (await _rpc(pricer, rpc("SendMessage", again)))["error"]["code"] == -32004  # type: ignore[index]
    other_context = {"message": {**send_params["message"], "taskId": done.task.id, "contextId": "elsewhere"}}
    assert (await _rpc(pricer, rpc("SendMessage", other_context)))["error"]["code"] == -32602  # type: ignore[index]
    negative = rpc("GetTask", {"id": done.task.id, "historyLength": -1})
    assert (await _rpc(pricer, negative))["error"]["code"] == -32602  # type: ignore[index]
    image = {"message": {**send_params["message"], "parts": [{"raw": "aGk=", "mediaType": "image/png"}]}}
    assert (await _rpc(pricer, rpc("SendMessage", image)))["error"]["code"] == -32005  # type: ignore[index]
    async with httpx.AsyncClient(timeout=10) as http:
        card = (await http.get(f"{pricer}/.well-known/agent-card.json")).json()
        legacy = (await http.get(f"{pricer}/.well-known/agent.json")).json()
        rest = await http.get(f"{pricer}/tasks/nope", headers={"A2A-Version": "1.0"})
    assert card == legacy and card["supportedInterfaces"][0]["url"] == pricer
    assert rest.status_code == 404 and rest.json()["error"]["status"] == "NOT_FOUND"


async def test_the_same_client_over_the_kafka_binding(mesh: Mesh) -> None:
    from a2a.client import A2ACardResolver
    from a2a_helpers import kafka_client

    from agentflux.a2a import KAFKA_BINDING

    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, mesh.agent(mesh.first, "writer")).get_agent_card()
    assert card.supported_interfaces[-1].protocol_binding == KAFKA_BINDING
    async with kafka_client(card, streaming=False) as client:
        (done,) = await send(client, message({"item": "cake"}, skill=f"refuse-{mesh.unique}"))
        assert done.task.status.state == S.TASK_STATE_REJECTED
        (asked,) = await send(client, message({"item": "scarf"}, skill=f"ask-{mesh.unique}"))
        (answered,) = await send(client, message("red", task=asked.task))
        assert data(answered.task.artifacts[-1].parts[0]) == {"item": "scarf", "color": "red"}
        key = "kafka-binding"
        (waiting,) = await send(client, message({"key": key}, skill=f"wait-{mesh.unique}"), return_immediately=True)
        await _await_state(client, waiting.task.id, S.TASK_STATE_WORKING)
        listed = await client.list_tasks(ListTasksRequest(context_id=waiting.task.context_id))
        assert [t.id for t in listed.tasks] == [waiting.task.id]
        async with kafka_client(card) as other:  # another client (process) subscribes
            seen: list[StreamResponse] = []

            tailing = asyncio.create_task(_tail(other, waiting.task.id, seen))
            await _until(lambda: bool(seen))
            mesh_app.RELEASE.setdefault(key, asyncio.Event()).set()
            async with asyncio.timeout(20):
                await tailing
            assert seen[0].task.id == waiting.task.id
            assert seen[-1].status_update.status.state == S.TASK_STATE_COMPLETED
    async with kafka_client(card) as client:
        events = await send(client, message({"topic": "an owl"}, skill=f"story-{mesh.unique}"))
        assert [e.WhichOneof("payload") for e in events][:2] == ["task", "status_update"]
        assert events[-1].status_update.status.state == S.TASK_STATE_COMPLETED
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="no-such-task"))
    async with client_for(mesh.agent(mesh.second, "writer"), TransportProtocol.JSONRPC) as http_client:
        seen_over_http = await http_client.get_task(GetTaskRequest(id=events[0].task.id))
    assert seen_over_http.status.state == S.TASK_STATE_COMPLETED and len(seen_over_http.artifacts) == 5
