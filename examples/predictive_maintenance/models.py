"""Payload models of the predictive maintenance system."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

SENSOR_TOPIC = "manufacturing.sensor-reading.v1"


class SensorReading(BaseModel):
    """``manufacturing.sensor-reading.v1``, keyed by ``machine_id``: one reading of one machine's sensors.

    ``vibration`` is the RMS velocity in mm/s (ISO 10816 puts "unsatisfactory"
    near 7.1 mm/s for medium machines); ``temperature`` is the bearing temperature in °C.
    """

    machine_id: str
    timestamp: datetime
    vibration: float
    temperature: float


class VibrationAnomaly(BaseModel):
    """A refined event: one machine's 10-minute window whose average vibration crossed the threshold.

    Sent as a task to the ``diagnose-machine`` skill. ``window_start`` and
    ``window_end`` are epoch milliseconds (pydantic reads them into datetimes
    where a handler declares ``datetime``).
    """

    machine_id: str
    window_start: int
    window_end: int
    avg_vibration: float
    max_vibration: float
    avg_temperature: float
    readings: int
