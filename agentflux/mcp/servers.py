"""Declarations of the MCP servers an app's agents may call.

A server is declared in code with :class:`McpServerSpec`, or in a TOML file::

    [mcp.servers.inventory]
    command = ["python", "-m", "examples.mcp_servers.inventory_db", "--db", "inv.sqlite"]
    env = { INVENTORY_LOG = "debug" }   # optional, merged over a minimal safe environment
    cwd = "."                           # optional, relative to the TOML file
    timeout = 5.0                       # optional, seconds per call (default 10)
    connect_timeout = 30.0              # optional, seconds to open a session (default 30)
    max_sessions = 4                    # optional, sessions (stdio: subprocesses) per process at most (default 4)

    [mcp.servers.scraper]
    url = "http://127.0.0.1:8931/mcp"   # streamable HTTP

``specs_from_env()`` reads the file named by ``AGENTFLUX_MCP_CONFIG``. This
module does not import the ``mcp`` SDK, so declaring servers needs no extra.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentflux.contract.errors import ConfigError

CONFIG_ENV_VAR = "AGENTFLUX_MCP_CONFIG"
DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_MAX_SESSIONS = 4
_KEYS = frozenset({"command", "url", "env", "cwd", "timeout", "connect_timeout", "max_sessions"})


@dataclass(frozen=True)
class McpServerSpec:
    """One MCP server: a stdio ``command`` to launch, or a streamable-HTTP ``url``.

    Exactly one of ``command`` and ``url`` is set. ``env`` and ``cwd`` apply to
    ``command`` only; the subprocess gets a minimal inherited environment
    (``PATH``, ``HOME``, ...) plus ``env``. ``timeout`` bounds every tool
    call; ``connect_timeout`` bounds opening a session (starting the
    subprocess, the MCP handshake), which a cold server may need first.
    ``max_sessions`` is how many sessions a ``ToolPool`` may hold to the
    server at once (for stdio, each is a subprocess of its own): calls that
    keep overlapping get sessions of their own, up to that many, so a server
    that handles one request at a time, or is one busy process, does not
    make them wait for each other (see ``ToolPool``).
    """

    name: str
    command: Sequence[str] | None = None
    url: str | None = None
    env: Mapping[str, str] | None = field(default=None, hash=False)
    cwd: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_sessions: int = DEFAULT_MAX_SESSIONS

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"an MCP server needs a non-empty name, got {self.name!r}")
        if (self.command is None) == (self.url is None):
            raise ConfigError(f"MCP server {self.name!r}: set exactly one of command (stdio) or url (HTTP)")
        if self.command is not None:
            if isinstance(self.command, str) or not self.command:
                raise ConfigError(f"MCP server {self.name!r}: command must be a non-empty list of strings")
            if not all(isinstance(part, str) and part for part in self.command):
                raise ConfigError(f"MCP server {self.name!r}: command parts must be non-empty strings")
            object.__setattr__(self, "command", tuple(self.command))
        if self.url is not None:
            parts = urlsplit(self.url if isinstance(self.url, str) else "")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"MCP server {self.name!r}: url must be http(s)://host/..., not {self.url!r}")
        if self.url is not None and (self.env is not None or self.cwd is not None):
            raise ConfigError(f"MCP server {self.name!r}: env and cwd apply only to a stdio command")
        if self.env is not None:
            if not isinstance(self.env, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()
            ):
                raise ConfigError(f"MCP server {self.name!r}: env must map strings to strings")
            object.__setattr__(self, "env", dict(self.env))
        for key in ("timeout", "connect_timeout"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"MCP server {self.name!r}: {key} must be a positive number of seconds")
            object.__setattr__(self, key, float(value))
        if isinstance(self.max_sessions, bool) or not isinstance(self.max_sessions, int) or self.max_sessions < 1:
            raise ConfigError(f"MCP server {self.name!r}: max_sessions must be a whole number of at least 1")

    @property
    def transport(self) -> str:
        """``"stdio"`` or ``"http"``."""
        return "stdio" if self.command is not None else "http"


def load_server_specs(path: str | os.PathLike[str]) -> list[McpServerSpec]:
    """Read the ``[mcp.servers.NAME]`` tables of a TOML file.

    A relative ``cwd`` is resolved against the file's directory. A missing or
    unreadable file, bad TOML, an unknown key or an invalid server raises
    :class:`ConfigError`. A file without an ``[mcp.servers]`` table declares none.
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read MCP config {file}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"MCP config {file} is not valid TOML: {exc}") from exc
    section = data.get("mcp", {})
    servers = section.get("servers", {}) if isinstance(section, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f"MCP config {file}: [mcp.servers] must be a table of tables")
    return [_spec_from_table(name, table, file) for name, table in servers.items()]


def specs_from_env(environ: Mapping[str, str] | None = None) -> list[McpServerSpec]:
    """Specs from the TOML file named by ``AGENTFLUX_MCP_CONFIG``; none if it is unset or empty."""
    env = os.environ if environ is None else environ
    path = env.get(CONFIG_ENV_VAR, "").strip()
    return load_server_specs(path) if path else []


def _spec_from_table(name: str, table: Any, file: Path) -> McpServerSpec:
    where = f"MCP config {file}, server {name!r}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(_KEYS)}")
    cwd = table.get("cwd")
    if cwd is not None:
        if not isinstance(cwd, str):
            raise ConfigError(f"{where}: cwd must be a string")
        cwd = str((file.parent / cwd).resolve())
    command = table.get("command")
    if command is not None and not isinstance(command, list):
        raise ConfigError(f"{where}: command must be a list of strings")
    try:
        return McpServerSpec(
            name=name,
            command=command,
            url=table.get("url"),
            env=table.get("env"),
            cwd=cwd,
            timeout=table.get("timeout", DEFAULT_TIMEOUT),
            connect_timeout=table.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            max_sessions=table.get("max_sessions", DEFAULT_MAX_SESSIONS),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    except (TypeError, AttributeError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
