"""Delegation on the in-memory transport: round trips, fan-out, failures, timeouts, rejection, dedup."""

import asyncio
import logging

import pytest
from pydantic import BaseModel

from agentflux import (
    AgentApp,
    AgentClient,
    ConfigError,
    Context,
    LifecycleError,
    PayloadDecodeError,
    Reject,
    RetryPolicy,
    TaskFailed,
    TaskPhase,
    TaskRejected,
    TaskTimeout,
    UnknownSkill,
)
from agentflux.contract.envelope import Envelope
from agentflux.contract.topics import TASKS_TOPIC
from agentflux.contract.tracecontext import TraceParent
from agentflux.runtime.handlers import WORKING_AFTER
from agentflux.runtime.tasks.requester import gather
from agentflux.testing import MemoryTransport, TestApp

pytestmark = pytest.mark.asyncio
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.01)


class Numbers(BaseModel):
    values: list[int]


class Total(BaseModel):
    total: int


class Trip(BaseModel):
    city: str


class Plan(BaseModel):
    parts: list[str]


def build_app(calls: dict[str, int]) -> AgentApp:
    app = AgentApp("delegation")
    math = app.agent("math", retry=FAST)
    planner = app.agent("planner", publishes=["travel.trip-planned.v1"])

    @math.skill("add")
    async def add(task: Numbers, ctx: Context) -> Total:
        calls["add"] = calls.get("add", 0) + 1
        assert ctx.task_id is not None
        return Total(total=sum(task.values))

    @math.skill("explode")
    async def explode(task: Numbers, ctx: Context) -> Total:
        calls["explode"] = calls.get("explode", 0) + 1
        raise ValueError(f"cannot handle {task.values}")

    @math.skill("sleepy")
    async def sleepy(task: Numbers, ctx: Context) -> Total:
        await asyncio.sleep(0.3)
        return Total(total=0)

    @math.skill("refuse")
    async def refuse(task: Numbers, ctx: Context) -> Total:
        raise Reject("negative numbers are not my business")

    @math.skill("sloppy")
    async def sloppy(task: Numbers, ctx: Context) -> Total:
        return {"total": "many"}  # type: ignore[return-value]

    for part in ("flight", "hotel", "car"):
        math.skill(f"book-{part}")(_booking(part))

    @planner.on("travel.trip-requested.v1")
    async def plan(event: Trip, ctx: Context) -> None:
        parts = await ctx.gather(*(ctx.delegate(f"book-{p}", event) for p in ("flight", "hotel", "car")))
        await ctx.publish("travel.trip-planned.v1", Plan(parts=[x for p in parts for x in p.parts]), key=event.city)

    return app


def _booking(part: str):  # type: ignore[no-untyped-def]
    async def book(task: Trip, ctx: Context) -> Plan:
        return Plan(parts=[f"{part}:{task.city}"])

    return book


@pytest.fixture
def calls() -> dict[str, int]:
    return {}


async def test_a_quick_task_records_one_terminal_state_that_holds_every_timestamp(calls: dict[str, int]) -> None:
    async with TestApp(build_app(calls)) as t:
        result = await t.delegate("add", {"values": [1, 2, 3]}, task_id="task-1", correlation_id="corr-1")
        assert result == Total(total=6)
        await t.drain()
        states = t.task_states("task-1")
    assert [s.state for s in states] == [TaskPhase.COMPLETED]  # the request was the submitted record
    final = states[-1]
    assert final.result == {"total": 6} and final.input == {"values": [1, 2, 3]} and final.attempts == 1
    assert set(final.timestamps) == {TaskPhase.SUBMITTED, TaskPhase.WORKING, TaskPhase.COMPLETED}
    assert final.correlation_id == "corr-1" and final.requester == "test"


async def test_a_task_still_running_after_working_after_records_working_first(calls: dict[str, int]) -> None:
    assert WORKING_AFTER < 0.3  # the sleepy skill takes 0.3 s
    async with TestApp(build_app(calls)) as t:
        await t.delegate("sleepy", {"values": [1]}, task_id="slow-2", correlation_id="corr-2")
        await t.drain()
        states = t.task_states("slow-2")
    assert [s.state for s in states] == [TaskPhase.WORKING, TaskPhase.COMPLETED]
    assert set(states[0].timestamps) == {TaskPhase.SUBMITTED, TaskPhase.WORKING}
    assert states[0].timestamps[TaskPhase.WORKING] == states[1].timestamps[TaskPhase.WORKING]
    assert {s.correlation_id for s in states} == {"corr-2"}


async def test_a_client_without_the_app_gets_dicts_and_validates_nothing_locally(calls: dict[str, int]) -> None:
    app = build_app(calls)
    async with TestApp(app) as t, AgentClient(transport=t.transport) as client:
        assert await client.delegate("add", {"values": [4, 5]}, timeout=5) == {"total": 9}
        typed = AgentClient(transport=t.transport, app=app)
        async with typed:
            assert await typed.delegate("add", Numbers(values=[1]), timeout=5) == Total(total=1)
            with pytest.raises(PayloadDecodeError, match="does not match Numbers: values"):
                await typed.delegate("add", {"values": "x"})
        with pytest.raises(UnknownSkill, match="no agent offers skill 'nobody-home'"):
            await client.delegate("nobody-home", {}, timeout=5)


async def test_fan_out_and_in_from_an_event_handler_keeps_one_correlation(calls: dict[str, int]) -> None:
    async with TestApp(build_app(calls)) as t:
        await t.publish("travel.trip-requested.v1", Trip(city="oslo"), key="oslo", correlation_id="trip-42")
        await t.drain()
        planned = t.published("travel.trip-planned.v1", Plan)
        envelopes = [*t.envelopes("travel.trip-planned.v1"), *(e for e in t.envelopes(TASKS_TOPIC))]
        requests = [e for s in ("flight", "hotel", "car") for e in t.envelopes(f"agent.task-requests.book-{s}")]
        states = t.task_states()
    assert planned == [Plan(parts=["flight:oslo", "hotel:oslo", "car:oslo"])]
    assert {e.correlation_id for e in [*envelopes, *requests]} == {"trip-42"}
    assert {s.correlation_id for s in states} == {"trip-42"} and {s.requester for s in states} == {"planner"}
    assert len({TraceParent.parse(e.traceparent or "").trace_id for e in [*envelopes, *requests]}) == 1
    assert len({s.task_id for s in states}) == 3


async def test_a_failing_worker_raises_task_failed_after_the_retry_budget(calls: dict[str, int]) -> None:
    async with TestApp(build_app(calls)) as t:
        with pytest.raises(TaskFailed) as caught:
            await t.delegate("explode", {"values": [7]}, task_id="boom")
        await t.drain()
        final = t.task_states("boom")[-1]
        assert not t.dead_letters()  # a reported failure is not a dead letter
    assert caught.value.error_type == "ValueError" and "cannot handle [7]" in caught.value.error
    assert caught.value.skill == "explode" and caught.value.task_id == "boom"
    assert calls["explode"] == FAST.max_attempts
    assert final.state is TaskPhase.FAILED and final.attempts == 3 and final.error is not None


async def test_reject_and_an_invalid_result_end_the_task_at_once(calls: dict[str, int]) -> None:
    async with TestApp(build_app(calls)) as t:
        with pytest.raises(TaskRejected, match="negative numbers"):
            await t.delegate("refuse", {"values": [-1]})
        with pytest.raises(TaskFailed, match="InvalidResult") as caught:
            await t.delegate("sloppy", {"values": [1]})
    assert not isinstance(caught.value, TaskRejected)


async def test_a_timeout_names_skill_and_task_and_the_late_reply_is_dropped(
    calls: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    async with TestApp(build_app(calls)) as t:
        with pytest.raises(TaskTimeout) as caught:
            await t.delegate("sleepy", {"values": []}, timeout=0.05, task_id="slow-1")
        with caplog.at_level(logging.WARNING, logger="agentflux.runtime"):
            await t.drain()
            await asyncio.sleep(0.1)
        assert t.task_states("slow-1")[-1].state is TaskPhase.COMPLETED
    assert caught.value.skill == "sleepy" and caught.value.task_id == "slow-1"
    assert "slow-1" in str(caught.value) and "sleepy" in str(caught.value)
    assert any("discarding the result of task slow-1" in r.getMessage() for r in caplog.records)


async def test_input_that_fails_the_model_is_rejected_and_the_handler_never_runs(calls: dict[str, int]) -> None:
    async with TestApp(build_app(calls)) as t, AgentClient(transport=t.transport) as client:
        with pytest.raises(TaskRejected) as caught:
            await client.delegate("add", {"values": ["not a number"]}, task_id="bad-1", timeout=5)
        await t.drain()
        states = t.task_states("bad-1")
        assert not t.dead_letters()
    assert "add" not in calls
    assert caught.value.error_type == "PayloadDecodeError" and "values.0" in caught.value.error
    assert [s.state for s in states] == [TaskPhase.REJECTED]


async def test_an_undecodable_request_is_dead_lettered_and_its_requester_told(calls: dict[str, int]) -> None:
    async with TestApp(build_app(calls)) as t, AgentClient(transport=t.transport) as client:
        with pytest.raises(TaskRejected, match="not valid JSON"):
            await client.delegate("add", b"\xff{ not json", task_id="poison-1", timeout=5)
        await t.drain()
        letters = t.dead_letters()
    assert [d.source_topic for d in letters] == ["agent.task-requests.add"]
    assert letters[0].record.value == b"\xff{ not json"


async def test_a_redelivered_finished_task_is_answered_not_run_again(calls: dict[str, int]) -> None:
    async with TestApp(build_app(calls)) as t:
        first = await t.delegate("add", {"values": [2, 2]}, task_id="once")
        again = await t.delegate("add", {"values": [2, 2]}, task_id="once")
        assert first == again == Total(total=4)
        assert calls["add"] == 1
        changed = await t.delegate("add", {"values": [3]}, task_id="once")
        await t.drain()
        completed = [s for s in t.task_states("once") if s.state is TaskPhase.COMPLETED]
    assert changed == Total(total=3) and calls["add"] == 2  # a different input under the same id is a new task
    assert len(completed) == 2


async def test_a_new_owner_restores_finished_tasks_and_skips_redelivered_ones(calls: dict[str, int]) -> None:
    app = build_app(calls)
    async with TestApp(app) as first:
        await first.delegate("add", {"values": [5]}, task_id="restored")
        await first.drain()
        log = first.transport.topics
    second = TestApp(app)  # a fresh process over the same log, with nothing committed: everything is redelivered
    second.transport.topics.update({topic: [list(p) for p in parts] for topic, parts in log.items()})
    async with second:
        await second.drain()
        results = [r for r in second.records("agent.task-results.add") if dict(r.headers)["ce_taskid"] == b"restored"]
    assert calls["add"] == 1
    assert len(results) == 2  # the original result and the re-emitted one


async def test_gather_raises_the_first_error_and_stops_waiting_for_the_rest(
    calls: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    async with TestApp(build_app(calls)) as t:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TaskFailed):
            await gather(t.delegate("explode", {"values": [1]}), t.delegate("sleepy", {"values": []}, task_id="s2"))
        assert loop.time() - started < 0.25  # did not wait for the sleepy one
        outcomes = await gather(
            t.delegate("explode", {"values": [1]}), t.delegate("add", {"values": [1]}), return_exceptions=True
        )
        with caplog.at_level(logging.WARNING, logger="agentflux.runtime"):
            await t.drain()
    assert isinstance(outcomes[0], TaskFailed) and outcomes[1] == Total(total=1)
    assert any("discarding the result of task s2" in r.getMessage() for r in caplog.records)


async def test_a_redelivered_orchestrator_record_reuses_its_task_ids(calls: dict[str, int]) -> None:
    app = build_app(calls)
    counted = app.agent("counter")

    @counted.on("travel.trip-counted.v1")
    async def count(event: Trip, ctx: Context) -> None:
        await ctx.delegate("add", Numbers(values=[len(event.city)]))

    async with TestApp(app) as t:
        envelope = Envelope.new(source="test", type="travel.trip-counted")
        for _ in range(2):  # the same record twice, as a redelivery after a crash would bring it
            await t.transport.publish(
                "travel.trip-counted.v1", b'{"city": "bergen"}', key=b"bergen", headers=envelope.to_headers()
            )
        await t.drain()
        task_ids = {s.task_id for s in t.task_states() if s.skill == "add"}
    assert calls["add"] == 1 and len(task_ids) == 1


async def test_an_agent_client_must_be_started_and_is_closed_for_good() -> None:
    client = AgentClient(transport=MemoryTransport())
    with pytest.raises(LifecycleError, match="async with AgentClient"):
        await client.delegate("add", {})
    async with client:
        pass
    with pytest.raises(LifecycleError, match="closed"):
        await client.start()


async def test_working_after_is_set_per_skill_and_0_records_working_even_for_a_quick_task() -> None:
    app = AgentApp("working-after")
    math = app.agent("math")

    @math.skill("eager", working_after=0)
    async def eager(task: Numbers, ctx: Context) -> Total:
        return Total(total=sum(task.values))  # never awaits: a timer of 0 s would fire only after it returned

    @math.skill("patient", working_after=5)
    async def patient(task: Numbers, ctx: Context) -> Total:
        await asyncio.sleep(0.3)  # longer than the default WORKING_AFTER, shorter than its own setting
        return Total(total=0)

    @math.skill("default")
    async def default(task: Numbers, ctx: Context) -> Total:
        return Total(total=0)

    assert (eager.working_after, patient.working_after, default.working_after) == (0, 5, WORKING_AFTER)
    async with TestApp(app) as t:
        assert await t.delegate("eager", {"values": [1, 2]}, task_id="eager-1") == Total(total=3)
        await t.delegate("patient", {"values": []}, task_id="patient-1")
        await t.drain()
        eager_states, patient_states = t.task_states("eager-1"), t.task_states("patient-1")
    assert [s.state for s in eager_states] == [TaskPhase.WORKING, TaskPhase.COMPLETED]
    assert [s.state for s in patient_states] == [TaskPhase.COMPLETED]


@pytest.mark.parametrize("bad", [-0.1, "0.1", None, True, float("nan"), float("inf")])
async def test_working_after_must_be_a_finite_number_of_seconds_at_least_0(bad: object) -> None:
    math = AgentApp("working-after").agent("math")
    with pytest.raises(ConfigError) as caught:
        math.skill("add", working_after=bad)  # type: ignore[arg-type]
    assert str(caught.value) == f"skill 'add': working_after must be a finite number of seconds >= 0, got {bad!r}"
    assert not math.skills
