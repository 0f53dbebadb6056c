"""Nothing a producer can write stops an agent: hostile records on event and task topics become dead letters.

The worker is a real ``agentflux run`` process; records are produced to its
topics as any client with write access could, and the test checks after each
one that the process is still up and has committed past the record (so it was
handled or dead-lettered, and the partition goes on).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka_helpers import agent_processes, committed_offset, create_topic, dead_letters_of, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
APP = "tests/faults/apps/hostile_app.py:app"
DEEP = b"[" * 100_000  # 100 KB of '[': recursed into, it crashed the JSON decoder
HEADER_NAMES = [
    "ce_id", "ce_specversion", "ce_source", "ce_type", "ce_time", "content-type", "ce_correlationid",
    "ce_causationid", "traceparent", "tracestate", "ce_taskid", "ce_replyto", "a2a_message", "a2a_turn",
]  # fmt: skip
NASTY_VALUES = [
    DEEP, b'{"order_id":' * 3000, b"\xff\xfe\x00", b"null", b"[]", b'{"order_id": "o", "amount": 1e999}',
    b'{"order_id": "o", "amount": NaN}', b'{"order_id": "o", "amount": 1}', b'"\\ud800"', b"9" * 5000,
]  # fmt: skip
NASTY_HEADERS = [
    b"", b"1.0", b"2.0", b"agentflux.task.cancel", b"not-a-time", b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",
    b"agent.task-results.x/1", b"agent.task-results.nope/99999", b"\xc3\x28", b"x" * 10_000,
]  # fmt: skip

headers = st.lists(
    st.tuples(
        st.sampled_from(HEADER_NAMES) | st.text(max_size=12),
        st.none() | st.sampled_from(NASTY_HEADERS) | st.binary(max_size=40),
    ),
    max_size=6,
)
values = st.none() | st.sampled_from(NASTY_VALUES) | st.binary(max_size=300)
keys = st.none() | st.binary(max_size=20)


class Topics:
    def __init__(self, bootstrap: str, unique: str) -> None:
        self.bootstrap = bootstrap
        self.app = f"hostile-{unique}"
        self.by_group = {
            f"hostile.order-{unique}.v1": f"{self.app}.reader",
            f"hostile.anything-{unique}.v1": f"{self.app}.reader",
            f"agent.task-requests.price-{unique}": f"{self.app}.worker.tasks",
        }
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.max.bytes": 2_000_000})

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, Any]]) -> int:
        landed: list[int] = []
        self._producer.produce(topic, value, key, headers=headers, on_delivery=lambda e, m: landed.append(m.offset()))
        assert self._producer.flush(30) == 0 and landed
        return landed[0]

    def wait_passed(self, topic: str, offset: int, proc: Any) -> None:
        group = self.by_group[topic]
        wait_until(
            lambda: proc.poll() is not None or committed_offset(self.bootstrap, group, topic, 0) > offset,
            30, f"{group} to commit past {topic}@{offset}",
        )  # fmt: skip
        assert proc.poll() is None, f"the worker exited with {proc.returncode}"


def test_hostile_records_become_dead_letters_and_the_worker_stays_up(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    topics = Topics(kafka_bootstrap, unique)
    for topic in topics.by_group:
        create_topic(kafka_bootstrap, topic, 1, {"max.message.bytes": "2000000"})
    model_topic, json_topic, _task_topic = topics.by_group
    env = {
        "AGENTFLUX_BOOTSTRAP_SERVERS": kafka_bootstrap, "T_APP": topics.app, "T_LOG": str(tmp_path / "log"),
        "T_MODEL_TOPIC": model_topic, "T_JSON_TOPIC": json_topic, "T_SKILL": f"price-{unique}",
    }  # fmt: skip
    with agent_processes() as start:
        proc = start(APP, env)
        for topic in topics.by_group:  # the exact crash that was reported, on every kind of topic
            topics.wait_passed(topic, topics.send(topic, b"k", DEEP, []), proc)

        @settings(
            max_examples=45,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.generate],
        )
        @given(st.sampled_from(list(topics.by_group)), keys, values, headers)
        def survives(topic: str, key: bytes | None, value: bytes | None, hdrs: list[tuple[str, Any]]) -> None:
            topics.wait_passed(topic, topics.send(topic, key, value, hdrs), proc)

        survives()
        good = b'{"order_id": "o-1", "amount": 3.5}'
        topics.wait_passed(model_topic, topics.send(model_topic, b"o-1", good, []), proc)
        assert proc.poll() is None
    letters = {t: asyncio.run(dead_letters_of(kafka_bootstrap, t)) for t in topics.by_group}
    for topic in topics.by_group:  # the 100 KB of '[' was refused with its reason on each topic
        deep = [d for d in letters[topic] if d.record.value == DEEP and not d.original_headers()]
        assert deep and all("recursion limit" in d.info["error_message"] for d in deep), topic
    log = (tmp_path / "log").read_text()
    assert f"{model_topic}/0/" in log.splitlines()[-1]  # the good order after all of it was handled
    print(f"\nhostile records: {sum(map(len, letters.values()))} dead letters; worker up at {time.strftime('%X')}")
