"""The OpenTelemetry SDK, set up from the standard ``OTEL_*`` environment variables.

A runner asks for its tracer provider here. If the process already has an SDK
provider (set in code, or by ``opentelemetry-instrument``), that one is used
as it is. Otherwise one is made when the environment asks for export, that is
when ``OTEL_TRACES_EXPORTER`` is set (to anything but ``none``) or an OTLP
endpoint is (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). With neither, no SDK is set up and
agentflux makes no spans: unlike the specification's default (``otlp``),
nothing is exported to a collector nobody asked for.

``OTEL_TRACES_EXPORTER`` names exporters, comma-separated: ``otlp`` (HTTP/protobuf,
or gRPC when ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` is ``grpc``) and
``console``. The exporters read their own variables (endpoint, headers,
timeout). The service name is ``OTEL_SERVICE_NAME``, else the app's name;
``OTEL_RESOURCE_ATTRIBUTES`` adds to it. ``OTEL_SDK_DISABLED=true`` turns all of
it off. The SDK and the OTLP exporter come with ``pip install 'agentflux[otel]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from agentflux.contract.errors import ConfigError
from agentflux.runtime.tracing import sdk_configured

log = logging.getLogger("agentflux.runtime")
INSTALL = "pip install 'agentflux[otel]'"


def configured_tracer_provider(service: str, environ: Mapping[str, str] | None = None) -> trace.TracerProvider:
    """The process's tracer provider, set up from the environment first when it asks for export."""
    env = os.environ if environ is None else environ
    current = trace.get_tracer_provider()
    if sdk_configured(current) or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return current
    names = exporter_names(env)
    if not names:
        return current
    provider = tracer_provider(service, names, env)
    trace.set_tracer_provider(provider)
    log.info("OpenTelemetry: exporting spans of %s with %s", service, ", ".join(names))
    return trace.get_tracer_provider()


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for (none when it asks for none)."""
    named = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not named:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    return [n for n in named if n != "none"]


def tracer_provider(service: str, exporters: list[str], environ: Mapping[str, str]) -> Any:
    """An SDK tracer provider for ``service`` that sends its spans to ``exporters`` in batches."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigError(f"the environment asks for spans, but the OpenTelemetry SDK is missing: {INSTALL}") from exc
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(span_exporter(name, environ)))
    return provider


def span_exporter(name: str, environ: Mapping[str, str]) -> Any:
    """The exporter ``OTEL_TRACES_EXPORTER`` names; ConfigError naming the choices, or what to install."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r}; agentflux knows otlp, console and none")
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = protocol or "http/protobuf"
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            return Grpc()
        if protocol != "http/protobuf":
            raise ConfigError(f"OTLP protocol {protocol!r} is not supported: use http/protobuf or grpc")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http()
    except ImportError as exc:
        extra = "pip install opentelemetry-exporter-otlp-proto-grpc" if protocol == "grpc" else INSTALL
        raise ConfigError(f"OTLP span export over {protocol} needs its exporter: {extra}") from exc
