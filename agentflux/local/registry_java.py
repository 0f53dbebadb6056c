"""Find a Java 21+ to run the embedded schema registry (Apicurio Registry) with.

Kafka runs on Java 17 to 24 (``jars.find_java``); Apicurio Registry 3 is built
for Java 21 and fails on 17 with "class file version 65", so it gets its own
search. The order, first match wins:

1. ``$AGENTFLUX_REGISTRY_JAVA``, the path of a ``java`` binary: when set it
   must be a Java 21+, else that is the error (an explicit choice is not
   silently passed over);
2. ``$JAVA_HOME/bin/java``;
3. ``java`` on ``PATH``;
4. the newest JDK under ``/usr/lib/jvm``.

A JDK's version comes from the ``release`` file of its home, else from ``java -version``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from agentflux.contract.errors import LocalKafkaError
from agentflux.local.jars import JVM_ROOTS, java_version

ENV_REGISTRY_JAVA = "AGENTFLUX_REGISTRY_JAVA"
MIN_JAVA = 21
INSTALL_HINT = (
    "install a Java 21+ JDK (for example `apt-get install openjdk-21-jdk-headless`, or Eclipse Temurin 21), "
    f"or set {ENV_REGISTRY_JAVA}=/path/to/java, or start Kafka alone with `agentflux up --no-registry`"
)
_RELEASE_RE = re.compile(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', re.MULTILINE)


class LocalRegistryError(LocalKafkaError):
    """The embedded schema registry could not be fetched or started (no Java 21+, a dead process, ...).

    A ``LocalKafkaError``, so whatever handles the embedded infrastructure's errors handles it too.
    """


def jdk_version(java: str) -> int | None:
    """The major Java version of the ``java`` binary: its JDK's ``release`` file, else ``java -version``."""
    release = Path(java).resolve().parent.parent / "release"
    try:
        match = _RELEASE_RE.search(release.read_text(errors="replace"))
    except OSError:
        match = None
    if match is None:
        return java_version(java)
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" means Java 8


def _usable(java: str) -> int | None:
    """The version of ``java`` when it is an executable Java 21+, else None."""
    if not os.access(java, os.X_OK):
        return None
    version = jdk_version(java)
    return version if version is not None and version >= MIN_JAVA else None


def _describe(java: str) -> str:
    if not os.access(java, os.X_OK):
        return f"no executable {java}"
    version = jdk_version(java)
    return f"Java {version if version is not None else '?'} at {java}"


def find_registry_java(env: Mapping[str, str] | None = None, jvm_roots: Sequence[Path] | None = None) -> str:
    """Path of a Java 21+ ``java`` binary; raises ``LocalRegistryError`` saying what was searched."""
    env = os.environ if env is None else env
    roots = JVM_ROOTS if jvm_roots is None else jvm_roots
    chosen = env.get(ENV_REGISTRY_JAVA)
    if chosen:
        if _usable(chosen):
            return chosen
        raise LocalRegistryError(
            f"the schema registry needs Java {MIN_JAVA}+, and {ENV_REGISTRY_JAVA} names {_describe(chosen)}: "
            f"point it at the java binary of a Java {MIN_JAVA}+ JDK, or unset it"
        )
    looked: list[str] = [f"{ENV_REGISTRY_JAVA} (unset)"]
    home = env.get("JAVA_HOME")
    if home:
        java = str(Path(home) / "bin" / "java")
        if _usable(java):
            return java
        looked.append(f"JAVA_HOME ({_describe(java)})")
    else:
        looked.append("JAVA_HOME (unset)")
    on_path = shutil.which("java", path=env.get("PATH", os.defpath))
    if on_path and _usable(on_path):
        return on_path
    looked.append(f"java on PATH ({_describe(on_path) if on_path else 'none'})")
    for root in roots:
        found = [(_usable(str(java)), str(java)) for java in sorted(root.glob("*/bin/java"))]
        usable = [(version, java) for version, java in found if version is not None]
        if usable:
            return max(usable)[1]
        seen = ", ".join(_describe(java) for _, java in found) or "none"
        looked.append(f"the JDKs under {root} ({seen})")
    raise LocalRegistryError(
        f"the schema registry (Apicurio Registry) needs Java {MIN_JAVA}+ and none was found; "
        f"looked at {'; '.join(looked)}: {INSTALL_HINT}"
    )
