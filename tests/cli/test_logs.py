"""One log format: agentflux, uvicorn, Quix Streams and Beam lines look alike, and the noise stays out."""

from __future__ import annotations

import re
import subprocess
import sys

EMIT = """
import logging
from agentflux.cli.logs import configure_logging
configure_logging("info")
logging.getLogger("agentflux.runtime").info("started agents ['a']")
logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:8080")
logging.getLogger("uvicorn.access").info('127.0.0.1:5000 - "GET /agents/a HTTP/1.1" 200')
logging.getLogger("quixstreams.app").info("Starting the Application")
logging.getLogger("apache_beam.io.filesystems").warning("Failed to import GCSFileSystem; loading of it fails")
"""
LINE = re.compile(r"^\d\d:\d\d:\d\d (INFO|WARNING|ERROR|DEBUG) +[\w.]+: ")


def test_every_library_logs_in_the_one_format_without_its_noise() -> None:
    done = subprocess.run([sys.executable, "-c", EMIT], capture_output=True, text=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert [line.split(": ", 1)[0].split()[-1] for line in lines] == [
        "agentflux.runtime",
        "uvicorn.error",
        "quixstreams.app",
    ]
    assert all(LINE.match(line) for line in lines), lines
    assert "GET /agents/a" not in done.stderr and "GCSFileSystem" not in done.stderr
