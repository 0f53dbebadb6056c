"""A consumer-group member that runs records concurrently across keys and in order per key.

The technique is Confluent's Parallel Consumer's: records of one partition are
dispatched as soon as they are read; a record waits only for the previous
record with the same key. Offsets are committed up to the lowest record that
has not finished (see ``offsets``), so at-least-once holds however the
records interleave.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from agentflux.runtime.offsets import OffsetTracker
from agentflux.transport.base import AssignCallback, Consumer, Record, TopicPartition, Transport

log = logging.getLogger("agentflux.runtime")

ProcessFn = Callable[[Record], Awaitable[None]]
_KEEPALIVE = 10.0  # seconds between polls at most, while waiting for in-flight work
ChainKey = tuple[TopicPartition, bytes | None]


class KeyOrderedConsumer:
    """Contract for ``process``: it runs concurrently for different keys, never for
    two records with one key, and returns when its record may be committed. It
    must handle its own errors (retry, dead-letter); if it raises anyway, the
    consumer stops with that error and the record is redelivered after restart.
    On shutdown past ``grace`` it is cancelled, and its record is redelivered.
    """

    def __init__(
        self,
        transport: Transport,
        group_id: str,
        topics: Sequence[str],
        process: ProcessFn,
        *,
        concurrency: int = 16,
        max_buffered: int | None = None,
        commit_interval: float = 0.2,
        revoke_grace: float = 5.0,
        grace: float = 30.0,
        on_assigned: AssignCallback | None = None,
    ) -> None:
        self.group_id = group_id
        self._assign_hook = on_assigned  # runs before any record of the new partitions is dispatched
        self._transport = transport
        self._topics = list(topics)
        self._process = process
        self._slots = asyncio.Semaphore(concurrency)
        self._high = max_buffered or max(5_000, concurrency * 16)
        self._commit_interval = commit_interval
        self._revoke_grace = revoke_grace
        self.grace = grace
        self._tracker = OffsetTracker()
        self._chains: dict[ChainKey, asyncio.Task[None]] = {}
        self._generation: dict[TopicPartition, int] = {}
        self._paused = False
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self._consumer: Consumer | None = None

    @property
    def assigned(self) -> list[TopicPartition]:
        return list(self._generation)

    async def _on_assigned(self, tps: list[TopicPartition]) -> None:
        if self._assign_hook is not None:
            await self._assign_hook(tps)
        for tp in tps:
            self._generation[tp] = self._generation.get(tp, 0) + 1
        log.info("%s: assigned %s", self.group_id, _fmt(tps))
        if self._paused and self._consumer is not None:
            await self._consumer.pause(tps)

    async def _on_revoked(self, tps: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        owned = [tp for tp in tps if tp in self._generation]
        for tp in owned:
            del self._generation[tp]  # records of these partitions no longer start
        # Each key's last task waits for the ones before it: waiting for the tails waits for all.
        running = [task for (tp, _), task in self._chains.items() if tp in owned]
        if running:
            await asyncio.wait(running, timeout=self._revoke_grace)
        offsets = self._tracker.to_commit(owned)
        self._tracker.forget(owned)
        for key in [k for k in self._chains if k[0] in owned]:
            del self._chains[key]
        log.info("%s: revoked %s, committing %s", self.group_id, _fmt(owned), offsets)
        return offsets

    async def run(self) -> None:
        """Consume until ``stop()``; then finish or cancel in-flight work and commit."""
        self._consumer = self._transport.consumer(
            self.group_id, self._topics, on_assigned=self._on_assigned, on_revoked=self._on_revoked
        )
        loop = asyncio.get_running_loop()
        next_commit = loop.time() + self._commit_interval
        try:
            while not self._stopping.is_set() and self._failure is None:
                await self._apply_backpressure()
                for record in await self._consumer.poll(500, 0.1):
                    self._dispatch(record)
                if loop.time() >= next_commit:
                    await self._commit()
                    next_commit = loop.time() + self._commit_interval
        finally:
            await self._drain()
            await self._consumer.close()
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        self._stopping.set()

    async def _drain(self) -> None:
        tasks = list(self._chains.values())
        if tasks:
            log.info("%s: waiting up to %gs for %d in-flight records", self.group_id, self.grace, len(tasks))
            _, pending = await asyncio.wait(tasks, timeout=self.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await self._commit()

    async def _commit(self) -> None:
        offsets = self._tracker.to_commit()
        if offsets and self._consumer is not None:
            await self._consumer.commit(offsets)
            self._tracker.mark_committed(offsets)

    async def _apply_backpressure(self) -> None:
        """Hold off reading while ``max_buffered`` records are in flight.

        Waiting is preferred to ``pause()``, because pausing makes librdkafka
        drop what it has already prefetched. But ``poll()`` must still be called
        now and then (``max.poll.interval.ms``), so after ``_KEEPALIVE`` seconds
        the partitions are paused and the caller polls, which then returns nothing.
        """
        assert self._consumer is not None
        loop = asyncio.get_running_loop()
        if self._tracker.in_flight() >= self._high:
            deadline = loop.time() + _KEEPALIVE
            while self._tracker.in_flight() > self._high // 2 and not self._stopping.is_set():
                if self._failure is not None:
                    return
                if loop.time() >= deadline:
                    if not self._paused:
                        self._paused = True
                        await self._consumer.pause(self.assigned)
                    return
                await asyncio.sleep(0.005)
        if self._paused:
            self._paused = False
            await self._consumer.resume(self.assigned)

    def _dispatch(self, record: Record) -> None:
        tp = record.tp
        generation = self._generation.get(tp)
        if generation is None:
            return  # read just before its partition was revoked: the new owner reads it
        self._tracker.add(tp, record.offset)
        chain_key = (tp, record.key)
        task = asyncio.create_task(self._run_one(record, tp, generation, self._chains.get(chain_key)))
        self._chains[chain_key] = task
        task.add_done_callback(lambda t: self._forget(t, chain_key))

    def _forget(self, task: asyncio.Task[None], chain_key: ChainKey) -> None:
        if self._chains.get(chain_key) is task:
            del self._chains[chain_key]

    async def _run_one(
        self, record: Record, tp: TopicPartition, generation: int, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if self._generation.get(tp) != generation:
            return
        async with self._slots:
            try:
                await self._process(record)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                log.critical("%s: processing %s failed; stopping", self.group_id, record.ref, exc_info=True)
                self._failure = exc
                return
        if self._generation.get(tp) == generation:
            self._tracker.complete(tp, record.offset)


def _fmt(tps: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in tps) or "nothing"
