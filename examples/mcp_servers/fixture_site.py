"""A local competitor web shop that serves fixture product pages (plain HTTP, not MCP).

The scraper example reads these pages, so the pricing example never touches
the internet. Prices live in memory, seeded from
``fixtures/competitor_products.json``, and change when someone posts to
``/admin/prices``.

Routes::

    GET  /                          index of product links
    GET  /products/{product_id}     a product page with its price element
    GET  /malformed/{product_id}    the same page without a price element
    GET  /admin/prices              every product and price, as JSON
    POST /admin/prices              {"product_id", "price", "currency"?, "name"?} sets (or adds) a price

Run: ``python -m examples.mcp_servers.fixture_site --port 8089`` (``--port 0``
picks a free port). The first line on stdout is the base URL.
"""

from __future__ import annotations

import argparse
import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).with_name("fixtures") / "competitor_products.json"

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{name} | Rival Outdoor</title></head>
<body>
<article class="product" data-product-id="{product_id}">
  <h1 class="product-name">{name}</h1>
  <p class="offer">{offer}</p>
</article>
</body>
</html>
"""


class Catalog:
    """Thread-safe product prices: ``{product_id: {"name", "price", "currency"}}``."""

    def __init__(self, products: list[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._products = {p["product_id"]: {k: v for k, v in p.items() if k != "product_id"} for p in products}

    def get(self, product_id: str) -> dict[str, Any] | None:
        with self._lock:
            product = self._products.get(product_id)
            return dict(product) if product is not None else None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {pid: dict(product) for pid, product in self._products.items()}

    def set_price(self, update: dict[str, Any]) -> dict[str, Any]:
        product_id, price = update.get("product_id"), update.get("price")
        if not isinstance(product_id, str) or not product_id:
            raise ValueError("product_id must be a non-empty string")
        if isinstance(price, bool) or not isinstance(price, int | float) or price <= 0:
            raise ValueError("price must be a positive number")
        with self._lock:
            product = self._products.setdefault(product_id, {"name": product_id, "currency": "EUR"})
            product["price"] = round(float(price), 2)
            product["currency"] = str(update.get("currency", product["currency"]))
            product["name"] = str(update.get("name", product["name"]))
            return {"product_id": product_id, **product}


def render(product_id: str, product: dict[str, Any], *, malformed: bool = False) -> str:
    if malformed:
        offer = '<span class="price-pending">Price on request</span>'
    else:
        currency = html.escape(product["currency"], quote=True)
        offer = f'Now only <span class="price" data-currency="{currency}">{product["price"]:.2f}</span>'
    return _PAGE.format(product_id=html.escape(product_id, quote=True), name=html.escape(product["name"]), offer=offer)


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        catalog = self.server.catalog
        if path == "/":
            links = "".join(f'<li><a href="/products/{pid}">{pid}</a></li>' for pid in catalog.snapshot())
            self._send(200, "text/html", f"<!doctype html><ul>{links}</ul>")
        elif path == "/admin/prices":
            self._send(200, "application/json", json.dumps(catalog.snapshot()))
        elif path.startswith(("/products/", "/malformed/")):
            _, kind, product_id = path.split("/", 2)
            product = catalog.get(product_id)
            if product is None:
                self._send(404, "text/html", f"<h1>No product {html.escape(product_id)}</h1>")
            else:
                self._send(200, "text/html", render(product_id, product, malformed=kind == "malformed"))
        else:
            self._send(404, "text/html", "<h1>Not found</h1>")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/admin/prices":
            self._send(404, "text/html", "<h1>Not found</h1>")
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            product = self.server.catalog.set_price(body)
        except ValueError as exc:
            self._send(400, "application/json", json.dumps({"error": str(exc)}))
            return
        self._send(200, "application/json", json.dumps(product))

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, catalog: Catalog) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.catalog = catalog


def make_server(port: int = 0, catalog_path: Path = CATALOG) -> ThreadingHTTPServer:
    """A site bound to ``127.0.0.1:port`` (0 picks one); call ``serve_forever()`` on it."""
    products = json.loads(catalog_path.read_text(encoding="utf-8"))
    return _Site(port, Catalog(products))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8089, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--catalog", type=Path, default=CATALOG, help="JSON list of products to serve")
    args = parser.parse_args(argv)
    site = make_server(args.port, args.catalog)
    print(f"http://127.0.0.1:{site.server_address[1]}", flush=True)
    try:
        site.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        site.server_close()


if __name__ == "__main__":
    main()
