"""Declaring MCP servers in code and in TOML configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentflux.contract.errors import ConfigError
from agentflux.mcp import CONFIG_ENV_VAR, McpServerSpec, load_server_specs, specs_from_env

CONFIG = """
[mcp.servers.inventory-db]
command = ["python", "-m", "examples.mcp_servers.inventory_db"]
env = { INVENTORY_DB = "inv.sqlite" }
cwd = "work"
timeout = 3
connect_timeout = 20
max_sessions = 2

[mcp.servers.scraper]
url = "http://127.0.0.1:8931/mcp"
"""


def test_spec_in_code() -> None:
    stdio = McpServerSpec("inv", command=["python", "-m", "x"], env={"A": "1"})
    assert stdio.command == ("python", "-m", "x")
    assert (stdio.transport, stdio.timeout, stdio.connect_timeout, stdio.max_sessions) == ("stdio", 10.0, 30.0, 4)
    http = McpServerSpec("web", url="https://tools.example/mcp", timeout=2)
    assert (http.transport, http.timeout) == ("http", 2.0)
    assert McpServerSpec("inv", command=["python"]) == McpServerSpec("inv", command=("python",))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of command"),
        ({"command": ["x"], "url": "http://h/mcp"}, "exactly one of command"),
        ({"command": []}, "non-empty list"),
        ({"command": "python -m x"}, "non-empty list"),
        ({"command": ["python", ""]}, "non-empty strings"),
        ({"url": "ftp://h/mcp"}, "http"),
        ({"url": "http://h/mcp", "cwd": "/tmp"}, "only to a stdio command"),
        ({"command": ["x"], "env": {"A": 1}}, "strings to strings"),
        ({"command": ["x"], "timeout": 0}, "positive"),
        ({"command": ["x"], "timeout": True}, "positive"),
        ({"command": ["x"], "connect_timeout": -1}, "connect_timeout must be a positive"),
        ({"command": ["x"], "max_sessions": 0}, "max_sessions must be a whole number"),
        ({"command": ["x"], "max_sessions": 2.5}, "max_sessions must be a whole number"),
        ({"command": ["x"], "max_sessions": True}, "max_sessions must be a whole number"),
    ],
)
def test_invalid_specs(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        McpServerSpec("srv", **kwargs)
    with pytest.raises(ConfigError, match="non-empty name"):
        McpServerSpec("", command=["x"])


def test_load_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "agentflux.toml"
    path.write_text(CONFIG)
    inventory, scraper = load_server_specs(path)
    assert inventory == McpServerSpec(
        "inventory-db",
        command=["python", "-m", "examples.mcp_servers.inventory_db"],
        env={"INVENTORY_DB": "inv.sqlite"},
        cwd=str(tmp_path / "work"),
        timeout=3.0,
        connect_timeout=20.0,
        max_sessions=2,
    )
    assert scraper == McpServerSpec("scraper", url="http://127.0.0.1:8931/mcp")
    assert scraper.max_sessions == 4
    assert specs_from_env({CONFIG_ENV_VAR: str(path)}) == [inventory, scraper]
    assert specs_from_env({}) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mcp.servers.a]\ncommand = 'x'\n", "list of strings"),
        ("[mcp.servers.a]\ncommand = ['x']\nretries = 3\n", "unknown keys \\['retries'\\]"),
        ("[mcp.servers.a]\nurl = 'http://h/mcp'\ntimeout = -1\n", "server 'a'.*positive"),
        ("[mcp.servers]\na = 1\n", "expected a table"),
        ("[mcp\n", "not valid TOML"),
    ],
)
def test_bad_toml(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_server_specs(path)


def test_missing_file_and_empty_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read MCP config"):
        load_server_specs(tmp_path / "absent.toml")
    (tmp_path / "empty.toml").write_text("[other]\nx = 1\n")
    assert load_server_specs(tmp_path / "empty.toml") == []
