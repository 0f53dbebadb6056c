"""``agentflux dlq list | show ID | redrive ID``: inspect and re-send dead letters.

``--source TOPIC`` narrows ``list`` to the letters that came from one topic, and
makes ``redrive`` send back every letter of that topic not redriven yet (what
one does once the cause of a run of failures is fixed), so neither needs an id.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agentflux.cli.options import Bootstrap, with_transport
from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.ops.deadletters import DeadLetter, read_dead_letters, redrive
from agentflux.transport.kafka import KafkaTransport

dlq = typer.Typer(no_args_is_help=True, help="Inspect and re-send records in the dead-letter topic.")
_out = Console()
_err = Console(stderr=True)
Source = Annotated[str | None, typer.Option("--source", help="Only the letters that came from this topic")]


def _load(bootstrap: str | None) -> list[DeadLetter]:
    with _err.status(f"reading {DEAD_LETTER_TOPIC} ..."):
        return asyncio.run(with_transport(bootstrap, read_dead_letters))


@dlq.command("list")
def list_(
    bootstrap: Bootstrap = None,
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N")] = 50,
    source: Source = None,
) -> None:
    """List dead letters by when they failed, newest last; a redriven one says where it went."""
    letters = [d for d in _load(bootstrap) if source is None or d.source_topic == source]
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
    _err.print(f"{len(letters)} dead letter(s) in {DEAD_LETTER_TOPIC}" + (f" from {source}" if source else ""))


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
    letter_id: Annotated[str | None, typer.Argument(help="partition:offset")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Instead of an id: every letter of this topic not redriven yet")
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Re-publish a dead letter (or all of one topic's), unchanged, to the topic it came from."""
    if (letter_id is None) == (source is None):
        raise typer.BadParameter("give a letter id or --source TOPIC, not both", param_hint="LETTER_ID")

    async def work(transport: KafkaTransport) -> list[str]:
        letters = await read_dead_letters(transport)
        if letter_id is not None:
            chosen = [_find(letters, letter_id)]
        else:
            chosen = [d for d in letters if d.source_topic == source and not d.redriven_to]
        lines = []
        for letter in chosen:
            ack = await redrive(transport, letter)
            lines.append(f"redrove {letter.id} to {ack.topic}/{ack.partition}/{ack.offset}")
        return lines or [f"no dead letter from {source} left to redrive"]

    with _err.status("redriving ..."):
        for line in asyncio.run(with_transport(bootstrap, work)):
            _out.print(line)
