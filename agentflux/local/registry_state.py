"""Where the embedded schema registry lives on disk, and its ``registry.json`` state file.

As for the broker (``state``): the state file is written once the registry
answers and removed when it is stopped; a state file whose process is gone is
stale and means "stopped".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from agentflux.local.state import process_has_args, read_json, write_json

STATE_FILE = "registry.json"
SETTINGS_FILE = "registry.properties"
LOG_FILE = "registry.log"
DB_DIR = "db"
#: The Confluent-compatible API below the registry's root: what confluent-kafka's client is given.
CCOMPAT_PATH = "/apis/ccompat/v7"


def default_registry_dir(env: Mapping[str, str] | None = None) -> Path:
    """The CLI's registry directory, beside the broker's (``state.default_data_dir``).

    ``$AGENTFLUX_HOME/registry``, else ``$XDG_DATA_HOME/agentflux/registry``, else
    ``~/.local/share/agentflux/registry``.
    """
    env = os.environ if env is None else env
    if env.get("AGENTFLUX_HOME"):
        return Path(env["AGENTFLUX_HOME"]).expanduser() / "registry"
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "agentflux" / "registry"


def datasource_url(data_dir: Path) -> str:
    """The H2 database in ``data_dir``: a file, so that schemas survive a restart."""
    return f"jdbc:h2:file:{data_dir.resolve() / DB_DIR / 'registry'}"


@dataclass(frozen=True)
class RegistryState:
    """What ``registry.json`` records about a started registry."""

    pid: int
    port: int
    url: str
    started_at: str


@dataclass(frozen=True)
class RegistryStatus:
    """The answer of ``LocalRegistry.status()``: ``pid`` and ``url`` are None when stopped."""

    running: bool
    data_dir: Path
    pid: int | None = None
    url: str | None = None
    started_at: str | None = None


def write_state(data_dir: Path, state: RegistryState) -> None:
    write_json(data_dir / STATE_FILE, asdict(state))


def read_state(data_dir: Path) -> RegistryState | None:
    """The recorded state, or None when there is none or it cannot be read."""
    raw = read_json(data_dir / STATE_FILE)
    try:
        return None if raw is None else RegistryState(**{k: raw[k] for k in RegistryState.__dataclass_fields__})
    except (KeyError, TypeError):
        return None


def clear_state(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def is_registry_process(pid: int, data_dir: Path) -> bool:
    """True when ``pid`` is alive and is the registry of ``data_dir`` (its database is in ``data_dir``).

    Checking the command line keeps a recycled pid from being sent SIGTERM.
    """
    return process_has_args(pid, f"-Dapicurio.datasource.url={datasource_url(data_dir)}".encode())


def running_state(data_dir: Path) -> RegistryState | None:
    """The state of the registry running for ``data_dir``, or None."""
    state = read_state(data_dir)
    if state is None or not is_registry_process(state.pid, data_dir):
        return None
    return state


def local_registry_url(data_dir: Path | None = None) -> str | None:
    """The Confluent-compatible URL of the registry started by ``agentflux up``, if it runs.

    For example ``http://127.0.0.1:8081/apis/ccompat/v7``: what confluent-kafka's
    ``SchemaRegistryClient`` takes as ``url``.
    """
    state = running_state(default_registry_dir() if data_dir is None else data_dir)
    return state.url if state else None
