"""Message ids, span ids and timestamps: cheap, but unique and well-formed."""

from __future__ import annotations

import os
import random
import re
import uuid
from datetime import UTC, datetime

from agentflux.contract.envelope import Envelope, now_rfc3339
from agentflux.contract.tracecontext import TraceParent, random_hex, random_uuid


def test_random_uuid_is_a_version_4_uuid_and_does_not_repeat() -> None:
    ids = [random_uuid() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:100]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_random_hex_has_the_width_asked_for_and_is_never_zero() -> None:
    for bits in (64, 128):
        values = {random_hex(bits) for _ in range(1000)}
        assert len(values) == 1000
        assert all(re.fullmatch(f"[0-9a-f]{{{bits // 4}}}", v) and int(v, 16) for v in values)
    root = TraceParent.new_root()
    assert TraceParent.parse(str(root)) == root and TraceParent.parse(str(root.child())).trace_id == root.trace_id


def test_seeding_random_in_the_application_does_not_repeat_our_ids() -> None:
    random.seed(7)
    first = Envelope.new(source="a", type="t")
    random.seed(7)
    second = Envelope.new(source="a", type="t")
    assert first.id != second.id and first.traceparent != second.traceparent


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child writes its next id and leaves at once
        os.write(write, random_uuid().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert len(child) == 36 and child != random_uuid()


def test_now_rfc3339_is_utc_to_the_millisecond() -> None:
    before = datetime.now(UTC)
    value = now_rfc3339()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value)
    parsed = datetime.fromisoformat(value)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= parsed <= after
