"""Delegation benchmarks (issue: orchestrator-worker). Targets are targets, not tests.

1. ``latency``: delegate round trip (request published -> typed result back) at a
   steady 500 tasks/s against 1 worker process: p50 and p99
   (targets: p50 <= 3 ms, p99 <= 15 ms).
2. ``throughput``: the most tasks/s 2 worker processes sustain, driven by one
   ``AgentClient`` keeping a window of tasks in flight (targets: >= 10k/s and
   >= 10 % of bare confluent-kafka request-reply in the same run). CPU
   seconds per process are printed too, to show where the ceiling is.
3. ``fanout``: one event delivered to 10 subscribing agents against 1
   subscriber (target: <= 1.5x the cost). Two costs are measured: what the
   publishing agent pays per event (publish throughput while all subscribers
   consume), and the end-to-end latency until the *last* subscriber handled
   the event, at a steady rate.

Figures are steady state: the broker is first warmed up with ``--warmup``
seconds of delegations (a fresh broker JVM needs about a minute of traffic to
reach full speed; production brokers run for months); ``warmup`` does only
that. Every task is a real one: the worker records its terminal state on
``agent.tasks.v1`` and sends the result to the requester's reply partition. The
raw baseline runs ``RAW_TASKS_PER_TASK`` times as many tasks (at least
``RAW_TASKS_MIN``), so that it, too, runs for seconds rather than a fraction of one.

    .venv/bin/python bench/bench_delegate.py [latency|throughput|fanout|all|warmup]
        [--seconds 10] [--tasks 30000] [--warmup 60] [--quick] [--json PATH]

``AGENTFLUX_BENCH_BOOTSTRAP=host:port`` measures against a running cluster;
otherwise an embedded broker is started on a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import raw_echo
from common import add_run_options, broker, console, create_topic, p50_p99_ms, parse_loads, pct, verdict
from pydantic import BaseModel
from raw_latency import fan_out, round_trip
from report import Figure, figure, p50_p99, write_figures

from agentflux import AgentClient, TopicSpec
from agentflux.contract.envelope import Envelope
from agentflux.runtime.publisher import Publisher
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
QUICK = {"tasks": 15_000, "events": 2_000, "warmup": 20.0}
RAW_TASKS_PER_TASK, RAW_TASKS_MIN = 5, 100_000


@contextmanager
def workers(bootstrap: str, count: int, concurrency: int = 256) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """``count`` ``agentflux run`` processes serving one fresh skill; yields the skill id."""
    tag = uuid.uuid4().hex[:8]
    skill = f"bench-answer-{tag}"
    env = {
        **os.environ,
        "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap,
        "B_APP": f"bench-{tag}",
        "B_SKILL": skill,
        "B_CONCURRENCY": str(concurrency),
    }
    argv = [sys.executable, "-m", "agentflux.cli.main", "run", str(HERE / "delegate_app.py") + ":app"]
    procs = [spawn(argv, env) for _ in range(count)]
    try:
        yield skill, procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*argv, "--log-level", "warning"], env=env, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def warm_up(client: AgentClient, skill: str, count: int = 200) -> None:
    """Wait until the workers answer (their group has formed), then run a few tasks."""
    deadline = time.monotonic() + 60
    while True:
        try:
            await client.delegate(skill, {"n": -1}, timeout=10)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
    await asyncio.gather(*(client.delegate(skill, {"n": -i}, timeout=10) for i in range(count)))


async def warm_broker(bootstrap: str, seconds: float) -> None:
    """Delegate flat out for ``seconds``: a fresh broker JVM is about 2x slower until its JIT has run."""
    if seconds <= 0:
        return
    with workers(bootstrap, 1) as (skill, _procs), console.status(f"warming the broker up for {seconds:g}s"):
        async with AgentClient(bootstrap, name="bench-warm-up") as client:
            await warm_up(client, skill)
            deadline = time.monotonic() + seconds

            async def caller(c: int) -> None:
                while time.monotonic() < deadline:
                    await client.delegate(skill, {"n": c}, timeout=30)

            await asyncio.gather(*(caller(c) for c in range(20)))


async def latency(bootstrap: str, rate: int, seconds: float) -> list[Figure]:
    with workers(bootstrap, 1) as (skill, _procs):
        async with AgentClient(bootstrap, name="bench") as client:
            await warm_up(client, skill)
            latencies: dict[int, float] = {}

            async def one(n: int) -> None:
                started = time.perf_counter()
                await client.delegate(skill, {"n": n}, timeout=10)
                latencies[n] = time.perf_counter() - started

            settle = rate  # the first second at the rate is not measured: steady state only
            total = int(rate * seconds) + settle
            begin = time.perf_counter()
            running = []
            with console.status(f"{total:,} delegations at {rate}/s"):
                for n in range(total):
                    await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
                    running.append(asyncio.create_task(one(n)))
                await asyncio.gather(*running)
    samples = [latencies[n] for n in range(settle, total)]
    p50, p99 = p50_p99_ms(samples)
    with console.status(f"bare confluent-kafka: {total:,} round trips at {rate}/s"):
        raw = round_trip(bootstrap, rate, seconds)
    raw50, raw99 = p50_p99_ms(raw)
    print(
        f"delegate round trip at {rate}/s for {seconds:g}s (n={len(samples):,}): p50 {p50:.2f} ms "
        f"({verdict(p50 <= 3)} <= 3 ms)  p99 {p99:.2f} ms ({verdict(p99 <= 15)} <= 15 ms); "
        f"bare confluent-kafka, three writes in a row: p50 {raw50:.2f} ms, p99 {raw99:.2f} ms"
    )
    load = f"{len(samples):,} tasks at {rate:,}/s after 1 s unmeasured, 1 worker process"
    return p50_p99(
        f"delegate round trip at {rate:,} tasks/s", p50, p99, bounds=(3, 15), load=load,
        baseline="bare confluent-kafka, request → acked state → reply", baseline_values=(raw50, raw99),
    )  # fmt: skip


async def throughput(bootstrap: str, tasks: int, window: int) -> Figure:
    with workers(bootstrap, 2) as (skill, procs):
        async with AgentClient(bootstrap, name="bench") as client:
            await warm_up(client, skill, 2000)
            slots = asyncio.Semaphore(window)

            async def one(n: int) -> None:
                async with slots:
                    await client.delegate(skill, {"n": n}, timeout=120)

            cpu_before = [cpu_seconds(p.pid) for p in procs], time.process_time()
            begin = time.perf_counter()
            with console.status(f"{tasks:,} tasks, {window} in flight, 2 worker processes"):
                await asyncio.gather(*(one(n) for n in range(tasks)))
            elapsed = time.perf_counter() - begin
            worker_cpu = [cpu_seconds(p.pid) - b for p, b in zip(procs, cpu_before[0], strict=True)]
            driver_cpu = time.process_time() - cpu_before[1]
    rate = tasks / elapsed
    print(
        f"max sustained: {rate:,.0f} tasks/s with 2 worker processes ({tasks:,} tasks in {elapsed:.1f}s, "
        f"{window} in flight; {verdict(rate >= 10_000)} >= 10k/s)  CPU s: workers "
        f"{' + '.join(f'{c:.1f}' for c in worker_cpu)}, driver {driver_cpu:.1f} on {os.cpu_count()} cores"
    )
    raw_tasks = max(tasks * RAW_TASKS_PER_TASK, RAW_TASKS_MIN)
    ceiling = raw_ceiling(bootstrap, raw_tasks, window)
    print(
        f"  same machine, same run: bare confluent-kafka request-reply (2 echo processes, 2 records per task, "
        f"no envelope/states/validation): {ceiling:,.0f} tasks/s; agentflux reaches {rate / ceiling:.0%} of it "
        f"({verdict(rate >= 0.1 * ceiling)} >= 10%)"
    )
    return figure(
        "delegation, max sustained, 2 worker processes",
        rate,
        "tasks/s",
        target="≥ 10 % of raw and ≥ 10,000 tasks/s",
        met=rate >= 10_000 and rate >= 0.1 * ceiling,
        baseline="bare confluent-kafka request-reply",
        baseline_value=ceiling,
        load=f"{tasks:,} tasks, {window:,} in flight (the baseline: {raw_tasks:,} tasks, the same window)",
    )


def raw_ceiling(bootstrap: str, tasks: int, window: int) -> float:
    tag = uuid.uuid4().hex[:8]
    requests, replies = f"bench.raw-requests-{tag}.v1", f"bench.raw-replies-{tag}.v1"
    create_topic(bootstrap, requests, 6)
    create_topic(bootstrap, replies, 6)
    argv = [sys.executable, str(HERE / "raw_echo.py"), "worker", bootstrap, requests, replies, f"raw-{tag}"]
    procs = [subprocess.Popen(argv, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        raw_echo.drive(bootstrap, requests, replies, 2_000, window)  # warm up: the group forms
        with console.status(f"bare request-reply ceiling, {tasks:,} tasks"):
            return raw_echo.drive(bootstrap, requests, replies, tasks, window)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


class Tick(BaseModel):
    n: int


async def fanout(bootstrap: str, subscribers: int, events: int, rate: int, seconds: float) -> tuple[float, float]:
    """(publisher CPU microseconds per event, end-to-end p50 ms until the last subscriber handled it).

    The subscribers run in one ``agentflux run`` process of their own (each
    agent is its own consumer group, so each gets every event); this process
    only publishes. (Spreading 10 agents over 2 processes measured no better on
    a 2-core machine that also runs the broker.)
    """
    tag = uuid.uuid4().hex[:8]
    topic = f"bench.fanout-{tag}.v1"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "handled.log"
        env = {
            **os.environ,
            "AGENTFLUX_BOOTSTRAP_SERVERS": bootstrap,
            "B_APP": f"bench-fanout-{tag}",
            "B_TOPIC": topic,
            "B_LOG": str(log),
            "B_SUBSCRIBERS": str(subscribers),
        }
        argv = [sys.executable, "-m", "agentflux.cli.main", "run", str(HERE / "fanout_app.py") + ":app"]
        procs = [spawn(argv, env)]
        transport = KafkaTransport(KafkaSettings(bootstrap))
        await transport.start()
        publisher = Publisher(transport, lambda name: TopicSpec(name, partitions=6))
        sent: dict[int, float] = {}

        async def send(n: int) -> None:
            envelope = Envelope.new(source="bench", type="bench.fanout")
            sent[n] = time.monotonic()
            await publisher.publish(topic, Tick(n=n), envelope=envelope, key=str(n))

        def handled() -> dict[int, list[float]]:
            out: dict[int, list[float]] = {}
            for line in log.read_text().splitlines() if log.exists() else ():
                n, _agent, at = line.split()
                out.setdefault(int(n), []).append(float(at))
            return out

        try:
            await send(-1)  # provisions the topic; then wait until every subscriber has seen it
            while len(handled().get(-1, ())) < subscribers:
                await asyncio.sleep(0.1)
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(send(n) for n in range(events)))
            cpu, wall = (time.process_time() - cpu) / events * 1e6, (time.perf_counter() - wall) / events * 1e6
            while sum(len(v) == subscribers for v in handled().values()) < events + 1:
                await asyncio.sleep(0.1)  # the burst is consumed before the latency is measured
            total = int(rate * seconds)
            begin = time.perf_counter()
            running = []
            for i in range(total):
                await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
                running.append(asyncio.create_task(send(events + i)))
            await asyncio.gather(*running)
            deadline = time.monotonic() + 60
            while sum(len(v) == subscribers for v in handled().values()) < events + total + 1:
                if time.monotonic() > deadline:
                    raise SystemExit("fan-out: not every subscriber handled every event within 60 s")
                await asyncio.sleep(0.2)
            done = handled()
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(timeout=30)
            await transport.close()
    samples = [max(done[n]) - sent[n] for n in range(events, events + total)]
    p50, p99 = p50_p99_ms(samples)
    print(
        f"  {subscribers:2d} subscriber(s): publisher CPU {cpu:.1f} us/event (wall {wall:.1f} us, {events:,} events "
        f"back to back); to the last subscriber at {rate}/s: p50 {p50:.2f} ms p99 {p99:.2f} ms"
    )
    return cpu, p50


async def fanout_compare(bootstrap: str, events: int, rate: int, seconds: float) -> list[Figure]:
    print("fan-out of one event, 1 vs 10 subscribing agents (one consumer group each, in a process of their own):")
    one = await fanout(bootstrap, 1, events, rate, seconds)
    ten = await fanout(bootstrap, 10, events, rate, seconds)
    cost, e2e = ten[0] / one[0], ten[1] / one[1]
    print(
        f"fan-out cost 10 vs 1: publisher CPU per event {cost:.2f}x ({verdict(cost <= 1.5)} <= 1.5x); "
        f"latency to the last subscriber, p50 {e2e:.2f}x ({verdict(e2e <= 1.5)} <= 1.5x)"
    )
    with console.status("bare confluent-kafka: the last of 1 and of 10 consumer threads"):
        raw_one, raw_ten = (pct(fan_out(bootstrap, n, rate, seconds), 50) * 1000 for n in (1, 10))
    print(
        f"bare confluent-kafka, 10 consumer threads vs 1 in one process: p50 {raw_ten:.2f} vs {raw_one:.2f} ms "
        f"({raw_ten / raw_one:.2f}x)"
    )
    load = f"{int(rate * seconds):,} events at {rate}/s"
    return [
        figure(
            "fan-out, latency to the last of 10 subscribers, p50", ten[1], "ms", target="≤ 1.5x of 1 subscriber",
            met=e2e <= 1.5, baseline="1 subscriber", baseline_value=one[1], load=f"{load} after a burst of {events:,}",
        ),
        figure(
            "fan-out floor: bare confluent-kafka, the last of 10 consumer threads, p50", raw_ten, "ms",
            target="none (the floor)", met=None, baseline="1 consumer thread", baseline_value=raw_one,
            load=f"{load} after 1 s unmeasured",
        ),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default="all", choices=["latency", "throughput", "fanout", "all", "warmup"])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--window", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of traffic before measuring")
    add_run_options(parser, QUICK)
    args = parse_loads(parser, QUICK)
    figures: list[Figure] = []
    with broker() as bootstrap:
        asyncio.run(warm_broker(bootstrap, args.warmup))
        if args.which in ("latency", "all"):
            figures += asyncio.run(latency(bootstrap, args.rate, args.seconds))
        if args.which in ("throughput", "all"):
            figures.append(asyncio.run(throughput(bootstrap, args.tasks, args.window)))
        if args.which in ("fanout", "all"):
            figures += asyncio.run(fanout_compare(bootstrap, args.events, 200, args.seconds / 2))
    write_figures(args.json, figures)


if __name__ == "__main__":
    main()
