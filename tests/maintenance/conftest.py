"""The maintenance example lives in ``examples/`` beside the package: make it importable under plain ``pytest``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from examples.mcp_servers import maintenance_db  # noqa: E402


@pytest.fixture
def maintenance_db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh, seeded maintenance database that the server's tool functions use in this process."""
    path = tmp_path / "maintenance.sqlite"
    maintenance_db.init_db(path)
    monkeypatch.setattr(maintenance_db, "_db_path", path)
    yield path
