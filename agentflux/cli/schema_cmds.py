"""``agentflux schema check|register|list|show|diff``: an app's payload models against the schema registry.

``check APP`` is the CI gate: it compares every model of every registry-format
topic of the app (declared ``types``, else its handlers' models) with the
subject's latest version and exits 1 naming the topic, the field and the rule
a change breaks, the same message an agent refuses to start with. ``register
APP`` registers them (setting the rule on new subjects first), refusing the
incompatible ones. ``list``, ``show SUBJECT`` and ``diff APP`` read the registry.

The registry is ``--registry URL``, else ``AGENTFLUX_SCHEMA_REGISTRY_URL``, else
the app's ``schema_registry_url``, else the one ``agentflux up`` started.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from agentflux.cli.loading import load_object
from agentflux.contract import compat
from agentflux.contract.errors import ConfigError, SchemaIncompatible
from agentflux.contract.payloads import Payloads, schema_of
from agentflux.contract.registry import Registry, env_registry_config
from agentflux.contract.schemas import TopicFormat
from agentflux.runtime.declarations import AgentApp

schema = typer.Typer(help="Check and register an app's payload schemas in the schema registry.", no_args_is_help=True)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")

AppRef = Annotated[str, typer.Argument(help="The app, as module:attribute (e.g. examples.ecommerce_pricing.app:app)")]
RegistryUrl = Annotated[
    str | None,
    typer.Option("--registry", envvar="AGENTFLUX_SCHEMA_REGISTRY_URL", help="Schema registry URL (ccompat API)"),
]


def _registry(url: str | None, app: AgentApp | None = None) -> Registry:
    url = url or (app.schema_registry_url if app is not None else None) or _embedded()
    if not url:
        raise ConfigError(
            "no schema registry: start one with `agentflux up`, or give --registry URL "
            "(or set AGENTFLUX_SCHEMA_REGISTRY_URL)"
        )
    return Registry(url, {k: v for k, v in env_registry_config().items() if k != "url"})


def _embedded() -> str | None:
    try:
        from agentflux.local import local_registry_url
    except ImportError:
        return None
    found: str | None = local_registry_url()
    return found


def _with_registry(registry: Registry, work: Callable[[Registry], Awaitable[T]]) -> T:
    async def run() -> T:
        try:
            return await work(registry)
        finally:
            await registry.close()

    return asyncio.run(run())


def _models(app: AgentApp) -> list[tuple[TopicFormat, Any]]:
    pairs = [(app.format_of(t), m) for t in app.schema_topics() for m in app.format_of(t).types]
    if not pairs:
        raise ConfigError(
            f"app {app.name!r} has no topic in a registry format with a model: declare one with "
            "app.topic(name, format='avro', types=[Model]) or AgentApp(..., format='avro')"
        )
    return pairs


async def _verdicts(registry: Registry, app: AgentApp) -> list[compat.Verdict]:
    return [await compat.check(registry, fmt, model) for fmt, model in _models(app)]


@schema.command("check")
def check(app_ref: AppRef, registry: RegistryUrl = None) -> None:
    """Compare the app's models with the registry; exit 1 naming each topic, field and rule a change breaks."""
    app = load_object(app_ref, AgentApp)
    verdicts = _with_registry(_registry(registry, app), lambda r: _verdicts(r, app))
    for verdict in verdicts:
        mark = "ok  " if verdict.ok else "FAIL"
        _out.print(f"{mark} {escape(verdict.message())}")
    broken = [v for v in verdicts if not v.ok]
    if broken:
        _err.print(f"error: {len(broken)} of {len(verdicts)} models break their subject's compatibility rule")
        for verdict in broken:
            _err.print(escape(verdict.message()))
        raise typer.Exit(1)


@schema.command("register")
def register(app_ref: AppRef, registry: RegistryUrl = None) -> None:
    """Register the app's models under their subjects (new subjects get the topic's rule first)."""
    app = load_object(app_ref, AgentApp)

    async def work(reg: Registry) -> list[str]:
        payloads = Payloads(app.format_of, reg)
        lines = []
        for fmt, model in _models(app):
            verdict = await compat.check(reg, fmt, model)
            if not verdict.ok:
                raise SchemaIncompatible(verdict.message())
            await payloads.prepare_subject(fmt, model)
            schema_id = await reg.register(fmt.subject(model), schema_of(fmt, model))
            latest = await reg.latest(fmt.subject(model))
            version = latest.version if latest is not None else "?"
            lines.append(f"{fmt.topic}: {model.__name__} → {fmt.subject(model)} version {version} (id {schema_id})")
        return lines

    for line in _with_registry(_registry(registry, app), work):
        _out.print(escape(line))


@schema.command("list")
def list_subjects(registry: RegistryUrl = None) -> None:
    """Every subject in the registry, with its latest version and compatibility rule."""

    async def work(reg: Registry) -> list[str]:
        lines = []
        for subject in sorted(await reg.subjects()):
            latest = await reg.latest(subject)
            rule = await reg.compatibility(subject) or "(registry default)"
            version = latest.version if latest is not None else "-"
            kind = (latest.schema.schema_type or "AVRO") if latest is not None else "-"
            lines.append(f"{subject}  version {version}  {kind}  {rule}")
        return lines

    lines = _with_registry(_registry(registry), work)
    for line in lines or ["(no subjects)"]:
        _out.print(escape(line))


@schema.command("show")
def show(
    subject: Annotated[str, typer.Argument(help="A subject, e.g. ecommerce.price-changed.v1-value")],
    version: Annotated[int | None, typer.Option("--version", help="A version number (default: the latest)")] = None,
    registry: RegistryUrl = None,
) -> None:
    """Print one version of a subject's schema."""

    async def work(reg: Registry) -> Any:
        found = await reg.version(subject, version if version is not None else "latest")
        return found

    found = _with_registry(_registry(registry), work)
    kind = found.schema.schema_type or "AVRO"
    _out.print(f"{subject} version {found.version} (id {found.schema_id}, {kind})")
    try:
        text = json.dumps(json.loads(found.schema.schema_str or ""), indent=2)
    except ValueError:
        text = found.schema.schema_str or ""
    _out.print(escape(text))


@schema.command("diff")
def diff(app_ref: AppRef, registry: RegistryUrl = None) -> None:
    """Field by field, how each of the app's models differs from its subject's latest version."""
    app = load_object(app_ref, AgentApp)

    async def work(reg: Registry) -> list[str]:
        lines = []
        for fmt, model in _models(app):
            subject = fmt.subject(model)
            latest = await reg.latest(subject)
            new = schema_of(fmt, model).schema_str
            if latest is None:
                lines.append(f"{fmt.topic}: {subject} has no versions; {model.__name__} would be version 1")
                continue
            changes = compat.field_changes(fmt.format, latest.schema.schema_str or "{}", new)
            head = f"{fmt.topic}: {subject} version {latest.version} → {model.__name__}"
            lines.append(head + ("" if changes else ": no field changes"))
            lines.extend(f"  {change}" for change in changes)
        return lines

    for line in _with_registry(_registry(registry, app), work):
        _out.print(escape(line))
