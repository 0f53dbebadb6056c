"""``dlq list`` reads letters oldest failure first and marks the ones already redriven, and where to."""

from __future__ import annotations

import pytest

from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.ops.deadletters import read_dead_letters, redrive
from agentflux.transport.memory import MemoryTransport


def letter_headers(source_offset: int, failed_at: str) -> list[tuple[str, bytes]]:
    return [
        ("dlq_source_topic", b"shop.order-placed.v1"),
        ("dlq_source_partition", b"0"),
        ("dlq_source_offset", str(source_offset).encode()),
        ("dlq_failed_at", failed_at.encode()),
        ("dlq_error_type", b"Reject"),
    ]


@pytest.mark.asyncio
async def test_letters_come_oldest_failure_first_with_their_redrives() -> None:
    transport = MemoryTransport(default_partitions=1)
    await transport.start()
    for offset, failed_at in [
        (7, "2026-12-02T10:00:03.000Z"),
        (3, "2026-12-02T10:00:01.000Z"),
        (5, "2026-12-02T10:00:02.000Z"),
    ]:
        await transport.publish(
            DEAD_LETTER_TOPIC, b'{"order_id": "o"}', key=b"c1", headers=letter_headers(offset, failed_at)
        )

    letters = await read_dead_letters(transport)
    assert [d.info["source_offset"] for d in letters] == ["3", "5", "7"]
    assert all(d.redriven_to == [] for d in letters)

    ack = await redrive(transport, letters[1])
    again = await read_dead_letters(transport)
    assert len(again) == 3  # the redrive marker is not a letter of its own
    assert again[1].redriven_to == [f"shop.order-placed.v1/{ack.partition}/{ack.offset}"]
    assert again[0].redriven_to == [] and again[2].redriven_to == []
