"""Receiving task results: one reply partition per skill, assigned before any request is sent.

Design (request-reply): results travel on the shared ``agent.task-results.{skill}``
topic, and every requester process reads one partition of it, chosen from its
requester id, through a group-less ``Tail``. The request names that partition
in ``ce_replyto`` (``agent.task-results.{skill}/{partition}``) and the worker
publishes the result to exactly that partition. Before the first request for a
skill is published, the requester takes the partition's end offset and assigns
it there, so no reply can be missed however fast it comes (a consumer that
starts at "latest" after sending can). Why not a reply topic per requester:
the topic contract fixes the task topics per skill; creating and deleting a
topic per process is slow, leaks topics when processes die, and cannot be
covered by ACLs planned from declarations. Several requesters may share a
partition; each keeps only the results of tasks it is waiting for. The reply
partitions are read by a ``TopicFollower``, so a broker outage only delays
results: the delegations waiting for them keep waiting (up to their timeouts).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import OrderedDict

from agentflux.contract.errors import ConfigError, LifecycleError, UnknownSkill
from agentflux.contract.payloads import Payloads
from agentflux.contract.tasks import TaskReport, format_reply_to
from agentflux.contract.topics import TopicSpec, task_requests_topic, task_results_topic
from agentflux.runtime.retry import until_registry_answers
from agentflux.transport.base import Record, TopicPartition, Transport
from agentflux.transport.follower import TopicFollower

log = logging.getLogger("agentflux.runtime")

_ABANDONED_KEPT = 50_000  # task ids remembered after a timeout, to log their late replies
# Short: a new skill's partition is assigned (on the same thread) between two polls.
_POLL_TIMEOUT = 0.02


class ReplyListener:
    """Routes results to the callers waiting for them. Created lazily, on the first delegation."""

    def __init__(self, transport: Transport, requester_id: str, payloads: Payloads | None = None) -> None:
        self._transport = transport
        self._requester_id = requester_id
        self._payloads = payloads  # reads results in the Confluent wire format (a worker's registry format)
        self._follower = TopicFollower(transport, self._route_all, name="replies", poll_timeout=_POLL_TIMEOUT)
        self._addresses: dict[str, str] = {}
        self._setups: dict[str, asyncio.Future[str]] = {}
        self._lock = asyncio.Lock()
        self._pending: dict[str, asyncio.Future[TaskReport]] = {}
        self._abandoned: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
        self._closed = False
        self._decoding: set[asyncio.Future[None]] = set()

    async def address(self, skill: str) -> str:
        """The reply address for ``skill``; the first call assigns its partition at the current end."""
        known = self._addresses.get(skill)
        if known is not None:
            return known
        if self._closed:
            raise LifecycleError("the reply listener is closed")
        setup = self._setups.get(skill)
        if setup is None:  # one setup per skill, shielded: a caller's timeout must not cut it in half
            setup = self._setups[skill] = asyncio.ensure_future(self._listen(skill))
        try:
            address = await asyncio.shield(setup)
        except Exception:
            if self._setups.get(skill) is setup:
                del self._setups[skill]
            raise
        self._addresses[skill] = address
        return address

    async def _listen(self, skill: str) -> str:
        async with self._lock:
            return await self._assign(skill)

    async def _assign(self, skill: str) -> str:
        tail = self._follower.tail
        requests = await tail.partition_count(task_requests_topic(skill))
        if requests == 0:
            raise UnknownSkill(f"no agent offers skill {skill!r}: topic {task_requests_topic(skill)} does not exist")
        topic = task_results_topic(skill)
        count = await tail.partition_count(topic)
        if count == 0:
            await self._transport.ensure_topics([TopicSpec(topic, partitions=requests)])
            count = await tail.partition_count(topic)
        tp = TopicPartition(topic, zlib.crc32(self._requester_id.encode()) % count)
        await self._follower.follow(await tail.end_offsets([tp]))
        log.debug("listening for %s results on %s[%d]", skill, topic, tp.partition)
        return format_reply_to(topic, tp.partition)

    @property
    def waiting(self) -> int:
        """How many delegations wait for their results now."""
        return len(self._pending)

    def expect(self, task_id: str) -> asyncio.Future[TaskReport]:
        """A future for the result of ``task_id``; register it before publishing the request."""
        if task_id in self._pending:
            raise LifecycleError(f"a delegation of task {task_id} is already waiting for its result")
        future: asyncio.Future[TaskReport] = asyncio.get_running_loop().create_future()
        self._pending[task_id] = future
        return future

    def abandon(self, task_id: str, skill: str, why: str) -> None:
        """Stop waiting for ``task_id``; its result, if it comes, is logged and dropped."""
        future = self._pending.pop(task_id, None)
        if future is not None and not future.done():
            future.cancel()
        self._abandoned[task_id] = (skill, why, time.monotonic())
        while len(self._abandoned) > _ABANDONED_KEPT:
            self._abandoned.popitem(last=False)

    def _route_all(self, records: list[Record]) -> None:
        for record in records:
            self._route(record)

    def _route(self, record: Record) -> None:
        task_id = next((v.decode() for k, v in record.headers if k == "ce_taskid" and v), None)
        if task_id is None:
            return
        future = self._pending.pop(task_id, None)
        if future is None:
            late = self._abandoned.pop(task_id, None)
            if late is not None:
                skill, why, since = late
                log.warning(
                    "discarding the result of task %s (%s) that arrived %.1fs after the delegation %s",
                    task_id,
                    skill,
                    time.monotonic() - since,
                    why,
                )
            return  # another requester's result on a shared partition, or a re-emitted one
        if future.done():
            return
        if self._payloads is not None and self._payloads.framed(record.value):
            decoding = asyncio.ensure_future(self._resolve(future, record, self._payloads))
            self._decoding.add(decoding)
            decoding.add_done_callback(self._decoding.discard)
            return
        if (record.value or b"")[:1] == b"\x00":
            future.set_exception(
                ConfigError(
                    f"the result of task {task_id} is in a schema registry's wire format, and no registry is "
                    "configured here: set AGENTFLUX_SCHEMA_REGISTRY_URL"
                )
            )
            return
        try:
            future.set_result(TaskReport.model_validate_json(record.value or b""))
        except ValueError as exc:
            future.set_exception(exc)

    async def _resolve(self, future: asyncio.Future[TaskReport], record: Record, payloads: Payloads) -> None:
        try:
            data = await until_registry_answers("replies", lambda: payloads.decode(record.topic, record.value, dict))
            report = TaskReport.model_validate(data)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(report)

    async def close(self) -> None:
        self._closed = True
        for decoding in self._decoding:
            decoding.cancel()
        for setup in self._setups.values():
            setup.cancel()
        await asyncio.gather(*self._setups.values(), return_exceptions=True)
        await self._follower.close()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
