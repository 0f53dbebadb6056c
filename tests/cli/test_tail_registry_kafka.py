"""``agentflux tail`` decodes a record in the Confluent wire format through the registry and prints it as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from kafka_helpers import ROOT, create_topic, produce_raw
from pydantic import BaseModel

from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import TopicFormat

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


class Reading(BaseModel):
    machine_id: str
    timestamp: datetime
    vibration: float


def test_tail_shows_an_avro_record_as_json(kafka_bootstrap: str, schema_registry: str, unique: str) -> None:
    topic = f"test.reading-{unique}.v1"
    create_topic(kafka_bootstrap, topic)
    reading = Reading(machine_id="m-001", timestamp=datetime(2026, 3, 1, 12, 30, tzinfo=UTC), vibration=7.5)

    async def encode() -> bytes:
        payloads = Payloads(lambda t: TopicFormat(t, "avro", (Reading,)), Registry(schema_registry))
        try:
            return await payloads.encode(topic, reading)
        finally:
            await payloads.close()

    value = asyncio.run(encode())
    assert value[0] == 0
    produce_raw(kafka_bootstrap, topic, [(b"m-001", value, []), (b"m-002", b'{"plain": "json"}', [])])
    env = {**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "300"}
    env["AGENTFLUX_SCHEMA_REGISTRY_URL"] = schema_registry
    command = [sys.executable, "-m", "agentflux.cli.main", "tail", topic, "--from-beginning", "--limit", "2"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0][lines[0].index("{") :])
    assert first == {"machine_id": "m-001", "timestamp": "2026-03-01T12:30:00+00:00", "vibration": 7.5}
    assert lines[1].endswith('{"plain":"json"}')
