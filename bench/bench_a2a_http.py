"""Kafka delegation against point-to-point HTTP with the official a2a-sdk (issue: orchestrator-worker).

The same handler (``answer``: return at once) served two ways, each by one
worker process, each called by 10 concurrent callers in this process for the
same duration, in one run:

* Kafka: ``AgentClient.delegate`` -> ``agent.task-requests.*`` -> ``agentflux
  run`` worker -> result on the reply partition (task states on
  ``agent.tasks.v1``).
* HTTP: a2a-sdk ``Client.send_message`` (JSON-RPC, non-streaming) -> uvicorn +
  a2a-sdk ``DefaultRequestHandler`` with an in-memory task store (task
  submitted, working, artifact, completed).

Target: Kafka throughput >= 10x the HTTP throughput, at a p99 no higher than HTTP's.
Both are measured in steady state: the broker first gets ``--warmup`` seconds
of delegations (a fresh broker JVM runs at about half speed for its first
minute), and each side's worker gets 3 s of the closed loop before measuring.

    .venv/bin/python bench/bench_a2a_http.py [--seconds 10] [--callers 10] [--warmup 60] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from a2a.client import ClientConfig, create_client
from a2a.helpers import get_data_parts, new_data_message
from a2a.types import Role, SendMessageRequest
from bench_delegate import warm_broker, warm_up, workers
from common import add_run_options, broker, parse_loads, pct, verdict
from report import Figure, figure, write_figures

from agentflux import AgentClient
from agentflux.local.config import free_port

HERE = Path(__file__).resolve().parent
QUICK = {"warmup": 20.0}


async def closed_loop(call: Callable[[int], Awaitable[None]], callers: int, seconds: float) -> tuple[float, float]:
    """``callers`` loops calling back to back for ``seconds``: (calls/s, p99 ms)."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(c: int) -> None:
        n = c * 10_000_000
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call(n)
            samples.append(time.perf_counter() - started)
            n += 1

    begin = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    return len(samples) / (time.perf_counter() - begin), pct(samples, 99) * 1000


def serve_http(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(HERE / "a2a_http_app.py")], env={**os.environ, "B_PORT": str(port)})


async def http_side(callers: int, seconds: float) -> tuple[float, float]:
    port = free_port()
    server = serve_http(port)
    url = f"http://127.0.0.1:{port}/"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    (await http.get(url + ".well-known/agent-card.json")).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
            client = await create_client(url, ClientConfig(streaming=False, httpx_client=http))

            async def call(n: int) -> None:
                request = SendMessageRequest(message=new_data_message({"n": n}, role=Role.ROLE_USER))
                async for response in client.send_message(request):
                    artifact = response.task.artifacts[0]
                    assert int(get_data_parts(artifact.parts)[0]["n"]) == n

            for n in range(200):  # warm up
                await call(n)
            await closed_loop(call, callers, 3.0)  # the same warm-up as the Kafka side's worker gets
            return await closed_loop(call, callers, seconds)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


async def kafka_side(bootstrap: str, callers: int, seconds: float) -> tuple[float, float]:
    with workers(bootstrap, 1) as (skill, _procs):
        async with AgentClient(bootstrap, name="bench") as client:
            await warm_up(client, skill)

            async def call(n: int) -> None:
                result = await client.delegate(skill, {"n": n}, timeout=30)
                assert result["n"] == n

            await closed_loop(call, callers, 3.0)  # steady state for this worker process
            return await closed_loop(call, callers, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--callers", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of Kafka traffic before measuring")
    add_run_options(parser, QUICK)
    args = parse_loads(parser, QUICK)
    with broker() as bootstrap:
        asyncio.run(warm_broker(bootstrap, args.warmup))
        http_rate, http_p99 = asyncio.run(http_side(args.callers, args.seconds))
        kafka_rate, kafka_p99 = asyncio.run(kafka_side(bootstrap, args.callers, args.seconds))
    ratio = kafka_rate / http_rate
    print(f"{args.callers} concurrent callers, {args.seconds:g}s each, one worker process per side:")
    print(f"  HTTP (a2a-sdk JSON-RPC): {http_rate:8,.0f} tasks/s  p99 {http_p99:6.2f} ms")
    print(f"  Kafka (agentflux):       {kafka_rate:8,.0f} tasks/s  p99 {kafka_p99:6.2f} ms")
    print(
        f"Kafka / HTTP throughput: {ratio:.2f}x ({verdict(ratio >= 10)} >= 10x), "
        f"p99 {kafka_p99 / http_p99:.2f}x HTTP's ({verdict(kafka_p99 <= http_p99)} <= 1x)"
    )
    write_figures(args.json, figures(args.callers, args.seconds, (kafka_rate, kafka_p99), (http_rate, http_p99)))


def figures(callers: int, seconds: float, kafka: tuple[float, float], http: tuple[float, float]) -> list[Figure]:
    """Throughput and p99 of each side, as (tasks/s, p99 ms)."""
    name = f"Kafka delegation vs a2a-sdk HTTP, {callers} callers"
    load = f"{callers} callers back to back for {seconds:g} s per side, 1 worker process each"
    fast_enough = kafka[1] <= http[1]
    return [
        figure(
            f"{name}, throughput",
            kafka[0],
            "tasks/s",
            target="≥ 10x at a p99 no higher than HTTP's",
            met=kafka[0] >= 10 * http[0] and fast_enough,
            baseline="a2a-sdk JSON-RPC over HTTP",
            baseline_value=http[0],
            load=load,
        ),
        figure(
            f"{name}, p99",
            kafka[1],
            "ms",
            target="≤ HTTP's",
            met=fast_enough,
            baseline="a2a-sdk JSON-RPC over HTTP",
            baseline_value=http[1],
            load=load,
        ),
    ]


if __name__ == "__main__":
    main()
