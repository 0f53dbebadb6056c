"""Topic names and topic declarations.

Event topics follow ``{domain}.{event-type}.v{N}``: lowercase words joined by
hyphens, for example ``ecommerce.price-changed.v1``. Topics under ``agent.`` are
reserved for the runtime itself (tasks, cards, dead letters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agentflux.contract.errors import TopicNameError

_WORD = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
EVENT_TOPIC = re.compile(rf"^(?P<domain>{_WORD})\.(?P<event>{_WORD})\.v(?P<version>[1-9][0-9]*)$")
_SKILL = re.compile(rf"^{_WORD}$")

EXPECTED_FORM = "{domain}.{event-type}.v{N}, e.g. ecommerce.price-changed.v1"

DEAD_LETTER_TOPIC = "agent.dead-letter.v1"
CARDS_TOPIC = "agent.cards.v1"
TASKS_TOPIC = "agent.tasks.v1"
TASK_REQUESTS_PREFIX = "agent.task-requests."
TASK_RESULTS_PREFIX = "agent.task-results."
_RESERVED_FIXED = {DEAD_LETTER_TOPIC, CARDS_TOPIC, TASKS_TOPIC}
# agent.cards.v1 records are keyed by {app}.{agent}. Their headers: the publishing process, and until when (epoch
# ms) it is live; the card's signed liveness extension says the same, and a reader with a trust policy reads that.
CARD_INSTANCE_HEADER = "agentflux_instance"
CARD_EXPIRES_HEADER = "agentflux_expires"


def validate_skill_id(skill: str) -> str:
    """Return ``skill`` if it can name task topics, else raise TopicNameError."""
    if not _SKILL.match(skill):
        raise TopicNameError(
            f"invalid skill id {skill!r}: expected lowercase words joined by hyphens, e.g. update-price"
        )
    return skill


def task_requests_topic(skill: str) -> str:
    return TASK_REQUESTS_PREFIX + validate_skill_id(skill)


def task_results_topic(skill: str) -> str:
    return TASK_RESULTS_PREFIX + validate_skill_id(skill)


def is_reserved(topic: str) -> bool:
    """True for the runtime's own ``agent.*`` topics."""
    if topic in _RESERVED_FIXED:
        return True
    for prefix in (TASK_REQUESTS_PREFIX, TASK_RESULTS_PREFIX):
        if topic.startswith(prefix) and _SKILL.match(topic[len(prefix) :]):
            return True
    return False


def validate_topic(topic: str) -> str:
    """Return ``topic`` if it is an event topic or a reserved one, else raise TopicNameError."""
    if is_reserved(topic):
        return topic
    if topic.startswith("agent."):
        raise TopicNameError(
            f"invalid topic {topic!r}: the agent.* namespace is reserved for "
            f"{sorted(_RESERVED_FIXED)} and agent.task-requests.{{skill}} / agent.task-results.{{skill}}"
        )
    if EVENT_TOPIC.match(topic):
        return topic
    raise TopicNameError(f"invalid topic {topic!r}: expected {EXPECTED_FORM}")


def event_type(topic: str) -> str:
    """The CloudEvents ``type`` for a topic: the topic name without its version."""
    match = EVENT_TOPIC.match(topic)
    return f"{match['domain']}.{match['event']}" if match else topic


@dataclass(frozen=True)
class TopicSpec:
    """How a topic is provisioned: partitions, replication, retention and cleanup."""

    name: str
    partitions: int = 6
    replication_factor: int = -1
    retention_ms: int | None = None
    cleanup_policy: str | None = None
    config: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_topic(self.name)
        if self.partitions < 1:
            raise TopicNameError(f"topic {self.name!r}: partitions must be at least 1, got {self.partitions}")
        if self.cleanup_policy not in (None, "delete", "compact", "compact,delete"):
            raise TopicNameError(f"topic {self.name!r}: cleanup_policy must be delete, compact or 'compact,delete'")

    def topic_config(self) -> dict[str, str]:
        """The broker-side topic configuration this spec asks for."""
        out = dict(self.config)
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        if self.cleanup_policy is not None:
            out["cleanup.policy"] = self.cleanup_policy
        return out


def reserved_specs(partitions: int = 6, *, max_message_bytes: int | None = None) -> list[TopicSpec]:
    """Specs for the runtime's own fixed topics.

    With ``max_message_bytes`` (the app's size limit), the dead-letter topic is
    created to accept a record of that size, as the producer does.
    """
    limit = {} if max_message_bytes is None else {"max.message.bytes": str(max_message_bytes + 64 * 1024)}
    return [
        TopicSpec(DEAD_LETTER_TOPIC, partitions=partitions, config=limit),
        TopicSpec(CARDS_TOPIC, partitions=1, cleanup_policy="compact"),
        TopicSpec(TASKS_TOPIC, partitions=partitions, cleanup_policy="compact"),
    ]
