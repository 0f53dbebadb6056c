"""The record a window result becomes: key, JSON value and CloudEvents headers.

Both engines write the same record for the same window, so the identifiers are
derived from the window rather than drawn at random: ``window_id`` is the MD5
of ``"{job}|{key}|{window_start}|{window_end}"`` written as a UUID. A result
that is emitted again (after a crash, or by the other engine) carries the same
``ce_id`` and, on task-request sinks, the same ``ce_taskid``, so consumers can
deduplicate it. ``ce_time`` is the window's end in event time.

The value holds the fields of the output model that the result has (key field,
``window_start`` and ``window_end`` in epoch milliseconds, the aggregates), in
the model's field order.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agentflux.contract.envelope import JSON, SPECVERSION
from agentflux.contract.topics import TASK_REQUESTS_PREFIX, event_type

Headers = list[tuple[str, bytes]]
WINDOW_START = "window_start"
WINDOW_END = "window_end"


def window_hash(job: str, key: object, start_ms: int, end_ms: int) -> str:
    return hashlib.md5(f"{job}|{key}|{start_ms}|{end_ms}".encode(), usedforsecurity=False).hexdigest()


def as_uuid(digest: str) -> str:
    return str(uuid.UUID(hex=digest))


def rfc3339_ms(epoch_ms: int) -> str:
    seconds = datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{seconds}.{epoch_ms % 1000:03d}Z"


def is_task_sink(topic: str) -> bool:
    return topic.startswith(TASK_REQUESTS_PREFIX)


def result_headers(job: str, sink_topic: str, key: object, start_ms: int, end_ms: int) -> Headers:
    """CloudEvents binary-mode headers for one window result."""
    digest = window_hash(job, key, start_ms, end_ms)
    window_id = as_uuid(digest)
    headers: Headers = [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", window_id.encode()),
        ("ce_source", job.encode()),
        ("ce_type", event_type(sink_topic).encode()),
        ("ce_time", rfc3339_ms(end_ms).encode()),
        ("content-type", JSON.encode()),
        ("ce_correlationid", window_id.encode()),
        ("traceparent", f"00-{digest}-{digest[:16]}-01".encode()),
    ]
    if is_task_sink(sink_topic):
        headers.append(("ce_taskid", window_id.encode()))
    return headers


def encode_value(row: Mapping[str, Any], fields: Sequence[str]) -> bytes:
    return json.dumps({name: row[name] for name in fields}, separators=(",", ":")).encode()


def encode_key(key: object) -> bytes:
    return str(key).encode()
