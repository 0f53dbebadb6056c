"""The reference evaluation: the job's semantics in plain Python, for ``job.test()``.

It follows the rules written in ``docs/streams.md``, which both engines are
held to (``tests/streams`` checks each engine against this module):

* records are processed in list order, each in its source partition (one
  partition unless a ``partition`` function says otherwise);
* the watermark of a partition is the largest event time seen in it so far
  minus the grace;
* a window ``[start, end)`` closes, and its result is emitted, as soon as the
  watermark reaches ``end`` (``watermark >= end``);
* a record is added to each of its windows that is still open; for a window
  already closed it is late, and dropped from that window only;
* a record that does not validate against the payload model is a dead
  letter and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from agentflux.streams.results import WINDOW_END, WINDOW_START
from agentflux.streams.schema import epoch_ms

if TYPE_CHECKING:
    from agentflux.streams.definition import JobDefinition


@dataclass(frozen=True)
class Late:
    """A record that arrived after one of its windows had closed."""

    record: BaseModel
    window: tuple[int, int]
    watermark: int


@dataclass
class Evaluation:
    """What ``job.evaluate()`` saw: outputs in emission order, late drops and dead letters."""

    outputs: list[BaseModel] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    late: list[Late] = field(default_factory=list)
    dead_letters: list[tuple[object, str]] = field(default_factory=list)
    filtered_out: int = 0


@dataclass
class _Partition:
    open_windows: dict[tuple[int, int, object], list[BaseModel]] = field(default_factory=dict)
    max_time: int | None = None


def evaluate(
    job: JobDefinition, records: Iterable[BaseModel | Mapping[str, Any]], *, flush: bool = False,
    partition: Callable[[Any], int] | None = None,
) -> Evaluation:  # fmt: skip
    """Evaluate ``job`` over ``records``; ``partition`` maps a record to its source partition (default: all in 0)."""
    source, window = job.source_spec, job.window_spec
    result = Evaluation()
    partitions: dict[int, _Partition] = {}
    for raw in records:
        try:
            if isinstance(raw, source.model):
                record = raw
            else:
                record = source.model.model_validate(raw.model_dump() if isinstance(raw, BaseModel) else raw)
        except ValidationError as exc:
            result.dead_letters.append((raw, str(exc)))
            continue
        part = partitions.setdefault(0 if partition is None else partition(record), _Partition())
        key, ts = getattr(record, source.key), epoch_ms(getattr(record, source.time))
        watermark = None if part.max_time is None else part.max_time - window.grace_ms
        for start, end in window.ranges(ts):
            if watermark is not None and end <= watermark:
                result.late.append(Late(record, (start, end), watermark))
            else:
                part.open_windows.setdefault((start, end, key), []).append(record)
        part.max_time = ts if part.max_time is None else max(part.max_time, ts)
        _close(job, part.open_windows, part.max_time - window.grace_ms, result)
    if flush:
        for part in partitions.values():
            _close(job, part.open_windows, None, result)
    return result


def _close(
    job: JobDefinition, open_windows: dict[tuple[int, int, object], list[BaseModel]], watermark: int | None,
    result: Evaluation,
) -> None:  # fmt: skip
    closing = sorted(
        (w for w in open_windows if watermark is None or w[1] <= watermark), key=lambda w: (w[1], w[0], str(w[2]))
    )
    for start, end, key in closing:
        members = open_windows.pop((start, end, key))
        row: dict[str, Any] = {job.source_spec.key: key, WINDOW_START: start, WINDOW_END: end}
        for name, agg in job.aggregates:
            row[name] = agg.compute(float(getattr(m, agg.field)) for m in members) if agg.field else len(members)
        if not job.keeps(row):
            result.filtered_out += 1
            continue
        result.rows.append(row)
        result.outputs.append(job.sink_spec.model.model_validate({n: row[n] for n in job.output_fields}))
