"""Where the embedded broker lives on disk, and its ``broker.json`` state file.

The state file is written once the broker answers and removed when it is
stopped; a state file whose process is gone is stale and means "stopped".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "broker.json"
PROPERTIES_FILE = "server.properties"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The CLI's broker directory.

    ``$AGENTFLUX_HOME/kafka``, else ``$XDG_DATA_HOME/agentflux/kafka``, else
    ``~/.local/share/agentflux/kafka``.
    """
    env = os.environ if env is None else env
    if env.get("AGENTFLUX_HOME"):
        return Path(env["AGENTFLUX_HOME"]).expanduser() / "kafka"
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "agentflux" / "kafka"


@dataclass(frozen=True)
class BrokerState:
    """What ``broker.json`` records about a started broker."""

    pid: int
    port: int
    controller_port: int
    bootstrap: str
    started_at: str


@dataclass(frozen=True)
class BrokerStatus:
    """The answer of ``LocalBroker.status()``: ``pid`` and ``bootstrap`` are None when stopped."""

    running: bool
    data_dir: Path
    pid: int | None = None
    bootstrap: str | None = None
    started_at: str | None = None


def write_state(data_dir: Path, state: BrokerState) -> None:
    """Write ``broker.json`` atomically, so a reader never sees half a file."""
    write_json(data_dir / STATE_FILE, asdict(state))


def read_state(data_dir: Path) -> BrokerState | None:
    """The recorded state, or None when there is none or it cannot be read."""
    raw = read_json(data_dir / STATE_FILE)
    try:
        return None if raw is None else BrokerState(**{key: raw[key] for key in BrokerState.__dataclass_fields__})
    except (KeyError, TypeError):
        return None


def write_json(path: Path, data: Mapping[str, object]) -> None:
    """Write ``path`` atomically (a temporary file beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when there is none or it cannot be read."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def clear_state(data_dir: Path) -> None:
    """Forget the running broker (the ports stay in ``server.properties``)."""
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def reap(pid: int) -> bool:
    """Collect ``pid`` if it is an exited child of ours; True when it has exited."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: someone else reaps it
        return False
    return done == pid


def is_broker_process(pid: int, data_dir: Path) -> bool:
    """True when ``pid`` is alive and is the Kafka broker of ``data_dir``.

    Checking the command line keeps a recycled pid from being mistaken for the
    broker (and from being sent SIGTERM).
    """
    props = str(data_dir.resolve() / PROPERTIES_FILE).encode()
    return process_has_args(pid, b"kafka.Kafka", props)


def process_has_args(pid: int, *args: bytes) -> bool:
    """True when ``pid`` is alive and each of ``args`` is one of its command-line arguments."""
    if pid <= 0 or reap(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():  # no procfs: trust the signal check
        return True
    try:
        found = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return all(arg in found for arg in args)


def running_state(data_dir: Path) -> BrokerState | None:
    """The state of the broker running for ``data_dir``, or None."""
    state = read_state(data_dir)
    if state is None or not is_broker_process(state.pid, data_dir):
        return None
    return state


def local_bootstrap(data_dir: Path | None = None) -> str | None:
    """Bootstrap address of the embedded broker started by ``agentflux up``, if it runs.

    The runtime uses this when no bootstrap servers are configured.
    """
    state = running_state(default_data_dir() if data_dir is None else data_dir)
    return state.bootstrap if state else None
