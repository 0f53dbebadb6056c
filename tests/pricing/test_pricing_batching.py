"""The pricing agents' Batcher: overlapping calls go as one batch call, and each caller gets its own answer."""

import asyncio
from typing import Any

import pytest

from agentflux import Context, ToolError
from agentflux.contract.envelope import Envelope
from agentflux.runtime.context import Services
from examples.ecommerce_pricing.batching import Batcher

pytestmark = pytest.mark.asyncio


class Server:
    """A batch tool ``double(numbers)``: each number doubled, a negative one refused; ``down`` fails whole calls."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.metas: list[dict[str, str]] = []
        self.down = False
        self.release = asyncio.Event()
        self.release.set()

    def handle(self, name: str, meta: dict[str, str] | None = None) -> "Handle":
        self.metas.append(dict(meta or {}))
        return Handle(self)


class Handle:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def call(self, tool: str, /, **arguments: Any) -> Any:
        numbers = arguments["numbers"]
        self.server.batches.append(list(numbers))
        await self.server.release.wait()
        if self.server.down:
            raise ToolError("calc", tool, "connection lost", transient=True)
        return [{"error": f"{n} is negative"} if n < 0 else {"value": 2 * n} for n in numbers]


def context(server: Server, correlation_id: str) -> Context:
    envelope = Envelope.new(source="test", type="t", correlation_id=correlation_id)
    return Context(agent="a", envelope=envelope, record=None, services=Services(publisher=None, tools=server))  # type: ignore[arg-type]


async def test_a_call_alone_goes_at_once_and_overlapping_calls_go_together() -> None:
    server, batcher = Server(), Batcher("calc", "double", "numbers", max_in_flight=1)
    assert await batcher.call(context(server, "c0"), 1) == {"value": 2}
    assert server.batches == [[1]]

    server.release.clear()  # the next batch stays out while more calls come
    first = asyncio.create_task(batcher.call(context(server, "c1"), 2))
    await asyncio.sleep(0.01)
    rest = [asyncio.create_task(batcher.call(context(server, f"c{n}"), n)) for n in range(3, 8)]
    await asyncio.sleep(0.01)
    assert server.batches == [[1], [2]]  # the others wait for the batch that is out
    server.release.set()
    assert [a["value"] for a in await asyncio.gather(first, *rest)] == [4, 6, 8, 10, 12, 14]
    assert server.batches == [[1], [2], [3, 4, 5, 6, 7]] and batcher.calls == 3
    meta = server.metas[-1]  # the first item's correlation id and trace, and every item's correlation id
    assert (meta["correlation_id"], meta["correlation_ids"]) == ("c3", "c3,c4,c5,c6,c7") and "traceparent" in meta


async def test_an_item_refused_fails_its_caller_alone_and_a_failed_call_fails_every_caller() -> None:
    server, batcher = Server(), Batcher("calc", "double", "numbers", max_batch=10)
    answers = await asyncio.gather(
        *(batcher.call(context(server, f"c{n}"), n) for n in (1, -2, 3)), return_exceptions=True
    )
    assert answers[0] == {"value": 2} and answers[2] == {"value": 6}
    assert isinstance(answers[1], ToolError) and not answers[1].transient and "-2 is negative" in str(answers[1])

    server.down = True
    failed = await asyncio.gather(*(batcher.call(context(server, f"d{n}"), n) for n in (1, 2)), return_exceptions=True)
    assert all(isinstance(e, ToolError) and e.transient for e in failed)
    assert failed[0] is not failed[1]  # one exception object per caller


async def test_a_caller_that_gave_up_before_its_batch_went_is_left_out() -> None:
    server, batcher = Server(), Batcher("calc", "double", "numbers", max_in_flight=1)
    server.release.clear()
    out = asyncio.create_task(batcher.call(context(server, "c1"), 1))
    await asyncio.sleep(0.01)
    gave_up = asyncio.create_task(batcher.call(context(server, "c2"), 2))
    stays = asyncio.create_task(batcher.call(context(server, "c3"), 3))
    await asyncio.sleep(0.01)
    gave_up.cancel()
    server.release.set()
    assert (await out, await stays) == ({"value": 2}, {"value": 6})
    assert server.batches == [[1], [3]]


async def test_a_call_right_after_the_last_batch_returned_goes_too() -> None:
    # The next record of a product is handled in the same step in which the previous one's call returned.
    server, batcher = Server(), Batcher("calc", "double", "numbers")
    async with asyncio.timeout(2):  # no new task per call: each goes on in the step the one before returned in
        for n in range(5):
            assert await batcher.call(context(server, f"c{n}"), n) == {"value": 2 * n}
    assert server.batches == [[0], [1], [2], [3], [4]]
