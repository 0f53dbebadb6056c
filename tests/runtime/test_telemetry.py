"""The OpenTelemetry SDK from ``OTEL_*`` variables: when one is made, with which exporters, and the errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from opentelemetry import trace

from agentflux.contract.errors import ConfigError
from agentflux.runtime.telemetry import configured_tracer_provider, exporter_names, span_exporter, tracer_provider
from agentflux.runtime.tracing import Tracing, sdk_configured


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console, OTLP"}, ["console", "otlp"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, []),
    ],
)
def test_spans_are_exported_only_when_the_environment_asks(environ: dict[str, str], names: list[str]) -> None:
    assert exporter_names(environ) == names


def test_without_an_sdk_tracing_is_inactive_and_nothing_is_set_up() -> None:
    assert not sdk_configured(trace.get_tracer_provider())
    assert configured_tracer_provider("svc", {}) is trace.get_tracer_provider()
    disabled = {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}
    assert not sdk_configured(configured_tracer_provider("svc", disabled))
    assert not Tracing().active


def test_the_service_is_the_apps_name_unless_otel_service_name_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    provider = tracer_provider("pricing", ["console"], {})
    assert provider.resource.attributes["service.name"] == "pricing"
    assert Tracing(provider).active
    monkeypatch.setenv("OTEL_SERVICE_NAME", "pricing-eu")
    named = tracer_provider("pricing", ["console"], {"OTEL_SERVICE_NAME": "pricing-eu"})
    assert named.resource.attributes["service.name"] == "pricing-eu"


def test_an_unknown_exporter_or_protocol_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown exporter 'zipkin'; agentflux knows otlp, console and none"):
        span_exporter("zipkin", {})
    with pytest.raises(ConfigError, match="OTLP protocol 'http/json' is not supported: use http/protobuf or grpc"):
        span_exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    exporter = span_exporter("otlp", {})
    assert type(exporter).__module__ == "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def test_a_process_started_with_otel_traces_exporter_console_prints_its_spans() -> None:
    script = textwrap.dedent(
        """
        from opentelemetry.trace import SpanKind
        from agentflux.runtime.telemetry import configured_tracer_provider
        from agentflux.runtime.tracing import Tracing

        provider = configured_tracer_provider("orders-app")
        with Tracing(provider).span("send orders.placed.v1", SpanKind.PRODUCER, attributes={"a": 1}):
            pass
        provider.shutdown()
        """
    )
    env = {"OTEL_TRACES_EXPORTER": "console", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    span = json.loads(done.stdout)
    assert span["name"] == "send orders.placed.v1"
    assert span["kind"] == "SpanKind.PRODUCER"
    assert span["resource"]["attributes"]["service.name"] == "orders-app"


def test_a_tasks_duration_is_measured_from_any_send_time_a_requester_may_give() -> None:
    from datetime import UTC, datetime, timedelta

    from agentflux.runtime.tasks.worker import _seconds_since

    ago = datetime.now(UTC) - timedelta(seconds=30)
    assert 29 < _seconds_since(ago.isoformat()) < 60
    assert 29 < _seconds_since(ago.replace(tzinfo=None).isoformat()) < 60  # no offset: taken as UTC
    assert _seconds_since((datetime.now(UTC) + timedelta(hours=1)).isoformat()) == 0  # a clock ahead: not negative
    assert _seconds_since("yesterday") == _seconds_since(None) == 0


def test_a_provider_set_in_code_is_used_as_it_is_whatever_the_environment_says() -> None:
    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from agentflux.runtime.telemetry import configured_tracer_provider

        mine = TracerProvider()
        trace.set_tracer_provider(mine)
        assert configured_tracer_provider("orders-app") is mine
        print("kept")
        """
    )
    env = {"OTEL_TRACES_EXPORTER": "console", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kept"
