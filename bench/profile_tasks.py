"""Where a delegated task's CPU goes: py-spy samples of one worker process and of the requester.

Starts a broker (or uses ``AGENTFLUX_BENCH_BOOTSTRAP``), runs one ``agentflux run``
worker of ``delegate_app.py``, delegates ``--tasks`` tasks with ``--window`` in
flight from an ``AgentClient`` in this process, and samples both processes with
py-spy (100 samples/s, idle time excluded, native frames off) while it does.
It writes two tables to ``--out``: the functions that were on CPU themselves
(self) and the runtime's functions including what they call (total), each in
microseconds per task, from the share of samples and the CPU each process used.

    cd bench && ../.venv/bin/python profile_tasks.py --tasks 20000 --out profiles/tasks.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from bench_delegate import TICK, cpu_seconds, warm_up
from common import broker, console

from agentflux import AgentClient

HERE = Path(__file__).resolve().parent
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def main_thread_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def sample(pid: int, out: Path, rate: int = 100) -> subprocess.Popen[bytes]:
    argv = [PY_SPY, "record", "--pid", str(pid), "--format", "raw", "--threads", "--rate", str(rate),
            "--output", str(out)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def frames(line: str) -> tuple[str, list[str], int]:
    stack, _, count = line.rpartition(" ")
    thread, *calls = stack.split(";")
    names = []
    for frame in calls:
        name, _, where = frame.partition(" (")
        where = where.rstrip(")")
        path = where.rsplit(":", 1)[0]
        short = path.split("/site-packages/")[-1].split("/lib/python3.11/")[-1].replace("/work/main/", "")
        names.append(f"{name} ({short})")
    return thread.partition(": ")[2], names, int(count)


def tables(samples_file: Path, cpu_us_per_task: float, top: int) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    all_samples = 0
    for line in samples_file.read_text().splitlines():
        if not line.strip():
            continue
        thread, names, count = frames(line)
        if thread != "MainThread" or not names:
            continue
        all_samples += count
        own[names[-1]] += count
        for name in set(names):
            if "agentflux/" in name:
                total[name] += count

    def rows(counter: Counter[str]) -> str:
        lines = ["| µs per task | share | function |", "|---:|---:|---|"]
        for name, count in counter.most_common(top):
            share = count / all_samples
            lines.append(f"| {share * cpu_us_per_task:.0f} | {share:.0%} | `{name}` |")
        return "\n".join(lines)

    return (
        f"{all_samples:,} samples of the main thread while it ran.\n\n"
        f"Self (on CPU in the function itself):\n\n{rows(own)}\n\n"
        f"Total (the runtime's functions with everything they call):\n\n{rows(total)}\n"
    )


async def drive(bootstrap: str, skill: str, tasks: int, window: int, on_start: callable) -> float:  # type: ignore[valid-type]
    async with AgentClient(bootstrap, name="profile") as client:
        await warm_up(client, skill, 500)
        slots = asyncio.Semaphore(window)

        async def one(n: int) -> None:
            async with slots:
                await client.delegate(skill, {"n": n}, timeout=120)

        on_start()
        begin = time.perf_counter()
        with console.status(f"{tasks:,} tasks, {window} in flight, 1 sampled worker"):
            await asyncio.gather(*(one(n) for n in range(tasks)))
        return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--out", default="profiles/tasks.md")
    args = parser.parse_args()
    with broker() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        tag = uuid.uuid4().hex[:8]
        skill = f"bench-profile-{tag}"
        env = {**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap, "B_APP": f"profile-{tag}", "B_SKILL": skill}
        argv = [sys.executable, "-m", "agentflux.cli.main", "run", str(HERE / "delegate_app.py") + ":app",
                "--log-level", "warning"]  # fmt: skip
        worker = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
        samplers: list[subprocess.Popen[bytes]] = []
        cpu: dict[str, float] = {}
        main: dict[str, float] = {}
        files = {"worker": Path(tmp) / "worker.txt", "requester": Path(tmp) / "requester.txt"}

        def start() -> None:
            cpu["worker"], cpu["requester"] = cpu_seconds(worker.pid), time.process_time()
            main["worker"], main["requester"] = main_thread_cpu(worker.pid), main_thread_cpu(os.getpid())
            samplers.extend([sample(worker.pid, files["worker"]), sample(os.getpid(), files["requester"])])

        try:
            elapsed = asyncio.run(drive(bootstrap, skill, args.tasks, args.window, start))
            cpu["worker"] = cpu_seconds(worker.pid) - cpu["worker"]
            cpu["requester"] = time.process_time() - cpu["requester"]
            main["worker"] = main_thread_cpu(worker.pid) - main["worker"]
            main["requester"] = main_thread_cpu(os.getpid()) - main["requester"]
        finally:
            for sampler in samplers:
                sampler.send_signal(signal.SIGINT)
                sampler.wait(timeout=30)
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        per_task = {name: seconds / args.tasks * 1e6 for name, seconds in cpu.items()}
        main_per_task = {name: seconds / args.tasks * 1e6 for name, seconds in main.items()}
        text = (
            f"# Task path profile\n\n`{' '.join(sys.argv)}`: {args.tasks:,} tasks in {elapsed:.1f} s "
            f"({args.tasks / elapsed:,.0f} tasks/s while sampled), {args.window} in flight, one worker process. "
            f"CPU per task, all threads (main thread): worker {per_task['worker']:.0f} µs "
            f"({main_per_task['worker']:.0f} µs), requester {per_task['requester']:.0f} µs "
            f"({main_per_task['requester']:.0f} µs). The tables are of the main thread (the event loop). "
            f"Load average at the end: {os.getloadavg()[0]:.1f}.\n"
        )
        for name in ("worker", "requester"):
            text += f"\n## {name} process\n\n" + tables(files[name], main_per_task[name], args.top)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
