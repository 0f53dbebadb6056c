"""Reading source records for the embedded engine: validate against the payload model, keep what the window needs.

A record that does not validate raises ``PayloadDecodeError`` here, inside
Quix Streams' consumer, which hands it (with the raw message) to the engine's
error callback: that callback dead-letters it and the job goes on. The
error's message is the one the Flink engine writes for the same record
(``invalid``).

On an ``avro`` source a record is read by its first byte, as agents read it
(``agentflux.contract.payloads``): plain JSON as above, anything else through
``framed`` (the engine's ``Payloads``, with the writer's schema from the
registry), whose ``PayloadDecodeError`` names the reason (a wrong magic byte,
an unknown schema id, bytes that do not match their schema).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from quixstreams.models import Deserializer, Serializer

from agentflux.contract.errors import PayloadDecodeError
from agentflux.streams.invalid import TOMBSTONE, describe
from agentflux.streams.schema import epoch_ms

if TYPE_CHECKING:
    from quixstreams.models import SerializationContext

    from agentflux.streams.job import StreamJob

KEY = "__key"
TIME = "__time"
RAW = "__raw"
_JSON_STARTS = frozenset(b"{[ \t\r\n")
Framed = Callable[[bytes], BaseModel]


class PayloadDeserializer(Deserializer):
    """Bytes -> ``{__key, __time, <aggregated fields as floats>}`` (plus ``__raw`` when asked)."""

    def __init__(self, job: StreamJob[Any], *, keep_raw: bool) -> None:
        source = job.source_spec
        self._model = source.model
        self._key = source.key
        self._time = source.time
        self._fields = job.aggregated_fields
        self._keep_raw = keep_raw
        #: Set by the engine while it runs an avro source: decodes a value in the Confluent wire format.
        self.framed: Framed | None = None

    def __call__(self, value: bytes, ctx: SerializationContext) -> dict[str, Any]:
        if self.framed is not None and value and value[0] not in _JSON_STARTS:
            payload = self.framed(value)
        else:
            try:
                payload = self._model.model_validate_json(value)
            except ValidationError as exc:
                raise PayloadDecodeError(describe(exc, self._model)) from exc
        row: dict[str, Any] = {KEY: getattr(payload, self._key), TIME: epoch_ms(getattr(payload, self._time))}
        for name in self._fields:
            row[name] = float(getattr(payload, name))
        if self._keep_raw:
            row[RAW] = value
        return row


def extract_time(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    """Quix Streams' timestamp extractor: event time from the payload, never the broker's timestamp."""
    if value is None:
        raise PayloadDecodeError(TOMBSTONE)
    return int(value[TIME])


class ResultSerializer(Serializer):
    """The sink's value serializer: results arrive already encoded."""

    def __call__(self, value: Any, ctx: SerializationContext) -> bytes:
        return bytes(value.value)
