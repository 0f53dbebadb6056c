"""The embedded broker: properties, state and CLI without Java; real starts under ``kafka``."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from agentflux.cli.main import app
from agentflux.contract.errors import LocalKafkaError
from agentflux.local import LocalBroker, config, local_bootstrap, state
from agentflux.local.state import BrokerState, default_data_dir


def test_cluster_id_is_16_random_bytes_in_urlsafe_base64() -> None:
    ids = {config.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22 and "=" not in cluster_id and not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_properties_render_and_read_back(tmp_path: Path) -> None:
    props = config.broker_properties(tmp_path, 9092, 9093, {"log.retention.ms": "1000"})
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for topic in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert props[f"{topic}.replication.factor"] == "1"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["log.retention.ms"] == "1000"
    path = tmp_path / "server.properties"
    path.write_text(config.render_properties(props))
    assert config.read_properties(path) == props
    assert config.stored_ports(path) == (9092, 9093)
    assert config.stored_ports(tmp_path / "missing.properties") is None


def test_default_data_dir_precedence() -> None:
    assert default_data_dir({"AGENTFLUX_HOME": "/h", "XDG_DATA_HOME": "/x"}) == Path("/h/kafka")
    assert default_data_dir({"XDG_DATA_HOME": "/x"}) == Path("/x/agentflux/kafka")
    assert default_data_dir({}) == Path.home() / ".local/share/agentflux/kafka"


def test_stale_state_file_means_stopped(tmp_path: Path) -> None:
    state.write_state(tmp_path, BrokerState(os.getpid(), 1, 2, "127.0.0.1:1", "then"))
    status = LocalBroker(tmp_path).status()
    assert not status.running and status.pid is None and status.bootstrap is None
    assert local_bootstrap(tmp_path) is None
    assert LocalBroker(tmp_path).stop() is False  # our own pid is not a broker: no signal sent
    assert state.read_state(tmp_path) is None


def test_port_in_use_is_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalKafkaError) as caught:
            LocalBroker(tmp_path, port=port).start()
    message = str(caught.value)
    assert f"port {port} on 127.0.0.1 is already in use" in message and "\n" not in message


def test_cli_error_is_one_red_line_and_exit_1(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("agentflux")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [str(cli), "up", "--no-registry", "--port", str(port), "--data-dir", str(tmp_path)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_cli_status_when_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFLUX_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"Kafka     stopped  ({tmp_path / 'kafka'})",
        f"registry  stopped  ({tmp_path / 'registry'})",
    ]


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)


def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    producer.produce(topic, value=value, key=b"k")
    assert producer.flush(30) == 0


def _consume_one(bootstrap: str, topic: str, group: str) -> bytes | None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                return msg.value()  # type: ignore[no-any-return]
        return None
    finally:
        consumer.close()


@pytest.mark.kafka
@pytest.mark.timeout(180)
def test_session_broker_round_trip(kafka_bootstrap: str, unique: str) -> None:
    topic = f"test.round-trip-{unique}.v1"
    _create_topic(kafka_bootstrap, topic)
    _produce(kafka_bootstrap, topic, b"hello")
    assert _consume_one(kafka_bootstrap, topic, f"g-{unique}") == b"hello"


@pytest.mark.kafka
@pytest.mark.timeout(180)
def test_record_survives_down_and_up(tmp_path: Path, unique: str) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    up = ["up", "--no-registry", *data]  # the broker alone: tests/local/test_registry.py covers the registry
    try:
        first = runner.invoke(app, up)
        assert first.exit_code == 0, first.output
        bootstrap = first.stdout.strip().splitlines()[-1]
        assert local_bootstrap(tmp_path) == bootstrap
        assert runner.invoke(app, up).stdout.strip().splitlines()[-1] == bootstrap  # idempotent
        topic = f"test.persist-{unique}.v1"
        _create_topic(bootstrap, topic)
        _produce(bootstrap, topic, b"kept")

        down = runner.invoke(app, ["down", *data])
        assert down.exit_code == 0 and down.stdout.startswith("stopped Kafka")
        assert local_bootstrap(tmp_path) is None
        assert "stopped" in runner.invoke(app, ["status", *data]).stdout

        second = runner.invoke(app, up)
        assert second.exit_code == 0, second.output
        assert second.stdout.strip().splitlines()[-1] == bootstrap  # same ports as before
        assert _consume_one(bootstrap, topic, f"g-{unique}") == b"kept"
        assert "running" in runner.invoke(app, ["status", *data]).stdout
    finally:
        LocalBroker(tmp_path).stop()
    assert (tmp_path / "logs" / "server.log").read_text().count("Kafka Server started") == 2


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_broker_that_dies_at_startup_shows_its_log(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, overrides={"authorizer.class.name": "com.example.NoSuchAuthorizer"})
    with pytest.raises(LocalKafkaError) as caught:
        broker.start(timeout=60)
    message = str(caught.value)
    assert message.startswith("Kafka exited during startup")
    assert "ClassNotFoundException: com.example.NoSuchAuthorizer" in message
    assert not broker.status().running and state.read_state(tmp_path) is None


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_invalid_config_fails_with_the_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["up", "--no-registry", "--data-dir", str(tmp_path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    LocalBroker(tmp_path).stop()
    broker = LocalBroker(tmp_path, overrides={"num.io.threads": "zero"})
    with pytest.raises(LocalKafkaError, match=r"Invalid value zero for configuration num\.io\.threads"):
        broker.start(timeout=60)
