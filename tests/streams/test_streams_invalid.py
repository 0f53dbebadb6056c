"""The words of a dead letter's ``dlq_error_message``, as the embedded engine derives them from pydantic.

The Flink engine writes the same words for the same records: the real-broker
test ``test_streams_flink_dead_letters.py`` compares the two engines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from streams_fixture import make_job

from agentflux.contract.errors import PayloadDecodeError
from agentflux.streams.decoding import PayloadDeserializer
from agentflux.streams.flink_checks import RFC3339, canonical_pattern, kinds
from agentflux.streams.invalid import describe, key_mismatch

TS = "2023-11-14T22:13:20Z"


class Tagged(BaseModel):
    machine_id: str
    ts: datetime
    tags: list[str]
    v: float


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"not json", "value is not valid JSON"),
        (b'{"machine_id": "m1", "ts": "\xff"}', "value is not valid JSON"),
        (b"[1, 2]", "value is not a JSON object"),
        (b"null", "value is not a JSON object"),
        (b'{"ts": "%s", "v": 1}' % TS.encode(), 'field "machine_id" is missing or null'),
        (b'{"machine_id": null, "ts": "%s", "v": 1}' % TS.encode(), 'field "machine_id" is missing or null'),
        (b'{"machine_id": 7, "ts": "%s", "v": 1}' % TS.encode(), 'field "machine_id" is not text'),
        (b'{"machine_id": "m1", "ts": "yesterday", "v": "high"}', 'field "ts" is not an RFC 3339 date and time'),
        (b'{"machine_id": "m1", "ts": "%s", "v": "high"}' % TS.encode(), 'field "v" is not a number'),
    ],
)
def test_embedded_messages_name_the_first_failing_field(value: bytes, message: str) -> None:
    decode = PayloadDeserializer(make_job("words", "factory.reading.v1", "agent.task-requests.x"), keep_raw=False)
    with pytest.raises(PayloadDecodeError) as caught:
        decode(value, None)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_key_messages_and_fields_outside_the_job() -> None:
    assert key_mismatch(b"other", "m1") == 'record key "other" is not its key field\'s value "m1"'
    assert key_mismatch(None, 42) == 'record has no key; its key field\'s value is "42"'
    job: Any = make_job("words", "factory.reading.v1", "agent.task-requests.x")
    assert list(kinds(job)) == ["machine_id", "ts", "v"]  # the model's order: the order pydantic reports
    assert canonical_pattern(job, with_key=True).startswith(r'^([^"\\\x01]*)\x01\{"machine_id":"\1","ts":"')
    assert RFC3339 in canonical_pattern(job, with_key=False)
    with pytest.raises(ValidationError) as caught:  # a field no job reads: only the embedded engine checks it
        Tagged.model_validate_json(b'{"machine_id": "m1", "ts": "%s", "tags": 3, "v": "x"}' % TS.encode())
    assert describe(caught.value, Tagged) == 'field "tags" is not valid: Input should be a valid array'
