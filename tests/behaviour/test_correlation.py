"""Correlation: an id given at the edge reaches everything it causes, causation ids chain, foreign records get one."""

from __future__ import annotations

import pytest
from behaviour.helpers import Backend, envelope_of
from pydantic import BaseModel

from agentflux import Context, Envelope, TaskReport
from agentflux.contract.topics import TASKS_TOPIC, task_requests_topic, task_results_topic

pytestmark = pytest.mark.asyncio


class Parcel(BaseModel):
    order_id: str


class Packed(BaseModel):
    order_id: str
    boxes: int


def trace_id(envelope: Envelope) -> str:
    return str(envelope.traceparent).split("-")[1]


async def test_a_correlation_id_given_at_the_edge_reaches_every_record_it_causes(backend: Backend) -> None:
    placed, accepted = backend.topic("order-placed"), backend.topic("order-accepted")
    shipped, notified = backend.topic("parcel-shipped"), backend.topic("customer-notified")
    for topic in (placed, accepted, shipped, notified):
        await backend.create_topic(topic)
    skill = backend.skill("pack")
    app = backend.app()
    seen: dict[str, Context] = {}
    finished: list[str] = []

    @app.agent("clerk").on(placed)
    async def on_placed(order: Parcel, ctx: Context) -> None:
        seen["clerk"] = ctx
        packed = await ctx.delegate(skill, Parcel(order_id=order.order_id), timeout=20)
        await ctx.publish(accepted, packed, key=order.order_id)
        finished.append("clerk")

    @app.agent("packer").skill(skill)
    async def pack(task: Parcel, ctx: Context) -> Packed:
        seen["packer"] = ctx
        await ctx.publish(shipped, task, key=task.order_id)
        return Packed(order_id=task.order_id, boxes=2)

    @app.agent("notifier").on(shipped)
    async def on_shipped(parcel: Parcel, ctx: Context) -> None:
        seen["notifier"] = ctx
        await ctx.publish(notified, parcel, key=parcel.order_id)
        finished.append("notifier")

    correlation = f"corr-{backend.unique}"
    edge = (await backend.publish(placed, Parcel(order_id="o-1"), key="o-1", correlation_id=correlation)).envelope
    async with backend.run(app):
        await backend.eventually(lambda: len(finished) == 2, what="the order through every agent")
    [request] = await backend.transport.read_all(task_requests_topic(skill))
    [result] = await backend.transport.read_all(task_results_topic(skill))
    task_id = envelope_of(request).task_id
    states = [r for r in await backend.transport.read_all(TASKS_TOPIC) if envelope_of(r).task_id == task_id]
    [accepted_record] = await backend.transport.read_all(accepted)
    [shipped_record] = await backend.transport.read_all(shipped)
    [notified_record] = await backend.transport.read_all(notified)
    records = [request, result, *states, accepted_record, shipped_record, notified_record]
    envelopes = [envelope_of(r) for r in records]
    assert {e.correlation_id for e in envelopes} == {correlation}, [(r.topic, envelope_of(r)) for r in records]
    assert {c.correlation_id for c in seen.values()} == {correlation}
    assert {TaskReport.model_validate_json(r.value or b"").correlation_id for r in states} == {correlation}
    assert {trace_id(e) for e in envelopes} == {trace_id(edge)}
    assert [TaskReport.model_validate_json(r.value or b"").state for r in states][-1] == "completed"
    # Causation chains: each record names the one that caused it.
    request_env = envelope_of(request)
    assert seen["clerk"].message_id == edge.id
    assert request_env.causation_id == edge.id and request_env.source == "clerk"
    assert envelope_of(accepted_record).causation_id == edge.id
    assert seen["packer"].message_id == request_env.id and seen["packer"].causation_id == edge.id
    assert {e.causation_id for e in map(envelope_of, [result, *states, shipped_record])} == {request_env.id}
    assert seen["notifier"].message_id == envelope_of(shipped_record).id
    assert envelope_of(notified_record).causation_id == envelope_of(shipped_record).id


async def test_a_record_from_a_foreign_producer_is_given_a_correlation_id(backend: Backend) -> None:
    measured, alerted = backend.topic("temperature-measured"), backend.topic("alert-raised")
    await backend.create_topic(measured)
    await backend.create_topic(alerted)
    app = backend.app()
    seen: list[Context] = []

    @app.agent("thermostat").on(measured)
    async def on_measure(reading: dict, ctx: Context) -> None:
        seen.append(ctx)
        await ctx.publish(alerted, {"celsius": reading["celsius"]}, key=ctx.key)

    ack = await backend.publish_raw(measured, b'{"celsius": 41}', key=b"dev-1")  # no ce_* headers at all
    async with backend.run(app):
        await backend.eventually(lambda: len(seen) == 1, what="the foreign reading handled")
    [ctx] = seen
    assigned = f"kafka:{measured}/{ack.partition}/{ack.offset}"  # where it lives: the same on every redelivery
    assert (ctx.message_id, ctx.correlation_id) == (assigned, assigned)
    assert ctx.envelope.assigned == ("id", "correlation_id")
    [alert] = await backend.transport.read_all(alerted)
    caused = envelope_of(alert)
    assert (caused.correlation_id, caused.causation_id, caused.source) == (assigned, assigned, "thermostat")


class Reading(BaseModel):
    device: str
    celsius: float
    correlation_id: str | None = None


async def test_a_foreign_record_that_names_its_correlation_id_in_its_body_is_correlated_by_it(
    backend: Backend,
) -> None:
    measured, alerted = backend.topic("temperature-measured"), backend.topic("alert-raised")
    await backend.create_topic(measured)
    await backend.create_topic(alerted)
    app = backend.app()
    seen: dict[str, Context] = {}

    @app.agent("thermostat").on(measured)  # the id as a model's field
    async def on_measure(reading: Reading, ctx: Context) -> None:
        await ctx.publish(alerted, {"celsius": reading.celsius}, key=ctx.key)
        seen["thermostat"] = ctx

    @app.agent("recorder").on(measured)  # the id as a dict's key
    async def on_record(reading: dict, ctx: Context) -> None:
        seen["recorder"] = ctx

    body = b'{"device": "dev-1", "celsius": 41, "correlation_id": "req-42"}'
    ack = await backend.publish_raw(measured, body, key=b"dev-1")  # no headers at all
    async with backend.run(app):
        await backend.eventually(lambda: len(seen) == 2, what="the foreign reading handled by both agents")
    assigned = f"kafka:{measured}/{ack.partition}/{ack.offset}"
    assert {name: (c.message_id, c.correlation_id) for name, c in seen.items()} == {
        "thermostat": (assigned, "req-42"),
        "recorder": (assigned, "req-42"),
    }
    [alert] = await backend.transport.read_all(alerted)
    caused = envelope_of(alert)
    assert (caused.correlation_id, caused.causation_id) == ("req-42", assigned)
    assert not await backend.dead_letters(measured)


UNUSABLE = [b'""', b'"   "', b'" req-1"', b'"' + b"x" * 129 + b'"', b'"bad\\nid"', b'"\\u001b[2J"', b'"caf\\u00e9"',
            b"42", b"null", b"true", b'["req-1"]', b'{"id": "req-1"}']  # fmt: skip


async def test_a_correlation_id_in_a_body_that_cannot_be_a_header_is_ignored(backend: Backend) -> None:
    measured = backend.topic("temperature-measured")
    await backend.create_topic(measured)
    app = backend.app()
    seen: dict[str, str] = {}  # message id -> correlation id

    @app.agent("thermostat").on(measured)
    async def on_measure(reading: dict, ctx: Context) -> None:
        seen[ctx.message_id] = ctx.correlation_id

    acks = [await backend.publish_raw(measured, b'{"correlation_id": %s}' % value) for value in UNUSABLE]
    async with backend.run(app):
        await backend.eventually(lambda: len(seen) == len(UNUSABLE), what="every reading handled")
    assigned = [f"kafka:{measured}/{a.partition}/{a.offset}" for a in acks]
    assert seen == {a: a for a in assigned}  # the generated id, as if the body named none
    assert not await backend.dead_letters(measured)


async def test_a_correlation_id_header_wins_over_the_body(backend: Backend) -> None:
    measured = backend.topic("temperature-measured")
    await backend.create_topic(measured)
    app = backend.app()
    seen: list[Context] = []

    @app.agent("thermostat").on(measured)
    async def on_measure(reading: Reading, ctx: Context) -> None:
        seen.append(ctx)

    reading = Reading(device="dev-1", celsius=41, correlation_id="from-the-body")
    await backend.publish(measured, reading, key="dev-1", correlation_id="from-the-header")
    async with backend.run(app):
        await backend.eventually(lambda: len(seen) == 1, what="the reading handled")
    assert seen[0].correlation_id == "from-the-header"


async def test_a_foreign_task_request_that_names_its_correlation_id_in_its_body_is_correlated_by_it(
    backend: Backend,
) -> None:
    skill = backend.skill("pack")
    app = backend.app()
    seen: list[Context] = []

    @app.agent("packer").skill(skill)
    async def pack(task: Parcel, ctx: Context) -> Packed:
        seen.append(ctx)
        return Packed(order_id=task.order_id, boxes=1)

    async with backend.run(app):
        body = b'{"order_id": "o-1", "correlation_id": "job-9"}'
        await backend.publish_raw(task_requests_topic(skill), body, key=b"o-1")  # no headers: no reply address
        await backend.eventually(lambda: len(seen) == 1, what="the foreign task handled")
        states: list[TaskReport] = []

        async def finished() -> bool:
            records = await backend.transport.read_all(TASKS_TOPIC)
            mine = [r for r in records if envelope_of(r).task_id == seen[0].envelope.task_id]
            states[:] = [TaskReport.model_validate_json(r.value or b"") for r in mine]
            return bool(states) and states[-1].state == "completed"

        await backend.eventually(finished, what="the task's terminal state")
    assert seen[0].correlation_id == "job-9"
    assert {s.correlation_id for s in states} == {"job-9"}
