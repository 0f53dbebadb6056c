"""Time from a worker's SIGKILL, through its restart, to its backlog resuming (target <= 5 s).

The worker runs with static group membership (``--instance-id``), so its
restarted process takes its partitions back without waiting for the session
timeout. The figure includes starting a new Python process. Also shown: the
same without static membership, where the group waits for the dead member's
session to time out (``session.timeout.ms``, 10 s by default here).

    .venv/bin/python bench/bench_restart.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import broker, console, create_topic, fill, verdict

ROOT = Path(__file__).resolve().parent.parent


def lines(log: Path) -> list[tuple[int, float]]:
    if not log.exists():
        return []
    return [(int(p), float(t)) for p, t in (line.split() for line in log.read_text().splitlines() if line)]


def once(bootstrap: str, static: bool) -> float:
    topic = f"bench.restart-{uuid.uuid4().hex[:6]}.v1"
    create_topic(bootstrap, topic, 3)
    fill(bootstrap, topic, 3000, b'{"n": 1}', keys=50)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "handled.log"
        env = {
            **os.environ,
            "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap,
            "B_APP": f"restart-{uuid.uuid4().hex[:6]}",
            "B_TOPIC": topic,
            "B_LOG": str(log),
        }
        argv = [sys.executable, "-m", "agentflux.cli.main", "run", "bench/restart_app.py:app", "--log-level", "warning"]
        if static:
            argv += ["--instance-id", "bench-worker"]
        first = subprocess.Popen(argv, cwd=ROOT, env=env)
        try:
            while len(lines(log)) < 200:
                time.sleep(0.02)
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed_at = time.time()
            second = subprocess.Popen(argv, cwd=ROOT, env=env)
            try:
                while not any(pid == second.pid for pid, _ in lines(log)):
                    time.sleep(0.02)
                resumed_at = min(t for pid, t in lines(log) if pid == second.pid)
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    return resumed_at - killed_at


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with broker() as bootstrap:
        for static in (True, False):
            runs = []
            for n in range(args.runs if static else 1):
                with console.status(f"kill and restart, run {n + 1} ({'static' if static else 'dynamic'} membership)"):
                    runs.append(once(bootstrap, static))
            median = statistics.median(runs)
            label = "static membership (--instance-id)" if static else "dynamic membership"
            target = f" (target <= 5 s: {verdict(median <= 5.0)})" if static else ""
            print(
                f"SIGKILL -> restart -> backlog resumes, {label}: "
                f"{', '.join(f'{r:.2f}' for r in runs)} s; median {median:.2f} s{target}"
            )


if __name__ == "__main__":
    main()
