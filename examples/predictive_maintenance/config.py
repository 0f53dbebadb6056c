"""Configuration of the predictive maintenance system, read from the environment by ``MaintenanceConfig.from_env()``.

===========================  =================================================  ==========================
variable                     meaning                                            default
===========================  =================================================  ==========================
``MAINTENANCE_DB``           SQLite file of the ``maintenance-db`` MCP server   a file in the temp dir
``MAINTENANCE_THRESHOLD``    average vibration (mm/s) that makes a window       ``7.0``
                             an anomaly
``MAINTENANCE_NAMESPACE``    suffix for the app, topic domain, skills, job      empty
===========================  =================================================  ==========================

``MAINTENANCE_NAMESPACE`` lets independent runs share one Kafka cluster (the
demo and the e2e tests give each run its own): with ``ns=t1`` the app is
``maintenance-t1``, readings go to ``manufacturing-t1.sensor-reading.v1``, the
skills are ``diagnose-machine-t1`` and ``schedule-maintenance-t1``, and the
window job is ``vibration-anomalies-t1``. Without it the names are the canonical
ones, and ``examples.predictive_maintenance:job`` is exactly ``build_job()``.
A fresh namespace also means fresh window state: the simulator's accelerated
event time runs far ahead of the wall clock, so a second run on the same
topics would start behind the first run's watermark and all be late.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentflux import ConfigError
from agentflux.contract.topics import task_requests_topic
from agentflux.mcp import McpServerSpec

REPO = Path(__file__).resolve().parents[2]
DEFAULT_THRESHOLD = 7.0  # mm/s: ISO 10816 "unsatisfactory" for medium machines starts near 7.1


@dataclass(frozen=True)
class MaintenanceConfig:
    maintenance_db: Path = Path(tempfile.gettempdir()) / "agentflux-maintenance.sqlite"
    threshold: float = DEFAULT_THRESHOLD
    namespace: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MaintenanceConfig:
        env = os.environ if env is None else env
        defaults = cls()
        try:
            threshold = float(env.get("MAINTENANCE_THRESHOLD") or defaults.threshold)
        except ValueError as exc:
            raise ConfigError(f"MAINTENANCE_THRESHOLD must be a number (mm/s): {exc}") from exc
        return cls(
            maintenance_db=Path(env.get("MAINTENANCE_DB") or defaults.maintenance_db),
            threshold=threshold,
            namespace=env.get("MAINTENANCE_NAMESPACE", ""),
        )

    def env(self) -> dict[str, str]:
        """The environment that gives an agent or job process this configuration."""
        return {
            "MAINTENANCE_DB": str(self.maintenance_db),
            "MAINTENANCE_THRESHOLD": str(self.threshold),
            "MAINTENANCE_NAMESPACE": self.namespace,
        }

    def _ns(self, name: str) -> str:
        return f"{name}-{self.namespace}" if self.namespace else name

    @property
    def app_name(self) -> str:
        return self._ns("maintenance")

    @property
    def job_name(self) -> str:
        return self._ns("vibration-anomalies")

    @property
    def diagnose_skill(self) -> str:
        return self._ns("diagnose-machine")

    @property
    def schedule_skill(self) -> str:
        return self._ns("schedule-maintenance")

    def topic(self, event: str) -> str:
        return f"{self._ns('manufacturing')}.{event}.v1"

    @property
    def sensor_topic(self) -> str:
        return self.topic("sensor-reading")

    @property
    def diagnosed_topic(self) -> str:
        return self.topic("machine-diagnosed")

    @property
    def scheduled_topic(self) -> str:
        return self.topic("maintenance-scheduled")

    @property
    def anomalies_topic(self) -> str:
        """Where the window job writes: the request topic of ``diagnose-machine``."""
        return task_requests_topic(self.diagnose_skill)

    def tool_server(self) -> McpServerSpec:
        """The ``maintenance-db`` MCP server, a stdio subprocess each agent process opens on first use."""
        command = [sys.executable, "-m", "examples.mcp_servers.maintenance_db", "--db", str(self.maintenance_db)]
        return McpServerSpec("maintenance-db", command=command, cwd=str(REPO))
