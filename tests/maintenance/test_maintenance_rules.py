"""The diagnosis rules: severity, priority and action from a refined event and a machine's history."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from examples.predictive_maintenance.models import VibrationAnomaly
from examples.predictive_maintenance.rules import diagnose

TODAY = date(2026, 6, 1)


def anomaly(avg: float, temperature: float = 65.0) -> VibrationAnomaly:
    return VibrationAnomaly(
        machine_id="m-003", window_start=0, window_end=600_000, avg_vibration=avg, max_vibration=avg + 2,
        avg_temperature=temperature, readings=600,
    )  # fmt: skip


def history(**fields: Any) -> dict[str, Any]:
    return {"failures_180d": 0, "last_service": "2026-05-01", "open_booking": None, **fields}


@pytest.mark.parametrize(
    ("avg", "temperature", "failures", "severity", "priority"),
    [
        (7.5, 65, 0, "elevated", "normal"),
        (9.0, 65, 0, "high", "high"),
        (11.0, 65, 0, "critical", "urgent"),
        (7.5, 75, 0, "high", "high"),  # running hot
        (7.5, 65, 1, "high", "high"),  # recurring
        (9.5, 80, 2, "critical", "urgent"),  # capped
    ],
)
def test_severity_and_priority(avg: float, temperature: float, failures: int, severity: str, priority: str) -> None:
    verdict = diagnose(anomaly(avg, temperature), history(failures_180d=failures), TODAY)
    assert (verdict.severity, verdict.priority, verdict.action) == (severity, priority, "schedule")
    assert verdict.reasons[0].startswith(f"average vibration {avg:.1f} mm/s")


def test_an_open_booking_means_nothing_more_to_schedule() -> None:
    booking = {"booking_id": "b-1", "slot_start": "2026-06-02T08:00:00+00:00"}
    verdict = diagnose(anomaly(12.0), history(open_booking=booking), TODAY)
    assert (verdict.action, verdict.booking_id, verdict.severity) == ("already-booked", "b-1", "critical")


def test_an_overdue_or_missing_service_is_noted() -> None:
    assert "no service since 2025-01-01" in diagnose(anomaly(8), history(last_service="2025-01-01"), TODAY).reasons
    assert "no service on record" in diagnose(anomaly(8), history(last_service=None), TODAY).reasons
    assert len(diagnose(anomaly(8), history(), TODAY).reasons) == 1
