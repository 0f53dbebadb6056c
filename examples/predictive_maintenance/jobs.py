"""The window job beside the demo: an ``agentflux streams run`` process, and when it counts as ready.

On Flink the demo runs the job with a 5 s idle timeout (``IDLE_TIMEOUT``).
With few machines, some of the sensor topic's six partitions receive no
readings, and with Flink's default (no idle timeout) they would hold every
window back for good. A timeout has a cost when a job starts behind: it
reads a backlog partition by partition, partitions not read for 5 s drop out
of the watermark, the watermark races ahead on the others, and their records
arrive late. With event time accelerated 60 times, the 30 s of grace are half
a second of wall time, so this would drop whole windows. So the demo starts
the simulator only once the job reads its source: a job that is already
reading sees every partition's records as they come, and nothing is late.
The embedded engine keeps a watermark per partition and has no such issue;
it is ready once its consumer group is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Protocol

from rich.console import Console

from examples.demo_support import ROOT, wait_for_groups
from examples.predictive_maintenance.config import MaintenanceConfig

JOB_REF = "examples.predictive_maintenance:job"
SOURCE_SETTLE = 3.0  # s from "Flink job running" until its Kafka source has fetched once, on a busy 2-core box
IDLE_TIMEOUT = "5s"  # Flink: how long a partition without readings holds the watermark back


class JobHandle(Protocol):
    """A running window job. ``ready`` returns once the job reads its source; ``stop`` ends the job."""

    async def ready(self, timeout: float) -> None: ...

    def stop(self) -> None: ...


class JobProcess:
    """The window job as ``agentflux streams run`` in a child process; ``stop`` sends SIGTERM."""

    def __init__(
        self, bootstrap: str, config: MaintenanceConfig, engine: str, state_dir: Path, console: Console,
        registry: str | None = None,
    ) -> None:  # fmt: skip
        self.bootstrap, self.engine, self.console = bootstrap, engine, console
        self.group = f"agentflux.streams.{config.job_name}"
        command = [sys.executable, "-m", "agentflux.cli.main", "streams", "run", JOB_REF, "--engine", engine]
        env = {**os.environ, **config.env(), "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap}
        if registry:  # the job reads the Avro readings through it
            env["AGENTFLUX_SCHEMA_REGISTRY_URL"] = registry
        # The observer prints the dead letters; the job's own warning for each would repeat them at length.
        args = ["--state-dir", str(state_dir), "--log-level", "error"]
        if engine == "flink":
            args += ["--idle-timeout", IDLE_TIMEOUT]
        self.proc = subprocess.Popen([*command, *args], cwd=ROOT, env=env, stderr=subprocess.PIPE)
        self._running = threading.Event()
        self._pump = threading.Thread(target=self._forward_stderr, daemon=True)
        self._pump.start()

    def _forward_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            sys.stderr.write(line)
            if " running; " in line:  # `streams run --engine flink` says "...: Flink job <id> running; ..."
                self._running.set()
        self._running.set()  # the process ended: `ready` says so

    async def ready(self, timeout: float) -> None:
        if self.engine == "embedded":
            await wait_for_groups(self.bootstrap, [self.group], self.console, timeout)
            return
        with self.console.status("waiting for the Flink job to run"):
            if not await asyncio.to_thread(self._running.wait, timeout):
                raise TimeoutError(f"the Flink job did not start within {timeout}s")
            if self.proc.poll() is not None:
                raise RuntimeError(f"the window job exited with {self.proc.returncode} before it ran")
            await asyncio.sleep(SOURCE_SETTLE)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._pump.join(5)  # it reads to the end of the pipe, which the exit closed
        if self.proc.stderr is not None:
            self.proc.stderr.close()
