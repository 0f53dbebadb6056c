"""Time ``agentflux up`` with a warm jar cache (target: at most 10 s).

Each run uses a fresh data directory and a free port, so it includes the
one-time storage format; the JVM start and the wait until the broker answers
a metadata request are measured by the real CLI in a subprocess. Each run is
followed by ``agentflux down`` (timed too).

    .venv/bin/python bench/bench_up.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentflux.local.config import free_port
from agentflux.local.jars import ensure_kafka_jars

TARGET_S = 10.0


def _cli() -> list[str]:
    beside = Path(sys.executable).with_name("agentflux")
    found = str(beside) if beside.exists() else shutil.which("agentflux")
    if found is None:
        raise SystemExit("agentflux is not installed in this environment (pip install -e .)")
    return [found]


def _timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return elapsed, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_kafka_jars()  # warm cache: the fetch is not what this measures
    cli = _cli()
    ups: list[float] = []
    downs: list[float] = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="agentflux-bench-") as tmp:
            data = ["--data-dir", tmp]
            up_s, bootstrap = _timed([*cli, "up", "--port", str(free_port()), *data])
            try:
                down_s, _ = _timed([*cli, "down", *data])
            finally:
                subprocess.run([*cli, "down", *data], capture_output=True, check=False)
        ups.append(up_s)
        downs.append(down_s)
        print(f"run {run}: up {up_s:5.2f} s ({bootstrap})   down {down_s:5.2f} s")
    median = statistics.median(ups)
    verdict = "within" if median <= TARGET_S else "OVER"
    print(f"agentflux up (warm cache, fresh data dir): median {median:.2f} s over {len(ups)} runs, "
          f"{verdict} the {TARGET_S:g} s target; down median {statistics.median(downs):.2f} s")  # fmt: skip
    if median > TARGET_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
