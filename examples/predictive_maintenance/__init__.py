"""The predictive maintenance system: sensor readings, a windowed job, and two agents that act on its output.

``simulator`` publishes readings of N machines (some with injected anomalies);
``job`` is the window job (``agentflux streams run
examples.predictive_maintenance:job [--engine flink]``) that turns them into a
few ``diagnose-machine`` tasks; ``app`` holds the Diagnostics and Maintenance
Scheduling agents; ``demo`` (``agentflux demo maintenance``) runs it all. See
docs/maintenance-walkthrough.md.
"""

from examples.predictive_maintenance.app import app, build_app
from examples.predictive_maintenance.job import build_job, job
from examples.predictive_maintenance.models import SensorReading, VibrationAnomaly

__all__ = ["SensorReading", "VibrationAnomaly", "app", "build_app", "build_job", "job"]
