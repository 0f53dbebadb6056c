"""A skill's request and result records in a registry format, on a real broker and a real registry.

The worker's app is Avro: requests carry the skill's input schema, results
``result_model(output)``, each under its own subject, which the Agent Card
names. A requester in a JSON app still delegates to it: its JSON request is
read by its first byte, and the Avro result through the registry.
"""

from __future__ import annotations

import pytest
from kafka_helpers import records_keyed
from pydantic import BaseModel

from agentflux import AgentApp, AgentClient, AppRunner, Context, PayloadDecodeError, TaskRejected
from agentflux.a2a.cards import build_card, skill_schemas
from agentflux.contract.registry import Registry
from agentflux.contract.topics import task_requests_topic, task_results_topic
from agentflux.runtime.runner import kafka_transport

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(120)]


class Numbers(BaseModel):
    values: list[int]


class Total(BaseModel):
    total: int


def worker_app(bootstrap: str, registry: str, unique: str) -> AgentApp:
    app = AgentApp(f"sk-{unique}", bootstrap_servers=bootstrap, format="avro", schema_registry_url=registry)

    @app.agent("math").skill(f"sum-{unique}")
    async def add(task: Numbers, ctx: Context) -> Total:
        return Total(total=sum(task.values))

    return app


async def test_requests_and_results_carry_the_skills_schemas(
    kafka_bootstrap: str, schema_registry: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    skill = f"sum-{unique}"
    app = worker_app(kafka_bootstrap, schema_registry, unique)
    card = build_card(app.agents["math"])
    subjects = skill_schemas(card)[skill]
    assert subjects["format"] == "avro"
    assert subjects["subjects"] == {
        "request": f"{task_requests_topic(skill)}-value",
        "result": f"{task_results_topic(skill)}-value",
    }
    async with AppRunner(app, kafka_transport(app)):
        # A requester of the same app writes Avro and gets the output model back.
        async with AgentClient(kafka_bootstrap, app=app) as client:
            assert await client.delegate(skill, Numbers(values=[1, 2, 3]), timeout=30, task_id=f"a-{unique}") == Total(
                total=6
            )
            with pytest.raises(PayloadDecodeError, match="does not match Numbers"):  # checked before it is sent
                await client.delegate(skill, {"values": "not a list"}, timeout=30)
        # A requester that knows nothing of the skill's app writes JSON, and reads the Avro result as a dict
        # through the registry its environment names.
        monkeypatch.setenv("AGENTFLUX_SCHEMA_REGISTRY_URL", schema_registry)
        async with AgentClient(kafka_bootstrap) as plain:
            assert await plain.delegate(skill, {"values": [4, 5]}, timeout=30, task_id=f"b-{unique}") == {"total": 9}
            with pytest.raises(TaskRejected, match="values"):  # the worker rejects it, in an Avro result
                await plain.delegate(skill, {"values": "not a list"}, timeout=30)
    [avro_request] = await records_keyed(kafka_bootstrap, task_requests_topic(skill), f"a-{unique}")
    [json_request] = await records_keyed(kafka_bootstrap, task_requests_topic(skill), f"b-{unique}")
    assert (avro_request.value or b"")[0] == 0 and (json_request.value or b"").startswith(b"{")
    results = await records_keyed(kafka_bootstrap, task_results_topic(skill), f"b-{unique}")
    assert results and all((r.value or b"")[0] == 0 for r in results)
    registry = Registry(schema_registry)
    try:
        result_schema = await registry.latest(subjects["subjects"]["result"])
        assert result_schema is not None and '"name":"TotalTaskResult"' in (result_schema.schema.schema_str or "")
    finally:
        await registry.close()
