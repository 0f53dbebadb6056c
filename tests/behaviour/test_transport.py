"""The ``Transport`` contract (``agentflux.transport.base``), held by the memory and the Kafka implementation alike."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from behaviour.helpers import Backend

from agentflux import PublishError, TopicSpec
from agentflux.transport.base import Ack, Consumer, Position, Positions, Record, Tail, TopicPartition

pytestmark = pytest.mark.asyncio
KEYS = [f"key-{n}" for n in range(5)]


async def publish_keyed(backend: Backend, topic: str, per_key: int) -> list[Ack]:
    """``per_key`` records for each key, one after the other, each carrying a header that names it."""
    acks = []
    for seq in range(per_key):
        for key in KEYS:
            name = f"{key}/{seq}".encode()
            acks.append(await backend.transport.publish(topic, name, key=key.encode(), headers=[("name", name)]))
    return acks


async def poll_until(backend: Backend, source: Consumer | Tail, count: int) -> list[Record]:
    got: list[Record] = []

    async def more() -> bool:
        got.extend(await source.poll(100, 0.2))
        return len(got) >= count

    await backend.eventually(more, what=f"{count} records polled")
    return got


def assert_in_offset_order(records: list[Record], acks: list[Ack]) -> None:
    """Per partition, ``records`` come in offset order and are exactly what ``acks`` say was written there."""
    read: dict[int, list[int]] = defaultdict(list)
    written: dict[int, list[int]] = defaultdict(list)
    for record in records:
        read[record.partition].append(record.offset)
    for ack in acks:
        written[ack.partition].append(ack.offset)
    assert read == written


async def test_publish_acks_where_the_record_landed_and_one_key_keeps_one_partition(backend: Backend) -> None:
    topic = backend.topic("keyed")
    await backend.create_topic(topic, partitions=3)
    acks = await publish_keyed(backend, topic, per_key=4)
    assert {a.topic for a in acks} == {topic}
    by_key: dict[str, set[int]] = defaultdict(set)
    for i, ack in enumerate(acks):
        by_key[KEYS[i % len(KEYS)]].add(ack.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values()), by_key
    offsets: dict[int, list[int]] = defaultdict(list)
    for ack in acks:
        assert 0 <= ack.partition < 3
        offsets[ack.partition].append(ack.offset)
    assert all(found == list(range(len(found))) for found in offsets.values()), offsets  # only this test writes here
    chosen = await backend.transport.publish(topic, b"chosen", key=b"key-0", partition=2)
    assert (chosen.topic, chosen.partition, chosen.offset) == (topic, 2, len(offsets[2]))
    with pytest.raises(PublishError):
        await backend.transport.publish(topic, b"nowhere", key=b"key-0", partition=3)
    records = {(r.partition, r.offset): r for r in await backend.transport.read_all(topic)}
    for i, ack in enumerate(acks):
        record = records[(ack.partition, ack.offset)]
        assert (record.key, record.value) == (KEYS[i % len(KEYS)].encode(), f"{KEYS[i % len(KEYS)]}/{i // 5}".encode())
    assert records[(2, chosen.offset)].value == b"chosen"


async def test_a_group_consumer_polls_each_partition_in_offset_order(backend: Backend) -> None:
    topic = backend.topic("polled")
    await backend.create_topic(topic, partitions=3)
    acks = await publish_keyed(backend, topic, per_key=4)
    assigned: list[TopicPartition] = []

    async def on_assigned(tps: list[TopicPartition], committed: Positions) -> None:
        assert committed == {}  # a new group has committed nothing
        assigned.extend(tps)

    consumer = backend.transport.consumer(f"{backend.app_name}.poller", [topic], on_assigned=on_assigned)
    try:
        records = await poll_until(backend, consumer, len(acks))
    finally:
        await consumer.close()
    assert sorted(assigned) == [TopicPartition(topic, p) for p in range(3)]
    assert len(records) == len(acks)
    assert_in_offset_order(records, acks)
    for record in records:
        assert record.topic == topic and record.headers == [("name", record.value)]
        assert record.value is not None and record.key == record.value.split(b"/")[0]


async def test_a_tail_reads_chosen_partitions_in_offset_order(backend: Backend) -> None:
    topic = backend.topic("tailed")
    await backend.create_topic(topic, partitions=3)
    acks = await publish_keyed(backend, topic, per_key=4)
    tps = [TopicPartition(topic, p) for p in range(3)]
    counts = {tp: sum(1 for a in acks if a.partition == tp.partition) for tp in tps}
    tail = backend.transport.tail()
    try:
        assert await tail.partition_count(topic) == 3
        assert await tail.partition_count(backend.topic("missing")) == 0
        ends = await tail.end_offsets(tps)
        assert ends == counts
        assert await tail.offsets_at(tps, 0) == {tp: 0 for tp in tps}
        assert await tail.offsets_at(tps, int(time.time() * 1000) + 60_000) == ends
        ranged = await tail.read_range({tp: 0 for tp in tps}, ends)
        assert_in_offset_order(ranged, acks)
        starts = {tp: 1 for tp in tps if counts[tp]}  # the first record of each partition is skipped
        await tail.assign(starts)
        polled = await poll_until(backend, tail, len(acks) - len(starts))
    finally:
        await tail.close()
    assert_in_offset_order(polled, [a for a in acks if a.offset >= 1])


async def test_read_all_returns_every_record_of_every_partition(backend: Backend) -> None:
    topic = backend.topic("read")
    await backend.create_topic(topic, partitions=3)
    acks = await publish_keyed(backend, topic, per_key=3)
    records = await backend.transport.read_all(topic)
    assert sorted((r.partition, r.offset) for r in records) == sorted((a.partition, a.offset) for a in acks)
    assert_in_offset_order(records, acks)
    assert await backend.transport.read_all(backend.topic("missing")) == []


async def test_a_new_consumer_of_a_group_starts_after_the_committed_position(backend: Backend) -> None:
    topic, group = backend.topic("committed"), f"{backend.app_name}.committer"
    tp = TopicPartition(topic, 0)
    await backend.create_topic(topic, partitions=1)
    for n in range(6):
        await backend.transport.publish(topic, str(n).encode(), key=b"k")
    first = backend.transport.consumer(group, [topic])
    try:
        assert [r.offset for r in await poll_until(backend, first, 6)] == list(range(6))
        await first.commit({tp: Position(4, "four and up")})
    finally:
        await first.close()
    given: dict[TopicPartition, Position] = {}

    async def on_assigned(tps: list[TopicPartition], committed: Positions) -> None:
        given.update(committed)

    second = backend.transport.consumer(group, [topic], on_assigned=on_assigned)
    try:
        assert [r.offset for r in await poll_until(backend, second, 2)] == [4, 5]
    finally:
        await second.close()
    assert given == {tp: Position(4, "four and up")}
    assert await backend.committed(group, tp) == Position(4, "four and up")


async def test_ensure_topics_is_idempotent_and_list_topics_names_what_exists(backend: Backend) -> None:
    first, second = backend.topic("first"), backend.topic("second")
    specs = [TopicSpec(first, partitions=2), TopicSpec(second, partitions=1)]
    await backend.transport.ensure_topics(specs)
    await backend.transport.publish(first, b"kept", key=b"k")
    await backend.transport.ensure_topics(specs)
    await backend.transport.ensure_topics([TopicSpec(first, partitions=4)])  # an existing topic is left as it is
    tail = backend.transport.tail()
    try:
        assert await tail.partition_count(first) == 2
    finally:
        await tail.close()
    assert [r.value for r in await backend.transport.read_all(first)] == [b"kept"]
    names = await backend.transport.list_topics()
    assert {first, second} <= set(names)
    assert names == sorted(names) and not any(n.startswith("__") for n in names)
