"""``job.test()``: the reference semantics both engines are held to (docs/streams.md)."""

from __future__ import annotations

from pydantic import BaseModel
from streams_fixture import BASE_MS, Reading, WindowResult, at, make_job, readings

from agentflux.streams import StreamJob, count, sum_, tumbling

SRC, SINK = "factory.sensor-reading.v1", "factory.vibration-window.v1"


def rel(rows: list[WindowResult]) -> list[tuple[str, float, float, int]]:
    return [
        (r.machine_id, (r.window_start - BASE_MS) / 1000, (r.window_end - BASE_MS) / 1000, r.readings) for r in rows
    ]


def test_fixture_stream_gives_the_documented_windows() -> None:
    evaluation = make_job("eq", SRC, SINK).evaluate(readings())
    assert rel(evaluation.outputs) == [  # type: ignore[arg-type]
        ("m1", -5, 5, 2),
        ("m1", 0, 10, 4),  # includes the late-inside-grace reading at 4.0
        ("m2", 0, 10, 3),  # includes the out-of-order 7.0
        ("m3", 0, 10, 2),  # the reading at 3.0 came past grace: not here
        ("m1", 5, 15, 2),
        ("m2", 5, 15, 4),
        ("m3", 5, 15, 2),
        ("m2", 10, 20, 3),  # includes 10.0, late for [5, 15) only
        ("m3", 10, 20, 2),
    ]
    m1 = evaluation.outputs[1]
    assert isinstance(m1, WindowResult)
    assert (m1.sum_v, m1.min_v, m1.max_v, m1.avg_v) == (72.0, 1.0, 60.0, 18.0)
    late = {(r.record.machine_id, (r.window[0] - BASE_MS) / 1000) for r in evaluation.late}  # type: ignore[attr-defined]
    assert late == {("m1", -5), ("m3", -5), ("m3", 0), ("m1", 0), ("m2", 5)}
    assert evaluation.filtered_out == 7


def test_boundaries_start_inclusive_end_exclusive() -> None:
    job = make_job("b", SRC, SINK)
    stream = [("k", 4.999, 1.0), ("k", 5.0, 2.0), ("k", 0.0, 100.0), ("k", 40.0, 0.0)]
    rows = job.evaluate([Reading(machine_id=m, ts=at(s), v=v) for m, s, v in stream]).rows
    windows = {((r["window_start"] - BASE_MS) / 1000, (r["window_end"] - BASE_MS) / 1000): r["sum_v"] for r in rows}
    assert windows == {(-5, 5): 101.0, (0, 10): 103.0}  # [5, 15) has one reading of 2.0: filtered out


def test_window_closes_when_watermark_reaches_its_end() -> None:
    job = make_job("w", SRC, SINK)
    # grace 2 s: [0, 10) closes once a reading at >= 12.0 is seen, not at 11.999
    first = [("k", 1.0, 1.0), ("k", 2.0, 1.0), ("k", 11.999, 1.0)]
    assert [r for r in job.test(readings(first)) if r.window_start == BASE_MS] == []
    closed = job.test(readings([*first, ("k", 12.0, 1.0)]))
    assert [(r.window_start - BASE_MS, r.readings) for r in closed if r.window_start == BASE_MS] == [(0, 2)]


def test_watermark_is_per_partition_not_per_key() -> None:
    job = make_job("p", SRC, SINK)
    # m2 pushes event time to 20 s; m1's reading at 3.0 is then past grace although m1 saw nothing newer
    stream = [("m1", 1.0, 1.0), ("m2", 20.0, 1.0), ("m1", 3.0, 1.0), ("m1", 60.0, 0.0)]
    evaluation = job.evaluate(readings(stream))
    assert {(r.record.machine_id, r.window[0] - BASE_MS) for r in evaluation.late} == {("m1", -5000), ("m1", 0)}
    # in a partition of its own, m1's reading is on time
    separate = job.evaluate(readings(stream), partition=lambda r: int(r.machine_id[1:]))
    assert separate.late == []
    assert [
        (r.machine_id, r.readings) for r in job.test(readings(stream), partition=lambda r: int(r.machine_id[1:]))
    ] == [
        ("m1", 2),
        ("m1", 2),
    ]


def test_flush_closes_every_open_window() -> None:
    job = make_job("f", SRC, SINK)
    stream = [("k", 1.0, 1.0), ("k", 2.0, 60.0)]
    assert job.test(readings(stream)) == []
    assert [(r.window_start - BASE_MS, r.readings) for r in job.test(readings(stream), flush=True)] == [
        (-5000, 2),
        (0, 2),
    ]


def test_invalid_records_are_dead_letters_and_change_nothing() -> None:
    job = make_job("d", SRC, SINK)
    good = readings([("k", 1.0, 1.0), ("k", 2.0, 2.0)])
    evaluation = job.evaluate([good[0], {"machine_id": "k", "ts": "yesterday", "v": 1}, good[1]], flush=True)
    assert len(evaluation.dead_letters) == 1 and "ts" in evaluation.dead_letters[0][1]
    assert [r.readings for r in evaluation.outputs] == [2, 2]  # type: ignore[attr-defined]


def test_tumbling_with_int_keys_and_epoch_millisecond_time() -> None:
    class Tick(BaseModel):
        sensor: int
        at_ms: int
        value: int

    class Total(BaseModel):
        sensor: int
        window_start: int
        n: int
        total: float
        label: str = "tick-total"

    job = (
        StreamJob("ticks")
        .source("plant.tick.v1", Tick, key="sensor", time="at_ms")
        .window(tumbling("1m"))
        .aggregate(n=count(), total=sum_("value"))
        .sink("plant.tick-total.v1", Total)
    )
    ticks = [
        {"sensor": s, "at_ms": t, "value": 1} for s, t in [(1, 0), (2, 30_000), (1, 59_999), (1, 60_000), (2, 200_000)]
    ]
    out = job.test(ticks)
    assert [(t.sensor, t.window_start, t.n, t.total, t.label) for t in out] == [
        (1, 0, 2, 2.0, "tick-total"),
        (2, 0, 1, 1.0, "tick-total"),
        (1, 60_000, 1, 1.0, "tick-total"),
    ]
    assert job.output_fields == ["sensor", "window_start", "n", "total"]
