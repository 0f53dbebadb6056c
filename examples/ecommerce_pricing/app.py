"""Four agents that reprice our products when a competitor changes a price.

==================  =====================================================================================
agent               what it does
==================  =====================================================================================
price-collector     every ``PRICING_POLL_SECONDS``, scrapes the competitor's pages through the MCP
                    ``scraper`` and publishes ``ecommerce.price-changed.v1`` (keyed by product, a fresh
                    correlation id per change) when a page shows a new price (see ``collector.py``)
price-analysis      reads the stock through the MCP ``inventory-db``, decides with ``rules.py`` (or an
                    LLM, see ``llm.py``), records the decision on ``ecommerce.price-decided.v1`` and,
                    unless it holds (a price we already charge is a hold), delegates the skill
                    ``update-price`` (found through the A2A card registry when ``agentflux run`` has
                    discovery), with a task id derived from the change id
order-update        serves ``update-price``: ``set_price`` through MCP (idempotent on the change id),
                    then publishes ``ecommerce.order-updated.v1`` and ``action.price-adjustment.v1``
customer-notify     tells the customers watching a product about a price drop through the MCP
                    ``notifier`` (idempotent on change id and customer), then publishes
                    ``notification.customer-alert.v1``
==================  =====================================================================================

The collector is not the only producer that may write ``ecommerce.price-changed.v1``:
the system's first producer, a plain Kafka producer that sends a JSON body of
``product_id``, ``competitor``, ``new_price``, ``timestamp`` and ``correlation_id``
without headers, drives it too (``models.PriceChanged`` says how such a body is read,
and the runtime makes its ``correlation_id`` the one everything downstream carries).

Run it all with ``agentflux run examples.ecommerce_pricing:app`` or one agent per
process with ``--agent NAME`` (``agentflux demo pricing`` does the latter).
Exactly-once effects come from idempotency on the change id at every step that
has a side effect; delivery itself is at least once.

Each agent handles up to ``CONCURRENCY`` records at once (one product's in
order), and the tool calls of one kind that overlap go to the MCP server as one
call of its batch tool (``scrape_products``, ``get_inventories``,
``set_prices``, ``notify_many``; see ``batching.py``): a stdio MCP call costs
about 2 ms of CPU whatever it carries, which one call per record spends many
times over in a burst.
"""

from __future__ import annotations

import asyncio
import sys

from pydantic import BaseModel

from agentflux import AgentApp, Context, PayloadDecodeError, Reject, Retry, RetryPolicy, ToolError, UnknownSkill
from agentflux.contract.codec import decode
from agentflux.mcp import McpServerSpec
from examples.ecommerce_pricing.batching import Batcher
from examples.ecommerce_pricing.collector import PriceTracker
from examples.ecommerce_pricing.config import REPO, PricingConfig
from examples.ecommerce_pricing.llm import LlmAdvisor, LlmSettings
from examples.ecommerce_pricing.models import (
    CustomerAlert,
    OrderUpdated,
    PriceAdjustment,
    PriceChanged,
    PriceDecided,
    PriceUpdate,
    PriceUpdated,
)
from examples.ecommerce_pricing.outcomes import alert_key, alert_message, facts_for, watchers_to_alert
from examples.ecommerce_pricing.rules import cents, decide, hold_if_unchanged

COLLECTOR, ANALYSIS, ORDER_UPDATE, NOTIFY = "price-collector", "price-analysis", "order-update", "customer-notify"
DELEGATE_TIMEOUT = 30.0
UNKNOWN_SKILL_RETRY = 2.0
CONCURRENCY = 128  # records each agent handles at once
SCRAPE_BATCH = 50  # pages per scrape_products call; the scraper fetches 8 at a time


def tool_servers(config: PricingConfig) -> list[McpServerSpec]:
    """The three MCP servers, as stdio subprocesses each agent process opens on first use."""

    def server(name: str, module: str, *args: str) -> McpServerSpec:
        command = [sys.executable, "-m", f"examples.mcp_servers.{module}", *args]
        return McpServerSpec(name, command=command, cwd=str(REPO))

    return [
        server("scraper", "scraper"),
        server("inventory-db", "inventory_db", "--db", str(config.inventory_db)),
        server("notifier", "notifier", "--db", str(config.notifier_db)),
    ]


def event_types(config: PricingConfig) -> dict[str, type[BaseModel]]:
    """The record type of each event topic, in the order of the flow."""
    return {
        config.price_changed: PriceChanged,
        config.price_decided: PriceDecided,
        config.order_updated: OrderUpdated,
        config.price_adjustment: PriceAdjustment,
        config.customer_alert: CustomerAlert,
    }


def task_id_for(change_id: str) -> str:
    """The ``update-price`` task of a change: the same for every delivery of its event."""
    return f"reprice-{change_id}"


def build_app(config: PricingConfig | None = None, *, advisor: LlmAdvisor | None = None) -> AgentApp:
    """The pricing app for ``config`` (default: from the environment); ``advisor`` defaults to the env's LLM.

    The five event topics are in ``config.format``: Avro through the schema registry by default,
    each declaring the one record type it carries. The skill's task topics stay JSON.
    """
    config = config or PricingConfig.from_env()
    if advisor is None and (settings := LlmSettings.from_env()) is not None:
        advisor = LlmAdvisor(settings)
    app = AgentApp(config.app_name)
    for topic, model in event_types(config).items():
        app.topic(topic, format=config.format, types=[model])
    for spec in tool_servers(config):
        app.tool_server(spec)
    patient = RetryPolicy(max_attempts=8, initial_backoff=0.5, max_backoff=5.0)
    collector = app.agent(COLLECTOR, description="Publishes competitor price changes", publishes=[config.price_changed])
    # Many records at once per agent (different products; one product's stay in order): a decision waits for
    # its update-price task (or an LLM), and the calls that overlap share batch tool calls.
    analysis = app.agent(
        ANALYSIS,
        description="Decides how to answer competitor prices",
        concurrency=CONCURRENCY,
        retry=patient,
        publishes=[config.price_decided],
    )
    order_update = app.agent(
        ORDER_UPDATE,
        description="Applies price updates",
        concurrency=CONCURRENCY,
        publishes=[config.order_updated, config.price_adjustment],
    )
    notify = app.agent(
        NOTIFY, description="Alerts watching customers", concurrency=CONCURRENCY, publishes=[config.customer_alert]
    )
    tracker = PriceTracker(COLLECTOR)
    # Calls of one tool that overlap go as one call of its batch tool (see batching.py).
    stocks = Batcher("inventory-db", "get_inventories", "product_ids")
    prices = Batcher("inventory-db", "set_prices", "changes")
    notices = Batcher("notifier", "notify_many", "notifications")

    @collector.every(config.poll_seconds)
    async def collect(ctx: Context) -> None:
        if not tracker.loaded:  # the log is the collector's memory (see collector.py)
            pages = tracker.load(await published_changes(ctx, config.price_changed))
            ctx.log.info("resumed with the last known price of %d competitor page(s)", pages)
        scraper = ctx.tools("scraper")

        async def scrape(product_ids: list[str]) -> list[PriceChanged | None]:
            urls = [config.page_url(p) for p in product_ids]
            try:
                pages = await scraper.call("scrape_products", urls=urls)
            except ToolError as exc:
                ctx.log.warning("cannot read %d page(s): %s", len(urls), exc)
                return []
            seen = []
            for product_id, url, page in zip(product_ids, urls, pages, strict=True):
                if "error" in page:
                    ctx.log.warning("cannot read %s: %s", url, page["error"])
                    continue
                seen.append(tracker.observe(product_id, url, float(page["price"]), str(page.get("currency", "EUR"))))
            return seen

        products = list(config.catalog)
        chunks = [products[n : n + SCRAPE_BATCH] for n in range(0, len(products), SCRAPE_BATCH)]
        changes = [c for chunk in await asyncio.gather(*(scrape(c) for c in chunks)) for c in chunk if c is not None]

        async def publish(change: PriceChanged) -> None:
            await ctx.publish(
                config.price_changed, change, key=change.product_id, new_correlation=True,
                correlation_id=change.correlation_id,
            )  # fmt: skip
            tracker.remember(change)

        await asyncio.gather(*(publish(c) for c in changes))

    @analysis.on(config.price_changed)
    async def analyse(event: PriceChanged, ctx: Context) -> None:
        product = config.catalog.get(event.product_id)
        if product is None:
            raise Reject(f"product {event.product_id!r} is not in our catalog")
        inventory = ctx.tools("inventory-db")
        stock = await stocks.call(ctx, event.product_id)
        facts = facts_for(event, int(stock["available"]), product)
        decision = decide(facts)
        if advisor is not None:
            decision = await advisor.decide(facts, decision)
        if decision.price is not None and cents(decision.price) == cents(float(stock["price"])):
            # A no-op is a hold, unless it is this very change (delivered again) that set the price.
            before = await price_before(inventory, event.change_id, event.product_id, float(stock["price"]))
            decision = hold_if_unchanged(decision, before)
        decided = PriceDecided(
            change_id=event.change_id,
            product_id=event.product_id,
            action=decision.action,
            price=decision.price,
            reason=decision.reason,
            decided_by=decision.decided_by,
            competitor_price=event.new_price,
            available=facts.available,
        )
        await ctx.publish(config.price_decided, decided, key=event.product_id)
        if decision.price is None:
            return
        update = PriceUpdate(
            change_id=event.change_id,
            product_id=event.product_id,
            price=decision.price,
            reason=decision.reason,
            competitor_price=event.new_price,
        )
        try:  # found by skill through the card registry, never by address
            await ctx.delegate(config.skill, update, timeout=DELEGATE_TIMEOUT, task_id=task_id_for(event.change_id))
        except UnknownSkill as exc:  # no live agent offers it (yet): keep the change, try again
            raise Retry(f"{exc}; trying again", delay=UNKNOWN_SKILL_RETRY) from exc

    @order_update.skill(config.skill, description="Sets a product's price, once per change id, and announces it")
    async def update_price(task: PriceUpdate, ctx: Context) -> PriceUpdated:
        inventory = ctx.tools("inventory-db")
        try:
            change = {"product_id": task.product_id, "price": task.price, "change_id": task.change_id}
            result = await prices.call(ctx, change)
            updated = PriceUpdated(
                change_id=task.change_id,
                product_id=task.product_id,
                price=task.price,
                previous_price=float(result["previous_price"]),
                applied=bool(result["applied"]),
            )
        except ToolError as exc:
            if "already applied" not in str(exc):
                raise
            updated = await first_applied(inventory, task)
        adjustment = PriceAdjustment(
            change_id=updated.change_id,
            product_id=updated.product_id,
            previous_price=updated.previous_price,
            price=updated.price,
            competitor_price=task.competitor_price,
            reason=task.reason,
            applied=updated.applied,
        )
        order = OrderUpdated(
            change_id=updated.change_id,
            product_id=updated.product_id,
            previous_price=updated.previous_price,
            price=updated.price,
            applied=updated.applied,
        )
        await asyncio.gather(
            ctx.publish(config.order_updated, order, key=task.product_id),
            ctx.publish(config.price_adjustment, adjustment, key=task.product_id),
        )
        return updated

    @notify.on(config.order_updated)
    async def alert_watchers(update: OrderUpdated, ctx: Context) -> None:
        customers = watchers_to_alert(config.catalog.get(update.product_id), update.previous_price, update.price)
        message = alert_message(update.product_id, update.previous_price, update.price)

        async def alert(customer: str) -> None:
            key = alert_key(update.change_id, customer)
            notice = {"customer_id": customer, "message": message, "idempotency_key": key}
            sent = await notices.call(ctx, notice)
            alert = CustomerAlert(
                notification_id=sent["notification_id"],
                customer_id=customer,
                product_id=update.product_id,
                change_id=update.change_id,
                previous_price=update.previous_price,
                price=update.price,
                message=message,
                duplicate=bool(sent["duplicate"]),
            )
            await ctx.publish(config.customer_alert, alert, key=customer)

        await asyncio.gather(*(alert(c) for c in customers))

    return app


async def published_changes(ctx: Context, topic: str) -> list[PriceChanged]:
    """Every price change on ``topic`` that can be read (Avro through the registry, or JSON), oldest first."""
    publisher = ctx.services.publisher
    changes = []
    for record in await publisher.transport.read_all(topic):
        try:
            if publisher.payloads is None:
                changes.append(decode(record.value, PriceChanged))
            else:
                changes.append(await publisher.payloads.decode(topic, record.value, PriceChanged))
        except PayloadDecodeError:
            continue  # not a price change: the agents dead-letter it, the collector's memory leaves it out
    return changes


async def price_before(inventory: object, change_id: str, product_id: str, current: float) -> float:
    """Our price before ``change_id``: ``current``, or the price it replaced if it was applied already."""
    rows = await inventory.call("list_price_changes", product_id=product_id)  # type: ignore[attr-defined]
    row = next((r for r in rows if r["change_id"] == change_id), None)
    return current if row is None else float(row["old_price"])


async def first_applied(inventory: object, task: PriceUpdate) -> PriceUpdated:
    """The change already applied under ``task.change_id`` with another price: the first one wins."""
    rows = await inventory.call("list_price_changes", product_id=task.product_id)  # type: ignore[attr-defined]
    row = next((r for r in rows if r["change_id"] == task.change_id), None)
    if row is None:
        raise Reject(f"change {task.change_id} conflicts with an applied change that cannot be found")
    return PriceUpdated(
        change_id=task.change_id,
        product_id=task.product_id,
        price=float(row["new_price"]),
        previous_price=float(row["old_price"]),
        applied=False,
    )


app = build_app()
