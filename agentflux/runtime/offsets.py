"""Which offsets may be committed when records finish out of order, and what finished above them.

Records of one partition complete in any order (different keys run
concurrently). The committed position is the lowest offset that has not
completed yet, so everything below it is done: a crash redelivers only work
that was still in flight, never skips any.

Records that completed *above* that position travel in the commit's metadata
(``encode_done``, as Confluent's Parallel Consumer does): after a crash or a
rebalance the next owner reads them back (``decode_done``) and skips them. So
only records that were in flight at the last commit run again, plus those that
finished after it (commits go out every ``commit_interval``, 0.2 s by default).
The metadata is a bitmap of the finished offsets above the position,
zlib-compressed and base64-encoded: ``af1:{position}:{bitmap}``. It is kept
under ``MAX_METADATA`` characters (brokers accept 4096 by default); when the
finished offsets spread too far, the highest of them are left out and would run
again.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections import deque
from collections.abc import Iterable

from agentflux.transport.base import Position, TopicPartition

PREFIX = "af1"
MAX_METADATA = 3000
_MAX_BITMAP = 1 << 20  # bytes: what decoding accepts from a (possibly foreign) commit


def encode_done(position: int, done: Iterable[int]) -> str:
    """The metadata naming the offsets of ``done`` at or above ``position`` ("" when there are none)."""
    above = sorted(o - position for o in done if o >= position)
    if not above:
        return ""
    span = above[-1] + 1
    while span > 0:
        bitmap = bytearray((span + 7) // 8)
        for delta in above:
            if delta >= span:
                break
            bitmap[delta >> 3] |= 1 << (delta & 7)
        text = f"{PREFIX}:{position}:{base64.urlsafe_b64encode(zlib.compress(bytes(bitmap))).decode()}"
        if len(text) <= MAX_METADATA:
            return text
        span //= 2
    return ""


def decode_done(metadata: str | None) -> set[int]:
    """The offsets ``encode_done`` wrote into ``metadata``; an empty set for anything else."""
    if not metadata or not metadata.startswith(PREFIX + ":"):
        return set()
    try:
        _, base_text, packed = metadata.split(":", 2)
        base = int(base_text)
        inflater = zlib.decompressobj()
        bitmap = inflater.decompress(base64.urlsafe_b64decode(packed), _MAX_BITMAP)
    except (ValueError, binascii.Error, zlib.error):
        return set()
    return {base + (i << 3) + bit for i, byte in enumerate(bitmap) if byte for bit in range(8) if byte >> bit & 1}


class PartitionOffsets:
    """Offsets of one partition, in the order they were read.

    ``finished`` and ``floor`` say what finished before this process (re)gained
    the partition: the offsets in ``finished``, and every offset below ``floor``.
    """

    __slots__ = ("_done", "_floor", "_next", "_pending", "_skip", "version")

    def __init__(self, finished: set[int] | None = None, floor: int = -1) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()
        self._skip: set[int] = finished or set()
        self._floor = floor
        self._next: int | None = None
        self.version = 0  # changes whenever what a commit would say changes

    def add(self, offset: int) -> bool:
        """Track a record just read; True when it already finished (restored): skip it."""
        self._pending.append(offset)
        if offset < self._floor or (self._skip and offset in self._skip):
            self._skip.discard(offset)
            self.complete(offset)
            return True
        return False

    def complete(self, offset: int) -> None:
        self._done.add(offset)
        self.version += 1
        pending = self._pending
        while pending and pending[0] in self._done:
            self._done.discard(pending[0])
            self._next = pending.popleft() + 1

    @property
    def head(self) -> int | None:
        """The lowest offset held that has not finished: the commit position cannot pass it."""
        return self._pending[0] if self._pending else None

    @property
    def in_flight(self) -> int:
        """Records held: read but not yet below the commit position (running, waiting, or finished above it)."""
        return len(self._pending)

    def finished(self) -> tuple[int, set[int]]:
        """What this process knows finished: every offset below the first, and the set."""
        position = self._next if self._next is not None else (self._pending[0] if self._pending else self._floor)
        return max(position, self._floor), self._done | {o for o in self._skip if o >= position}

    def position(self) -> Position | None:
        """What to commit: the next offset to read after a restart, and what finished above it."""
        base = self._next if self._next is not None else (self._pending[0] if self._pending else None)
        if base is None:
            return None
        above = self._done | self._skip if self._skip else self._done
        return Position(base, encode_done(base, above) if above else "")


class OffsetTracker:
    """Per-partition tracking for one consumer."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}
        self._committed: dict[TopicPartition, tuple[int, Position]] = {}
        self._offered: dict[TopicPartition, int] = {}  # the version each offered position was read at
        self._released: dict[TopicPartition, tuple[int, set[int]]] = {}  # what finished here, kept on release

    def restore(self, tp: TopicPartition, committed: Position | None) -> int:
        """Start tracking a newly assigned partition; how many finished records will be skipped.

        What finished comes from the committed metadata and, when this process
        owned the partition before and could not commit all it finished (a lost
        or fenced member), from what it kept on release.
        """
        offset = committed.offset if committed is not None else -1
        finished = decode_done(committed.metadata) if committed is not None else set()
        floor = -1
        kept = self._released.pop(tp, None)
        if kept is not None and kept[0] > offset:
            floor, finished = kept[0], finished | kept[1]
        self._partitions[tp] = PartitionOffsets(finished, floor)
        return len(finished) + max(0, floor - max(offset, 0))

    def add(self, tp: TopicPartition, offset: int) -> bool:
        """Track a record just read; True when it already finished and must not run again."""
        partition = self._partitions.get(tp)
        if partition is None:
            partition = self._partitions[tp] = PartitionOffsets()
        return partition.add(offset)

    def complete(self, tp: TopicPartition, offset: int) -> None:
        partition = self._partitions.get(tp)
        if partition is not None:  # None: the partition was revoked meanwhile
            partition.complete(offset)

    def in_flight(self) -> int:
        return sum(p.in_flight for p in self._partitions.values())

    def in_flight_of(self, tp: TopicPartition) -> int:
        partition = self._partitions.get(tp)
        return 0 if partition is None else partition.in_flight

    def head_of(self, tp: TopicPartition) -> int | None:
        """The lowest offset of ``tp`` that has not finished (None when nothing is held)."""
        partition = self._partitions.get(tp)
        return None if partition is None else partition.head

    def to_commit(self, tps: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, Position]:
        """Positions (with metadata) that changed since the last ``mark_committed``."""
        wanted = None if tps is None else set(tps)
        out = {}
        for tp, partition in self._partitions.items():
            if wanted is not None and tp not in wanted:
                continue
            last = self._committed.get(tp)
            if last is not None and last[0] == partition.version:
                continue
            position = partition.position()
            if position is not None and (last is None or position != last[1]):
                out[tp] = position
                self._offered[tp] = partition.version
        return out

    def mark_committed(self, positions: dict[TopicPartition, Position]) -> None:
        for tp, position in positions.items():
            if tp in self._partitions and tp in self._offered:
                self._committed[tp] = (self._offered[tp], position)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        """Stop tracking ``tps``, keeping what finished in case they come back before it is committed."""
        for tp in tps:
            partition = self._partitions.pop(tp, None)
            if partition is not None:
                self._released[tp] = partition.finished()
            self._committed.pop(tp, None)
            self._offered.pop(tp, None)
