"""``agentflux run --metrics-port``: a Prometheus scrape of a real run counts what happened, by outcome."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest
from kafka_helpers import cli_processes, create_topic, produce_raw, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text format: (name, labels) -> value."""
    found = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            found[(match.group(1), labels)] = float(match.group(3))
    return found


def value(found: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in found.items() if n == name and wanted <= have)


def test_a_scrape_counts_records_by_outcome_retries_dead_letters_and_tasks(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    topic, slow, skill, port = (
        f"metrics.orders-{unique}.v1",
        f"metrics.slow-{unique}.v1",
        f"double-{unique}",
        free_port(),
    )
    create_topic(kafka_bootstrap, topic)
    create_topic(kafka_bootstrap, slow)
    records = [(b"k", f'{{"n": {n}}}'.encode(), None) for n in (1, 2, 3)] + [(b"k", b"not json", None)]
    produce_raw(kafka_bootstrap, topic, records)
    produce_raw(kafka_bootstrap, slow, [(b"k", f'{{"n": {n}}}'.encode(), None) for n in range(25)])  # 10 s of work
    env = {"AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap, "T_APP": f"metrics-{unique}", "T_TOPIC": topic}
    env |= {"T_SKILL": skill, "T_SLOW_TOPIC": slow}
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> dict:
        try:
            return samples(httpx.get(url, timeout=5).text)
        except httpx.HTTPError:
            return {}

    with cli_processes(tmp_path) as start:
        start("run", env, "run", "tests/runtime/apps/metered.py:app", "--metrics-port", str(port))
        wait_until(
            lambda: value(scrape(), "agentflux_records_handled_total", topic=topic) == 4,
            60, "four records counted",
        )  # fmt: skip
        found = scrape()
        # The slow agent's backlog shows as lag while it lasts (measured every 2 s), then the lag is 0.
        lags: list[float] = []

        def worked_off() -> bool:
            now = scrape().items()
            lags.extend(v for (n, labels), v in now if n == "agentflux_consumer_lag" and ("topic", slow) in labels)
            return bool(lags) and max(lags) > 0 and lags[-1] == 0

        wait_until(worked_off, 60, "lag seen on the slow backlog, then none")
    assert value(found, "agentflux_records_handled_total", topic=topic, outcome="ok", agent="front") == 2
    assert value(found, "agentflux_records_handled_total", topic=topic, outcome="dead_letter") == 2
    assert value(found, "agentflux_dead_letters_total", topic=topic, reason="unreadable") == 1
    assert value(found, "agentflux_dead_letters_total", topic=topic, reason="failed") == 1
    assert value(found, "agentflux_handler_retries_total", topic=topic) == 2  # order 2 once, order 3 once
    assert value(found, "agentflux_handler_duration_seconds_count", topic=topic) == 3  # the three readable ones
    assert value(found, "agentflux_task_duration_seconds_count", skill=skill, state="completed") == 2
    assert value(found, "agentflux_tasks_in_flight", skill=skill) == 0
