"""Chaos: 10,000 records and 10,000 delegated tasks through three workers that are SIGKILLed at random,
over a broker that is restarted twice. Targets: 0 lost, 0 applied twice, 0 re-run beyond one commit interval,
resume <= 5 s after the broker answers again.

    .venv/bin/python bench/bench_chaos.py [--records 10000] [--tasks 10000] [--kills 4] [--outage 10] [--seed 7]

Three ``agentflux run bench/chaos_app.py:app`` processes each run an event handler and a skill, with static
membership (``--instance-id``: a killed worker is restarted a second later under its id and takes its
partitions back at once). Their effects are idempotent (a ledger keyed by message or task id)
and every execution is noted, so the figures are:

* **lost**: records produced or tasks delegated whose effect never happened (and delegations that failed);
* **applied twice**: effects the ledger holds twice (0 by construction), and runs its key absorbed;
* **re-runs**: a record or task that ran again; each is classed by the run before it: *in flight* (its
  handler had not finished when its process died), *within one commit interval* (200 ms) of its process's
  SIGKILL, *around a broker restart* (it finished while commits could not go through: from one commit
  interval before the broker stopped until 10 s after it answered again, while members rejoin), or
  *beyond*, which the target says never happens;
* **resume**: after each broker restart, the time from the broker answering to the first record
  (and the first task) sent after it taking effect.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from common import console, kafka_client, verdict
from confluent_kafka import Producer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentflux import AgentClient, TaskTimeout
from agentflux.local import LocalBroker

ROOT = Path(__file__).resolve().parent.parent
COMMIT_INTERVAL = 0.2
REJOIN_WINDOW = 10.0  # after the broker answers: members that lost their partitions in the outage join again
WORKERS = 3


@dataclass
class Chaos:
    """What the driver did and when (epoch seconds): kills per pid, broker restarts, resume markers."""

    kills: dict[int, float] = field(default_factory=dict)
    outages: list[tuple[float, float]] = field(default_factory=list)  # (stopped, answering again)
    markers: list[tuple[float, str, str]] = field(default_factory=list)  # (answering again, kind, key)
    failed_tasks: list[str] = field(default_factory=list)
    marker_tasks: list[asyncio.Task[object]] = field(default_factory=list)


class Workers:
    def __init__(self, env: dict[str, str], log: int, *, static: bool) -> None:
        self.env = env
        self.static = static
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []
        self.slots: dict[int, int] = {}

    def start(self, slot: int) -> subprocess.Popen[bytes]:
        """Start the worker of ``slot`` (with static membership, a restarted slot takes its partitions back at once)."""
        argv = [sys.executable, "-m", "agentflux.cli.main", "run", "bench/chaos_app.py:app", "--log-level", "info"]
        if self.static:
            argv += ["--instance-id", f"chaos-worker-{slot}"]
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stderr=self.log)
        self.procs.append(proc)
        self.slots[proc.pid] = slot
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for proc in self.alive():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def ledger(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS applied (kind TEXT, key TEXT, at REAL, PRIMARY KEY (kind, key))")
    db.execute("CREATE TABLE IF NOT EXISTS runs (kind TEXT, key TEXT, pid INTEGER, started REAL, ended REAL)")
    return db


def count(db: sqlite3.Connection, kind: str, prefix: str) -> int:
    found = db.execute("SELECT COUNT(*) FROM applied WHERE kind = ? AND key LIKE ?", (kind, prefix + "%"))
    return int(found.fetchone()[0])


def produce_records(bootstrap: str, topic: str, total: int, rate: float, stop: threading.Event) -> None:
    producer = kafka_client(Producer, bootstrap, {"linger.ms": 5, "enable.idempotence": True,
                                                  "error_cb": lambda _e: None, "log_level": 0})  # fmt: skip
    started = time.monotonic()
    for n in range(total):
        if stop.is_set():
            break
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        while True:
            try:
                producer.produce(topic, f'{{"n": {n}}}'.encode(), f"order-{n % 500}".encode(),
                                 headers=[("ce_id", f"order-{n}".encode())])  # fmt: skip
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(300)


async def delegate_tasks(client: AgentClient, skill: str, total: int, rate: float, chaos: Chaos) -> None:
    slots = asyncio.Semaphore(64)

    async def one(n: int) -> None:
        async with slots:
            for _ in range(10):  # a retry after a timeout re-attaches to the same task id
                try:
                    await client.delegate(skill, {"n": n}, timeout=60, task_id=f"chaos-{n}")
                    return
                except TaskTimeout:
                    continue
                except Exception as exc:
                    chaos.failed_tasks.append(f"chaos-{n}: {type(exc).__name__}: {exc}")
                    return
            chaos.failed_tasks.append(f"chaos-{n}: timed out 10 times")

    started, running = time.monotonic(), []
    for n in range(total):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        running.append(asyncio.create_task(one(n)))
    await asyncio.gather(*running)


async def inflict(args: argparse.Namespace, broker: LocalBroker, workers: Workers, chaos: Chaos, marker: Producer,
                  client: AgentClient, topic: str, skill: str, duration: float) -> None:  # fmt: skip
    rng = random.Random(args.seed)
    restart_at = [duration * 0.25, duration * 0.75]
    kill_at = sorted(kill_times(rng, args.kills, duration, restart_at, args.outage))
    events = sorted([(t, "kill") for t in kill_at] + [(t, "broker") for t in restart_at])
    started = time.monotonic()
    for at, what in events:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        if what == "kill":
            victim = rng.choice(workers.alive())
            victim.send_signal(signal.SIGKILL)
            chaos.kills[victim.pid] = time.time()
            await asyncio.to_thread(victim.wait)
            await asyncio.sleep(1.0)
            workers.start(workers.slots[victim.pid])
            continue
        stopped = time.time()
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(args.outage)
        await asyncio.to_thread(broker.start)
        back = time.time()
        chaos.outages.append((stopped, back))
        key = f"marker-{len(chaos.outages)}"
        marker.produce(topic, b'{"n": -1}', key.encode(), headers=[("ce_id", key.encode())])
        marker.flush(60)
        chaos.markers.append((back, "record", key))
        task = f"marker-task-{len(chaos.outages)}"
        chaos.marker_tasks.append(asyncio.create_task(client.delegate(skill, {"n": -1}, timeout=120, task_id=task)))
        chaos.markers.append((back, "task", task))


def kill_times(rng: random.Random, count: int, duration: float, restarts: list[float], outage: float) -> list[float]:
    """Random kill times that keep clear of the broker restarts.

    A worker killed shortly before a broker restart keeps its partitions until its session expires,
    and that timer starts again when the restarted broker loads the group: what the restart's resume
    would then measure is the session timeout (``bench_restart.py`` measures that). So no kill falls
    in the 15 s before a restart, nor until 8 s after the broker is back.
    """
    windows, start = [], 5.0
    for at in restarts:
        windows.append((start, at - 15))
        start = at + outage + 8
    windows.append((start, duration - 5))
    windows = [(a, b) for a, b in windows if b > a]
    total = sum(b - a for a, b in windows)
    times = []
    for _ in range(count):
        point = rng.uniform(0, total)
        for a, b in windows:
            if point <= b - a:
                times.append(a + point)
                break
            point -= b - a
    return times


def classify(db: sqlite3.Connection, chaos: Chaos) -> dict[str, dict[str, int]]:
    """Per kind, the re-runs classed by what the run before them met (see the module docstring)."""
    out: dict[str, dict[str, int]] = {}
    rows = db.execute("SELECT kind, key, pid, started, ended FROM runs ORDER BY kind, key, started").fetchall()
    previous: dict[tuple[str, str], tuple[int, float | None]] = {}
    for kind, key, pid, _started, ended in rows:
        bucket = out.setdefault(kind, dict.fromkeys(RERUN_CLASSES, 0))
        before = previous.get((kind, key))
        previous[(kind, key)] = (pid, ended)
        if before is not None:
            bucket[rerun_class(chaos, *before)] += 1
    return out


RERUN_CLASSES = ("in flight", "within one commit interval of a kill", "around a broker restart", "beyond")


def rerun_class(chaos: Chaos, pid: int, ended: float | None) -> str:
    """Why a run may have been done again: its process died first, or could not commit before the broker went."""
    killed = chaos.kills.get(pid)
    if killed is not None and (ended is None or ended > killed):
        return "in flight"
    if killed is not None and killed - ended <= COMMIT_INTERVAL:  # type: ignore[operator]
        return "within one commit interval of a kill"
    # a commit could not go through: the broker was going down, was down, or members were still rejoining
    for stopped, back in chaos.outages:
        if ended is not None and stopped - COMMIT_INTERVAL <= ended <= back + REJOIN_WINDOW:
            return "around a broker restart"
    return "beyond"


def resume_times(db: sqlite3.Connection, chaos: Chaos) -> list[tuple[str, float]]:
    found = []
    for back, kind, key in chaos.markers:
        row = db.execute("SELECT at FROM applied WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        found.append((kind, (row[0] - back) if row else float("inf")))
    return found


async def main(args: argparse.Namespace) -> None:
    unique = uuid.uuid4().hex[:6]
    topic, skill = f"chaos.order-placed-{unique}.v1", f"chaos-apply-{unique}"
    duration = max(args.records, args.tasks) / args.rate
    with tempfile.TemporaryDirectory() as tmp:
        db = ledger(Path(tmp) / "ledger.db")
        broker = LocalBroker(Path(tmp) / "kafka")
        with console.status("starting a Kafka broker for the benchmark") as spinner:
            bootstrap = broker.start(progress=lambda msg: spinner.update(msg))
        env = {**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap, "B_APP": f"chaos-{unique}",
               "B_TOPIC": topic, "B_SKILL": skill, "B_DB": str(Path(tmp) / "ledger.db")}  # fmt: skip
        log_fd = os.open(Path(tmp) / "workers.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        workers, chaos = Workers(env, log_fd, static=args.membership == "static"), Chaos()
        try:
            for slot in range(WORKERS):
                workers.start(slot)
            marker = kafka_client(Producer, bootstrap, {"error_cb": lambda _e: None, "log_level": 0})
            async with AgentClient(bootstrap, name="chaos") as client:
                with console.status("waiting for the workers to provision their topics"):
                    while True:
                        try:
                            await client.prepare(skill)
                            break
                        except Exception:
                            await asyncio.sleep(0.5)
                stop = threading.Event()
                producing = asyncio.create_task(
                    asyncio.to_thread(produce_records, bootstrap, topic, args.records, args.rate, stop)
                )
                delegating = asyncio.create_task(delegate_tasks(client, skill, args.tasks, args.rate, chaos))
                chaos_task = asyncio.create_task(
                    inflict(args, broker, workers, chaos, marker, client, topic, skill, duration)
                )
                columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
                with Progress(*columns, console=console, transient=True) as progress:
                    bar = progress.add_task("records + tasks applied", total=args.records + args.tasks)
                    deadline = time.monotonic() + duration + args.patience
                    while time.monotonic() < deadline:
                        done = count(db, "record", "order-") + count(db, "task", "chaos-")
                        progress.update(bar, completed=done)
                        if done >= args.records + args.tasks and chaos_task.done():
                            break
                        await asyncio.sleep(0.5)
                stop.set()
                await chaos_task
                await asyncio.wait_for(delegating, timeout=120)
                await asyncio.gather(*chaos.marker_tasks, return_exceptions=True)
                await producing
                await asyncio.sleep(2)
        finally:
            with console.status("stopping the workers and the broker"):
                workers.stop()
                broker.stop()
        report(args, db, chaos)
        if args.keep:
            keep_files(Path(tmp), Path(args.keep))


def keep_files(tmp: Path, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    for name in ("ledger.db", "workers.log"):
        (keep / name).write_bytes((tmp / name).read_bytes())


def report(args: argparse.Namespace, db: sqlite3.Connection, chaos: Chaos) -> None:
    records = {k for (k,) in db.execute("SELECT key FROM applied WHERE kind = 'record' AND key LIKE 'order-%'")}
    tasks = {k for (k,) in db.execute("SELECT key FROM applied WHERE kind = 'task' AND key LIKE 'chaos-%'")}
    lost_records = args.records - len(records)
    lost_tasks = args.tasks - len(tasks) + len(chaos.failed_tasks)
    twice = db.execute("SELECT COUNT(*) FROM (SELECT kind, key FROM applied GROUP BY kind, key HAVING COUNT(*) > 1)")
    applied_twice = int(twice.fetchone()[0])
    absorbed = int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]) - len(records) - len(tasks)
    reruns = classify(db, chaos)
    resumes = resume_times(db, chaos)
    beyond = sum(r["beyond"] for r in reruns.values())
    worst_resume = max((t for _, t in resumes), default=float("nan"))

    table = Table("figure", "value", "target", "verdict")
    table.add_row("records lost", f"{lost_records} of {args.records:,}", "0", verdict(lost_records == 0))
    table.add_row("tasks lost or failed", f"{lost_tasks} of {args.tasks:,}", "0", verdict(lost_tasks == 0))
    table.add_row("applied twice", f"{applied_twice} ({absorbed} extra runs absorbed by the key)", "0",
                  verdict(applied_twice == 0))  # fmt: skip
    for kind, counts in sorted(reruns.items()):
        detail = ", ".join(f"{n} {what}" for what, n in counts.items() if n or what == "beyond")
        table.add_row(f"{kind}s run again", detail, "0 beyond", verdict(counts["beyond"] == 0))
    for kind, seconds in resumes:
        table.add_row(f"resume after a broker restart ({kind})", f"{seconds:.2f} s", "<= 5 s",
                      verdict(seconds <= 5.0))  # fmt: skip
    table.add_row("SIGKILLs / broker restarts", f"{len(chaos.kills)} / {len(chaos.outages)}", "", "")
    stamp = time.strftime  # the timeline, to read the workers' log against (--keep)
    for pid, at in sorted(chaos.kills.items(), key=lambda kv: kv[1]):
        console.print(f"  {stamp('%H:%M:%S', time.localtime(at))} SIGKILL pid {pid}")
    for stopped, back in chaos.outages:
        when = stamp("%H:%M:%S", time.localtime(stopped))
        console.print(f"  {when} broker stopped, answering again {back - stopped:.1f} s later")
    console.print(table)
    print(
        f"chaos: records {args.records} tasks {args.tasks} rate {args.rate:g}/s kills {len(chaos.kills)} "
        f"broker restarts {len(chaos.outages)} (outage {args.outage:g} s) | lost {lost_records}+{lost_tasks} "
        f"| applied twice {applied_twice} | re-run beyond one commit interval {beyond} "
        f"| worst resume {worst_resume:.2f} s (x{worst_resume / 5.0:.2f} of the 5 s target)"
    )
    for failure in chaos.failed_tasks[:5]:
        print("  failed:", failure)


if __name__ == "__main__":
    logging.getLogger("agentflux").setLevel(logging.ERROR)  # the progress bar says it all; errors still show
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0, help="records and tasks sent per second, each")
    parser.add_argument("--kills", type=int, default=4, help="random SIGKILLs of a worker")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds the broker stays down, twice")
    parser.add_argument("--patience", type=float, default=180.0, help="seconds to wait for stragglers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--membership", choices=["dynamic", "static"], default="dynamic",
        help="dynamic: the consumer group protocol, as `agentflux run` by default; static: --instance-id per worker",
    )  # fmt: skip
    parser.add_argument("--keep", help="copy the ledger and the workers' log to this directory")
    asyncio.run(main(parser.parse_args()))
