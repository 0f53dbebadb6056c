"""``agentflux dlq list | show ID | redrive ID``: inspect and re-send dead letters."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.runtime.deadletter import DeadLetter, read_dead_letters, redrive
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

dlq = typer.Typer(no_args_is_help=True, help="Inspect and re-send records in the dead-letter topic.")
_out = Console()
_err = Console(stderr=True)
Bootstrap = Annotated[str | None, typer.Option("--bootstrap-servers", "-b", envvar="AGENTFLUX_BOOTSTRAP_SERVERS")]


async def _with_transport(bootstrap: str | None, work):  # type: ignore[no-untyped-def]
    transport = KafkaTransport(KafkaSettings.resolve(bootstrap))
    await transport.start()
    try:
        return await work(transport)
    finally:
        await transport.close()


def _load(bootstrap: str | None) -> list[DeadLetter]:
    with _err.status(f"reading {DEAD_LETTER_TOPIC} ..."):
        return asyncio.run(_with_transport(bootstrap, read_dead_letters))


@dlq.command("list")
def list_(
    bootstrap: Bootstrap = None, limit: Annotated[int, typer.Option(min=1, help="Show the newest N")] = 50
) -> None:
    """List dead letters by when they failed, newest last; a redriven one says where it went."""
    letters = _load(bootstrap)
    table = Table("id", "source", "group", "attempts", "error", "failed at", "redriven")
    for letter in letters[-limit:]:
        i = letter.info
        table.add_row(
            letter.id,
            f"{i.get('source_topic')}/{i.get('source_partition')}/{i.get('source_offset')}",
            i.get("group", ""),
            i.get("attempts", ""),
            f"{i.get('error_type')}: {i.get('error_message', '')[:80]}",
            i.get("failed_at", ""),
            ", ".join(f"-> {to}" for to in letter.redriven_to),
        )
    _out.print(table)
    _err.print(f"{len(letters)} dead letter(s) in {DEAD_LETTER_TOPIC}")


def _find(letters: list[DeadLetter], letter_id: str) -> DeadLetter:
    for letter in letters:
        if letter.id == letter_id:
            return letter
    raise ConfigError(f"no dead letter {letter_id!r}; ids are partition:offset as `agentflux dlq list` shows")


@dlq.command()
def show(letter_id: Annotated[str, typer.Argument(help="partition:offset")], bootstrap: Bootstrap = None) -> None:
    """Show one dead letter: why it failed, its headers and its value."""
    letter = _find(_load(bootstrap), letter_id)
    record = letter.record
    value = (record.value or b"").decode("utf-8", "replace")
    body = {
        "id": letter.id,
        "key": (record.key or b"").decode("utf-8", "replace"),
        "failure": letter.info,
        "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in letter.original_headers()},
        "value": value,
    }
    _out.print_json(json.dumps(body))


@dlq.command("redrive")
def redrive_cmd(
    letter_id: Annotated[str, typer.Argument(help="partition:offset")], bootstrap: Bootstrap = None
) -> None:
    """Re-publish a dead letter, unchanged, to the topic it came from."""

    async def work(transport: KafkaTransport) -> str:
        letter = _find(await read_dead_letters(transport), letter_id)
        ack = await redrive(transport, letter)
        return f"redrove {letter.id} to {ack.topic}/{ack.partition}/{ack.offset}"

    with _err.status("redriving ..."):
        _out.print(asyncio.run(_with_transport(bootstrap, work)))
