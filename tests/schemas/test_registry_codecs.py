"""Payloads through a real schema registry (Apicurio, ccompat API): round trips, versions, bad bytes, compatibility.

No Kafka here: these are the codec's and the registry's halves. The Kafka
halves (agents, dead letters, a registry restarted mid-stream) are in
``test_schemas_kafka.py``. Every test uses subjects of its own topic names.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import create_model
from schemas.models import PriceChanged, PriceChangedBroken, PriceChangedV2, StockChanged, seed_price

from agentflux.contract import compat
from agentflux.contract.errors import ConfigError, PayloadDecodeError, SchemaRegistryUnavailable
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import Format, TopicFormat

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]
FORMATS: list[Format] = ["avro", "json-schema"]


def payloads(registry: Registry, fmt: Format, *types: type, subjects: str = "topic") -> Payloads:
    return Payloads(lambda topic: TopicFormat(topic, fmt, types, subjects), registry)  # type: ignore[arg-type]


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_payload_round_trips_in_the_confluent_wire_format(registry: Registry, fmt: Format, unique: str) -> None:
    topic = f"sc{unique}.price-changed.v1"
    codec = payloads(registry, fmt, PriceChanged)
    value = await codec.encode(topic, seed_price())
    assert value[0] == 0
    (schema_id,) = struct.unpack(">I", value[1:5])
    latest = await registry.latest(f"{topic}-value")
    assert latest is not None and latest.schema_id == schema_id and latest.version == 1
    assert await registry.compatibility(f"{topic}-value") == "BACKWARD"
    assert await codec.decode(topic, value, PriceChanged) == seed_price()
    # A dict validated by the topic's one declared model is written the same way.
    assert await codec.decode(topic, await codec.encode(topic, seed_price().model_dump()), PriceChanged) == seed_price()


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", FORMATS)
async def test_v1_and_v2_producers_and_consumers_read_each_other(registry: Registry, fmt: Format, unique: str) -> None:
    topic = f"sc{unique}.price-changed.v1"
    v1, v2 = payloads(registry, fmt, PriceChanged), payloads(registry, fmt, PriceChangedV2)
    written_by_v1 = await v1.encode(topic, seed_price())
    written_by_v2 = await v2.encode(topic, PriceChangedV2(**seed_price(2).model_dump(), currency="USD"))
    assert await registry.versions(f"{topic}-value") == [1, 2]
    # v2 reads v1's record: the new field takes its default.
    assert (await v2.decode(topic, written_by_v1, PriceChangedV2)).currency == "EUR"
    # v1 reads v2's record: the field it does not know is dropped.
    assert await v1.decode(topic, written_by_v2, PriceChanged) == seed_price(2)


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_incompatible_change_is_named_field_by_field(registry: Registry, fmt: Format, unique: str) -> None:
    topic = f"sc{unique}.price-changed.v1"
    await payloads(registry, fmt, PriceChanged).encode(topic, seed_price())
    declared = TopicFormat(topic, fmt, (PriceChangedBroken,))
    verdict = await compat.check(registry, declared, PriceChangedBroken)
    assert verdict.outcome == "incompatible" and verdict.rule == "BACKWARD" and verdict.against == 1
    message = verdict.message()
    assert f"{topic}: PriceChanged breaks BACKWARD compatibility with {topic}-value version 1" in message
    assert "field 'currency' was added without a default" in message
    assert "field 'new_price' changed type" in message
    # The producer that tries anyway is refused by the registry, and nothing is registered.
    with pytest.raises(ConfigError, match="409"):
        await payloads(registry, fmt, PriceChangedBroken).encode(topic, PriceChangedBroken.model_construct())
    assert await registry.versions(f"{topic}-value") == [1]
    ok = await compat.check(registry, TopicFormat(topic, fmt, (PriceChangedV2,)), PriceChangedV2)
    assert ok.outcome == "compatible"


@pytest.mark.asyncio
async def test_two_record_types_share_a_topic_under_their_own_subjects(registry: Registry, unique: str) -> None:
    topic = f"sc{unique}.inventory.v1"
    codec = payloads(registry, "avro", PriceChanged, StockChanged, subjects="topic-record")
    price = await codec.encode(topic, seed_price())
    stock = await codec.encode(topic, StockChanged(product_id="p", units=3))
    assert sorted(s for s in await registry.subjects() if s.startswith(topic)) == [
        f"{topic}-PriceChanged",
        f"{topic}-StockChanged",
    ]
    assert await codec.writer_type(topic, price) == "PriceChanged"
    assert await codec.writer_type(topic, stock) == "StockChanged"
    assert await codec.decode(topic, stock, StockChanged) == StockChanged(product_id="p", units=3)


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", FORMATS)
async def test_bad_bytes_get_a_precise_reason(registry: Registry, fmt: Format, unique: str) -> None:
    topic = f"sc{unique}.price-changed.v1"
    codec = payloads(registry, fmt, PriceChanged)
    good = await codec.encode(topic, seed_price())
    cases = {
        b"\x07garbage": "wrong magic byte 0x07",
        b"\x00\x7f\xff\xff\xf0" + good[5:]: "unknown schema id 2147483632",
        good[:5] + b"\xff\xfe": "does not match its schema" if fmt == "avro" else "value is not valid JSON",
        b"\x00\x00\x00": "too short for the Confluent wire format",
    }
    for value, reason in cases.items():
        with pytest.raises(PayloadDecodeError, match=reason):
            await codec.decode(topic, value, PriceChanged)


@pytest.mark.asyncio
async def test_plain_json_on_a_topic_that_moved_to_avro_is_still_read(registry: Registry, unique: str) -> None:
    topic = f"sc{unique}.price-changed.v1"
    codec = payloads(registry, "avro", PriceChanged)
    assert await codec.decode(topic, seed_price().model_dump_json().encode(), PriceChanged) == seed_price()


@pytest.mark.asyncio
async def test_a_registry_that_does_not_answer_is_transient_and_says_where(unique: str) -> None:
    gone = Registry("http://127.0.0.1:9/apis/ccompat/v7")  # port 9 (discard): nothing listens
    try:
        codec = payloads(gone, "avro", PriceChanged)
        with pytest.raises(SchemaRegistryUnavailable, match=r"127\.0\.0\.1:9") as raised:
            await codec.decode(f"sc{unique}.price-changed.v1", b"\x00\x00\x00\x00\x01\x02", PriceChanged)
        assert raised.value.transient is True
    finally:
        await gone.close()


def test_schema_check_is_a_ci_gate_naming_topic_field_and_rule(
    schema_registry: str, unique: str, tmp_path: Path
) -> None:
    topic = f"sc{unique}.price-changed.v1"
    app_file = tmp_path / f"schema_app_{unique}.py"
    app_file.write_text(
        "from agentflux import AgentApp\n"
        "from schemas.models import PriceChanged, PriceChangedBroken, PriceChangedV2\n"
        "import os\n"
        "model = {'v1': PriceChanged, 'v2': PriceChangedV2, 'broken': PriceChangedBroken}[os.environ['MODEL']]\n"
        f"app = AgentApp('sc{unique}')\n"
        f"app.topic('{topic}', format='avro', types=[model])\n"
    )

    def cli(model: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"MODEL": model, "PYTHONPATH": f"{tmp_path}:tests", "AGENTFLUX_SCHEMA_REGISTRY_URL": schema_registry}
        return subprocess.run(
            [sys.executable, "-m", "agentflux.cli.main", "schema", *args, f"{app_file.stem}:app"],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
        )  # fmt: skip

    first = cli("v1", "check")
    assert first.returncode == 0, first.stderr
    assert f"{topic}: PriceChanged is new under subject {topic}-value" in first.stdout
    assert cli("v1", "register").returncode == 0
    assert cli("v2", "check").returncode == 0
    broken = cli("broken", "check")
    assert broken.returncode == 1
    assert "field 'currency' was added without a default" in broken.stdout + broken.stderr
    assert "BACKWARD" in broken.stderr and topic in broken.stderr
    diff = cli("v2", "diff")
    assert diff.returncode == 0 and "+ currency: string" in diff.stdout, diff.stdout + diff.stderr


@pytest.mark.asyncio
async def test_the_record_strategy_names_subjects_after_the_record_alone(registry: Registry, unique: str) -> None:
    named = create_model(f"Sale{unique}", product_id=(str, ...), units=(int, ...))
    first, second = f"sc{unique}.sales-eu.v1", f"sc{unique}.sales-us.v1"
    codec = payloads(registry, "avro", named, StockChanged, subjects="record")
    for topic in (first, second):  # one subject for the record, whichever topic carries it
        value = await codec.encode(topic, named(product_id="p", units=2))
        assert await codec.decode(topic, value, named) == named(product_id="p", units=2)
    assert await registry.versions(f"Sale{unique}") == [1]
