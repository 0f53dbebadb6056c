"""``agentflux demo quickstart``: topics of its own, its dead letters accounted for, nothing printed after its summary.

The fast tests check the names; the e2e test runs the command as a user does,
on the session's broker, and reads what it printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the example lives in examples/ beside the package
    sys.path.insert(0, str(REPO))

from agentflux.cli.demo_cmds import DEAD_LETTERS as CLI_DEAD_LETTERS  # noqa: E402
from agentflux.cli.demo_cmds import _dead_letter_note  # noqa: E402
from agentflux.contract.topics import DEAD_LETTER_TOPIC  # noqa: E402
from examples.demo_support import DEAD_LETTERS  # noqa: E402
from examples.quickstart.app import app  # noqa: E402
from examples.quickstart.demo import order  # noqa: E402


def test_the_quickstart_has_topics_of_its_own() -> None:
    assert sorted(app.topics) == [
        "quickstart.order-accepted.v1",
        "quickstart.order-placed.v1",
        "quickstart.order-shipped.v1",
    ]
    assert not any(t.startswith("shop.") for t in app.topics)  # the README's tour uses shop.*
    assert {a.group_id for a in app.agents.values()} == {"quickstart.intake", "quickstart.shipping"}
    assert [order(n).order_id for n in range(20) if order(n).amount <= 0] == ["o-9", "o-19"]  # one in ten


def test_the_summary_says_what_a_run_left_in_the_dead_letter_topic() -> None:
    assert CLI_DEAD_LETTERS == DEAD_LETTERS == f"dead letters left on {DEAD_LETTER_TOPIC}"
    note = _dead_letter_note(4, "one per invalid order, on purpose")
    assert "4 dead letter(s) on agent.dead-letter.v1, one per invalid order, on purpose" in note
    assert "agentflux dlq list" in note
    assert _dead_letter_note(0, "unexpected") == "This run left no dead letters on agent.dead-letter.v1."


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_demo_quickstart_ends_with_its_summary(kafka_bootstrap: str) -> None:
    env = {**os.environ, "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "120"}
    done = subprocess.run(
        [sys.executable, "-m", "agentflux.cli.main", "demo", "quickstart", "--orders", "20"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order it was written
        text=True,
        timeout=150,
    )
    out = done.stdout
    assert done.returncode == 0, out
    assert "shop." not in out
    summary = out[out.index("┃ figure") :]
    for row in (
        "orders placed (quickstart.order-placed.v1) │    20",
        "shipped (quickstart.order-shipped.v1)      │    18",
        "dead letters left on agent.dead-letter.v1  │     2",
        "every order shipped or rejected            │   yes",
    ):
        assert row in summary, summary
    after_table = out[out.rindex("┘") + 1 :].split()
    note = _dead_letter_note(2, "one per invalid order, on purpose (one order in ten is invalid)")
    assert after_table == note.split(), out  # the note, and nothing after it
    assert "%3|" not in out and "Connection refused" not in out  # no raw librdkafka lines
