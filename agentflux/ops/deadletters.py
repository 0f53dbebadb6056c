"""The dead-letter topic ``agent.dead-letter.v1``, in one home: its headers, the one writer, reading and redriving.

A dead letter keeps the original key, value and headers unchanged and adds
``dlq_*`` headers naming why and where the record failed (``dead_letter_headers``).
``DeadLetterWriter`` is the one writer: the runtime's consumers and the
embedded stream engine use it. A record too large to be dead-lettered whole
(its value over the size limit, which is why it failed) keeps its headers and
the start of its value: ``fit_within`` cuts the value to what fits and marks
the dead letter ``dlq_value_truncated: true`` with ``dlq_value_size`` (the
original size); the record itself stays in its source topic, at the offset the
headers name.

Redriving strips the ``dlq_*`` headers again and re-publishes the record to its
source topic, where its group consumes it as a new record; then it appends a
*redrive marker* to the dead-letter topic (no value; ``dlq_redrive_of`` names
the letter, ``dlq_redriven_to`` where it went), so ``read_dead_letters`` can say
which letters were redriven. Markers are not letters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agentflux.contract.envelope import now_rfc3339
from agentflux.contract.errors import ConfigError, MessageTooLarge
from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.transport.base import Ack, Headers, Record, Transport
from agentflux.transport.delivery import publish_until_acked

__all__ = [
    "PREFIX", "SOURCE_TOPIC", "DeadLetter", "DeadLetterWriter", "dead_letter_headers", "fit_within",
    "read_dead_letters", "redrive",
]  # fmt: skip
PREFIX = "dlq_"
SOURCE_TOPIC = "dlq_source_topic"
TRUNCATED = "dlq_value_truncated"
ORIGINAL_SIZE = "dlq_value_size"
REDRIVE_OF = "dlq_redrive_of"
REDRIVEN_TO = "dlq_redriven_to"
log = logging.getLogger("agentflux.runtime")
_MAX_MESSAGE = 4000
_RECORD_OVERHEAD = 1024  # bytes of batch and record framing, with room to spare
_LAST_RESORT_BYTES = 16 * 1024


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


class DeadLetterWriter:
    """Publishes failed records to ``agent.dead-letter.v1``; ``send`` returns once one is acknowledged.

    The topic must exist (the runner and the stream engine create it at
    start). The source record is committed only after its dead letter is on
    the broker, so an outage stalls the partition rather than losing the record
    (transient failures are retried with backoff). A record too large to
    dead-letter whole is cut to fit (``fit_within``): first within
    ``max_bytes``, then, if the broker still refuses it, to 16 KB with only the
    ``dlq_*`` headers. If even that is refused the record is skipped with an
    ERROR naming where it stays, so a permanent failure never loops. A
    dead-letter topic the process may not write is a configuration error:
    ``send`` raises ``ConfigError``.
    """

    def __init__(self, transport: Transport, *, group: str, agent: str, max_bytes: int) -> None:
        self._transport = transport
        self._group = group
        self._agent = agent
        self._max_bytes = max_bytes

    async def send(self, record: Record, attempts: int, error: BaseException) -> None:
        headers = dead_letter_headers(record, group=self._group, agent=self._agent, attempts=attempts, error=error)
        tries = ((self._max_bytes, True), (_LAST_RESORT_BYTES, False))
        for budget, keep_headers in tries:
            value, fitted = fit_within(record.key, record.value, headers, budget, keep_headers=keep_headers)
            try:
                await self._publish(record, value, fitted)
            except MessageTooLarge as exc:
                log.warning("%s: the dead letter of %s is too large (%s); cutting it", self._agent, record.ref, exc)
                continue
            except Exception as exc:  # permanent and not about size: the topic cannot be written
                raise ConfigError(f"cannot write {DEAD_LETTER_TOPIC}: {exc}") from exc
            cut = " (value truncated)" if (TRUNCATED, b"true") in fitted else ""
            log.warning(
                "%s: dead-lettered %s after %d attempt(s)%s: %s: %s",
                self._agent, record.ref, attempts, cut, type(error).__name__, error,
            )  # fmt: skip
            return
        log.error(
            "%s: could not dead-letter %s even cut to %d bytes; skipping it (it stays in %s at that offset): %s: %s",
            self._agent, record.ref, _LAST_RESORT_BYTES, record.topic, type(error).__name__, error,
        )  # fmt: skip

    async def _publish(self, record: Record, value: bytes | None, headers: Headers) -> Ack:
        transport = self._transport

        def send(_failures: int) -> Awaitable[Ack]:
            return transport.publish(DEAD_LETTER_TOPIC, value, key=record.key, headers=headers)

        return await publish_until_acked(f"dead letter of {record.ref}", send, transport.watch)


@dataclass(frozen=True)
class DeadLetter:
    """A record read back from the dead-letter topic."""

    record: Record
    info: dict[str, str]
    redriven_to: list[str] = field(default_factory=list)  # where redrives sent it, oldest first

    @property
    def id(self) -> str:
        """``partition:offset`` in the dead-letter topic: what ``dlq show`` and ``redrive`` take."""
        return f"{self.record.partition}:{self.record.offset}"

    @property
    def source_topic(self) -> str:
        return self.info.get("source_topic", "")

    @property
    def truncated(self) -> bool:
        """True when the dead letter holds only the start of the original value."""
        return self.info.get(TRUNCATED[len(PREFIX) :]) == "true"

    def original_headers(self) -> Headers:
        return [(k, v or b"") for k, v in self.record.headers if not k.startswith(PREFIX)]

    @classmethod
    def from_record(cls, record: Record) -> DeadLetter:
        info = {
            k[len(PREFIX) :]: (v or b"").decode("utf-8", "replace") for k, v in record.headers if k.startswith(PREFIX)
        }
        return cls(record, info)


async def read_dead_letters(transport: Transport) -> list[DeadLetter]:
    """Every dead letter in the topic, oldest first (by when it failed), each with where it was redriven."""
    letters: list[DeadLetter] = []
    redriven: dict[str, list[str]] = {}
    for record in await transport.read_all(DEAD_LETTER_TOPIC):
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
        if REDRIVE_OF in headers:
            redriven.setdefault(headers[REDRIVE_OF], []).append(headers.get(REDRIVEN_TO, "?"))
        else:
            letters.append(DeadLetter.from_record(record))
    for letter in letters:
        letter.redriven_to.extend(redriven.get(letter.id, ()))
    return sorted(letters, key=lambda d: (d.info.get("failed_at", ""), d.record.partition, d.record.offset))


async def redrive(transport: Transport, letter: DeadLetter) -> Ack:
    """Re-publish the original record to its source topic; the dead letter itself stays."""
    if not letter.source_topic:
        raise ConfigError(f"dead letter {letter.id} names no source topic")
    if letter.truncated:
        where = f"{letter.source_topic}/{letter.info.get('source_partition')}/{letter.info.get('source_offset')}"
        raise ConfigError(
            f"dead letter {letter.id} holds only the start of a {letter.info.get('value_size')}-byte value; "
            f"the whole record is at {where}"
        )
    record = letter.record
    ack = await transport.publish(letter.source_topic, record.value, key=record.key, headers=letter.original_headers())
    marker = [
        (REDRIVE_OF, letter.id.encode()),
        (REDRIVEN_TO, f"{ack.topic}/{ack.partition}/{ack.offset}".encode()),
        ("dlq_redriven_at", now_rfc3339().encode()),
    ]
    await transport.publish(DEAD_LETTER_TOPIC, None, key=record.key, headers=marker)
    return ack
