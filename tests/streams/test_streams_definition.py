"""The job definition: lazy builder, validation, windows and durations."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import BaseModel
from streams_fixture import Reading, WindowResult, make_job

from agentflux.contract.errors import ConfigError, TopicNameError
from agentflux.contract.topics import task_requests_topic
from agentflux.streams import StreamJob, avg, col, count, hopping, max_, tumbling
from agentflux.streams.windows import Window, to_ms

SRC, SINK = "factory.sensor-reading.v1", task_requests_topic("diagnose-machine")


def test_builder_returns_new_jobs_and_runs_nothing() -> None:
    base = StreamJob("vib")
    with_source = base.source(SRC, Reading, key="machine_id", time="ts")
    assert with_source.source_spec.topic == SRC
    with pytest.raises(ConfigError, match="has no source"):
        base.source_spec  # noqa: B018
    job = with_source.window(hopping("10s", "5s")).aggregate(n=count()).sink(SINK, WindowResult)
    assert job.columns == ["machine_id", "window_start", "window_end", "n"]
    assert job is not with_source


def test_complete_job_checks() -> None:
    job = make_job("vib", SRC, SINK)
    assert job.checked() is job
    assert job.output_fields == [
        "machine_id",
        "window_start",
        "window_end",
        "readings",
        "avg_v",
        "min_v",
        "max_v",
        "sum_v",
    ]
    assert job.aggregated_fields == ["v"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: StreamJob("Bad_Name"), "job name"),
        (lambda: StreamJob("x").source("nope", Reading, key="machine_id", time="ts"), "invalid topic"),
        (lambda: StreamJob("x").source(SRC, Reading, key="serial", time="ts"), "not a field"),
        (lambda: StreamJob("x").source(SRC, Reading, key="v", time="ts"), "must be str or int"),
        (lambda: StreamJob("x").source(SRC, Reading, key="machine_id", time="v"), "datetime or int"),
        (lambda: StreamJob("x").aggregate(start=count()), "reserved"),
        (lambda: StreamJob("x").aggregate(n=len), "expected avg()"),  # type: ignore[arg-type]
        (lambda: StreamJob("x").filter(lambda r: True), "expression"),  # type: ignore[arg-type]
        (lambda: StreamJob("x").checked(), "no source, window, aggregate, sink"),
    ],
)
def test_bad_definitions_fail_fast(build: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()  # type: ignore[operator]


def test_consistency_checks() -> None:
    base = StreamJob("x").source(SRC, Reading, key="machine_id", time="ts").window(tumbling("1m"))

    class Text(BaseModel):
        machine_id: str
        ts: datetime
        v: float
        note: str

    with pytest.raises(ConfigError, match="must be int or float"):
        StreamJob("x").source(SRC, Text, key="machine_id", time="ts").window(tumbling("1m")).aggregate(
            n=avg("note")
        ).sink(SINK, WindowResult).checked()
    with pytest.raises(ConfigError, match="not aggregates"):
        base.aggregate(n=count()).filter(col("avg_x") > 1).sink(SINK, WindowResult).checked()
    with pytest.raises(ConfigError, match="requires field 'readings'"):
        base.aggregate(n=count()).sink(SINK, WindowResult).checked()
    with pytest.raises(TopicNameError):
        base.sink("agent.whatever", WindowResult)


def test_filters_combine_and_refuse_python_booleans() -> None:
    f = (col("a") > 1) & ~(col("b") <= 2.5) | (col("k") == "m1")
    assert f.evaluate({"a": 2, "b": 3.0, "k": "x"})
    assert not f.evaluate({"a": 2, "b": 1.0, "k": "x"})
    assert f.evaluate({"a": 0, "b": 1.0, "k": "m1"})
    assert f.columns() == {"a", "b", "k"}
    with pytest.raises(TypeError, match="combine filters"):
        bool(col("a") > 1)
    with pytest.raises(ConfigError, match="compare with a number"):
        col("a") > None  # type: ignore[operator]  # noqa: B015
    job = make_job("x", SRC, SINK).filter(col("readings") < 100)
    assert job.keeps({"readings": 5, "max_v": 1.0}) is True


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (timedelta(minutes=10), 600_000),
        (250, 250),
        ("10m", 600_000),
        ("30s", 30_000),
        ("250ms", 250),
        ("1h", 3_600_000),
    ],
)
def test_durations(value: timedelta | int | str, ms: int) -> None:
    assert to_ms(value) == ms


@pytest.mark.parametrize("bad", ["ten minutes", -1, timedelta(microseconds=5), True, 1.5])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ConfigError):
        to_ms(bad)  # type: ignore[arg-type]


def test_windows_align_to_the_epoch_with_exclusive_ends() -> None:
    w = hopping("10s", "5s")
    assert w.ranges(1_700_000_004_999) == [
        (1_699_999_995_000, 1_700_000_005_000),
        (1_700_000_000_000, 1_700_000_010_000),
    ]
    assert w.ranges(1_700_000_005_000) == [
        (1_700_000_000_000, 1_700_000_010_000),
        (1_700_000_005_000, 1_700_000_015_000),
    ]
    assert tumbling("1m").ranges(125_000) == [(120_000, 180_000)]
    assert hopping(10, 5).ranges(3) == [(0, 10)]  # no window starts before the epoch
    assert tumbling(60_000).tumbling and not hopping(10, 5).tumbling


@pytest.mark.parametrize(
    ("size", "slide", "message"), [(10, 3, "whole multiple"), (5, 10, "must not exceed"), (0, 0, "positive")]
)
def test_bad_windows(size: int, slide: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Window(size, slide)


def test_public_surface() -> None:
    import agentflux.streams as streams

    assert streams.__all__ == sorted(streams.__all__)
    assert all(hasattr(streams, name) for name in streams.__all__)
    assert max_("v").function == "max"
