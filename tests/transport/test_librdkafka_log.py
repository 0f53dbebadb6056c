"""librdkafka's log reaches Python logging (``agentflux.kafka``), expected startup noise at DEBUG, nothing on stderr."""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import Producer

from agentflux.transport.health import ClusterWatch
from agentflux.transport.kafka_client import LIBRDKAFKA_LOG, client_config, make_client
from agentflux.transport.settings import KafkaSettings

FMT = "%s [%s] %s"  # how confluent-kafka calls a client's logger: facility, client name, message


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "agentflux.kafka"]


@pytest.mark.parametrize(
    ("level", "facility", "message"),
    [
        (logging.WARNING, "GETPID", "[thrd:main]: Failed to acquire idempotence PID from broker "
         "127.0.0.1:9092/1: Broker: Coordinator load in progress: retrying"),
        (logging.WARNING, "GETPID", "[thrd:main]: Failed to acquire idempotence PID from broker "
         "127.0.0.1:9092/1: Broker: Coordinator not available: retrying"),
        (logging.ERROR, "FAIL", "[thrd:127.0.0.1:9092/1]: 127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: "
         "Connection refused (after 0ms in state CONNECT)"),
        (logging.ERROR, "ERROR", "[thrd:app]: 1/1 brokers are down"),
        (logging.WARNING, "CONFWARN", "[thrd:app]: Configuration property session.timeout.ms is a consumer property "
         "and will be ignored by this producer instance"),
    ],
)  # fmt: skip
def test_expected_noise_is_demoted_to_debug(
    caplog: pytest.LogCaptureFixture, level: int, facility: str, message: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentflux.kafka")
    LIBRDKAFKA_LOG.log(level, FMT, facility, "rdkafka#producer-1", message)
    assert _logged(caplog) == [(logging.DEBUG, f"{facility} [rdkafka#producer-1] {message}")]


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL])
def test_other_lines_keep_their_level(caplog: pytest.LogCaptureFixture, level: int) -> None:
    caplog.set_level(logging.DEBUG, logger="agentflux.kafka")
    LIBRDKAFKA_LOG.log(level, FMT, "SSL", "rdkafka#consumer-2", "[thrd:app]: certificate verify failed")
    assert _logged(caplog) == [(level, "SSL [rdkafka#consumer-2] [thrd:app]: certificate verify failed")]


def test_a_real_client_logs_through_python_and_prints_nothing_to_stderr(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """librdkafka's syslog 4 arrives as WARNING and 3 as ERROR (demoted: a refused connection); no ``%N|`` line."""
    caplog.set_level(logging.DEBUG, logger="agentflux.kafka")
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # nothing listens: refused at once
    config = {**client_config(settings, ClusterWatch("test")), "queuing.strategy": "fifo"}  # a deprecated option
    producer = make_client(Producer, config)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not {"CONFWARN", "FAIL"} <= {m.split(" ")[0] for _, m in _logged(caplog)}:
        producer.poll(0.1)  # a client's log lines are delivered on poll
    by_facility = {m.split(" ")[0]: level for level, m in _logged(caplog)}
    assert by_facility["CONFWARN"] == logging.WARNING
    assert by_facility["FAIL"] == logging.DEBUG
    del producer
    assert "|CONFWARN|" not in capfd.readouterr().err
