import pytest

from agentflux.contract.envelope import (
    MAX_BODY_CORRELATION_ID,
    Envelope,
    correlation_in_body,
    usable_correlation_id,
)
from agentflux.contract.errors import EnvelopeError
from agentflux.contract.tracecontext import TraceParent


def read(headers: list[tuple[str, bytes | None]]) -> Envelope:
    return Envelope.from_headers(headers, fallback_id="t/0/7", topic="demo.thing.v1")


def test_round_trip_through_headers() -> None:
    env = Envelope.new(source="alpha", type="demo.thing", task_id="t1", reply_to="agent.task-results.x")
    assert read(env.to_headers()) == env
    names = [k for k, _ in env.to_headers()]
    assert names[:2] == ["ce_specversion", "ce_id"]
    assert {"ce_correlationid", "traceparent", "ce_taskid", "ce_replyto", "content-type"} <= set(names)


def test_caused_envelope_keeps_correlation_and_links_causation_and_trace() -> None:
    edge = Envelope.new(source="edge", type="demo.thing")
    child = edge.caused(source="alpha", type="demo.other")
    assert child.correlation_id == edge.correlation_id
    assert child.causation_id == edge.id
    assert child.id != edge.id
    parent, kid = TraceParent.parse(edge.traceparent or ""), TraceParent.parse(child.traceparent or "")
    assert kid.trace_id == parent.trace_id and kid.span_id != parent.span_id


def test_foreign_record_gets_a_stable_id_and_correlation() -> None:
    first, again = read([]), read([])
    assert first.id == again.id  # a redelivery keeps its id
    assert first.correlation_id == first.id
    assert first.assigned == ("id", "correlation_id")
    assert read([("ce_id", b"abc")]).assigned == ("correlation_id",)


def test_unknown_headers_are_kept() -> None:
    env = read([("x-device", b"sensor-7")])
    assert ("x-device", b"sensor-7") in env.to_headers()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([("traceparent", b"not-a-trace")], "invalid traceparent"),
        ([("traceparent", b"00-" + b"0" * 32 + b"-" + b"1" * 16 + b"-01")], "all-zero"),
        ([("ce_correlationid", b"\xff\xfe")], "'ce_correlationid' is not valid UTF-8"),
        ([("ce_specversion", b"0.3")], "unsupported ce_specversion"),
        ([("ce_time", b"yesterday")], "not an RFC 3339 timestamp"),
    ],
)
def test_malformed_headers_are_rejected_precisely(headers: list[tuple[str, bytes | None]], reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        read(headers)


class Ordered:
    correlation_id = "order-7"


class Exploding:
    @property
    def correlation_id(self) -> str:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("payload", "found"),
    [
        ({"correlation_id": "c-1", "x": 1}, "c-1"),
        (Ordered(), "order-7"),
        ({"x": 1}, None),
        ([1, 2], None),
        ("text", None),
        (b"bytes", None),
        (Exploding(), None),
    ],
)
def test_a_correlation_id_is_found_in_a_dict_key_or_an_attribute(payload: object, found: object) -> None:
    assert correlation_in_body(payload) == found


@pytest.mark.parametrize(
    "value",
    ["c-1", "4f1c1f5e-2b8a-4d6e-9a53-0e7c4f2d9b11", "order 42", "x" * MAX_BODY_CORRELATION_ID, "a/b:c@d"],
)
def test_a_short_printable_string_is_a_usable_correlation_id(value: str) -> None:
    assert usable_correlation_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None, "", " ", " padded", "padded ", "x" * (MAX_BODY_CORRELATION_ID + 1), "line\nbreak", "tab\there",
        "nul\x00", "\x1b[31mred", "caf\u00e9", "\u202eevil", 42, 4.2, True, ["c-1"], {"id": "c-1"},
    ],
)  # fmt: skip
def test_anything_else_is_not_a_usable_correlation_id(value: object) -> None:
    assert usable_correlation_id(value) is None
