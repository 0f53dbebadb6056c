"""The window job: average vibration per machine over 10 minutes, every minute, above a threshold.

Thousands of raw readings per second become, now and then, one task for the
``diagnose-machine`` skill: that is all an LLM agent should have to read. The
readings are Avro through the schema registry (``format="avro"``): the embedded
engine decodes them as agents do, Flink with its ``avro-confluent`` format.

    agentflux streams run examples.predictive_maintenance:job                  # embedded (Quix Streams)
    agentflux streams run examples.predictive_maintenance:job --engine flink   # Apache Flink
    agentflux streams sql examples.predictive_maintenance:job                  # the Flink SQL

``job`` follows ``MaintenanceConfig.from_env()`` (``MAINTENANCE_NAMESPACE``,
``MAINTENANCE_THRESHOLD``); with neither set it is ``build_job()``.
"""

from __future__ import annotations

from agentflux.contract.topics import task_requests_topic
from agentflux.streams import StreamJob, avg, col, count, hopping, max_
from agentflux.streams.definition import SourceFormat
from examples.predictive_maintenance.config import DEFAULT_THRESHOLD, MaintenanceConfig
from examples.predictive_maintenance.models import SENSOR_TOPIC, SensorReading, VibrationAnomaly

DIAGNOSE_SKILL = "diagnose-machine"
VIBRATION_THRESHOLD = DEFAULT_THRESHOLD  # mm/s
WINDOW, SLIDE, GRACE = "10m", "1m", "30s"


def build_job(
    *, name: str = "vibration-anomalies", source: str = SENSOR_TOPIC, sink: str | None = None,
    threshold: float = VIBRATION_THRESHOLD, format: SourceFormat = "avro",
) -> StreamJob[VibrationAnomaly]:  # fmt: skip
    """The job, with its topics and threshold open to change (tests and demos give each run its own topics)."""
    return (
        StreamJob[VibrationAnomaly](name)
        .source(source, SensorReading, key="machine_id", time="timestamp", format=format)
        .window(hopping(WINDOW, SLIDE, grace=GRACE))
        .aggregate(
            avg_vibration=avg("vibration"),
            max_vibration=max_("vibration"),
            avg_temperature=avg("temperature"),
            readings=count(),
        )
        .filter(col("avg_vibration") > threshold)
        .sink(sink or task_requests_topic(DIAGNOSE_SKILL), VibrationAnomaly)
    )


def job_for(config: MaintenanceConfig) -> StreamJob[VibrationAnomaly]:
    """The job of one configured system: its namespaced topics, job name and threshold."""
    return build_job(
        name=config.job_name, source=config.sensor_topic, sink=config.anomalies_topic, threshold=config.threshold
    )


job = job_for(MaintenanceConfig.from_env())
