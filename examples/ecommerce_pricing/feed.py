"""The competitor's side of the demo: its web shop, and a scripted feed of price changes.

``FixtureSite`` runs ``examples.mcp_servers.fixture_site`` as a subprocess on a
free port. ``scripted_changes`` is a deterministic (seeded) sequence of new
competitor prices, mostly cuts, that never changes one product twice in a row;
``set_price`` posts one to the site's ``/admin/prices``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from examples.ecommerce_pricing.config import REPO
from examples.ecommerce_pricing.rules import cents
from examples.mcp_servers import FIXTURES

COMPETITOR_CATALOG = FIXTURES / "competitor_products.json"
_FACTORS = (0.86, 0.9, 0.93, 0.95, 0.97, 1.04, 1.08)  # more cuts than raises


@dataclass(frozen=True)
class ScriptedChange:
    product_id: str
    price: float


def competitor_prices(path: Path = COMPETITOR_CATALOG) -> dict[str, float]:
    """The prices the competitor site starts with."""
    return {p["product_id"]: float(p["price"]) for p in json.loads(path.read_text(encoding="utf-8"))}


def scripted_changes(count: int, *, seed: int = 7, start: dict[str, float] | None = None) -> list[ScriptedChange]:
    """``count`` new competitor prices, the same for the same seed."""
    rng = random.Random(seed)
    prices = dict(start if start is not None else competitor_prices())
    changes: list[ScriptedChange] = []
    last: str | None = None
    for _ in range(count):
        product_id = rng.choice(sorted(p for p in prices if p != last))
        price = cents(prices[product_id] * rng.choice(_FACTORS))
        if price == prices[product_id]:
            price = cents(price - 0.01)
        prices[product_id] = price
        changes.append(ScriptedChange(product_id, price))
        last = product_id
    return changes


class FixtureSite:
    """The competitor site as a subprocess; ``url`` is its base URL. Stopped on exit, also on errors.

    ``catalog`` replaces the site's products (a JSON list like ``fixtures/competitor_products.json``).
    """

    def __init__(self, port: int = 0, catalog: Path | None = None) -> None:
        self.port = port
        self.catalog = catalog
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FixtureSite:
        command = [sys.executable, "-m", "examples.mcp_servers.fixture_site", "--port", str(self.port)]
        if self.catalog is not None:
            command += ["--catalog", str(self.catalog)]
        self._proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().decode().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the fixture site did not start (said {self.url!r})")
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


async def set_price(client: httpx.AsyncClient, site_url: str, change: ScriptedChange) -> None:
    """Change the competitor's price for one product."""
    body = {"product_id": change.product_id, "price": change.price}
    response = await client.post(f"{site_url}/admin/prices", json=body)
    response.raise_for_status()
