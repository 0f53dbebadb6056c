"""One log format: agentflux, uvicorn, Quix Streams and Beam lines look alike, and the noise stays out."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

EMIT = """
import logging
from agentflux.cli.logs import configure_logging
configure_logging("info")
logging.getLogger("agentflux.runtime").info("started agents ['a']")
logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:8080")
logging.getLogger("uvicorn.access").info('127.0.0.1:5000 - "GET /agents/a HTTP/1.1" 200')
logging.getLogger("quixstreams.app").info("Starting the Application")
logging.getLogger("apache_beam.io.filesystems").warning("Failed to import GCSFileSystem; loading of it fails")
"""
LINE = re.compile(r"^\d\d:\d\d:\d\d (INFO|WARNING|ERROR|DEBUG) +[\w.]+: ")


def test_every_library_logs_in_the_one_format_without_its_noise() -> None:
    done = subprocess.run([sys.executable, "-c", EMIT], capture_output=True, text=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert [line.split(": ", 1)[0].split()[-1] for line in lines] == [
        "agentflux.runtime",
        "uvicorn.error",
        "quixstreams.app",
    ]
    assert all(LINE.match(line) for line in lines), lines
    assert "GET /agents/a" not in done.stderr and "GCSFileSystem" not in done.stderr


def test_lines_written_while_a_record_is_handled_carry_its_ids_in_text_and_in_json() -> None:
    from agentflux.cli.logs import JsonLines, TextWithIds
    from agentflux.contract.envelope import Envelope
    from agentflux.runtime.logcontext import RecordIds, handling

    def render(formatter: logging.Formatter, **extra: object) -> str:
        record = logging.LogRecord("agentflux.runtime", logging.WARNING, __file__, 1, "attempt %d failed", (1,), None)
        record.__dict__.update(extra)
        RecordIds().filter(record)
        return formatter.format(record)

    text, lines = TextWithIds("%(levelname)s %(name)s: %(message)s"), JsonLines()
    assert render(text) == "WARNING agentflux.runtime: attempt 1 failed"  # outside a handler: no ids
    assert json.loads(render(lines))["correlation_id"] is None
    envelope = Envelope.new(source="test", type="orders", correlation_id="order-7")
    assert envelope.traceparent is not None
    _, trace_id, span_id, _ = envelope.traceparent.split("-")
    with handling(envelope):
        assert (
            render(text) == f"WARNING agentflux.runtime: attempt 1 failed [correlation_id=order-7 trace_id={trace_id}]"
        )
        line = json.loads(render(lines, mcp_tool="lookup"))
    assert (
        line["message"] == "attempt 1 failed" and line["level"] == "WARNING" and line["logger"] == "agentflux.runtime"
    )
    assert (line["correlation_id"], line["trace_id"], line["span_id"]) == ("order-7", trace_id, span_id)
    assert line["mcp_tool"] == "lookup"  # the log call's extra fields
    assert line["time"].endswith("+00:00")


def test_inside_a_span_the_ids_are_the_spans() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from agentflux.contract.envelope import Envelope
    from agentflux.runtime.logcontext import current_ids, handling

    with handling(Envelope.new(source="test", type="orders", correlation_id="c1")):
        with TracerProvider().get_tracer("test").start_as_current_span("process") as span:
            context = span.get_span_context()
            assert current_ids() == ("c1", f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert current_ids() == (None, None, None)


def test_json_format_from_the_command_line_writes_one_object_a_line() -> None:
    emit = 'import logging\nfrom agentflux.cli.logs import configure_logging\nconfigure_logging("info", "json")\n'
    emit += 'logging.getLogger("agentflux.runtime").info("started")\n'
    emit += (
        'try:\n    1 / 0\nexcept ZeroDivisionError:\n    logging.getLogger("agentflux.runtime").exception("failed")\n'
    )
    done = subprocess.run([sys.executable, "-c", emit], capture_output=True, text=True, timeout=60, check=True)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["message"] for line in lines] == ["started", "failed"]
    assert "ZeroDivisionError" in lines[1]["exception"]


def test_every_long_running_command_takes_log_format() -> None:
    for command in (["run"], ["gateway"], ["streams", "run"], ["mcp", "serve"]):
        done = subprocess.run(
            [sys.executable, "-m", "agentflux.cli.main", *command, "--help"],
            capture_output=True, text=True, timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "--log-format" in done.stdout and "AGENTFLUX_LOG_FORMAT" in done.stdout, command
