"""The A2A view of a task survives the gateway that accepted it: another replica records its outcome."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path

import httpx
import pytest
from kafka_helpers import cli_processes, read_lines, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120), pytest.mark.asyncio]
APP = "tests/faults/apps/outage_app.py:app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def rpc(base: str, method: str, params: dict[str, object]) -> dict[str, object]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{base}/agents/fulfil", json=body, headers={"A2A-Version": "1.0"})
    return response.json()  # type: ignore[no-any-return]


async def wait_for_http(base: str) -> None:
    async with asyncio.timeout(60):
        while True:
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    if (await http.get(f"{base}/agents")).status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


async def test_a_task_whose_gateway_was_killed_is_completed_by_another(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    log = tmp_path / "effects.jsonl"
    env = {
        "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap, "T_APP": f"crash-{unique}", "T_SKILL": f"fulfil-{unique}",
        "T_TOPIC": f"faults.order-{unique}.v1", "T_LOG": str(log), "T_SLEEP": "3",
    }  # fmt: skip
    first, second = free_port(), free_port()
    with cli_processes(tmp_path) as start:
        start("worker", env, "run", APP, "--agent", "fulfil")
        accepting = start("gateway-a", env, "gateway", APP, "--port", str(first))
        await wait_for_http(f"http://127.0.0.1:{first}")
        message = {"role": "ROLE_USER", "messageId": f"m-{unique}", "parts": [{"text": json.dumps({"n": 7})}]}
        sent = await rpc(f"http://127.0.0.1:{first}", "SendMessage",
                         {"message": message, "configuration": {"returnImmediately": True}})  # fmt: skip
        task_id = sent["result"]["task"]["id"]  # type: ignore[index]
        accepting.send_signal(signal.SIGKILL)  # before the skill task (3 s) finishes
        accepting.wait(timeout=10)
        start("gateway-b", env, "gateway", APP, "--port", str(second))
        await wait_for_http(f"http://127.0.0.1:{second}")
        wait_until(lambda: any(line["event"] == "fulfilled" for line in read_lines(log)), 30, "the skill to finish")
        async with asyncio.timeout(40):
            while True:
                task = (await rpc(f"http://127.0.0.1:{second}", "GetTask", {"id": task_id}))["result"]
                if task["status"]["state"] not in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"):  # type: ignore[index]
                    break
                await asyncio.sleep(0.5)
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task  # type: ignore[index]
    [artifact] = task["artifacts"]  # type: ignore[index]
    assert artifact["artifactId"] == "result" and artifact["parts"][0]["data"] == {"n": 7}
