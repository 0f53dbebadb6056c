"""The dead-letter topic: quarantined records, with why and where they failed.

A dead letter keeps the original key, value and headers unchanged and adds
``dlq_*`` headers. Redriving strips those again and re-publishes the record to
its source topic, where its group will consume it as a new record.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentflux.contract.deadletter import PREFIX, SOURCE_TOPIC, dead_letter_headers
from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.transport.base import Ack, Headers, Record, Transport

__all__ = ["PREFIX", "SOURCE_TOPIC", "DeadLetter", "dead_letter_headers", "read_dead_letters", "redrive"]


@dataclass(frozen=True)
class DeadLetter:
    """A record read back from the dead-letter topic."""

    record: Record
    info: dict[str, str]

    @property
    def id(self) -> str:
        """``partition:offset`` in the dead-letter topic: what ``dlq show`` and ``redrive`` take."""
        return f"{self.record.partition}:{self.record.offset}"

    @property
    def source_topic(self) -> str:
        return self.info.get("source_topic", "")

    def original_headers(self) -> Headers:
        return [(k, v or b"") for k, v in self.record.headers if not k.startswith(PREFIX)]

    @classmethod
    def from_record(cls, record: Record) -> DeadLetter:
        info = {
            k[len(PREFIX) :]: (v or b"").decode("utf-8", "replace") for k, v in record.headers if k.startswith(PREFIX)
        }
        return cls(record, info)


async def read_dead_letters(transport: Transport) -> list[DeadLetter]:
    """Every dead letter currently in the topic, oldest first per partition."""
    return [DeadLetter.from_record(r) for r in await transport.read_all(DEAD_LETTER_TOPIC)]


async def redrive(transport: Transport, letter: DeadLetter) -> Ack:
    """Re-publish the original record to its source topic; the dead letter itself stays."""
    if not letter.source_topic:
        raise ConfigError(f"dead letter {letter.id} names no source topic")
    record = letter.record
    return await transport.publish(letter.source_topic, record.value, key=record.key, headers=letter.original_headers())
