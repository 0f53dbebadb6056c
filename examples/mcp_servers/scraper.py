"""An MCP server that reads a competitor's product page and returns its price.

Tool ``scrape_product(url)`` fetches an http(s) page and reads the product id
from a ``data-product-id`` attribute and the price from
``<span class="price" data-currency="EUR">19.99</span>``. Pages without a price
element fail with "no price element on <url>". ``scrape_products(urls)`` reads
several pages at once (``FETCH_CONCURRENCY`` at a time) in one call, with one
answer per URL. The server keeps one HTTP client, and its connections, for all calls.

Run: ``python -m examples.mcp_servers.scraper`` (stdio) or ``... --http PORT``.
Pair it with ``python -m examples.mcp_servers.fixture_site`` for local pages.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, TypedDict
from urllib.parse import urlsplit

import httpx
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from examples.mcp_servers import serve, transport_parser

FETCH_TIMEOUT = 5.0
FETCH_CONCURRENCY = 8

mcp = MCPServer("scraper", instructions="Reads competitor product pages.", log_level="WARNING")


class ScrapedProduct(TypedDict):
    product_id: str
    price: float
    currency: str
    url: str
    fetched_at: str


class _ProductPage(HTMLParser):
    """Collects the first product id, and the price element's currency and text."""

    def __init__(self) -> None:
        super().__init__()
        self.product_id: str | None = None
        self.currency: str | None = None
        self.price_text: str | None = None
        self._in_price = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self.product_id is None and attributes.get("data-product-id"):
            self.product_id = attributes["data-product-id"]
        classes = (attributes.get("class") or "").split()
        if self.price_text is None and not self._in_price and "price" in classes:
            self._in_price = True
            self.currency = attributes.get("data-currency")
            self.price_text = ""

    def handle_endtag(self, tag: str) -> None:
        self._in_price = False

    def handle_data(self, data: str) -> None:
        if self._in_price:
            self.price_text = (self.price_text or "") + data


def parse_product(html: str, url: str) -> ScrapedProduct:
    """The product on a page, or a ``ToolError`` saying what is missing."""
    page = _ProductPage()
    page.feed(html)
    page.close()
    if page.price_text is None:
        raise ToolError(f"no price element on {url}")
    if page.product_id is None:
        raise ToolError(f"no data-product-id on {url}")
    text = page.price_text.strip().replace(",", ".")
    try:
        price = float(text)
    except ValueError:
        raise ToolError(f"price {text!r} on {url} is not a number") from None
    return ScrapedProduct(
        product_id=page.product_id,
        price=price,
        currency=page.currency or "EUR",
        url=url,
        fetched_at=datetime.now(UTC).isoformat(),
    )


@mcp.tool()
async def scrape_product(url: str) -> ScrapedProduct:
    """Fetch a product page and return its product id, price, currency, URL and fetch time."""
    return await _scrape(url)


@mcp.tool()
async def scrape_products(urls: list[str]) -> list[dict[str, Any]]:
    """``scrape_product`` for several pages, fetched concurrently: one answer per URL, in order.

    A page that cannot be read answers ``{"error": ...}`` with the reason ``scrape_product`` would give.
    """
    fetching = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(url: str) -> dict[str, Any]:
        async with fetching:
            try:
                return dict(await _scrape(url))
            except ToolError as exc:
                return {"error": str(exc)}

    return list(await asyncio.gather(*(one(url) for url in urls)))


_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def _client() -> httpx.AsyncClient:
    """The server's HTTP client (one per event loop), whose connections later fetches reuse."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = httpx.AsyncClient(timeout=FETCH_TIMEOUT, trust_env=False, follow_redirects=True)
    return client


async def _scrape(url: str) -> ScrapedProduct:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ToolError(f"only http(s) URLs can be scraped, not {url!r}")
    try:
        response = await _client().get(url)
    except httpx.HTTPError as exc:
        raise ToolError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise ToolError(f"HTTP {response.status_code} from {url}")
    return parse_product(response.text, url)


def main(argv: list[str] | None = None) -> None:
    args = transport_parser(__doc__.splitlines()[0] if __doc__ else "").parse_args(argv)
    serve(mcp, args.http)


if __name__ == "__main__":
    main()
