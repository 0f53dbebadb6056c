"""Window aggregates: ``avg``, ``min_``, ``max_``, ``sum_`` over a numeric field, and ``count()``.

An aggregate is a description only; each engine translates it (Quix Streams
aggregators, Flink SQL functions) and ``reference`` evaluates it in Python.
Every aggregated value is a float, except ``count``, which is an int.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from agentflux.contract.errors import ConfigError

Function = Literal["avg", "min", "max", "sum", "count"]
FUNCTIONS: tuple[Function, ...] = ("avg", "min", "max", "sum", "count")


@dataclass(frozen=True)
class Aggregate:
    """``function`` over ``field`` of the payload (no field for ``count``)."""

    function: Function
    field: str | None = None

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise ConfigError(f"unknown aggregate {self.function!r}: expected one of {', '.join(FUNCTIONS)}")
        if (self.field is None) != (self.function == "count"):
            raise ConfigError(
                "count() takes no field" if self.function == "count" else f"{self.function}() needs a field"
            )

    def __str__(self) -> str:
        return f"{self.function}({self.field or ''})"

    def compute(self, values: Iterable[float]) -> float | int:
        """The aggregate of ``values`` (never empty: a window exists only once it has a record)."""
        items = list(values)
        if self.function == "count":
            return len(items)
        if self.function == "sum":
            return float(sum(items))
        if self.function == "avg":
            return sum(items) / len(items)
        return float(min(items) if self.function == "min" else max(items))


def avg(field: str) -> Aggregate:
    return Aggregate("avg", field)


def min_(field: str) -> Aggregate:
    return Aggregate("min", field)


def max_(field: str) -> Aggregate:
    return Aggregate("max", field)


def sum_(field: str) -> Aggregate:
    return Aggregate("sum", field)


def count() -> Aggregate:
    return Aggregate("count")
