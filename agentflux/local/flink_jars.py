"""Fetch the jars the Flink engine needs (the Kafka SQL connector) once, with Maven.

Same scheme as the Kafka jars (``jars``): a pom beside this module
(``flink-pom.xml``), a cache directory per connector version under the user's
cache, and a marker holding the pom's digest, written only after Maven succeeded.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from agentflux.contract.errors import LocalKafkaError
from agentflux.local.jars import cache_dir, find_java

#: No ``flink-sql-connector-kafka`` names Flink 2.3 yet; the 2.2 build runs on PyFlink 2.3.0.
CONNECTOR_VERSION = "5.0.0-2.2"
POM_PATH = Path(__file__).with_name("flink-pom.xml")
_MARKER = ".complete"
_LINE = re.compile(r"^\[INFO\] Copying (\S+)|^(?:Downloading|Downloaded) from \S+: (\S+\.jar)$")
_MVN_HINT = "Maven (mvn) is needed to fetch the Flink Kafka connector: install it (apt-get install maven)"

Progress = Callable[[str], None]


def flink_libs_dir() -> Path:
    return cache_dir() / f"flink-connectors-{CONNECTOR_VERSION}" / "libs"


def _digest() -> str:
    return hashlib.sha256(POM_PATH.read_bytes()).hexdigest()


def flink_jars_ready() -> bool:
    marker = flink_libs_dir().parent / _MARKER
    return marker.is_file() and marker.read_text().strip() == _digest()


def connector_jars() -> list[Path]:
    return sorted(flink_libs_dir().glob("*.jar"))


def _fetch(mvn: str, java: str, out_dir: Path, progress: Progress | None) -> None:
    cmd = [
        mvn, "-B", "-Dstyle.color=never", "-f", str(POM_PATH), "dependency:copy-dependencies",
        f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime", "-DexcludeTransitive=true",
    ]  # fmt: skip
    env = {**os.environ, "JAVA_HOME": str(Path(java).resolve().parent.parent)}
    tail: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            tail = [*tail[-40:], line]
            match = _LINE.match(line)
            if match and progress is not None:
                progress(
                    ("copying " if match.group(1) else "downloading ")
                    + (match.group(1) or match.group(2)).rsplit("/", 1)[-1]
                )
    if proc.returncode != 0:
        errors = [ln.removeprefix("[ERROR]").strip() for ln in tail if ln.startswith("[ERROR]")]
        reason = next((e for e in errors if e), tail[-1] if tail else "no output")
        raise LocalKafkaError(f"mvn could not fetch the Flink Kafka connector {CONNECTOR_VERSION}: {reason}")


def ensure_flink_jars(progress: Progress | None = None) -> list[Path]:
    """The connector jars, fetched with Maven on first use; later calls need neither Maven nor the network."""
    libs = flink_libs_dir()
    if flink_jars_ready():
        return connector_jars()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError(_MVN_HINT)
    java = find_java()
    if progress is not None:
        progress(f"fetching flink-sql-connector-kafka {CONNECTOR_VERSION} from Maven Central")
    home = libs.parent
    home.mkdir(parents=True, exist_ok=True)
    (home / _MARKER).unlink(missing_ok=True)
    partial = home / f"libs.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _fetch(mvn, java, partial, progress)
        if not any(partial.glob("*.jar")):
            raise LocalKafkaError(f"mvn finished but copied no jar into {partial}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    (home / _MARKER).write_text(_digest() + "\n")
    return connector_jars()
