"""Creating the topics a job writes to (and reads from) before it starts, as the runtime does for agents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from confluent_kafka.admin import AdminClient

from agentflux.contract.topics import DEAD_LETTER_TOPIC, TopicSpec, reserved_specs
from agentflux.transport.kafka import create_topics
from agentflux.transport.kafka_client import client_config, cluster_watch, make_client

if TYPE_CHECKING:
    from agentflux.streams.job import StreamJob
    from agentflux.transport.settings import KafkaSettings


def job_topics(job: StreamJob[Any], *, dead_letters: bool) -> list[TopicSpec]:
    """Specs for the source, the sink and, when the engine writes dead letters, ``agent.dead-letter.v1``."""
    specs = [TopicSpec(job.src.topic), TopicSpec(job.snk.topic)]
    if dead_letters:
        specs += [s for s in reserved_specs() if s.name == DEAD_LETTER_TOPIC]
    return specs


def provision(kafka: KafkaSettings, job: StreamJob[Any], *, dead_letters: bool) -> None:
    """Create whichever of the job's topics are missing; existing topics are left as they are."""
    admin = make_client(AdminClient, client_config(kafka, cluster_watch(kafka)))
    create_topics(admin, job_topics(job, dead_letters=dead_letters))
