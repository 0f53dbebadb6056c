"""Agent Cards from declarations (fast tier: no broker)."""

from __future__ import annotations

import json

import cards_app
import pytest
from a2a.types import AgentCard
from a2a.utils.constants import TransportProtocol
from typer.testing import CliRunner

from agentflux import AgentApp, ConfigError
from agentflux.a2a import KAFKA_BINDING, SKILL_SCHEMAS_URI, build_card, build_cards, skill_schemas
from agentflux.a2a.cards import card_from_json, card_to_json
from agentflux.cli.main import app as cli


def test_a_card_names_the_agent_its_skills_and_their_schemas() -> None:
    card = build_card(cards_app.inventory, gateway_url="http://gw:8080/")
    assert (card.name, card.description, card.version) == ("inventory", "Knows what is in stock", "0.1.0")
    assert [(s.id, s.name, s.description, list(s.tags)) for s in card.skills] == [
        ("check-stock", "check-stock", "How many of a SKU are in stock", ["stock", "read"]),
        ("reserve", "Reserve stock", "Reserve stock", ["inventory"]),
        ("hello", "hello", "hello", ["inventory"]),
    ]
    assert list(card.skills[0].examples) == ['{"sku":"A-1"}']
    assert list(card.skills[0].input_modes) == ["application/json", "text/plain"]  # one string field
    assert list(card.skills[1].input_modes) == ["application/json"]
    assert list(card.skills[2].output_modes) == ["text/plain", "application/json"]  # answers with a message
    schemas = skill_schemas(card)
    assert schemas["reserve"]["input"]["required"] == ["sku", "quantity"]
    assert schemas["reserve"]["output"]["title"] == "Stock"
    assert (schemas["reserve"]["reply"], schemas["hello"]["reply"]) == ("task", "message")
    (extension,) = card.capabilities.extensions
    assert extension.uri == SKILL_SCHEMAS_URI and not extension.required
    assert card.capabilities.streaming and not card.capabilities.push_notifications
    assert not card.capabilities.extended_agent_card


def test_interfaces_are_listed_http_first_then_kafka() -> None:
    card = build_card(cards_app.inventory, gateway_url="http://gw:8080")
    listed = [(i.protocol_binding, i.url, i.protocol_version) for i in card.supported_interfaces]
    assert listed == [
        (TransportProtocol.JSONRPC, "http://gw:8080/agents/inventory", "1.0"),
        (TransportProtocol.HTTP_JSON, "http://gw:8080/agents/inventory", "1.0"),
        (KAFKA_BINDING, "kafka://broker:9092/agents/inventory", "1.0"),
    ]
    kafka_only = build_card(cards_app.inventory)
    assert [i.protocol_binding for i in kafka_only.supported_interfaces] == [KAFKA_BINDING]


def test_only_agents_with_skills_have_cards() -> None:
    assert [c.name for c in build_cards(cards_app.app)] == ["inventory"]
    with pytest.raises(ConfigError, match="offers no skills"):
        build_card(cards_app.app.agents["watcher"])


def test_defaults_fill_every_required_field() -> None:
    app = AgentApp("bare")
    agent = app.agent("bare-agent")

    @agent.skill("ping")
    async def ping(task: cards_app.Lookup, ctx: object) -> cards_app.Stock:  # type: ignore[empty-body]
        ...

    card = build_card(agent)
    assert card.description == "agentflux agent offering ping"
    assert (card.skills[0].description, list(card.skills[0].tags)) == ("ping", ["bare-agent"])
    assert list(card.default_input_modes) and list(card.default_output_modes)


def test_the_json_form_round_trips_and_rejects_what_is_not_a_card() -> None:
    card = build_card(cards_app.inventory, gateway_url="http://gw")
    data = card_to_json(card)
    assert data["supportedInterfaces"][0]["protocolBinding"] == "JSONRPC"
    assert data["capabilities"]["extensions"][0]["params"]["skills"]["check-stock"]["input"]["title"] == "Lookup"
    assert card_from_json(json.dumps(data)) == card
    with pytest.raises(ValueError, match="not an A2A Agent Card"):
        card_from_json(b'["nope"]')
    assert isinstance(card_from_json(data), AgentCard)


def test_cards_list_and_show_print_declared_cards() -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["cards", "list", "--app", "tests/a2a/cards_app.py:app"])
    assert listed.exit_code == 0, listed.output
    assert "inventory" in listed.output and "check-stock" in listed.output and "watcher" not in listed.output
    shown = runner.invoke(cli, ["cards", "show", "inventory", "--app", "tests/a2a/cards_app.py:app"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["skills"][1]["name"] == "Reserve stock"
