"""One log format for everything a long-running agentflux command runs.

``configure_logging`` sets the root logger once, in one of two formats:

* ``text`` (the default): ``HH:MM:SS LEVEL logger: message``, and a line written
  while a record is handled ends with ``[correlation_id=… trace_id=…]``;
* ``json``: one JSON object a line for log shippers, with ``time`` (ISO 8601,
  UTC), ``level``, ``logger``, ``message``, ``correlation_id``, ``trace_id``,
  ``span_id`` (null outside a handler), ``exception`` when there is one, and the
  log call's ``extra`` fields.

The ids come from ``agentflux.runtime.logcontext``.
Libraries log through it instead of their own formats: uvicorn is started
with ``log_config=None`` (``serve_asgi``), Quix Streams with ``loglevel=None``
(``agentflux.streams.embedded``), librdkafka through ``agentflux.kafka``. What
they print that says nothing to an agentflux user is kept quieter here:
uvicorn's access lines (one per request) at WARNING and above, and Apache
Beam's import-time notes (``Failed to import GCSFileSystem`` on every Flink
run) at ERROR and above.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Annotated, Any, Literal

import typer

from agentflux.runtime.logcontext import FIELDS, RecordIds

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FORMATS = ("text", "json")
_QUIETER = {"uvicorn.access": logging.WARNING, "apache_beam": logging.ERROR}
LogFormat = Annotated[
    Literal["text", "json"],
    typer.Option(
        "--log-format", envvar="AGENTFLUX_LOG_FORMAT",
        help="text, or json: one JSON object a line, with correlation_id and trace_id",
    ),
]  # fmt: skip
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", *FIELDS}


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level``, in ``fmt`` (``text`` or ``json``), with the handled record's ids."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if fmt == "json" else TextWithIds(FORMAT, datefmt="%H:%M:%S"))
    handler.addFilter(RecordIds())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for name, floor in _QUIETER.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logging.getLogger().level))


class TextWithIds(logging.Formatter):
    """The text format, with ``[correlation_id=… trace_id=…]`` after a line written while a record is handled.

    A record that came without a ``traceparent`` (and with no span current) has no trace id to show.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={value}" for name in FIELDS[:2] if (value := getattr(record, name, None)) is not None]
        return f"{line} [{' '.join(ids)}]" if ids else line


class JsonLines(logging.Formatter):
    """One JSON object a line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{name: getattr(record, name, None) for name in FIELDS},
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line:
                line[name] = value
        return json.dumps(line, default=str)


async def serve_asgi(app: Any, *, host: str, port: int, log_level: str) -> None:
    """Serve an ASGI app with uvicorn, logging in the format above (not uvicorn's own)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), log_config=None, lifespan="on")
    await uvicorn.Server(config).serve()
