"""The example MCP servers, called through ToolPool over stdio and streamable HTTP."""

from __future__ import annotations

import re
import sqlite3
import sys
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentflux.contract.errors import ToolError
from agentflux.mcp import McpServerSpec, ToolPool

# Real MCP server subprocesses: the `services` tier, not the fast one.
pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
ServerFactory = Callable[..., McpServerSpec]


@pytest.fixture(params=["stdio", "http"])
def example(request: pytest.FixtureRequest, http_server: Callable[..., Any]) -> ServerFactory:
    """Declare an example server on this test's transport: ``example(name, module, env_var, db)``."""

    def declare(name: str, module: str, env_var: str | None = None, db: Path | None = None) -> McpServerSpec:
        if request.param == "stdio":
            # Over stdio the database comes through the environment, over HTTP through --db.
            env = {env_var: str(db)} if env_var and db else None
            return McpServerSpec(name, command=[PYTHON, "-m", module], env=env, cwd=str(REPO))
        args = ["--db", str(db)] if db else []
        return McpServerSpec(name, url=http_server("-m", module, *args).url)

    return declare


async def set_competitor_price(site: str, product_id: str, price: float) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(f"{site}/admin/prices", json={"product_id": product_id, "price": price})
        response.raise_for_status()


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_scraper(example: ServerFactory, fixture_site: str) -> None:
    async with ToolPool([example("scraper", "examples.mcp_servers.scraper")]) as pool:
        scraper = pool.handle("scraper", {"correlation_id": "scrape-1"})
        url = f"{fixture_site}/products/SKU-1001"
        page = await scraper.call("scrape_product", url=url)
        assert {k: page[k] for k in ("product_id", "price", "currency", "url")} == {
            "product_id": "SKU-1001",
            "price": 84.95,
            "currency": "EUR",
            "url": url,
        }
        assert datetime.fromisoformat(page["fetched_at"]).tzinfo is not None

        product_id = f"SKU-T-{uuid.uuid4().hex[:8]}"
        await set_competitor_price(fixture_site, product_id, 10.0)
        assert (await scraper.call("scrape_product", url=f"{fixture_site}/products/{product_id}"))["price"] == 10.0
        await set_competitor_price(fixture_site, product_id, 9.49)
        assert (await scraper.call("scrape_product", url=f"{fixture_site}/products/{product_id}"))["price"] == 9.49

        broken = f"{fixture_site}/malformed/SKU-1001"
        for bad_url, message in [
            (broken, f"no price element on {broken}"),
            (f"{fixture_site}/products/SKU-NOPE", "HTTP 404"),
            ("file:///etc/passwd", "only http(s) URLs"),
        ]:
            with pytest.raises(ToolError, match=re.escape(message)) as failed:
                await scraper.call("scrape_product", url=bad_url)
            assert not failed.value.transient

        pages = await scraper.call("scrape_products", urls=[url, broken, f"{fixture_site}/products/{product_id}"])
        assert [p.get("price") for p in pages] == [84.95, None, 9.49]  # one answer per URL, in order
        assert pages[1] == {"error": f"no price element on {broken}"}
        assert await scraper.call("scrape_products", urls=[]) == []


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_inventory_db(example: ServerFactory, tmp_path: Path) -> None:
    db = tmp_path / "inventory.sqlite"
    async with ToolPool([example("inventory-db", "examples.mcp_servers.inventory_db", "INVENTORY_DB", db)]) as pool:
        inventory = pool.handle("inventory-db")
        stock = await inventory.call("get_inventory", product_id="SKU-1003")
        assert {k: stock[k] for k in ("product_id", "stock", "price", "reserved")} == {
            "product_id": "SKU-1003",
            "stock": 15,
            "price": 24.0,
            "reserved": 0,
        }
        with pytest.raises(ToolError, match="unknown product 'SKU-NOPE'") as unknown:
            await inventory.call("get_inventory", product_id="SKU-NOPE")
        assert not unknown.value.transient

        first = await inventory.call("set_price", product_id="SKU-1003", price=22.5, change_id="chg-1")
        again = await inventory.call("set_price", product_id="SKU-1003", price=22.5, change_id="chg-1")
        assert (first["applied"], again["applied"]) == (True, False)
        assert first["previous_price"] == 24.0
        with pytest.raises(ToolError, match="already applied"):
            await inventory.call("set_price", product_id="SKU-1003", price=1.0, change_id="chg-1")
        assert (await inventory.call("get_inventory", product_id="SKU-1003"))["price"] == 22.5
        assert len(await inventory.call("list_price_changes", product_id="SKU-1003")) == 1

        held = await inventory.call("reserve", product_id="SKU-1003", quantity=5, reservation_id="res-1")
        repeat = await inventory.call("reserve", product_id="SKU-1003", quantity=5, reservation_id="res-1")
        assert (held["applied"], repeat["applied"], repeat["available"]) == (True, False, 10)
        with pytest.raises(ToolError, match="insufficient stock") as short:
            await inventory.call("reserve", product_id="SKU-1003", quantity=11, reservation_id="res-2")
        assert not short.value.transient
        assert (await inventory.call("get_inventory", product_id="SKU-1003"))["reserved"] == 5

        stocks = await inventory.call("get_inventories", product_ids=["SKU-1001", "SKU-NOPE", "SKU-1003"])
        assert [s.get("price") for s in stocks] == [89.9, None, 22.5]
        assert stocks[1] == {"error": "unknown product 'SKU-NOPE'"}
        changes = [
            {"product_id": "SKU-1001", "price": 80.0, "change_id": "chg-2"},
            {"product_id": "SKU-1003", "price": 9.99, "change_id": "chg-1"},  # chg-1 was applied at 22.50
            {"product_id": "SKU-1002", "price": 13.0, "change_id": "chg-3"},
            {"product_id": "SKU-1001", "price": 80.0, "change_id": "chg-2"},  # a repeat within the batch
        ]
        answers = await inventory.call("set_prices", changes=changes)
        assert [a.get("applied") for a in answers] == [True, None, True, False]
        assert "already applied" in answers[1]["error"]  # that change alone failed; the others stand
        assert (answers[0]["previous_price"], answers[3]["previous_price"]) == (89.9, 89.9)
        stocks = await inventory.call("get_inventories", product_ids=["SKU-1001", "SKU-1002", "SKU-1003"])
        assert [s["price"] for s in stocks] == [80.0, 13.0, 22.5]

    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM price_changes").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_notifier(example: ServerFactory, tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    async with ToolPool([example("notifier", "examples.mcp_servers.notifier", "NOTIFIER_DB", db)]) as pool:
        notifier = pool.handle("notifier")
        sent = await notifier.call("notify", customer_id="c-7", message="Price drop!", idempotency_key="k-1")
        dup = await notifier.call("notify", customer_id="c-7", message="Price drop!", idempotency_key="k-1")
        other = await notifier.call("notify", customer_id="c-8", message="Back in stock", idempotency_key="k-2")
        assert (sent["duplicate"], dup["duplicate"], other["duplicate"]) == (False, True, False)
        assert dup["notification_id"] == sent["notification_id"] != other["notification_id"]
        outbox = await notifier.call("list_notifications")
        assert [n["idempotency_key"] for n in outbox] == ["k-2", "k-1"]
        assert len(await notifier.call("list_notifications", limit=1)) == 1

        batch = [
            {"customer_id": "c-9", "message": "Price drop!", "idempotency_key": "k-3"},
            {"customer_id": "c-7", "message": "Price drop!", "idempotency_key": "k-1"},  # sent before
            {"customer_id": "", "message": "Price drop!", "idempotency_key": "k-4"},
        ]
        answers = await notifier.call("notify_many", notifications=batch)
        assert [a.get("duplicate") for a in answers] == [False, True, None]
        assert answers[1]["notification_id"] == sent["notification_id"] and "non-empty" in answers[2]["error"]

    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM notifications").fetchone()[0] == 3
