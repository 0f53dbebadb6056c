"""One price change is one OpenTelemetry trace across the pricing system's four agent processes.

Each agent runs in its own ``agentflux run`` process with ``OTEL_TRACES_EXPORTER=console``: the SDK is
set up from the environment alone, and each process prints its spans on stdout (a file per process
here). The files are merged, and every customer alert's ``send`` span is walked up to its root: the
collector's ``send`` of the price change, through the analysis, the delegated ``update-price`` task
and the notifier, every parent found, in one trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e.pricing_harness import PricingSystem

from examples.ecommerce_pricing.app import ANALYSIS, COLLECTOR, NOTIFY, ORDER_UPDATE
from examples.ecommerce_pricing.feed import scripted_changes
from examples.ecommerce_pricing.report import complete

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio, pytest.mark.timeout(150)]


def spans_in(path: Path) -> list[dict[str, Any]]:
    """The spans the console exporter printed to ``path``: JSON objects one after another, nothing else."""
    text, decoder, found, at = path.read_text(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return found
        span, at = decoder.raw_decode(text, at)
        found.append(span)


def process_of(span: dict[str, Any]) -> str:
    return str(span["resource"]["attributes"]["agentflux.process"])


async def test_a_price_change_is_one_trace_through_four_processes(pricing_system: PricingSystem) -> None:
    system, config = pricing_system, pricing_system.config
    try:
        observer = await system.start()
        for name in (ANALYSIS, ORDER_UPDATE, NOTIFY, COLLECTOR):
            env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_RESOURCE_ATTRIBUTES": f"agentflux.process={name}"}
            extra = ("--instance-id", f"{config.namespace}-analysis") if name == ANALYSIS else ()
            system.agent(name, *extra, env=env)
        pages = len(config.catalog)
        warm = await observer.wait_for(lambda: len(observer.changes) == pages and complete(observer, config), 90)
        assert warm, f"the first sightings were not handled within 90s; logs in {system.tmp_path}"
        await system.play(scripted_changes(6, seed=21), 0.1, lambda n: None)
        await system.settle(60)
    finally:
        await system.close()
        system.stop_processes()  # SIGTERM: each process exports what it still holds, then exits

    spans = [span for out in sorted(system.tmp_path.glob("*.out")) for span in spans_in(out)]
    by_id = {span["context"]["span_id"]: span for span in spans}
    alerts = [s for s in spans if s["name"] == f"send {config.customer_alert}"]
    assert alerts, f"no alert was sent in a span; outputs in {system.tmp_path}"
    for alert in alerts:
        chain = [alert]
        while chain[-1]["parent_id"] is not None:
            parent = by_id.get(chain[-1]["parent_id"])
            assert parent is not None, f"{chain[-1]['name']} names a parent no process exported"
            chain.append(parent)
        chain.reverse()  # root first
        assert {span["context"]["trace_id"] for span in chain} == {alert["context"]["trace_id"]}
        assert [(process_of(s), s["name"]) for s in chain] == [
            (COLLECTOR, f"send {config.price_changed}"),
            (ANALYSIS, f"process {config.price_changed}"),
            (ANALYSIS, f"delegate {config.skill}"),
            (ORDER_UPDATE, f"skill {config.skill}"),
            (ORDER_UPDATE, f"send {config.order_updated}"),
            (NOTIFY, f"process {config.order_updated}"),
            (NOTIFY, f"send {config.customer_alert}"),
        ]
        kinds = [s["kind"] for s in chain]
        assert kinds == ["SpanKind." + k for k in ("PRODUCER", "CONSUMER", "CLIENT", "SERVER", "PRODUCER")] + [
            "SpanKind.CONSUMER",
            "SpanKind.PRODUCER",
        ]
    assert len({process_of(s) for s in spans}) == 4
