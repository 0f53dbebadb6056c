"""Payload codecs: pydantic models to JSON bytes and back.

A handler declares its payload type by annotation. Supported types are a
pydantic ``BaseModel`` subclass (validated), ``dict`` or ``list`` (any JSON),
``bytes`` (the raw value, undecoded) and ``str`` (UTF-8 text).

JSON is parsed by pydantic-core, whose parser refuses values nested deeper
than ``MAX_DEPTH`` levels: whatever the bytes, decoding either succeeds or
raises ``PayloadDecodeError`` with the reason (never a ``RecursionError``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from agentflux.contract.errors import ConfigError, PayloadDecodeError

PayloadType = type[Any]
MAX_DEPTH = 200  # pydantic-core's recursion limit for JSON
_RAW_TYPES: tuple[type, ...] = (bytes, str, dict, list)


def check_payload_type(tp: object, where: str) -> PayloadType:
    """Return ``tp`` if it can be decoded into, else raise ConfigError naming ``where``."""
    if isinstance(tp, type) and (issubclass(tp, BaseModel) or tp in _RAW_TYPES):
        return tp
    raise ConfigError(
        f"{where}: payload type must be a pydantic BaseModel subclass, dict, list, str or bytes; got {tp!r}"
    )


def encode(payload: object) -> bytes:
    """Encode a model, a JSON-able value, str or bytes into a record value."""
    if isinstance(payload, BaseModel):
        return payload.model_dump_json().encode()
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    try:
        return json.dumps(payload, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise PayloadDecodeError(f"cannot encode {type(payload).__name__} as JSON: {exc}") from exc


def decode(value: bytes | None, tp: PayloadType) -> Any:
    """Decode a record value into ``tp``; raise PayloadDecodeError with a precise reason."""
    if tp is bytes:
        return value or b""
    if value is None:
        raise PayloadDecodeError(f"record has no value (tombstone); expected {tp.__name__}")
    if tp is str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadDecodeError(f"value is not valid UTF-8 text: {exc}") from exc
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        try:
            return tp.model_validate_json(value)
        except ValidationError as exc:
            raise PayloadDecodeError(describe(exc, tp, value)) from exc
    data = parse_json(value)
    if not isinstance(data, tp):
        raise PayloadDecodeError(f"value is JSON {type(data).__name__}, expected {tp.__name__}")
    return data


def parse_json(value: bytes) -> Any:
    """Any JSON value; PayloadDecodeError saying why when ``value`` is not JSON (or nests too deep)."""
    try:
        return from_json(value)
    except ValueError as exc:
        raise PayloadDecodeError(f"value is not valid JSON: {exc} (first bytes: {value[:40]!r})") from exc


def describe(exc: ValidationError, tp: type[BaseModel], value: bytes) -> str:
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return f"value is not valid JSON: {errors[0]['msg']} (first bytes: {value[:40]!r})"
    parts = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errors[:5])
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"value does not match {tp.__name__}: {parts}{more}"
