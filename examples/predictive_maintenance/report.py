"""The end of a maintenance run: what should have happened, did it, and the figures.

What should happen is computed, not assumed: ``expect`` runs the same window
job over the same simulated readings in memory (``job.test``, the reference
semantics both engines are held to), which gives every refined event by task
id. The ground truth of what did happen is the ``bookings`` table of the
maintenance database. ``summarize`` compares the two and says so in ``as
injected``: ``yes``, or ``NO: <why>``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agentflux.streams.results import as_uuid, window_hash
from examples.predictive_maintenance.config import MaintenanceConfig
from examples.predictive_maintenance.job import job_for
from examples.predictive_maintenance.models import VibrationAnomaly
from examples.predictive_maintenance.observer import MaintenanceObserver
from examples.predictive_maintenance.simulator import SimulatorConfig, readings


@dataclass(frozen=True)
class Expected:
    """The refined events the job must write for one simulated run, by task id."""

    anomalies: dict[str, VibrationAnomaly]
    injected: frozenset[str]

    @property
    def machines(self) -> set[str]:
        return {a.machine_id for a in self.anomalies.values()}


def expect(config: MaintenanceConfig, simulated: SimulatorConfig) -> Expected:
    """Run the job over the simulated readings in memory (seconds for tens of thousands of readings)."""
    job = job_for(config)
    found = job.test(readings(simulated))
    by_task = {as_uuid(window_hash(job.name, a.machine_id, a.window_start, a.window_end)): a for a in found}
    return Expected(by_task, frozenset(simulated.anomalies))


def open_bookings(db: Path) -> list[tuple[str, str, str]]:
    """(machine, booking id, slot id) of every open booking, oldest first."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        query = "SELECT machine_id, booking_id, slot_id FROM bookings WHERE status = 'open' ORDER BY rowid"
        return [(str(m), str(b), str(s)) for m, b, s in conn.execute(query)]


def _hhmm(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M")


def complete(observer: MaintenanceObserver, expected: Expected) -> bool:
    """Every expected refined event arrived and was diagnosed, and every flagged machine has its booking."""
    if not expected.anomalies.keys() <= observer.refined.keys():
        return False
    if not observer.refined.keys() <= observer.diagnoses.keys():
        return False
    return {b.machine_id for b in observer.bookings.values()} >= expected.machines


def summarize(
    observer: MaintenanceObserver, expected: Expected, *, raw_readings: int, bad_sent: int, engine: str, db: Path,
    machines: int,
) -> dict[str, object]:  # fmt: skip
    """The figures of a run, ending with ``as injected`` (``yes`` or ``NO: ...``) and where the database is."""
    refined = observer.refined
    rows = open_bookings(db)
    per_machine = Counter(m for m, _, _ in rows)
    diagnoses = list(observer.diagnoses.values())
    job_name = job_for(observer.config).name
    problems = []
    if expected.machines != expected.injected:
        problems.append(
            f"the job flags {sorted(expected.machines)}, the simulator injected {sorted(expected.injected)}"
        )
    if refined.keys() != expected.anomalies.keys():
        missing = sorted(
            f"{a.machine_id}@{_hhmm(a.window_start)}" for t, a in expected.anomalies.items() if t not in refined
        )
        problems.append(
            f"{len(refined)} refined events arrived, the job's reference run predicts {len(expected.anomalies)}"
            + (f" (missing windows {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})" if missing else "")
        )
    if strangers := [r for r in refined.values() if r.source != job_name]:
        problems.append(f"{len(strangers)} diagnose tasks did not come from the window job")
    if undiagnosed := refined.keys() - observer.diagnoses.keys():
        problems.append(f"{len(undiagnosed)} refined events were not diagnosed")
    if set(per_machine) != expected.injected or any(n != 1 for n in per_machine.values()):
        problems.append(
            f"open bookings per machine {dict(per_machine)}; expected one for each of {sorted(expected.injected)}"
        )
    if len(observer.dead_letters) != bad_sent:
        problems.append(f"{len(observer.dead_letters)} of {bad_sent} bad readings reached the dead-letter topic")
    figures: dict[str, object] = {
        "engine": engine,
        "machines": machines,
        "anomalies injected": ", ".join(sorted(expected.injected)) or "none",
        "raw readings (sensor topic)": raw_readings,
        "  of which bad readings": bad_sent,
        "  bad readings dead-lettered": len(observer.dead_letters),
        "refined events = agent inputs": len(refined),
        "raw readings per agent input": raw_readings / len(refined) if refined else float("nan"),
        "refined events written again (deduplicated)": observer.repeats,
        "diagnoses: schedule": sum(d.action == "schedule" for d in diagnoses),
        "diagnoses: already booked": sum(d.action == "already-booked" for d in diagnoses),
        "schedule-maintenance tasks": len(observer.schedule_tasks),
        "maintenance booked (database)": len(rows),
        "machines booked": ", ".join(m for m, _, _ in rows) or "none",
        "as injected": "yes" if not problems else "NO: " + "; ".join(problems),
        "database": str(db),
    }
    return figures
