"""Waiting for a broker at start: one WARNING for a process that never reached it, none for a blip after."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException

from agentflux.transport.health import ClusterWatch
from agentflux.transport.kafka import wait_for_broker


class FlakyAdmin:
    """An admin client whose metadata requests fail ``failures`` times, then answer."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def list_topics(self, timeout: float) -> object:
        if self.failures:
            self.failures -= 1
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "Local: Timed out"))
        return object()


@pytest.mark.asyncio
async def test_a_process_that_never_reached_the_cluster_says_it_waits_once(caplog: pytest.LogCaptureFixture) -> None:
    watch = ClusterWatch("b:9092")
    with caplog.at_level(logging.INFO, "agentflux.transport"):
        await wait_for_broker(FlakyAdmin(3), "b:9092", None, watch)  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no Kafka broker answers at b:9092 yet" in warnings[0].getMessage()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and infos[0].startswith("the Kafka cluster at b:9092 is back")


@pytest.mark.asyncio
async def test_a_second_client_starting_in_a_blip_after_the_outage_logs_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = ClusterWatch("b:9092", probe=lambda: True)  # the probe finds the cluster answering
    await wait_for_broker(FlakyAdmin(0), "b:9092", None, watch)  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, "agentflux.transport"):
        await wait_for_broker(FlakyAdmin(1), "b:9092", None, watch)  # type: ignore[arg-type]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not watch.lost
