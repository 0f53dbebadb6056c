"""Creating the topics a job writes to (and reads from) before it starts, as the runtime does for agents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentflux.contract.topics import DEAD_LETTER_TOPIC, TopicSpec, reserved_specs
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.loop_thread import LoopThread

if TYPE_CHECKING:
    from agentflux.streams.job import StreamJob
    from agentflux.transport.settings import KafkaSettings


def job_topics(job: StreamJob[Any], *, dead_letters: bool) -> list[TopicSpec]:
    """Specs for the source, the sink and, when the engine writes dead letters, ``agent.dead-letter.v1``."""
    specs = [TopicSpec(job.source_spec.topic), TopicSpec(job.sink_spec.topic)]
    if dead_letters:
        specs += [s for s in reserved_specs() if s.name == DEAD_LETTER_TOPIC]
    return specs


def provision(kafka: KafkaSettings, job: StreamJob[Any], *, dead_letters: bool) -> None:
    """Create whichever of the job's topics are missing; existing topics are left as they are."""

    async def ensure() -> None:
        transport = KafkaTransport(kafka)
        try:
            await transport.start()
            await transport.ensure_topics(job_topics(job, dead_letters=dead_letters))
        finally:
            await transport.close()

    with LoopThread("agentflux-provision") as loop:
        loop.run(ensure())
