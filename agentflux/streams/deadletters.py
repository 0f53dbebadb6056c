"""Dead letters from a stream job: the original record, unchanged, plus the contract's ``dlq_*`` headers."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, Producer

from agentflux.contract.deadletter import dead_letter_headers, fit_within
from agentflux.contract.errors import PublishError
from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.transport.base import Record
from agentflux.transport.kafka_client import client_config, cluster_watch, make_client
from agentflux.transport.settings import KafkaSettings


class DeadLetterProducer:
    """Writes dead letters synchronously: ``send`` returns once the broker has acknowledged.

    A stream job meets bad records rarely, and waiting keeps the order of
    events simple: a record's offset can only be committed after its dead
    letter is safe. A record too large to dead-letter whole is cut to fit
    ``KafkaSettings.max_message_bytes``, as the runtime's writer does
    (``contract.deadletter.fit_within``). Called from one thread.
    """

    def __init__(self, kafka: KafkaSettings, *, group: str, job: str, timeout: float = 30.0) -> None:
        config = {
            **client_config(kafka, cluster_watch(kafka)), **kafka.producer_config, "enable.idempotence": True,
            "acks": "all", "message.max.bytes": max(kafka.max_message_bytes + 64 * 1024, 1_000_000),
        }  # fmt: skip
        self._producer = make_client(Producer, config)
        self._max_bytes = kafka.max_message_bytes
        self._group = group
        self._job = job
        self._timeout = timeout
        self.sent = 0

    def send(
        self, *, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]] | None, error: BaseException,
    ) -> None:  # fmt: skip
        record = Record(topic, partition, offset, key, value, list(headers or []), 0)
        dlq_headers = dead_letter_headers(record, group=self._group, agent=self._job, attempts=1, error=error)
        value, dlq_headers = fit_within(key, value, dlq_headers, self._max_bytes)
        failures: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                failures.append(err)

        self._producer.produce(DEAD_LETTER_TOPIC, value, key, headers=dlq_headers, on_delivery=delivered)
        if self._producer.flush(self._timeout) or failures:
            reason = failures[0].str() if failures else f"no acknowledgement within {self._timeout:g}s"
            raise PublishError(f"could not dead-letter {record.ref}: {reason}")
        self.sent += 1

    def close(self) -> None:
        self._producer.flush(self._timeout)
