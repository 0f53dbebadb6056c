"""The dead-letter topic, the runtime's one home for it: writing quarantined records and reading them back.

A dead letter keeps the original key, value and headers unchanged and adds
``dlq_*`` headers (``contract.deadletter``). ``DeadLetterWriter`` is the one
writer every consumer of the runtime uses. Redriving strips the ``dlq_*``
headers again and re-publishes the record to its source topic, where its
group will consume it as a new record; then it appends a *redrive marker* to
the dead-letter topic (no value; ``dlq_redrive_of`` names the letter,
``dlq_redriven_to`` where it went), so ``read_dead_letters`` can say which
letters were redriven. Markers are not letters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from agentflux.contract.deadletter import (
    PREFIX,
    SOURCE_TOPIC,
    TRUNCATED,
    dead_letter_headers,
    fit_within,
)
from agentflux.contract.envelope import now_rfc3339
from agentflux.contract.errors import ConfigError, MessageTooLarge
from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.runtime.publisher import Publisher, publish_until_acked
from agentflux.transport.base import Ack, Headers, Record, Transport

__all__ = ["PREFIX", "SOURCE_TOPIC", "DeadLetter", "DeadLetterWriter", "read_dead_letters", "redrive"]
REDRIVE_OF = "dlq_redrive_of"
REDRIVEN_TO = "dlq_redriven_to"
log = logging.getLogger("agentflux.runtime")
_LAST_RESORT_BYTES = 16 * 1024


class DeadLetterWriter:
    """Publishes failed records to ``agent.dead-letter.v1``; ``send`` returns once one is acknowledged.

    The source record is committed only after its dead letter is on the
    broker, so an outage stalls the partition rather than losing the record
    (transient failures are retried with backoff). A record too large to
    dead-letter whole is cut to fit (``fit_within``): first within
    ``max_bytes``, then, if the broker still refuses it, to 16 KB with only the
    ``dlq_*`` headers. If even that is refused the record is skipped with an
    ERROR naming where it stays, so a permanent failure never loops. A
    dead-letter topic the process may not write is a configuration error:
    ``send`` raises ``ConfigError``.
    """

    def __init__(self, publisher: Publisher, *, group: str, agent: str, max_bytes: int) -> None:
        self._publisher = publisher
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
        publisher = self._publisher

        def send(_failures: int) -> Awaitable[Ack]:
            return publisher.publish_raw(DEAD_LETTER_TOPIC, value, key=record.key, headers=headers)

        return await publish_until_acked(f"dead letter of {record.ref}", send, publisher.transport.watch)


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
