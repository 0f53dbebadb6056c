"""OpenTelemetry spans on the real broker: one trace from a request through handlers, a retry, a delegation
and a dead letter, each span a child of the one before it, with the messaging attributes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kafka_helpers import await_until, dead_letters_of
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from agentflux import AgentApp, AppRunner, Context, RetryPolicy
from agentflux.contract.envelope import Envelope
from agentflux.ops.deadletters import redrive
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


class Order(BaseModel):
    order_id: str
    amount: float


class Doubled(BaseModel):
    amount: float


class Spans:
    """The finished spans of a provider made for one test."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, (name, [s.name for s in self.exporter.get_finished_spans()])
        return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


def events(span: ReadableSpan) -> dict[str, dict[str, Any]]:
    return {e.name: dict(e.attributes or {}) for e in span.events}


@pytest.mark.asyncio
async def test_one_request_is_one_trace_across_handlers_a_retry_a_delegation_and_a_dead_letter(
    kafka_bootstrap: str, unique: str
) -> None:
    orders, checks, bad = f"t{unique}.orders.v1", f"t{unique}.checks.v1", f"t{unique}.bad-orders.v1"
    skill = f"double-{unique}"
    app = AgentApp(f"tracing-{unique}")
    front, checker, doubler, refuser = (app.agent(n) for n in ("front", "checker", "doubler", "refuser"))
    quick = RetryPolicy(max_attempts=2, initial_backoff=0.05, max_backoff=0.05)
    results: list[float] = []
    checked: list[int] = []

    @front.on(orders)
    async def take(order: Order, ctx: Context) -> None:
        await ctx.publish(checks, order, key=order.order_id)
        results.append((await ctx.delegate(skill, order)).amount)

    @checker.on(checks, retry=quick)
    async def check(order: Order, ctx: Context) -> None:
        checked.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("the first look fails")

    @doubler.skill(skill)
    async def double(order: Order, ctx: Context) -> Doubled:
        return Doubled(amount=order.amount * 2)

    refusing = [True]

    @refuser.on(bad, retry=quick)
    async def refuse(order: Order, ctx: Context) -> None:
        if refusing[0]:
            raise ValueError(f"order {order.order_id} is refused")

    spans = Spans()
    tracer = spans.provider.get_tracer("test")
    async with AppRunner(app, KafkaTransport(KafkaSettings(kafka_bootstrap)), tracer_provider=spans.provider) as run:
        publisher = run.services.publisher
        with tracer.start_as_current_span("request"):
            envelope = Envelope.new(source="test", type="orders")
            await publisher.publish(orders, Order(order_id="o1", amount=21.0), envelope=envelope, key="o1")
        with tracer.start_as_current_span("bad request"):
            envelope = Envelope.new(source="test", type="bad-orders")
            await publisher.publish(bad, Order(order_id="o2", amount=1.0), envelope=envelope, key="o2")
        await await_until(lambda: results == [42.0] and checked == [1, 2], 60, "the order handled, checked, doubled")
        await await_until(lambda: len(spans.named(f"process {bad}")) == 2, 60, "both attempts at the bad order")
        dead = await dead_letters_within(kafka_bootstrap, bad, 30)
        refusing[0] = False  # fixed: the redriven record is handled, in the trace it started in
        await redrive(run.transport, dead[0])
        await await_until(lambda: len(spans.named(f"process {bad}")) == 3, 60, "the redriven bad order handled")
        await asyncio.sleep(0.2)  # the worker's span ends after it reports the result the front agent got

    # One trace: request -> send orders -> process orders -> {send checks -> 2 x process checks,
    #                                                          delegate -> skill}
    root = trace_id(spans.one("request"))
    send_orders, process_orders = spans.one(f"send {orders}"), spans.one(f"process {orders}")
    send_checks, attempts = (
        spans.one(f"send {checks}"),
        sorted(
            spans.named(f"process {checks}"),
            key=lambda s: s.attributes["agentflux.attempt"],  # type: ignore[index]
        ),
    )
    delegate, serve = spans.one(f"delegate {skill}"), spans.one(f"skill {skill}")
    chain = [send_orders, process_orders, send_checks, *attempts, delegate, serve]
    assert {trace_id(s) for s in chain} == {root}
    assert parent_of(send_orders) == span_id(spans.one("request"))
    assert parent_of(process_orders) == span_id(send_orders)
    assert parent_of(send_checks) == span_id(process_orders)
    assert [parent_of(a) for a in attempts] == [span_id(send_checks)] * 2
    assert parent_of(delegate) == span_id(process_orders)
    assert parent_of(serve) == span_id(delegate)

    kinds = [s.kind for s in (send_orders, process_orders, delegate, serve)]
    assert kinds == [SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.CLIENT, SpanKind.SERVER]
    sent, handled = dict(send_orders.attributes or {}), dict(process_orders.attributes or {})
    assert sent["messaging.system"] == handled["messaging.system"] == "kafka"
    assert sent["messaging.destination.name"] == handled["messaging.destination.name"] == orders
    assert sent["messaging.message.id"] == handled["messaging.message.id"]
    assert (sent["messaging.destination.partition.id"], sent["messaging.kafka.offset"]) == (
        handled["messaging.destination.partition.id"],
        handled["messaging.kafka.offset"],
    )
    assert handled["messaging.message.conversation_id"] == sent["messaging.message.conversation_id"]
    assert handled["messaging.consumer.group.name"] == app.agents["front"].group_id
    assert handled["agentflux.agent"] == "front"

    first, second = attempts
    assert first.status.status_code is StatusCode.ERROR
    assert events(first)["retry"]["error.type"] == "RuntimeError"
    assert "exception" in events(first)
    assert second.status.status_code is StatusCode.UNSET and "retry" not in events(second)
    assert dict(serve.attributes or {})["agentflux.skill"] == skill

    # The bad order: its own trace, both attempts failed, the last one says it was dead-lettered,
    # and the dead letter carries the trace context of the record it holds.
    bad_root = trace_id(spans.one("bad request"))
    tries = sorted(spans.named(f"process {bad}"), key=lambda s: s.start_time or 0)
    assert {trace_id(s) for s in tries} == {bad_root} and bad_root != root
    assert "retry" in events(tries[0]) and events(tries[1])["dead_letter"]["error.type"] == "ValueError"
    sent_bad = spans.one(f"send {bad}")
    assert [dict(d.original_headers())["traceparent"].decode() for d in dead] == [traceparent_of_span(sent_bad)]
    assert [parent_of(s) for s in tries] == [span_id(sent_bad)] * 3
    assert tries[2].status.status_code is StatusCode.UNSET and not events(tries[2])


async def dead_letters_within(bootstrap: str, source: str, timeout: float) -> list[Any]:
    """The dead letters of ``source``, once there is one (AssertionError after ``timeout`` seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await dead_letters_of(bootstrap, source)
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"no dead letter of {source} after {timeout}s")


def traceparent_of_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-{int(span.context.trace_flags):02x}"


@pytest.mark.asyncio
async def test_without_an_sdk_no_span_is_made_and_records_still_continue_the_trace(
    kafka_bootstrap: str, unique: str
) -> None:
    first, second = f"t{unique}.first.v1", f"t{unique}.second.v1"
    app = AgentApp(f"untraced-{unique}")
    seen: list[Envelope] = []

    @app.agent("relay").on(first)
    async def relay(order: Order, ctx: Context) -> None:
        await ctx.publish(second, order)

    @app.agent("sink").on(second)
    async def sink(order: Order, ctx: Context) -> None:
        seen.append(ctx.envelope)

    async with AppRunner(app, KafkaTransport(KafkaSettings(kafka_bootstrap))) as run:
        assert not run.tracing.active
        envelope = Envelope.new(source="test", type="first")
        await run.services.publisher.publish(first, Order(order_id="o", amount=1.0), envelope=envelope)
        await await_until(lambda: seen, 60, "the relayed record")
    assert envelope.traceparent is not None and seen[0].traceparent is not None
    assert seen[0].traceparent.split("-")[1] == envelope.traceparent.split("-")[1]  # the same trace id
