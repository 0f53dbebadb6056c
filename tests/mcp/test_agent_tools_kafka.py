"""Agents call MCP tools from handlers: ``ctx.tools(name)`` on a real broker and a real server."""

import sys
from pathlib import Path

import pytest
from kafka_helpers import await_until, create_topic, produce_raw
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentflux import AgentApp, AppRunner, Context, ToolError
from agentflux.contract.envelope import Envelope
from agentflux.mcp import McpServerSpec
from agentflux.mcp.app_tools import tool_pool_for
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]
TESTKIT = str(Path(__file__).parent / "servers" / "testkit.py")


@pytest.mark.asyncio
async def test_handlers_reach_tools_with_correlation_and_trace(kafka_bootstrap: str, unique: str) -> None:
    topic = f"tools.lookup-requested-{unique}.v1"
    app = AgentApp(f"tools-{unique}")
    app.tool_server(McpServerSpec("testkit", command=[sys.executable, TESTKIT], timeout=5))
    agent = app.agent("caller")
    results: list[tuple[Context, dict, object]] = []

    @agent.on(topic)
    async def lookup(event: dict, ctx: Context) -> None:
        meta = await ctx.tools("testkit").call("echo_meta")
        pid = await ctx.tools("testkit").call("pid")
        results.append((ctx, meta, pid))

    edge = [Envelope.new(source="test", type="tools.lookup-requested") for _ in range(3)]
    create_topic(kafka_bootstrap, topic)
    # One key: the records are handled one after another, so each call finds the session idle. (Calls that
    # overlap may open more sessions, up to the server's max_sessions: tests/mcp/test_pool.py.)
    produce_raw(kafka_bootstrap, topic, [(b"one-key", b"{}", e.to_headers()) for e in edge])
    pool = tool_pool_for(app)
    async with AppRunner(app, KafkaTransport(KafkaSettings(kafka_bootstrap)), tools=pool):
        await await_until(lambda: len(results) == 3, 60, "three tool lookups")
    for ctx, meta, _ in results:
        assert meta["correlation_id"] == ctx.correlation_id
        assert meta["traceparent"] == ctx.traceparent
    assert {ctx.correlation_id for ctx, _, _ in results} == {e.correlation_id for e in edge}
    assert len({pid for _, _, pid in results}) == 1  # one pooled session served every message


@pytest.mark.asyncio
async def test_with_tracing_each_tool_call_is_a_client_span_whose_context_the_server_gets(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"tools.lookup-requested-{unique}.v1"
    app = AgentApp(f"tools-traced-{unique}")
    app.tool_server(McpServerSpec("testkit", command=[sys.executable, TESTKIT], timeout=5))
    seen: list[dict] = []

    @app.agent("caller").on(topic)
    async def lookup(event: dict, ctx: Context) -> None:
        seen.append(await ctx.tools("testkit").call("echo_meta"))

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    edge = Envelope.new(source="test", type="tools.lookup-requested")
    create_topic(kafka_bootstrap, topic)
    produce_raw(kafka_bootstrap, topic, [(b"k", b"{}", edge.to_headers())])
    transport = KafkaTransport(KafkaSettings(kafka_bootstrap))
    async with AppRunner(app, transport, tools=tool_pool_for(app), tracer_provider=provider):
        await await_until(lambda: len(seen) == 1, 60, "the tool call")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    call, process = spans["tools/call echo_meta"], spans[f"process {topic}"]
    assert call.kind is SpanKind.CLIENT and call.parent is not None and process.context is not None
    assert call.parent.span_id == process.context.span_id
    assert dict(call.attributes or {})["gen_ai.tool.name"] == "echo_meta"
    assert call.context is not None and edge.traceparent is not None
    flags = int(call.context.trace_flags)
    assert seen[0]["traceparent"] == f"00-{call.context.trace_id:032x}-{call.context.span_id:016x}-{flags:02x}"
    assert seen[0]["traceparent"].split("-")[1] == edge.traceparent.split("-")[1]  # the edge's trace goes on
    assert seen[0]["correlation_id"] == edge.correlation_id


@pytest.mark.asyncio
async def test_a_tool_reported_error_is_permanent_and_not_retried(kafka_bootstrap: str, unique: str) -> None:
    topic = f"tools.lookup-requested-{unique}.v1"
    app = AgentApp(f"toolerr-{unique}")
    app.tool_server(McpServerSpec("testkit", command=[sys.executable, TESTKIT], timeout=5))
    agent = app.agent("caller")
    attempts: list[int] = []
    errors: list[ToolError] = []

    @agent.on(topic)
    async def lookup(event: dict, ctx: Context) -> None:
        attempts.append(ctx.attempt)
        try:
            await ctx.tools("testkit").call("fail", message="no such product")
        except ToolError as exc:
            errors.append(exc)
            raise

    create_topic(kafka_bootstrap, topic)
    produce_raw(kafka_bootstrap, topic, [(b"k", b"{}", None)])
    async with AppRunner(app, KafkaTransport(KafkaSettings(kafka_bootstrap)), tools=tool_pool_for(app)) as runner:
        await await_until(lambda: len(errors) == 1, 60, "the tool error")
        await runner.stop()
    assert attempts == [1]  # a tool-reported error is permanent: no retry
    assert errors[0].server == "testkit" and errors[0].tool == "fail" and "no such product" in str(errors[0])
