"""A second job for both engines: tumbling windows, int keys, event time in epoch milliseconds.

``job`` takes its topics and name from the environment (``TICKS_SOURCE``, ``TICKS_SINK``, ``TICKS_NAME``).
"""

from __future__ import annotations

import json
import os

from pydantic import BaseModel

from agentflux.streams import StreamJob, count, max_, sum_, tumbling

BASE_MS = 1_700_000_040_000  # a whole minute: the 1-minute windows start at BASE + k minutes


class Tick(BaseModel):
    sensor: int
    at_ms: int
    value: int


class Total(BaseModel):
    sensor: int
    window_start: int
    window_end: int
    n: int
    total: float
    hi: float


def make_job(name: str, source: str, sink: str) -> StreamJob[Total]:
    return (
        StreamJob(name)
        .source(source, Tick, key="sensor", time="at_ms")
        .window(tumbling("1m", grace="10s"))
        .aggregate(n=count(), total=sum_("value"), hi=max_("value"))
        .sink(sink, Total)
    )


# Each sensor has its own partition (sensor % 3). No record is late in its own partition, so the engines agree
# although Flink's watermark is the minimum over partitions and the embedded engine's is per partition.
STREAM: list[tuple[int, float, int]] = [
    (1, 0, 1),
    (2, 5, 2),
    (3, 10, 3),
    (1, 59.999, 4),  # last millisecond of [0, 60)
    (2, 60, 5),  # first millisecond of [60, 120)
    (1, 55, 6),  # out of order, inside grace
    (3, 65, 7),
    (3, 58, 8),  # late by 7 s: inside grace, still counted in [0, 60)
    (2, 119, 9),
    (1, 121, 10),
    (3, 130, 11),
    (2, 70, 12),  # inside grace for [60, 120)
    (1, 1000, 0),  # one far-future tick per sensor moves every partition's watermark on
    (2, 1000, 0),
    (3, 1000, 0),
]


def ticks() -> list[Tick]:
    return [Tick(sensor=s, at_ms=BASE_MS + int(sec * 1000), value=v) for s, sec, v in STREAM]


def partition(tick: Tick) -> int:
    return tick.sensor % 3


def encoded() -> list[tuple[bytes, bytes, int]]:
    """(key, value, partition) records."""
    return [(str(t.sensor).encode(), json.dumps(t.model_dump()).encode(), partition(t)) for t in ticks()]


if os.environ.get("TICKS_SOURCE"):
    job = make_job(os.environ["TICKS_NAME"], os.environ["TICKS_SOURCE"], os.environ["TICKS_SINK"])
