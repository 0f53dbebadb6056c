"""Find a usable Java and fetch the Apache Kafka jars once, with Maven.

The jars come from Maven Central through the pom kept beside this module
(``kafka-pom.xml``) and are cached per Kafka version under the user's cache
directory (see ``maven.MavenFetch``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from agentflux.contract.errors import LocalKafkaError
from agentflux.local.maven import MavenFetch, Progress

KAFKA_VERSION = "4.1.1"
POM_PATH = Path(__file__).with_name("kafka-pom.xml")
MIN_JAVA = 17
#: Kafka 4.1 is not supported on Java 25 and later, so such a JVM is passed over.
MAX_JAVA = 24
#: Where a Linux box keeps its JDKs; searched after ``JAVA_HOME`` and ``PATH``.
JVM_ROOTS: tuple[Path, ...] = (Path("/usr/lib/jvm"),)

_JAVA_HINT = "install OpenJDK 17 (apt-get install openjdk-17-jre-headless)"
_MVN_HINT = (
    "Maven (mvn) is needed to fetch the Kafka jars: install it (apt-get install maven), "
    "or point agentflux at an existing cluster with AGENTFLUX_BOOTSTRAP_SERVERS"
)
_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$AGENTFLUX_CACHE_DIR``, else ``$XDG_CACHE_HOME/agentflux``, else ``~/.cache/agentflux``."""
    env = os.environ if env is None else env
    if env.get("AGENTFLUX_CACHE_DIR"):
        return Path(env["AGENTFLUX_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "agentflux"


def libs_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the jars of the pinned Kafka version live (fetched or not)."""
    return cache_dir(env) / f"kafka-{KAFKA_VERSION}" / "libs"


def java_version(java: str) -> int | None:
    """The major version reported by ``java -version``, or None when it cannot run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION_RE.search(out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" means Java 8


def _java_candidates(env: Mapping[str, str], jvm_roots: Sequence[Path]) -> list[str]:
    found: list[str] = []
    if env.get("JAVA_HOME"):
        found.append(str(Path(env["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java", path=env.get("PATH", os.defpath))
    if on_path:
        found.append(on_path)
    for root in jvm_roots:
        found.extend(str(p) for p in sorted(root.glob("*/bin/java")))
    return list(dict.fromkeys(found))


def find_java(env: Mapping[str, str] | None = None, jvm_roots: Sequence[Path] | None = None) -> str:
    """Path of a Java between 17 and 24 to run Kafka with.

    Looks at ``$JAVA_HOME`` first, then ``java`` on ``PATH``, then the JDKs
    under ``/usr/lib/jvm``; raises ``LocalKafkaError`` with an install hint.
    """
    env = os.environ if env is None else env
    roots = JVM_ROOTS if jvm_roots is None else jvm_roots
    rejected: list[str] = []
    for java in _java_candidates(env, roots):
        if not os.access(java, os.X_OK):
            continue
        version = java_version(java)
        if version is not None and MIN_JAVA <= version <= MAX_JAVA:
            return java
        rejected.append(f"Java {version if version is not None else '?'} at {java}")
    if rejected:
        raise LocalKafkaError(
            f"Kafka {KAFKA_VERSION} needs Java {MIN_JAVA} to {MAX_JAVA}, found only {', '.join(rejected)}: {_JAVA_HINT}"
        )
    raise LocalKafkaError(f"Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+ and none was found: {_JAVA_HINT}")


def _fetch(env: Mapping[str, str] | None = None) -> MavenFetch:
    return MavenFetch(f"the Kafka {KAFKA_VERSION} jars", POM_PATH, libs_dir(env), _MVN_HINT)


def jars_ready(env: Mapping[str, str] | None = None) -> bool:
    """True when a completed fetch of the current pom is in the cache."""
    return _fetch(env).ready()


def ensure_kafka_jars(progress: Progress | None = None) -> Path:
    """Return the directory holding the Kafka jars, fetching them with Maven once.

    Idempotent: a completed fetch is reused without running Maven (or needing
    it). ``progress`` receives short lines such as ``"downloading kafka-clients-4.1.1.jar"``.
    """
    return _fetch().ensure(find_java, progress)
