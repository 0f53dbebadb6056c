"""confluent-kafka's errors become agentflux's in one table: each family of codes, per operation, with its message."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from agentflux.contract.errors import (
    AgentfluxError,
    CommitFailed,
    ConfigError,
    ConsumerFailed,
    MessageTooLarge,
    PublishError,
    TransportError,
)
from agentflux.transport.base import Record
from agentflux.transport.health import ClusterWatch
from agentflux.transport.kafka_client import client_config, make_client, to_record
from agentflux.transport.kafka_errors import TABLE, Op, is_fatal, is_passing, kafka_error, map_kafka_errors
from agentflux.transport.settings import KafkaSettings

TOO_LARGE = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large")
BATCH_TOO_LARGE = KafkaError(KafkaError.RECORD_LIST_TOO_LARGE, "Broker: Message batch larger than configured server "
                             "segment size")  # fmt: skip
NOT_AUTHORIZED = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed")
INVALID_RECORD = KafkaError(KafkaError.INVALID_RECORD, "Broker: Invalid record")
FATAL = KafkaError(KafkaError._FATAL, "Fatal error: idempotence state lost", fatal=True)
FENCED = KafkaError(KafkaError.FENCED_INSTANCE_ID, "Broker: Static consumer fenced by other consumer")
TIMED_OUT = KafkaError(KafkaError._TIMED_OUT, "Local: Timed out", retriable=True)
NO_COORDINATOR = KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, "Broker: Coordinator not available")
INVALID_ARG = KafkaError(KafkaError._INVALID_ARG, 'No such configuration property: "no.such.thing"')

CASES = [
    # (operation, subject, error, class raised, message, transient)
    (Op.CONFIGURE, "", INVALID_ARG, ConfigError,
     'invalid Kafka client setting: No such configuration property: "no.such.thing" '
     "(settings come from AGENTFLUX_KAFKA_* variables and client_config)", False),
    (Op.CREATE_TOPIC, "'t.x.v1'", NOT_AUTHORIZED, TransportError,
     "cannot create topic 't.x.v1': Broker: Topic authorization failed", True),
    (Op.LIST_TOPICS, "", TIMED_OUT, TransportError, "cannot list topics: Local: Timed out", True),
    (Op.LOOKUP, "", TIMED_OUT, TransportError, "offset lookup failed: Local: Timed out", True),
    (Op.READ, "", FATAL, ConsumerFailed, "tail read failed: Fatal error: idempotence state lost", False),
    (Op.READ, "", TIMED_OUT, TransportError, "tail read failed: Local: Timed out", True),
    (Op.CONSUME, "group g", FENCED, ConsumerFailed,
     "consumer of group g failed: Broker: Static consumer fenced by other consumer", False),
    (Op.CONSUME, "group g", TIMED_OUT, ConsumerFailed, "consumer of group g failed: Local: Timed out", False),
    (Op.COMMIT, "group g", FATAL, ConsumerFailed,
     "consumer of group g failed: Fatal error: idempotence state lost", False),
    (Op.COMMIT, "group g", FENCED, ConsumerFailed,
     "consumer of group g failed: Broker: Static consumer fenced by other consumer", False),
    (Op.COMMIT, "group g", NO_COORDINATOR, CommitFailed,
     "commit of group g failed: Broker: Coordinator not available", True),
    (Op.PUBLISH, "'t.x.v1'", TOO_LARGE, MessageTooLarge,
     "record for 't.x.v1' is larger than the broker accepts: Broker: Message size too large", False),
    (Op.PUBLISH, "'t.x.v1'", BATCH_TOO_LARGE, MessageTooLarge,
     "record for 't.x.v1' is larger than the broker accepts: Broker: Message batch larger than configured server "
     "segment size", False),
    (Op.PUBLISH, "'t.x.v1'", NOT_AUTHORIZED, PublishError,
     "publish to 't.x.v1' failed: Broker: Topic authorization failed", False),
    (Op.PUBLISH, "'t.x.v1'", INVALID_RECORD, PublishError, "publish to 't.x.v1' failed: Broker: Invalid record", False),
    (Op.PUBLISH, "'t.x.v1'", TIMED_OUT, PublishError, "publish to 't.x.v1' failed: Local: Timed out", True),
    # A fatal producer error is retried: the producer replaces its client.
    (Op.PUBLISH, "'t.x.v1'", FATAL, PublishError,
     "publish to 't.x.v1' failed: Fatal error: idempotence state lost", True),
]  # fmt: skip
IDS = [f"{c[0].name}-{c[2].name()}" for c in CASES]


@pytest.mark.parametrize(("op", "subject", "err", "raised", "message", "transient"), CASES, ids=IDS)
def test_an_error_maps_to_the_class_and_message_of_its_family(
    op: Op, subject: str, err: KafkaError, raised: type[AgentfluxError], message: str, transient: bool
) -> None:
    exc = kafka_error(err, op, subject)
    assert type(exc) is raised
    assert str(exc) == message
    assert exc.transient is transient


@pytest.mark.parametrize(("op", "subject", "err", "raised", "message", "transient"), CASES, ids=IDS)
def test_the_context_manager_raises_the_same_from_the_original(
    op: Op, subject: str, err: KafkaError, raised: type[AgentfluxError], message: str, transient: bool
) -> None:
    original = KafkaException(err)
    with pytest.raises(raised) as caught, map_kafka_errors(op, subject):
        raise original
    assert str(caught.value) == message and caught.value.__cause__ is original


def test_every_operation_has_a_rule_for_any_error() -> None:
    """The last rule of each operation takes what no family claims, and an exception that carries only text."""
    for op in Op:
        exc = kafka_error(KafkaException("no KafkaError in here"), op, "s")
        assert type(exc) is TABLE[op][-1].error
        assert "no KafkaError in here" in str(exc)


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(BufferError), map_kafka_errors(Op.PUBLISH, "'t'"):
        raise BufferError("local queue full")


def test_a_block_without_error_returns_its_value() -> None:
    def work() -> int:
        with map_kafka_errors(Op.LOOKUP):
            return 42

    assert work() == 42


def test_families() -> None:
    assert is_fatal(FATAL) and is_fatal(FENCED) and not is_fatal(TIMED_OUT)
    assert is_fatal(KafkaError(KafkaError._TIMED_OUT, "x", fatal=True))
    assert is_passing(TIMED_OUT) and is_passing(KafkaError(KafkaError.LEADER_NOT_AVAILABLE))
    assert is_passing(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)) and not is_passing(NOT_AUTHORIZED)
    # What an offset lookup on a topic created a moment ago can answer while its leadership settles.
    assert is_passing(KafkaError(KafkaError.UNKNOWN_LEADER_EPOCH, "Broker: Leader epoch is newer than broker epoch"))
    assert is_passing(KafkaError(KafkaError.FENCED_LEADER_EPOCH, "Broker: Leader epoch is older than broker epoch"))


def test_an_invalid_client_setting_is_a_config_error_naming_it() -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1", client_config={"acks": "banana"})
    with pytest.raises(ConfigError, match=r"^invalid Kafka client setting: .*request\.required\.acks") as caught:
        make_client(Producer, client_config(settings, ClusterWatch("test")))
    assert isinstance(caught.value.__cause__, KafkaException)


class FakeMessage:
    """What ``to_record`` reads of a ``confluent_kafka.Message`` (which Python code cannot construct)."""

    def topic(self) -> str:
        return "shop.order-placed.v1"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 7

    def key(self) -> bytes:
        return b"o1"

    def value(self) -> bytes:
        return b"{}"

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        return [("ce_id", b"1"), ("empty", None), ("ce_id", b"2")]

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


def test_a_message_becomes_a_record_with_its_headers_in_order() -> None:
    record = to_record(FakeMessage())  # type: ignore[arg-type]
    assert record == Record(
        "shop.order-placed.v1", 2, 7, b"o1", b"{}", [("ce_id", b"1"), ("empty", None), ("ce_id", b"2")],
        1_700_000_000_000,
    )  # fmt: skip
    assert record.ref == "shop.order-placed.v1/2/7"
