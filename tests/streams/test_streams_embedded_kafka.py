"""The embedded engine (Quix Streams) on a real broker: the fixture stream, dead letters, restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka_helpers import committed_offset, wait_until
from streams_fixture import STREAM, encoded, make_job, readings
from streams_support import assert_same_results, collect, create_kept_topic, produce, stop, streams_run

from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.streams.results import result_headers

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def _setup(kafka_bootstrap: str, unique: str) -> tuple[dict[str, str], str, str]:
    source, sink = f"factory.reading-{unique}.v1", f"agent.task-requests.diagnose-{unique}"
    create_kept_topic(kafka_bootstrap, source, partitions=1)
    create_kept_topic(kafka_bootstrap, sink)  # results carry 2023 event times: see create_kept_topic
    env = {"STREAMS_FIXTURE_SOURCE": source, "STREAMS_FIXTURE_SINK": sink, "STREAMS_FIXTURE_NAME": f"eq-{unique}",
           # a killed member's partitions move on after 6 s instead of librdkafka's default 45 s
           "AGENTFLUX_KAFKA_SESSION_TIMEOUT_MS": "6000"}  # fmt: skip
    return env, source, sink


def test_fixture_stream_matches_the_reference_and_bad_records_are_dead_lettered(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    env, source, sink = _setup(kafka_bootstrap, unique)
    records = encoded()
    # a record that is not JSON, and one keyed differently from its machine_id, among the good ones
    records.insert(5, (b"m1", b"not json"))
    records.insert(9, (b"other", records[8][1]))
    produce(kafka_bootstrap, source, records)
    expected = make_job(f"eq-{unique}", source, sink).evaluate(readings()).rows

    with streams_run("streams_fixture:job", kafka_bootstrap, env, "--state-dir", str(tmp_path)) as proc:
        got = collect(kafka_bootstrap, sink, len(expected), timeout=60)
        assert stop(proc) == 0  # SIGTERM: a clean stop

    assert_same_results([r["value"] for r in got], expected)
    for record in got:
        v = record["value"]
        assert record["key"] == v["machine_id"].encode()
        want = result_headers(f"eq-{unique}", sink, v["machine_id"], v["window_start"], v["window_end"])
        assert sorted(record["headers"].items()) == sorted(want)

    letters = collect(
        kafka_bootstrap, DEAD_LETTER_TOPIC, 2, timeout=30, parse=False,
        match=lambda r: r["headers"].get("dlq_source_topic") == source.encode(),
    )  # fmt: skip
    reasons = sorted(r["headers"]["dlq_error_type"].decode() for r in letters)
    assert reasons == ["InvalidMessage", "PayloadDecodeError"]
    assert {r["headers"]["dlq_source_offset"] for r in letters} == {b"5", b"9"}
    assert all(r["headers"]["dlq_group"] == f"agentflux.streams.eq-{unique}".encode() for r in letters)


def test_window_state_survives_a_crash_and_a_lost_state_directory(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    """kill -9 mid-stream, restart with an empty state dir: state comes back from the changelog topic."""
    env, source, sink = _setup(kafka_bootstrap, unique)
    expected = make_job(f"eq-{unique}", source, sink).evaluate(readings()).rows
    first, rest = encoded(STREAM[:12]), encoded(STREAM[12:])
    produce(kafka_bootstrap, source, first)
    with streams_run("streams_fixture:job", kafka_bootstrap, env, "--state-dir", str(tmp_path / "a")) as proc:
        early = collect(kafka_bootstrap, sink, 4, timeout=60, settle=0)
        assert len(early) == 4
        # Quix commits the state changelog and then the source offsets, every 5 s: once the offset after the
        # last record is committed, the restart must take the windows from the changelog, not from a replay.
        group = f"agentflux.streams.eq-{unique}"
        wait_until(
            lambda: committed_offset(kafka_bootstrap, group, source) == len(first), 30, f"{group} to commit"
        )  # fmt: skip
        proc.kill()
        proc.wait(30)
    produce(kafka_bootstrap, source, rest)
    with streams_run("streams_fixture:job", kafka_bootstrap, env, "--state-dir", str(tmp_path / "b")) as proc:
        got = collect(kafka_bootstrap, sink, len(expected), timeout=60)
        assert stop(proc) == 0

    distinct = {r["headers"]["ce_id"]: r for r in got}
    for record in got:  # a window emitted again after the crash is the same record
        assert json.dumps(record["value"]) == json.dumps(distinct[record["headers"]["ce_id"]]["value"])
    assert_same_results([r["value"] for r in distinct.values()], expected)


def test_rekey_regroups_a_topic_not_keyed_by_its_key_field(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    """``rekey=True``: records without keys are grouped by their key field (no dead letters)."""
    source, sink = f"factory.unkeyed-{unique}.v1", f"factory.vibration-window-{unique}.v1"
    create_kept_topic(kafka_bootstrap, source, partitions=1)  # the repartition topic copies its retention
    create_kept_topic(kafka_bootstrap, sink)
    produce(kafka_bootstrap, source, [(None, value) for _key, value in encoded()])
    env = {"STREAMS_FIXTURE_SOURCE": source, "STREAMS_FIXTURE_SINK": sink, "STREAMS_FIXTURE_NAME": f"rk-{unique}",
           "STREAMS_FIXTURE_REKEY": "1"}  # fmt: skip
    expected = make_job(f"rk-{unique}", source, sink).evaluate(readings()).rows
    with streams_run("streams_fixture:job", kafka_bootstrap, env, "--state-dir", str(tmp_path)) as proc:
        got = collect(kafka_bootstrap, sink, len(expected), timeout=60)
        assert stop(proc) == 0
    assert_same_results([r["value"] for r in got], expected)
    assert all(r["key"] == r["value"]["machine_id"].encode() for r in got)
