"""One reader of ``agent.tasks.v1`` per gateway process: the A2A task view and its followers.

The log is the truth. ``TaskLog`` reads every partition of ``agent.tasks.v1``
from ``window`` seconds ago, folds the A2A snapshots it finds into a view
(task id -> latest accepted ``Task`` and its version), and hands each record to
whoever follows that record's key (an executor waiting for its skill task, a
subscriber tailing an A2A task).

Versions are ``offset + 1`` of the snapshot record; all records of one task
share a partition, so they grow with every write. The fold is a pure function
of the log, so every replica computes the same view:

* a snapshot is accepted when its ``prev_version`` is the folded version (a
  compare-and-set decided by log order), or when it moves a non-terminal task
  to ``canceled`` (the spec's cancel override);
* a terminal A2A task never changes again;
* a worker state counts only for a task that has no snapshot (a task
  delegated inside the mesh, shown read-only) and never bumps the version of one.

A process's own acknowledged writes show at once (``pending``) until the
reader reaches them; from then on the fold decides. The view keeps the
``max_tasks`` most recently changed tasks; older ones answer ``TaskNotFound``. ``sync()`` waits until the
reader has every record that was on the broker when it was called, so a
``GetTask`` on one replica sees a write acknowledged on another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from a2a.types import Task
from a2a.types import TaskState as A2AState

from agentflux.a2a.records import (
    SNAPSHOT_TYPE,
    TERMINAL,
    WORKER_TYPE,
    TaskRecord,
    read,
    record_type,
    task_from_json,
)
from agentflux.a2a.translate import worker_task
from agentflux.contract.errors import LifecycleError
from agentflux.contract.tasks import TaskReport
from agentflux.contract.topics import TASKS_TOPIC, reserved_specs
from agentflux.transport.base import Record, TopicPartition, Transport
from agentflux.transport.follower import TopicFollower

log = logging.getLogger("agentflux.a2a")

WINDOW = 7 * 24 * 3600.0
MAX_TASKS = 200_000  # tasks kept in the view; the least recently changed go first
_RECENT = 256  # snapshot events kept per live task, for subscribers that attach a little late
WORKING_STATES = frozenset({A2AState.TASK_STATE_SUBMITTED, A2AState.TASK_STATE_WORKING})


@dataclass(frozen=True)
class Snapshot:
    task: Task
    version: int
    agent: str
    owner: str = ""
    source: str = "a2a"  # or "worker": a task known only from the worker's states


@dataclass(frozen=True)
class Entry:
    """One record as a follower sees it; ``accepted`` says whether the fold took a snapshot."""

    record: Record
    state: TaskRecord | None
    kind: str
    version: int
    accepted: bool = False


class TaskLog:
    def __init__(self, transport: Transport, *, window: float = WINDOW, max_tasks: int = MAX_TASKS) -> None:
        self._transport = transport
        self._window = window
        self._max_tasks = max_tasks
        self._follower: TopicFollower | None = None
        self._partitions: list[TopicPartition] = []
        self._folded: dict[str, Snapshot] = {}
        self._pending: dict[str, Snapshot] = {}
        self._recent: dict[str, deque[Entry]] = defaultdict(lambda: deque(maxlen=_RECENT))
        self._followers: dict[str, set[asyncio.Queue[Entry]]] = defaultdict(set)
        self._outcomes: dict[str, tuple[TaskReport, int, float]] = {}  # skill outcomes not yet in their A2A task

    async def start(self, timeout: float = 30.0) -> None:
        """Read the log up to its current end, then keep following it. Idempotent."""
        if self._follower is not None:
            return
        await self._transport.ensure_topics([s for s in reserved_specs() if s.name == TASKS_TOPIC])
        self._follower = follower = TopicFollower(self._transport, self._apply_all, name="task-log")
        count = await follower.tail.partition_count(TASKS_TOPIC)
        self._partitions = [TopicPartition(TASKS_TOPIC, p) for p in range(count)]
        start = await follower.tail.offsets_at(self._partitions, int((time.time() - self._window) * 1000))
        await follower.follow(start)
        await self.sync(timeout)
        log.info("task log: %d A2A task(s) known from %s", len(self._folded), TASKS_TOPIC)

    async def sync(self, timeout: float = 5.0) -> None:
        """Wait until every record on the broker now has been read (at most ``timeout`` seconds)."""
        if self._follower is None:
            raise LifecycleError("TaskLog used before start()")
        if not await self._follower.sync(self._partitions, timeout):
            log.warning(
                "task log: not caught up with %s after %.1fs; answering from what was read", TASKS_TOPIC, timeout
            )

    def _apply_all(self, records: list[Record]) -> None:
        for record in records:
            self._apply(record)

    def _apply(self, record: Record) -> None:
        key = (record.key or b"").decode("utf-8", "replace")
        state = read(record)
        kind = record_type(record)
        version = record.offset + 1
        accepted = False
        if record.value is None:
            self.forget(key)
        elif state is not None and state.a2a is not None and state.a2a.task is not None and kind == SNAPSHOT_TYPE:
            accepted = self._fold_snapshot(key, state, version)
        elif state is not None and state.a2a is None and kind in (WORKER_TYPE, ""):
            self._fold_worker(key, state, version)
        entry = Entry(record, state, kind, version, accepted)
        if accepted:
            self._recent[key].append(entry)
        for queue in self._followers.get(key, ()):
            queue.put_nowait(entry)

    def _fold_snapshot(self, key: str, state: TaskRecord, version: int) -> bool:
        info = state.a2a
        assert info is not None and info.task is not None
        pending = self._pending.get(key)
        if pending is not None and pending.version <= version:
            del self._pending[key]
        current = self._folded.get(key)
        if current is not None and current.version >= version:
            return False  # already folded
        if current is not None and current.source != "worker" and current.task.status.state in TERMINAL:
            return False  # a finished A2A task stays finished (a worker's view of it does not count)
        task = task_from_json(info.task)
        base = 0 if current is None or current.source == "worker" else current.version
        cancel = task.status.state == A2AState.TASK_STATE_CANCELED and current is not None
        if info.prev_version != base and not cancel:
            log.info("task %s: a write based on version %d lost to version %d", key, info.prev_version, base)
            return False
        self._keep(key, Snapshot(task, version, info.agent, info.owner))
        if task.status.state in TERMINAL:
            self._recent.pop(key, None)
        return True

    def _fold_worker(self, key: str, state: TaskRecord, version: int) -> None:
        current = self._folded.get(key)
        if current is not None and current.source != "worker":
            if state.state.terminal and current.task.status.state in WORKING_STATES and version > current.version:
                self._outcomes[key] = (state, version, time.monotonic())  # its gateway should record it next
            return  # an A2A task's snapshots are its truth
        if current is not None and current.task.status.state in TERMINAL:
            return  # a finished task stays finished
        agent = (state.worker or "").partition("@")[0]
        self._keep(key, Snapshot(worker_task(state), version, agent, source="worker"))

    def _keep(self, key: str, snapshot: Snapshot) -> None:
        self._folded.pop(key, None)  # re-inserted last: the dict's order is least recently changed first
        self._folded[key] = snapshot
        while len(self._folded) > self._max_tasks:
            self.forget(next(iter(self._folded)))

    def get(self, task_id: str) -> Snapshot | None:
        folded, pending = self._folded.get(task_id), self._pending.get(task_id)
        if pending is not None and (folded is None or pending.version > folded.version):
            return pending
        return folded

    def wrote(self, task_id: str, snapshot: Snapshot) -> None:
        """Show an acknowledged write of this process at once, until the reader reaches it."""
        folded = self._folded.get(task_id)
        if folded is None or snapshot.version > folded.version:
            self._pending[task_id] = snapshot

    def unrecorded(self, older_than: float) -> list[tuple[Snapshot, TaskReport]]:
        """A2A tasks still working whose skill task finished more than ``older_than`` seconds ago.

        Only the first turn's skill task shares the A2A task's id (and partition), so
        only it is found here; its outcome comes after the task's latest snapshot.
        """
        now, found = time.monotonic(), []
        for key, (state, version, seen) in list(self._outcomes.items()):
            snapshot = self._folded.get(key)
            if snapshot is None or snapshot.version > version or snapshot.task.status.state not in WORKING_STATES:
                del self._outcomes[key]  # recorded, or superseded
            elif now - seen >= older_than:
                found.append((snapshot, state))
        return found

    def forget(self, task_id: str) -> None:
        self._outcomes.pop(task_id, None)
        self._folded.pop(task_id, None)
        self._pending.pop(task_id, None)
        self._recent.pop(task_id, None)

    def snapshots(self, agent: str) -> list[Snapshot]:
        ids = set(self._folded) | set(self._pending)
        found = (self.get(i) for i in ids)
        return [s for s in found if s is not None and s.agent == agent]

    def recent(self, task_id: str) -> list[Entry]:
        return list(self._recent.get(task_id, ()))

    @contextmanager
    def follow(self, key: str) -> Iterator[asyncio.Queue[Entry]]:
        """A queue of every record keyed ``key`` read from now on (register before you publish)."""
        queue: asyncio.Queue[Entry] = asyncio.Queue()
        self._followers[key].add(queue)
        try:
            yield queue
        finally:
            self._followers[key].discard(queue)
            if not self._followers[key]:
                del self._followers[key]

    async def close(self) -> None:
        if self._follower is not None:
            await self._follower.close()
            self._follower = None
