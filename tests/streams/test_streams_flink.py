"""The Flink engine on a real broker, and the same answers from both engines.

One PyFlink TableEnvironment (one mini-cluster) serves the session: ``flink_engine``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import streams_fixture
import ticks_fixture
from streams_support import assert_same_results, collect, create_kept_topic, produce, stop, streams_run

from agentflux.streams.results import result_headers

pytestmark = [pytest.mark.kafka, pytest.mark.flink]


@pytest.mark.timeout(180)
def test_fixture_stream_gives_the_same_answers_on_both_engines(
    kafka_bootstrap: str, unique: str, flink_engine: Any, tmp_path: Path
) -> None:
    """Out-of-order and late records, several keys, window boundaries: one partition, both engines, one answer."""
    source = f"factory.reading-{unique}.v1"
    create_kept_topic(kafka_bootstrap, source, partitions=1)
    records = streams_fixture.encoded()
    records.insert(5, (b"m1", b"not json"))  # both engines dead-letter it (test_streams_flink_dead_letters.py)
    produce(kafka_bootstrap, source, records)
    name = f"both-{unique}"
    embedded_sink, flink_sink = f"agent.task-requests.embedded-{unique}", f"agent.task-requests.flink-{unique}"
    for sink in (embedded_sink, flink_sink):
        create_kept_topic(kafka_bootstrap, sink)  # results carry 2023 event times: see create_kept_topic
    expected = streams_fixture.make_job(name, source, flink_sink).evaluate(streams_fixture.readings()).rows

    run = flink_engine.start(streams_fixture.make_job(name, source, flink_sink))
    env = {"STREAMS_FIXTURE_SOURCE": source, "STREAMS_FIXTURE_SINK": embedded_sink, "STREAMS_FIXTURE_NAME": name}
    try:
        with streams_run("streams_fixture:job", kafka_bootstrap, env, "--state-dir", str(tmp_path)) as proc:
            embedded = collect(kafka_bootstrap, embedded_sink, len(expected), timeout=60)
            assert stop(proc) == 0
        flink = collect(kafka_bootstrap, flink_sink, len(expected), timeout=90)
    finally:
        run.cancel()

    assert_same_results([r["value"] for r in flink], expected)
    assert_same_results([r["value"] for r in embedded], [r["value"] for r in flink])
    for record in flink:  # the same envelope as the embedded engine writes, on the same key
        v = record["value"]
        assert record["key"] == v["machine_id"].encode()
        assert record["headers"] == dict(
            result_headers(name, flink_sink, v["machine_id"], v["window_start"], v["window_end"])
        )
    ce_ids = lambda rs: sorted(r["headers"]["ce_id"] for r in rs)  # noqa: E731
    assert ce_ids(embedded) == ce_ids(flink)  # ids derive from job, key and window, not the sink or engine


@pytest.mark.timeout(240)
def test_cli_runs_tumbling_windows_on_both_engines_over_three_partitions(
    kafka_bootstrap: str, unique: str, tmp_path: Path, flink_jars: list[Path]
) -> None:
    """``agentflux streams run --engine flink``, int keys, epoch-ms time. (``flink_jars``: skip without PyFlink.)"""
    source = f"plant.tick-{unique}.v1"
    create_kept_topic(kafka_bootstrap, source, partitions=3)
    produce(kafka_bootstrap, source, ticks_fixture.encoded())
    name = f"ticks-{unique}"
    sinks = {engine: f"plant.tick-total-{engine}-{unique}.v1" for engine in ("embedded", "flink")}
    for sink in sinks.values():
        create_kept_topic(kafka_bootstrap, sink)
    job = ticks_fixture.make_job(name, source, sinks["flink"])
    expected = job.evaluate(ticks_fixture.ticks(), partition=ticks_fixture.partition).rows
    assert len(expected) == 7

    results: dict[str, list[dict[str, Any]]] = {}
    for engine, sink in sinks.items():
        env = {"TICKS_SOURCE": source, "TICKS_SINK": sink, "TICKS_NAME": name}
        args = ["--engine", engine, "--state-dir", str(tmp_path / engine)]
        with streams_run("ticks_fixture:job", kafka_bootstrap, env, *args) as proc:
            results[engine] = collect(kafka_bootstrap, sink, len(expected), timeout=120)
            assert stop(proc, timeout=60) == 0  # SIGTERM cancels the Flink job and exits cleanly

    for got in results.values():
        assert_same_results([r["value"] for r in got], expected, key_field="sensor")
        assert all(r["key"] == str(r["value"]["sensor"]).encode() for r in got)
