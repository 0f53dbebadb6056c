"""Publishing task states (``agent.tasks.v1``) and results (``agent.task-results.{skill}``).

Both are published until the broker acknowledges them (``publish_until_acked``),
because the request is committed only afterwards: a broker outage stalls the
partition rather than losing an outcome. Every record is caused by the
request, so it carries the request's correlation id and continues its trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.payloads import Payloads
from agentflux.contract.tasks import TaskErrorInfo, TaskPhase, TaskReport
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.runtime.retry import until_registry_answers
from agentflux.transport.base import Ack, Transport
from agentflux.transport.delivery import publish_until_acked

log = logging.getLogger("agentflux.runtime")
ReplyAddress = tuple[str, int | None]
_PARTITION_TRIES = 3  # then the named reply partition is given up and the result is keyed by task id


class TaskReporter:
    """Writes a worker's task states (JSON) and results (in the results topic's format, see ``payloads``)."""

    def __init__(self, transport: Transport, *, source: str, payloads: Payloads | None = None) -> None:
        self._transport = transport
        self._source = source
        self._payloads = payloads

    def _envelope(self, cause: Envelope, topic: str, task_id: str) -> Envelope:
        return cause.caused(source=self._source, type=topic, task_id=task_id)

    async def state(self, state: TaskReport, cause: Envelope, *, value: bytes | None = None) -> Ack:
        """Record one state change of a task (``value``: ``state`` already encoded)."""
        headers = self._envelope(cause, TASKS_TOPIC, state.task_id).to_headers()
        value, key = value if value is not None else encode(state), state.task_id.encode()
        return await publish_until_acked(
            f"state {state.state} of task {state.task_id}",
            lambda _n: self._transport.publish(TASKS_TOPIC, value, key=key, headers=headers),
            self._transport.watch,
        )

    async def progress(self, state: TaskReport, cause: Envelope) -> Ack | None:
        """Record a state the task passes through (``working``), once: a failure is logged.

        Never retried, so it can never land after the terminal state, which
        carries every earlier state's timestamp anyway.
        """
        try:
            return await self._transport.publish(
                TASKS_TOPIC, encode(state), key=state.task_id.encode(),
                headers=self._envelope(cause, TASKS_TOPIC, state.task_id).to_headers(),
            )  # fmt: skip
        except Exception as exc:
            log.info(
                "recording state %s of task %s failed (its terminal state says it): %s", state.state, state.task_id, exc
            )
            return None

    async def result(self, state: TaskReport, cause: Envelope, reply: ReplyAddress) -> Ack:
        """Send a finished task's outcome to its requester's reply address."""
        topic, partition = reply
        headers = self._envelope(cause, topic, state.task_id).to_headers()
        key = state.task_id.encode()
        value = await self._result_value(topic, state.as_result())

        def send(failures: int) -> Awaitable[Ack]:
            target = partition if failures < _PARTITION_TRIES else None
            return self._transport.publish(topic, value, key=key, headers=headers, partition=target)

        return await publish_until_acked(f"result of task {state.task_id}", send, self._transport.watch)

    async def _result_value(self, topic: str, result: TaskReport) -> bytes:
        """JSON, or ``result_model(output)`` in the registry format when the results topic has one."""
        payloads = self._payloads
        if payloads is None or not payloads.registered(topic):
            return encode(result)
        data = result.model_dump(mode="json")
        return await until_registry_answers(self._source, lambda: payloads.encode(topic, data))


def encode_within_limit(state: TaskReport, max_bytes: int) -> tuple[TaskReport, bytes]:
    """``state`` and its record value, or a ``failed`` state saying why if the value would exceed ``max_bytes``."""
    value = encode(state)
    if len(value) <= max_bytes - 4096:
        return state, value
    message = f"the task's state record would be {len(value)} bytes; the limit is {max_bytes} bytes"
    failed = state.advance(
        TaskPhase.FAILED, input=None, result=None, error=TaskErrorInfo(type="MessageTooLarge", message=message)
    )
    return failed, encode(failed)
