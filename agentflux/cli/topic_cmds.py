"""``agentflux publish TOPIC [JSON]`` and ``agentflux tail TOPIC``: feed an event topic and watch one.

``publish`` sends a JSON value with an envelope, exactly as ``ctx.publish`` does
from a handler, except that it starts a correlation of its own (or joins
``--correlation-id``); it provisions the topic on first use like the runtime.
``tail`` prints each record of a topic, its envelope and its decoded value,
one line each, following until Ctrl-C (or ``--limit`` records); like ``tail -F``,
it waits for a topic that does not exist yet. A value in the Confluent wire
format (Avro or JSON Schema) is decoded with its writer's schema from the
schema registry (``AGENTFLUX_SCHEMA_REGISTRY_URL``, or the one ``agentflux up``
started) and printed as JSON, like a JSON value.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from agentflux.cli.options import Bootstrap, with_transport
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import EnvelopeError, PayloadDecodeError, SchemaRegistryUnavailable, TopicNameError
from agentflux.contract.payloads import Payloads
from agentflux.contract.schemas import TopicFormat
from agentflux.contract.topics import EVENT_TOPIC, TopicSpec, event_type
from agentflux.runtime.publisher import Publisher
from agentflux.runtime.runner import schema_registry
from agentflux.transport.base import Record, TopicPartition
from agentflux.transport.kafka import KafkaTransport

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True)
Topic = Annotated[str, typer.Argument(help="An event topic, {domain}.{event-type}.v{N}")]


def _event_topic(topic: str) -> str:
    if not EVENT_TOPIC.match(topic):
        raise TopicNameError(f"{topic!r} is not an event topic: expected {{domain}}.{{event-type}}.v{{N}}")
    return topic


def _payload(value: str | None, file: Path | None) -> Any:
    if (value is None) == (file is None):
        raise typer.BadParameter("give the value as an argument or with --file, not both", param_hint="VALUE")
    text = file.read_text() if file is not None else value or ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="VALUE") from None


def publish(
    topic: Topic,
    value: Annotated[str | None, typer.Argument(help='The JSON value, e.g. \'{"order_id": "o1"}\'')] = None,
    key: Annotated[str | None, typer.Option(help="The record key (records with one key stay in order)")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the JSON value from this file", exists=True)] = None,
    correlation_id: Annotated[str | None, typer.Option(help="Join this correlation (default: a new one)")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Publish one JSON event to a topic, with an envelope, as an agent would."""
    payload = _payload(value, file)
    _event_topic(topic)

    async def send(transport: KafkaTransport) -> str:
        envelope = Envelope.new(source="cli", type=event_type(topic), correlation_id=correlation_id)
        ack = await Publisher(transport, lambda name: TopicSpec(name)).publish(
            topic, payload, envelope=envelope, key=key
        )
        where = f"{ack.topic}/{ack.partition}/{ack.offset}"
        return f"published {where} id={envelope.id} correlation_id={envelope.correlation_id}"

    _out.print(escape(asyncio.run(with_transport(bootstrap, send))))


def tail(
    topic: Topic,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest record")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many records")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Print a topic's records as they arrive: where, key, envelope and value, one line each (Ctrl-C stops)."""
    _event_topic(topic)
    try:
        asyncio.run(with_transport(bootstrap, lambda transport: _follow(transport, topic, from_beginning, limit)))
    except KeyboardInterrupt:
        sys.exit(0)


async def _follow(transport: KafkaTransport, topic: str, from_beginning: bool, limit: int | None) -> None:
    tail = transport.tail()
    payloads = Payloads(TopicFormat, schema_registry(None, transport))
    try:
        count = await tail.partition_count(topic)
        if count == 0:
            _err.print(f"waiting for {topic} to be created (by its first record); Ctrl-C stops")
        while count == 0:
            await asyncio.sleep(0.5)
            count = await tail.partition_count(topic)
        partitions = [TopicPartition(topic, p) for p in range(count)]
        start = await (tail.offsets_at(partitions, 0) if from_beginning else tail.end_offsets(partitions))
        await tail.assign(start)
        _err.print(
            f"following {topic} ({count} partitions) from the {'start' if from_beginning else 'end'}; Ctrl-C stops"
        )
        shown = 0
        while limit is None or shown < limit:
            for record in await tail.poll(100, 0.5):
                _out.print(escape(describe(record, await registered_value(payloads, record))))
                shown += 1
                if limit is not None and shown >= limit:
                    break
    finally:
        await payloads.close()
        await tail.close()


async def registered_value(payloads: Payloads, record: Record) -> str | None:
    """A value in the Confluent wire format, decoded through the registry, as JSON text; None for any other value."""
    if not payloads.framed(record.value):
        return None
    try:
        data = await payloads.decode(record.topic, record.value, dict)
    except (PayloadDecodeError, SchemaRegistryUnavailable) as exc:
        return f"(cannot decode: {exc})"
    return json.dumps(data, separators=(",", ":"), default=_jsonable)


def _jsonable(value: object) -> str:
    """Avro's datetimes, dates, times, decimals and uuids as JSON text (ISO 8601 for the times)."""
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)


def describe(record: Record, decoded: str | None = None) -> str:
    """One line for a record: ``topic/partition/offset key=... type from source correlation=... value``.

    ``decoded`` is the value already decoded (a registry format's); otherwise the value is shown as text.
    """
    key = (record.key or b"").decode("utf-8", "replace") or "-"
    try:
        env = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)
        about = f"{env.type} from {env.source} correlation={env.correlation_id}"
    except EnvelopeError as exc:
        about = f"(malformed envelope: {exc})"
    if decoded is not None:
        return f"{record.ref} key={key} {about} {decoded}"
    value: Any = (record.value or b"").decode("utf-8", "replace")
    try:
        value = json.dumps(json.loads(value), separators=(",", ":"))
    except ValueError:
        pass
    return f"{record.ref} key={key} {about} {value}"


def register(app: typer.Typer) -> None:
    app.command()(publish)
    app.command()(tail)
