"""A remote A2A agent built with the a2a-sdk alone (no agentflux), for the remote-agent tests."""

from __future__ import annotations

from collections.abc import Callable

from a2a.helpers import get_data_parts, new_data_part, new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette


class Shouter(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        (data,) = get_data_parts(list(context.message.parts))
        if data.get("text") == "forbidden":
            await updater.reject()
            return
        await updater.add_artifact([new_data_part({"text": str(data["text"]).upper()})], name="result")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError


def remote_card(name: str, skill: str, url: str) -> AgentCard:
    return AgentCard(
        name=name,
        description="Shouts back",
        version="1.0.0",
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["application/json"],
        default_output_modes=["application/json"],
        skills=[AgentSkill(id=skill, name=skill, description="Shouts the text back", tags=["test"])],
    )


def remote_app(card: AgentCard, *, served: Callable[[AgentCard], AgentCard] | None = None) -> Starlette:
    """The agent's JSON-RPC endpoint at ``/`` and its card (``served(card)`` when given: signed, tampered)."""
    handler = DefaultRequestHandler(agent_executor=Shouter(), task_store=InMemoryTaskStore(), agent_card=card)
    public = served(card) if served else card
    return Starlette(routes=[*create_agent_card_routes(public), *create_jsonrpc_routes(handler, rpc_url="/")])
