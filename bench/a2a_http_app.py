"""The HTTP side of bench_a2a_http.py: the same handler, served with the official a2a-sdk.

A JSON-RPC server (``create_jsonrpc_routes`` + ``DefaultRequestHandler`` with an
in-memory task store), whose executor runs the task lifecycle A2A prescribes:
enqueue the Task, mark it working, add the result as a data artifact, complete.

    B_PORT=8123 .venv/bin/python bench/a2a_http_app.py
"""

import os

import uvicorn
from a2a.helpers import get_data_parts, new_data_part, new_task
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, TaskState
from pydantic import BaseModel
from starlette.applications import Starlette


class Ask(BaseModel):
    n: int
    body: str = ""


class Answer(BaseModel):
    n: int


async def answer(task: Ask) -> Answer:
    """The handler both sides run (bench/delegate_app.py has the Kafka twin)."""
    return Answer(n=task.n)


class AnswerExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None and context.task_id and context.context_id
        data = get_data_parts(context.message.parts)[0]
        ask = Ask.model_validate({**data, "n": int(data["n"])})  # protobuf Values carry numbers as doubles
        await event_queue.enqueue_event(
            new_task(context.task_id, context.context_id, TaskState.TASK_STATE_SUBMITTED, history=[context.message])
        )
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.start_work()
        result = await answer(ask)
        await updater.add_artifact([new_data_part(result.model_dump())], name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


def build(port: int) -> Starlette:
    url = f"http://127.0.0.1:{port}/"
    card = AgentCard(
        name="answer",
        description="Answers at once",
        version="1.0.0",
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["application/json"],
        default_output_modes=["application/json"],
        skills=[AgentSkill(id="answer", name="answer", description="Answers at once", tags=["bench"])],
    )
    handler = DefaultRequestHandler(AnswerExecutor(), InMemoryTaskStore(), card)
    return Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")])


if __name__ == "__main__":
    port = int(os.environ["B_PORT"])
    uvicorn.run(build(port), host="127.0.0.1", port=port, log_level="warning", access_log=False)
