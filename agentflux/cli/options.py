"""What the commands that talk to Kafka share: the ``--bootstrap-servers`` option and a transport for one job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from agentflux.transport.kafka import KafkaTransport

T = TypeVar("T")

Bootstrap = Annotated[
    str | None, typer.Option("--bootstrap-servers", "-b", envvar="AGENTFLUX_BOOTSTRAP_SERVERS", help="Kafka host:port")
]


async def with_transport(
    bootstrap: str | None, work: Callable[[KafkaTransport], Awaitable[T]], **settings_options: Any
) -> T:
    """``await work(transport)`` on a started ``KafkaTransport.resolve(bootstrap, **settings_options)``, then close it.

    The transport is closed however ``work`` ends; ``work`` closes what it
    made from it (a tail, a registry) itself, before it returns.
    """
    transport = KafkaTransport.resolve(bootstrap, **settings_options)
    await transport.start()
    try:
        return await work(transport)
    finally:
        await transport.close()
