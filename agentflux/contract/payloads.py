"""Payloads on the wire, per topic: plain JSON, or Avro / JSON Schema through a schema registry.

``Payloads`` is the one place that turns a payload into a record value and
back. For a ``json`` topic it is ``codec.encode``/``codec.decode``. For an
``avro`` or ``json-schema`` topic it uses confluent-kafka's serializers: a
producer registers (or finds) the schema of the payload's model under the
topic's subject and writes the Confluent wire format; a consumer reads the
writer's schema by the record's id and decodes into the handler's model (the
reader), so producers and consumers on different versions of a model work
together within the compatibility rule.

A registry topic's record is read by its first byte:

* ``0x00``: the Confluent wire format;
* ``{`` or ``[`` (after any whitespace): plain JSON, as written before the topic
  moved to the registry format, decoded as on a ``json`` topic;
* anything else: ``PayloadDecodeError`` naming the byte.

An unknown schema id, bytes that do not match their schema, and a writer schema
the reader's model cannot read are ``PayloadDecodeError`` too (dead letters).
A registry that cannot be reached is ``SchemaRegistryUnavailable`` (transient).

Avro goes through confluent-kafka's serializers for a topic's first record of
each model (encoding) and of each writer schema id and payload type
(decoding). After that, when the library would do nothing but call fastavro
(for a model: no ``use.latest.version``; for a writer schema: no rule set and no
references), the same fastavro calls are made directly with the same parsed
schemas, the same schema id prefix and the same errors. The library's per-call
work (rule execution, inline tags, context objects, cache locks) was most of
an Avro record's cost: see bench/RESULTS.md. A flat record of a plain model,
written with the model's own schema, skips fastavro and pydantic's second
validation too (``avro_flat``).

JSON Schema is not validated against the schema (the model validates), so the
library's work after registration is JSON: after a model's first record the
id prefix and the model's compact JSON are written directly (the same bytes as
the library's orjson text), and every record of a writer schema without rules
is read as a JSON topic's value is, once the schema's id has been looked up.

A writer schema's first record is decoded alone: records that arrive while it
is looked up wait for it, then take the direct path (``decode_now``, which the
event processor calls without an await).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import io
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from agentflux.contract import codec
from agentflux.contract.avro_flat import flat_reader, flat_writer
from agentflux.contract.errors import ConfigError, PayloadDecodeError, SchemaRegistryUnavailable
from agentflux.contract.registry import NOT_FOUND_CODES, Registry
from agentflux.contract.schemas import SCHEMA_TYPES, Format, TopicFormat, record_name, schema_text, writer_name

if TYPE_CHECKING:
    from confluent_kafka.serialization import SerializationContext

MAGIC = 0
LATER = object()  # decode_now's answer when the registry must be asked first
_JSON_STARTS = frozenset(b"{[ \t\r\n")
Serializer = Callable[[Any, "SerializationContext"], Any]
Direct = Callable[[Any], Any]  # one record in or out, without the library's per-call work (Avro)
ReaderKey = tuple[str, bytes, object]  # topic, writer schema id (its 4 bytes in a record), payload type


class Payloads:
    """Encodes and decodes the payloads of an app's topics, each by its ``TopicFormat``.

    ``format_of(topic)`` gives a topic's format (``json`` unless declared).
    A registry format needs ``registry``; without one, using such a topic
    raises ``ConfigError`` saying how to configure it.
    """

    def __init__(self, format_of: Callable[[str], TopicFormat], registry: Registry | None = None) -> None:
        self._format_of = format_of
        self._formats: dict[str, TopicFormat] = {}
        self.registry = registry
        self._serializers: dict[tuple[str, str], Serializer] = {}
        self._deserializers: dict[tuple[str, str, object], Serializer] = {}
        # After a model's first record: its writer, made from the record's schema id prefix (topic, record name) ...
        self._writer_plans: dict[tuple[str, str], Callable[[bytes], Direct]] = {}
        self._writers: dict[tuple[str, str], Direct] = {}
        # ... and the parsed reader schema and from_dict of a deserializer (topic, payload type).
        self._reader_plans: dict[tuple[str, object], tuple[Any, Callable[[Any, Any], Any], Any]] = {}
        self._readers: dict[ReaderKey, Direct] = {}
        # The first record of each writer schema is decoded alone: the ones that arrive meanwhile wait for it,
        # then take the direct path, rather than each asking the registry for the same schema.
        self._first: dict[ReaderKey, asyncio.Lock] = {}
        self._decoded: set[ReaderKey] = set()  # keys whose first record was decoded (no need to wait any more)

    def format_of(self, topic: str) -> TopicFormat:
        """``topic``'s format, asked once per topic (declarations are done when payloads flow)."""
        found = self._formats.get(topic)
        if found is None:
            found = self._formats[topic] = self._format_of(topic)
        return found

    def registered(self, topic: str) -> bool:
        """True when ``topic``'s values go through the registry."""
        return self.format_of(topic).registered

    def registry_for(self, topic: str) -> Registry:
        if self.registry is None:
            raise ConfigError(
                f"topic {topic!r} is declared {self.format_of(topic).format} but no schema registry is configured: "
                "start one with `agentflux up`, or set AGENTFLUX_SCHEMA_REGISTRY_URL"
            )
        return self.registry

    # -- encoding ---------------------------------------------------------------------------------------

    async def encode(self, topic: str, payload: object, model: type[BaseModel] | None = None) -> bytes:
        """The record value for ``payload`` on ``topic``.

        On a registry topic the payload is a pydantic model, or a dict that
        ``model`` (or the topic's one declared type) validates. A dict with
        neither is written with the subject's latest registered schema.
        """
        found = self.encode_now(topic, payload, model)
        if found is not LATER:
            return found  # type: ignore[no-any-return]
        fmt = self.format_of(topic)
        payload = self._validated(fmt, payload, model)
        key = (fmt.topic, record_name(type(payload)) if isinstance(payload, BaseModel) else "")
        serialize = await self._serializer(fmt, key, payload)
        value: bytes = await self._run(topic, "encode", serialize, payload)
        plan = self._writer_plans.pop(key, None)
        if plan is not None:  # the schema is registered and its id known: the rest needs no registry
            self._writers[key] = plan(value[:5])
        return value

    def encode_now(self, topic: str, payload: object, model: type[BaseModel] | None = None) -> Any:
        """``encode``'s value when that needs no schema registry (the schema's id is known), else ``LATER``."""
        fmt = self.format_of(topic)
        if not fmt.registered:
            return codec.encode(payload)
        payload = self._validated(fmt, payload, model)
        direct = self._writers.get((fmt.topic, record_name(type(payload)) if isinstance(payload, BaseModel) else ""))
        if direct is None:
            return LATER
        try:
            return direct(payload)
        except PayloadDecodeError:
            raise
        except Exception as exc:
            raise _config_error(exc, topic) from exc

    def _validated(self, fmt: TopicFormat, payload: object, model: type[BaseModel] | None) -> object:
        """``payload``, a dict made the model it is for (``model``, or the topic's one declared type)."""
        if isinstance(payload, BaseModel):
            return payload
        model = model or (fmt.types[0] if len(fmt.types) == 1 else None)
        if model is None:
            return payload
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise PayloadDecodeError(f"payload for {fmt.topic!r} does not match {model.__name__}: {exc}") from exc

    async def _serializer(self, fmt: TopicFormat, key: tuple[str, str], payload: object) -> Serializer:
        found = self._serializers.get(key)
        if found is None:
            model = type(payload) if isinstance(payload, BaseModel) else None
            found = await self._make_serializer(fmt, model)
            self._serializers[key] = found
            if fmt.format == "avro" and model is not None:
                parsed, to_dict = _parse_avro(schema_text("avro", model)), _dumper(model, "avro")
                self._writer_plans[key] = lambda prefix: _avro_writer(prefix, parsed, to_dict, model)
            elif model is not None:
                self._writer_plans[key] = _json_writer
        return found

    async def _make_serializer(self, fmt: TopicFormat, model: type[BaseModel] | None) -> Serializer:
        from confluent_kafka.schema_registry._async.avro import AsyncAvroSerializer
        from confluent_kafka.schema_registry._async.json_schema import AsyncJSONSerializer

        registry = self.registry_for(fmt.topic)
        if model is None:  # a dict without a model: the subject's latest schema writes it
            if fmt.subjects != "topic":
                raise ConfigError(
                    f"topic {fmt.topic!r} carries several record types: publish a pydantic model, not a dict"
                )
            schema, to_dict = None, None
            conf: dict[str, Any] = {"auto.register.schemas": False, "use.latest.version": True}
        else:
            schema = schema_text(fmt.format, model)
            to_dict = _dumper(model, fmt.format)
            conf = {"auto.register.schemas": True}
            await self.prepare_subject(fmt, model)
        subject = fmt.subject(model) if model else fmt.subject("")
        conf["subject.name.strategy"] = lambda ctx, name: subject
        serializer: Serializer
        if fmt.format == "avro":
            serializer = await self._call(fmt.topic, AsyncAvroSerializer(registry.client, schema, to_dict, conf))
        else:
            json_conf = {**conf, "validate": False}  # pydantic validated it already
            serializer = await self._call(fmt.topic, AsyncJSONSerializer(schema, registry.client, to_dict, json_conf))
        return serializer

    async def prepare_subject(self, fmt: TopicFormat, model: type[BaseModel]) -> None:
        """Give a subject with no versions yet the topic's compatibility rule, before its first schema."""
        registry = self.registry_for(fmt.topic)
        subject = fmt.subject(model)
        if not await registry.versions(subject) and await registry.compatibility(subject) != fmt.compatibility:
            await registry.set_compatibility(subject, fmt.compatibility)

    # -- decoding ---------------------------------------------------------------------------------------

    async def decode(self, topic: str, value: bytes | None, tp: type[Any]) -> Any:
        """``value`` as ``tp``; PayloadDecodeError with the reason, SchemaRegistryUnavailable when unreachable."""
        found = self.decode_now(topic, value, tp)
        if found is not LATER:
            return found
        assert value is not None  # decode_now answers LATER only for a framed value
        key = (topic, value[1:5], tp)
        if key in self._decoded:
            return await self._decode_with_registry(topic, value, tp)
        lock = self._first.setdefault(key, asyncio.Lock())
        async with lock:
            found = self.decode_now(topic, value, tp)  # the first record, decoded meanwhile, left a direct path
            if found is not LATER:
                return found
            decoded = await self._decode_with_registry(topic, value, tp)
            self._decoded.add(key)
            self._first.pop(key, None)
            return decoded

    def decode_now(self, topic: str, value: bytes | None, tp: type[Any]) -> Any:
        """``value`` as ``tp`` when that needs no schema registry (its writer's schema is known), else ``LATER``.

        A JSON record, and a framed record of a writer schema already decoded once, are decoded here
        with no await; ``decode`` does the rest.
        """
        if value and value[0] == MAGIC and len(value) > 5:  # a direct path exists only where the checks below pass
            known = self._readers.get((topic, value[1:5], tp))
            if known is not None:
                try:
                    return known(value)
                except PayloadDecodeError:
                    raise
                except Exception as exc:
                    raise _decode_error(exc, topic, value) from exc
        fmt = self.format_of(topic)
        if tp is bytes or not value or value[0] in _JSON_STARTS or not (fmt.registered or self.framed(value)):
            return codec.decode(value, tp)
        if value[0] != MAGIC:
            raise PayloadDecodeError(
                f"wrong magic byte 0x{value[0]:02x}: {fmt.format} records on {topic!r} start with 0x00 "
                "(the Confluent wire format), or are plain JSON"
            )
        if len(value) < 6:
            raise PayloadDecodeError(f"value is {len(value)} bytes, too short for the Confluent wire format (6+)")
        return LATER

    async def _decode_with_registry(self, topic: str, value: bytes, tp: type[Any]) -> Any:
        """Decode through confluent-kafka's deserializer, and keep a direct path for the next records."""
        writer = await self._writer_schema(topic, value)
        kind: Format = "json-schema" if (writer.schema_type or "AVRO").upper() == "JSON" else "avro"
        if kind == "json-schema" and _plain_schema(writer) and _json_readable(tp):
            self._readers[(topic, value[1:5], tp)] = functools.partial(_read_json, tp=tp)
            return self.decode_now(topic, value, tp)  # the first record too, so that every record reads alike
        deserialize = await self._deserializer(topic, kind, tp)
        decoded = await self._run(topic, "decode", deserialize, value)
        plan = self._reader_plans.get((topic, tp)) if kind == "avro" else None
        if plan is not None and _plain_schema(writer):  # the library would only call fastavro from now on
            self._readers[(topic, value[1:5], tp)] = _avro_reader(_parse_avro(writer.schema_str), *plan)
        return decoded

    def framed(self, value: bytes | None) -> bool:
        """True when ``value`` is in the Confluent wire format and a registry can read it."""
        return bool(value) and value[0] == MAGIC and self.registry is not None  # type: ignore[index]

    async def writer_type(self, topic: str, value: bytes | None) -> str | None:
        """The record name of the schema ``value`` was written with (None for JSON records)."""
        if not value or value[0] != MAGIC or len(value) < 6:
            return None
        schema = await self._writer_schema(topic, value)
        return writer_name(schema.schema_type or "AVRO", schema.schema_str or "")

    async def _writer_schema(self, topic: str, value: bytes) -> Any:
        (schema_id,) = struct.unpack(">I", value[1:5])
        registry = self.registry_for(topic)
        try:
            return await registry.schema(schema_id)
        except SchemaRegistryUnavailable:
            raise
        except Exception as exc:
            raise _decode_error(exc, topic, value) from exc

    async def _deserializer(self, topic: str, kind: Format, tp: type[Any]) -> Serializer:
        found = self._deserializers.get((topic, kind, tp))
        if found is None:
            found = await self._make_deserializer(topic, kind, tp)
            self._deserializers[(topic, kind, tp)] = found
        return found

    async def _make_deserializer(self, topic: str, kind: Format, tp: type[Any]) -> Serializer:
        from confluent_kafka.schema_registry._async.avro import AsyncAvroDeserializer
        from confluent_kafka.schema_registry._async.json_schema import AsyncJSONDeserializer

        registry = self.registry_for(topic)
        model = tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
        reader = schema_text(kind, model) if model else None
        from_dict = _loader(model) if model else _raw(tp)
        deserializer: Serializer
        if kind == "avro":
            deserializer = await self._call(topic, AsyncAvroDeserializer(registry.client, reader, from_dict))
            self._reader_plans[(topic, tp)] = (_parse_avro(reader) if reader else None, from_dict, model)
        else:
            conf = {"validate": False}
            deserializer = await self._call(topic, AsyncJSONDeserializer(reader, from_dict, registry.client, conf))
        return deserializer

    async def _call(self, topic: str, awaitable: Any) -> Any:
        try:
            return await awaitable
        except SchemaRegistryUnavailable:
            raise
        except Exception as exc:
            raise _config_error(exc, topic) from exc

    async def _run(self, topic: str, what: str, fn: Serializer, value: Any) -> Any:
        from confluent_kafka.serialization import MessageField, SerializationContext

        registry = self.registry_for(topic)
        try:
            return await registry.call(
                f"{what} on {topic}", lambda: fn(value, SerializationContext(topic, MessageField.VALUE))
            )
        except SchemaRegistryUnavailable:
            raise
        except PayloadDecodeError:
            raise
        except Exception as exc:
            if what == "encode":
                raise _config_error(exc, topic) from exc
            raise _decode_error(exc, topic, value) from exc

    async def close(self) -> None:
        if self.registry is not None:
            await self.registry.close()


def _dumper(model: type[BaseModel], fmt: Format) -> Callable[[Any, Any], dict[str, Any]]:
    def to_dict(obj: Any, ctx: Any) -> dict[str, Any]:
        if not isinstance(obj, BaseModel):
            return dict(obj)
        data = obj.model_dump(mode="json")
        # Avro writes datetimes, dates and times as logical types (numbers), which take the objects, not text.
        return _with_times(data, obj.model_dump()) if fmt == "avro" else data

    return to_dict


def _with_times(data: Any, python: Any) -> Any:
    """``data`` (a JSON-mode dump) with the datetime, date and time values of ``python`` (a Python-mode dump)."""
    if isinstance(python, (datetime.datetime, datetime.date, datetime.time)):
        return python
    if isinstance(data, dict) and isinstance(python, dict):
        return {k: _with_times(v, python.get(k)) for k, v in data.items()}
    if isinstance(data, list) and isinstance(python, (list, tuple)) and len(data) == len(python):
        return [_with_times(v, p) for v, p in zip(data, python, strict=True)]
    return data


def _loader(model: type[BaseModel]) -> Callable[[Any, Any], BaseModel]:
    def from_dict(data: Any, ctx: Any) -> BaseModel:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise PayloadDecodeError(codec.describe(exc, model, b"")) from exc

    return from_dict


def _raw(tp: type[Any]) -> Callable[[Any, Any], Any]:
    def from_dict(data: Any, ctx: Any) -> Any:
        if tp in (dict, list) and not isinstance(data, tp):
            raise PayloadDecodeError(f"value is {type(data).__name__}, expected {tp.__name__}")
        return data

    return from_dict


def _parse_avro(text: str) -> Any:
    """An Avro schema parsed for fastavro exactly as confluent-kafka's serializers parse it (no references)."""
    from confluent_kafka.schema_registry.common.avro import parse_schema_with_repo

    return parse_schema_with_repo(text, named_schemas={})


def _plain_schema(schema: Any) -> bool:
    """True when confluent-kafka's deserializer does nothing with ``schema`` beyond fastavro's (or orjson's) read.

    That is: no rules to run, no references to resolve, and a record or union (the library wraps other
    top-level declarations before parsing them); for JSON Schema, an object.
    """
    return schema.rule_set is None and not schema.references and schema.schema_str.lstrip()[:1] in ("{", "[")


def _avro_writer(prefix: bytes, parsed: Any, to_dict: Callable[[Any, Any], Any], model: type[BaseModel]) -> Direct:
    """What ``AsyncAvroSerializer`` does per record once its schema is registered: the id prefix, then fastavro.

    A flat record of a plain model is written by a generated writer instead (``avro_flat``): the same bytes.
    """
    from fastavro import schemaless_writer

    flat = flat_writer(parsed, model, prefix)
    if flat is not None:
        return flat

    def write(obj: Any) -> bytes:
        out = io.BytesIO()
        out.write(prefix)
        schemaless_writer(out, parsed, to_dict(obj, None))
        return out.getvalue()

    return write


def _avro_reader(writer: Any, reader: Any, from_dict: Callable[[Any, Any], Any], model: Any) -> Direct:
    """What ``AsyncAvroDeserializer`` does per record for a writer schema without rules: fastavro, then from_dict.

    A record written with the model's own schema, flat and plain, is read by a generated reader instead
    (``avro_flat``): the same model, without validating again the types that decoding produced.
    """
    from fastavro import schemaless_reader

    # The library passes the writer's schema when it has no reader's, and fastavro drops a reader's
    # schema equal to the writer's before reading: that comparison, made here once rather than per record.
    resolve = None if reader is None or reader == writer else reader
    flat = flat_reader(writer, model, 5) if model is not None and reader is not None and resolve is None else None
    if flat is not None:
        return flat

    def read(value: bytes) -> Any:
        body = io.BytesIO(value)
        body.seek(5)
        return from_dict(schemaless_reader(body, writer, resolve, False), None)

    return read


def _json_writer(prefix: bytes) -> Direct:
    """What ``AsyncJSONSerializer`` does per model once its schema is registered (no validation): the id prefix,
    then the model's compact JSON, which is the library's orjson text of the same JSON-mode dump."""

    def write(obj: Any) -> bytes:
        return prefix + codec.encode(obj)

    return write


def _json_readable(tp: Any) -> bool:
    """True for the payload types a JSON Schema record is read into without the library: models, dicts, lists."""
    return tp in (dict, list) or (isinstance(tp, type) and issubclass(tp, BaseModel))


def _read_json(value: bytes, tp: Any) -> Any:
    """A JSON Schema record (no validation against the schema: the model validates) as a JSON topic's value."""
    return codec.decode(value[5:], tp)


def _decode_error(exc: Exception, topic: str, value: bytes) -> PayloadDecodeError:
    code = getattr(exc, "error_code", None)
    if code in NOT_FOUND_CODES or getattr(exc, "http_status_code", None) == 404:
        (schema_id,) = struct.unpack(">I", value[1:5])
        return PayloadDecodeError(f"unknown schema id {schema_id}: the registry has no such schema ({topic!r})")
    (schema_id,) = struct.unpack(">I", value[1:5]) if len(value) >= 5 else (-1,)
    reason = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "SchemaResolutionError":
        reason = "the writer's schema cannot be read with the reader's (incompatible record name or field types)"
    elif isinstance(exc, (EOFError, StopIteration, IndexError, struct.error)) or not str(exc):
        reason = "the bytes end before the schema's fields do"  # the same, whichever reader found it
    return PayloadDecodeError(f"value does not match its schema (id {schema_id}) on {topic!r}: {reason[:300]}")


def _config_error(exc: Exception, topic: str) -> ConfigError:
    return ConfigError(
        f"cannot encode a payload for {topic!r} through the schema registry: {type(exc).__name__}: {exc}"
    )


def schema_of(fmt: TopicFormat, model: type[BaseModel]) -> Any:
    """The confluent-kafka ``Schema`` of ``model`` in the topic's format."""
    from confluent_kafka.schema_registry import Schema

    return Schema(schema_text(fmt.format, model), SCHEMA_TYPES[fmt.format])
