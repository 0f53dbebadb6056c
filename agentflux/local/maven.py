"""Fetching jars once with Maven, from a pom kept in the package, into the user's cache.

A marker holding the pom's digest is written only after Maven succeeded, so an
interrupted fetch, or a changed pom, is simply done again. Maven copies into a
``libs.partial-*`` directory that replaces ``libs`` only when complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentflux.contract.errors import LocalKafkaError

#: Receives one complete status line per step, e.g. "fetching the Kafka 4.1.1 jars: copying jar 12, x.jar",
#: meant to replace the previous one in place (a spinner), not to be printed one per line.
Progress = Callable[[str], None]
_MARKER = ".complete"
# Maven 3.8 in batch mode prefixes transfers with "[INFO] ", older ones did not.
_LINE = re.compile(r"^\[INFO\] Copying (\S+)|^(?:\[INFO\] )?Downloading from \S+: (\S+)")


@dataclass(frozen=True)
class MavenFetch:
    """``mvn dependency:copy-dependencies`` of ``pom`` into ``libs``, done once.

    ``expect`` is a glob of the files a complete fetch holds (at least one).
    """

    what: str  # for messages: "the Kafka 4.1.1 jars"
    pom: Path
    libs: Path
    mvn_hint: str
    extra_args: tuple[str, ...] = ()
    expect: str = "*.jar"

    def _digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes()).hexdigest()

    def ready(self) -> bool:
        """True when a completed fetch of the current pom is in the cache."""
        marker = self.libs.parent / _MARKER
        return marker.is_file() and marker.read_text().strip() == self._digest()

    def forget(self) -> None:
        """Mark the fetch as not done, so that the next ``ensure`` runs Maven again."""
        (self.libs.parent / _MARKER).unlink(missing_ok=True)

    def ensure(self, java: Callable[[], str], progress: Progress | None = None) -> Path:
        """The ``libs`` directory, fetched first if needed; later calls need neither Maven nor the network."""
        if self.ready():
            return self.libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(self.mvn_hint)
        java_path = java()
        if progress is not None:
            progress(f"fetching {self.what} from Maven Central")
        home = self.libs.parent
        home.mkdir(parents=True, exist_ok=True)
        (home / _MARKER).unlink(missing_ok=True)
        partial = home / f"libs.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            self._run(mvn, java_path, partial, progress)
            if not any(partial.glob(self.expect)):
                raise LocalKafkaError(f"mvn finished but copied no {self.expect} of {self.what} into {partial}")
            shutil.rmtree(self.libs, ignore_errors=True)
            partial.rename(self.libs)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        (home / _MARKER).write_text(self._digest() + "\n")
        return self.libs

    def _run(self, mvn: str, java: str, out_dir: Path, progress: Progress | None) -> None:
        cmd = [
            mvn, "-B", "-Dstyle.color=never", "-f", str(self.pom), "dependency:copy-dependencies",
            f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime", *self.extra_args,
        ]  # fmt: skip
        env = {**os.environ, "JAVA_HOME": str(Path(java).resolve().parent.parent)}
        tail: list[str] = []
        counts: dict[str, int] = {}
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env
        ) as proc:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip()
                tail = [*tail[-40:], line]
                step = _step(line)
                if progress is not None and step is not None:
                    verb, name, unit = step
                    counts[verb] = counts.get(verb, 0) + 1
                    progress(f"fetching {self.what}: {verb} {unit} {counts[verb]}, {name}")
        if proc.returncode != 0:
            errors = [e for e in (ln.removeprefix("[ERROR]").strip() for ln in tail if ln.startswith("[ERROR]")) if e]
            reason = errors[0] if errors else (tail[-1] if tail else "no output")
            raise LocalKafkaError(f"mvn could not fetch {self.what}: {reason}")


def _step(line: str) -> tuple[str, str, str] | None:
    """``(verb, file name, unit)`` of a Maven line that starts a copy or a download, else None."""
    match = _LINE.match(line)
    if match is None:
        return None
    if match.group(1):
        return "copying", match.group(1), "jar" if match.group(1).endswith(".jar") else "file"
    return "downloading", match.group(2).rsplit("/", 1)[-1], "file"
