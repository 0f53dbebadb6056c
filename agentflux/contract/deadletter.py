"""Dead-letter headers: why and where a record failed (the ``dlq_*`` part of the topic contract).

A dead letter on ``agent.dead-letter.v1`` keeps the original key, value and
headers unchanged and adds these headers. Both the runtime's consumers and
the stream jobs write them, so the definition lives here, below both.

A record too large to be dead-lettered whole (its value over the size limit,
which is why it failed) keeps its headers and the start of its value:
``fit_within`` cuts the value to what fits and marks the dead letter with
``dlq_value_truncated: true`` and ``dlq_value_size`` (the original size). The
record itself stays in its source topic, at the offset the headers name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agentflux.contract.envelope import now_rfc3339

PREFIX = "dlq_"
SOURCE_TOPIC = "dlq_source_topic"
TRUNCATED = "dlq_value_truncated"
ORIGINAL_SIZE = "dlq_value_size"
_MAX_MESSAGE = 4000
_RECORD_OVERHEAD = 1024  # bytes of batch and record framing, with room to spare


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


def fit_within(
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    max_bytes: int,
    *,
    keep_headers: bool = True,
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The dead letter's value and headers, cut to fit in a record of ``max_bytes`` (see the module docstring).

    ``keep_headers=False`` keeps only the ``dlq_*`` headers: the last resort when
    the original headers alone are too large.
    """
    if not keep_headers:
        headers = [(k, v) for k, v in headers if k.startswith(PREFIX)]
    used = sum(len(k) + len(v) + 16 for k, v in headers) + len(key or b"") + _RECORD_OVERHEAD
    if value is None or used + len(value) <= max_bytes:
        return value, headers
    room = max(0, max_bytes - used - 64)
    return value[:room], [*headers, (TRUNCATED, b"true"), (ORIGINAL_SIZE, str(len(value)).encode())]
