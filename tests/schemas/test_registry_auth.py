"""Registry client settings from the environment reach the registry: basic auth, through a proxy that demands it.

Apicurio's own authentication needs an OIDC server, so a small HTTP proxy in
front of the session's registry checks the ``Authorization`` header, as a
registry behind an API gateway does.
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from schemas.models import PriceChanged, seed_price

from agentflux import AgentApp, SchemaRegistryUnavailable
from agentflux.contract.payloads import Payloads
from agentflux.runtime.runner import schema_registry
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]
SECRET = "pricing:s3cret"


@pytest.fixture
def guarded(schema_registry: str) -> Iterator[str]:
    """The registry's URL behind a proxy that answers 401 without ``SECRET`` as basic auth."""
    target = schema_registry.split("/apis/")[0]
    wanted = "Basic " + base64.b64encode(SECRET.encode()).decode()

    class Proxy(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            if self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error_code":401,"message":"Unauthorized"}')
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
            dropped = ("host", "authorization", "accept-encoding")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
            request = urllib.request.Request(target + self.path, data=body, headers=headers, method=self.command)
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status, payload, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
            except urllib.error.HTTPError as refused:
                status, payload, kind = refused.code, refused.read(), refused.headers.get("Content-Type")
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/apis/ccompat/v7"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.asyncio
async def test_basic_auth_from_the_environment_reaches_the_registry(
    guarded: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"auth{unique}.price-changed.v1"
    app = AgentApp(f"auth{unique}", format="avro")
    app.topic(topic, types=[PriceChanged])

    class Settings:  # what a KafkaTransport exposes: its resolved settings
        def __init__(self) -> None:
            self.settings = KafkaSettings.resolve("127.0.0.1:9", schema_registry_url=guarded)

    without = Payloads(app.format_of, schema_registry(app, Settings()))  # type: ignore[arg-type]
    try:
        with pytest.raises(SchemaRegistryUnavailable, match=r"refused the credentials .*HTTP 401"):
            await without.encode(topic, seed_price())
    finally:
        await without.close()

    monkeypatch.setenv("AGENTFLUX_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", SECRET)
    with_auth = Payloads(app.format_of, schema_registry(app, Settings()))  # type: ignore[arg-type]
    try:
        value = await with_auth.encode(topic, seed_price())
        assert await with_auth.decode(topic, value, PriceChanged) == seed_price()
    finally:
        await with_auth.close()
