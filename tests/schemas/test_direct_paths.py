"""Avro and JSON Schema without the library's per-record work: the same bytes, values and errors as its serializers.

Once confluent-kafka's serializer would only call fastavro (Avro) or orjson
(JSON Schema, not validated), ``Payloads`` does that work itself (see
``agentflux/contract/payloads.py``). These tests compare it, record by record,
with the library's serializer and deserializer on the same registry and
subject. No Kafka.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.schema_registry._async.avro import AsyncAvroDeserializer, AsyncAvroSerializer
from confluent_kafka.schema_registry._async.json_schema import AsyncJSONDeserializer, AsyncJSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pydantic import BaseModel
from schemas.models import PriceChanged, PriceChangedV2, seed_price

from agentflux.contract.errors import PayloadDecodeError
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import Format, TopicFormat, schema_text

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


def avro(registry: Registry, model: type, fmt: Format = "avro") -> Payloads:
    types = (model,) if issubclass(model, BaseModel) else ()
    return Payloads(lambda topic: TopicFormat(topic, fmt, types), registry)


def generated(*paths: Any) -> bool:
    """True when one of ``paths`` is a reader or writer that ``avro_flat`` generated."""
    return any(getattr(path, "__code__", None) and path.__code__.co_filename.startswith("<avro") for path in paths)


def context(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


@pytest.mark.asyncio
async def test_every_record_is_the_bytes_the_librarys_serializer_writes(registry: Registry, unique: str) -> None:
    topic = f"sc{unique}.price-changed.v1"
    codec = avro(registry, PriceChanged)
    ours = [await codec.encode(topic, seed_price(n)) for n in range(5)]
    assert codec._writers, "records after the first went through the direct path"
    assert generated(*codec._writers.values()), "a flat record of a plain model has a generated writer (avro_flat)"
    conf = {"auto.register.schemas": True, "subject.name.strategy": lambda ctx, name: f"{topic}-value"}
    theirs = await AsyncAvroSerializer(
        registry.client, schema_text("avro", PriceChanged), lambda obj, ctx: obj.model_dump(mode="json"), conf
    )
    assert ours == [await theirs(seed_price(n), context(topic)) for n in range(5)]


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["avro", "json-schema"])
@pytest.mark.parametrize("reader", [PriceChanged, PriceChangedV2, dict])
async def test_every_record_reads_as_the_librarys_deserializer_reads_it(
    registry: Registry, unique: str, reader: type, fmt: Format
) -> None:
    topic = f"sc{unique}.price-changed.v1"
    written = [await avro(registry, PriceChanged, fmt).encode(topic, seed_price(n)) for n in range(3)]
    v2 = PriceChangedV2(**seed_price(9).model_dump(), currency="USD")
    written.append(await avro(registry, PriceChangedV2, fmt).encode(topic, v2))
    codec = avro(registry, reader, fmt)
    ours = [await codec.decode(topic, value, reader) for value in written * 2]
    assert codec._readers, "records after the first of each schema went through the direct path"
    if reader is PriceChanged and fmt == "avro":  # its own schema wrote the first 3: a generated reader (avro_flat)
        assert generated(*codec._readers.values())
    from_dict: Any = None if reader is dict else (lambda data, ctx: reader.model_validate(data))
    schema = None if reader is dict else schema_text(fmt, reader)
    if fmt == "avro":
        theirs = await AsyncAvroDeserializer(registry.client, schema, from_dict)
    else:
        theirs = await AsyncJSONDeserializer(schema, from_dict, registry.client, {"validate": False})
    assert ours == [await theirs(value, context(topic)) for value in written * 2]


@pytest.mark.asyncio
async def test_bad_bytes_after_the_first_record_give_the_first_records_reason(registry: Registry, unique: str) -> None:
    topic = f"sc{unique}.price-changed.v1"
    good = await avro(registry, PriceChanged).encode(topic, seed_price())
    bad = [good[:5] + b"\xff\xfe", good[:5] + good[5:9], good[:5] + b"\x02\xff"]

    async def reason(codec: Payloads, value: bytes) -> str:
        with pytest.raises(PayloadDecodeError) as raised:
            await codec.decode(topic, value, PriceChanged)
        return str(raised.value)

    warm = avro(registry, PriceChanged)
    assert await warm.decode(topic, good, PriceChanged) == seed_price()
    assert warm._readers
    for value in bad:
        assert await reason(warm, value) == await reason(avro(registry, PriceChanged), value)


@pytest.mark.asyncio
async def test_every_json_schema_record_is_the_bytes_the_librarys_serializer_writes(
    registry: Registry, unique: str
) -> None:
    topic = f"sc{unique}.price-changed.v1"
    codec = avro(registry, PriceChanged, "json-schema")
    models = [seed_price(n).model_copy(update={"new_price": n * 1.1 + 1e-7, "old_price": 10.0**n}) for n in range(25)]
    ours = [await codec.encode(topic, model) for model in models]
    assert codec._writers, "records after the first went through the direct path"
    conf = {"auto.register.schemas": True, "validate": False}
    conf["subject.name.strategy"] = lambda ctx, name: f"{topic}-value"
    theirs = await AsyncJSONSerializer(
        schema_text("json-schema", PriceChanged), registry.client, lambda obj, ctx: obj.model_dump(mode="json"), conf
    )
    assert ours == [await theirs(model, context(topic)) for model in models]
