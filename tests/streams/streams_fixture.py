"""The fixture stream both engines are held to, and a job over it.

``job`` (for ``agentflux streams run streams_fixture:job``) takes its topics
and name from the environment, so every test can give it its own.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from agentflux.streams import StreamJob, avg, col, count, hopping, max_, min_, sum_
from agentflux.streams.definition import SourceFormat

BASE_MS = 1_700_000_000_000  # a multiple of the 5 s slide: windows start at BASE + k * 5 s
SIZE_MS, SLIDE_MS, GRACE_MS = 10_000, 5_000, 2_000


class Reading(BaseModel):
    machine_id: str
    ts: datetime
    v: float


class WindowResult(BaseModel):
    machine_id: str
    window_start: int
    window_end: int
    readings: int
    avg_v: float
    min_v: float
    max_v: float
    sum_v: float


def make_job(
    name: str, source: str, sink: str, *, rekey: bool = False, format: SourceFormat = "json"
) -> StreamJob[WindowResult]:
    return (
        StreamJob(name)
        .source(source, Reading, key="machine_id", time="ts", rekey=rekey, format=format)
        .window(hopping(SIZE_MS, SLIDE_MS, grace=GRACE_MS))
        .aggregate(readings=count(), avg_v=avg("v"), min_v=min_("v"), max_v=max_("v"), sum_v=sum_("v"))
        .filter((col("readings") >= 2) | (col("max_v") > 50.0))
        .sink(sink, WindowResult)
    )


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(BASE_MS / 1000, UTC) + timedelta(seconds=seconds)


# (machine, seconds after BASE, value) in arrival order; comments give the watermark (max time - grace) after it.
STREAM: list[tuple[str, float, float]] = [
    ("m1", 0.0, 1.0),
    ("m2", 0.5, 2.0),
    ("m3", 1.0, 3.0),
    ("m1", 4.999, 4.0),  # last millisecond of [-5, 5)
    ("m2", 5.0, 5.0),  # first millisecond of [5, 15): not in [-5, 5)
    ("m3", 6.0, 6.0),
    ("m1", 8.0, 7.0),  # wm 6
    ("m2", 7.0, 8.0),  # out of order, inside grace
    ("m3", 11.0, 9.0),  # wm 9: closes [-5, 5)
    ("m1", 4.0, 60.0),  # late for [-5, 5) (dropped there), inside grace for [0, 10)
    ("m2", 12.0, 11.0),  # wm 10: closes [0, 10)
    ("m3", 3.0, 99.0),  # late past grace for both its windows: dropped
    ("m1", 9.5, 13.0),  # late for [0, 10), counted in [5, 15)
    ("m2", 14.999, 14.0),
    ("m1", 15.0, 15.0),  # wm 13
    ("m3", 17.0, 16.0),  # wm 15: closes [5, 15)
    ("m2", 10.0, 17.0),  # late for [5, 15), counted in [10, 20)
    ("m1", 30.0, 18.0),  # wm 28: closes [10, 20), [15, 25)
    ("m2", 60.0, 0.5),  # wm 58: closes everything up to [45, 55)
]


def readings(stream: list[tuple[str, float, float]] = STREAM) -> list[Reading]:
    return [Reading(machine_id=m, ts=at(s), v=v) for m, s, v in stream]


def encoded(stream: list[tuple[str, float, float]] = STREAM) -> list[tuple[bytes, bytes]]:
    """(key, value) records as a producer keyed by machine would write them."""
    return [(r.machine_id.encode(), r.model_dump_json().encode()) for r in readings(stream)]


if os.environ.get("STREAMS_FIXTURE_SOURCE"):
    job = make_job(
        os.environ["STREAMS_FIXTURE_NAME"],
        os.environ["STREAMS_FIXTURE_SOURCE"],
        os.environ["STREAMS_FIXTURE_SINK"],
        rekey=bool(os.environ.get("STREAMS_FIXTURE_REKEY")),
        format="avro" if os.environ.get("STREAMS_FIXTURE_FORMAT") == "avro" else "json",
    )
