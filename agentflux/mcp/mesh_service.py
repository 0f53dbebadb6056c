"""What the mesh's MCP server does, apart from MCP: reading and driving the system over Kafka."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from agentflux.client import AgentClient
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import ConfigError, TopicNameError
from agentflux.contract.tasks import TaskReport
from agentflux.contract.topics import (
    CARD_EXPIRES_HEADER,
    CARD_INSTANCE_HEADER,
    CARDS_TOPIC,
    EVENT_TOPIC,
    TASKS_TOPIC,
    TopicSpec,
    event_type,
)
from agentflux.ops.deadletters import read_dead_letters, redrive
from agentflux.ops.trace import find_by_correlation
from agentflux.runtime.declarations import AgentApp
from agentflux.runtime.publisher import Publisher
from agentflux.transport.base import Record, Transport
from agentflux.transport.health import alive_at


class MeshService:
    """The operations behind the mesh server's tools. Safe to call concurrently."""

    def __init__(self, transport: Transport, client: AgentClient, app: AgentApp | None = None) -> None:
        self.transport = transport
        self.client = client
        self.app = app
        spec_for = app.topic_spec if app else (lambda name: TopicSpec(name))
        self.publisher = Publisher(transport, spec_for)

    async def start(self) -> None:
        await self.transport.start()
        await self.client.start()

    async def close(self) -> None:
        await self.client.close()
        await self.transport.close()

    async def list_agents(self, include_expired: bool = False) -> list[dict[str, Any]]:
        """The latest card of every agent in ``agent.cards.v1``, with its app and whether it is live.

        Records are keyed by ``{app}.{agent}``, so two apps with an agent of the
        same name are two entries. An agent is live until the expiry its last
        card record carries (agents re-publish their cards as a heartbeat, and a
        clean stop publishes an expired one), not counting time this process
        spent without the cluster (``alive_at``); this reads the record's headers
        and checks no signature. Expired agents are left out unless ``include_expired``.
        """
        latest: dict[bytes, Record] = {}
        for record in await self.transport.read_all(CARDS_TOPIC):
            if record.key is not None:
                latest[record.key] = record
        now_ms, outage = int(time.time() * 1000), self.transport.watch.last_outage()
        agents = []
        for key, record in latest.items():
            if not record.value:
                continue  # a tombstone: the agent was removed
            headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
            expires = int(headers.get(CARD_EXPIRES_HEADER) or 0) or record.timestamp_ms + 30_000
            live = alive_at(expires, now_ms, outage)
            if live or include_expired:
                card = json.loads(record.value)
                app, dot, name = key.decode("utf-8", "replace").rpartition(".")
                agents.append(
                    {
                        "card": card,
                        "app": app if dot and isinstance(card, dict) and name == card.get("name") else None,
                        "live": live,
                        "instance": headers.get(CARD_INSTANCE_HEADER),
                    }
                )
        return agents

    async def publish_event(
        self, topic: str, payload: Any, key: str | None = None, correlation_id: str | None = None
    ) -> dict[str, Any]:
        if not EVENT_TOPIC.match(topic) or topic.startswith("agent."):
            raise TopicNameError(
                f"publish_event takes event topics of the form {{domain}}.{{event-type}}.v{{N}}, not {topic!r}"
            )
        envelope = Envelope.new(source="mcp", type=event_type(topic), correlation_id=correlation_id)
        ack = await self.publisher.publish(topic, payload, envelope=envelope, key=key)
        return {
            "topic": ack.topic,
            "partition": ack.partition,
            "offset": ack.offset,
            "id": envelope.id,
            "correlation_id": envelope.correlation_id,
        }

    async def delegate_task(self, skill: str, input: Any, timeout: float) -> dict[str, Any]:
        task_id = str(uuid.uuid4())
        result = await self.client.delegate(skill, input, timeout=timeout, task_id=task_id)
        json_result = result.model_dump(mode="json") if hasattr(result, "model_dump") else result
        return {"skill": skill, "task_id": task_id, "result": json_result}

    async def get_task(self, task_id: str) -> dict[str, Any]:
        latest = None
        wanted = task_id.encode()
        for record in await self.transport.read_all(TASKS_TOPIC):
            if record.key == wanted and record.value:
                latest = record.value
        if latest is None:
            raise ConfigError(f"no task {task_id!r} in {TASKS_TOPIC}")
        return TaskReport.model_validate_json(latest).model_dump(mode="json")

    async def find_by_correlation(self, correlation_id: str) -> list[dict[str, Any]]:
        return [hop.to_dict() for hop in await find_by_correlation(self.transport, correlation_id)]

    async def list_dead_letters(self, limit: int) -> list[dict[str, Any]]:
        letters = await read_dead_letters(self.transport)
        return [
            {
                "id": d.id,
                "key": (d.record.key or b"").decode("utf-8", "replace") or None,
                **d.info,
                "value": (d.record.value or b"").decode("utf-8", "replace"),
                "redriven_to": d.redriven_to,
            }
            for d in letters[-limit:]
        ]

    async def redrive_dead_letter(self, letter_id: str) -> dict[str, Any]:
        for letter in await read_dead_letters(self.transport):
            if letter.id == letter_id:
                ack = await redrive(self.transport, letter)
                return {"redriven": letter_id, "topic": ack.topic, "partition": ack.partition, "offset": ack.offset}
        raise ConfigError(f"no dead letter {letter_id!r}; ids are partition:offset as list_dead_letters shows")
