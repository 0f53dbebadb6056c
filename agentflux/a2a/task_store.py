"""``KafkaTaskStore`` and ``KafkaTaskEventStream``: the SDK's cluster interfaces over ``agent.tasks.v1``.

The SDK's ``DefaultRequestHandler`` persists every applied task event through a
``VersionedTaskStore`` and fans it out through a ``TaskEventStream``. Here both
are the same Kafka record: ``save`` publishes an A2A snapshot (the task, the
event that produced it and the version it was based on) keyed by task id, and
subscribers on any replica read those records back through the ``TaskLog``.
So ``publish`` has nothing left to do, and a second replica answers ``GetTask``
and ``SubscribeToTask`` for tasks another one runs.

Contract (``VersionedTaskStore``): ``save`` raises
``ConcurrentTaskModificationError`` when ``prev_version`` is not the version
this replica knows, or when the task is already terminal; a write that moves a
non-terminal task to ``canceled`` skips the version check. The check here is
optimistic; the log's fold (``TaskLog``) is the final word, so a write that
loses a race on the broker is dropped everywhere, and its writer learns it on
its next save. Tasks are scoped by agent and by owner (the caller's user
name), as the SDK's stores do.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from a2a.server.cluster import (
    ConcurrentTaskModificationError,
    StoredTask,
    TaskEventStream,
    TaskVersion,
    VersionedEvent,
    VersionedTaskStore,
)
from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import resolve_user_scope
from a2a.server.tasks import InMemoryTaskStore
from a2a.types import ListTasksRequest, ListTasksResponse, Task
from a2a.types import TaskState as A2AState
from google.protobuf.json_format import MessageToDict

from agentflux.a2a.records import (
    SNAPSHOT_TYPE,
    TERMINAL,
    A2AInfo,
    TaskRecord,
    event_from_json,
    event_json,
    to_json,
    worker_status,
)
from agentflux.a2a.task_log import Snapshot, TaskLog
from agentflux.contract.codec import encode
from agentflux.contract.envelope import Envelope
from agentflux.contract.tasks import TaskErrorInfo, TaskPhase
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.transport.base import Transport

SKILL_METADATA = "skill"


class KafkaTaskStore(VersionedTaskStore):
    """The tasks of one agent, as ``agent.tasks.v1`` holds them. Safe for concurrent use."""

    def __init__(self, log: TaskLog, transport: Transport, *, agent: str, source: str = "a2a-gateway") -> None:
        self._log = log
        self._transport = transport
        self.agent = agent
        self._source = source

    def _visible(self, snapshot: Snapshot | None, owner: str) -> Snapshot | None:
        if snapshot is None or snapshot.agent != self.agent:
            return None
        if snapshot.source == "a2a" and snapshot.owner != owner:
            return None
        return snapshot

    async def save(
        self,
        task: Task,
        *,
        event: Any | None,
        prev: Task | None,
        prev_version: TaskVersion,
        context: ServerCallContext,
    ) -> TaskVersion:
        owner = resolve_user_scope(context)
        current = self._log.get(task.id)
        # A task known only from its worker's states (a fast first turn can finish before the
        # gateway saves the task at all) is a mesh view, not an A2A task: snapshots supersede it.
        a2a = current if current is not None and current.source != "worker" else None
        if a2a is not None and (a2a.agent != self.agent or a2a.task.status.state in TERMINAL):
            raise ConcurrentTaskModificationError(task.id)
        base = TaskVersion.MISSING if a2a is None else TaskVersion(a2a.version)
        if task.status.state == A2AState.TASK_STATE_CANCELED:
            if current is None:
                raise ConcurrentTaskModificationError(task.id)
        elif prev_version != base:
            raise ConcurrentTaskModificationError(task.id)
        return await self.write(task, event, owner=owner, base=0 if a2a is None else a2a.version)

    async def write(self, task: Task, event: Any | None, *, owner: str, base: int) -> TaskVersion:
        """Write a snapshot of ``task`` made on version ``base`` (the log's fold decides whether it counts)."""
        record = self._record(task, event, owner, base)
        envelope = Envelope.new(source=self._source, type=SNAPSHOT_TYPE, correlation_id=task.id, task_id=task.id)
        ack = await self._transport.publish(
            TASKS_TOPIC, encode(record), key=task.id.encode(), headers=envelope.to_headers()
        )
        stored = Task()
        stored.CopyFrom(task)
        self._log.wrote(task.id, Snapshot(stored, ack.offset + 1, self.agent, owner))
        return TaskVersion(ack.offset + 1)

    def _record(self, task: Task, event: Any | None, owner: str, prev_version: int) -> TaskRecord:
        state = worker_status(task.status.state)
        metadata = MessageToDict(task.metadata) if task.HasField("metadata") else {}
        result = None
        error = None
        if state is TaskPhase.COMPLETED:
            result = next((MessageToDict(p.data) for a in task.artifacts for p in a.parts if p.HasField("data")), None)
        elif state.terminal:
            reason = "\n".join(p.text for p in task.status.message.parts if p.HasField("text"))
            error = TaskErrorInfo(type=f"A2A{state.capitalize()}", message=reason or f"task {state}")
        return TaskRecord(
            task_id=task.id,
            skill=str(metadata.get(SKILL_METADATA, "")),
            state=state,
            correlation_id=task.id,
            result=result,
            error=error,
            worker=f"{self.agent}@{self._source}",
            a2a=A2AInfo(
                agent=self.agent,
                owner=owner,
                task=to_json(task),
                event=None if event is None else event_json(event),
                prev_version=prev_version,
            ),
        )

    async def get(self, task_id: str, context: ServerCallContext) -> StoredTask | None:
        await self._log.sync()
        snapshot = self._visible(self._log.get(task_id), resolve_user_scope(context))
        if snapshot is None:
            return None
        task = Task()
        task.CopyFrom(snapshot.task)
        return StoredTask(task, TaskVersion(snapshot.version))

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        await self._log.sync()
        owner = resolve_user_scope(context)
        page = InMemoryTaskStore(use_copying=True)
        for snapshot in self._log.snapshots(self.agent):
            if self._visible(snapshot, owner) is not None:
                await page.save(snapshot.task, context)
        return await page.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        if self._visible(self._log.get(task_id), resolve_user_scope(context)) is not None:
            envelope = Envelope.new(source=self._source, type=SNAPSHOT_TYPE, correlation_id=task_id, task_id=task_id)
            await self._transport.publish(TASKS_TOPIC, None, key=task_id.encode(), headers=envelope.to_headers())
            self._log.forget(task_id)


class KafkaTaskEventStream(TaskEventStream):
    """Task events for any replica, read from the snapshot records ``KafkaTaskStore`` wrote."""

    def __init__(self, log: TaskLog) -> None:
        self._log = log

    async def publish(self, task_id: str, event: VersionedEvent) -> None:
        """Nothing to do: the snapshot record that ``save`` wrote already carries the event."""

    async def subscribe(self, task_id: str, *, after: TaskVersion) -> AsyncGenerator[VersionedEvent, None]:
        last = after
        with self._log.follow(task_id) as queue:
            for entry in self._log.recent(task_id):
                versioned = _versioned(entry.state, entry.version)
                if versioned is not None and versioned.version.is_after(last):
                    last = versioned.version
                    yield versioned
            while True:
                entry = await queue.get()
                if not entry.accepted:
                    continue
                versioned = _versioned(entry.state, entry.version)
                if versioned is not None and versioned.version.is_after(last):
                    last = versioned.version
                    yield versioned

    async def destroy(self, task_id: str) -> None:
        """Nothing to release: subscriptions end with their consumers."""


def _versioned(state: TaskRecord | None, version: int) -> VersionedEvent | None:
    if state is None or state.a2a is None or state.a2a.event is None:
        return None
    event = event_from_json(state.a2a.event)
    return None if event is None else VersionedEvent(event=event, version=TaskVersion(version))
