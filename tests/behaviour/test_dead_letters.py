"""Dead letters: a record that can never be handled becomes exactly one dead letter, and its partition goes on."""

from __future__ import annotations

from collections import Counter

import pytest
from behaviour.helpers import Backend, DeadLetter
from pydantic import BaseModel

from agentflux import AgentApp, Context, Reject, RetryPolicy
from agentflux.contract.codec import encode

pytestmark = pytest.mark.asyncio
TWICE = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)


class Order(BaseModel):
    order_id: str
    amount: float


class NotFixable(Exception):
    transient = False  # agentflux reads this attribute: a permanent error is not retried


def payer(backend: Backend, topic: str, handled: list[str], calls: Counter[str]) -> AgentApp:
    app = backend.app()

    @app.agent("payer", retry=TWICE).on(topic)
    async def pay(order: Order, ctx: Context) -> None:
        calls[order.order_id] += 1
        if order.order_id == "rejected":
            raise Reject("we do not ship there")
        if order.order_id == "not-fixable":
            raise NotFixable("the card was cancelled")
        if order.order_id == "exhausted":
            raise ConnectionError("the bank does not answer")  # transient: retried until the budget is spent
        handled.append(order.order_id)

    return app


def check_letter(letter: DeadLetter, topic: str, offset: int, attempts: int, error_type: str, group: str) -> None:
    """The ``dlq_*`` headers say where the record came from, who failed it, how often and why."""
    where = {k: letter.info[k] for k in ("source_topic", "source_partition", "source_offset", "group")}
    assert where == {"source_topic": topic, "source_partition": "0", "source_offset": str(offset), "group": group}
    assert (letter.info["attempts"], letter.info["error_type"]) == (str(attempts), error_type)


async def test_a_handler_error_that_will_not_pass_becomes_one_dead_letter(backend: Backend) -> None:
    topic = backend.topic("order-placed")
    await backend.create_topic(topic, partitions=1)
    handled: list[str] = []
    calls: Counter[str] = Counter()
    app = payer(backend, topic, handled, calls)
    orders = ["rejected", "not-fixable", "exhausted", "good"]  # one key: the good order waits behind the bad ones
    for order_id in orders:
        await backend.publish(topic, Order(order_id=order_id, amount=1), key="customer-1")
    async with backend.run(app) as runner:
        await backend.eventually(lambda: handled == ["good"], what="the good order after the failing ones")
        await backend.drain(runner)  # committed to the end: every dead letter was acknowledged before
    assert calls == {"rejected": 1, "not-fixable": 1, "exhausted": 2, "good": 1}
    letters = sorted(await backend.dead_letters(topic), key=lambda d: int(d.info["source_offset"]))
    assert [d.info["source_offset"] for d in letters] == ["0", "1", "2"]  # exactly one each
    group = app.agents["payer"].group_id
    check_letter(letters[0], topic, 0, 1, "Reject", group)
    check_letter(letters[1], topic, 1, 1, "NotFixable", group)
    check_letter(letters[2], topic, 2, 2, "ConnectionError", group)
    assert [d.info["error_message"] for d in letters] == [
        "we do not ship there",
        "the card was cancelled",
        "the bank does not answer",
    ]
    for letter, order_id in zip(letters, orders, strict=False):  # the original record, unchanged
        assert letter.record.key == b"customer-1"
        assert letter.record.value == encode(Order(order_id=order_id, amount=1))
        assert any(name == "ce_id" for name, _ in letter.original_headers())


async def test_a_record_that_cannot_be_read_becomes_one_dead_letter(backend: Backend) -> None:
    topic = backend.topic("order-placed")
    await backend.create_topic(topic, partitions=1)
    handled: list[str] = []
    calls: Counter[str] = Counter()
    app = payer(backend, topic, handled, calls)
    garbage = b"\x00\xff{not json"
    await backend.publish_raw(topic, garbage, key=b"customer-1")  # bytes from outside agentflux, no headers
    await backend.publish(topic, {"order_id": "o-2", "amount": "lots"}, key="customer-1")  # JSON, not an Order
    await backend.publish(topic, Order(order_id="good", amount=1), key="customer-1")
    async with backend.run(app) as runner:
        await backend.eventually(lambda: handled == ["good"], what="the good order after the unreadable ones")
        await backend.drain(runner)
    assert calls == {"good": 1}  # the handler never saw the unreadable records
    letters = sorted(await backend.dead_letters(topic), key=lambda d: int(d.info["source_offset"]))
    assert [d.info["source_offset"] for d in letters] == ["0", "1"]
    group = app.agents["payer"].group_id
    for offset, letter in enumerate(letters):
        check_letter(letter, topic, offset, 0, "PayloadDecodeError", group)
    assert "not valid JSON" in letters[0].info["error_message"]
    assert letters[1].info["error_message"].startswith("value does not match Order: amount:")
    assert (letters[0].record.key, letters[0].record.value) == (b"customer-1", garbage)
    assert letters[0].original_headers() == []
    assert letters[1].record.value == b'{"order_id":"o-2","amount":"lots"}'
