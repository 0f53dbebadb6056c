"""The consumer's configuration: which group protocol, and which options go with it."""

from agentflux.transport.kafka_consumer import consumer_config


def test_group_protocol_is_the_consumer_one_unless_named_or_static() -> None:
    def protocol(client: dict[str, str], options: dict[str, str]) -> dict[str, object]:
        return consumer_config(client, "g", True, options)

    default = protocol({}, {})
    assert default["group.protocol"] == "consumer" and "session.timeout.ms" not in default
    static = protocol({}, {"group.instance.id": "w1"})
    assert static["group.protocol"] == "classic" and static["session.timeout.ms"] == 10_000
    named = protocol({"group.protocol": "classic", "session.timeout.ms": "6000"}, {})  # AGENTFLUX_KAFKA_*
    assert named["group.protocol"] == "classic" and named["session.timeout.ms"] == "6000"
    ignored = protocol({"session.timeout.ms": "6000"}, {})  # a classic-only option under the consumer protocol
    assert "session.timeout.ms" not in ignored
