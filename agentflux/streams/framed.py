"""Reading an ``avro`` source in the embedded engine: the agents' ``Payloads``, driven from Quix Streams' thread.

Quix Streams deserializes in its own (synchronous) consumer loop; ``Payloads``
is asynchronous, so ``FramedDecoder`` runs each decode on the engine's event
loop thread and waits for it. Schemas by id are cached for the process's life,
so after a schema's first record this is a local decode.

A registry that does not answer is not the record's fault: the decoder waits
and tries again with a growing delay (0.5 s doubling up to 10 s), logging each
try, and the job reads nothing meanwhile, as an agent holds its partition. An
outage longer than the consumer's ``max.poll.interval.ms`` (5 minutes by
default) costs a rebalance, after which the job resumes from its last commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from agentflux.contract.errors import ConfigError, SchemaRegistryUnavailable
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import TopicFormat
from agentflux.streams.definition import Source
from agentflux.transport.loop_thread import LoopThread
from agentflux.transport.settings import ENV_REGISTRY, KafkaSettings

log = logging.getLogger(__name__)
MAX_DELAY = 10.0


def source_payloads(kafka: KafkaSettings, source: Source) -> Payloads:
    """``Payloads`` for the source topic (its one model), through the settings' registry; a ConfigError without one."""
    if not kafka.schema_registry_url:
        raise ConfigError(
            f"source {source.topic!r} is {source.format}: the job needs a schema registry "
            f"(`agentflux up` starts one, or set {ENV_REGISTRY})"
        )
    fmt = TopicFormat(source.topic, source.format, (source.model,))
    return Payloads(lambda _topic: fmt, Registry(kafka.schema_registry_url, kafka.schema_registry_config))


class FramedDecoder:
    """``value -> model`` for values in the Confluent wire format; raises ``PayloadDecodeError`` for a bad one."""

    def __init__(
        self, loop: LoopThread, payloads: Payloads, source: Source, sleep: Callable[[float], Any] = time.sleep
    ) -> None:
        self._loop, self._payloads, self._source, self._sleep = loop, payloads, source, sleep

    def __call__(self, value: bytes) -> BaseModel:
        delay = 0.5
        while True:
            try:
                decoded: BaseModel = self._loop.run(
                    self._payloads.decode(self._source.topic, value, self._source.model)
                )
                return decoded
            except SchemaRegistryUnavailable as exc:
                log.warning("%s; the job waits and tries again in %.1f s", exc, delay)
                self._sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
