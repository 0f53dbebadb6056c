"""Serving skills: one task request in, its states and its result out.

For each request the worker runs the skill with its retry policy and
timeout, records the task's terminal state (``completed``, ``failed``,
``rejected`` or ``canceled``) on ``agent.tasks.v1`` and only then sends the
outcome to the requester's reply address. The request itself is the task's
``submitted`` record; a ``working`` record is written only when the handler is
still running the skill's ``working_after`` seconds after it started
(``handlers.WORKING_AFTER``, 0.1 s, by default; 0 sends it as the handler starts), so a
quick task costs two records, not four. Every terminal record carries the
``submitted`` and ``working`` timestamps and the input, so a reader of
``agent.tasks.v1`` misses only the intermediate records of tasks that end at
once.

The request counts as done after the terminal state and the result are on the
broker, so its offset is committed after the outcome is safe. A failure is
reported, never dead-lettered; a request that cannot be read at all (bad
headers, not JSON) goes to the dead-letter topic, and the requester is told
``rejected`` when its reply address can still be read.

Exactly-once effect: a request whose task already finished (in this process,
or in the restored ``agent.tasks.v1`` co-partition) is answered with the
stored outcome; the handler does not run again. The remaining window: a crash
after the handler's side effect but before the terminal state is on the
broker runs the handler again on the next owner, so effects must be
idempotent on ``ctx.task_id``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from agentflux.contract.codec import decode, parse_json
from agentflux.contract.envelope import Envelope, now_rfc3339
from agentflux.contract.errors import InvalidMessage, Reject
from agentflux.contract.tasks import TaskErrorInfo, TaskPhase, TaskReport, parse_reply_to
from agentflux.contract.topics import TopicSpec
from agentflux.ops.deadletters import DeadLetterWriter
from agentflux.runtime.context import Context, Services
from agentflux.runtime.declarations import Agent, AgentApp
from agentflux.runtime.handlers import Skill, run_with_retries
from agentflux.runtime.keyed_consumer import KeyOrderedConsumer
from agentflux.runtime.logcontext import handling
from agentflux.runtime.processing import correlate_from_body, read_envelope, unreadable
from agentflux.runtime.retry import Watchdog, until_registry_answers
from agentflux.runtime.tasks.cancels import TaskCancels, is_cancel
from agentflux.runtime.tasks.finished import FinishedTasks
from agentflux.runtime.tasks.reports import ReplyAddress, TaskReporter, encode_within_limit
from agentflux.runtime.tracing import message_attributes, record_attributes
from agentflux.transport.base import Positions, Record, TopicPartition

log = logging.getLogger("agentflux.runtime")


def error_info(exc: BaseException) -> TaskErrorInfo:
    return TaskErrorInfo(type=type(exc).__name__, message=str(exc) or repr(exc))


class SkillProcessor:
    """The ``process`` function of an agent's task consumer (see ``KeyOrderedConsumer``)."""

    def __init__(self, agent: Agent, services: Services, *, max_message_bytes: int, store: FinishedTasks | None = None):
        self.agent = agent
        self.services = services
        self.max_message_bytes = max_message_bytes
        self.store = store or FinishedTasks()
        self.cancels = TaskCancels()
        self.watchdog = Watchdog()
        self.noted: set[str] = set()
        self.correlated: set[str] = set()  # see correlate_from_body
        self.transport = services.publisher.transport
        self.payloads = services.publisher.payloads
        self.reports = TaskReporter(self.transport, source=agent.name, payloads=self.payloads)
        self.dead_letters = DeadLetterWriter(
            services.publisher.transport, group=agent.task_group_id, agent=agent.name, max_bytes=max_message_bytes
        )
        self.worker_id = f"{agent.name}@{socket.gethostname()}:{os.getpid()}"

    async def on_assigned(self, partitions: Sequence[TopicPartition], committed: Positions) -> None:
        """Restore the finished tasks of newly owned request partitions before any of their records run."""
        try:
            skills = {s.id for s in self.agent.skills}
            offsets = {tp: position.offset for tp, position in committed.items()}
            await self.store.restore(self.transport, partitions, skills, committed=offsets)
        except Exception:  # dedup becomes best effort; delivery stays at-least-once
            log.exception("%s: restoring finished tasks failed; redelivered tasks may run again", self.agent.name)

    async def __call__(self, record: Record) -> None:
        skill = self.agent.skill_for(record.topic)
        if skill is None:
            return
        if is_cancel(record):
            self.cancels.request(record)
            return
        try:
            envelope = read_envelope(record, self.max_message_bytes, self.noted)
            reply = self._reply_address(skill, envelope.reply_to)
            if self.payloads is not None and self.payloads.framed(record.value):
                data = await self._decode(record, dict)
            else:
                data = parse_json(record.value) if record.value is not None else _missing()
        except Exception as exc:  # any input at all: a dead letter (and a rejection if the requester is known)
            problem = unreadable(exc)
            await self.dead_letters.send(record, 0, problem)
            await self._reject_unreadable(record, skill, problem)
            return
        envelope = correlate_from_body(envelope, data, record, self.correlated)
        task_id = envelope.task_id or envelope.id
        envelope = envelope if envelope.task_id else envelope.with_(task_id=task_id)
        tracing = self.services.publisher.tracing
        if not tracing.active:
            with handling(envelope):
                await self._serve(skill, record, envelope, data, reply)
            return
        attributes = {
            **message_attributes(record.topic, envelope, "process"),
            **record_attributes(record, self.agent.group_id),
            "agentflux.agent": self.agent.name,
            "agentflux.skill": skill.id,
        }
        span = tracing.span(f"skill {skill.id}", SpanKind.SERVER, parent=envelope.traceparent, attributes=attributes)
        with span, handling(envelope):
            await self._serve(skill, record, envelope, data, reply)

    async def _serve(self, skill: Skill, record: Record, envelope: Envelope, data: Any, reply: ReplyAddress) -> None:
        """Run the task ``record`` asks for (or re-emit its outcome), and report each state it reaches."""
        metrics = self.services.metrics
        if not metrics.active:
            await self._run_task(skill, record, envelope, data, reply)
            return
        metrics.in_flight.add(1, {"skill": skill.id})
        try:
            await self._run_task(skill, record, envelope, data, reply)
        finally:
            metrics.in_flight.add(-1, {"skill": skill.id})

    async def _run_task(self, skill: Skill, record: Record, envelope: Envelope, data: Any, reply: ReplyAddress) -> None:
        task_id = envelope.task_id or envelope.id
        submitted = TaskReport(
            task_id=task_id,
            skill=skill.id,
            state=TaskPhase.SUBMITTED,
            correlation_id=envelope.correlation_id,
            input=data if len(record.value or b"") < self.max_message_bytes - 4096 else None,
            requester=envelope.source,
            worker=self.worker_id,
            timestamps={TaskPhase.SUBMITTED: envelope.time or now_rfc3339()},
        )
        done = self.store.get(task_id)
        if done is not None and done.skill == skill.id and done.input in (None, data):
            log.info(
                "task %s (%s) already %s: re-emitting its outcome, not running it again", task_id, skill.id, done.state
            )
            await self.reports.result(done, envelope, reply)
            return
        if done is not None:
            log.warning("task id %s was reused for a different request; running it as a new task", task_id)
        try:
            if self.payloads is not None and self.payloads.framed(record.value):
                task = await self._decode(record, skill.input_model)
            else:
                task = decode(record.value, skill.input_model)
        except InvalidMessage as exc:
            await self._finish(submitted.advance(TaskPhase.REJECTED, error=error_info(exc)), envelope, reply)
            return
        reason = self.cancels.requested(task_id)
        if reason is not None:  # cancelled before it started
            final = submitted.advance(TaskPhase.CANCELED, error=TaskErrorInfo(type="TaskCanceled", message=reason))
            await self._finish(final, envelope, reply)
            return
        working = submitted.advance(TaskPhase.WORKING)
        announced: list[asyncio.Future[Any]] = []

        def announce() -> None:
            announced.append(asyncio.ensure_future(self.reports.progress(working, envelope)))

        if skill.working_after == 0:  # now, not on a timer: a handler that never awaits would beat it
            announce()
        timer = asyncio.get_running_loop().call_later(skill.working_after, announce) if skill.working_after else None
        try:
            final = await self._execute(skill, task, record, envelope, working)
        finally:
            if timer is not None:
                timer.cancel()
        await self._finish(final, envelope, reply, previous=announced)

    async def _decode(self, record: Record, tp: type[Any]) -> Any:
        """A request in the Confluent wire format, as ``tp``; waits while the registry does not answer."""
        payloads = self.payloads
        assert payloads is not None
        return await until_registry_answers(self.agent.name, lambda: payloads.decode(record.topic, record.value, tp))

    async def _finish(
        self, final: TaskReport, envelope: Envelope, reply: ReplyAddress, previous: Sequence[asyncio.Future[Any]] = ()
    ) -> None:
        # The terminal state is written after a ``working`` record is acknowledged, so it is the record
        # compaction keeps; and before the requester hears the outcome, so an outcome anyone saw is
        # never run again, even if this process dies a moment later.
        await asyncio.gather(*previous)
        final, value = encode_within_limit(final, self.max_message_bytes)
        await self.reports.state(final, envelope, value=value)
        await self.reports.result(final, envelope, reply)
        self.store.put(final)
        self.cancels.done(final.task_id)
        if self.services.metrics.active:
            seconds = _seconds_since(final.timestamps.get(TaskPhase.SUBMITTED))
            self.services.metrics.task_duration.record(seconds, {"skill": final.skill, "state": str(final.state)})
        if final.state is not TaskPhase.COMPLETED:
            asked = final.error is not None and final.error.type == "InputRequired"  # a question, not a failure
            level = logging.INFO if asked or final.state is TaskPhase.CANCELED else logging.WARNING
            what = "asks for input" if asked else str(final.state)
            reason = final.error.message if final.error else ""
            log.log(level, "%s: task %s (%s) %s: %s", self.agent.name, final.task_id, final.skill, what, reason)

    async def _execute(
        self, skill: Skill, task: BaseModel, record: Record, envelope: Envelope, working: TaskReport
    ) -> TaskReport:
        task_id = working.task_id
        with self.cancels.running(task_id) as cancellation:

            def context(number: int) -> Context:
                return Context(
                    agent=self.agent.name, envelope=envelope, record=record, services=self.services,
                    attempt=number, cancellation=cancellation,
                )  # fmt: skip

            try:
                tracing = self.services.publisher.tracing
                outcome = await run_with_retries(
                    skill, task, context, watchdog=self.watchdog, watch=self.transport.watch,
                    what=lambda: f"{self.agent.name}: task {task_id} ({skill.id})",
                    attempt_name=lambda: f"skill {skill.id} (task {task_id})",
                    traced=tracing.on_current if tracing.active else None, give_up="task_failed",
                )  # fmt: skip
            except asyncio.CancelledError:
                if not self.cancels.stopped(task_id):
                    raise
                return working.advance(TaskPhase.CANCELED, error=_canceled(cancellation.reason))
        if cancellation.requested:  # the handler turned its cancellation into another error
            return working.advance(TaskPhase.CANCELED, error=_canceled(cancellation.reason))
        if outcome.error is not None:
            status = TaskPhase.REJECTED if isinstance(outcome.error, Reject) else TaskPhase.FAILED
            return working.advance(status, error=error_info(outcome.error), attempts=outcome.attempts)
        try:
            result = skill.output_model.model_validate(outcome.value).model_dump(mode="json")
        except ValidationError as exc:
            problem = TaskErrorInfo(
                type="InvalidResult", message=f"skill {skill.id!r} returned {outcome.value!r}: {exc}"
            )
            return working.advance(TaskPhase.FAILED, error=problem, attempts=outcome.attempts)
        return working.advance(TaskPhase.COMPLETED, result=result, attempts=outcome.attempts)

    def _reply_address(self, skill: Skill, reply_to: str | None) -> ReplyAddress:
        if reply_to is None:
            return skill.results_topic, None
        topic, partition = parse_reply_to(reply_to)
        if topic != skill.results_topic:
            raise InvalidMessage(f"ce_replyto {reply_to!r} is not an address of {skill.results_topic}")
        return topic, partition

    async def _reject_unreadable(self, record: Record, skill: Skill, problem: InvalidMessage) -> None:
        """Tell the requester of a dead-lettered request that it was rejected, if its headers still say who."""
        raw = {k: (v or b"").decode("utf-8", "replace") for k, v in record.headers}
        task_id = raw.get("ce_taskid")
        if not task_id:
            return
        try:
            reply = self._reply_address(skill, raw.get("ce_replyto"))
        except InvalidMessage:
            return
        cause = Envelope.new(source=self.agent.name, type=record.topic, correlation_id=raw.get("ce_correlationid"))
        cause = cause.with_(task_id=task_id)
        rejected = TaskReport(
            task_id=task_id,
            skill=skill.id,
            state=TaskPhase.SUBMITTED,
            correlation_id=cause.correlation_id,
            requester=raw.get("ce_source"),
            worker=self.worker_id,
        ).advance(TaskPhase.REJECTED, error=error_info(problem))
        await self._finish(rejected, cause, reply)


def _seconds_since(rfc3339: str | None) -> float:
    """Seconds from ``rfc3339`` (when the requester sent the task) to now; 0 when unknown or unreadable.

    A time without an offset (which ``ce_time``'s check lets through) is taken as UTC.
    """
    try:
        began = datetime.datetime.fromisoformat(rfc3339 or "")
    except ValueError:
        return 0.0
    if began.tzinfo is None:
        began = began.replace(tzinfo=datetime.UTC)
    return max(0.0, (datetime.datetime.now(datetime.UTC) - began).total_seconds())


def _canceled(reason: str) -> TaskErrorInfo:
    return TaskErrorInfo(type="TaskCanceled", message=reason or "the task was cancelled")


def _missing() -> Any:
    raise InvalidMessage("record has no value (tombstone); expected a task input")


def task_consumer(agent: Agent, services: Services, *, max_message_bytes: int, grace: float) -> KeyOrderedConsumer:
    """The consumer of ``agent``'s skill requests: one group for the agent, records keyed by task id."""
    processor = SkillProcessor(agent, services, max_message_bytes=max_message_bytes)
    return KeyOrderedConsumer(
        services.publisher.transport,
        agent.task_group_id,
        [s.request_topic for s in agent.skills],
        processor,
        concurrency=agent.concurrency,
        grace=grace,
        on_assigned=processor.on_assigned,
        urgent=is_cancel,
    )


def skill_topic_specs(app: AgentApp) -> list[TopicSpec]:
    """Request and result topics of every skill in ``app``, requests co-partitioned with ``agent.tasks.v1``."""
    specs = []
    for agent in app.agents.values():
        for skill in agent.skills:
            specs += [app.topic_spec(skill.request_topic), app.topic_spec(skill.results_topic)]
    return specs
