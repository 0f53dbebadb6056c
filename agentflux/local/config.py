"""The single-node KRaft broker's ``server.properties``, cluster id and ports."""

from __future__ import annotations

import base64
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path

HOST = "127.0.0.1"
NODE_ID = 1
_LISTENERS_RE = re.compile(r"PLAINTEXT://[^:,]+:(\d+).*CONTROLLER://[^:,]+:(\d+)")


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding (Kafka's ``Uuid`` text form).

    Kafka refuses ids that start with ``-`` (they read as command-line flags), so those are redrawn.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")
        if not cluster_id.startswith("-"):
            return cluster_id


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when binding 127.0.0.1:``port`` fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
        return False


def broker_properties(
    data_dir: Path, port: int, controller_port: int, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The broker settings, in order; ``overrides`` win."""
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.bootstrap.servers": f"{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir / "data"),
        # Topics are created by the runtime's provisioning from declarations
        # (partitions, retention, cleanup.policy); a typo must not silently create one.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "5",
        # One node: waiting for more group members to join only slows tests down.
        "group.initial.rebalance.delay.ms": "0",
        # The consumer group protocol (KIP-848) the runtime uses: a dead member's partitions move
        # on after 10 s (the broker's default is 45 s), and assignments reach members within 1 s.
        "group.consumer.session.timeout.ms": "10000",
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.heartbeat.interval.ms": "1000",
        "group.consumer.min.heartbeat.interval.ms": "500",
    }
    props.update(overrides or {})
    return props


_HEADER = "Written by agentflux on every start; pass overrides to LocalBroker instead of editing."


def render_properties(props: Mapping[str, str], header: str = _HEADER) -> str:
    """Java properties text (values here never need escaping beyond backslashes)."""
    lines = [f"# {header}"]
    lines += [f"{key}={value.replace(chr(92), chr(92) * 2)}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def read_properties(path: Path) -> dict[str, str]:
    """Parse the simple ``key=value`` properties this module writes."""
    props: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        props[key.strip()] = value.strip().replace("\\\\", "\\")
    return props


def stored_ports(path: Path) -> tuple[int, int] | None:
    """The (client, controller) ports of an earlier ``server.properties``, if any."""
    if not path.is_file():
        return None
    match = _LISTENERS_RE.search(read_properties(path).get("listeners", ""))
    return (int(match.group(1)), int(match.group(2))) if match else None
