"""Datetimes, dates and times through the registry: Avro writes them as logical types, JSON Schema as text."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel

from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import Format, TopicFormat

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


class Slot(BaseModel):
    starts: dt.datetime
    day: dt.date


class Reading(BaseModel):
    machine_id: str
    timestamp: dt.datetime
    at: dt.time
    slots: list[Slot]
    booked: Slot | None = None


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", ["avro", "json-schema"])
async def test_times_round_trip_also_nested(registry: Registry, fmt: Format, unique: str) -> None:
    topic = f"tm{unique}.reading.v1"
    codec = Payloads(lambda t: TopicFormat(t, fmt, (Reading,)), registry)
    at = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    slot = Slot(starts=at, day=at.date())
    reading = Reading(machine_id="m-001", timestamp=at, at=dt.time(8, 15), slots=[slot, slot], booked=slot)
    for _ in range(2):  # the first record through confluent-kafka's serializer, the next straight to fastavro
        value = await codec.encode(topic, reading)
        assert value[0] == 0
        assert await codec.decode(topic, value, Reading) == reading
