"""Whether this process can reach its Kafka cluster: one WARNING when it is lost, one INFO when it is back.

Every librdkafka client of a process reports to the ``ClusterWatch`` of its
bootstrap address (``watch_for``): a ``_ALL_BROKERS_DOWN`` error marks the
cluster *suspect*, and a probe (a metadata request, once a ``probe_interval``)
then decides. If the probe fails, the cluster is **lost**: one WARNING is
logged, and the probe keeps asking until the cluster answers, which marks it
**back** (one INFO). Any other success seen meanwhile (a fetched record, an
acknowledged publish) marks it back as well. A brief disconnect that the first
probe already survives logs nothing above DEBUG.

Retries consult it: an attempt that failed while the cluster was lost does not
count against a record's retry budget (``runtime.processing``), so a broker
outage of any length delays records but never dead-letters them.

Thread-safe: librdkafka reports from its own threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("agentflux.transport")

Probe = Callable[[], bool]


class ClusterWatch:
    """The reachability of one cluster, as this process sees it.

    ``probe`` returns True when the cluster answers (it may block for about a
    second); None means nobody probes and only ``mark_back`` ends an outage.
    """

    def __init__(self, name: str, probe: Probe | None = None, *, probe_interval: float = 0.5) -> None:
        self.name = name
        self._probe = probe
        self._interval = probe_interval
        self._lock = threading.Lock()
        self._suspect = False
        self._reason = ""
        self._announce = True
        self._lost_since: float | None = None
        self._prober: threading.Thread | None = None
        self._last_outage: tuple[int, int | None] | None = None  # epoch ms: (lost at, back at)
        self.outages = 0  # completed or ongoing outages since the watch was made
        self.reached = False  # whether anything ever succeeded against the cluster

    @property
    def lost(self) -> bool:
        """True while the cluster is suspected or known to be unreachable."""
        return self._suspect or self._lost_since is not None

    def mark_down(self, reason: str, *, announce: bool = True) -> None:
        """A client saw every broker down: suspect the cluster and let the probe decide.

        ``announce=False`` keeps the WARNING for a caller that already said why (a
        process that starts while no broker answers).
        """
        with self._lock:
            if self._suspect or self._lost_since is not None:
                return
            self._suspect = True
            self._reason = reason
            self._announce = announce
            if self._probe is not None and (self._prober is None or not self._prober.is_alive()):
                self._prober = threading.Thread(target=self._watch, name="agentflux-cluster-probe", daemon=True)
                self._prober.start()
        if self._probe is None:
            self._declare_lost(reason)

    def _declare_lost(self, reason: str) -> None:
        with self._lock:
            if not self._suspect or self._lost_since is not None:
                return
            self._lost_since = time.monotonic()
            self._last_outage = (int(time.time() * 1000), None)
            self.outages += 1
        if self._announce:
            log.warning("lost the Kafka cluster at %s (%s); waiting for it to come back", self.name, reason)

    def mark_back(self) -> None:
        """Something succeeded against the cluster."""
        self.reached = True
        if not self._suspect and self._lost_since is None:
            return  # the common case, without the lock
        with self._lock:
            since, self._lost_since, self._suspect = self._lost_since, None, False
            if since is not None and self._last_outage is not None:
                self._last_outage = (self._last_outage[0], int(time.time() * 1000))
        if since is not None:
            log.info("the Kafka cluster at %s is back after %.1fs", self.name, time.monotonic() - since)
        else:
            log.debug("the Kafka cluster at %s answered again at once", self.name)

    def _watch(self) -> None:
        assert self._probe is not None
        first = True
        while self.lost:
            if self._probe():
                self.mark_back()
                return
            if first:
                self._declare_lost(self._reason)
                first = False
            time.sleep(self._interval)

    def last_outage(self) -> tuple[int, int] | None:
        """The latest outage as epoch milliseconds ``(lost at, back at)``; "back at" is now while it lasts."""
        outage = self._last_outage
        if outage is None:
            return None
        return outage[0], outage[1] if outage[1] is not None else int(time.time() * 1000)

    async def wait_back(self, timeout: float | None = None) -> bool:
        """Wait until the cluster is not lost (at most ``timeout`` seconds); True when it is back."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self.lost:
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True


def alive_at(expires_ms: int, now_ms: int, outage: tuple[int, int] | None) -> bool:
    """Whether something that expires at ``expires_ms`` (a heartbeat's lease) is alive at ``now_ms``.

    Time without the cluster does not count: a lease that would have run out
    during ``outage`` (when no heartbeat could arrive) keeps, after the outage,
    the time it had left when the outage began.
    """
    if expires_ms > now_ms:
        return True
    return outage is not None and outage[0] < expires_ms <= outage[1] and now_ms < outage[1] + expires_ms - outage[0]


_watches: dict[str, ClusterWatch] = {}
_registry_lock = threading.Lock()


def watch_for(name: str, make_probe: Callable[[], Probe]) -> ClusterWatch:
    """The process-wide watch of cluster ``name`` (its bootstrap address), made on first use."""
    with _registry_lock:
        watch = _watches.get(name)
        if watch is None:
            watch = _watches[name] = ClusterWatch(name, make_probe())
        return watch
