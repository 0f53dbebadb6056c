"""A first fetch of the Kafka jars reports as one line updated in place, not one line per jar.

A fake ``mvn`` prints what Maven 3.8 prints in batch mode for 46 jars (a
download and a copy each); a fake ``java`` answers ``-version``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from agentflux.cli.local_cmds import fetch_kafka_jars
from agentflux.local import jars

JARS = 46
FAKE_MVN = r"""#!/bin/sh
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
done
/bin/mkdir -p "$out"
echo "[INFO] Scanning for projects..."
i=1
while [ $i -le JARS ]; do
  url="https://repo.maven.apache.org/maven2/org/example/lib-$i/1.0/lib-$i-1.0.jar"
  echo "[INFO] Downloading from central: $url"
  echo "[INFO] Downloaded from central: $url (12 kB at 80 kB/s)"
  i=$((i + 1))
done
i=1
while [ $i -le JARS ]; do
  : > "$out/lib-$i-1.0.jar"
  echo "[INFO] Copying lib-$i-1.0.jar to $out/lib-$i-1.0.jar"
  i=$((i + 1))
done
echo "[INFO] BUILD SUCCESS"
""".replace("JARS", str(JARS))
READY = re.compile(r"setup: Kafka jars ready in (\S+) \(46 jars fetched in \d+ s\)")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _script(directory: Path, name: str, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(body)
    (directory / name).chmod(0o755)


@pytest.fixture
def fake_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake mvn and Java 17 on an otherwise empty PATH, and an empty cache; returns the cache's libs dir."""
    _script(tmp_path / "bin", "mvn", FAKE_MVN)
    _script(tmp_path / "jdk17" / "bin", "java", "#!/bin/sh\necho 'openjdk version \"17.0.15\" 2025-04-15' >&2\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk17"))
    monkeypatch.setenv("AGENTFLUX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(jars, "JVM_ROOTS", ())
    return tmp_path / "cache" / "kafka-4.1.1" / "libs"


def test_each_step_is_a_whole_status_line_with_a_count(fake_maven: Path) -> None:
    seen: list[str] = []
    jars.ensure_kafka_jars(seen.append)
    assert seen[0] == "fetching the Kafka 4.1.1 jars from Maven Central"
    assert seen[1] == "fetching the Kafka 4.1.1 jars: downloading file 1, lib-1-1.0.jar"
    assert seen[-1] == "fetching the Kafka 4.1.1 jars: copying jar 46, lib-46-1.0.jar"
    assert len(seen) == 1 + 2 * JARS  # "Downloaded" lines add nothing


def test_off_a_terminal_a_fetch_prints_two_lines_and_a_warm_cache_one(fake_maven: Path) -> None:
    out = io.StringIO()
    libs = fetch_kafka_jars(Console(file=out, force_terminal=False, width=80), prefix="setup: ")
    assert libs == fake_maven
    lines = out.getvalue().splitlines()
    assert lines[0] == "setup: fetching the Kafka 4.1.1 jars from Maven Central"
    assert READY.fullmatch(lines[1]) and len(lines) == 2, lines

    again = io.StringIO()
    fetch_kafka_jars(Console(file=again, force_terminal=False, width=80), prefix="setup: ")
    assert again.getvalue() == f"setup: Kafka jars ready in {fake_maven}\n"


def test_on_a_terminal_a_fetch_is_one_spinner_line_updated_in_place(fake_maven: Path) -> None:
    out = io.StringIO()
    fetch_kafka_jars(Console(file=out, force_terminal=True, width=60), prefix="setup: ")
    raw = out.getvalue()
    assert raw.count("\n") <= 2, raw  # the spinner's line, then the final one: no line per jar
    frames = [_CONTROL.sub("", f) for f in re.split(r"[\r\n]", raw) if _CONTROL.sub("", f).strip()]
    assert READY.fullmatch(frames[-1].strip()), frames
    assert all(len(frame) <= 60 for frame in frames[:-1]), frames  # status lines are cut, never wrapped
