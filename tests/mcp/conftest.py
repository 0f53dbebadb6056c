"""Fixtures for the MCP tests: MCP and HTTP servers as real subprocesses on free ports.

Every server a fixture starts is stopped at teardown, after a failure too.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class HttpServer:
    """An MCP server subprocess on streamable HTTP."""

    argv: list[str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> HttpServer:
        """Start the server, or restart it on the same port once it has died."""
        self.stop()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([*self.argv, "--http", str(self.port)], cwd=REPO, stdout=log, stderr=log)
        wait_for_port(self.port, self.proc, self.log)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Callable[..., HttpServer]]:
    """Start MCP servers on streamable HTTP: ``http_server(*python_args)``."""
    started: list[HttpServer] = []

    def start(*argv: str) -> HttpServer:
        server = HttpServer([PYTHON, *argv], free_port(), tmp_path / f"server-{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def fixture_site() -> Iterator[str]:
    """The competitor site as a subprocess on a port it picks itself; yields its base URL."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "examples.mcp_servers.fixture_site", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().decode().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        yield base_url
    finally:
        stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()
