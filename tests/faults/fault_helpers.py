"""Helpers shared by the tests that restart brokers, kill processes and send hostile records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka_helpers import ROOT


@contextmanager
def cli_processes(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``agentflux`` CLI processes with their stderr in a file each; all are killed when the block ends."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "wb")  # closed below: the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentflux.cli.main", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)


def log_of(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text(errors="replace")
