"""``correlate_from_body``: a body's correlation id for a record that came without one in its headers."""

import logging

import pytest

from agentflux.contract.envelope import Envelope
from agentflux.runtime.processing import correlate_from_body
from agentflux.transport.base import Record

TOPIC = "shop.order-placed.v1"


def record(offset: int, headers: list[tuple[str, bytes | None]] | None = None) -> Record:
    return Record(TOPIC, 0, offset, None, b"{}", headers or [], 0)


def correlate(rec: Record, payload: object, noted: set[str] | None = None) -> Envelope:
    envelope = Envelope.from_headers(rec.headers, fallback_id=rec.ref, topic=rec.topic)
    return correlate_from_body(envelope, payload, rec, noted)


def test_the_body_names_the_correlation_id_only_when_no_header_does() -> None:
    foreign = correlate(record(0), {"correlation_id": "req-1"})
    assert (foreign.id, foreign.correlation_id) == (f"kafka:{TOPIC}/0/0", "req-1")
    headed = correlate(record(1, [("ce_correlationid", b"edge-1")]), {"correlation_id": "req-1"})
    assert headed.correlation_id == "edge-1"
    assert correlate(record(2), {"order": 1}).correlation_id == f"kafka:{TOPIC}/0/2"
    assert correlate(record(3), {"correlation_id": "bad\nid"}).correlation_id == f"kafka:{TOPIC}/0/3"


def test_it_is_said_at_info_once_per_topic(caplog: pytest.LogCaptureFixture) -> None:
    noted: set[str] = set()
    with caplog.at_level(logging.INFO, logger="agentflux.runtime"):
        for offset in range(3):
            correlate(record(offset), {"correlation_id": f"req-{offset}"}, noted)
        correlate(record(3), {"correlation_id": "\x1b[2J"}, noted)  # not echoed into the log
    [said] = [r for r in caplog.records if r.levelno == logging.INFO]
    assert said.getMessage() == f"record {TOPIC}/0/0: took correlation_id=req-0 from its body (said once per topic)"
    assert "\x1b" not in caplog.text


def test_an_unusable_one_is_described_not_echoed(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agentflux.runtime"):
        correlate(record(0), {"correlation_id": "x" * 5000})
        correlate(record(1), {"correlation_id": 42})
    assert [r.getMessage().split(" is not")[0] for r in caplog.records] == [
        f"record {TOPIC}/0/0: the correlation_id in its body (a string of 5000 characters)",
        f"record {TOPIC}/0/1: the correlation_id in its body (of type int)",
    ]
