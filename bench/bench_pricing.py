"""The pricing system end to end: price events per second to customer alerts, and decision latency.

One process per agent (``--order-updates`` of order-update) runs the pricing
example over ``--products`` products, every one stocked, watched by one
customer and far above its floor, so every competitor cut is an adjustment and
a customer alert. After a warm-up (one change per product, which also starts
the MCP servers) it plays ``--rounds`` cuts of 3 % on every product, from two
sources in turn:

* ``scrape``: the real source. The competitor site changes every price at
  once, and the collector scrapes and reports them (one round at a time: the
  next round starts once the collector reported the previous one);
* ``direct``: the same ``PriceChanged`` events published straight to the topic
  by the benchmark, each round all at once: what the other three agents sustain;
* ``paced``: as ``direct``, one change at a time at ``--rate`` per second, below
  saturation: the latency of one decision rather than of a queue.

Figures, from broker timestamps: price events/s = measured changes / (first
change -> last customer alert); decision latency = change -> its
``price-decided`` record; end to end = change -> its first customer alert.

    .venv/bin/python bench/bench_pricing.py [--products 200] [--rounds 5] [--poll 0.2]
                                            [--order-updates 1] [--rate 50] [--source scrape|direct|paced|all]

``AGENTFLUX_BENCH_BOOTSTRAP=host:port`` uses a running broker instead of a fresh one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import broker, console, pct  # noqa: E402

from agentflux.contract.envelope import Envelope  # noqa: E402
from agentflux.contract.topics import event_type  # noqa: E402
from agentflux.runtime.publisher import Publisher  # noqa: E402
from agentflux.transport.kafka import KafkaTransport  # noqa: E402
from agentflux.transport.settings import KafkaSettings  # noqa: E402
from examples.demo_support import AgentProcesses  # noqa: E402
from examples.ecommerce_pricing.app import ANALYSIS, COLLECTOR, NOTIFY, ORDER_UPDATE, build_app  # noqa: E402
from examples.ecommerce_pricing.config import PricingConfig  # noqa: E402
from examples.ecommerce_pricing.feed import FixtureSite, ScriptedChange, set_price  # noqa: E402
from examples.ecommerce_pricing.models import PriceChanged  # noqa: E402
from examples.ecommerce_pricing.observer import ChangeTrace, FlowObserver  # noqa: E402
from examples.ecommerce_pricing.rules import cents  # noqa: E402
from examples.mcp_servers.inventory_db import init_db  # noqa: E402

Prices = dict[str, float]


def write_fixtures(folder: Path, products: int) -> tuple[Path, Path, Prices]:
    """Competitor catalog, our catalog and a seeded inventory DB for ``products`` products."""
    prices = {f"SKU-{n:05d}": 100.0 + n % 50 for n in range(products)}
    competitor, ours, seed = folder / "competitor.json", folder / "catalog.json", folder / "inventory-seed.json"
    offers = [{"product_id": p, "name": p, "price": v, "currency": "EUR"} for p, v in prices.items()]
    competitor.write_text(json.dumps(offers))
    ours.write_text(json.dumps([{"product_id": p, "floor_price": 1.0, "watchers": [f"cust-{p}"]} for p in prices]))
    stock = [{"product_id": p, "name": p, "stock": 50, "price": v * 1.2} for p, v in prices.items()]
    seed.write_text(json.dumps(stock))
    init_db(folder / "inventory.sqlite", seed)
    return competitor, ours, prices


def cut(prices: Prices) -> Prices:
    return {p: cents(v * 0.97) for p, v in prices.items()}


async def measure(bootstrap: str, args: argparse.Namespace, source: str) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix=f"agentflux-bench-pricing-{source}-"))
    competitor, catalog, prices = write_fixtures(folder, args.products)
    site = FixtureSite(catalog=competitor) if source == "scrape" else None
    with site or contextlib.nullcontext():
        config = PricingConfig(
            site_url=site.url if site else "http://bench.invalid",
            poll_seconds=args.poll,
            inventory_db=folder / "inventory.sqlite",
            notifier_db=folder / "outbox.sqlite",
            namespace=f"bench{uuid.uuid4().hex[:6]}",
            catalog_path=catalog,
        )
        app = build_app(config)
        transport = KafkaTransport(KafkaSettings(bootstrap))
        await transport.start()
        topics = [config.price_changed, config.price_decided, config.order_updated, config.price_adjustment]
        await transport.ensure_topics([app.topic_spec(t) for t in [*topics, config.customer_alert]])
        observer = FlowObserver(transport, config)
        await observer.start()
        publisher = Publisher(transport, app.topic_spec)
        try:
            with AgentProcesses(bootstrap, console, env=config.env()) as agents:
                names = [ANALYSIS, NOTIFY, *[ORDER_UPDATE] * args.order_updates, *([COLLECTOR] if site else [])]
                for name in names:
                    proc = agents.start("examples.ecommerce_pricing:app", name)
                    agents.procs[f"{name}-{proc.pid}"] = agents.procs.pop(name)  # one entry per process
                if site is None:  # direct or paced
                    prices = cut(prices)
                    await inject(publisher, config, [{}, prices], first=0)
                with console.status(f"{source}: warm-up, one change per product"):
                    await settled(observer, args.products, 120)
                warm = set(observer.changes)
                rounds = [prices]
                for _ in range(args.rounds):
                    rounds.append(cut(rounds[-1]))
                with console.status(f"{source}: {args.rounds} rounds of {args.products} price cuts"):
                    if site is None:
                        rate = args.rate if source == "paced" else None
                        await inject(publisher, config, rounds, first=1, rate=rate)
                    else:
                        await scrape_rounds(observer, site.url, rounds[1:])
                    await settled(observer, args.products * (args.rounds + 1), 300)
        finally:
            await observer.close()
            await transport.close()
    return figures([t for cid, t in observer.changes.items() if cid not in warm])


async def scrape_rounds(observer: FlowObserver, site_url: str, rounds: list[Prices]) -> None:
    limits = httpx.Limits(max_connections=4)  # the fixture site's listen backlog is small
    async with httpx.AsyncClient(timeout=30, trust_env=False, limits=limits) as client:
        for prices in rounds:
            await asyncio.gather(*(set_price(client, site_url, ScriptedChange(p, v)) for p, v in prices.items()))
            await observer.wait_for(lambda now=prices: all(observer.latest_price(p) == v for p, v in now.items()), 60)


async def inject(
    publisher: Publisher, config: PricingConfig, rounds: list[Prices], *, first: int, rate: float | None = None
) -> None:
    """Publish the changes from each round's prices to the next, as the collector would (seq from ``first``).

    All of a round at once, or one at a time at ``rate`` per second.
    """
    kind = event_type(config.price_changed)
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0

    async def publish(event: PriceChanged) -> None:
        envelope = Envelope.new(source="bench", type=kind)  # a fresh correlation id per change
        await publisher.publish(config.price_changed, event, envelope=envelope, key=event.product_id)

    for n, (before, after) in enumerate(itertools.pairwise(rounds), start=first):
        events = [
            PriceChanged(
                change_id=f"bench-{config.namespace}-{p}-{n}", product_id=p, competitor="bench",
                url=config.page_url(p), previous_price=before.get(p), new_price=v, seq=n + 1,
            )
            for p, v in after.items()
        ]  # fmt: skip
        if rate is None:
            await asyncio.gather(*(publish(e) for e in events))
            continue
        for event in events:
            await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
            await publish(event)
            sent += 1


async def settled(observer: FlowObserver, count: int, timeout: float) -> None:
    def done() -> bool:
        return len(observer.changes) >= count and all(t.first_alert_ms for t in observer.changes.values())

    if not await observer.wait_for(done, timeout):
        alerted = sum(t.first_alert_ms is not None for t in observer.changes.values())
        raise TimeoutError(f"{len(observer.changes)} changes seen, {alerted} alerted, after {timeout}s")


def figures(measured: list[ChangeTrace]) -> dict[str, float]:
    first = min(t.published_ms for t in measured)
    last = max(t.first_alert_ms or 0 for t in measured)
    decide = [float((t.decided_ms or 0) - t.published_ms) for t in measured]
    alert = [float((t.first_alert_ms or 0) - t.published_ms) for t in measured]
    return {
        "price changes measured": len(measured),
        "seconds, first change -> last alert": (last - first) / 1000,
        "price events/s end to end": len(measured) / ((last - first) / 1000),
        "decision latency p50 ms": pct(decide, 50),
        "decision latency p99 ms": pct(decide, 99),
        "change -> alert p50 ms": pct(alert, 50),
        "change -> alert p99 ms": pct(alert, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--poll", type=float, default=0.2, help="collector poll interval, seconds")
    parser.add_argument("--order-updates", type=int, default=1, help="order-update processes")
    parser.add_argument("--rate", type=float, default=50.0, help="changes per second for --source paced")
    parser.add_argument("--source", choices=["scrape", "direct", "paced", "all"], default="all")
    args = parser.parse_args()
    sources = ["scrape", "direct", "paced"] if args.source == "all" else [args.source]
    with broker() as bootstrap:
        results = {source: asyncio.run(measure(bootstrap, args, source)) for source in sources}
    print(f"bench_pricing: {args.products} products x {args.rounds} rounds, collector poll {args.poll}s, "
          f"{args.order_updates} order-update process(es)")  # fmt: skip
    print(f"  {'':38} " + " ".join(f"{s:>10}" for s in sources))
    for name in results[sources[0]]:
        print(f"  {name:38} " + " ".join(f"{results[s][name]:10.1f}" for s in sources))


if __name__ == "__main__":
    main()
