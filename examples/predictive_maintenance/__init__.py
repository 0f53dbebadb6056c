"""The predictive maintenance system: sensor readings, a windowed job, and (to come) the agents that act on it.

So far: ``simulator`` (machines that publish readings, some with injected
anomalies) and ``job`` (the window job, ``agentflux streams run
examples.predictive_maintenance:job``). The Diagnostics and Maintenance
Scheduling agents and ``agentflux demo maintenance`` follow.
"""

from examples.predictive_maintenance.job import build_job, job
from examples.predictive_maintenance.models import SensorReading, VibrationAnomaly

__all__ = ["SensorReading", "VibrationAnomaly", "build_job", "job"]
