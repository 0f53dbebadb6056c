"""Two agents that act on refined vibration anomalies, never on raw readings.

======================  ==================================================================================
agent                   what it does
======================  ==================================================================================
diagnostics             serves ``diagnose-machine``, the window job's sink: reads the machine's history
                        through the MCP ``maintenance-db`` (``machine_history``), decides with
                        ``rules.py``, records its diagnosis on ``manufacturing.machine-diagnosed.v1``
                        and, unless the machine already has an open booking, delegates the A2A skill
                        ``schedule-maintenance`` (found through the card registry under ``agentflux run``)
maintenance-scheduling  serves ``schedule-maintenance``: ``book_maintenance`` through MCP, which never
                        gives a machine a second open booking, then publishes
                        ``manufacturing.maintenance-scheduled.v1``
======================  ==================================================================================

No agent subscribes to ``manufacturing.sensor-reading.v1`` (Avro through the
schema registry; the app declares it so that ``agentflux schema check`` covers
it): the window job
(``job.py``) reads it and writes one ``diagnose-machine`` task per anomalous
window, keyed by machine id, with a task id derived from the window. Tasks of
one machine therefore run one after another, and a refined event written again
(a crash of the job, the other engine) is the same task, which the worker
answers from its store instead of diagnosing twice. Distinct windows of one
anomaly are distinct tasks: the history check and the server's rule keep them
to one booking.

Run it all with ``agentflux run examples.predictive_maintenance:app`` or one
agent per process with ``--agent NAME`` (``agentflux demo maintenance`` does
the latter, and runs the window job and the sensor simulator too).
"""

from __future__ import annotations

from datetime import UTC, datetime

from agentflux import AgentApp, Context, Retry, RetryPolicy, UnknownSkill
from examples.predictive_maintenance.config import MaintenanceConfig
from examples.predictive_maintenance.models import (
    Diagnosis,
    MaintenanceBooked,
    MaintenanceRequest,
    SensorReading,
    VibrationAnomaly,
)
from examples.predictive_maintenance.rules import diagnose

DIAGNOSTICS, SCHEDULING = "diagnostics", "maintenance-scheduling"
DB = "maintenance-db"
DELEGATE_TIMEOUT = 30.0
UNKNOWN_SKILL_RETRY = 2.0


def booking_task_id(anomaly_id: str) -> str:
    """The ``schedule-maintenance`` task of one refined event: the same for every attempt and redelivery."""
    return f"book-{anomaly_id}"


def build_app(config: MaintenanceConfig | None = None) -> AgentApp:
    """The maintenance app for ``config`` (default: from the environment)."""
    config = config or MaintenanceConfig.from_env()
    app = AgentApp(config.app_name)
    app.topic(config.sensor_topic, format="avro", types=[SensorReading])  # written by the simulator, read by the job
    app.tool_server(config.tool_server())
    patient = RetryPolicy(max_attempts=8, initial_backoff=0.5, max_backoff=5.0)
    diagnostics = app.agent(
        DIAGNOSTICS, description="Diagnoses machines from refined vibration anomalies", retry=patient,
        publishes=[config.diagnosed_topic],
    )  # fmt: skip
    scheduling = app.agent(
        SCHEDULING, description="Books maintenance slots, never two open ones per machine",
        publishes=[config.scheduled_topic],
    )  # fmt: skip

    @diagnostics.skill(config.diagnose_skill, description="Diagnoses a machine's vibration anomaly and books a fix")
    async def diagnose_machine(anomaly: VibrationAnomaly, ctx: Context) -> Diagnosis:
        history = await ctx.tools(DB).call("machine_history", machine_id=anomaly.machine_id)
        verdict = diagnose(anomaly, history, datetime.now(UTC).date())
        anomaly_id = ctx.task_id or ctx.message_id
        booking: MaintenanceBooked | None = None
        if verdict.action == "schedule":
            request = MaintenanceRequest(
                machine_id=anomaly.machine_id, priority=verdict.priority, reason="; ".join(verdict.reasons),
                anomaly_id=anomaly_id,
            )  # fmt: skip
            try:  # found by skill through the card registry, never by address
                answer = await ctx.delegate(
                    config.schedule_skill, request, timeout=DELEGATE_TIMEOUT, task_id=booking_task_id(anomaly_id)
                )
            except UnknownSkill as exc:  # no live agent offers it (yet): keep the anomaly, try again
                raise Retry(f"{exc}; trying again", delay=UNKNOWN_SKILL_RETRY) from exc
            booking = MaintenanceBooked.model_validate(answer)
        diagnosis = Diagnosis(
            machine_id=anomaly.machine_id, anomaly_id=anomaly_id, window_start=anomaly.window_start,
            window_end=anomaly.window_end, avg_vibration=anomaly.avg_vibration, severity=verdict.severity,
            priority=verdict.priority, action=verdict.action, reasons=list(verdict.reasons),
            booking_id=booking.booking_id if booking else verdict.booking_id, booking=booking,
        )  # fmt: skip
        await ctx.publish(config.diagnosed_topic, diagnosis, key=anomaly.machine_id)
        return diagnosis

    @scheduling.skill(config.schedule_skill, description="Books a maintenance slot; one open booking per machine")
    async def schedule_maintenance(request: MaintenanceRequest, ctx: Context) -> MaintenanceBooked:
        row = await ctx.tools(DB).call(
            "book_maintenance", machine_id=request.machine_id, priority=request.priority, reason=request.reason,
            request_id=ctx.task_id or ctx.message_id, anomaly_id=request.anomaly_id,
        )  # fmt: skip
        booked = MaintenanceBooked.model_validate(row)
        await ctx.publish(config.scheduled_topic, booked, key=request.machine_id)
        return booked

    return app


app = build_app()
