"""The first fetch of the schema registry: Maven, then unpacking, reported as one line updated in place.

A fake ``mvn`` prints what Maven 3.8 prints in batch mode and "copies" a small
tar.gz laid out like Apicurio's (``quarkus-run.jar`` and a ``lib/`` of jars);
a fake ``java`` answers ``-version`` for Maven.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest
from rich.console import Console

from agentflux.cli.local_cmds import fetch_for_setup, fetch_registry_app
from agentflux.local import LocalRegistryError, jars, registry_app, registry_java

ARCHIVE = "apicurio-registry-app-3.3.3-all.tar.gz"
LIBS = 250
FAKE_MVN = r"""#!/bin/sh
echo run >> "$RUNS_FILE"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
done
base=https://repo.maven.apache.org/maven2/io/apicurio/apicurio-registry-app/3.3.3
echo "[INFO] Scanning for projects..."
echo "[INFO] Downloading from central: $base/apicurio-registry-app-3.3.3.pom"
echo "[INFO] Downloaded from central: $base/apicurio-registry-app-3.3.3.pom (31 kB at 142 kB/s)"
echo "[INFO] Downloading from central: $base/ARCHIVE"
echo "[INFO] Downloaded from central: $base/ARCHIVE (159 MB at 40 MB/s)"
/bin/mkdir -p "$out" && /bin/cp "$SOURCE_TGZ" "$out/ARCHIVE"
echo "[INFO] Copying ARCHIVE to $out/ARCHIVE"
echo "[INFO] BUILD SUCCESS"
""".replace("ARCHIVE", ARCHIVE)
READY = re.compile(r"setup: Apicurio Registry 3\.3\.3 ready in (\S+) \(fetched and unpacked in \d+ s\)")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _script(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(body)
    (directory / name).chmod(0o755)


def _archive(path: Path, run_jar: bool = True) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        names = [f"lib/main/lib-{i}.jar" for i in range(LIBS)] + (["quarkus-run.jar"] if run_jar else [])
        for name in names:
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    return path


@pytest.fixture
def fake_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake mvn and Java 17 on an otherwise empty PATH, and an empty cache; returns the file counting mvn's runs."""
    _script(tmp_path / "bin", "mvn", FAKE_MVN)
    _script(tmp_path / "jdk17" / "bin", "java", "#!/bin/sh\necho 'openjdk version \"17.0.15\" 2025-04-15' >&2\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk17"))
    monkeypatch.setenv("AGENTFLUX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCE_TGZ", str(_archive(tmp_path / ARCHIVE)))
    monkeypatch.setenv("RUNS_FILE", str(tmp_path / "runs"))
    monkeypatch.setattr(jars, "JVM_ROOTS", ())
    return tmp_path / "runs"


def test_each_step_is_a_whole_status_line_and_the_archive_goes_once_unpacked(fake_maven: Path) -> None:
    seen: list[str] = []
    app = registry_app.ensure_registry_app(seen.append)
    assert app == registry_app.app_dir() and (app / "quarkus-run.jar").is_file()
    assert seen[:4] == [
        "fetching the Apicurio Registry 3.3.3 archive from Maven Central",
        "fetching the Apicurio Registry 3.3.3 archive: downloading file 1, apicurio-registry-app-3.3.3.pom",
        f"fetching the Apicurio Registry 3.3.3 archive: downloading file 2, {ARCHIVE}",
        f"fetching the Apicurio Registry 3.3.3 archive: copying file 1, {ARCHIVE}",
    ]
    files = LIBS + 1  # the jars and quarkus-run.jar
    assert seen[4:] == [f"unpacking Apicurio Registry 3.3.3: file {n} of {files}" for n in (1, 100, 200, files)]
    assert sorted(p.name for p in registry_app.registry_home().iterdir()) == [".complete", ".unpacked", "app"]

    assert registry_app.ensure_registry_app() == app
    assert fake_maven.read_text().count("run") == 1  # the warm cache did not run mvn again


def test_an_app_gone_from_the_cache_is_fetched_again(fake_maven: Path) -> None:
    app = registry_app.ensure_registry_app()
    for path in sorted(app.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    app.rmdir()
    assert not registry_app.registry_app_ready()
    assert (registry_app.ensure_registry_app() / "quarkus-run.jar").is_file()
    assert fake_maven.read_text().count("run") == 2  # the archive had been deleted: Maven fetched it again


def test_an_archive_without_the_application_is_refused(
    fake_maven: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_TGZ", str(_archive(tmp_path / "other.tar.gz", run_jar=False)))
    with pytest.raises(LocalRegistryError, match=r"holds no quarkus-run\.jar"):
        registry_app.ensure_registry_app()
    assert not registry_app.registry_app_ready() and not registry_app.app_dir().exists()


def test_off_a_terminal_a_fetch_prints_two_lines_and_a_warm_cache_one(fake_maven: Path) -> None:
    out = io.StringIO()
    app = fetch_registry_app(Console(file=out, force_terminal=False, width=80), prefix="setup: ")
    lines = out.getvalue().splitlines()
    assert lines[0] == "setup: fetching Apicurio Registry 3.3.3 (the schema registry) from Maven Central"
    assert READY.fullmatch(lines[1]) and len(lines) == 2, lines

    again = io.StringIO()
    fetch_registry_app(Console(file=again, force_terminal=False, width=80), prefix="setup: ")
    assert again.getvalue() == f"setup: Apicurio Registry 3.3.3 ready in {app}\n"


def test_on_a_terminal_a_fetch_is_one_spinner_line_updated_in_place(fake_maven: Path) -> None:
    out = io.StringIO()
    fetch_registry_app(Console(file=out, force_terminal=True, width=60), prefix="setup: ")
    raw = out.getvalue()
    assert raw.count("\n") <= 2, raw  # the spinner's line, then the final one: no line per step
    frames = [_CONTROL.sub("", f) for f in re.split(r"[\r\n]", raw) if _CONTROL.sub("", f).strip()]
    assert READY.fullmatch(frames[-1].strip()), frames
    assert all(len(frame) <= 60 for frame in frames[:-1]), frames  # status lines are cut, never wrapped


def test_setup_without_java_21_fetches_everything_and_warns(
    fake_maven: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = jars.libs_dir()  # the Kafka jars are already there: this is about the registry
    kafka.mkdir(parents=True)
    (kafka / "kafka-clients-4.1.1.jar").touch()
    (kafka.parent / ".complete").write_text(jars._fetch()._digest() + "\n")
    monkeypatch.delenv(registry_java.ENV_REGISTRY_JAVA, raising=False)
    monkeypatch.setattr(registry_java, "JVM_ROOTS", ())
    out, warnings = io.StringIO(), io.StringIO()
    fetch_for_setup(Console(file=out, width=200), Console(file=warnings, width=200))
    lines = out.getvalue().splitlines()
    assert lines[0] == f"setup: Kafka jars ready in {kafka}" and READY.fullmatch(lines[-1]), lines
    assert warnings.getvalue() == (
        "setup: warning: the schema registry (Apicurio Registry) needs Java 21+ and none was found; "
        f"looked at AGENTFLUX_REGISTRY_JAVA (unset); JAVA_HOME (Java 17 at {tmp_path / 'jdk17' / 'bin' / 'java'}); "
        "java on PATH (none): install a Java 21+ JDK (for example `apt-get install openjdk-21-jdk-headless`, "
        "or Eclipse Temurin 21), or set AGENTFLUX_REGISTRY_JAVA=/path/to/java, "
        "or start Kafka alone with `agentflux up --no-registry`\n"
    )


def test_pinned_version_matches_the_pom() -> None:
    match = re.search(r"<apicurio.version>([^<]+)</apicurio.version>", registry_app.POM_PATH.read_text())
    assert match is not None and match.group(1) == registry_app.APICURIO_VERSION
