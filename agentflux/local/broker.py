"""``LocalBroker``: one real Apache Kafka node (KRaft, broker and controller in one JVM).

The broker runs detached in its own session, so it outlives the process that
started it (``agentflux up``) until ``stop()`` (``agentflux down``). Everything
lives under ``data_dir``: ``server.properties``, the Kafka log in ``data/``,
``broker.log`` (console: warnings, errors, JVM output), ``logs/server.log``
and, while it runs, ``broker.json``.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from agentflux.contract.errors import LocalKafkaError
from agentflux.local import config, process, state
from agentflux.local.jars import KAFKA_VERSION, ensure_kafka_jars, find_java

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

Progress = Callable[[str], None]


class LocalBroker:
    """A single-node Kafka broker kept in ``data_dir``.

    ``port``/``controller_port`` default to the ports of an earlier start in
    the same ``data_dir`` (so clients and the stored log agree), else to free
    ports. ``overrides`` are extra or replacement ``server.properties`` entries.
    ``start()`` and ``stop()`` are idempotent; the object is also a context manager.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        *,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.controller_port = controller_port
        self.overrides = dict(overrides or {})

    @property
    def properties_path(self) -> Path:
        return self.data_dir / state.PROPERTIES_FILE

    @property
    def bootstrap(self) -> str | None:
        """``127.0.0.1:PORT`` while the broker runs, else None."""
        return self.status().bootstrap

    def status(self) -> state.BrokerStatus:
        """Whether the broker of ``data_dir`` runs, with its pid and address."""
        found = state.running_state(self.data_dir)
        if found is None:
            return state.BrokerStatus(running=False, data_dir=self.data_dir)
        return state.BrokerStatus(True, self.data_dir, found.pid, found.bootstrap, found.started_at)

    def start(self, progress: Progress | None = None, timeout: float = 60) -> str:
        """Fetch the jars if needed, format the storage once, start, wait until it answers.

        Returns the bootstrap address. Raises ``LocalKafkaError`` when a port is
        taken, or with the broker's last log lines when it exits or stays silent.
        """
        say = progress or (lambda _msg: None)
        running = state.running_state(self.data_dir)
        if running is not None:
            if self.port is not None and self.port != running.port:
                raise LocalKafkaError(
                    f"the broker in {self.data_dir} already runs on {running.bootstrap}; stop it first"
                )
            return running.bootstrap
        state.clear_state(self.data_dir)
        port, controller_port = self._choose_ports()
        java = find_java()
        libs = ensure_kafka_jars(say)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = config.broker_properties(self.data_dir, port, controller_port, self.overrides)
        self.properties_path.write_text(config.render_properties(props))
        if not (Path(props["log.dirs"]) / "meta.properties").exists():
            say("formatting the Kafka storage")
            process.format_storage(java, libs, self.data_dir, self.properties_path, config.new_cluster_id())
        bootstrap = f"{config.HOST}:{port}"
        say(f"starting Kafka {KAFKA_VERSION} on {bootstrap}")
        pid = process.spawn_broker(java, libs, self.data_dir, self.properties_path)
        self._wait_ready(pid, port, timeout)
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        state.write_state(self.data_dir, state.BrokerState(pid, port, controller_port, bootstrap, started_at))
        return bootstrap

    def stop(self, timeout: float = 30) -> bool:
        """Shut the broker down cleanly (SIGTERM; SIGKILL after ``timeout``).

        Returns False when it was not running. The data stays for the next start.
        """
        found = state.read_state(self.data_dir)
        was_running = found is not None and self._terminate(found.pid, timeout)
        state.clear_state(self.data_dir)
        return was_running

    def _choose_ports(self) -> tuple[int, int]:
        stored = config.stored_ports(self.properties_path)
        port = self.port or (stored[0] if stored else None) or config.free_port()
        controller_port = self.controller_port or (stored[1] if stored else None)
        while controller_port is None or controller_port == port:
            controller_port = config.free_port()
        for what, number in (("port", port), ("controller port", controller_port)):
            if config.port_in_use(number):
                raise LocalKafkaError(
                    f"{what} {number} on {config.HOST} is already in use: stop what listens there "
                    "or choose another port (agentflux up --port N)"
                )
        return port, controller_port

    def _terminate(self, pid: int, timeout: float) -> bool:
        if not state.is_broker_process(pid, self.data_dir):
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        return True

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while state.is_broker_process(pid, self.data_dir):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _fail(self, pid: int, why: str, prefer_console: bool) -> LocalKafkaError:
        self._terminate(pid, 5)
        return LocalKafkaError(f"{why}; {process.log_tail(self.data_dir, prefer_console)}")

    def _wait_ready(self, pid: int, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        admin = None
        while True:
            if state.reap(pid):
                raise self._fail(pid, f"Kafka exited during startup (see {self.data_dir})", True)
            if time.monotonic() > deadline:
                raise self._fail(pid, f"Kafka did not answer on port {port} within {timeout:g}s", False)
            if admin is None and _accepts(port):
                admin = _admin(f"{config.HOST}:{port}")
            if admin is not None and _answers(admin):
                return
            time.sleep(0.1)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((config.HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _admin(bootstrap: str) -> AdminClient:
    from confluent_kafka.admin import AdminClient  # lazy: the CLI's other commands stay fast

    # Silence librdkafka's "connection refused" chatter while the broker warms up.
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, "error_cb": lambda _err: None})


def _answers(admin: AdminClient) -> bool:
    from confluent_kafka import KafkaException

    try:
        metadata = admin.list_topics(timeout=1)
    except KafkaException:
        return False
    return len(metadata.brokers) > 0
