"""Small builders for the Flink SQL text: quoted names, interval literals, ``WITH`` options, Kafka tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentflux.contract.errors import ConfigError
from agentflux.streams.filters import sql_literal

_MAX_INTERVAL_MS = 100 * 86_400_000


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def interval(ms: int) -> str:
    """A DAY TO SECOND(3) literal: the plain SECOND form overflows past 99 seconds."""
    if ms >= _MAX_INTERVAL_MS:
        raise ConfigError(f"{ms} ms is too long for a Flink interval literal (under 100 days)")
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}' DAY TO SECOND(3)"


def epoch_ms(column: str) -> str:
    """Epoch milliseconds of a TIMESTAMP column (in the UTC session)."""
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000 + EXTRACT(MILLISECOND FROM {column}) AS BIGINT)"


def with_options(options: Mapping[str, str]) -> str:
    body = ",\n".join(f"  {sql_literal(k)} = {sql_literal(v)}" for k, v in options.items())
    return f"WITH (\n{body}\n)"


def create_table(name: str, columns: Sequence[str], options: Mapping[str, str]) -> str:
    """``CREATE TEMPORARY TABLE`` with one column (or watermark) per line."""
    return f"CREATE TEMPORARY TABLE {name} (\n  " + ",\n  ".join(columns) + "\n) " + with_options(options)


def bytes_of(text_sql: str) -> str:
    """A STRING expression as BYTES (UTF-8), for a header value."""
    return f"CAST({text_sql} AS BYTES)"
