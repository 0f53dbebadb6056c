"""Helpers for the A2A tests: free ports, a gateway on a real port, running apps, SDK clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from a2a.client import ClientConfig, ClientFactory
from a2a.client.client import Client
from a2a.types import AgentCard

from agentflux.a2a.gateway import AppCards, CardSource, Gateway
from agentflux.runtime.declarations import AgentApp
from agentflux.runtime.runner import AppRunner, kafka_transport
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(asgi: object, port: int) -> AsyncIterator[str]:
    """Serve ``asgi`` with uvicorn on 127.0.0.1:``port``; stopped (lifespan included) on exit."""
    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(15):
                await task
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def running(app: AgentApp, bootstrap: str) -> AsyncIterator[AppRunner]:
    app.bootstrap_servers = bootstrap
    runner = AppRunner(app, kafka_transport(app), grace=2.0)
    await runner.start()
    try:
        async with asyncio.timeout(30):
            while not all(getattr(c, "assigned", True) for c in runner.consumers):
                await asyncio.sleep(0.02)
        yield runner
    finally:
        await runner.stop()


@asynccontextmanager
async def gateway(
    bootstrap: str, cards: CardSource | AgentApp, **options: object
) -> AsyncIterator[tuple[Gateway, str]]:
    """A gateway for ``cards`` on a free port, with its own Kafka connection: yields (gateway, base URL)."""
    transport = KafkaTransport(KafkaSettings(bootstrap))
    await transport.start()
    source = AppCards(cards) if isinstance(cards, AgentApp) else cards
    port = free_port()
    gw = Gateway(transport, source, public_url=f"http://127.0.0.1:{port}", bootstrap_servers=bootstrap, **options)  # type: ignore[arg-type]
    try:
        async with serve(gw.app, port) as url:
            yield gw, url
    finally:
        await transport.close()


@asynccontextmanager
async def client_for(card_or_url: AgentCard | str, binding: str, *, streaming: bool = True) -> AsyncIterator[Client]:
    """An official SDK client preferring ``binding``."""
    async with httpx.AsyncClient(timeout=30) as http:
        config = ClientConfig(
            streaming=streaming, httpx_client=http, supported_protocol_bindings=[binding], use_client_preference=True
        )
        factory = ClientFactory(config)
        if isinstance(card_or_url, str):
            client = await factory.create_from_url(card_or_url)
        else:
            client = factory.create(card_or_url)
        try:
            yield client
        finally:
            await client.close()


@asynccontextmanager
async def kafka_client(card: AgentCard, *, streaming: bool = True) -> AsyncIterator[Client]:
    """An official SDK client that talks to the agent over the Kafka binding."""
    from agentflux.a2a import KAFKA_BINDING
    from agentflux.a2a.kafka_binding import register_kafka_binding

    factory = ClientFactory(ClientConfig(streaming=streaming, supported_protocol_bindings=[KAFKA_BINDING]))
    register_kafka_binding(factory)
    client = factory.create(card)
    try:
        yield client
    finally:
        await client.close()
