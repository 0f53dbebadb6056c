"""Declaring formats and record types: what is refused at once, and what a producer does without a registry.

Fast tier: no registry, no broker (a registry URL where nothing listens).
"""

from __future__ import annotations

import pytest
from schemas.models import PriceChanged, StockChanged

from agentflux import AgentApp, AppRunner, ConfigError, Context, SchemaRegistryUnavailable
from agentflux.contract.schemas import TopicFormat, avro_schema, json_schema
from agentflux.transport.memory import MemoryTransport

NOBODY = "http://127.0.0.1:9/apis/ccompat/v7"  # port 9 (discard): nothing listens


def test_a_bad_format_subject_strategy_or_rule_is_refused_when_declared() -> None:
    app = AgentApp("decl")
    with pytest.raises(ConfigError, match="format must be one of json, avro, json-schema; got 'protobuf'"):
        app.topic("shop.price-changed.v1", format="protobuf")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="compatibility must be one of"):
        app.topic("shop.price-changed.v1", format="avro", compatibility="SOMETIMES")
    with pytest.raises(ConfigError, match="need subjects='topic-record'"):
        app.topic("shop.inventory.v1", format="avro", types=[PriceChanged, StockChanged])
    with pytest.raises(ConfigError, match="format must be one of"):
        AgentApp("decl", format="xml")  # type: ignore[arg-type]


def test_two_handlers_of_one_topic_must_take_different_record_types() -> None:
    agent = AgentApp("decl").agent("a")

    @agent.on("shop.inventory.v1")
    async def prices(event: PriceChanged, ctx: Context) -> None: ...

    @agent.on("shop.inventory.v1")
    async def stock(event: StockChanged, ctx: Context) -> None: ...

    with pytest.raises(ConfigError, match="must each take other pydantic models"):

        @agent.on("shop.inventory.v1")
        async def again(event: PriceChanged, ctx: Context) -> None: ...

    types = agent.record_types("shop.inventory.v1")
    assert types is not None and sorted(types) == ["PriceChanged", "StockChanged"]


def test_a_union_payload_takes_each_member_as_a_record_type() -> None:
    app = AgentApp("decl", format="avro")
    agent = app.agent("a")

    @agent.on("shop.inventory.v1")
    async def either(event: PriceChanged | StockChanged, ctx: Context) -> None: ...

    types = agent.record_types("shop.inventory.v1")
    assert types is not None and {n: m for n, (_, m) in types.items()} == {
        "PriceChanged": PriceChanged,
        "StockChanged": StockChanged,
    }
    # Undeclared, the topic takes the app's format, its handlers' models, and a subject per type.
    assert app.format_of("shop.inventory.v1") == TopicFormat(
        "shop.inventory.v1", "avro", (PriceChanged, StockChanged), "topic-record"
    )
    assert app.format_of("agent.dead-letter.v1").format == "json"


def test_a_models_schemas_name_its_record_and_close_json_objects() -> None:
    assert '"name":"PriceChanged"' in avro_schema(PriceChanged)
    assert '"additionalProperties":false' in json_schema(PriceChanged)
    assert '"title":"PriceChanged"' in json_schema(PriceChanged)


@pytest.mark.asyncio
async def test_a_producer_cannot_start_while_the_registry_does_not_answer() -> None:
    app = AgentApp("decl", format="avro", schema_registry_url=NOBODY)
    app.topic("shop.price-changed.v1", types=[PriceChanged])

    @app.agent("pricer", publishes=["shop.price-changed.v1"]).every(60)
    async def tick(ctx: Context) -> None: ...

    runner = AppRunner(app, MemoryTransport())
    with pytest.raises(
        SchemaRegistryUnavailable,
        match=r"127\.0\.0\.1:9/apis/ccompat/v7 did not answer \(config of shop\.price-changed\.v1-value\)",
    ):
        await runner.start()
    await runner.stop()


@pytest.mark.asyncio
async def test_a_registry_format_without_a_registry_says_how_to_get_one() -> None:
    app = AgentApp("decl", format="avro")
    app.topic("shop.price-changed.v1", types=[PriceChanged])

    @app.agent("pricer", publishes=["shop.price-changed.v1"]).every(60)
    async def tick(ctx: Context) -> None: ...

    runner = AppRunner(app, MemoryTransport())
    with pytest.raises(ConfigError, match="no schema registry is configured: start one with `agentflux up`"):
        await runner.start()
    await runner.stop()
