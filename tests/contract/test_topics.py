import pytest

from agentflux.contract.errors import TopicNameError
from agentflux.contract.topics import (
    TopicSpec,
    event_type,
    is_reserved,
    task_requests_topic,
    validate_topic,
)


@pytest.mark.parametrize(
    "topic",
    [
        "ecommerce.price-changed.v1",
        "manufacturing.sensor-reading.v12",
        "a.b.v1",
        "agent.dead-letter.v1",
        "agent.task-requests.update-price",
        "agent.task-results.update-price",
        "agent.cards.v1",
        "agent.tasks.v1",
    ],
)
def test_valid_topics(topic: str) -> None:
    assert validate_topic(topic) == topic


@pytest.mark.parametrize(
    "topic",
    [
        "price-changed",
        "Ecommerce.price-changed.v1",
        "ecommerce.price_changed.v1",
        "ecommerce.price-changed.v0",
        "ecommerce.price-changed",
        "ecommerce..v1",
        "ecommerce.price-changed.v1.extra",
        "",
    ],
)
def test_bad_topics_show_the_expected_form(topic: str) -> None:
    with pytest.raises(TopicNameError, match=r"expected \{domain\}\.\{event-type\}\.v\{N\}"):
        validate_topic(topic)


def test_agent_namespace_is_reserved() -> None:
    assert is_reserved("agent.tasks.v1")
    with pytest.raises(TopicNameError, match="reserved"):
        validate_topic("agent.my-stuff.v1")


def test_event_type_drops_the_version() -> None:
    assert event_type("ecommerce.price-changed.v3") == "ecommerce.price-changed"


def test_task_topics_validate_the_skill() -> None:
    assert task_requests_topic("update-price") == "agent.task-requests.update-price"
    with pytest.raises(TopicNameError, match="skill"):
        task_requests_topic("Update Price")


def test_topic_spec_config() -> None:
    spec = TopicSpec("ecommerce.price-changed.v1", partitions=3, retention_ms=1000, cleanup_policy="compact")
    assert spec.topic_config() == {"retention.ms": "1000", "cleanup.policy": "compact"}
    with pytest.raises(TopicNameError, match="cleanup_policy"):
        TopicSpec("ecommerce.price-changed.v1", cleanup_policy="forever")
    with pytest.raises(TopicNameError, match="partitions"):
        TopicSpec("ecommerce.price-changed.v1", partitions=0)


def test_the_dead_letter_topic_is_created_for_the_apps_size_limit() -> None:
    from agentflux.contract.topics import DEAD_LETTER_TOPIC, reserved_specs

    [spec] = [s for s in reserved_specs(3, max_message_bytes=2_000_000) if s.name == DEAD_LETTER_TOPIC]
    assert spec.topic_config()["max.message.bytes"] == str(2_000_000 + 64 * 1024)
