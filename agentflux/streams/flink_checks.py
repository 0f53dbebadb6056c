"""The Flink engine's record checks, in SQL: which records are windowed, and why the others are dead letters.

Both Flink paths over the source topic apply the same checks to the same
texts, so that every record is either windowed or dead-lettered, never both
and never neither. The window path reads each field the job uses as text
(Flink's JSON format, a ``STRING`` column); the dead-letter path reads the
same text with ``JSON_VALUE`` (``JSON_QUERY`` for an object or array). The
checks run in the model's field order, as pydantic reports its errors, and
the first that fails gives the message (``invalid`` has the wording):

* a missing or null field;
* ``int``: text that casts to BIGINT and to the same DOUBLE (``1.0`` is 1,
  ``1.5`` is not);
* ``float``: text that casts to DOUBLE (JSON numbers, numeric text);
* ``datetime``: RFC 3339, ``YYYY-MM-DD[T ]hh:mm:ss[.fraction][Z|±hh:mm]``
  with a real calendar date; no offset means UTC, as for the job's naive
  datetimes. Milliseconds are the fraction's first three digits, as pydantic
  truncates;
* ``str``: any value (Flink's JSON format reads a number as its text);
* unless the job rekeys, the record's Kafka key must be the key field's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflux.streams.filters import sql_literal
from agentflux.streams.invalid import ValueKind, missing, not_a, value_kind

if TYPE_CHECKING:
    from agentflux.streams.job import StreamJob

PAYLOAD, KEY_ERROR = "PayloadDecodeError", "InvalidMessage"
_DAY = r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))"
_LEAP_DAY = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29"
_CLOCK = r"[Tt ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)?"
RFC3339 = rf"(?:(?!0000)\d{{4}}-{_DAY}|{_LEAP_DAY}){_CLOCK}"
_NUMBER = r"-?\d+(?:\.\d+)?(?:E[+-]?\d+)?"
_WHOLE = r"-?\d{1,18}"


@dataclass(frozen=True)
class Check:
    """One way a record fails: ``condition`` (SQL, never NULL once the checks before it passed), its error."""

    condition: str
    error_type: str
    message: str


def kinds(job: StreamJob[Any]) -> dict[str, ValueKind]:
    """The fields the job reads, in the model's field order, with the kind each is checked as."""
    source = job.source_spec
    used = {source.key, source.time, *job.aggregated_fields}
    out: dict[str, ValueKind] = {}
    for name in source.model.model_fields:
        if name in used:
            kind = "int" if name == source.time and source.time_kind == "epoch_ms" else value_kind(source.model, name)
            out[name] = kind or "float"  # job fields are always one of the four kinds (schema checks it)
    return out


def _bad(kind: ValueKind, text: str) -> str | None:
    if kind == "int":
        whole = f"TRY_CAST({text} AS BIGINT)"
        return f"{whole} IS NULL OR TRY_CAST({text} AS DOUBLE) IS DISTINCT FROM CAST({whole} AS DOUBLE)"
    if kind == "float":
        return f"TRY_CAST({text} AS DOUBLE) IS NULL"
    if kind == "datetime":
        return f"NOT REGEXP({text}, {sql_literal('^' + RFC3339 + '$')})"
    return None


def key_text(job: StreamJob[Any], text: str) -> str:
    """The key field as the text a Kafka key must equal (an int key normalised, as ``str(int)`` writes it)."""
    return text if job.source_spec.key_kind == "str" else f"CAST(TRY_CAST({text} AS BIGINT) AS STRING)"


def checks(job: StreamJob[Any], texts: Mapping[str, str], kafka_key: str | None) -> list[Check]:
    """The field checks in order, then the key check when ``kafka_key`` (the record key as STRING) is given."""
    out: list[Check] = []
    for name, kind in kinds(job).items():
        text = texts[name]
        out.append(Check(f"{text} IS NULL", PAYLOAD, sql_literal(missing(name))))
        bad = _bad(kind, text)
        if bad is not None:
            out.append(Check(bad, PAYLOAD, sql_literal(not_a(name, kind))))
    if kafka_key is not None:
        value = key_text(job, texts[job.source_spec.key])
        no_key = f"""CONCAT('record has no key; its key field''s value is "', {value}, '"')"""
        other = f"""CONCAT('record key "', {kafka_key}, '" is not its key field''s value "', {value}, '"')"""
        message = f"CASE WHEN {kafka_key} IS NULL THEN {no_key} ELSE {other} END"
        out.append(Check(f"{kafka_key} IS NULL OR {kafka_key} <> {value}", KEY_ERROR, message))
    return out


def all_pass(found: list[Check]) -> str:
    """TRUE when no check fails: the same CASE order as ``first_failure``, so NULLs fall through alike."""
    return "CASE\n    " + "\n    ".join(f"WHEN {c.condition} THEN FALSE" for c in found) + "\n    ELSE TRUE END"


def first_failure(found: list[Check], *, what: str = "message") -> str:
    """The message (or ``what="error_type"``) of the first failing check; NULL when all pass."""
    whens = "\n      ".join(
        f"WHEN {c.condition} THEN {c.message if what == 'message' else sql_literal(c.error_type)}" for c in found
    )
    return f"CASE\n      {whens}\n    END"


def typed(kind: ValueKind, text: str) -> str:
    """The value of a field that passed its check: BIGINT for ``int``, DOUBLE for ``float``, else the text."""
    if kind == "int":
        return f"TRY_CAST({text} AS BIGINT)"
    if kind == "float":
        return f"TRY_CAST({text} AS DOUBLE)"
    return text


def time_ms(t: str) -> str:
    """Epoch milliseconds of an RFC 3339 text that passed its check (fixed positions up to the seconds)."""
    n = f"CHAR_LENGTH({t})"
    offset_len = (
        f"(CASE WHEN UPPER(SUBSTRING({t} FROM {n} FOR 1)) = 'Z' THEN 1 "
        f"WHEN SUBSTRING({t} FROM {n} - 5 FOR 1) IN ('+', '-') THEN 6 ELSE 0 END)"
    )
    seconds = f"UNIX_TIMESTAMP(CONCAT(SUBSTRING({t} FROM 1 FOR 10), ' ', SUBSTRING({t} FROM 12 FOR 8)))"
    fraction = f"SUBSTRING({t} FROM 21 FOR {n} - 20 - {offset_len})"
    millis = (
        f"CASE WHEN SUBSTRING({t} FROM 20 FOR 1) = '.' "
        f"THEN CAST(SUBSTRING(CONCAT({fraction}, '000') FROM 1 FOR 3) AS BIGINT) ELSE 0 END"
    )
    sign = f"(CASE WHEN SUBSTRING({t} FROM {n} - 5 FOR 1) = '-' THEN -1 ELSE 1 END)"
    hours_minutes = (
        f"CAST(SUBSTRING({t} FROM {n} - 4 FOR 2) AS BIGINT) * 60 + CAST(SUBSTRING({t} FROM {n} - 1 FOR 2) AS BIGINT)"
    )
    offset = f"CASE WHEN {offset_len} = 6 THEN {sign} * ({hours_minutes}) ELSE 0 END"
    return f"({seconds} * 1000 + ({millis}) - ({offset}) * 60000)"


def canonical_fields(job: StreamJob[Any]) -> list[str]:
    """The fields the dead-letter path's one ``JSON_QUERY`` picks out, key first."""
    return [job.source_spec.key, *(f for f in kinds(job) if f != job.source_spec.key)]


def canonical_pattern(job: StreamJob[Any], *, with_key: bool) -> str:
    r"""A Java regex that only matches records every check passes, for the dead-letter path's fast test.

    It reads ``JSON_QUERY(value, '$[<canonical_fields>]')``, which Jackson
    writes compactly, in that order; with the key check, prefixed by the Kafka
    key and ``\x01``. A record it does not match is checked field by field.
    """
    found = kinds(job)
    tokens: dict[ValueKind, str] = {"str": r'"[^"\\]*"', "int": _WHOLE, "float": _NUMBER, "datetime": f'"{RFC3339}"'}
    key = job.source_spec.key
    if with_key:
        group = r'([^"\\\x01]*)' if found[key] == "str" else f"({_WHOLE})"
        head = group + r"\x01\{" + f'"{key}":' + (r'"\1"' if found[key] == "str" else r"\1")
    else:
        head = r"\{" + f'"{key}":' + tokens[found[key]]
    rest = "".join(f',"{name}":{tokens[found[name]]}' for name in canonical_fields(job)[1:])
    return "^" + head + rest + r"\}$"
