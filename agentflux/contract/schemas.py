"""Payload formats, subjects, and the schemas of payload models.

A topic's *format* says how its record values are written:

* ``json``: the payload as JSON, checked only by the consumer's model (the default);
* ``avro``: Avro binary in the Confluent wire format (a 0 byte, the 4-byte
  schema id, the body), the schema registered in a schema registry;
* ``json-schema``: JSON in the same framing, its JSON Schema registered.

A model's Avro schema comes from ``py-avro-schema``: a record named after the
model class (no namespace), fields in declaration order, a field with a default
gets it in the schema (not one made by a ``default_factory``, which differs per
call), ``X | None`` becomes ``["null", X]``. The record's name is
the model's ``title`` when its ``model_config`` sets one, else its class name, so
two versions of a model in one code base (``PriceChangedV2`` titled
``PriceChanged``) share a record name, as Avro's schema resolution needs. Docstrings are left
out, so editing one does not make a new schema version. Its JSON Schema is
pydantic's ``model_json_schema()``.

The *subject* a schema is registered under follows the topic's strategy, named
as in Confluent's serializers: ``topic`` (``{topic}-value``, one record type per
topic), ``topic-record`` (``{topic}-{RecordName}``) or ``record``
(``{RecordName}``), the last two for topics that carry several record types.
"""

from __future__ import annotations

import functools
import json
import operator
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, create_model

from agentflux.contract.errors import ConfigError

Format = Literal["json", "avro", "json-schema"]
SubjectStrategy = Literal["topic", "topic-record", "record"]
FORMATS: tuple[Format, ...] = ("json", "avro", "json-schema")
STRATEGIES: tuple[SubjectStrategy, ...] = ("topic", "topic-record", "record")
COMPATIBILITY_LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
DEFAULT_COMPATIBILITY = "BACKWARD"
SCHEMA_TYPES = {"avro": "AVRO", "json-schema": "JSON"}


@dataclass(frozen=True)
class TopicFormat:
    """How one topic's values are written: its format, record types, subjects and compatibility rule.

    ``types`` are the payload models the topic carries, when declared: the
    models ``agentflux schema check`` compares with the registry and whose
    compatibility is checked when an agent starts. A registry format with more
    than one type needs the ``topic-record`` or ``record`` strategy, so that
    each type has a subject of its own.
    """

    topic: str
    format: Format = "json"
    types: tuple[type[BaseModel], ...] = ()
    subjects: SubjectStrategy = "topic"
    compatibility: str = DEFAULT_COMPATIBILITY

    def __post_init__(self) -> None:
        where = f"topic {self.topic!r}"
        check_format(self.format, where)
        if self.subjects not in STRATEGIES:
            raise ConfigError(f"{where}: subjects must be one of {', '.join(STRATEGIES)}; got {self.subjects!r}")
        level = str(self.compatibility).upper()
        if level not in COMPATIBILITY_LEVELS:
            raise ConfigError(
                f"{where}: compatibility must be one of {', '.join(COMPATIBILITY_LEVELS)}; got {self.compatibility!r}"
            )
        object.__setattr__(self, "compatibility", level)
        for tp in self.types:
            if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
                raise ConfigError(f"{where}: types must be pydantic BaseModel subclasses; got {tp!r}")
        names = [record_name(tp) for tp in self.types]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: two types share a record name: {', '.join(names)}")
        if self.registered and len(self.types) > 1 and self.subjects == "topic":
            raise ConfigError(
                f"{where}: {len(self.types)} record types on one topic need subjects='topic-record' "
                "(or 'record'), so that each type has a subject of its own"
            )

    @property
    def registered(self) -> bool:
        """True when values are framed with a registry schema id (avro, json-schema)."""
        return self.format != "json"

    @property
    def several_types(self) -> bool:
        return len(self.types) > 1

    def subject(self, model: type[BaseModel] | str) -> str:
        """The subject ``model`` (or a record name) is registered under on this topic."""
        name = model if isinstance(model, str) else record_name(model)
        if self.subjects == "topic":
            return f"{self.topic}-value"
        if self.subjects == "topic-record":
            return f"{self.topic}-{name}"
        return name


def check_format(fmt: object, where: str) -> Format:
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    return fmt


def record_name(model: type[BaseModel]) -> str:
    """The record type's name on the wire: the model's ``title`` (``model_config``) or else its class name."""
    title = model.model_config.get("title")
    return title if isinstance(title, str) and title else model.__name__


@functools.cache
def avro_schema(model: type[BaseModel]) -> str:
    """The model's Avro schema, as canonical-looking JSON text (generated once per model)."""
    import py_avro_schema as pas

    options = pas.Option.NO_AUTO_NAMESPACE | pas.Option.NO_DOC
    try:
        schema = json.loads(pas.generate(_with_resolved_annotations(model), options=options))
    except Exception as exc:  # py-avro-schema raises TypeError and others for types it cannot map
        raise ConfigError(f"{model.__name__}: no Avro schema can be made for this model: {exc}") from exc
    schema["name"] = record_name(model)
    # A default_factory's value is one call's (a time, an id): a new schema in every process. No default instead.
    factories = {name for name, info in model.model_fields.items() if info.default_factory is not None}
    for field in schema.get("fields", []):
        if field.get("name") in factories:
            field.pop("default", None)
    return json.dumps(schema, separators=(",", ":"))


@functools.cache
def _with_resolved_annotations(model: type[BaseModel]) -> type[BaseModel]:
    """``model``, or a copy of it whose annotations are types rather than strings.

    py-avro-schema reads a class's raw ``__annotations__``, which are strings in
    a module with ``from __future__ import annotations``. The copy has the same
    name, fields, defaults and config, and so the same Avro schema; nested
    models are copied the same way.
    """
    raw = [a for cls in model.__mro__ for a in getattr(cls, "__annotations__", {}).values()]
    hints = typing.get_type_hints(model, include_extras=True)
    nested = any(_has_model(hints[name]) for name in model.model_fields)
    if not nested and not any(isinstance(a, str) for a in raw):
        return model
    fields: dict[str, Any] = {name: (_resolved(hints[name]), info) for name, info in model.model_fields.items()}
    copy: type[BaseModel] = create_model(model.__name__, __config__=model.model_config, **fields)
    return copy


def _has_model(tp: Any) -> bool:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return True
    return any(_has_model(arg) for arg in typing.get_args(tp))


def _resolved(tp: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _with_resolved_annotations(tp)
    args = typing.get_args(tp)
    if not args or not any(_has_model(a) for a in args):
        return tp
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return typing.Annotated[(_resolved(args[0]), *tp.__metadata__)]
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, (_resolved(a) for a in args))
    return origin[tuple(_resolved(a) for a in args)]


@functools.cache
def json_schema(model: type[BaseModel]) -> str:
    """The model's JSON Schema (pydantic's), closed, as JSON text.

    Each object schema that does not say otherwise gets
    ``additionalProperties: false``: it describes what the producer writes
    (``model_dump`` writes the declared fields and nothing else). With an open
    content model, adding an optional field is a narrowing that BACKWARD
    compatibility refuses; with a closed one it is allowed, as in Avro.
    """
    schema = model.model_json_schema()
    schema["title"] = record_name(model)
    _close(schema)
    return json.dumps(schema, separators=(",", ":"), sort_keys=True)


def _close(node: object) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for item in node:
            _close(item)


def schema_text(fmt: Format, model: type[BaseModel]) -> str:
    """The schema of ``model`` in ``fmt``'s schema language."""
    if fmt == "avro":
        return avro_schema(model)
    if fmt == "json-schema":
        return json_schema(model)
    raise ConfigError(f"format {fmt!r} has no registered schema")


def writer_name(schema_type: str, schema_str: str) -> str | None:
    """The record name a registered schema declares: Avro's ``name``, JSON Schema's ``title``."""
    try:
        parsed = json.loads(schema_str)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    name = parsed.get("name") if schema_type.upper() == "AVRO" else parsed.get("title")
    return name.rsplit(".", 1)[-1] if isinstance(name, str) else None
