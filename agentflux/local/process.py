"""Running the Kafka JVM: storage formatting, the detached broker, its logs (and detached JVMs in general)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from agentflux.contract.errors import LocalKafkaError

LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
BROKER_LOG = "broker.log"
SERVER_LOG = Path("logs") / "server.log"
HEAP = ("-Xms256m", "-Xmx512m")
TAIL_LINES = 15
# A short-lived tool starts faster with the client compiler and the serial collector.
_TOOL_FLAGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")


def _java_argv(java: str, libs: Path, data_dir: Path, flags: Sequence[str]) -> list[str]:
    return [
        java,
        *flags,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={data_dir / 'logs'}",
        "-cp",
        f"{libs}/*",
    ]


def format_storage(java: str, libs: Path, data_dir: Path, properties: Path, cluster_id: str) -> None:
    """Format the KRaft storage of a new single-node cluster (a standalone controller quorum)."""
    argv = _java_argv(java, libs, data_dir, _TOOL_FLAGS)
    argv += ["kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(properties)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError("formatting the Kafka storage did not finish within 120s") from exc
    if done.returncode != 0:
        lines = tail_lines(done.stdout + done.stderr)
        raise LocalKafkaError("formatting the Kafka storage failed:\n" + "\n".join(lines))


def spawn_broker(java: str, libs: Path, data_dir: Path, properties: Path) -> int:
    """Start ``kafka.Kafka`` in its own session, detached from our terminal; return its pid.

    stdout and stderr go to ``<data_dir>/broker.log`` (WARN and above, plus
    anything the JVM prints); the full log is ``<data_dir>/logs/server.log``.
    """
    argv = _java_argv(java, libs, data_dir, (*HEAP, "-XX:+ExitOnOutOfMemoryError"))
    argv += ["kafka.Kafka", str(properties)]
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    return spawn_detached(argv, data_dir / BROKER_LOG)


def spawn_detached(argv: Sequence[str], log: Path, cwd: Path | None = None) -> int:
    """Run ``argv`` in its own session with stdout and stderr in ``log`` (truncated); return its pid.

    With ``cwd``, a shell changes into it and then becomes ``argv`` (``exec``: same pid, same command line).
    """
    program = argv[0]
    args = list(argv)
    if cwd is not None:  # posix_spawn has no chdir action before Python 3.13
        args = ["/bin/sh", "-c", 'cd -- "$0" && exec "$@"', str(cwd), *args]
    log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        # posix_spawn rather than Popen: the process outlives this one, and a
        # Popen object dropped while its child runs warns (an error under pytest).
        return os.posix_spawn(
            args[0],
            args,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setsid=True,
        )
    except OSError as exc:
        raise LocalKafkaError(f"could not run {program}: {exc.strerror}") from exc
    finally:
        os.close(log_fd)


def _is_noise(line: str) -> bool:
    """Blank lines and Java stack frames, which would crowd the messages out of a short tail."""
    text = line.strip()
    return not text or text.startswith("at ") or (text.startswith("...") and text.endswith("more"))


def tail_lines(text: str, count: int = TAIL_LINES) -> list[str]:
    """The last ``count`` meaningful lines of a log."""
    return [line for line in text.splitlines() if not _is_noise(line)][-count:]


def _tail(path: Path, count: int) -> list[str]:
    try:
        return tail_lines(path.read_text(errors="replace"), count)
    except OSError:
        return []


def log_tail(data_dir: Path, prefer_console: bool = True, count: int = TAIL_LINES) -> str:
    """The last lines the broker wrote: its console log (errors) first, else ``server.log``."""
    files = [data_dir / BROKER_LOG, data_dir / SERVER_LOG]
    for path in files if prefer_console else files[::-1]:
        lines = _tail(path, count)
        if lines:
            return f"last lines of {path}:\n" + "\n".join(lines)
    return f"(nothing in {files[0]} or {files[1]})"
