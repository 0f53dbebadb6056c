"""Payload models of the predictive maintenance system: one per topic, and each skill's input and output."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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


Severity = Literal["elevated", "high", "critical"]
Priority = Literal["normal", "high", "urgent"]


class MaintenanceRequest(BaseModel):
    """Input of the skill ``schedule-maintenance``: book a technician for one machine.

    ``anomaly_id`` is the window's task id (``ce_taskid`` of the refined event),
    kept on the booking for audit.
    """

    machine_id: str
    priority: Priority
    reason: str
    anomaly_id: str


class MaintenanceBooked(BaseModel):
    """Output of ``schedule-maintenance`` and ``manufacturing.maintenance-scheduled.v1`` (keyed by machine).

    ``created`` is False when the machine already had an open booking: the
    answer is that booking, and nothing new was booked.
    """

    booking_id: str
    machine_id: str
    slot_id: str
    slot_start: datetime
    technician: str
    priority: Priority
    created: bool


class Diagnosis(BaseModel):
    """Output of ``diagnose-machine`` and ``manufacturing.machine-diagnosed.v1`` (keyed by machine).

    ``action`` is ``schedule`` when it delegated ``schedule-maintenance``
    (``booking`` is the answer), ``already-booked`` when the machine's history
    showed an open booking (``booking_id`` names it).
    """

    machine_id: str
    anomaly_id: str
    window_start: int
    window_end: int
    avg_vibration: float
    severity: Severity
    priority: Priority
    action: Literal["schedule", "already-booked"]
    reasons: list[str]
    booking_id: str | None = None
    booking: MaintenanceBooked | None = None
