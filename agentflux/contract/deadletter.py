"""Dead-letter headers: why and where a record failed (the ``dlq_*`` part of the topic contract).

A dead letter on ``agent.dead-letter.v1`` keeps the original key, value and
headers unchanged and adds these headers. Both the runtime's consumers and
the stream jobs write them, so the definition lives here, below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agentflux.contract.envelope import now_rfc3339

PREFIX = "dlq_"
SOURCE_TOPIC = "dlq_source_topic"
_MAX_MESSAGE = 4000


class FailedRecord(Protocol):
    """What a dead letter needs to know about the record that failed (``transport.Record`` is one)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


def dead_letter_headers(
    record: FailedRecord, *, group: str, agent: str, attempts: int, error: BaseException
) -> list[tuple[str, bytes]]:
    """The record's own headers (minus any earlier ``dlq_*``), then the ``dlq_*`` headers for this failure."""
    message = str(error) or repr(error)
    original = [(k, v or b"") for k, v in record.headers if not k.startswith(PREFIX)]
    return [
        *original,
        (SOURCE_TOPIC, record.topic.encode()),
        ("dlq_source_partition", str(record.partition).encode()),
        ("dlq_source_offset", str(record.offset).encode()),
        ("dlq_group", group.encode()),
        ("dlq_agent", agent.encode()),
        ("dlq_attempts", str(attempts).encode()),
        ("dlq_error_type", type(error).__name__.encode()),
        ("dlq_error_message", message[:_MAX_MESSAGE].encode("utf-8", "replace")),
        ("dlq_failed_at", now_rfc3339().encode()),
    ]
