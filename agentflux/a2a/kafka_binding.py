"""The Kafka binding's client transport, registered with the a2a-sdk's ``ClientFactory``.

An interface ``kafka://{bootstrap servers}/agents/{agent}`` with
``protocolBinding`` ``KAFKA_BINDING`` is served by no HTTP endpoint: the
operations are Kafka records (docs/a2a-kafka-binding.md specifies them). This
transport speaks them from the client's process. It runs the same request
handler as the gateway (the SDK's ``DefaultRequestHandler`` over
``SkillExecutor``, ``KafkaTaskStore`` and ``KafkaTaskEventStream``) in process,
so a message becomes a skill task request on ``agent.task-requests.{skill}``,
its progress is read from ``agent.tasks.v1`` and its A2A task is recorded
there, where every gateway and every other client sees it.

::

    factory = ClientFactory(ClientConfig(supported_protocol_bindings=[KAFKA_BINDING]))
    register_kafka_binding(factory)
    client = factory.create(card)          # a card listing a Kafka interface

Errors are the SDK's ``A2AError`` classes, as the HTTP transports raise them.
The service parameters of a call (``ClientCallContext.service_parameters``,
for example ``A2A-Extensions``) travel as record headers; ``A2A-Version`` is
``1.0``. Kafka's own security (TLS, SASL) authenticates the client:
``client_config`` or ``AGENTFLUX_KAFKA_*`` variables configure it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from urllib.parse import urlsplit

from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.client.transports.base import ClientTransport
from a2a.server.context import ServerCallContext
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0
from a2a.utils.errors import PushNotificationNotSupportedError
from a2a.utils.proto_utils import to_stream_response

from agentflux.a2a.cards import KAFKA_BINDING
from agentflux.a2a.handler import AgentRequestHandler
from agentflux.a2a.task_log import TaskLog
from agentflux.contract.errors import ConfigError
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings


def parse_kafka_url(url: str) -> tuple[str, str]:
    """``(bootstrap servers, agent)`` from ``kafka://{servers}/agents/{agent}``; ConfigError otherwise."""
    parts = urlsplit(url)
    path = parts.path.strip("/").split("/")
    if parts.scheme != "kafka" or not parts.netloc or len(path) != 2 or path[0] != "agents":
        raise ConfigError(f"not a Kafka binding URL: {url!r}; expected kafka://host:port[,host:port]/agents/NAME")
    return parts.netloc, path[1]


class KafkaClientTransport(ClientTransport):
    """A2A operations over Kafka for one agent. Connects on first use; ``close()`` disconnects."""

    def __init__(self, card: AgentCard, url: str, *, client_config: Mapping[str, str] | None = None) -> None:
        self.bootstrap, self.agent = parse_kafka_url(url)
        self.card = card
        self._settings = KafkaSettings.resolve(self.bootstrap, client_config=dict(client_config or {}))
        self._kafka: KafkaTransport | None = None
        self._log: TaskLog | None = None
        self._handler: AgentRequestHandler | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> AgentRequestHandler:
        async with self._lock:
            if self._handler is None:
                kafka = KafkaTransport(self._settings)
                await kafka.start()
                log = TaskLog(kafka)
                await log.start()
                self._kafka, self._log = kafka, log
                self._handler = AgentRequestHandler(self.card, log, kafka, source=f"a2a-kafka-client:{self.agent}")
            return self._handler

    @staticmethod
    def _context(context: ClientCallContext | None) -> ServerCallContext:
        headers = {"a2a-version": PROTOCOL_VERSION_1_0}
        if context is not None and context.service_parameters:
            headers.update({k.lower(): v for k, v in context.service_parameters.items()})
        return ServerCallContext(state={"headers": headers})

    async def send_message(
        self, request: SendMessageRequest, *, context: ClientCallContext | None = None
    ) -> SendMessageResponse:
        result = await (await self._ready()).on_message_send(request, self._context(context))
        return SendMessageResponse(task=result) if isinstance(result, Task) else SendMessageResponse(message=result)

    async def send_message_streaming(
        self, request: SendMessageRequest, *, context: ClientCallContext | None = None
    ) -> AsyncGenerator[StreamResponse]:
        handler = await self._ready()
        async for event in handler.on_message_send_stream(request, self._context(context)):
            yield to_stream_response(event)

    async def get_task(self, request: GetTaskRequest, *, context: ClientCallContext | None = None) -> Task:
        task: Task | None = await (await self._ready()).on_get_task(request, self._context(context))
        assert task is not None  # the handler raises TaskNotFoundError
        return task

    async def list_tasks(
        self, request: ListTasksRequest, *, context: ClientCallContext | None = None
    ) -> ListTasksResponse:
        page: ListTasksResponse = await (await self._ready()).on_list_tasks(request, self._context(context))
        return page

    async def cancel_task(self, request: CancelTaskRequest, *, context: ClientCallContext | None = None) -> Task:
        task: Task | None = await (await self._ready()).on_cancel_task(request, self._context(context))
        assert task is not None
        return task

    async def subscribe(
        self, request: SubscribeToTaskRequest, *, context: ClientCallContext | None = None
    ) -> AsyncGenerator[StreamResponse]:
        handler = await self._ready()
        async for event in handler.on_subscribe_to_task(request, self._context(context)):
            yield to_stream_response(event)

    async def create_task_push_notification_config(
        self, request: TaskPushNotificationConfig, *, context: ClientCallContext | None = None
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def get_task_push_notification_config(
        self, request: GetTaskPushNotificationConfigRequest, *, context: ClientCallContext | None = None
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def list_task_push_notification_configs(
        self, request: ListTaskPushNotificationConfigsRequest, *, context: ClientCallContext | None = None
    ) -> ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError

    async def delete_task_push_notification_config(
        self, request: DeleteTaskPushNotificationConfigRequest, *, context: ClientCallContext | None = None
    ) -> None:
        raise PushNotificationNotSupportedError

    async def get_extended_agent_card(
        self, request: GetExtendedAgentCardRequest, *, context: ClientCallContext | None = None
    ) -> AgentCard:
        card: AgentCard = await (await self._ready()).on_get_extended_agent_card(request, self._context(context))
        return card

    async def close(self, grace: float = 30.0) -> None:
        """Finish following the tasks this client started (up to ``grace`` seconds), then disconnect.

        The client that sent a message records its task's progress on
        ``agent.tasks.v1``; a task still running after ``grace`` keeps its last
        recorded state (see docs/a2a.md, "Limits").
        """
        async with self._lock:
            if self._handler is not None:
                await self._handler.executor.drain(grace)
                await self._handler.aclose()
            if self._log is not None:
                await self._log.close()
            if self._kafka is not None:
                await self._kafka.close()
            self._handler = self._log = self._kafka = None


def register_kafka_binding(factory: ClientFactory, *, client_config: Mapping[str, str] | None = None) -> None:
    """Teach ``factory`` the Kafka binding (list ``KAFKA_BINDING`` in ``supported_protocol_bindings``)."""

    def produce(card: AgentCard, url: str, _config: ClientConfig) -> ClientTransport:
        return KafkaClientTransport(card, url, client_config=client_config)

    factory.register(KAFKA_BINDING, produce)


__all__ = ["KafkaClientTransport", "parse_kafka_url", "register_kafka_binding"]
