"""Following one maintenance run on its topics: refined events, diagnoses, bookings and bad readings.

``MaintenanceObserver`` reads, from their end at the moment it starts (a
group-less tail that commits nothing), the ``diagnose-machine`` and
``schedule-maintenance`` request topics (everything the agents are given), the
two topics the agents publish, and the dead-letter topic (only the dead letters
of this run's sensor topic). It keeps what it read by task id and prints one
line per step. It never reads the sensor readings themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape

from agentflux.contract.envelope import Envelope
from agentflux.contract.topics import DEAD_LETTER_TOPIC, task_requests_topic
from agentflux.ops.deadletters import SOURCE_TOPIC
from agentflux.transport.base import Record, Transport
from examples.demo_support import TopicObserver
from examples.predictive_maintenance.config import MaintenanceConfig
from examples.predictive_maintenance.models import Diagnosis, MaintenanceBooked, MaintenanceRequest, VibrationAnomaly


@dataclass(frozen=True)
class Refined:
    """A refined event as an agent receives it: a ``diagnose-machine`` task."""

    anomaly: VibrationAnomaly
    task_id: str
    source: str
    arrived_ms: int


class MaintenanceObserver(TopicObserver):
    def __init__(self, transport: Transport, config: MaintenanceConfig, console: Console | None = None) -> None:
        super().__init__(transport)
        self.config = config
        self.console = console
        self.refined: dict[str, Refined] = {}  # by task id, in arrival order
        self.repeats = 0  # refined events written again with the same task id (absorbed by the worker)
        self.schedule_tasks: set[str] = set()  # task ids of schedule-maintenance requests
        self.diagnoses: dict[str, Diagnosis] = {}  # by anomaly (task) id
        self.bookings: dict[str, MaintenanceBooked] = {}  # created bookings, by booking id
        self.dead_letters: list[dict[str, str]] = []  # dlq_* headers of this run's bad readings
        self._schedule_topic = task_requests_topic(config.schedule_skill)

    @property
    def topics(self) -> list[str]:
        c = self.config
        return [c.anomalies_topic, self._schedule_topic, c.diagnosed_topic, c.scheduled_topic, DEAD_LETTER_TOPIC]

    async def start(self) -> None:
        """Start reading at the current end of the observed topics (which must exist)."""
        await self.follow(self.topics)

    async def take(self, record: Record) -> None:
        c = self.config
        if record.topic == DEAD_LETTER_TOPIC:
            headers = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
            if headers.get(SOURCE_TOPIC) == c.sensor_topic:
                self.dead_letters.append(headers)
                reason = short_reason(headers.get("dlq_error_message", ""))
                who = (record.key or b"?").decode("utf-8", "replace")
                self._say(who, f"[red]bad reading[/], dead-lettered by the job: {escape(reason)}")
            return
        env = Envelope.from_headers(record.headers, fallback_id=record.ref, topic=record.topic)
        if record.topic == self._schedule_topic:
            request = MaintenanceRequest.model_validate_json(record.value or b"")
            self.schedule_tasks.add(env.task_id or env.id)
            why = "; ".join(request.reason.split("; ")[1:]) or "vibration only"
            self._say(request.machine_id, f"diagnostics: {request.priority} priority ({escape(why)}) -> schedule it")
        elif record.topic == c.anomalies_topic:
            anomaly = VibrationAnomaly.model_validate_json(record.value or b"")
            task_id = env.task_id or env.id
            if task_id in self.refined:
                self.repeats += 1
                return
            self.refined[task_id] = Refined(anomaly, task_id, env.source, record.timestamp_ms)
            window = f"{_hhmm(anomaly.window_start)}-{_hhmm(anomaly.window_end)}"
            text = f"window {window} avg {anomaly.avg_vibration:5.2f} mm/s ({anomaly.readings} readings)"
            self._say(anomaly.machine_id, f"{text} -> task {task_id[:8]}")
        elif record.topic == c.diagnosed_topic:
            d = Diagnosis.model_validate_json(record.value or b"")
            self.diagnoses.setdefault(d.anomaly_id, d)
            if d.action == "already-booked":  # a "schedule" verdict was shown with its request
                self._say(d.machine_id, f"diagnostics: {d.severity}, already booked ({d.booking_id})")
        elif record.topic == c.scheduled_topic:
            b = MaintenanceBooked.model_validate_json(record.value or b"")
            if b.created:
                self.bookings.setdefault(b.booking_id, b)
            when = f"{b.slot_start:%a %H:%M} UTC, technician {b.technician}"
            what = "[green]booked[/]" if b.created else "already booked:"
            self._say(b.machine_id, f"maintenance-scheduling: {what} {b.booking_id} {when} ({b.priority})")

    def _say(self, who: str, text: str) -> None:
        if self.console is not None:
            self.console.print(f"[cyan]{who}[/] {text}", highlight=False)


def short_reason(message: str) -> str:
    """A dead letter's error in one line: pydantic's field and complaint, without its links and input echo."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    lines = [re.sub(r"\s*\[type=.*$", "", line) for line in lines if not line.startswith("For further information")]
    if len(lines) >= 3 and "validation error" in lines[0]:
        return f"{lines[1]}: {lines[2]}"
    return lines[1] if len(lines) == 2 and "validation error" in lines[0] else (lines[0] if lines else "")


def _hhmm(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M")
