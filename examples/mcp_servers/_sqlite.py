"""SQLite as the example servers use it: write-ahead log, one kept connection per thread.

The MCP SDK runs synchronous tools on worker threads, so a connection belongs to
one thread; it is opened on the thread's first call and kept, which saves the
open (and, in WAL mode, the checkpoint that closing the last connection runs)
on every call. Several server processes may share one file (each agent process
starts its own servers): the write-ahead log lets their reads go on while one
of them writes, and ``BEGIN IMMEDIATE`` makes writers queue for the lock
(``timeout`` seconds at most) instead of failing halfway.

Durability is ``synchronous=NORMAL``: a committed transaction survives the
server being killed (``kill -9``), which is what at-least-once delivery needs
of a tool (the agent commits its Kafka offset only after the tool answered),
but the last transactions before a power loss or an OS crash may roll back, as
acknowledged records of an unreplicated Kafka broker, which does not fsync
each one either, may be lost. ``FULL`` (``--synchronous full`` on the servers)
syncs the log at every commit instead; on a virtual disk that costs about a
millisecond per write, and writes to one file queue for it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

T = TypeVar("T")

SYNCHRONOUS = ("normal", "full")
_local = threading.local()
_settings = {"synchronous": "normal"}


def configure(*, synchronous: str) -> None:
    """How every connection opened from now on syncs its commits: ``normal`` or ``full``."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
    _settings["synchronous"] = synchronous


def prepare(path: Path, schema: str) -> None:
    """Create ``schema``'s tables in ``path`` and switch the file to the write-ahead log (a lasting setting)."""
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
    finally:
        db.close()


def connection(path: Path) -> sqlite3.Connection:
    """This thread's connection to ``path``, opened on first use and kept."""
    conns: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("conns", {})
    db = conns.get(path)
    if db is None:
        db = sqlite3.connect(path, timeout=10, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA synchronous={_settings['synchronous'].upper()}")
        conns[path] = db
    return db


@contextmanager
def transaction(path: Path, *, write: bool) -> Iterator[sqlite3.Connection]:
    """One transaction on this thread's connection: ``write`` takes the write lock at once, else a snapshot read."""
    db = connection(path)
    db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def each_apart(
    db: sqlite3.Connection, items: Iterable[T], apply: Callable[[T], dict[str, Any]]
) -> list[dict[str, Any]]:
    """``apply`` each item in a savepoint of its own: the answers of a batch tool, one per item, in order.

    An item whose ``apply`` raises ``ToolError`` changes nothing (its savepoint
    is rolled back) and answers ``{"error": message}``; the others stand. What
    stands is committed with the transaction ``db`` is in, all at once.
    """
    answers: list[dict[str, Any]] = []
    for item in items:
        db.execute("SAVEPOINT item")
        try:
            answers.append(apply(item))
        except ToolError as exc:
            db.execute("ROLLBACK TO item")
            answers.append({"error": str(exc)})
        db.execute("RELEASE item")
    return answers
