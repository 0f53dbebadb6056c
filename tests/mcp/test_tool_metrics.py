"""Tool calls are measured: ``agentflux.tool.duration`` per server, tool and outcome, on a real MCP server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]
TESTKIT = Path(__file__).resolve().parent / "servers" / "testkit.py"

# In a process of its own: a global meter provider, once set, stays for the process.
SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from agentflux.contract.errors import ToolError
    from agentflux.mcp import McpServerSpec, ToolPool

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    async def main():
        async with ToolPool([McpServerSpec("testkit", command=[sys.executable, sys.argv[1]], timeout=5)]) as pool:
            kit = pool.handle("testkit")
            await kit.call("pid")
            await kit.call("pid")
            try:
                await kit.call("fail", message="no such product")
            except ToolError:
                pass

    asyncio.run(main())
    counts = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "agentflux.tool.duration":
                    for point in metric.data.data_points:
                        labels = dict(point.attributes)
                        counts[f"{labels['server']}.{labels['tool']}:{labels['outcome']}"] = point.count
    print(json.dumps(counts))
    """
)


def test_each_tool_call_is_one_measurement_by_server_tool_and_outcome() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(TESTKIT)], capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"testkit.pid:ok": 2, "testkit.fail:error": 1}
