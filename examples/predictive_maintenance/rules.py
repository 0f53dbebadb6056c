"""The diagnosis rules: a pure, deterministic function from a refined event and a machine's history to a verdict.

The window job only lets through windows whose average vibration is above the
threshold, so every input is an anomaly; the rules say how bad it is and what
to do about it.

1. **Severity** from the window's average vibration: ``critical`` from
   11 mm/s, ``high`` from 9 mm/s, else ``elevated``.
2. **Running hot** (average bearing temperature from 75 °C): one level up.
3. **Recurring** (a failure on record in the last 180 days): one level up.
4. **Priority** follows severity: ``elevated`` is ``normal``, ``high`` is
   ``high``, ``critical`` is ``urgent``. No service for a year is noted.
5. **Action**: a machine that already has an open booking is left alone
   (``already-booked``); otherwise ``schedule``.

A sliding window reports one anomaly several times (every slide, while the
average stays high), so rule 5 is what turns a run of refined events into one
booking. The scheduling server enforces the same rule on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from examples.predictive_maintenance.models import Priority, Severity, VibrationAnomaly

CRITICAL_FROM, HIGH_FROM = 11.0, 9.0  # mm/s
HOT_FROM = 75.0  # °C
RECURRING_DAYS, SERVICE_DAYS = 180, 365
LEVELS: tuple[Severity, ...] = ("elevated", "high", "critical")
PRIORITY: dict[Severity, Priority] = {"elevated": "normal", "high": "high", "critical": "urgent"}


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    priority: Priority
    action: Literal["schedule", "already-booked"]
    reasons: tuple[str, ...]
    booking_id: str | None = None


def diagnose(anomaly: VibrationAnomaly, history: Mapping[str, Any], today: date) -> Verdict:
    """Apply the rules to ``anomaly`` and the ``machine_history`` answer of the maintenance-db server."""
    avg = anomaly.avg_vibration
    level = 2 if avg >= CRITICAL_FROM else 1 if avg >= HIGH_FROM else 0
    reasons = [f"average vibration {avg:.1f} mm/s over 10 min (peak {anomaly.max_vibration:.1f})"]
    if anomaly.avg_temperature >= HOT_FROM:
        level += 1
        reasons.append(f"running hot: bearing at {anomaly.avg_temperature:.0f} °C")
    failures = int(history.get("failures_180d") or 0)
    if failures:
        level += 1
        reasons.append(f"recurring: {failures} failure(s) in the last {RECURRING_DAYS} days")
    last_service = history.get("last_service")
    if last_service is None or date.fromisoformat(last_service) < today - timedelta(days=SERVICE_DAYS):
        reasons.append(f"no service since {last_service}" if last_service else "no service on record")
    severity = LEVELS[min(level, len(LEVELS) - 1)]
    booking = history.get("open_booking")
    if booking:
        reasons.append(f"already booked: {booking['booking_id']} at {booking['slot_start']}")
        return Verdict(severity, PRIORITY[severity], "already-booked", tuple(reasons), booking["booking_id"])
    return Verdict(severity, PRIORITY[severity], "schedule", tuple(reasons))
