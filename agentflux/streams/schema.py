"""What a job needs to know about its payload model: the kinds of its key, time and value fields.

Supported field types, so that both engines read the same records the same way:

* key field: ``str`` or ``int``;
* event-time field: ``datetime`` (naive values count as UTC; on the wire an
  RFC 3339 text, which the Flink engine reads only in UTC with a ``Z``, as
  pydantic writes UTC datetimes) or ``int`` (milliseconds since the epoch);
* aggregated fields: ``int`` or ``float``, not optional.
"""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Any, Literal, Union, get_origin

from pydantic import BaseModel

from agentflux.contract.errors import ConfigError

KeyKind = Literal["str", "int"]
TimeKind = Literal["datetime", "epoch_ms"]


def _plain(annotation: Any) -> Any:
    """The annotation, or None for a union (``X | None`` included): job fields must have one type."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return None  # optional or mixed: not supported for job fields
    return annotation


def field_type(model: type[BaseModel], name: str, role: str) -> Any:
    fields = model.model_fields
    if name not in fields:
        raise ConfigError(f"{role} field {name!r} is not a field of {model.__name__} (fields: {', '.join(fields)})")
    return _plain(fields[name].annotation)


def key_kind(model: type[BaseModel], name: str) -> KeyKind:
    annotation = field_type(model, name, "key")
    if annotation is str:
        return "str"
    if annotation is int:
        return "int"
    raise ConfigError(f"key field {model.__name__}.{name} must be str or int, not {annotation!r}")


def time_kind(model: type[BaseModel], name: str) -> TimeKind:
    annotation = field_type(model, name, "event-time")
    if annotation is datetime:
        return "datetime"
    if annotation is int:
        return "epoch_ms"
    raise ConfigError(
        f"event-time field {model.__name__}.{name} must be a datetime or int (epoch milliseconds), not {annotation!r}"
    )


def check_numeric(model: type[BaseModel], name: str) -> None:
    annotation = field_type(model, name, "aggregated")
    if annotation not in (int, float):
        raise ConfigError(f"aggregated field {model.__name__}.{name} must be int or float, not {annotation!r}")


def epoch_ms(value: datetime | int) -> int:
    """Event time in milliseconds since the epoch; a naive datetime is taken as UTC."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def output_fields(model: type[BaseModel], available: list[str]) -> list[str]:
    """The result columns ``model`` takes, in its field order; a ConfigError if it needs one that is missing."""
    chosen = []
    for name, info in model.model_fields.items():
        if name in available:
            chosen.append(name)
        elif info.is_required():
            raise ConfigError(
                f"output model {model.__name__} requires field {name!r}, which the job does not produce "
                f"(it produces {', '.join(available)}); give it a default or add an aggregate named so"
            )
    return chosen
