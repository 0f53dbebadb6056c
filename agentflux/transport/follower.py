"""Following partitions in the background, outside any group: the one reader under replies, cards and task views.

``TopicFollower`` assigns the partitions and offsets its owner chooses, hands
every record it reads to ``on_records`` (on the event loop, in partition
order), and keeps following until ``close()``. ``sync()`` waits until it has
handed over every record that was on the broker when ``sync`` was called.

Failure policy, the same for every owner: the reader never stops before
``close()``. A broker outage makes polls return nothing (the cluster watch
says so once); a tail that fails for good (a fatal client error) is closed and
replaced by a new one that goes on from the last positions, after a short
backoff. Records are handed over at least once; after a replacement, at most
the batch that was being read when it failed comes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

from agentflux.transport.base import Record, Tail, TopicPartition, Transport

log = logging.getLogger("agentflux.transport")
OnRecords = Callable[[list[Record]], None]
_REPLACE_BACKOFF = 1.0


class TopicFollower:
    def __init__(
        self,
        transport: Transport,
        on_records: OnRecords,
        *,
        name: str,
        poll_timeout: float = 0.2,
        max_records: int = 500,
    ) -> None:
        self._transport = transport
        self._on_records = on_records
        self.name = name
        self._poll_timeout = poll_timeout
        self._max_records = max_records
        self._tail: Tail | None = None
        self._reader: asyncio.Task[None] | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._lock = asyncio.Lock()  # assignments and replacements, one at a time

    @property
    def tail(self) -> Tail:
        """The tail in use, for offset lookups (``partition_count``, ``end_offsets``, ...)."""
        if self._tail is None:
            self._tail = self._transport.tail()
        return self._tail

    @property
    def positions(self) -> dict[TopicPartition, int]:
        """The next offset to hand over, per followed partition."""
        return dict(self._positions)

    async def follow(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Start reading these partitions at these offsets (in addition to those already followed)."""
        new = {tp: offset for tp, offset in offsets.items() if tp not in self._positions}
        if new:
            async with self._lock:
                await self.tail.assign(new)
                self._positions.update(new)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name=f"agentflux-follow-{self.name}")

    async def _read(self) -> None:
        while True:
            tail = self.tail
            try:
                records = await tail.poll(self._max_records, self._poll_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: reading failed (%s: %s); reconnecting", self.name, type(exc).__name__, exc)
                await self._replace(tail)
                continue
            for record in records:
                self._positions[record.tp] = record.offset + 1
            if records:
                try:
                    self._on_records(records)
                except Exception:
                    log.exception("%s: handling %d record(s) failed; going on", self.name, len(records))
            async with self._progress:
                self._progress.notify_all()

    async def _replace(self, broken: Tail) -> None:
        await asyncio.sleep(_REPLACE_BACKOFF)
        async with self._lock:
            if self._tail is broken:
                self._tail = None
                with contextlib.suppress(Exception):
                    await broken.close()
                await self.tail.assign(dict(self._positions))

    async def sync(self, partitions: Sequence[TopicPartition], timeout: float) -> bool:
        """Wait until every record on ``partitions`` now has been handed over; False after ``timeout`` s."""
        try:
            async with asyncio.timeout(timeout):
                ends = await self.tail.end_offsets(list(partitions))
                async with self._progress:
                    await self._progress.wait_for(lambda: self._reached(ends))
        except TimeoutError:
            return False
        except Exception as exc:  # the end offsets cannot be looked up (an outage): not synced
            log.debug("%s: sync failed: %s", self.name, exc)
            return False
        return True

    def _reached(self, ends: Mapping[TopicPartition, int]) -> bool:
        return all(self._positions.get(tp, 0) >= end for tp, end in ends.items() if end > 0)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._tail is not None:
            await self._tail.close()
            self._tail = None
