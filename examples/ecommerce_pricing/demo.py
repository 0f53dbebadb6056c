"""``agentflux demo pricing``: the four pricing agents end to end, each in its own process.

It starts the competitor site, runs every agent with ``agentflux run ... --agent
NAME``, waits until the collector's first sighting of each competitor page has
been handled (warm-up: the agents start their MCP servers), then plays a
scripted feed of competitor price changes against the site and prints a line
for every step of every change, with its correlation id. It stops after
``changes`` scripted changes (or on Ctrl-C with ``forever``), waits until every
change has been fully handled, and checks the inventory database and the
notifier outbox against what the rules predict. The run has topics, groups and
a skill of its own (a fresh namespace), and every client is closed before it
returns; the summary names topics by their contract names.

With ``kill_analysis`` it SIGKILLs the analysis agent a third of the way into the
feed and restarts it ``restart_after`` seconds later (same ``--instance-id``, so
it takes its partitions back at once). The changes published meanwhile wait in
Kafka; the restarted agent works through them and every adjustment still
happens exactly once. See docs/pricing-walkthrough.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from agentflux.contract.topics import task_requests_topic
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings
from examples.demo_support import AgentProcesses, DeadLetterWatch, demo_payloads, demo_registry, wait_for_groups
from examples.ecommerce_pricing.app import ANALYSIS, COLLECTOR, NOTIFY, ORDER_UPDATE, build_app
from examples.ecommerce_pricing.config import PricingConfig
from examples.ecommerce_pricing.feed import FixtureSite, ScriptedChange, scripted_changes, set_price
from examples.ecommerce_pricing.observer import FlowObserver
from examples.ecommerce_pricing.report import Kill, Startup, complete, summarize

APP_REF = "examples.ecommerce_pricing:app"
ANALYSIS_INSTANCE = "price-analysis-1"


@dataclass(frozen=True)
class DemoOptions:
    changes: int = 20
    forever: bool = False
    kill_analysis: bool = False
    restart_after: float = 5.0
    interval: float = 0.75
    poll_seconds: float = 0.25
    seed: int = 7
    data_dir: Path | None = None
    #: Suffix of this run's topics, groups and skill. None gives each run a fresh one: a broker keeps its
    #: log across runs, and a run must not pick up the records (or the group offsets) of an earlier one.
    namespace: str | None = None


def start_agent(agents: AgentProcesses, name: str) -> None:
    extra = ("--instance-id", ANALYSIS_INSTANCE) if name == ANALYSIS else ()
    agents.start(APP_REF, name, *extra)


async def run_demo(
    bootstrap: str, console: Console, options: DemoOptions | None = None, *, schema_registry_url: str | None = None
) -> dict[str, object]:
    """Run the system once and return the summary.

    The event topics are Avro (``app.py``): the registry is ``schema_registry_url``, else the one
    the settings resolve for ``bootstrap`` (``demo_support.demo_registry``). Every agent process gets it.
    """
    options = options or DemoOptions()
    registry = demo_registry(bootstrap, schema_registry_url, "the pricing demo (its events are Avro)")
    started = time.time()
    data = options.data_dir or Path(tempfile.mkdtemp(prefix="agentflux-pricing-"))
    data.mkdir(parents=True, exist_ok=True)
    with FixtureSite() as site:
        config = PricingConfig(
            site_url=site.url,
            poll_seconds=options.poll_seconds,
            inventory_db=data / "inventory.sqlite",
            notifier_db=data / "outbox.sqlite",
            namespace=f"run-{uuid.uuid4().hex[:6]}" if options.namespace is None else options.namespace,
        )
        console.print(f"[green]competitor site[/] at {site.url}; databases in {data}")
        if config.namespace:
            console.print(
                f"namespace [bold]{config.namespace}[/]: this run's topics ({config.price_changed}, ...), "
                f"groups and skill ({config.skill}) are its own"
            )
        console.print(f"[green]schema registry[/] at {registry}: the event topics are Avro")
        app = build_app(config)
        transport = KafkaTransport(KafkaSettings(bootstrap))
        await transport.start()
        payloads = demo_payloads(app.format_of, registry)
        observer = FlowObserver(transport, config, console, payloads)
        letters = DeadLetterWatch(transport, [*config.topics, task_requests_topic(config.skill)])
        try:
            await transport.ensure_topics([app.topic_spec(t) for t in config.topics])
            await observer.start()
            await letters.start()
            with AgentProcesses(bootstrap, console, env=config.env(), registry=registry) as agents:
                startup = Startup(agents_started=time.time())
                for name in (ANALYSIS, ORDER_UPDATE, NOTIFY, COLLECTOR):
                    start_agent(agents, name)
                groups = [app.agents[ANALYSIS].group_id, app.agents[NOTIFY].group_id]
                await wait_for_groups(bootstrap, [*groups, app.agents[ORDER_UPDATE].task_group_id], console)
                startup.groups_ready = time.time()
                await warm_up(observer, config, console)
                kill, interrupted = await feed(agents, observer, site.url, options, console)
                handled = await finish(observer, config, console, interrupted)
        finally:  # every client closed here, before the broker may stop
            await letters.close()
            await observer.close()
            await payloads.close()
            await transport.close()
    return summarize(
        observer, config, data, kill, handled, started,
        interrupted=interrupted, dead_letters=len(letters.letters), startup=startup,
    )  # fmt: skip


async def warm_up(observer: FlowObserver, config: PricingConfig, console: Console) -> None:
    """Wait until the collector's first look at every page has been handled end to end.

    That first pass starts every MCP server; the scripted changes come after it, so their latency is the
    system's, not its start-up's.
    """
    with console.status("waiting for the collector's first look at the competitor's pages"):
        if not await observer.wait_for(lambda: len(observer.changes) >= len(config.catalog), 60):
            raise TimeoutError("the collector reported no competitor prices within 60 s")
    with console.status("waiting for the first look to be handled (the agents start their MCP servers)"):
        if not await observer.wait_for(lambda: complete(observer, config), 60):
            raise TimeoutError("the first competitor prices were not handled within 60 s")


async def feed(
    agents: AgentProcesses, observer: FlowObserver, site_url: str, options: DemoOptions, console: Console
) -> tuple[Kill | None, bool]:
    """Play the scripted changes; returns the kill (if any) and whether Ctrl-C stopped it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    script = scripted_changes(10**6 if options.forever else options.changes, seed=options.seed)
    kill_at = max(1, options.changes // 3) if options.kill_analysis else -1
    kill: Kill | None = None
    restarting: asyncio.Task[None] | None = None
    posted: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
            for n, change in enumerate(script):
                if stop.is_set():
                    break
                if n == kill_at:
                    agents.kill(ANALYSIS)
                    kill = Kill(at_change=n, killed_ms=int(time.time() * 1000))
                    restarting = asyncio.create_task(restart_later(agents, kill, options.restart_after, console))
                await post(client, observer, site_url, change, posted)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), options.interval)
            if restarting is not None:
                await restarting
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    await observer.wait_for(lambda: all(observer.latest_price(p) == v for p, v in posted.items()), 15)
    return kill, stop.is_set()


async def post(
    client: httpx.AsyncClient, observer: FlowObserver, site_url: str, change: ScriptedChange, posted: dict[str, float]
) -> None:
    """Set one competitor price, once the collector has reported this product's previous one (never merge two)."""
    last = posted.get(change.product_id)
    if last is not None:
        await observer.wait_for(lambda: observer.latest_price(change.product_id) == last, 15)
    observer.site_changed(change.product_id, change.price, int(time.time() * 1000))
    await set_price(client, site_url, change)
    posted[change.product_id] = change.price


async def restart_later(agents: AgentProcesses, kill: Kill, delay: float, console: Console) -> None:
    await asyncio.sleep(delay)
    console.print(f"[yellow]restarting[/] {ANALYSIS}: the changes published meanwhile wait for it in Kafka")
    start_agent(agents, ANALYSIS)
    kill.restarted_ms = int(time.time() * 1000)


async def finish(observer: FlowObserver, config: PricingConfig, console: Console, interrupted: bool) -> bool:
    """Wait until every change has been handled as the rules predict; True when it has."""
    timeout = 5.0 if interrupted else 90.0
    with console.status("waiting for the last changes to be handled"):
        return await observer.wait_for(lambda: complete(observer, config), timeout)
