"""An idempotent confluent-kafka producer whose delivery reports resolve asyncio futures."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from agentflux.contract.errors import MessageTooLarge
from agentflux.transport.base import Ack, Headers
from agentflux.transport.health import ClusterWatch
from agentflux.transport.kafka_client import client_config, make_client
from agentflux.transport.kafka_errors import Op, kafka_error
from agentflux.transport.settings import KafkaSettings

log = logging.getLogger("agentflux.transport")


class AsyncProducer:
    """Wraps ``confluent_kafka.Producer``: idempotent, ``acks=all``.

    A background thread serves delivery reports, and each report resolves the
    future of its ``publish`` call on the event loop. ``publish`` is safe to call
    from many tasks at once; records to one partition keep their call order.

    During a broker outage librdkafka keeps records queued and retries them
    until ``message.timeout.ms`` (5 minutes by default): ``publish`` simply
    takes longer. A fatal producer error (the idempotent producer's state is
    lost) fails the records in flight with ``PublishError`` and replaces the
    client, so later publishes go through again.
    """

    def __init__(self, settings: KafkaSettings, watch: ClusterWatch, extra: dict[str, Any] | None = None) -> None:
        self._limit = settings.max_message_bytes
        self._watch = watch
        self._config: dict[str, Any] = {
            **client_config(settings, watch, self._on_error),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": settings.linger_ms,
            "message.max.bytes": max(settings.max_message_bytes + 64 * 1024, 1_000_000),
            **settings.producer_config,
            **(extra or {}),
        }
        self._producer = make_client(Producer, self._config)
        self._fatal = False
        self._reports: deque[_Report] = deque()  # filled by the delivery callbacks of a poll or flush
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve_reports, name="agentflux-producer", daemon=True)
        self._thread.start()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            log.error("the producer failed (%s); replacing it", err.str())
            self._fatal = True

    def _serve_reports(self) -> None:
        # The delivery callbacks of one poll only collect their reports; the batch is then handed to
        # each event loop with one wake-up, instead of one per record.
        while not self._closed.is_set():
            producer = self._producer
            producer.poll(0.05)
            self._hand_over()
            if self._fatal and producer is self._producer:
                self._replace()

    def _hand_over(self) -> None:
        loops: dict[asyncio.AbstractEventLoop, list[_Report]] = {}
        delivered = False
        while True:  # popleft, not a swap of lists: a callback on another thread (flush) may append meanwhile
            try:
                report = self._reports.popleft()
            except IndexError:
                break
            delivered = delivered or report[1] is None
            loops.setdefault(report[0].get_loop(), []).append(report)
        if delivered:
            self._watch.mark_back()
        for loop, batch in loops.items():
            try:
                loop.call_soon_threadsafe(_settle_all, batch)
            except RuntimeError:  # that loop is closed: nobody waits for these any more
                pass

    def _replace(self) -> None:
        old, self._producer, self._fatal = self._producer, Producer(self._config), False
        old.purge()  # fails what it still held: those publishes raise and are retried by their callers
        old.poll(0)
        self._hand_over()

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Ack:
        if value is not None and len(value) > self._limit:
            raise MessageTooLarge(
                f"record for {topic!r} is {len(value)} bytes; the limit is {self._limit} bytes "
                "(KafkaSettings.max_message_bytes)"
            )
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            self._reports.append((future, err, msg))

        while True:
            try:  # not map_kafka_errors: a context manager per record costs more than the produce call
                if partition is None:
                    self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                else:
                    self._producer.produce(
                        topic, value, key, partition=partition, headers=headers, on_delivery=on_delivery
                    )
                break
            except BufferError:
                await asyncio.sleep(0.005)  # local queue full: let delivery reports drain it
            except KafkaException as exc:
                raise kafka_error(exc, Op.PUBLISH, repr(topic)) from exc
        return await future

    async def flush(self, timeout: float = 10.0) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, self._flush, timeout)

    def _flush(self, timeout: float) -> int:
        left: int = self._producer.flush(timeout)
        self._hand_over()
        return left

    async def close(self) -> None:
        await self.flush()
        self._closed.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)


_Report = tuple[asyncio.Future[Ack], KafkaError | None, Message]


def _settle_all(reports: list[_Report]) -> None:
    for future, err, msg in reports:
        if future.done():
            continue
        if err is not None:
            future.set_exception(kafka_error(err, Op.PUBLISH, repr(msg.topic() or "?")))
        else:
            future.set_result(Ack(msg.topic() or "", msg.partition() or 0, msg.offset() or 0))
