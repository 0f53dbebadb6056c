"""A Flink job that starts behind a backlog on several partitions computes every window.

With an idle timeout, a partition the source has not read from for that long
(wall time) drops out of the watermark while the reader works through the
others' backlog; the watermark runs ahead on them and the partition's records
come late. The default is no idle timeout, which loses nothing here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from streams_support import assert_same_results, collect, create_kept_topic, produce

from agentflux.streams import StreamJob, count, sum_, tumbling

pytestmark = [pytest.mark.kafka, pytest.mark.flink]
BASE_MS = 1_700_000_000_000
PARTITIONS, PER_PARTITION, STEP_MS = 6, 40_000, 5  # 200 s of event time per partition: 1,200 windows
PAD = "x" * 200  # a field the job does not read: fewer records per fetch, as real readings have more fields


class Beat(BaseModel):
    sensor: int
    at_ms: int
    value: float
    note: str = ""


class BeatTotal(BaseModel):
    sensor: int
    window_start: int
    window_end: int
    n: int
    total: float


def make_job(name: str, source: str, sink: str) -> StreamJob[BeatTotal]:
    return (
        StreamJob(name)
        .source(source, Beat, key="sensor", time="at_ms")
        .window(tumbling("1s"))
        .aggregate(n=count(), total=sum_("value"))
        .sink(sink, BeatTotal)
    )


def backlog() -> list[Beat]:
    """Sensor ``p`` on partition ``p``, in time order, then one far-future beat each that closes the rest."""
    beats = [
        Beat(sensor=p, at_ms=BASE_MS + i * STEP_MS, value=float(i % 7), note=PAD)
        for p in range(PARTITIONS)
        for i in range(PER_PARTITION)
    ]
    return beats + [Beat(sensor=p, at_ms=BASE_MS + 10_000_000, value=0.0) for p in range(PARTITIONS)]


@pytest.mark.timeout(300)
def test_a_job_started_behind_a_backlog_on_six_partitions_emits_every_window(
    kafka_bootstrap: str, unique: str, flink_engine: Any
) -> None:
    source, sink = f"plant.beat-{unique}.v1", f"plant.beat-total-{unique}.v1"
    create_kept_topic(kafka_bootstrap, source, partitions=PARTITIONS)
    create_kept_topic(kafka_bootstrap, sink)
    beats = backlog()
    produce(kafka_bootstrap, source, [(str(b.sensor).encode(), json.dumps(b.model_dump()).encode(), b.sensor)
                                      for b in beats])  # fmt: skip
    job = make_job(f"backlog-{unique}", source, sink)
    expected = job.evaluate(beats, partition=lambda b: b.sensor).rows
    assert len(expected) == PARTITIONS * PER_PARTITION * STEP_MS // 1000

    assert flink_engine.settings.idle_timeout_ms is None  # the default: no partition ever counts as idle
    run = flink_engine.start(job)
    try:
        got = collect(kafka_bootstrap, sink, len(expected), timeout=240, settle=3)
    finally:
        run.cancel()
    assert_same_results([r["value"] for r in got], expected, key_field="sensor")
