"""Finished tasks a worker knows about, so a redelivered request is answered, not re-run.

Two sources fill it: the tasks this process finishes, and a restore from
``agent.tasks.v1`` whenever request partitions are assigned to this process.
Requests and task states are keyed by task id and have the same partition
count (co-partitioned, as Kafka Streams does with changelogs), so the owner of
request partition ``p`` restores only partition ``p`` of ``agent.tasks.v1``.
If the counts differ (the topics were created by hand), it restores every
partition and says so in the log.

A terminal state is sticky: a later ``submitted``/``working`` record for the
same task id (a re-delegation) does not hide it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable

from pydantic import ValidationError

from agentflux.contract.tasks import TaskState
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.transport.base import Tail, TopicPartition, Transport

log = logging.getLogger("agentflux.runtime")

RESTORE_WINDOW = 7 * 24 * 3600.0  # seconds of task history restored on assignment


class TaskStore:
    """An LRU map of task id to its terminal state, bounded to ``max_entries``."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._done: OrderedDict[str, TaskState] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._done)

    def get(self, task_id: str) -> TaskState | None:
        state = self._done.get(task_id)
        if state is not None:
            self._done.move_to_end(task_id)
        return state

    def put(self, state: TaskState) -> None:
        if not state.state.terminal:
            return
        self._done[state.task_id] = state
        self._done.move_to_end(state.task_id)
        while len(self._done) > self._max:
            self._done.popitem(last=False)

    async def restore(
        self,
        transport: Transport,
        request_partitions: Iterable[TopicPartition],
        skills: set[str],
        *,
        window: float = RESTORE_WINDOW,
    ) -> int:
        """Load the terminal states of ``skills`` for the co-partitions of ``request_partitions``."""
        requested = list(request_partitions)
        if not requested:
            return 0
        started = time.monotonic()
        tail = transport.tail()
        try:
            partitions = await self._co_partitions(tail, requested)
            since_ms = int((time.time() - window) * 1000)
            start = await tail.offsets_at(partitions, since_ms)
            end = await tail.end_offsets(partitions)
            records = await tail.read_range(start, end)
        finally:
            await tail.close()
        markers = {f'"skill":"{s}"'.encode() for s in skills}
        loaded = 0
        for record in records:
            if record.value is None or not any(m in record.value for m in markers):
                continue
            try:
                state = TaskState.model_validate_json(record.value)
            except ValidationError:
                log.debug("skipping an unreadable task state at %s", record.ref)
                continue
            if state.skill in skills and state.state.terminal:
                self.put(state)
                loaded += 1
        log.info(
            "restored %d finished task(s) from %d record(s) of %s in %.0f ms",
            loaded,
            len(records),
            ", ".join(f"{TASKS_TOPIC}[{tp.partition}]" for tp in partitions),
            (time.monotonic() - started) * 1000,
        )
        return loaded

    @staticmethod
    async def _co_partitions(tail: Tail, requested: list[TopicPartition]) -> list[TopicPartition]:
        state_count = await tail.partition_count(TASKS_TOPIC)
        counts = {tp.topic: await tail.partition_count(tp.topic) for tp in requested}
        if all(c == state_count for c in counts.values()):
            return sorted({TopicPartition(TASKS_TOPIC, tp.partition) for tp in requested}, key=lambda t: t.partition)
        log.warning(
            "%s has %d partitions but the request topics have %s: not co-partitioned, restoring all of it",
            TASKS_TOPIC,
            state_count,
            counts,
        )
        return [TopicPartition(TASKS_TOPIC, p) for p in range(state_count)]
