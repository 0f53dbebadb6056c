"""Why a source record is a dead letter: the messages both engines write in ``dlq_error_message``.

The embedded engine derives the message from pydantic's first validation
error; the Flink engine computes it in SQL (``flink_checks``) from the fields
the job reads. For the same record both write the same words:

* ``value is not valid JSON`` (also for a value that is not UTF-8);
* ``value is not a JSON object``;
* ``record has no value (a tombstone): there is no reading to window``;
* ``field "v" is missing or null``;
* ``field "v" is not a number`` (``float``), ``is not a whole number``
  (``int``), ``is not text`` (``str``), ``is not an RFC 3339 date and time``
  (``datetime``);
* ``field "f" is not valid: <pydantic's message>`` for a field of another
  type. Only the embedded engine writes this one, because Flink checks only
  the fields the job reads.

Those are ``PayloadDecodeError``. A record whose Kafka key is not its key
field's value is an ``InvalidMessage``: ``record key "x" is not its key
field's value "m1"``, or ``record has no key; its key field's value is "m1"``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from agentflux.streams.schema import field_type

ValueKind = Literal["str", "int", "float", "datetime"]
NOT_JSON = "value is not valid JSON"
NOT_OBJECT = "value is not a JSON object"
TOMBSTONE = "record has no value (a tombstone): there is no reading to window"
KIND_WORDS: dict[ValueKind, str] = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "datetime": "an RFC 3339 date and time",
}
_KINDS: dict[object, ValueKind] = {str: "str", int: "int", float: "float", datetime: "datetime"}


def value_kind(model: type[BaseModel], name: str) -> ValueKind | None:
    """The kind of a model field as the checks see it; None for a type they do not name (lists, unions, ...)."""
    return _KINDS.get(field_type(model, name, "model"))


def missing(field: str) -> str:
    return f'field "{field}" is missing or null'


def not_a(field: str, kind: ValueKind) -> str:
    return f'field "{field}" is not {KIND_WORDS[kind]}'


def key_mismatch(key: bytes | None, value: object) -> str:
    """The message for a record whose Kafka ``key`` is not its key field's ``value`` (text of an int key)."""
    if key is None:
        return f'record has no key; its key field\'s value is "{value}"'
    return f'record key "{key.decode("utf-8", "replace")}" is not its key field\'s value "{value}"'


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """The message for pydantic's first error (fields fail in the model's field order, as Flink checks them)."""
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    if error["type"] == "json_invalid":
        return NOT_JSON
    if not loc:
        return NOT_OBJECT
    name = str(loc[0])
    if error["type"] == "missing" or (len(loc) == 1 and error.get("input") is None):
        return missing(name)
    kind = value_kind(model, name) if name in model.model_fields else None
    if kind is None or len(loc) > 1:
        return f'field "{name}" is not valid: {error["msg"]}'
    return not_a(name, kind)
