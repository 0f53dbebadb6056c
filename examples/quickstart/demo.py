"""``agentflux demo quickstart``: the two agents on the embedded Kafka, end to end.

It starts each agent as its own process, places orders (one in ten is
invalid and is dead-lettered, on purpose), follows each order to its shipment
or its dead letter by correlation id, and prints a summary with end-to-end
latency and how many dead letters the run left on ``agent.dead-letter.v1``.
Every client is closed before it returns, so nothing is logged once the
broker has stopped.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from rich.console import Console

from agentflux.contract.envelope import Envelope
from agentflux.contract.topics import event_type
from agentflux.runtime.publisher import Publisher
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings
from examples.demo_support import (
    DEAD_LETTERS,
    AgentProcesses,
    DeadLetterWatch,
    OutputWatcher,
    percentile,
    wait_for_groups,
)
from examples.quickstart.app import ORDER_ACCEPTED, ORDER_PLACED, ORDER_SHIPPED, OrderPlaced, app

SETTLE_TIMEOUT = 60.0


def order(n: int) -> OrderPlaced:
    """The ``n``th order of a run: every tenth has no items and a negative amount, so intake rejects it."""
    if n % 10 == 9:
        return OrderPlaced(order_id=f"o-{n}", customer_id=f"c-{n % 7}", amount=-1, items=[])
    return OrderPlaced(order_id=f"o-{n}", customer_id=f"c-{n % 7}", amount=20.0 + n, items=["x"])


async def run_demo(bootstrap: str, console: Console, orders: int) -> dict[str, object]:
    transport = KafkaTransport(KafkaSettings(bootstrap))
    await transport.start()
    wanted: set[str] = set()  # this run's correlation ids: the topics outlive a run
    letters = DeadLetterWatch(transport, [ORDER_PLACED, ORDER_ACCEPTED], wanted)
    try:
        await transport.ensure_topics([app.topic_spec(t) for t in app.topics])
        await letters.start()
        shipped = await place_and_follow(transport, bootstrap, console, orders, letters, wanted)
    finally:
        await letters.close()
        await transport.close()
    invalid = sum(order(n).amount <= 0 for n in range(orders))
    verdict = "yes"
    if (len(shipped), len(letters.letters)) != (orders - invalid, invalid):
        verdict = f"NO: {len(shipped)} of {orders - invalid} shipped, {len(letters.letters)} of {invalid} dead-lettered"
    return {
        f"orders placed ({ORDER_PLACED})": orders,
        f"shipped ({ORDER_SHIPPED})": len(shipped),
        "invalid on purpose (one in ten)": invalid,
        DEAD_LETTERS: len(letters.letters),
        "every order shipped or rejected": verdict,
        "latency p50 ms": percentile(shipped, 50) * 1000,
        "latency p99 ms": percentile(shipped, 99) * 1000,
    }


async def place_and_follow(
    transport: KafkaTransport,
    bootstrap: str,
    console: Console,
    orders: int,
    letters: DeadLetterWatch,
    wanted: set[str],
) -> list[float]:
    """Place the orders, wait for their shipments and dead letters; the latency (s) of each shipped order.

    ``wanted`` gathers the orders' correlation ids, which is how ``letters`` tells this run's letters apart.
    """
    publisher = Publisher(transport, app.topic_spec)
    sent: dict[str, tuple[str, float]] = {}
    invalid = 0
    latencies: list[float] = []
    with AgentProcesses(bootstrap, console) as agents:
        for name in app.agents:
            agents.start("examples.quickstart:app", name)
        watcher = OutputWatcher(transport, [ORDER_SHIPPED], group=f"demo-{uuid.uuid4().hex[:8]}")
        watcher.wanted = wanted
        try:
            await wait_for_groups(bootstrap, [watcher.group, *(a.group_id for a in app.agents.values())], console)
            for n in range(orders):
                placed = order(n)
                invalid += placed.amount <= 0
                envelope = Envelope.new(source="demo", type=event_type(ORDER_PLACED))
                sent[envelope.correlation_id] = (placed.order_id, time.perf_counter())
                wanted.add(envelope.correlation_id)
                await publisher.publish(ORDER_PLACED, placed, envelope=envelope, key=placed.customer_id)
                await asyncio.sleep(0.02)
            async for arrived, _record, env in watcher.records(orders - invalid, timeout=SETTLE_TIMEOUT):
                order_id, started = sent[env.correlation_id]
                latencies.append(arrived - started)
                console.print(
                    f"[dim]{env.correlation_id[:8]}[/] {order_id} shipped by {env.source} "
                    f"({latencies[-1] * 1000:.0f} ms)"
                )
            await letters.wait_for(lambda: len(letters.letters) >= invalid, SETTLE_TIMEOUT)
        finally:
            await watcher.close()
    return latencies
