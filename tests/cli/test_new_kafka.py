"""A project from ``agentflux new`` runs on a real broker exactly as its README says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

CLI = [sys.executable, "-m", "agentflux.cli.main"]


def cli(project: Path, env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_greeting_goes_through_the_handler_and_the_skill(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    name = f"hello-{unique}"  # its own topics, skill and groups
    env = {**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap}
    made = cli(tmp_path, env, "new", name, "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    project = tmp_path / name

    log = tmp_path / "run.log"
    with log.open("wb") as stderr:
        # The address by option alone (`run -b`): without it, the run would look for `agentflux up`'s broker.
        no_env = {k: v for k, v in env.items() if k != "AGENTFLUX_BOOTSTRAP_SERVERS"}
        agent = subprocess.Popen(
            [*CLI, "run", "app:app", "-b", kafka_bootstrap, "--log-level", "info"],
            cwd=project,
            env=no_env,
            stderr=stderr,
        )
    try:
        sent = cli(project, env, "publish", f"{name}.greeting-requested.v1", '{"name": "Ada"}')
        assert sent.returncode == 0 and sent.stdout.startswith(f"published {name}.greeting-requested.v1/"), sent

        # The handler creates the output topic with its first greeting; tail waits for it.
        try:
            tail = cli(project, env, "tail", f"{name}.greeting-sent.v1", "--from-beginning", "--limit", "1")
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"no greeting within 60 s; the agent's log:\n{log.read_text(errors='replace')}"
            ) from None
        assert agent.poll() is None, log.read_text(errors="replace")
        assert tail.returncode == 0, tail.stderr + log.read_text(errors="replace")
        line = tail.stdout.strip()
        assert f" key=Ada {name}.greeting-sent from " in line and line.endswith('{"text":"HELLO, ADA!"}'), line
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)  # a graceful leave keeps the shared broker's groups tidy
            try:
                agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(timeout=15)
