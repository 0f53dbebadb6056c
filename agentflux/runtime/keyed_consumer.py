"""A consumer-group member that runs records concurrently across keys and in order per key.

The technique is Confluent's Parallel Consumer's: records of one partition are
dispatched as soon as they are read; a record waits only for the previous
record with the same key. The records of one key form a chain, run in order by
one of at most ``concurrency`` runner tasks. A runner takes the next ready chain
when its own is empty or, to stay fair, after each record while other chains
wait. So a backlog costs a queue entry per record, and a busy consumer creates a
task only when a runner is missing, not per record or per key (``create_task``
costs several microseconds in Python 3.11). Offsets are committed up to the
lowest record that has not finished, with the records finished above it in the
commit's metadata (see ``offsets``), so at-least-once holds however the records
interleave, and a new owner skips what already finished.

Faults stay local to what they hit:

* **Backpressure is per partition.** A partition holding ``max_buffered``
  records (running, waiting for their key, or finished above a slow one) is
  waited for while it drains, and paused when it is stuck behind one record;
  the other partitions go on.
* **Revocation never overlaps.** Records of a revoked partition get
  ``revoke_grace`` seconds to finish; then they are cancelled, and the
  partition is released only once they have stopped.
* **Broker outages are waited out.** A commit that fails is retried by the
  next one; a consumer that fails fatally (a fenced static member) is replaced
  by a new one that joins the group again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

from agentflux.contract.errors import CommitFailed, ConsumerFailed
from agentflux.runtime.offsets import OffsetTracker
from agentflux.transport.base import Consumer, Position, Positions, Record, TopicPartition, Transport

log = logging.getLogger("agentflux.runtime")

ProcessFn = Callable[[Record], Awaitable[None]]
AssignHook = Callable[[list[TopicPartition], Positions], Awaitable[None]]
ChainKey = tuple[TopicPartition, bytes | None]
_CANCEL_PATIENCE = 5.0  # seconds a cancelled handler gets to unwind
_FINAL_COMMIT_PATIENCE = 10.0
_REJOIN_BACKOFF = 1.0
_STALL = 1.0  # seconds a full partition's lowest unfinished record may stay before the partition is paused


class KeyOrderedConsumer:
    """Contract for ``process``: it runs concurrently for different keys, never for
    two records with one key, and returns when its record may be committed. It
    must handle its own errors (retry, dead-letter); if it raises anyway (a bug
    in the runtime, not a handler error), the consumer stops with that error and
    the record is redelivered after a restart. It may be cancelled (shutdown past
    ``grace``, revocation past ``revoke_grace``); its record is then redelivered.

    ``urgent(record)`` marks records that must not wait for their key or for a
    free slot (task cancellations): they run as soon as they are read.
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
        on_assigned: AssignHook | None = None,
        urgent: Callable[[Record], bool] | None = None,
    ) -> None:
        self.group_id = group_id
        self._assign_hook = on_assigned  # runs before any record of the new partitions is dispatched
        self._transport = transport
        self._topics = list(topics)
        self._process = process
        self._urgent = urgent
        self._concurrency = concurrency
        self.max_buffered = max_buffered or max(2_000, concurrency * 64)
        self._commit_interval = commit_interval
        self._revoke_grace = revoke_grace
        self.grace = grace
        self._tracker = OffsetTracker()
        self._chains: dict[ChainKey, deque[Record]] = {}  # per key: its records not finished yet, in order
        self._ready: deque[tuple[ChainKey, int]] = deque()  # chains waiting for a runner, with their generation
        self._runners: set[asyncio.Task[None]] = set()
        self._active: dict[TopicPartition, set[asyncio.Task[None]]] = {}  # the tasks running a record of each partition
        self._generation: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._heads: dict[TopicPartition, tuple[int | None, float]] = {}  # a full partition's head, and since when
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self._consumer: Consumer | None = None
        self._commit_failing = False
        self._committed: dict[TopicPartition, int] = {}  # per owned partition: the position the group has

    @property
    def assigned(self) -> list[TopicPartition]:
        return list(self._generation)

    @property
    def paused(self) -> set[TopicPartition]:
        """Partitions paused by backpressure right now."""
        return set(self._paused)

    @property
    def committed(self) -> dict[TopicPartition, int]:
        """The committed position of each partition this member owns: the next offset to read.

        It is what the group had when the partition was assigned, then what this
        member committed since; every record below it has been handled. A
        partition with no commit yet is absent. Compared with the partitions'
        end offsets (``Tail.end_offsets``) it says whether everything there is
        was handled: ``agentflux.testing.TestApp.drain`` waits for that.
        """
        return {tp: self._committed[tp] for tp in self._generation if tp in self._committed}

    async def _on_assigned(self, tps: list[TopicPartition], committed: Positions) -> None:
        if self._assign_hook is not None:
            await self._assign_hook(tps, committed)
        skipped = 0
        for tp in tps:
            self._generation[tp] = self._generation.get(tp, 0) + 1
            skipped += self._tracker.restore(tp, committed.get(tp))
            if tp in committed:
                self._committed[tp] = committed[tp].offset
        log.info(
            "%s: assigned %s%s", self.group_id, _fmt(tps), f" ({skipped} finished records to skip)" * bool(skipped)
        )

    async def _on_revoked(self, tps: list[TopicPartition]) -> Positions:
        owned = [tp for tp in tps if tp in self._generation]
        positions = await self._release(owned, self._revoke_grace)
        log.info(
            "%s: revoked %s, committing %s", self.group_id, _fmt(owned), {tp: p.offset for tp, p in positions.items()}
        )
        return positions

    async def _release(self, owned: list[TopicPartition], grace: float) -> dict[TopicPartition, Position]:
        """Stop dispatching ``owned``, let their records finish (cancel them after ``grace``), forget them."""
        for tp in owned:
            self._generation.pop(tp, None)  # records of these partitions no longer start
            self._paused.discard(tp)
            self._heads.pop(tp, None)
            self._committed.pop(tp, None)
        if self._ready:
            self._ready = deque(entry for entry in self._ready if entry[0][0] not in owned)
        await self._stop_work(owned, grace)
        positions = self._tracker.to_commit(owned)
        self._tracker.forget(owned)
        for key in [k for k in self._chains if k[0] in owned]:
            del self._chains[key]
        return positions

    def _busy(self, tps: set[TopicPartition]) -> bool:
        """Whether a record of ``tps`` is running, or a chain of theirs waits for a runner."""
        return any(self._active.get(tp) for tp in tps) or any(key[0] in tps for key, _ in self._ready)

    async def _stop_work(self, tps: Iterable[TopicPartition], grace: float) -> None:
        """Wait up to ``grace`` for the records of ``tps`` to finish (their chains too, while still owned),
        then cancel the tasks running them and drop their waiting chains."""
        owned = set(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._busy(owned) and loop.time() < deadline:
            await asyncio.sleep(0.01)  # revocation and shutdown only: a short poll, no per-record signalling
        if not self._busy(owned):
            return
        for tp in owned:
            self._generation.pop(tp, None)  # nothing more of them starts (a shutdown: they are redelivered)
        self._ready = deque(entry for entry in self._ready if entry[0][0] not in owned)
        running = {task for tp in owned for task in self._active.get(tp, ())}
        log.warning("%s: cancelling %d record(s) still running after %gs", self.group_id, len(running), grace)
        for task in running:
            task.cancel()
        if not running:
            return
        _, stuck = await asyncio.wait(running, timeout=_CANCEL_PATIENCE)
        if stuck:
            log.error("%s: %d handler(s) ignored cancellation for %gs", self.group_id, len(stuck), _CANCEL_PATIENCE)

    def _subscribe(self) -> Consumer:
        return self._transport.consumer(
            self.group_id, self._topics, on_assigned=self._on_assigned, on_revoked=self._on_revoked
        )

    async def run(self) -> None:
        """Consume until ``stop()``; then finish or cancel in-flight work and commit."""
        self._consumer = self._subscribe()
        loop = asyncio.get_running_loop()
        next_commit = loop.time() + self._commit_interval
        try:
            while not self._stopping.is_set() and self._failure is None:
                try:
                    for record in await self._consumer.poll(500, 0.1):
                        self._dispatch(record)
                    await self._apply_backpressure()
                    if loop.time() >= next_commit:
                        await self._commit()
                        next_commit = loop.time() + self._commit_interval
                except ConsumerFailed as exc:
                    await self._rejoin(exc)
        finally:
            await self._drain()
            await self._consumer.close()
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        self._stopping.set()

    async def _rejoin(self, error: ConsumerFailed) -> None:
        """Replace a consumer that failed fatally: its partitions are given up, a new one joins the group."""
        hint = " (two processes with one --instance-id keep fencing each other)" if "fenced" in str(error) else ""
        log.warning("%s: %s; joining the group again with a new consumer%s", self.group_id, error, hint)
        owned = list(self._generation)
        await self._release(owned, self._revoke_grace)  # nothing can be committed through a failed consumer
        assert self._consumer is not None
        await self._consumer.close()
        await asyncio.sleep(_REJOIN_BACKOFF)
        self._consumer = self._subscribe()

    async def _drain(self) -> None:
        running = {tp for tp, tasks in self._active.items() if tasks} | {key[0] for key, _ in self._ready}
        count = self._tracker.in_flight()
        if running:
            log.info("%s: waiting up to %gs for %d in-flight records", self.group_id, self.grace, count)
            await self._stop_work(running, self.grace)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FINAL_COMMIT_PATIENCE
        while not await self._commit() and loop.time() < deadline:
            await asyncio.sleep(0.5)
        if self._tracker.to_commit():
            log.warning(
                "%s: could not commit before stopping; records since the last commit will be delivered again",
                self.group_id,
            )

    async def _commit(self) -> bool:
        """Commit what changed; True when nothing is left to commit. A failure is retried by the next call."""
        positions = self._tracker.to_commit()
        if not positions or self._consumer is None:
            return True
        try:
            await self._consumer.commit(positions)
        except CommitFailed as exc:
            if not self._commit_failing and not self._transport.watch.lost:
                log.warning("%s: %s; retrying with the next commit", self.group_id, exc)
            self._commit_failing = True
            return False
        except ConsumerFailed as exc:
            log.warning("%s: cannot commit: %s", self.group_id, exc)
            return True  # nothing more can be committed through this consumer
        if self._commit_failing:
            log.info("%s: committing again", self.group_id)
            self._commit_failing = False
        self._tracker.mark_committed(positions)
        self._committed.update((tp, p.offset) for tp, p in positions.items() if tp in self._generation)
        return True

    async def _apply_backpressure(self) -> None:
        """Keep each partition under ``max_buffered`` held records; a stuck one is paused, the others go on.

        A partition that holds ``max_buffered`` records while its lowest
        unfinished record moves on is busy: reading waits briefly for it to drain
        (no pause: pausing makes librdkafka drop what it prefetched, and fetch it
        again). One whose lowest unfinished record has not moved for ``_STALL``
        seconds is stuck behind a slow or hung record: it is paused until it holds
        half as many, and the other partitions are read on meanwhile.
        """
        assert self._consumer is not None
        limit, tracker, loop = self.max_buffered, self._tracker, asyncio.get_running_loop()
        while True:
            ready = [tp for tp in self._paused if tracker.in_flight_of(tp) <= limit // 2]
            if ready:
                await self._consumer.resume(ready)
                self._paused.difference_update(ready)
                log.info("%s: resumed %s", self.group_id, _fmt(ready))
            busy, stuck, now = False, [], loop.time()
            for tp in self._generation:
                if tp in self._paused or tracker.in_flight_of(tp) < limit:
                    continue
                head, seen = tracker.head_of(tp), self._heads.get(tp)
                if seen is None or seen[0] != head:
                    self._heads[tp] = (head, now)
                    busy = True
                elif now - seen[1] >= _STALL:
                    stuck.append(tp)
                else:
                    busy = True
            if stuck:
                await self._consumer.pause(stuck)
                self._paused.update(stuck)
                log.info("%s: %s stuck behind a record for %gs: paused", self.group_id, _fmt(stuck), _STALL)
            if not busy or self._stopping.is_set() or self._failure is not None:
                return
            await asyncio.sleep(0.005)

    def _dispatch(self, record: Record) -> None:
        tp = record.tp
        generation = self._generation.get(tp)
        if generation is None:
            return  # read just before its partition was revoked: the new owner reads it
        if self._tracker.add(tp, record.offset):
            return  # it finished before this process owned the partition (commit metadata)
        if self._urgent is not None and self._urgent(record):
            self._start(self._run_urgent(record, tp, generation))
            return
        chain_key = (tp, record.key)
        chain = self._chains.get(chain_key)
        if chain is not None:  # the key's chain runs it after the ones before it
            chain.append(record)
            return
        self._chains[chain_key] = deque([record])
        self._ready.append((chain_key, generation))
        if len(self._runners) < self._concurrency:
            self._runners.add(self._start(self._run_chains()))

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        task.add_done_callback(self._runners.discard)
        return task

    async def _run_urgent(self, record: Record, tp: TopicPartition, generation: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        active = self._active.setdefault(tp, set())
        active.add(task)
        try:
            await self._process_one(record, tp, generation)
        finally:
            active.discard(task)

    async def _run_chains(self) -> None:
        """A runner: run ready chains, a record at a time, until none is waiting."""
        task = asyncio.current_task()
        assert task is not None
        chains, generations = self._chains, self._generation
        try:
            while self._ready:  # not a local: revocation replaces the deque
                chain_key, generation = self._ready.popleft()
                tp = chain_key[0]
                chain = chains.get(chain_key)
                if chain is None or generations.get(tp) != generation:
                    continue  # revoked since it became ready
                active = self._active.setdefault(tp, set())
                active.add(task)
                try:
                    await self._process_one(chain[0], tp, generation)
                finally:
                    active.discard(task)
                chain.popleft()
                if not chain:
                    del chains[chain_key]
                elif generations.get(tp) == generation:
                    self._ready.append((chain_key, generation))  # fair: its next record after the chains waiting
        finally:
            self._runners.discard(task)
            if self._ready and len(self._runners) < self._concurrency:
                self._runners.add(self._start(self._run_chains()))  # this one was cancelled: another takes over

    async def _process_one(self, record: Record, tp: TopicPartition, generation: int) -> None:
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


def _fmt(tps: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in tps) or "nothing"
