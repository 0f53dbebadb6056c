"""What every librdkafka client of ours shares: reconnect pacing, its log through Python, the cluster watch.

``client_config(settings)`` is the start of every producer, consumer and admin
client configuration. librdkafka's defaults wait up to 10 s between reconnect
attempts; ours wait at most 1 s, so a client reconnects within about a second
of a broker coming back (``reconnect.backoff.max.ms``, overridable like any
option). librdkafka's log goes to the Python logger ``agentflux.kafka``, with
what an outage or a broker start is expected to print (refused connections,
"all brokers down", "coordinator load in progress", an idempotent producer's
retried ``GETPID``) at DEBUG: the cluster watch says it once instead
(``transport.health``). Build every client with ``make_client`` from
``client_config``, also outside the transport (stream jobs, examples,
benchmarks): a client without the ``logger`` option prints ``%4|…`` lines
straight to stderr, past any logging configuration. ``to_record`` turns a
message any of them read into a ``Record``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from agentflux.transport.base import Record
from agentflux.transport.health import ClusterWatch, Probe, watch_for
from agentflux.transport.kafka_errors import OUTAGE, Op, map_kafka_errors
from agentflux.transport.settings import KafkaSettings

kafka_log = logging.getLogger("agentflux.kafka")
_EXPECTED = (
    "Connect to",
    "Connection refused",
    "Disconnected",
    "brokers are down",
    "Coordinator load in progress",
    "PID from broker",  # GETPID "Failed to acquire idempotence PID from broker …: retrying"; a fatal one is an error_cb
    "Broker transport failure",
    "Timed out",
    "timed out",
    "Failed to resolve",
    "not found in cache",
    "property and will be ignored by this",  # AGENTFLUX_KAFKA_* apply to every client: a consumer option on a producer
)
ErrorCallback = Callable[[KafkaError], None]
Client = TypeVar("Client", Producer, Consumer, AdminClient)


class LibrdkafkaLog:
    """A ``logger`` for librdkafka clients: its lines, with expected noise demoted to DEBUG."""

    def log(self, level: int, fmt: str, *args: Any) -> None:
        # confluent-kafka calls this with a Python level already (syslog 0-2 CRITICAL, 3 ERROR,
        # 4 WARNING, 5-6 INFO, 7 DEBUG) and ("%s [%s] %s", facility, client name, message).
        text = fmt % args if args else fmt
        if level > logging.DEBUG and any(marker in text for marker in _EXPECTED):
            level = logging.DEBUG
        kafka_log.log(level, "%s", text)


LIBRDKAFKA_LOG = LibrdkafkaLog()


def cluster_watch(settings: KafkaSettings) -> ClusterWatch:
    """The process-wide watch of ``settings``' cluster."""
    return watch_for(settings.bootstrap_servers, lambda: metadata_probe(settings))


def metadata_probe(settings: KafkaSettings) -> Probe:
    """A probe that asks the cluster for metadata through an admin client of its own."""
    admin: AdminClient | None = None

    def probe() -> bool:
        nonlocal admin
        if admin is None:
            admin = AdminClient({**_quiet(settings), "socket.connection.setup.timeout.ms": 1000})
        try:
            return len(admin.list_topics(timeout=1.0).brokers) > 0
        except KafkaException:  # a probe answers a question: an error is its "no", not a failure
            return False

    return probe


def reporting_errors(watch: ClusterWatch, also: ErrorCallback | None = None) -> ErrorCallback:
    """An ``error_cb`` that tells ``watch`` about outages and hands every error to ``also``."""

    def on_error(err: KafkaError) -> None:
        code = err.code()
        if code == KafkaError._ALL_BROKERS_DOWN:
            watch.mark_down(err.str())
        elif code not in OUTAGE and not err.fatal():
            kafka_log.warning("Kafka client error: %s", err.str())
        if also is not None:
            also(err)

    return on_error


def client_config(
    settings: KafkaSettings, watch: ClusterWatch, on_error: ErrorCallback | None = None
) -> dict[str, Any]:
    """The shared part of a client's configuration (user options override the defaults)."""
    return {
        "reconnect.backoff.max.ms": 1000,
        "logger": LIBRDKAFKA_LOG,
        "error_cb": reporting_errors(watch, on_error),
        **settings.base_config(),
    }


def _quiet(settings: KafkaSettings) -> dict[str, Any]:
    return {"reconnect.backoff.max.ms": 1000, "logger": LIBRDKAFKA_LOG, "error_cb": lambda _e: None,
            **settings.base_config()}  # fmt: skip


def make_client(kind: type[Client], config: dict[str, Any]) -> Client:
    """A librdkafka client of ``kind``; an invalid setting is a ``ConfigError`` naming it, not a KafkaException."""
    with map_kafka_errors(Op.CONFIGURE):
        return kind(config)


def cluster_id(settings: KafkaSettings) -> str | None:
    """The cluster's id, from one metadata request (None when no broker answers within 10 s)."""
    try:
        admin = make_client(AdminClient, client_config(settings, cluster_watch(settings)))
        return admin.list_topics(timeout=10).cluster_id or None
    except KafkaException as exc:  # best effort: callers do without it (one state directory for all clusters)
        logging.getLogger("agentflux.transport").info("cannot read the Kafka cluster id: %s", exc)
        return None


def to_record(msg: Message) -> Record:
    """The ``Record`` of a message read without error (``msg.error()`` is None)."""
    return Record(
        topic=msg.topic() or "",
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        key=msg.key(),
        value=msg.value(),
        headers=list(msg.headers() or ()),
        timestamp_ms=msg.timestamp()[1],
    )
