"""``agentflux run --log-format json`` on the real broker: every line JSON, each carrying the handled record's ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka_helpers import cli_processes, create_topic, log_of, produce_raw, wait_until

from agentflux.contract.envelope import Envelope

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def test_lines_about_a_record_carry_its_correlation_and_trace_ids(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    topic = f"logs.noisy-{unique}.v1"
    create_topic(kafka_bootstrap, topic)
    edge = Envelope.new(source="test", type="logs.noisy", correlation_id=f"order-{unique}")
    produce_raw(kafka_bootstrap, topic, [(b"k", b'{"n": 7}', edge.to_headers())])
    env = {"AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap, "T_APP": f"logs-{unique}", "T_TOPIC": topic}
    with cli_processes(tmp_path) as start:
        start("noisy", env, "run", "tests/cli/apps/noisy.py:app", "--log-format", "json", "--log-level", "info")
        wait_until(lambda: log_of(tmp_path, "noisy").count("handling 7") == 2, 60, "both attempts logged")
    text = log_of(tmp_path, "noisy")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    assert edge.traceparent is not None
    trace_id = edge.traceparent.split("-")[1]
    about = [line for line in lines if "handling 7" in line["message"] or "attempt 1 failed" in line["message"]]
    assert [line["logger"] for line in about] == ["noisy", "agentflux.runtime", "noisy"]
    assert {(line["correlation_id"], line["trace_id"]) for line in about} == {(edge.correlation_id, trace_id)}
    started = [line for line in lines if line["correlation_id"] is None]
    assert started, "lines written outside a handler carry no ids"
