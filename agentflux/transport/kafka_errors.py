"""confluent-kafka's errors, translated into agentflux's in one table.

A client call that may raise ``KafkaException`` runs inside
``map_kafka_errors(op, subject)``: the exception leaves the block as the
agentflux error that ``TABLE`` names for the operation and the error's family,
raised ``from`` the original. ``kafka_error(err, op, subject)`` is the same
translation for a ``KafkaError`` that arrives without an exception (a delivery
report, a message carrying an error).

The families, by error code (``err.code()``):

* fatal: ``err.fatal()``, ``_FATAL``, or a fenced static member
  (``FENCED_INSTANCE_ID``). The client cannot go on.
* too large: the broker refuses a record (or batch) for its size.
* permanent: no retry can make a publish go through (not authorized, a record
  the broker calls invalid).
* rebalance: a commit refused because the group moved on (the new owner
  reads the records again, which at-least-once allows).
* passing: a lookup that fails only until the cluster settles (a topic
  created a moment ago, a leader moving).
* quiet: what a poll sees during an outage or at a partition's end.
* outage: no broker reachable (the cluster watch reports it, not the client's
  error callback).

The first three are rules of ``TABLE``: they choose the error raised and
whether it is transient. The others are policies of the call sites that use
them (a skipped commit, a retried lookup, a log line not written), named here
so that every code the transport looks at is in one module.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException

from agentflux.contract.errors import (
    AgentfluxError,
    CommitFailed,
    ConfigError,
    ConsumerFailed,
    MessageTooLarge,
    PublishError,
    TransportError,
)

TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})
# Publish errors no retry can fix (a fatal error is not one: the producer replaces its client).
PERMANENT = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_REQUIRED_ACKS,
    }
)
REBALANCE = frozenset(
    {
        KafkaError.STALE_MEMBER_EPOCH,
        KafkaError.FENCED_MEMBER_EPOCH,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._NO_OFFSET,
        KafkaError._STATE,
    }
)
# Kafka retries these (metadata not settled yet); librdkafka does not flag a broker's answer of them retriable.
# A leader epoch newer or older than the broker's comes back from an offset lookup on a topic created a
# moment ago, while its leadership settles (seen once in CI: `agentflux run` stopped on it at start).
PASSING = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.FENCED_LEADER_EPOCH,
    }
)
QUIET = frozenset({KafkaError._PARTITION_EOF, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})
OUTAGE = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE})


def is_fatal(err: KafkaError) -> bool:
    """Errors after which a client cannot go on (a fenced static member among them)."""
    return bool(err.fatal()) or err.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID)


def is_passing(err: KafkaError) -> bool:
    """Errors that a lookup may wait out: retriable ones, and a topic or leader not known yet."""
    return bool(err.retriable()) or err.code() in PASSING


def _too_large(err: KafkaError) -> bool:
    return err.code() in TOO_LARGE


def _permanent(err: KafkaError) -> bool:
    return err.code() in PERMANENT


def _any(_err: KafkaError) -> bool:
    return True


class Op(enum.Enum):
    """What a client was doing: the table's rows for it decide the error and its message."""

    CONFIGURE = "configure"  # making a client from its configuration
    CREATE_TOPIC = "create topic"
    LIST_TOPICS = "list topics"
    LOOKUP = "lookup"  # metadata and offsets, through an admin client
    READ = "read"  # a tail's assignments and polls
    CONSUME = "consume"  # a group member's polls
    COMMIT = "commit"
    PUBLISH = "publish"


@dataclass(frozen=True)
class Rule:
    """For errors ``applies`` accepts: raise ``error`` with ``message`` ({subject} and {reason} filled in)."""

    applies: Callable[[KafkaError], bool]
    error: type[AgentfluxError]
    message: str
    transient: bool | None = None  # set on the exception when not None


_CONFIGURE = "invalid Kafka client setting: {reason} (settings come from AGENTFLUX_KAFKA_* variables and client_config)"
# Per operation, the first rule that applies wins.
TABLE: dict[Op, tuple[Rule, ...]] = {
    Op.CONFIGURE: (Rule(_any, ConfigError, _CONFIGURE),),
    Op.CREATE_TOPIC: (Rule(_any, TransportError, "cannot create topic {subject}: {reason}"),),
    Op.LIST_TOPICS: (Rule(_any, TransportError, "cannot list topics: {reason}"),),
    Op.LOOKUP: (Rule(_any, TransportError, "offset lookup failed: {reason}"),),
    Op.READ: (
        Rule(is_fatal, ConsumerFailed, "tail read failed: {reason}"),
        Rule(_any, TransportError, "tail read failed: {reason}"),
    ),
    Op.CONSUME: (Rule(_any, ConsumerFailed, "consumer of {subject} failed: {reason}"),),
    Op.COMMIT: (
        Rule(is_fatal, ConsumerFailed, "consumer of {subject} failed: {reason}"),
        Rule(_any, CommitFailed, "commit of {subject} failed: {reason}"),
    ),
    Op.PUBLISH: (
        Rule(_too_large, MessageTooLarge, "record for {subject} is larger than the broker accepts: {reason}"),
        Rule(_permanent, PublishError, "publish to {subject} failed: {reason}", transient=False),
        Rule(_any, PublishError, "publish to {subject} failed: {reason}", transient=True),
    ),
}


def error_of(exc: KafkaException) -> KafkaError | None:
    """The ``KafkaError`` a ``KafkaException`` carries (None when it carries only text)."""
    err = exc.args[0] if exc.args else None
    return err if isinstance(err, KafkaError) else None


def reason(exc: KafkaException) -> str:
    """librdkafka's text for the error."""
    err = error_of(exc)
    return err.str() if err is not None else str(exc)


def kafka_error(err: KafkaError | KafkaException, op: Op, subject: str = "") -> AgentfluxError:
    """The agentflux error for ``err`` raised while doing ``op`` on ``subject`` (a topic, ``group g``)."""
    if isinstance(err, KafkaException):
        found, text = error_of(err), reason(err)
    else:
        found, text = err, err.str()
    # An exception with no KafkaError in it belongs to no family: the operation's last rule takes it.
    rules = TABLE[op]
    rule = next((r for r in rules if found is not None and r.applies(found)), rules[-1])
    exc = rule.error(rule.message.format(subject=subject, reason=text))
    if rule.transient is not None:
        exc.transient = rule.transient
    return exc


@contextlib.contextmanager
def map_kafka_errors(op: Op, subject: str = "") -> Iterator[None]:
    """Raise a ``KafkaException`` from the block as the agentflux error ``TABLE`` names (``from`` the original)."""
    try:
        yield
    except KafkaException as exc:
        raise kafka_error(exc, op, subject) from exc
