"""``agentflux publish`` feeds a topic as an agent would, and ``agentflux tail`` shows what is on it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka_helpers import ROOT, await_until, create_topic, produce_raw
from pydantic import BaseModel

from agentflux import AgentApp, AppRunner, Context
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


class Order(BaseModel):
    order_id: str
    amount: float


def cli(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap, "COLUMNS": "300"}
    command = [sys.executable, "-m", "agentflux.cli.main", *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.asyncio
async def test_published_records_reach_a_handler_with_their_envelope(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    topic = f"test.orders-{unique}.v1"
    create_topic(kafka_bootstrap, topic, partitions=2)
    order_file = tmp_path / "order.json"
    order_file.write_text('{"order_id": "o2", "amount": 7.5}')
    first = await asyncio.to_thread(
        cli, kafka_bootstrap, "publish", topic, '{"order_id": "o1", "amount": 3}', "--key", "c1"
    )
    assert first.returncode == 0, first.stderr
    second = await asyncio.to_thread(
        cli, kafka_bootstrap, "publish", topic, "--file", str(order_file), "--correlation-id", f"corr-{unique}"
    )
    assert second.returncode == 0, second.stderr
    assert f"correlation_id=corr-{unique}" in second.stdout and second.stdout.startswith(f"published {topic}/")

    app = AgentApp(f"feed-{unique}")
    seen: dict[str, tuple[float, str, str | None, str]] = {}

    @app.agent("counter").on(topic)
    async def count(order: Order, ctx: Context) -> None:
        seen[order.order_id] = (order.amount, ctx.correlation_id, ctx.key, ctx.envelope.source)

    async with AppRunner(app, KafkaTransport(KafkaSettings(kafka_bootstrap))):
        await await_until(lambda: len(seen) == 2, 60, "both published orders handled")
    assert seen["o1"][0] == 3 and seen["o1"][2] == "c1" and seen["o1"][3] == "cli"
    assert seen["o2"] == (7.5, f"corr-{unique}", None, "cli")
    assert seen["o1"][1] in first.stdout  # the correlation the command printed is the one the handler saw


@pytest.mark.asyncio
async def test_tail_prints_envelope_and_value_and_survives_foreign_records(kafka_bootstrap: str, unique: str) -> None:
    topic = f"test.readings-{unique}.v1"
    create_topic(kafka_bootstrap, topic, partitions=1)
    produce_raw(kafka_bootstrap, topic, [(b"s1", b"\x00\xffnot json", [("ce_id", b"\xff")])])
    published = await asyncio.to_thread(
        cli, kafka_bootstrap, "publish", topic, '{"sensor": "s1", "celsius": 21.5}', "--key", "s1"
    )
    assert published.returncode == 0, published.stderr
    tailed = await asyncio.to_thread(cli, kafka_bootstrap, "tail", topic, "--from-beginning", "--limit", "2")
    assert tailed.returncode == 0, tailed.stderr
    foreign, ours = tailed.stdout.splitlines()
    assert foreign.startswith(f"{topic}/0/0 key=s1 ")  # shown as it is, not a crash
    assert ours.startswith(f"{topic}/0/1 key=s1 test.readings-{unique} from cli correlation=")
    assert ours.endswith('{"sensor":"s1","celsius":21.5}')
    later = f"test.later-{unique}.v1"  # tail waits for a topic that does not exist yet, like tail -F
    waiting = subprocess.Popen(
        [sys.executable, "-m", "agentflux.cli.main", "tail", later, "--from-beginning", "--limit", "1"],
        env={**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap}, cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.sleep(2)
        assert waiting.poll() is None
        assert (await asyncio.to_thread(cli, kafka_bootstrap, "publish", later, '{"n": 1}')).returncode == 0
        out, err = await asyncio.to_thread(waiting.communicate, timeout=60)
    finally:
        waiting.kill()
    assert f"waiting for {later} to be created" in err and out.endswith('{"n":1}\n')
    bad = await asyncio.to_thread(cli, kafka_bootstrap, "publish", topic, "{not json")
    assert bad.returncode == 2 and "not JSON" in bad.stderr
