"""Payload formats (issue: schemas): json, avro and json-schema, each as a ratio to plain JSON in one run.

1. Encode + decode cost per record, in µs, on the runtime's own path: for a
   ``json`` topic ``codec.encode`` / ``codec.decode`` (what the publisher and
   the event processor call), for ``avro`` and ``json-schema``
   ``Payloads.encode_now`` / ``Payloads.decode_now``, awaiting
   ``Payloads.encode`` / ``Payloads.decode`` when they answer ``LATER`` (as
   the publisher and the event processor do), through a real schema registry
   (its answers cached after the first record, as in an agent). 1,000
   different price-changed records are cycled through; ``--rounds`` rounds of
   ``--iterations`` each, the formats in a different order each round, after a
   warm-up. A figure is the median of the rounds.
2. Handler throughput on real Kafka: an agentflux app whose handler takes the
   model, fed ``--records`` pre-encoded records on a topic of its own per
   format, on 1 and on 6 partitions (as ``bench_runtime.py``); records/s from
   the first record handled to the last, the best of ``--repeat`` runs, the
   formats one after another in each, a different one first in each run. Target: avro costs no more than JSON end
   to end, i.e. its handler throughput is at least JSON's. Beside it, the
   process's CPU time per record over the same span (all its threads; the
   lowest of the runs), which a busy machine disturbs less than the rate.

Kafka is ``AGENTFLUX_BENCH_BOOTSTRAP`` or a broker started for the run; the
registry is ``AGENTFLUX_BENCH_REGISTRY`` (a Confluent-compatible URL) or an
Apicurio Registry started for the run and stopped at the end.

    cd bench && ../.venv/bin/python bench_formats.py [--records 100000] [--repeat 3] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from common import add_run_options, broker, create_topic, fill, parse_loads, schema_registry, stop_on_sigterm
from pydantic import BaseModel
from report import Figure, figure, number, write_figures
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentflux import AgentApp, AppRunner, Context
from agentflux.contract import codec
from agentflux.contract.payloads import LATER, Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import Format, TopicFormat
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

QUICK = {"records": 30_000, "repeat": 2, "rounds": 3, "iterations": 5_000}
FORMATS: tuple[Format, ...] = ("json", "avro", "json-schema")
PARTITIONS = (1, 6)
DISTINCT = 1000  # different records cycled through, so no cache sees one value only


class PriceChanged(BaseModel):
    """The seed's price-changed record, with the time of the change (seconds since the epoch)."""

    product_id: str
    old_price: float
    new_price: float
    source_agent: str
    correlation_id: str
    timestamp: float


def records() -> list[PriceChanged]:
    return [
        PriceChanged(
            product_id=f"sku-{n:06d}",
            old_price=round(10 + n * 0.37, 2),
            new_price=round(9.5 + n * 0.35, 2),
            source_agent="competitor-monitor",
            correlation_id=str(uuid.UUID(int=n * 7919 + 1)),
            timestamp=1_764_000_000.0 + n * 0.25,
        )
        for n in range(DISTINCT)
    ]


def payloads(fmt: Format, registry: Registry) -> Payloads:
    return Payloads(lambda topic: TopicFormat(topic, fmt, (PriceChanged,)), registry)


# -- 1. encode + decode per record ------------------------------------------------------------------

Path = tuple[Callable[[Any], Any], Callable[[Any], Any] | None]  # the plain call; the one awaited after LATER


def registry_paths(found: Payloads, topic: str) -> tuple[Path, Path]:
    """The encode and decode paths of ``topic``, each one call deep, as the JSON ones are (no partial's cost)."""

    def encode_now(model: PriceChanged) -> Any:
        return found.encode_now(topic, model)

    async def encode(model: PriceChanged) -> bytes:
        return await found.encode(topic, model)

    def decode_now(value: bytes) -> Any:
        return found.decode_now(topic, value, PriceChanged)

    async def decode(value: bytes) -> Any:
        return await found.decode(topic, value, PriceChanged)

    return (encode_now, encode), (decode_now, decode)


async def codec_costs(
    registry_url: str, rounds: int, iterations: int, advance: Callable[[], None]
) -> dict[str, dict[str, float]]:
    """Format → {"encode", "decode"}: µs per record, the median over ``rounds``."""
    models = records()
    registry = Registry(registry_url)
    prefix = f"bench.formats-codec-{uuid.uuid4().hex[:6]}"
    try:
        encoders: dict[str, Path] = {"json": (codec.encode, None)}
        decoders: dict[str, Path] = {"json": (lambda value: codec.decode(value, PriceChanged), None)}
        for fmt in FORMATS[1:]:  # as the publisher and the event processor call them: no await unless LATER
            topic, found = f"{prefix}-{fmt}.v1", payloads(fmt, registry)
            encoders[fmt], decoders[fmt] = registry_paths(found, topic)
        values = {fmt: [await _call(encoders[fmt], m) for m in models] for fmt in FORMATS}
        for fmt in FORMATS:  # the decoded records are the encoded ones
            assert [await _call(decoders[fmt], v) for v in values[fmt]] == models, fmt
        await _time_round(encoders, decoders, values, models, list(FORMATS), iterations // 5)  # warm-up
        samples: dict[str, dict[str, list[float]]] = {fmt: {"encode": [], "decode": []} for fmt in FORMATS}
        for n in range(rounds):
            order = list(FORMATS[n % 3 :] + FORMATS[: n % 3])
            for fmt, (enc, dec) in (await _time_round(encoders, decoders, values, models, order, iterations)).items():
                samples[fmt]["encode"].append(enc)
                samples[fmt]["decode"].append(dec)
            advance()
    finally:
        await registry.close()
    return {fmt: {op: statistics.median(s) for op, s in ops.items()} for fmt, ops in samples.items()}


async def _call(path: Path, arg: Any) -> Any:
    now, later = path
    out = now(arg)
    return await later(arg) if out is LATER and later is not None else out


async def _time_round(
    encoders: dict[str, Path],
    decoders: dict[str, Path],
    values: dict[str, list[bytes]],
    models: list[PriceChanged],
    order: list[str],
    iterations: int,
) -> dict[str, tuple[float, float]]:
    """Format → (encode, decode) µs per record over ``iterations`` records each."""
    out = {}
    for fmt in order:
        (encode, encode_later), (decode, decode_later), encoded = encoders[fmt], decoders[fmt], values[fmt]
        began = time.perf_counter()
        for n in range(iterations):  # as the runtime calls them: the plain function, awaiting only after LATER
            if encode(models[n % DISTINCT]) is LATER:
                await encode_later(models[n % DISTINCT])  # type: ignore[misc]
        middle = time.perf_counter()
        for n in range(iterations):
            if decode(encoded[n % DISTINCT]) is LATER:
                await decode_later(encoded[n % DISTINCT])  # type: ignore[misc]
        ended = time.perf_counter()
        out[fmt] = ((middle - began) / iterations * 1e6, (ended - middle) / iterations * 1e6)
    return out


# -- 2. handler throughput on Kafka -----------------------------------------------------------------


async def encoded_values(fmt: Format, registry_url: str, topic: str) -> list[bytes]:
    """The records as ``topic``'s values: registers the schema under the topic's subject, as a producer would."""
    if fmt == "json":
        return [codec.encode(m) for m in records()]
    registry = Registry(registry_url)
    try:
        found = payloads(fmt, registry)
        return [await found.encode(topic, m) for m in records()]
    finally:
        await registry.close()


async def handler_rate(
    bootstrap: str, registry_url: str, fmt: Format, topic: str, partitions: int, count: int
) -> tuple[float, float]:
    """Records/s from the first record handled to the last, and the process's CPU µs per record meanwhile."""
    app = AgentApp(f"bench-{uuid.uuid4().hex[:8]}", format=fmt, schema_registry_url=registry_url)
    app.topic(topic, partitions=partitions, types=[PriceChanged])
    agent = app.agent("sink", concurrency=64)
    seen = 0
    first = last = first_cpu = last_cpu = 0.0
    done = asyncio.Event()

    @agent.on(topic)
    async def on_record(event: PriceChanged, ctx: Context) -> None:
        nonlocal seen, first, last, first_cpu, last_cpu
        if not seen:
            first, first_cpu = time.perf_counter(), time.process_time()
        seen += 1
        if seen == count:
            last, last_cpu = time.perf_counter(), time.process_time()
            done.set()

    async with AppRunner(app, KafkaTransport(KafkaSettings(bootstrap))):
        await asyncio.wait_for(done.wait(), 300)
    return count / (last - first), (last_cpu - first_cpu) / count * 1e6


Rates = dict[int, dict[str, float]]  # partitions → format → a figure


def throughput(
    bootstrap: str, registry_url: str, count: int, repeat: int, say: Callable[[str], None], advance: Callable[[], None]
) -> tuple[Rates, Rates]:
    """Records/s (the best of ``repeat`` runs) and CPU µs per record (the lowest), each run on a topic of its own.

    A run handles each format in turn, starting with a different one each run (json, avro,
    json-schema; then avro first; ...), so slow moments of a shared machine fall on all of them alike.
    """
    rates: Rates = {p: {fmt: 0.0 for fmt in FORMATS} for p in PARTITIONS}
    cpu: Rates = {p: {fmt: float("inf") for fmt in FORMATS} for p in PARTITIONS}
    for partitions in PARTITIONS:
        for run in range(repeat):
            for fmt in FORMATS[run % 3 :] + FORMATS[: run % 3]:
                what = f"{fmt} handler, {partitions} partition{'s' if partitions > 1 else ''}, run {run + 1}/{repeat}"
                say(f"{what}: producing {count:,} records")
                topic = f"bench.formats-{fmt}-p{partitions}-{uuid.uuid4().hex[:6]}.v1"
                create_topic(bootstrap, topic, partitions)
                fill(bootstrap, topic, count, asyncio.run(encoded_values(fmt, registry_url, topic)), spinner=False)
                say(f"{what}: handling {count:,} records")
                rate, used = asyncio.run(handler_rate(bootstrap, registry_url, fmt, topic, partitions, count))
                rates[partitions][fmt] = max(rates[partitions][fmt], rate)
                cpu[partitions][fmt] = min(cpu[partitions][fmt], used)
                advance()
    return rates, cpu


# -- the figures ------------------------------------------------------------------------------------


def figures(costs: dict[str, dict[str, float]], rates: Rates, cpu: Rates, args: argparse.Namespace) -> list[Figure]:
    """The figures for ``--json``: avro and json-schema, each against JSON's from the same run."""
    codec_load = (
        f"{args.rounds} rounds of {args.iterations:,} encodes and {args.iterations:,} decodes per format "
        f"(median), a 6-field price-changed model, {DISTINCT:,} different records cycled"
    )
    runs = f"best of {args.repeat} run{'s' if args.repeat > 1 else ''}" if args.repeat > 1 else "1 run"
    handler_load = (
        f"{args.records:,} pre-encoded price-changed records per format on 1,000 keys, {runs}, formats in turn"
    )
    out = []
    json_cost = costs["json"]["encode"] + costs["json"]["decode"]
    for fmt in FORMATS[1:]:
        cost = costs[fmt]["encode"] + costs[fmt]["decode"]
        out.append(
            figure(
                f"{fmt}: encode + decode per record",
                cost,
                "µs",
                target="none (the cost)",
                met=None,
                baseline="json: codec.encode + codec.decode",
                baseline_value=json_cost,
                load=codec_load,
            )
        )
    for partitions in PARTITIONS:
        where = f"{partitions} partition{'s' if partitions > 1 else ''}"
        for fmt in FORMATS[1:]:
            avro = fmt == "avro"
            rate, json_rate = rates[partitions][fmt], rates[partitions]["json"]
            out.append(
                figure(
                    f"{fmt}: handler throughput, {where}",
                    rate,
                    "rec/s",
                    target="≥ json's (avro ≤ json end to end)" if avro else "none (compared)",
                    met=rate >= json_rate if avro else None,
                    baseline="json handler",
                    baseline_value=json_rate,
                    load=handler_load,
                )
            )
        for fmt in FORMATS[1:]:
            out.append(
                figure(
                    f"{fmt}: handler CPU per record, {where}",
                    cpu[partitions][fmt],
                    "µs",
                    target="none (the cost)",
                    met=None,
                    baseline="json handler",
                    baseline_value=cpu[partitions]["json"],
                    load=handler_load,
                )
            )
    return out


def table(costs: dict[str, dict[str, float]], rates: Rates, cpu: Rates) -> Table:
    """Every figure of the run, each with its ratio to JSON's."""
    out = Table("per record / per second", *FORMATS, *(f"{fmt} / json" for fmt in FORMATS[1:]))
    rows: list[tuple[str, dict[str, float]]] = [
        ("encode, µs", {f: costs[f]["encode"] for f in FORMATS}),
        ("decode, µs", {f: costs[f]["decode"] for f in FORMATS}),
        ("encode + decode, µs", {f: costs[f]["encode"] + costs[f]["decode"] for f in FORMATS}),
    ]
    for p in PARTITIONS:
        where = f"{p} partition{'s' if p > 1 else ''}"
        rows += [(f"handler, {where}, rec/s", rates[p]), (f"handler CPU, {where}, µs", cpu[p])]
    for name, values in rows:
        ratios = (f"{values[f] / values['json']:.2f}x" for f in FORMATS[1:])
        out.add_row(name, *(number(values[f]) for f in FORMATS), *ratios)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per format and partition count")
    parser.add_argument("--repeat", type=int, default=3, help="handler runs per format and partition count (best)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of encode + decode timing")
    parser.add_argument("--iterations", type=int, default=20_000, help="encodes and decodes per format and round")
    add_run_options(parser, QUICK)
    args = parse_loads(parser, QUICK)
    stop_on_sigterm()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task("starting", total=2 + args.rounds + len(PARTITIONS) * args.repeat * len(FORMATS))

        def say(msg: str) -> None:
            progress.update(bar, description=msg)

        def advance() -> None:
            progress.advance(bar)

        with schema_registry(progress=lambda msg: say(f"schema registry: {msg}")) as registry_url:
            advance()
            with broker(progress=lambda msg: say(f"broker: {msg}")) as bootstrap:
                advance()
                say(f"encode + decode per record: {args.rounds} rounds")
                costs = asyncio.run(codec_costs(registry_url, args.rounds, args.iterations, advance))
                rates, cpu = throughput(bootstrap, registry_url, args.records, args.repeat, say, advance)
    Console(width=None if sys.stdout.isatty() else 160).print(table(costs, rates, cpu))
    found = figures(costs, rates, cpu, args)
    for fig in found:
        if fig["met"] is not None:
            print(f"{fig['figure']}: {fig['ratio']:.2f}x json ({'met' if fig['met'] else 'missed'}: {fig['target']})")
    write_figures(args.json, found)


if __name__ == "__main__":
    main()
