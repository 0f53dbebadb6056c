"""Registry formats on a real broker and a real registry: agents, several record types, dead letters, refusals.

Each test has its own topics (so its own subjects), app name and groups.
"""

from __future__ import annotations

import pytest
from behaviour.helpers import KafkaBackend
from schemas.models import PriceChanged, PriceChangedBroken, PriceChangedV2, StockChanged, Unrelated, seed_price

from agentflux import AgentApp, AppRunner, Context, SchemaIncompatible
from agentflux.contract.envelope import Envelope
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import Format, TopicFormat
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(120)]


def app_for(backend: KafkaBackend, schema_registry: str, fmt: Format = "avro") -> AgentApp:
    return AgentApp(backend.app_name, format=fmt, schema_registry_url=schema_registry)


@pytest.mark.parametrize("fmt", ["avro", "json-schema"])
async def test_an_agent_publishes_and_another_reads_through_the_registry(
    backend: KafkaBackend, schema_registry: str, registry: Registry, fmt: Format
) -> None:
    source, derived = backend.topic("price-seen"), backend.topic("price-changed")
    app = app_for(backend, schema_registry, fmt)
    seen: list[PriceChanged] = []

    @app.agent("relay", publishes=[derived]).on(source)
    async def relay(event: PriceChanged, ctx: Context) -> None:
        await ctx.publish(derived, event.model_copy(update={"new_price": event.new_price - 1}), key=event.product_id)

    @app.agent("reader").on(derived)
    async def read(event: PriceChanged, ctx: Context) -> None:
        seen.append(event)

    edge = Payloads(app.format_of, registry)  # a producer at the edge writes the same wire format
    async with backend.run(app) as runner:
        for n in range(5):
            await backend.transport.publish(source, await edge.encode(source, seed_price(n)), key=f"p{n}".encode())
        await backend.eventually(lambda: len(seen) == 5, what="5 prices through two registry topics")
        await backend.drain(runner)
    assert sorted(e.product_id for e in seen) == [f"p{n}" for n in range(5)]
    assert {e.new_price for e in seen} == {8.5}
    raw = await backend.transport.read_all(derived)
    assert all(r.value is not None and r.value[0] == 0 for r in raw), "the relay wrote the Confluent wire format"
    kinds = {dict(r.headers)["content-type"] for r in raw}
    assert kinds == {b"application/avro" if fmt == "avro" else b"application/json"}
    assert await registry.compatibility(f"{derived}-value") == "BACKWARD"
    assert await backend.dead_letters(source) == [] and await backend.dead_letters(derived) == []


async def test_two_record_types_on_one_topic_reach_their_own_handlers_and_a_third_is_skipped(
    backend: KafkaBackend, schema_registry: str, registry: Registry
) -> None:
    topic = backend.topic("inventory")
    app = app_for(backend, schema_registry)
    app.topic(topic, partitions=1, types=[PriceChanged, StockChanged], subjects="topic-record")
    prices: list[PriceChanged] = []
    stock: list[StockChanged] = []
    agent = app.agent("watcher")

    @agent.on(topic)
    async def on_price(event: PriceChanged, ctx: Context) -> None:
        prices.append(event)

    @agent.on(topic)
    async def on_stock(event: StockChanged, ctx: Context) -> None:
        stock.append(event)

    kept: list[StockChanged] = []

    @app.agent("stock-keeper").on(topic)  # one handler of one of the topic's declared types
    async def keep(event: StockChanged, ctx: Context) -> None:
        kept.append(event)

    other_app = AgentApp(f"{backend.app_name}-w", schema_registry_url=schema_registry)
    other_app.topic(topic, format="avro", types=[PriceChangedV2, StockChanged, Unrelated], subjects="topic-record")
    writer = Payloads(other_app.format_of, registry)
    values = [
        await writer.encode(topic, seed_price(1)),
        await writer.encode(topic, StockChanged(product_id="p1", units=4)),
        await writer.encode(topic, Unrelated(note="another agent's business")),
        await writer.encode(topic, seed_price(2)),
    ]
    async with backend.run(app) as runner:
        for value in values:
            await backend.transport.publish(topic, value, key=b"p1")
        await backend.eventually(lambda: len(prices) == 2 and len(stock) == 1, what="each type at its handler")
        await backend.drain(runner)  # the skipped record was committed too
        assert dict(runner.processors["watcher"].skipped) == {(topic, "Unrelated"): 1}
        assert dict(runner.processors["stock-keeper"].skipped) == {(topic, "PriceChanged"): 2, (topic, "Unrelated"): 1}
        assert kept == [StockChanged(product_id="p1", units=4)]
    assert [p.product_id for p in prices] == ["p1", "p2"] and stock == [StockChanged(product_id="p1", units=4)]
    assert await backend.dead_letters(topic) == []


async def test_records_that_cannot_be_decoded_become_dead_letters_with_the_reason(
    backend: KafkaBackend, schema_registry: str, registry: Registry
) -> None:
    topic = backend.topic("price-changed")
    app = app_for(backend, schema_registry)
    app.topic(topic, partitions=1)
    seen: list[PriceChanged] = []

    @app.agent("reader").on(topic)
    async def read(event: PriceChanged, ctx: Context) -> None:
        seen.append(event)

    good = await Payloads(app.format_of, registry).encode(topic, seed_price())
    bad = {
        b"\x05not-framed": "wrong magic byte 0x05",
        b"\x00\x7f\xff\xff\xf1" + good[5:]: "unknown schema id 2147483633",
        good[:5] + b"\xff": "does not match its schema",
    }
    async with backend.run(app) as runner:
        for value in [*bad, good]:
            await backend.transport.publish(topic, value, key=b"k")
        await backend.eventually(lambda: len(seen) == 1, what="the good record after three bad ones")
        await backend.drain(runner)
    letters = await backend.dead_letters(topic)
    assert [letter.record.value for letter in letters] == list(bad)
    for letter, reason in zip(letters, bad.values(), strict=True):
        assert letter.info["error_type"] == "PayloadDecodeError"
        assert reason in letter.info["error_message"]


async def test_a_producer_whose_model_breaks_the_rule_refuses_to_start(
    backend: KafkaBackend, schema_registry: str, registry: Registry
) -> None:
    topic = backend.topic("price-changed")
    await Payloads(lambda t: TopicFormat(t, "avro", (PriceChanged,)), registry).encode(topic, seed_price())
    app = app_for(backend, schema_registry)
    app.topic(topic, types=[PriceChangedBroken])

    @app.agent("pricer", publishes=[topic]).every(60)
    async def tick(ctx: Context) -> None:
        await ctx.publish(topic, PriceChangedBroken.model_construct())

    runner = AppRunner(app, KafkaTransport(KafkaSettings(backend.bootstrap)))
    with pytest.raises(SchemaIncompatible) as refused:
        await runner.start()
    await runner.stop()
    message = str(refused.value)
    assert message.startswith(f"agent 'pricer' cannot start: {topic}: PriceChanged breaks BACKWARD compatibility")
    assert "field 'currency' was added without a default" in message
    assert await registry.versions(f"{topic}-value") == [1]


@pytest.mark.parametrize("fmt", ["avro", "json-schema"])
async def test_agents_on_v1_and_v2_of_a_model_read_each_others_records(
    backend: KafkaBackend, schema_registry: str, fmt: Format
) -> None:
    """A v2 producer and a v1 consumer, and a v1 producer and a v2 consumer, in both orders on one topic."""
    topic = backend.topic("price-changed")
    old_app, new_app = (
        app_for(backend, schema_registry, fmt),
        AgentApp(f"{backend.app_name}-v2", format=fmt, schema_registry_url=schema_registry),
    )
    for app in (old_app, new_app):
        app.topic(topic, partitions=1)
    old_seen: list[PriceChanged] = []
    new_seen: list[PriceChangedV2] = []

    @old_app.agent("old-reader").on(topic)
    async def old_reader(event: PriceChanged, ctx: Context) -> None:
        old_seen.append(event)

    @new_app.agent("new-reader").on(topic)
    async def new_reader(event: PriceChangedV2, ctx: Context) -> None:
        new_seen.append(event)

    async with backend.run(old_app) as old_runner, backend.run(new_app) as new_runner:
        await old_runner.services.publisher.publish(
            topic, seed_price(1), envelope=Envelope.new(source="v1", type="t"), key="k"
        )
        await new_runner.services.publisher.publish(
            topic,
            PriceChangedV2(**seed_price(2).model_dump(), currency="USD"),
            envelope=Envelope.new(source="v2", type="t"),
            key="k",
        )
        await backend.eventually(lambda: len(old_seen) == 2 and len(new_seen) == 2, what="both records at both readers")
    assert old_seen == [seed_price(1), seed_price(2)]
    assert [(e.product_id, e.currency) for e in new_seen] == [("p1", "EUR"), ("p2", "USD")]
    assert await backend.dead_letters(topic) == []
