"""The code blocks of README.md and docs/*.md, and what each one is, so that a test can run them as written.

A fenced block's info string is its language, then attributes (GitHub shows only the language):

- ````` ```python ````` whose first line is ``# name.py``: a file the reader creates; later blocks use it.
  Any other python block is a script, run with ``python``.
- ````` ```toml ````` whose first line is ``# name.toml``: a file, as above.
- ````` ```bash `````: commands, run with ``bash -e`` in the reader's directory. Attributes:
  ``background`` (the reader runs it in a second terminal: it runs until the document ends;
  with ``ready=WORD``, the reader waits until it has printed WORD),
  ``checkout`` (run from the root of the agentflux checkout, where ``examples`` lives),
  ``covered-by=PATH`` (too long to run here: the test, script or benchmark at PATH runs the
  same thing; the docs test checks that PATH exists and names every subcommand of the block),
  ``production`` (needs a production cluster: only its syntax is checked).
- ````` ```text output `````: what the shell block just above printed. Each line must match a
  line of that output (in any order: records of several partitions come in any order);
  ``…`` stands for any text.
- ````` ```text ````` and ````` ```json `````: data and diagrams, not run (JSON must parse).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FILE_LINE = re.compile(r"^# ([\w./-]+\.(?:py|toml))\s*$")
LANGUAGES = {"python", "bash", "toml", "text", "json"}
ATTRIBUTES = {"background", "ready", "checkout", "production", "output", "covered-by"}


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    language: str
    text: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """The file this block is, when its first line names one (``# shop.py``)."""
        first = self.text.splitlines()[0] if self.text else ""
        match = FILE_LINE.match(first)
        return match.group(1) if match and self.language in ("python", "toml") else None

    def commands(self) -> list[list[str]]:
        """The block's commands as argument lists, without comments (continuation lines joined)."""
        joined = self.text.replace("\\\n", " ")
        return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def blocks_of(document: Path) -> list[Block]:
    found: list[Block] = []
    lines = document.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("```"):
            i += 1
            continue
        info = line[3:].split()
        start = i + 1
        i = start
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        language = info[0] if info else ""
        attributes = dict(a.split("=", 1) if "=" in a else (a, "") for a in info[1:])
        found.append(Block(document, start, language, "\n".join(lines[start:i]) + "\n", attributes))
        i += 1
    return found


def problems(block: Block) -> list[str]:
    """What makes a block unrunnable as written, before running it (empty when nothing does)."""
    if block.language not in LANGUAGES:
        return [f"{block.where}: a block needs a language of {sorted(LANGUAGES)}, got {block.language!r}"]
    unknown = set(block.attributes) - ATTRIBUTES
    if unknown:
        return [f"{block.where}: unknown attributes {sorted(unknown)}"]
    if block.language == "python":
        try:
            compile(block.text, block.where, "exec")
        except SyntaxError as exc:
            return [f"{block.where}: python does not compile: {exc}"]
    if block.language == "json":
        import json

        try:
            json.loads(block.text)
        except ValueError as exc:
            return [f"{block.where}: JSON does not parse: {exc}"]
    if "covered-by" in block.attributes:
        covering = ROOT / block.attributes["covered-by"]
        if not covering.is_file():
            return [f"{block.where}: covered-by names no file: {covering}"]
        source = covering.read_text()
        missing = [word for cmd in block.commands() for word in cmd if _named(word) and word not in source]
        if missing:
            return [f"{block.where}: {covering.relative_to(ROOT)} does not run {missing}"]
    return []


def _named(word: str) -> bool:
    """Words a covering test must name: subcommands and option values, not the program, options, paths or numbers."""
    return word[:1].isalpha() and "/" not in word and word not in ("agentflux", "python")
