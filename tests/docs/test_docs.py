"""Every code block of README.md and docs/*.md runs as written (see ``blocks.py`` for the conventions)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from doc_blocks import DOCUMENTS, ROOT, Block, blocks_of, problems
from doc_session import Session

RUNNABLE = [d for d in DOCUMENTS if any(_b.language in ("bash", "python") for _b in blocks_of(d))]


def test_every_block_is_well_formed() -> None:
    found = [p for d in DOCUMENTS for b in blocks_of(d) for p in problems(b)]
    assert not found, "\n".join(found)


def test_every_output_block_follows_a_shell_block() -> None:
    for document in DOCUMENTS:
        previous: Block | None = None
        for block in blocks_of(document):
            if "output" in block.attributes:
                assert previous is not None and previous.language in ("bash", "python"), block.where
            previous = block


@pytest.mark.kafka
@pytest.mark.timeout(600)
@pytest.mark.parametrize("document", RUNNABLE, ids=[str(d.relative_to(ROOT)) for d in RUNNABLE])
def test_the_document_runs_as_written(document: Path, tmp_path: Path) -> None:
    session = Session(tmp_path)
    try:
        for block in blocks_of(document):
            session.run(block)
        session.import_unused_modules()
    finally:
        session.close()
