"""``LocalRegistry``: the embedded schema registry, Apicurio Registry 3 on a Java 21+.

Like the broker (``broker.LocalBroker``), it runs detached in its own session
until ``stop()`` (``agentflux down``), and everything lives under ``data_dir``:
the H2 database in ``db/`` (a file, so schemas survive a restart),
``registry.properties`` (the settings of the last start, passed to the JVM as
``-D`` flags; its port is reused), ``registry.log`` (the JVM's console) and,
while it runs, ``registry.json``. Clients use the Confluent-compatible API,
``http://127.0.0.1:PORT/apis/ccompat/v7``.

``start()`` is ``launch()`` then ``wait_ready()``: ``agentflux up`` launches
the registry first and waits for it after the broker, so that the two
startups overlap.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from agentflux.local import config, process
from agentflux.local import registry_state as rstate
from agentflux.local.maven import Progress
from agentflux.local.registry_app import APICURIO_VERSION, RUN_JAR, ensure_registry_app
from agentflux.local.registry_java import LocalRegistryError, find_registry_java

#: Small: the registry holds a few schemas for a developer's machine.
JVM_FLAGS = (
    "-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
    # The client compiler alone. Measured on a 2-core machine (Java 25): ready after about
    # 6 s of CPU instead of 10, with 195 MB resident instead of 245; it serves a handful of schemas.
    "-XX:TieredStopAtLevel=1",
)  # fmt: skip
_PORT_KEY = "quarkus.http.port"
_HEADER = "Written by agentflux on every start and passed to the JVM as -D flags; editing it changes only the port."


def settings(data_dir: Path, port: int) -> dict[str, str]:
    """The Apicurio/Quarkus settings of a start (names as in the application's own ``application.properties``)."""
    return {
        "quarkus.http.host": config.HOST,
        _PORT_KEY: str(port),
        # The management interface (health, metrics) is on by default on port 9000: any free port instead.
        "quarkus.management.host": config.HOST,
        "quarkus.management.port": "0",
        # SQL storage (apicurio.storage.kind=sql, sql.kind=h2 are the defaults) in a file instead of in memory.
        "apicurio.datasource.url": rstate.datasource_url(data_dir),
        "apicurio.datasource.jdbc.initial-size": "2",
        "apicurio.datasource.jdbc.min-size": "2",
        "apicurio.datasource.jdbc.max-size": "10",
        # One log line per HTTP request would bury what matters.
        'quarkus.log.category."io.quarkus.http.access-log".level': "WARN",
    }


class LocalRegistry:
    """An Apicurio Registry kept in ``data_dir``, on ``port`` (default: as before, else a free one).

    ``start()`` and ``stop()`` are idempotent; the object is also a context manager.
    """

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self._pending: tuple[int, int, str] | None = None  # (pid, port, url) launched, not yet answering

    @property
    def log_path(self) -> Path:
        return self.data_dir / rstate.LOG_FILE

    @property
    def url(self) -> str | None:
        """The Confluent-compatible URL while the registry runs, else None."""
        return self.status().url

    def status(self) -> rstate.RegistryStatus:
        """Whether the registry of ``data_dir`` runs, with its pid and URL."""
        found = rstate.running_state(self.data_dir)
        if found is None:
            return rstate.RegistryStatus(running=False, data_dir=self.data_dir)
        return rstate.RegistryStatus(True, self.data_dir, found.pid, found.url, found.started_at)

    def start(self, progress: Progress | None = None, timeout: float = 120) -> str:
        """Fetch the application if needed, start it, wait until it answers; return its URL.

        Raises ``LocalRegistryError`` when no Java 21+ is found, the port is
        taken, or with the last lines of ``registry.log`` when it exits or stays silent.
        """
        self.launch(progress)
        return self.wait_ready(timeout)

    def launch(self, progress: Progress | None = None) -> str:
        """Start the registry without waiting for it (see ``wait_ready``); return the URL it will answer on."""
        say = progress or (lambda _msg: None)
        running = rstate.running_state(self.data_dir)
        if running is not None:
            if self.port is not None and self.port != running.port:
                raise LocalRegistryError(
                    f"the schema registry in {self.data_dir} already runs on {running.url}; stop it first"
                )
            return running.url
        if self._pending is not None:
            return self._pending[2]
        rstate.clear_state(self.data_dir)
        java = find_registry_java()  # before a fetch of 158 MB that could not run anyway
        app = ensure_registry_app(say)
        port = self._choose_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = settings(self.data_dir, port)
        (self.data_dir / rstate.SETTINGS_FILE).write_text(config.render_properties(props, _HEADER))
        url = f"http://{config.HOST}:{port}{rstate.CCOMPAT_PATH}"
        say(f"starting Apicurio Registry {APICURIO_VERSION} on {url}")
        argv = [java, *JVM_FLAGS, *(f"-D{key}={value}" for key, value in props.items()), "-jar", str(app / RUN_JAR)]
        pid = process.spawn_detached(argv, self.log_path, cwd=self.data_dir)
        self._pending = (pid, port, url)
        return url

    def wait_ready(self, timeout: float = 120) -> str:
        """Wait until the launched registry answers ``GET /subjects``; return its URL.

        Stops it and raises ``LocalRegistryError`` (pointing at ``registry.log``)
        when it exits or does not answer within ``timeout`` seconds, or when the
        wait is interrupted.
        """
        if self._pending is None:
            running = rstate.running_state(self.data_dir)
            if running is None:
                raise LocalRegistryError(f"the schema registry in {self.data_dir} was not launched")
            return running.url
        pid, port, url = self._pending
        try:
            self._wait_answer(pid, url, timeout)
        except BaseException:
            self._terminate(pid, 5, child=True)
            self._pending = None
            raise
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        rstate.write_state(self.data_dir, rstate.RegistryState(pid, port, url, started_at))
        self._pending = None
        return url

    def stop(self, timeout: float = 30) -> bool:
        """Shut the registry down (SIGTERM; SIGKILL after ``timeout``); False when it was not running.

        The database stays for the next start.
        """
        found = rstate.read_state(self.data_dir)
        stopped = found is not None and self._terminate(found.pid, timeout)
        if self._pending is not None:
            stopped = self._terminate(self._pending[0], timeout, child=True) or stopped
            self._pending = None
        rstate.clear_state(self.data_dir)
        return stopped

    def _choose_port(self) -> int:
        path = self.data_dir / rstate.SETTINGS_FILE
        stored = config.read_properties(path).get(_PORT_KEY) if path.is_file() else None
        port = self.port or (int(stored) if stored and stored.isdigit() else None) or config.free_port()
        if config.port_in_use(port):
            raise LocalRegistryError(
                f"port {port} on {config.HOST} is already in use: stop what listens there "
                "or choose another port for the schema registry (agentflux up --registry-port N)"
            )
        return port

    def _wait_answer(self, pid: int, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not _child_alive(pid):
                raise self._fail(f"Apicurio Registry exited during startup (log: {self.log_path})")
            if _answers(f"{url}/subjects"):
                return
            if time.monotonic() > deadline:
                why = f"Apicurio Registry did not answer on {url} within {timeout:g}s (log: {self.log_path})"
                raise self._fail(why)
            time.sleep(0.2)

    def _fail(self, why: str) -> LocalRegistryError:
        try:
            lines = process.tail_lines(self.log_path.read_text(errors="replace"))
        except OSError:
            lines = []
        tail = "\n".join(lines) if lines else "(nothing in it)"
        return LocalRegistryError(f"{why}; last lines of {self.log_path}:\n{tail}")

    def _terminate(self, pid: int, timeout: float, child: bool = False) -> bool:
        """SIGTERM, then SIGKILL after ``timeout``; False when ``pid`` was not the registry.

        ``child``: a process this object spawned, known by pid alone (until it has
        exec'd Java, its command line is still ours); else the command line must match.
        """

        def alive() -> bool:
            return _child_alive(pid) if child else rstate.is_registry_process(pid, self.data_dir)

        if not alive():
            return False
        with contextlib.suppress(ProcessLookupError):  # it may end on its own meanwhile
            os.kill(pid, signal.SIGTERM)
            if not _wait_gone(alive, timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(alive, 10)
        return True

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _child_alive(pid: int) -> bool:
    """True while our child ``pid`` runs; an exited one is reaped (and then, as any non-child, counts as gone)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0


def _wait_gone(alive: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
