"""Tool calls that overlap, sent as one call of a batch tool: how one agent process keeps up with a burst.

An MCP call over stdio costs about 2 ms of CPU between the agent and the
server (JSON-RPC, validation and tracing in the SDK) whatever the tool does,
so an agent that makes a call per record spends a burst on the calls
themselves. A ``Batcher`` sends the calls of one tool that overlap as one call
of its batch tool (``get_inventories``, ``set_prices``, ``notify_many``),
whose answer holds one entry per item, in order.

The batching is natural: a call that finds fewer than ``max_in_flight``
batches on their way goes at once, alone; calls made while that many are out
wait and go together, up to ``max_batch``, as soon as one returns. Only while
calls keep coming (a batch went out and more were waiting) does the next batch
linger ``linger`` seconds for a few more. An idle system therefore adds no
delay, and a busy one makes a tool call per batch instead of one per item.

Nothing of a handler's contract changes. Each caller awaits its own item's
answer, which the server gives only once the batch's transaction committed;
an item the server refused raises a permanent ``ToolError`` for that caller
alone; a call that failed as a whole (the server could not be reached, or did
not answer in time) raises the same error for each caller of the batch, whose
handler then retries or dead-letters as it would a single call. A caller that
is cancelled abandons its wait, and its item may still be applied, so the
batch tools are idempotent as the single ones are. The call carries the first
item's correlation id and trace context, and ``correlation_ids``, every item's,
in its ``_meta``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

from agentflux import Context, ToolError
from agentflux.contract.errors import ConfigError


@dataclass
class _Waiting:
    item: Any
    ctx: Context
    answer: asyncio.Future[Any]


class Batcher:
    """Calls ``tool`` of ``server`` with a list of items under ``argument``, one entry of its answer per item."""

    def __init__(
        self,
        server: str,
        tool: str,
        argument: str,
        *,
        max_batch: int = 100,
        max_in_flight: int = 1,
        linger: float = 0.002,
    ) -> None:
        self.server, self.tool, self.argument = server, tool, argument
        self.max_batch, self.max_in_flight, self.linger = max_batch, max_in_flight, linger
        self.calls = self.items = 0  # batch calls made and items sent, for tests and benchmarks
        self._queue: deque[_Waiting] = deque()
        self._lanes: set[asyncio.Task[None]] = set()  # held, so that a running lane is not collected
        self._sending = 0  # lanes still taking batches off the queue

    async def call(self, ctx: Context, item: Any) -> Any:
        """``item``'s entry of the batch answer it went in; a ``ToolError`` if the server refused it."""
        if ctx.services.tools is None:
            raise ConfigError(f"no MCP servers are configured for this process; cannot reach {self.server!r}")
        waiting = _Waiting(item, ctx, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._sending < self.max_in_flight:
            self._sending += 1
            lane = asyncio.create_task(self._send_while_queued(), name=f"batch-{self.server}.{self.tool}")
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)
        return await waiting.answer

    async def _send_while_queued(self) -> None:
        try:
            await self._send_batches()
        finally:
            # Counted off in the same step that saw the queue empty: a call made after this starts a lane.
            self._sending -= 1

    async def _send_batches(self) -> None:
        busy = False
        while self._queue:
            if busy and self.linger and len(self._queue) < self.max_batch:
                await asyncio.sleep(self.linger)  # calls keep coming: let a few more join this batch
            batch: list[_Waiting] = []
            while self._queue and len(batch) < self.max_batch:
                waiting = self._queue.popleft()
                if not waiting.answer.done():  # its caller gave up before it went
                    batch.append(waiting)
            if batch:
                busy = True
                await self._send(batch)

    async def _send(self, batch: list[_Waiting]) -> None:
        first = batch[0].ctx
        meta = {"correlation_id": first.correlation_id}
        meta["correlation_ids"] = ",".join(dict.fromkeys(w.ctx.correlation_id for w in batch))
        if first.traceparent:
            meta["traceparent"] = first.traceparent
        if first.envelope.tracestate:
            meta["tracestate"] = first.envelope.tracestate
        assert first.services.tools is not None
        self.calls += 1
        self.items += len(batch)
        try:
            answers = await first.services.tools.handle(self.server, meta).call(
                self.tool, **{self.argument: [w.item for w in batch]}
            )
            if not isinstance(answers, list) or len(answers) != len(batch):
                raise ToolError(self.server, self.tool, "the answer is not one entry per item", transient=False)
        except Exception as exc:
            for waiting in batch:
                _settle(waiting.answer, exception=_copy(exc, self.server, self.tool))
            return
        except BaseException:  # cancelled (the process is stopping): nobody waits for this batch any more
            for waiting in batch:
                waiting.answer.cancel()
            raise
        for waiting, answer in zip(batch, answers, strict=True):
            if isinstance(answer, dict) and "error" in answer:
                _settle(waiting.answer, exception=ToolError(self.server, self.tool, answer["error"], transient=False))
            else:
                _settle(waiting.answer, result=answer)


def _settle(answer: asyncio.Future[Any], *, result: Any = None, exception: BaseException | None = None) -> None:
    if answer.done():
        return
    if exception is not None:
        answer.set_exception(exception)
    else:
        answer.set_result(result)


def _copy(exc: Exception, server: str, tool: str) -> Exception:
    """An error of the whole call, once per caller (one exception object must not be raised in several tasks)."""
    if isinstance(exc, ToolError):
        copy: Exception = ToolError(exc.server, exc.tool, exc.cause, transient=exc.transient is not False)
    else:
        copy = ToolError(server, tool, f"{type(exc).__name__}: {exc}", transient=True)
    copy.__cause__ = exc
    return copy
