"""Filters on window results, written as expressions: ``col("avg_vibration") > 7.0``.

A filter names aggregates (or the key field) and compares them with numbers
or strings; ``&``, ``|`` and ``~`` combine filters. It is data, not a lambda,
so the same filter runs in Python (embedded engine, ``job.test``) and compiles
to a Flink SQL ``HAVING`` clause.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentflux.contract.errors import ConfigError

Op = Literal[">", ">=", "<", "<=", "==", "!="]
Scalar = int | float | str
_PYTHON: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
_SQL = {"==": "=", "!=": "<>"}


class Filter:
    """A boolean expression over the columns of a window result."""

    def __and__(self, other: Filter) -> Filter:
        return _Both("AND", self, other)

    def __or__(self, other: Filter) -> Filter:
        return _Both("OR", self, other)

    def __invert__(self) -> Filter:
        return _Not(self)

    def __bool__(self) -> bool:
        raise TypeError("a Filter is an expression: combine filters with & | ~, not 'and' 'or' 'not'")

    def evaluate(self, row: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def to_sql(self, columns: Mapping[str, str]) -> str:
        """SQL text, with each column name replaced by ``columns[name]``."""
        raise NotImplementedError

    def columns(self) -> set[str]:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Compare(Filter):
    column: str
    op: Op
    value: Scalar

    def evaluate(self, row: Mapping[str, Any]) -> bool:
        return _PYTHON[self.op](row[self.column], self.value)

    def to_sql(self, columns: Mapping[str, str]) -> str:
        return f"{columns[self.column]} {_SQL.get(self.op, self.op)} {sql_literal(self.value)}"

    def columns(self) -> set[str]:
        return {self.column}

    def __repr__(self) -> str:
        return f"col({self.column!r}) {self.op} {self.value!r}"


@dataclass(frozen=True, eq=False)
class _Both(Filter):
    word: Literal["AND", "OR"]
    left: Filter
    right: Filter

    def evaluate(self, row: Mapping[str, Any]) -> bool:
        if self.word == "AND":
            return self.left.evaluate(row) and self.right.evaluate(row)
        return self.left.evaluate(row) or self.right.evaluate(row)

    def to_sql(self, columns: Mapping[str, str]) -> str:
        return f"({self.left.to_sql(columns)} {self.word} {self.right.to_sql(columns)})"

    def columns(self) -> set[str]:
        return self.left.columns() | self.right.columns()

    def __repr__(self) -> str:
        return f"({self.left!r} {'&' if self.word == 'AND' else '|'} {self.right!r})"


@dataclass(frozen=True, eq=False)
class _Not(Filter):
    inner: Filter

    def evaluate(self, row: Mapping[str, Any]) -> bool:
        return not self.inner.evaluate(row)

    def to_sql(self, columns: Mapping[str, str]) -> str:
        return f"(NOT {self.inner.to_sql(columns)})"

    def columns(self) -> set[str]:
        return self.inner.columns()

    def __repr__(self) -> str:
        return f"~{self.inner!r}"


@dataclass(frozen=True)
class col:  # lowercase: it reads as a function in filter expressions
    """A column of the window result, to compare: ``col("avg_vibration") > 7.0``."""

    name: str

    def _compare(self, op: Op, value: object) -> Compare:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"filter on {self.name!r}: compare with a number or a string, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"filter on {self.name!r}: {value!r} cannot be written in SQL")
        return Compare(self.name, op, value)

    def __gt__(self, value: Scalar) -> Compare:
        return self._compare(">", value)

    def __ge__(self, value: Scalar) -> Compare:
        return self._compare(">=", value)

    def __lt__(self, value: Scalar) -> Compare:
        return self._compare("<", value)

    def __le__(self, value: Scalar) -> Compare:
        return self._compare("<=", value)

    def __eq__(self, value: object) -> Compare:  # type: ignore[override]
        return self._compare("==", value)

    def __ne__(self, value: object) -> Compare:  # type: ignore[override]
        return self._compare("!=", value)

    __hash__ = None  # type: ignore[assignment]


def sql_literal(value: Scalar) -> str:
    """A SQL literal; floats keep full precision (``repr``), strings are quoted."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    return str(value)
