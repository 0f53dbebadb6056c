"""Configuration of the pricing system, read from the environment by ``PricingConfig.from_env()``.

=========================  ====================================================  =======================
variable                   meaning                                               default
=========================  ====================================================  =======================
``PRICING_SITE_URL``       base URL of the competitor site (``fixture_site``)    ``http://127.0.0.1:8089``
``PRICING_POLL_SECONDS``   how often the collector scrapes every product page    ``1.0``
``PRICING_CATALOG``        JSON list of our products: floor price, watchers      ``catalog.json`` here
``INVENTORY_DB``           SQLite file of the ``inventory-db`` MCP server        a file in the temp dir
``NOTIFIER_DB``            SQLite file of the ``notifier`` MCP server            a file in the temp dir
``PRICING_NAMESPACE``      suffix for the app, topic domains and skill id        empty
``PRICING_FORMAT``         format of the five event topics: ``avro`` (through    ``avro``
                           the schema registry) or ``json`` (no registry)
=========================  ====================================================  =======================

``PRICING_NAMESPACE`` lets several independent copies share one Kafka cluster
(the e2e tests give each test its own): with ``ns=t1`` the app is
``pricing-t1``, the topics are ``ecommerce-t1.price-changed.v1`` and so on, and
the skill is ``update-price-t1``. Without it the names are the canonical ones.
``PRICING_FORMAT=json`` is for a cluster without a schema registry, and for the
in-memory test kit (``agentflux.testing.TestApp``), which has none. The LLM
settings are read by ``llm.LlmSettings.from_env()``.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentflux import ConfigError
from agentflux.contract.schemas import Format, check_format

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_CATALOG = HERE / "catalog.json"


@dataclass(frozen=True)
class Product:
    """One of our products: the lowest price we may charge and the customers watching it."""

    product_id: str
    floor_price: float
    watchers: tuple[str, ...] = ()


@functools.cache
def load_catalog(path: Path) -> dict[str, Product]:
    """The products in a catalog file (read once per process)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return {
            r["product_id"]: Product(r["product_id"], float(r["floor_price"]), tuple(r.get("watchers", ())))
            for r in rows
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the product catalog {path}: {exc}") from exc


@dataclass(frozen=True)
class PricingConfig:
    site_url: str = "http://127.0.0.1:8089"
    poll_seconds: float = 1.0
    inventory_db: Path = Path(tempfile.gettempdir()) / "agentflux-inventory.sqlite"
    notifier_db: Path = Path(tempfile.gettempdir()) / "agentflux-notifier.sqlite"
    namespace: str = ""
    catalog_path: Path = DEFAULT_CATALOG
    format: Format = "avro"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PricingConfig:
        env = os.environ if env is None else env
        defaults = cls()
        try:
            poll = float(env.get("PRICING_POLL_SECONDS") or defaults.poll_seconds)
        except ValueError as exc:
            raise ConfigError(f"PRICING_POLL_SECONDS must be a number of seconds: {exc}") from exc
        return cls(
            site_url=(env.get("PRICING_SITE_URL") or defaults.site_url).rstrip("/"),
            poll_seconds=poll,
            inventory_db=Path(env.get("INVENTORY_DB") or defaults.inventory_db),
            notifier_db=Path(env.get("NOTIFIER_DB") or defaults.notifier_db),
            namespace=env.get("PRICING_NAMESPACE", ""),
            catalog_path=Path(env.get("PRICING_CATALOG") or defaults.catalog_path),
            format=check_format(env.get("PRICING_FORMAT") or defaults.format, "PRICING_FORMAT"),
        )

    def env(self) -> dict[str, str]:
        """The environment that gives an agent process this configuration."""
        return {
            "PRICING_SITE_URL": self.site_url,
            "PRICING_POLL_SECONDS": str(self.poll_seconds),
            "INVENTORY_DB": str(self.inventory_db),
            "NOTIFIER_DB": str(self.notifier_db),
            "PRICING_NAMESPACE": self.namespace,
            "PRICING_CATALOG": str(self.catalog_path),
            "PRICING_FORMAT": self.format,
        }

    @property
    def catalog(self) -> Mapping[str, Product]:
        return load_catalog(self.catalog_path)

    def _ns(self, name: str) -> str:
        return f"{name}-{self.namespace}" if self.namespace else name

    @property
    def app_name(self) -> str:
        return self._ns("pricing")

    @property
    def skill(self) -> str:
        return self._ns("update-price")

    def topic(self, domain: str, event: str) -> str:
        return f"{self._ns(domain)}.{event}.v1"

    def contract_name(self, topic: str) -> str:
        """``topic`` without this copy's namespace, as its contract names it: ``ecommerce.price-changed.v1``."""
        if not self.namespace:
            return topic
        domain, dot, rest = topic.partition(".")
        return f"{domain.removesuffix(f'-{self.namespace}')}{dot}{rest}"

    @property
    def topics(self) -> list[str]:
        """The five topics of the system, in the order of the flow."""
        return [self.price_changed, self.price_decided, self.order_updated, self.price_adjustment, self.customer_alert]

    @property
    def price_changed(self) -> str:
        return self.topic("ecommerce", "price-changed")

    @property
    def price_decided(self) -> str:
        return self.topic("ecommerce", "price-decided")

    @property
    def order_updated(self) -> str:
        return self.topic("ecommerce", "order-updated")

    @property
    def price_adjustment(self) -> str:
        return self.topic("action", "price-adjustment")

    @property
    def customer_alert(self) -> str:
        return self.topic("notification", "customer-alert")

    def page_url(self, product_id: str) -> str:
        return f"{self.site_url}/products/{product_id}"
