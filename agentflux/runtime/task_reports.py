"""Publishing task states (``agent.tasks.v1``) and results (``agent.task-results.{skill}``).

Both are published until the broker acknowledges them, with backoff, because
the request is committed only afterwards: a broker outage stalls the
partition rather than losing an outcome. Every record is caused by the
request, so it carries the request's correlation id and continues its trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import MessageTooLarge
from agentflux.contract.tasks import TaskErrorInfo, TaskState, TaskStatus
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.runtime.retry import RetryPolicy
from agentflux.transport.base import Ack, Transport

log = logging.getLogger("agentflux.runtime")

ReplyAddress = tuple[str, int | None]
_BACKOFF = RetryPolicy(initial_backoff=0.2, max_backoff=10.0)
_PARTITION_TRIES = 3  # then the named reply partition is given up and the result is keyed by task id


class TaskReporter:
    def __init__(self, transport: Transport, *, source: str) -> None:
        self._transport = transport
        self._source = source

    def _envelope(self, cause: Envelope, topic: str, task_id: str) -> Envelope:
        return cause.caused(source=self._source, type=topic, task_id=task_id)

    async def state(self, state: TaskState, cause: Envelope) -> Ack:
        """Record one state change of a task."""
        headers = self._envelope(cause, TASKS_TOPIC, state.task_id).to_headers()
        value, key = encode(state), state.task_id.encode()
        return await _until_acked(
            f"state {state.state} of task {state.task_id}",
            lambda _n: self._transport.publish(TASKS_TOPIC, value, key=key, headers=headers),
        )

    async def after(self, previous: Awaitable[object], state: TaskState, cause: Envelope) -> Ack:
        """Record ``state`` once ``previous`` (the record of the state before it) is acknowledged."""
        await previous
        return await self.state(state, cause)

    async def result(self, state: TaskState, cause: Envelope, reply: ReplyAddress) -> Ack:
        """Send a finished task's outcome to its requester's reply address."""
        topic, partition = reply
        headers = self._envelope(cause, topic, state.task_id).to_headers()
        key = state.task_id.encode()
        value = encode(state.as_result())

        def send(failures: int) -> Awaitable[Ack]:
            target = partition if failures < _PARTITION_TRIES else None
            return self._transport.publish(topic, value, key=key, headers=headers, partition=target)

        return await _until_acked(f"result of task {state.task_id}", send)


def within_limit(state: TaskState, max_bytes: int) -> TaskState:
    """``state``, or a ``failed`` state saying why, if its record would be larger than ``max_bytes``."""
    size = len(encode(state))
    if size <= max_bytes - 4096:
        return state
    message = f"the task's state record would be {size} bytes; the limit is {max_bytes} bytes"
    return state.advance(
        TaskStatus.FAILED, input=None, result=None, error=TaskErrorInfo(type="MessageTooLarge", message=message)
    )


async def _until_acked(what: str, send: Callable[[int], Awaitable[Ack]]) -> Ack:
    failures = 0
    while True:
        try:
            return await send(failures)
        except MessageTooLarge:
            raise  # permanent: retrying cannot help (within_limit() keeps task records below the limit)
        except Exception:
            failures += 1
            log.exception("publishing the %s failed (%d); retrying", what, failures)
            await asyncio.sleep(_BACKOFF.backoff(min(failures, 10)))
