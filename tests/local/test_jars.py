"""Finding Java and fetching the Kafka jars, with fake ``java``/``mvn`` scripts on a private PATH."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentflux.contract.errors import LocalKafkaError
from agentflux.local import jars

FAKE_MVN = r"""#!/bin/sh
# Fake mvn: counts its runs, fails while $FAIL_FILE exists, else "copies" one jar.
echo run >> "$RUNS_FILE"
echo "Downloading from central: https://repo.maven.apache.org/maven2/x/kafka-clients-4.1.1.jar"
if [ -e "$FAIL_FILE" ]; then echo "[ERROR] Could not resolve dependencies: network is down"; exit 1; fi
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
done
/bin/mkdir -p "$out" && : > "$out/kafka-clients-4.1.1.jar"
echo "[INFO] Copying kafka-clients-4.1.1.jar to $out/kafka-clients-4.1.1.jar"
"""


def _script(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body)
    path.chmod(0o755)
    return path


def _fake_java(home: Path, version: str) -> Path:
    body = f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-01' >&2\n"
    return _script(home / "bin", "java", body)


@pytest.fixture
def bare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH and cache, no JAVA_HOME and no /usr/lib/jvm; returns the PATH directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("AGENTFLUX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(jars, "JVM_ROOTS", ())
    return bin_dir


def test_missing_mvn_names_the_package_and_the_alternative(bare_env: Path) -> None:
    with pytest.raises(LocalKafkaError) as caught:
        jars.ensure_kafka_jars()
    assert str(caught.value) == (
        "Maven (mvn) is needed to fetch the Kafka jars: install it (apt-get install maven), "
        "or point agentflux at an existing cluster with AGENTFLUX_BOOTSTRAP_SERVERS"
    )


def test_missing_java_says_to_install_openjdk_17(bare_env: Path) -> None:
    _script(bare_env, "mvn", "#!/bin/sh\nexit 99\n")
    with pytest.raises(LocalKafkaError) as caught:
        jars.ensure_kafka_jars()
    message = str(caught.value)
    assert message == (
        "Kafka 4.1.1 needs Java 17+ and none was found: install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
    )


def test_old_java_in_java_home_is_named(bare_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = _fake_java(tmp_path / "jdk11", "11.0.2")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk11"))
    with pytest.raises(LocalKafkaError) as caught:
        jars.find_java()
    assert str(caught.value) == (
        f"Kafka 4.1.1 needs Java 17 to 24, found only Java 11 at {java}: "
        "install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
    )
    assert "\n" not in str(caught.value)


def test_java_25_is_passed_over_for_a_supported_one(
    bare_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_java(tmp_path / "jdk25", "25")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk25"))
    java17 = _fake_java(tmp_path / "jdk17", "17.0.15")
    monkeypatch.setenv("PATH", str(java17.parent))
    assert jars.find_java() == str(java17)


@pytest.mark.parametrize(("reported", "major"), [("1.8.0_292", 8), ("17.0.15", 17), ("21", 21)])
def test_java_version_parsing(tmp_path: Path, reported: str, major: int) -> None:
    assert jars.java_version(str(_fake_java(tmp_path, reported))) == major


def test_java_version_of_something_that_cannot_run(tmp_path: Path) -> None:
    assert jars.java_version(str(tmp_path / "nope")) is None


def test_cache_dir_precedence(tmp_path: Path) -> None:
    assert jars.cache_dir({"AGENTFLUX_CACHE_DIR": "/a", "XDG_CACHE_HOME": "/b"}) == Path("/a")
    assert jars.cache_dir({"XDG_CACHE_HOME": "/b"}) == Path("/b/agentflux")
    assert jars.cache_dir({}) == Path.home() / ".cache" / "agentflux"
    assert jars.libs_dir({"AGENTFLUX_CACHE_DIR": "/a"}) == Path("/a/kafka-4.1.1/libs")


def test_pinned_version_matches_the_pom() -> None:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", jars.POM_PATH.read_text())
    assert match is not None and match.group(1) == jars.KAFKA_VERSION


def test_fetch_reports_progress_is_idempotent_and_redone_after_a_failure(
    bare_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(bare_env, "mvn", FAKE_MVN)
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk17", "17.0.15").parent.parent))
    runs, fail = tmp_path / "runs", tmp_path / "fail"
    monkeypatch.setenv("RUNS_FILE", str(runs))
    monkeypatch.setenv("FAIL_FILE", str(fail))

    fail.touch()
    with pytest.raises(LocalKafkaError, match="network is down"):
        jars.ensure_kafka_jars()
    assert not jars.jars_ready()

    fail.unlink()
    seen: list[str] = []
    libs = jars.ensure_kafka_jars(seen.append)
    assert libs == tmp_path / "cache" / "kafka-4.1.1" / "libs"
    assert (libs / "kafka-clients-4.1.1.jar").is_file()
    assert "fetching the Kafka 4.1.1 jars: downloading file 1, kafka-clients-4.1.1.jar" in seen
    assert "fetching the Kafka 4.1.1 jars: copying jar 1, kafka-clients-4.1.1.jar" in seen
    assert sorted(p.name for p in libs.parent.iterdir()) == [".complete", "libs"]

    assert jars.ensure_kafka_jars() == libs
    assert runs.read_text().count("run") == 2  # the warm cache did not run mvn again
