"""Finished tasks a worker knows about, so a redelivered request is answered, not re-run.

Two sources fill it: the tasks this process finishes, and a restore from
``agent.tasks.v1`` whenever request partitions are assigned to this process,
bounded to what the requests that will be delivered again can need.
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
from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from agentflux.contract.tasks import TaskReport
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.transport.base import Record, Tail, TopicPartition, Transport

log = logging.getLogger("agentflux.runtime")

# Request and state timestamps come from different producers' clocks: read this much earlier.
CLOCK_SKEW = 30.0


class FinishedTasks:
    """An LRU map of task id to its terminal state, bounded to ``max_entries``."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self._done: OrderedDict[str, TaskReport] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._done)

    def get(self, task_id: str) -> TaskReport | None:
        state = self._done.get(task_id)
        if state is not None:
            self._done.move_to_end(task_id)
        return state

    def put(self, state: TaskReport) -> None:
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
        committed: Mapping[TopicPartition, int],
    ) -> int:
        """Load the terminal states that redelivered requests of these partitions may need.

        ``committed`` is the group's committed offset per partition (absent:
        none). Only requests at or after it are delivered again, and a task's
        terminal state is written after its request, so the restore reads
        ``agent.tasks.v1`` from the first uncommitted request's
        timestamp (less ``CLOCK_SKEW``). With nothing uncommitted it reads nothing.
        """
        requested = list(request_partitions)
        if not requested:
            return 0
        started = time.monotonic()
        tail = transport.tail()
        try:
            since = await self._first_uncommitted(tail, committed, requested)
            if not since:
                return 0
            partitions = await self._co_partitions(tail, since)
            start: dict[TopicPartition, int] = {}
            for tp, since_ms in partitions.items():
                start.update(await tail.offsets_at([tp], since_ms))
            records = await tail.read_range(start, await tail.end_offsets(list(partitions)))
        finally:
            await tail.close()
        loaded = self._load(records, skills)
        log.info(
            "restored %d finished task(s) from %d record(s) of %s in %.0f ms",
            loaded,
            len(records),
            ", ".join(f"{TASKS_TOPIC}[{tp.partition}]" for tp in partitions),
            (time.monotonic() - started) * 1000,
        )
        return loaded

    def _load(self, records: list[Record], skills: set[str]) -> int:
        markers = {f'"skill":"{s}"'.encode() for s in skills}
        loaded = 0
        for record in records:
            if record.value is None or not any(m in record.value for m in markers):
                continue
            try:
                state = TaskReport.model_validate_json(record.value)
            except ValidationError:
                log.debug("skipping an unreadable task state at %s", record.ref)
                continue
            if state.skill in skills and state.state.terminal:
                self.put(state)
                loaded += 1
        return loaded

    @staticmethod
    async def _first_uncommitted(
        tail: Tail, committed: Mapping[TopicPartition, int], requested: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Per request partition with uncommitted records: the timestamp (ms) to restore from."""
        earliest = await tail.offsets_at(requested, 0)
        ends = await tail.end_offsets(requested)
        first = {tp: max(committed.get(tp) or 0, earliest[tp]) for tp in requested}
        pending = {tp: offset for tp, offset in first.items() if offset < ends[tp]}
        if not pending:
            return {}
        heads = await tail.read_range(pending, {tp: offset + 1 for tp, offset in pending.items()})
        stamps = {r.tp: r.timestamp_ms for r in heads}
        return {tp: max(0, stamps.get(tp, 0) - int(CLOCK_SKEW * 1000)) for tp in pending}

    @staticmethod
    async def _co_partitions(tail: Tail, since: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The ``agent.tasks.v1`` partitions to read, each with the timestamp to read from."""
        state_count = await tail.partition_count(TASKS_TOPIC)
        counts = {tp.topic: await tail.partition_count(tp.topic) for tp in since}
        if all(c == state_count for c in counts.values()):
            out: dict[TopicPartition, int] = {}
            for tp, since_ms in since.items():
                co = TopicPartition(TASKS_TOPIC, tp.partition)
                out[co] = min(out.get(co, since_ms), since_ms)
            return out
        log.warning(
            "%s has %d partitions but the request topics have %s: not co-partitioned, restoring all of it",
            TASKS_TOPIC,
            state_count,
            counts,
        )
        oldest = min(since.values())
        return {TopicPartition(TASKS_TOPIC, p): oldest for p in range(state_count)}
