"""Following a request through the log: every record that carries a correlation id.

Only the Kafka log is read, so this works for any system built on agentflux,
running or stopped. Hops come back in causal order: a record always follows
the record that caused it (``ce_causationid``), and records otherwise follow
their broker timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import EnvelopeError
from agentflux.contract.topics import CARDS_TOPIC, DEAD_LETTER_TOPIC, EVENT_TOPIC, is_reserved
from agentflux.transport.base import Record, Transport


@dataclass(frozen=True)
class Hop:
    """One record of a correlation: where it is, what its envelope says, what it carried."""

    record: Record
    envelope: Envelope

    def to_dict(self) -> dict[str, Any]:
        value: Any = (self.record.value or b"").decode("utf-8", "replace")
        try:
            value = json.loads(value)
        except ValueError:
            pass
        env = self.envelope
        return {
            "topic": self.record.topic,
            "partition": self.record.partition,
            "offset": self.record.offset,
            "key": (self.record.key or b"").decode("utf-8", "replace") or None,
            "id": env.id,
            "source": env.source,
            "type": env.type,
            "time": env.time,
            "causation_id": env.causation_id,
            "task_id": env.task_id,
            "dead_letter": self.record.topic == DEAD_LETTER_TOPIC,
            "value": value,
        }


def is_traceable(topic: str) -> bool:
    """Event topics and the runtime's task and dead-letter topics (not the card registry)."""
    return topic != CARDS_TOPIC and (is_reserved(topic) or bool(EVENT_TOPIC.match(topic)))


async def find_by_correlation(
    transport: Transport, correlation_id: str, topics: Iterable[str] | None = None
) -> list[Hop]:
    """Every record on ``topics`` (default: every traceable topic) with this correlation id."""
    names = list(topics) if topics is not None else [t for t in await transport.list_topics() if is_traceable(t)]
    wanted = correlation_id.encode()
    hops = []
    for topic in names:
        for record in await transport.read_all(topic):
            if ("ce_correlationid", wanted) not in record.headers:
                continue
            try:
                envelope = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=topic)
            except EnvelopeError:
                continue
            hops.append(Hop(record, envelope))
    return causal_order(hops)


def causal_order(hops: list[Hop]) -> list[Hop]:
    """Timestamp order, corrected so that no hop comes before the hop that caused it."""
    by_time = sorted(hops, key=lambda h: (h.record.timestamp_ms, h.record.topic, h.record.offset))
    ids = {h.envelope.id for h in by_time}
    placed: set[str] = set()
    ordered: list[Hop] = []
    waiting: dict[str, list[Hop]] = {}

    def place(hop: Hop) -> None:
        ordered.append(hop)
        placed.add(hop.envelope.id)
        for child in waiting.pop(hop.envelope.id, []):
            place(child)

    for hop in by_time:
        cause = hop.envelope.causation_id
        if cause and cause in ids and cause not in placed and cause != hop.envelope.id:
            waiting.setdefault(cause, []).append(hop)
        else:
            place(hop)
    for rest in waiting.values():  # causes that never got placed (cycles): keep them, in time order
        ordered.extend(h for h in rest if h.envelope.id not in placed)
    return ordered
