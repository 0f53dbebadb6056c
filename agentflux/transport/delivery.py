"""Publishing a record until the broker acknowledges it: for records whose source is committed only afterwards."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from agentflux.transport.base import Ack
from agentflux.transport.health import ClusterWatch

log = logging.getLogger("agentflux.transport")
_FIRST_BACKOFF = 0.2
_MAX_BACKOFF = 10.0


async def publish_until_acked(what: str, send: Callable[[int], Awaitable[Ack]], watch: ClusterWatch) -> Ack:
    """``send(failures)`` until the broker acknowledges; transient errors are retried with backoff.

    For records whose source is committed only after they are safe (task
    states, results, dead letters): a broker outage stalls the caller rather
    than losing the record. A permanent error (``transient = False``, such as
    ``MessageTooLarge``) is raised at once. ``send`` is told how many attempts
    failed so far, so it can change course (a result gives up its reply
    partition after a few). Failures are logged at WARNING, or at DEBUG while
    ``watch`` already says the cluster is lost.
    """
    failures = 0
    while True:
        try:
            return await send(failures)
        except Exception as exc:
            if getattr(exc, "transient", None) is False:
                raise
            failures += 1
            level = logging.DEBUG if watch.lost else logging.WARNING
            log.log(level, "publishing the %s failed (%d): %s; retrying", what, failures, exc)
            await asyncio.sleep(_backoff(failures))


def _backoff(failures: int) -> float:
    base = min(_MAX_BACKOFF, _FIRST_BACKOFF * 2.0 ** (min(failures, 10) - 1))
    return base * random.uniform(0.8, 1.2)
