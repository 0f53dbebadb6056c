"""The request handler of one agent behind the gateway: the SDK's, with the skill checked up front."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.types import AgentCard, Message, SendMessageRequest, Task
from a2a.utils.input_mode_validator import validate_input_modes
from google.protobuf.json_format import MessageToDict

from agentflux.a2a.executor import SkillExecutor
from agentflux.a2a.task_log import TaskLog
from agentflux.a2a.task_store import KafkaTaskEventStream, KafkaTaskStore
from agentflux.transport.base import Transport


class AgentRequestHandler(DefaultRequestHandler):
    """``DefaultRequestHandler`` over Kafka: ``KafkaTaskStore``, ``KafkaTaskEventStream``, ``SkillExecutor``.

    Parts whose ``mediaType`` the card does not list are refused with
    ``ContentTypeNotSupportedError``. A message that starts a task is checked
    before the SDK creates anything:
    an unknown skill, or a message that cannot be the skill's input, is
    answered with ``InvalidParamsError`` and leaves no task behind.
    """

    def __init__(self, card: AgentCard, log: TaskLog, transport: Transport, *, source: str) -> None:
        self.executor = SkillExecutor(card, log, transport, source=source)
        super().__init__(
            agent_executor=self.executor,
            task_store=KafkaTaskStore(log, transport, agent=card.name, source=source),
            agent_card=card,
            event_stream=KafkaTaskEventStream(log),
            validate_input_modes=True,
        )

    def _check(self, params: SendMessageRequest) -> None:
        validate_input_modes(params.message, self._agent_card)  # ContentTypeNotSupportedError comes first
        if not params.message.task_id:
            metadata = MessageToDict(params.metadata) if params.HasField("metadata") else {}
            self.executor.resolve(params.message, metadata)

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Message | Task:
        self._check(params)
        result: Message | Task = await super().on_message_send(params, context)
        return result

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        self._check(params)
        async for event in super().on_message_send_stream(params, context):
            yield event
