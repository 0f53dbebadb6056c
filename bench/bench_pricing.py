"""The pricing system end to end: price events per second to customer alerts, and the latency of each hop.

One process per agent (``--order-updates`` of order-update) runs the pricing
example over ``--products`` products, every one stocked, watched by one
customer and far above its floor, so every competitor cut is an adjustment and
a customer alert. After a warm-up (one change per product, which also starts
the MCP servers, then a pause while the last of them settle) it plays cuts of
3 % on every product, from one of three sources:

* ``scrape``: the real source. The competitor site changes every price at
  once, and the collector scrapes and reports them (``--rounds`` rounds, one at
  a time: the next starts once the collector reported the previous one);
* ``burst``: the same ``PriceChanged`` events published straight to the topic
  by the benchmark, each of ``--rounds`` rounds all at once: what the other
  three agents sustain (``direct`` is its old name);
* ``paced``: as ``burst``, one change at a time at ``--rate`` per second (500
  by default) for ``--paced-rounds`` rounds, below saturation: the latency of
  one change rather than of a queue.

Figures, from broker timestamps: price events/s = measured changes / (first
change -> last customer alert); decision = change -> its ``price-decided``
record; change -> alert = change -> its first customer alert; and the hops
between (decided -> price updated on ``order-updated``, updated -> alerted).
The CPU seconds each agent process used (with the MCP servers it started)
during the measured changes, per 1,000 changes, say where the time goes.

    .venv/bin/python bench/bench_pricing.py [--products 200] [--rounds 10] [--rate 500] [--paced-rounds 20]
        [--poll 0.2] [--order-updates 1] [--source burst|paced|scrape|all] [--quick] [--json PATH]

``--source all`` (the default) runs burst and paced, and scrape too unless
``--quick``; ``--quick`` (what ``run_all.py`` runs) keeps the whole run under
about two minutes. ``--json PATH`` writes the figures of the targets as a JSON
list. ``AGENTFLUX_BENCH_BOOTSTRAP=host:port`` uses a running broker instead of
a fresh one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import broker, console, pct  # noqa: E402

from agentflux.contract.envelope import Envelope  # noqa: E402
from agentflux.contract.topics import event_type  # noqa: E402
from agentflux.runtime.publisher import Publisher  # noqa: E402
from agentflux.transport.base import Record, Transport  # noqa: E402
from agentflux.transport.kafka import KafkaTransport  # noqa: E402
from agentflux.transport.settings import KafkaSettings  # noqa: E402
from examples.demo_support import AgentProcesses, TopicObserver  # noqa: E402
from examples.ecommerce_pricing.app import ANALYSIS, COLLECTOR, NOTIFY, ORDER_UPDATE, build_app  # noqa: E402
from examples.ecommerce_pricing.config import PricingConfig  # noqa: E402
from examples.ecommerce_pricing.feed import FixtureSite, ScriptedChange, set_price  # noqa: E402
from examples.ecommerce_pricing.models import PriceChanged  # noqa: E402
from examples.ecommerce_pricing.observer import FlowObserver  # noqa: E402
from examples.ecommerce_pricing.rules import cents  # noqa: E402
from examples.mcp_servers.inventory_db import init_db  # noqa: E402

Prices = dict[str, float]
QUICK = {"products": 200, "rounds": 5, "paced_rounds": 10}
SETTLE = 2.0  # seconds after the warm-up, for MCP sessions opened at its end to finish starting


@dataclass(frozen=True)
class Target:
    """A figure of the issue's targets: its key in ``figures()``, name, unit, bound, and which way is better."""

    source: str
    key: str
    name: str
    unit: str
    bound: float
    higher_is_better: bool

    def met(self, value: float) -> bool:
        return value >= self.bound if self.higher_is_better else value <= self.bound

    @property
    def text(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self.bound:,.0f} {self.unit}"


# The targets for this benchmark. No baseline is measured in the same run: the targets are absolute
# (bench/RESULTS.md compares with the example as it was before, measured separately).
TARGETS = [
    Target("burst", "price events/s end to end", "pricing: burst, price events/s end to end", "events/s", 1_000, True),
    Target("paced", "change -> alert p99 ms", "pricing: paced, change -> customer alert p99", "ms", 250, False),
]


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


class CpuMeter:
    """CPU seconds between ``start()`` and ``stop()``: this process, each agent process with the processes it
    started (its MCP servers), and the broker listening on ``port`` (when this user can see it)."""

    def __init__(self, port: int) -> None:
        self._tick = os.sysconf("SC_CLK_TCK")
        self._port = port
        self._start: dict[int, float] = {}
        self.used: dict[str, float] = {}

    def _table(self) -> dict[int, tuple[int, float, str]]:
        table = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / self._tick, command)
        return table

    def _groups(self) -> dict[int, tuple[str, float]]:
        """Per process from this one down: whose it is (this one's, an agent's, or other) and its CPU seconds."""
        table, me = self._table(), os.getpid()
        out = {me: ("bench (injects, observes)", table[me][1])}
        for pid, (_, cpu, _) in table.items():
            owner = pid
            for _ in range(10):  # up to the child of this process it descends from
                if owner not in table or table[owner][0] == me:
                    break
                owner = table[owner][0]
            if owner in table and table[owner][0] == me:
                command = table[owner][2]
                out[pid] = (command.split("--agent ", 1)[1].split()[0] if "--agent " in command else "other", cpu)
        broker = listener(self._port)
        if broker is not None and broker in table:
            out[broker] = ("Kafka broker (all its clients)", table[broker][1])
        return out

    def start(self) -> None:
        self._start = {pid: cpu for pid, (_, cpu) in self._groups().items()}

    def stop(self) -> None:
        self.used = {}
        for pid, (group, cpu) in self._groups().items():
            self.used[group] = self.used.get(group, 0.0) + cpu - self._start.get(pid, 0.0)


def listener(port: int) -> int | None:
    """The process listening on TCP ``port`` here, found through /proc (None if it cannot be seen)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for entry in (e for e in os.listdir("/proc") if e.isdigit() and inodes):
        with contextlib.suppress(OSError):
            if any(os.readlink(f"/proc/{entry}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{entry}/fd")):
                return int(entry)
    return None


async def measure(bootstrap: str, args: argparse.Namespace, source: str) -> tuple[dict[str, float], dict[str, float]]:
    """The figures of one source, and the CPU seconds per 1,000 measured changes by process group."""
    folder = Path(tempfile.mkdtemp(prefix=f"agentflux-bench-pricing-{source}-"))
    competitor, catalog, prices = write_fixtures(folder, args.products)
    site = FixtureSite(catalog=competitor) if source == "scrape" else None
    meter = CpuMeter(int(bootstrap.rsplit(":", 1)[1]))
    with site or contextlib.nullcontext():
        config = PricingConfig(
            site_url=site.url if site else "http://bench.invalid",
            poll_seconds=args.poll,
            inventory_db=folder / "inventory.sqlite",
            notifier_db=folder / "outbox.sqlite",
            namespace=f"bench{uuid.uuid4().hex[:6]}",
            catalog_path=catalog,
            format="json",  # the topics of bench/RESULTS.md's figures; the demo's are Avro (a registry per run)
        )
        app = build_app(config)
        transport = KafkaTransport(KafkaSettings(bootstrap))
        await transport.start()
        topics = [config.price_changed, config.price_decided, config.order_updated, config.price_adjustment]
        await transport.ensure_topics([app.topic_spec(t) for t in [*topics, config.customer_alert]])
        hops = HopTail(transport, config)
        await hops.follow(list(hops.steps))
        observer = FlowObserver(transport, config) if site else None  # what the collector reported
        if observer is not None:
            await observer.start()
        publisher = Publisher(transport, app.topic_spec)
        try:
            with AgentProcesses(bootstrap, console, env=config.env()) as agents:
                names = [ANALYSIS, NOTIFY, *[ORDER_UPDATE] * args.order_updates, *([COLLECTOR] if site else [])]
                for name in names:
                    proc = agents.start("examples.ecommerce_pricing:app", name)
                    agents.procs[f"{name}-{proc.pid}"] = agents.procs.pop(name)  # one entry per process
                if site is None:  # burst or paced
                    prices = cut(prices)
                    await inject(publisher, config, [{}, prices], first=0)
                with console.status(f"{source}: warm-up, one change per product"):
                    await settled(hops, args.products, 120)
                    await asyncio.sleep(SETTLE)
                warm = set(hops.changes)
                rounds = [prices]
                for _ in range(args.paced_rounds if source == "paced" else args.rounds):
                    rounds.append(cut(rounds[-1]))
                count = args.products * (len(rounds) - 1)
                meter.start()
                with console.status(f"{source}: {count} price cuts on {args.products} products"):
                    if site is None:
                        rate = args.rate if source == "paced" else None
                        await inject(publisher, config, rounds, first=1, rate=rate)
                    else:
                        assert observer is not None
                        await scrape_rounds(observer, site.url, rounds[1:])
                    await settled(hops, args.products + count, 300)
                meter.stop()
        finally:
            await hops.close()
            if observer is not None:
                await observer.close()
            await transport.close()
    measured = [t for cid, t in hops.changes.items() if cid not in warm]
    return figures(measured), {group: 1000 * cpu / len(measured) for group, cpu in meter.used.items()}


async def scrape_rounds(observer: FlowObserver, site_url: str, rounds: list[Prices]) -> None:
    limits = httpx.Limits(max_connections=4)  # the fixture site's listen backlog is small
    async with httpx.AsyncClient(timeout=30, trust_env=False, limits=limits) as client:
        for prices in rounds:
            await asyncio.gather(*(set_price(client, site_url, ScriptedChange(p, v)) for p, v in prices.items()))

            def reported(now: Prices = prices) -> bool:
                return all(observer.latest_price(p) == v for p, v in now.items())

            await observer.wait_for(reported, 60)


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
        publishing = []
        for event in events:  # on schedule, without waiting for one acknowledgement before the next send
            await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
            publishing.append(asyncio.ensure_future(publish(event)))
            sent += 1
        await asyncio.gather(*publishing)


class HopTail(TopicObserver):
    """The broker timestamp of each step of every change, by correlation id, read from the record headers alone.

    Lighter than ``FlowObserver`` (no payload is decoded), so the benchmark takes less of the CPU it measures.
    """

    def __init__(self, transport: Transport, config: PricingConfig) -> None:
        super().__init__(transport)
        self.steps = {
            config.price_changed: "published",
            config.price_decided: "decided",
            config.order_updated: "updated",
            config.customer_alert: "alerted",
        }
        self.changes: dict[str, dict[str, int]] = {}  # correlation id -> step -> the first record's timestamp
        self.alerted = 0

    async def take(self, record: Record) -> None:
        cid = next((v for k, v in record.headers if k == "ce_correlationid"), None)
        if cid is None:
            return
        steps = self.changes.setdefault(cid.decode(), {})
        step = self.steps[record.topic]
        if step not in steps:
            steps[step] = record.timestamp_ms
            self.alerted += step == "alerted"


async def settled(hops: HopTail, count: int, timeout: float) -> None:
    """Wait until ``count`` changes were alerted and every step of each has been read (topics are read apart)."""
    if not await hops.wait_for(lambda: hops.alerted >= count, timeout):
        raise TimeoutError(f"{len(hops.changes)} changes seen, {hops.alerted} alerted, after {timeout}s")
    if not await hops.wait_for(lambda: all(len(t) == len(hops.steps) for t in hops.changes.values()), 10):
        raise TimeoutError("a step of an alerted change was not read within 10 s")


def figures(measured: list[dict[str, int]]) -> dict[str, float]:
    first = min(t["published"] for t in measured)
    last = max(t["alerted"] for t in measured)

    def spans(start: str, end: str) -> list[float]:
        return [float(t[end] - t[start]) for t in measured]

    decide, update = spans("published", "decided"), spans("decided", "updated")
    tell, alert = spans("updated", "alerted"), spans("published", "alerted")
    return {
        "price changes measured": len(measured),
        "seconds, first change -> last alert": (last - first) / 1000,
        "price events/s end to end": len(measured) / ((last - first) / 1000),
        "decision latency p50 ms": pct(decide, 50),
        "decision latency p99 ms": pct(decide, 99),
        "  decided -> price updated p50 ms": pct(update, 50),
        "  decided -> price updated p99 ms": pct(update, 99),
        "  price updated -> alerted p50 ms": pct(tell, 50),
        "  price updated -> alerted p99 ms": pct(tell, 99),
        "change -> alert p50 ms": pct(alert, 50),
        "change -> alert p99 ms": pct(alert, 99),
    }


def target_figures(results: dict[str, dict[str, float]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The figures of the issue's targets in ``--json``'s form, for the sources that ran."""
    out = []
    for target in TARGETS:
        if target.source not in results:
            continue
        value = float(results[target.source][target.key])
        loads = {
            "burst": f"{args.products} products x {args.rounds} rounds, each round at once",
            "paced": f"{args.products} products x {args.paced_rounds} rounds at {args.rate:g} changes/s",
        }
        out.append(
            {
                "figure": target.name.replace("paced", f"paced {args.rate:g}/s"),
                "value": value,
                "unit": target.unit,
                "baseline": None,
                "baseline_value": None,
                "ratio": None,
                "target": target.text,
                "met": target.met(value),
                "load": f"{loads[target.source]}, one process per agent, {args.order_updates} order-update",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10, help="rounds of burst and scrape")
    parser.add_argument("--paced-rounds", type=int, default=20, help="rounds of paced")
    parser.add_argument("--poll", type=float, default=0.2, help="collector poll interval, seconds")
    parser.add_argument("--order-updates", type=int, default=1, help="order-update processes")
    parser.add_argument("--rate", type=float, default=500.0, help="changes per second for --source paced")
    parser.add_argument("--source", choices=["scrape", "burst", "direct", "paced", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help=f"a run of under ~2 minutes: {QUICK}, no scrape")
    parser.add_argument("--json", metavar="PATH", help="write the figures of the targets to PATH as a JSON list")
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**QUICK)
        args = parser.parse_args()
    source = "burst" if args.source == "direct" else args.source
    sources = ["burst", "paced", *([] if args.quick else ["scrape"])] if source == "all" else [source]
    results: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    with broker() as bootstrap:
        for name in sources:
            results[name], cpu[name] = asyncio.run(measure(bootstrap, args, name))
    if args.json:
        Path(args.json).write_text(json.dumps(target_figures(results, args), indent=2) + "\n")
    print(
        f"bench_pricing: {args.products} products; burst/scrape {args.rounds} rounds, paced {args.paced_rounds} "
        f"rounds at {args.rate:g}/s; collector poll {args.poll}s; {args.order_updates} order-update process(es)"
    )
    print(f"  {'':38} " + " ".join(f"{s:>10}" for s in sources))
    for name in results[sources[0]]:
        print(f"  {name:38} " + " ".join(f"{results[s][name]:10.1f}" for s in sources))
    print("  CPU seconds per 1,000 changes (each agent process with the MCP servers it started):")
    for group in sorted({g for used in cpu.values() for g in used}):
        print(f"    {group:36} " + " ".join(f"{cpu[s].get(group, 0.0):10.2f}" for s in sources))
    for fig in target_figures(results, args):
        print(f"  {fig['figure']}: {fig['value']:,.1f} {fig['unit']} (target {fig['target']}: "
              f"{'met' if fig['met'] else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    main()
