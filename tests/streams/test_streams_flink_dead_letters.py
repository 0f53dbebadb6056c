"""Bad input on both engines: Flink writes the dead letters the embedded engine writes, and the same windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bad_records import BAD, readings_kept, stream
from kafka_helpers import produce_raw
from streams_fixture import make_job
from streams_support import assert_same_results, collect, create_kept_topic, stop, streams_run

from agentflux.contract.topics import DEAD_LETTER_TOPIC

pytestmark = [pytest.mark.kafka, pytest.mark.flink]
IGNORED = {"dlq_group", "dlq_failed_at"}  # the one header that names the engine, and a time


def _by_offset(letters: list[dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
    return {r["headers"]["dlq_source_offset"]: r for r in letters}


@pytest.mark.timeout(240)
def test_flink_dead_letters_each_bad_record_as_the_embedded_engine_does(
    kafka_bootstrap: str, unique: str, flink_engine: Any, tmp_path: Path
) -> None:
    source = f"factory.reading-{unique}.v1"
    create_kept_topic(kafka_bootstrap, source, partitions=1)
    records = stream()
    produce_raw(kafka_bootstrap, source, records)
    bad_offsets = {str(i).encode(): r for i, r in enumerate(records) if any(k == "case" for k, _ in r[2])}
    assert len(bad_offsets) == len(BAD)
    name = f"dlq-{unique}"
    sinks = {engine: f"agent.task-requests.{engine}-{unique}" for engine in ("embedded", "flink")}
    for sink in sinks.values():
        create_kept_topic(kafka_bootstrap, sink)
    expected = make_job(name, source, sinks["flink"]).evaluate(readings_kept(records)).rows
    groups = {"embedded": f"agentflux.streams.{name}".encode(), "flink": f"agentflux.streams.{name}.flink".encode()}

    run = flink_engine.start(make_job(name, source, sinks["flink"]))
    env = {"STREAMS_FIXTURE_SOURCE": source, "STREAMS_FIXTURE_SINK": sinks["embedded"], "STREAMS_FIXTURE_NAME": name}
    try:
        with streams_run("streams_fixture:job", kafka_bootstrap, env, "--state-dir", str(tmp_path)) as proc:
            embedded = collect(kafka_bootstrap, sinks["embedded"], len(expected), timeout=60)
            assert stop(proc) == 0
        flink = collect(kafka_bootstrap, sinks["flink"], len(expected), timeout=90)
        letters = collect(
            kafka_bootstrap, DEAD_LETTER_TOPIC, 2 * len(BAD), timeout=90, settle=5, parse=False,
            match=lambda r: r["headers"].get("dlq_source_topic") == source.encode(),
        )  # fmt: skip
    finally:
        run.cancel()

    assert_same_results([r["value"] for r in flink], expected)  # the bad records changed no window
    assert_same_results([r["value"] for r in embedded], expected)
    written = {engine: [r for r in letters if r["headers"]["dlq_group"] == group] for engine, group in groups.items()}
    assert len(written["flink"]) == len(written["embedded"]) == len(BAD)  # each bad record once, no other
    flink_letters, embedded_letters = _by_offset(written["flink"]), _by_offset(written["embedded"])
    assert set(flink_letters) == set(embedded_letters) == set(bad_offsets)
    now = datetime.now(UTC)
    for offset, (key, value, headers) in bad_offsets.items():
        got, want = flink_letters[offset], embedded_letters[offset]
        assert (got["key"], got["value"]) == (want["key"], want["value"]) == (key, value)  # the record, unchanged
        for header in sorted(set(got["headers"]) | set(want["headers"])):
            if header not in IGNORED:
                assert got["headers"].get(header) == want["headers"].get(header), (offset, header)
        case = BAD[int(dict(headers)["case"])]
        assert got["headers"]["case"] == dict(headers)["case"]  # the original headers are kept
        assert (got["headers"]["dlq_error_type"].decode(), got["headers"]["dlq_error_message"].decode()) == case[3:]
        assert got["headers"]["dlq_agent"] == name.encode() and got["headers"]["dlq_attempts"] == b"1"
        failed_at = datetime.fromisoformat(got["headers"]["dlq_failed_at"].decode().replace("Z", "+00:00"))
        assert got["headers"]["dlq_failed_at"].endswith(b"Z") and abs(now - failed_at) < timedelta(minutes=5)
