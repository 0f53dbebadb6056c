"""An event loop in a thread of its own, for synchronous code that must use the async transport.

A stream engine's callbacks (Quix Streams calls them from its own loop, without
asyncio) use it to dead-letter a record and wait for the broker's
acknowledgement. ``run`` blocks the calling thread until the coroutine is done
and returns its result or raises its exception.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``work`` on the thread's loop and wait for it (``TimeoutError`` after ``timeout`` seconds)."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread; work still pending on it is dropped."""
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
