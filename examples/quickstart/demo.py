"""``agentflux demo quickstart``: the two agents on the embedded Kafka, end to end.

It starts each agent as its own process, places orders (one in ten is
invalid and is dead-lettered), follows each order to its shipment by
correlation id, and prints a summary with end-to-end latency.
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
from examples.demo_support import AgentProcesses, OutputWatcher, percentile, wait_for_groups
from examples.quickstart.app import ORDER_PLACED, ORDER_SHIPPED, OrderPlaced, app


async def run_demo(bootstrap: str, console: Console, orders: int) -> dict[str, object]:
    transport = KafkaTransport(KafkaSettings(bootstrap))
    await transport.start()
    await transport.ensure_topics([app.topic_spec(t) for t in app.topics])
    publisher = Publisher(transport, app.topic_spec)
    sent: dict[str, tuple[str, float]] = {}
    invalid = 0
    with AgentProcesses(bootstrap, console) as agents:
        for name in app.agents:
            agents.start("examples.quickstart:app", name)
        watcher = OutputWatcher(transport, [ORDER_SHIPPED], group=f"demo-{uuid.uuid4().hex[:8]}")
        await wait_for_groups(bootstrap, [watcher.group, *(a.group_id for a in app.agents.values())], console)
        for n in range(orders):
            bad = n % 10 == 9
            invalid += bad
            order = OrderPlaced(
                order_id=f"o-{n}", customer_id=f"c-{n % 7}", amount=-1 if bad else 20.0 + n, items=[] if bad else ["x"]
            )
            envelope = Envelope.new(source="demo", type=event_type(ORDER_PLACED))
            sent[envelope.correlation_id] = (order.order_id, time.perf_counter())
            watcher.wanted.add(envelope.correlation_id)
            await publisher.publish(ORDER_PLACED, order, envelope=envelope, key=order.customer_id)
            await asyncio.sleep(0.02)
        latencies = []
        async for arrived, _record, env in watcher.records(orders - invalid, timeout=60):
            order_id, started = sent[env.correlation_id]
            latencies.append(arrived - started)
            console.print(
                f"[dim]{env.correlation_id[:8]}[/] {order_id} shipped by {env.source} ({latencies[-1] * 1000:.0f} ms)"
            )
        await watcher.close()
    await transport.close()
    accounted = len(latencies) + invalid
    return {
        "orders placed": orders,
        "shipped": len(latencies),
        "rejected (dead-lettered)": invalid,
        "every order shipped or rejected": "yes" if accounted == orders else f"NO: only {accounted} of {orders}",
        "latency p50 ms": percentile(latencies, 50) * 1000,
        "latency p99 ms": percentile(latencies, 99) * 1000,
    }
