"""A 30 s broker outage under every kind of agentflux process: each rides it out, nothing is lost.

The test runs its own broker (it stops it) and five processes on it: a skill
worker with static membership (``--instance-id``), an event handler that
delegates to it (dynamic membership, and a requester), the A2A gateway and the
mesh's MCP server; the test process itself has delegations waiting across the
outage. The broker is stopped and started again with the same data directory.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from kafka_helpers import await_until, cli_processes, log_of, produce_raw, read_lines

from agentflux import AgentClient
from agentflux.local import LocalBroker

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
APP = "tests/faults/apps/outage_app.py:app"
OUTAGE = 30.0
LOST, BACK = "lost the Kafka cluster", "is back after"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def handled(log: Path) -> set[int]:
    return {line["n"] for line in read_lines(log) if line["event"] == "handled"}


def orders(numbers: range) -> list[tuple[bytes, bytes, None]]:
    return [(f"order-{n}".encode(), json.dumps({"n": n}).encode(), None) for n in numbers]


async def send_message(url: str, n: int) -> dict[str, object]:
    """SendMessage over JSON-RPC, blocking until the task is done."""
    body = {
        "jsonrpc": "2.0",
        "id": n,
        "method": "SendMessage",
        "params": {"message": {"role": "ROLE_USER", "messageId": f"m-{n}", "parts": [{"text": json.dumps({"n": n})}]}},
    }
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(url, json=body, headers={"A2A-Version": "1.0"})
    return response.json()  # type: ignore[no-any-return]


async def call_mcp_tool(url: str, tool: str) -> object:
    from mcp import Client

    async with Client(url) as client:
        result = await client.call_tool(tool, {})
    assert not result.is_error, result
    return result.structured_content


@pytest.mark.asyncio
async def test_every_process_rides_out_a_broker_outage_and_nothing_is_lost(tmp_path: Path, unique: str) -> None:
    topic, skill, log = f"faults.order-placed-{unique}.v1", f"fulfil-{unique}", tmp_path / "effects.jsonl"
    env = {"T_APP": f"outage-{unique}", "T_SKILL": skill, "T_TOPIC": topic, "T_LOG": str(log)}
    broker = LocalBroker(tmp_path / "kafka")
    bootstrap = await asyncio.to_thread(broker.start)
    env["AGENTFLUX_BOOTSTRAP_SERVERS"] = bootstrap
    gateway_port, mcp_port = free_port(), free_port()
    try:
        with cli_processes(tmp_path) as start:
            processes = {
                "worker": start("worker", env, "run", APP, "--agent", "fulfil", "--instance-id", "w1",
                                "--log-level", "info"),
                "intake": start("intake", env, "run", APP, "--agent", "intake", "--log-level", "info"),
                "gateway": start("gateway", env, "gateway", APP, "--port", str(gateway_port), "--log-level", "info"),
                "mcp": start("mcp", env, "mcp", "serve", "--http", str(mcp_port), "--log-level", "info"),
            }  # fmt: skip
            await asyncio.to_thread(produce_raw, bootstrap, topic, orders(range(100)))
            await await_until(lambda: handled(log) == set(range(100)), 90, "the orders before the outage")
            gateway = f"http://127.0.0.1:{gateway_port}/agents/fulfil"
            assert (await send_message(gateway, 1_000))["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"

            async with AgentClient(bootstrap, name="outage-test") as client:
                await client.prepare(skill)
                await asyncio.to_thread(broker.stop)
                # Requests sent while the broker is down wait in the client, then go through.
                waiting = [
                    asyncio.create_task(client.delegate(skill, {"n": 2_000 + i}, timeout=OUTAGE + 90))
                    for i in range(10)
                ]
                await asyncio.sleep(OUTAGE / 2)
                # A process started while the broker is down waits for it, and comes up with it (another app,
                # so that its joining does not move partitions of the processes whose resume is measured).
                late_env = {**env, "T_APP": f"late-{unique}", "T_SKILL": f"late-{unique}", "T_LOG": str(tmp_path / "l")}
                late = start("late", late_env, "run", APP, "--agent", "fulfil", "--log-level", "info")
                await asyncio.sleep(OUTAGE / 2)
                assert all(p.poll() is None for p in [*processes.values(), late]), "a process exited in the outage"
                assert await asyncio.to_thread(broker.start) == bootstrap
                back = time.monotonic()
                await asyncio.to_thread(produce_raw, bootstrap, topic, orders(range(100, 101)))
                await await_until(lambda: 100 in handled(log), 60, "the first order after the outage")
                resumed = time.monotonic() - back
                results = await asyncio.gather(*waiting)
            assert sorted(r["n"] for r in results) == list(range(2_000, 2_010))

            await asyncio.to_thread(produce_raw, bootstrap, topic, orders(range(101, 200)))
            await await_until(lambda: handled(log) == set(range(200)), 60, "every order")
            answer = await send_message(gateway, 1_001)
            assert answer["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", answer
            agents = await call_mcp_tool(f"http://127.0.0.1:{mcp_port}/mcp", "list_agents")
            assert {"fulfil"} <= {a["card"]["name"] for a in agents["result"]}  # type: ignore[index]
            assert all(p.poll() is None for p in [*processes.values(), late]), "a process exited after the outage"
            await await_until(lambda: "fulfil.tasks: assigned" in log_of(tmp_path, "late"), 30, "the late one to join")
    finally:
        await asyncio.to_thread(broker.stop)

    print(f"\nfirst order handled {resumed:.2f}s after the broker answered again")
    assert resumed <= 5.0
    fulfilled = [line for line in read_lines(log) if line["event"] == "fulfilled"]
    tasks = [line["task"] for line in fulfilled]
    assert len(set(tasks)) == 200 + 10 + 2  # every order, delegation and message
    assert len(tasks) == len(set(tasks)), "a task ran twice"
    for name in processes:
        text = log_of(tmp_path, name)
        assert text.count(LOST) == 1, f"{name}: {text.count(LOST)} 'lost' lines:\n{text[-3000:]}"
        assert text.count(BACK) == 1, f"{name}: {text.count(BACK)} 'back' lines:\n{text[-3000:]}"
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
    late_log = log_of(tmp_path, "late")
    assert late_log.count("waiting for one") == 1 and late_log.count(BACK) == 1, late_log[-3000:]
