"""The embedded schema registry: Java 21+ search, state and failures without a JVM; real starts under ``services``.

The CLI tests that start Kafka too carry ``kafka``. Every process a test starts
is stopped in a ``finally``, so a failing assertion leaves nothing running.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from agentflux.cli.main import main
from agentflux.local import LocalBroker, LocalRegistry, LocalRegistryError, local_registry_url, registry_java
from agentflux.local import registry as registry_module
from agentflux.local import registry_state as rstate

CLI = str(Path(sys.executable).with_name("agentflux"))
AVRO = {"type": "record", "name": "Reading", "fields": [{"name": "machine_id", "type": "string"}]}


def _jdk(root: Path, name: str, version: str | None, reported: str | None = None) -> Path:
    """A fake JDK home: ``release`` says ``version`` (none when None); ``bin/java -version`` says ``reported``."""
    java = root / name / "bin" / "java"
    java.parent.mkdir(parents=True)
    answer = f"echo 'openjdk version \"{reported}\" 2024-01-16' >&2" if reported else "exit 1"
    java.write_text(f"#!/bin/sh\n{answer}\n")
    java.chmod(0o755)
    if version is not None:
        (root / name / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return java


@pytest.fixture
def no_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Java 17 only, everywhere the search looks: JAVA_HOME, PATH and the JVM root (no Maven on PATH)."""
    jvm = tmp_path / "jvm"
    found = {
        "home": _jdk(tmp_path, "home17", "17.0.15"),
        "path": _jdk(tmp_path, "path17", "17.0.15"),
        "root": _jdk(jvm, "jdk17", "17.0.15"),
        "jvm": jvm,
    }
    monkeypatch.delenv(registry_java.ENV_REGISTRY_JAVA, raising=False)
    monkeypatch.setenv("JAVA_HOME", str(found["home"].parent.parent))
    monkeypatch.setenv("PATH", str(found["path"].parent))
    monkeypatch.setattr(registry_java, "JVM_ROOTS", (jvm,))
    return found


def _no_java_message(found: dict[str, Path]) -> str:
    return (
        "the schema registry (Apicurio Registry) needs Java 21+ and none was found; "
        f"looked at AGENTFLUX_REGISTRY_JAVA (unset); JAVA_HOME (Java 17 at {found['home']}); "
        f"java on PATH (Java 17 at {found['path']}); the JDKs under {found['jvm']} (Java 17 at {found['root']}): "
        "install a Java 21+ JDK (for example `apt-get install openjdk-21-jdk-headless`, or Eclipse Temurin 21), "
        "or set AGENTFLUX_REGISTRY_JAVA=/path/to/java, or start Kafka alone with `agentflux up --no-registry`"
    )


def test_no_java_21_says_what_was_searched_and_what_to_install(no_java: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(LocalRegistryError) as caught:
        registry_java.find_registry_java()
    assert str(caught.value) == _no_java_message(no_java)
    # start() looks for Java before fetching anything: no Maven on PATH, yet the error is about Java.
    with pytest.raises(LocalRegistryError) as started:
        LocalRegistry(tmp_path / "registry").start()
    assert str(started.value) == _no_java_message(no_java)


def test_up_without_java_21_starts_nothing(
    no_java: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["up", "--data-dir", str(tmp_path / "kafka")])
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {_no_java_message(no_java)}\n"
    assert not LocalBroker(tmp_path / "kafka").status().running
    assert not (tmp_path / "kafka" / "broker.json").exists()


def test_a_java_named_by_the_environment_must_be_21_or_newer(
    no_java: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java21 = _jdk(tmp_path, "mine21", "21.0.5")
    monkeypatch.setenv(registry_java.ENV_REGISTRY_JAVA, str(java21))
    assert registry_java.find_registry_java() == str(java21)
    monkeypatch.setenv(registry_java.ENV_REGISTRY_JAVA, str(no_java["home"]))
    with pytest.raises(LocalRegistryError) as caught:
        registry_java.find_registry_java()
    assert str(caught.value) == (
        f"the schema registry needs Java 21+, and AGENTFLUX_REGISTRY_JAVA names Java 17 at {no_java['home']}: "
        "point it at the java binary of a Java 21+ JDK, or unset it"
    )


def test_java_home_then_path_then_the_newest_jdk_under_the_jvm_root(
    no_java: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _jdk(no_java["jvm"], "jdk21", "21.0.5")
    newest = _jdk(no_java["jvm"], "temurin-25", "25.0.3")
    assert registry_java.find_registry_java() == str(newest)
    on_path = _jdk(tmp_path, "path22", None, reported="22.0.1")  # no release file: `java -version` tells
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert registry_java.find_registry_java() == str(on_path)
    home = _jdk(tmp_path, "home23", "23")
    monkeypatch.setenv("JAVA_HOME", str(home.parent.parent))
    assert registry_java.find_registry_java() == str(home)


def test_stale_state_file_means_stopped(tmp_path: Path) -> None:
    rstate.write_state(tmp_path, rstate.RegistryState(os.getpid(), 1, "http://127.0.0.1:1/apis/ccompat/v7", "then"))
    status = LocalRegistry(tmp_path).status()
    assert not status.running and status.pid is None and status.url is None
    assert local_registry_url(tmp_path) is None
    assert LocalRegistry(tmp_path).stop() is False  # our own pid is not a registry: no signal sent
    assert rstate.read_state(tmp_path) is None


def _fake_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, java_body: str) -> Path:
    """A registry whose "application" is a shell script posing as a Java 21 (no JVM, no fetch)."""
    java = _jdk(tmp_path, "fake21", "21.0.5")
    java.write_text(f"#!/bin/sh\n{java_body}\n")
    monkeypatch.setenv(registry_java.ENV_REGISTRY_JAVA, str(java))
    monkeypatch.setattr(registry_module, "ensure_registry_app", lambda _say: tmp_path / "app")
    return tmp_path / "data"


def test_a_registry_that_dies_at_startup_shows_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _fake_app(tmp_path, monkeypatch, 'echo "ERROR Failed to start application: database is locked" >&2\nexit 1')
    with pytest.raises(LocalRegistryError) as caught:
        LocalRegistry(data).start(timeout=30)
    log = data / "registry.log"
    assert str(caught.value) == (
        f"Apicurio Registry exited during startup (log: {log}); last lines of {log}:\n"
        "ERROR Failed to start application: database is locked"
    )
    assert not LocalRegistry(data).status().running and rstate.read_state(data) is None


def test_a_registry_that_never_answers_is_stopped_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _fake_app(tmp_path, monkeypatch, 'echo "still starting"\nwhile :; do sleep 0.1; done')
    registry = LocalRegistry(data)
    url = registry.launch()
    pid = registry._pending[0] if registry._pending else -1
    try:
        with pytest.raises(LocalRegistryError) as caught:
            registry.wait_ready(timeout=1)
    finally:
        registry.stop(timeout=5)
    log = data / "registry.log"
    assert str(caught.value) == (
        f"Apicurio Registry did not answer on {url} within 1s (log: {log}); last lines of {log}:\nstill starting"
    )
    assert not rstate.is_registry_process(pid, data)


def test_a_taken_port_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _fake_app(tmp_path, monkeypatch, "exit 1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalRegistryError, match=f"port {port} on 127.0.0.1 is already in use"):
            LocalRegistry(data, port=port).start()


def _client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url})


def _register(url: str, subject: str) -> int:
    with _client(url) as client:
        return int(client.register_schema(subject, Schema(json.dumps(AVRO), "AVRO")))


def _subjects(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/subjects", timeout=10) as response:
        assert response.status == 200
        return list(json.loads(response.read()))


@pytest.mark.services
@pytest.mark.timeout(300)
def test_schemas_survive_stop_and_start(tmp_path: Path, unique: str) -> None:
    registry = LocalRegistry(tmp_path)
    subject = f"test.persist-{unique}.v1-value"
    try:
        url = registry.start()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/apis/ccompat/v7")
        assert local_registry_url(tmp_path) == url and registry.status().running
        assert _subjects(url) == []
        schema_id = _register(url, subject)

        assert registry.stop() is True
        assert local_registry_url(tmp_path) is None and not registry.status().running

        assert registry.start() == url  # the same port as before
        assert _subjects(url) == [subject]
        with _client(url) as client:
            latest = client.get_latest_version(subject)
        assert latest.schema_id == schema_id and json.loads(latest.schema.schema_str) == AVRO
    finally:
        registry.stop()
    assert (tmp_path / "db" / "registry.mv.db").is_file()  # H2 in a file, not in memory
    assert _registry_pids(tmp_path) == []


@pytest.mark.services
@pytest.mark.timeout(300)
def test_session_registry_takes_schemas(schema_registry: str, unique: str) -> None:
    subject = f"test.session-{unique}.v1-value"
    schema_id = _register(schema_registry, subject)
    with _client(schema_registry) as client:
        assert json.loads(client.get_schema(schema_id).schema_str) == AVRO
        assert client.get_latest_version(subject).schema_id == schema_id


def _registry_pids(data_dir: Path) -> list[int]:
    """Every live process whose command line names the registry database of ``data_dir``: none after a stop."""
    arg = f"-Dapicurio.datasource.url={rstate.datasource_url(data_dir)}".encode()
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if arg in cmdline.read_bytes().split(b"\0"):
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue  # gone meanwhile
    return pids


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=240)


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_up_starts_both_down_stops_both_and_schemas_stay(tmp_path: Path, unique: str) -> None:
    data = ["--data-dir", str(tmp_path)]
    try:
        up = _cli("up", *data)
        assert up.returncode == 0, up.stderr
        bootstrap = up.stdout.splitlines()[-1]  # what `agentflux up | tail -1` gives
        url = local_registry_url(tmp_path / "registry")
        assert bootstrap.startswith("127.0.0.1:") and url is not None
        assert f"Apicurio Registry 3.3.3 (schema registry) is up at {url} (pid " in up.stderr
        assert _subjects(url) == []
        schema_id = _register(url, f"test.cli-{unique}.v1-value")
        status = _cli("status", *data).stdout.splitlines()
        assert status[0].startswith("Kafka     running") and bootstrap in status[0]
        assert status[1].startswith("registry  running") and url in status[1]

        down = _cli("down", *data)
        assert down.returncode == 0, down.stderr
        assert down.stdout.splitlines()[0].startswith("stopped Kafka (pid ")
        assert down.stdout.splitlines()[1].startswith("stopped the schema registry (pid ")
        assert local_registry_url(tmp_path / "registry") is None and not LocalBroker(tmp_path).status().running
        assert _registry_pids(tmp_path / "registry") == []
        assert [line.split()[:2] for line in _cli("status", *data).stdout.splitlines()] == [
            ["Kafka", "stopped"],
            ["registry", "stopped"],
        ]

        again = _cli("up", *data)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[-1] == bootstrap and local_registry_url(tmp_path / "registry") == url
        with _client(url) as client:
            assert client.get_latest_version(f"test.cli-{unique}.v1-value").schema_id == schema_id
        assert _cli("down", *data).returncode == 0
    finally:
        LocalRegistry(tmp_path / "registry").stop()
        LocalBroker(tmp_path).stop()


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_up_no_registry_starts_kafka_alone(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    try:
        up = _cli("up", "--no-registry", *data)
        assert up.returncode == 0, up.stderr
        assert LocalBroker(tmp_path).status().running and "Apicurio" not in up.stderr
        assert not (tmp_path / "registry").exists()
        down = _cli("down", *data).stdout.splitlines()
        assert down[0].startswith("stopped Kafka (pid ") and down[1] == "the schema registry was not running"
    finally:
        LocalRegistry(tmp_path / "registry").stop()
        LocalBroker(tmp_path).stop()


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_a_failed_up_leaves_neither_running(tmp_path: Path) -> None:
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            up = _cli("up", "--port", str(port), "--data-dir", str(tmp_path))
        assert up.returncode == 1 and up.stdout == ""
        assert up.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
        # The registry was launched before Kafka failed: it was stopped again.
        assert (tmp_path / "registry" / "registry.log").exists()
        assert local_registry_url(tmp_path / "registry") is None and _registry_pids(tmp_path / "registry") == []
    finally:
        LocalRegistry(tmp_path / "registry").stop()
        LocalBroker(tmp_path).stop()
