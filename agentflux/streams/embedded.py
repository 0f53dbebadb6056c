"""The embedded engine: a job as a Quix Streams pipeline, in this Python process.

Quix Streams does the windowing (hopping windows, RocksDB state backed by
changelog topics, grace). Windows close per source partition
(``closing_strategy="partition"``): the watermark of a partition is the
largest event time seen in it minus the grace, which is what the Flink
engine's watermark is on a one-partition topic (see ``docs/streams.md``).

Delivery is at-least-once: after a crash, window results since the last
commit may be written again, with the same ``ce_id`` (see ``results``).

An ``avro`` source is decoded by the agents' ``Payloads`` through the schema
registry of the Kafka settings (``framed``); JSON records on it are still
read, by their first byte.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.dataframe.windows import Count, Max, Mean, Min, Sum
from quixstreams.kafka.configuration import ConnectionConfig

from agentflux.contract.errors import InvalidMessage, LifecycleError
from agentflux.ops.deadletters import DeadLetterWriter
from agentflux.streams.decoding import KEY, RAW, PayloadDeserializer, ResultSerializer, extract_time
from agentflux.streams.framed import FramedDecoder, source_payloads
from agentflux.streams.invalid import key_mismatch
from agentflux.streams.provision import job_topics
from agentflux.streams.results import WINDOW_END, WINDOW_START, encode_key, encode_value, result_headers
from agentflux.transport.base import Record
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.kafka_client import cluster_id, to_record
from agentflux.transport.loop_thread import LoopThread

if TYPE_CHECKING:
    from quixstreams.dataframe import StreamingDataFrame

    from agentflux.streams.aggregates import Aggregate
    from agentflux.streams.job import StreamJob
    from agentflux.transport.settings import KafkaSettings

ENV_STATE_DIR = "AGENTFLUX_STREAMS_STATE_DIR"
log = logging.getLogger(__name__)
_QUIX: dict[str, Any] = {"avg": Mean, "min": Min, "max": Max, "sum": Sum}


def default_state_dir(cluster_id: str | None = None) -> Path:
    """Where window state goes unless a job is given a ``state_dir``: one directory per Kafka cluster.

    The base is ``$AGENTFLUX_STREAMS_STATE_DIR``, else ``$AGENTFLUX_HOME/streams`` (beside the
    embedded broker's data), else ``$XDG_STATE_HOME/agentflux/streams`` (``~/.local/state``).
    Local state is a cache of changelog topics of one cluster: kept per cluster id, a job run
    against a new or reset cluster (a new ``agentflux up`` home) starts clean instead of failing
    on changelog offsets lower than the ones its state saved.
    """
    if os.environ.get(ENV_STATE_DIR):
        base = Path(os.environ[ENV_STATE_DIR]).expanduser()
    elif os.environ.get("AGENTFLUX_HOME"):
        base = Path(os.environ["AGENTFLUX_HOME"]).expanduser() / "streams"
    else:
        state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        base = Path(state_home).expanduser() / "agentflux" / "streams"
    return base / f"cluster-{cluster_id}" if cluster_id else base


@dataclass(frozen=True)
class EmbeddedSettings:
    """How the embedded engine runs a job. The group defaults to ``agentflux.streams.{job}``."""

    group_id: str | None = None
    state_dir: Path | None = None
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    processing_guarantee: Literal["at-least-once", "exactly-once"] = "at-least-once"
    commit_interval: float = 5.0
    #: Quix Streams' own log level (its loggers then go through the root logger's handlers and format).
    log_level: str = "WARNING"
    #: Called with (topic, partition, offset) after each source record is processed: for metrics and benchmarks.
    on_processed: Callable[[str, int, int], None] | None = None


@dataclass(frozen=True)
class _Result:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def _split_config(kafka: KafkaSettings) -> tuple[ConnectionConfig, dict[str, str]]:
    """Quix takes connection settings as a ConnectionConfig; every other client option passes through."""
    base = kafka.base_config()
    connection = ConnectionConfig.from_librdkafka_dict(base, ignore_extras=True)
    known = set(connection.as_librdkafka_dict())
    known |= {"sasl.mechanisms"}
    return connection, {k: v for k, v in base.items() if k not in known and k.replace(".", "_") not in known}


def _quix_aggregate(agg: Aggregate) -> Any:
    return Count() if agg.function == "count" else _QUIX[agg.function](agg.field)


class EmbeddedEngine:
    """Runs one job on Quix Streams. ``run()`` blocks in the main thread until SIGINT/SIGTERM or ``stop()``."""

    def __init__(self, kafka: KafkaSettings, settings: EmbeddedSettings | None = None) -> None:
        self.kafka = kafka
        self.settings = settings or EmbeddedSettings()
        self._app: Application | None = None
        self._group = ""
        self._dead_letters: tuple[LoopThread, DeadLetterWriter] | None = None
        self._source: PayloadDeserializer | None = None
        self.late = 0

    def build(self, job: StreamJob[Any]) -> Application:
        """The Quix Streams application for ``job``; nothing connects until it runs."""
        job = job.checked()
        s = self.settings
        group = s.group_id or f"agentflux.streams.{job.name}"
        logging.getLogger("quixstreams").setLevel(s.log_level.upper())
        self._group = group
        connection, extra = _split_config(self.kafka)
        app = Application(
            broker_address=connection, consumer_group=group, auto_offset_reset=s.auto_offset_reset,
            commit_interval=s.commit_interval, state_dir=str(s.state_dir or default_state_dir(cluster_id(self.kafka))),
            processing_guarantee=s.processing_guarantee, on_consumer_error=self._on_consumer_error,
            consumer_extra_config={**extra, **self.kafka.consumer_config},
            producer_extra_config={**extra, **self.kafka.producer_config},
            loglevel=None, on_message_processed=s.on_processed,
        )  # fmt: skip
        source_spec, sink_spec = job.source_spec, job.sink_spec
        self._source = PayloadDeserializer(job, keep_raw=not source_spec.rekey)
        source = app.topic(
            source_spec.topic, value_deserializer=self._source, key_deserializer="bytes",
            timestamp_extractor=extract_time,
        )  # fmt: skip
        sink = app.topic(sink_spec.topic, value_serializer=ResultSerializer(), key_serializer="bytes")
        sdf = app.dataframe(source)
        if source_spec.rekey:
            sdf = sdf.group_by(
                lambda row: encode_key(row[KEY]), name=f"{job.name}-by-{source_spec.key}",
                key_serializer="bytes", key_deserializer="bytes",
            )  # fmt: skip
        else:
            sdf = sdf.filter(self._key_matches, metadata=True)
        sdf = self._windowed(job, sdf)
        sdf = sdf.apply(lambda value, key, _ts, _h: self._row(job, value, key), metadata=True)
        if job.condition is not None:
            sdf = sdf.filter(job.keeps)
        sdf = sdf.apply(lambda row: self._result(job, row))
        sdf = sdf.set_headers(lambda result, _k, _ts, _h: result.headers)
        sdf.to_topic(sink, key=lambda result: result.key)
        self._app = app
        return app

    def run(self, job: StreamJob[Any], *, timeout: float = 0.0) -> None:
        """Run ``job``; with ``timeout`` > 0, stop after that many seconds without a new record."""
        app = self.build(job)
        source = job.source_spec
        payloads = source_payloads(self.kafka, source) if source.registered else None
        with LoopThread(f"agentflux-{job.name}-dead-letters") as loop:
            transport = KafkaTransport(self.kafka)
            try:
                loop.run(transport.start())
                loop.run(transport.ensure_topics(job_topics(job, dead_letters=True)))
                writer = DeadLetterWriter(
                    transport, group=self._group, agent=job.name, max_bytes=self.kafka.max_message_bytes
                )
                self._dead_letters = (loop, writer)
                if payloads is not None and self._source is not None:
                    self._source.framed = FramedDecoder(loop, payloads, source)
                app.run(timeout=timeout)
            finally:
                self._dead_letters = None
                if payloads is not None:
                    loop.run(payloads.close())
                loop.run(transport.close())

    def _dead_letter(self, record: Record, error: BaseException) -> None:
        """Dead-letter ``record`` and wait until the broker has it (Quix calls us without an event loop)."""
        if self._dead_letters is None:
            raise LifecycleError("the embedded engine is not running")
        loop, writer = self._dead_letters
        loop.run(writer.send(record, 1, error))

    def stop(self) -> None:
        if self._app is None:
            raise LifecycleError("the embedded engine is not running")
        self._app.stop()

    def _windowed(self, job: StreamJob[Any], sdf: StreamingDataFrame) -> StreamingDataFrame:
        window = job.window_spec
        if window.tumbling:
            definition: Any = sdf.tumbling_window(window.size_ms, window.grace_ms, name=job.name, on_late=self._on_late)
        else:
            definition = sdf.hopping_window(
                window.size_ms, window.slide_ms, window.grace_ms, name=job.name, on_late=self._on_late
            )
        aggs = {name: _quix_aggregate(agg) for name, agg in job.aggregates}
        result: StreamingDataFrame = definition.agg(**aggs).final(closing_strategy="partition")
        return result

    def _on_late(
        self, value: Any, key: Any, timestamp_ms: int, late_by_ms: int, start: int, end: int, store_name: str,
        topic: str, partition: int, offset: int,
    ) -> bool:  # fmt: skip
        """Count a record dropped from a closed window; log at debug level instead of Quix's warning."""
        self.late += 1
        log.debug("late record %s[%d]@%d for window [%d, %d) of key %r", topic, partition, offset, start, end, key)
        return False

    def _key_matches(self, row: dict[str, Any], key: bytes | None, _ts: int, headers: Any) -> bool:
        raw = row.pop(RAW)
        if key == encode_key(row[KEY]):
            return True
        ctx = message_context()
        error = InvalidMessage(key_mismatch(key, row[KEY]))
        self._dead_letter(Record(ctx.topic, ctx.partition, ctx.offset, key, raw, list(headers or []), 0), error)
        return False

    @staticmethod
    def _row(job: StreamJob[Any], value: dict[str, Any], key: bytes) -> dict[str, Any]:
        text = key.decode()
        row: dict[str, Any] = {job.source_spec.key: int(text) if job.source_spec.key_kind == "int" else text}
        row[WINDOW_START], row[WINDOW_END] = value["start"], value["end"]
        for name, _agg in job.aggregates:
            row[name] = value[name]
        return row

    @staticmethod
    def _result(job: StreamJob[Any], row: dict[str, Any]) -> _Result:
        fields = job.output_fields
        job.sink_spec.model.model_validate({n: row[n] for n in fields})
        key = row[job.source_spec.key]
        headers = result_headers(job.name, job.sink_spec.topic, key, row[WINDOW_START], row[WINDOW_END])
        return _Result(encode_key(key), encode_value(row, fields), headers)

    def _on_consumer_error(self, exc: BaseException, message: Any, logger: logging.Logger) -> bool:
        if message is None or not isinstance(exc, InvalidMessage) or self._dead_letters is None:
            return False
        record = to_record(message)
        self._dead_letter(record, exc)
        logger.warning("dead-lettered %s[%s]@%s: %s", message.topic(), message.partition(), message.offset(), exc)
        return True
