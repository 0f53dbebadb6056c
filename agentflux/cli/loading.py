"""Importing the user's app from a ``module:attribute`` reference."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from agentflux.contract.errors import ConfigError


def load_object(ref: str, expected: type | tuple[type, ...] | None = None) -> Any:
    """Import ``module:attr`` (the attribute defaults to ``app``); the working directory is importable."""
    module_name, _, attr = ref.partition(":")
    attr = attr or "app"
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"cannot import {module_name!r} (from {ref!r}): {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r} (from {ref!r})") from None
    if expected is not None and not isinstance(obj, expected):
        raise ConfigError(f"{ref!r} is a {type(obj).__name__}, expected {expected}")
    return obj
