"""Importing the user's app from a ``module:attribute`` reference."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from agentflux.contract.errors import ConfigError


def load_object(ref: str, expected: type | tuple[type, ...] | None = None) -> Any:
    """Import ``module:attr`` or ``path/to/file.py:attr`` (the attribute defaults to ``app``).

    The working directory is importable, as it is for ``python -m``.
    """
    module_name, _, attr = ref.partition(":")
    attr = attr or "app"
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if module_name.endswith(".py"):
            module = _import_file(Path(module_name))
        else:
            module = importlib.import_module(module_name)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ConfigError(f"cannot import {module_name!r} (from {ref!r}): {exc}") from exc
    except SyntaxError as exc:
        raise ConfigError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg} (importing {ref!r})") from exc
    except Exception as exc:  # the module raised while it was imported
        raise ConfigError(f"importing {module_name!r} (from {ref!r}) raised {type(exc).__name__}: {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r} (from {ref!r})") from None
    if expected is not None and not isinstance(obj, expected):
        kinds = expected if isinstance(expected, tuple) else (expected,)
        wanted = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{ref!r} is a {type(obj).__name__}, expected {wanted}")
    return obj


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    name = f"_agentflux_app_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
