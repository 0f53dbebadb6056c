"""Skill declarations and the task wire contract, without a broker."""

import pytest
from pydantic import BaseModel

from agentflux import AgentApp, ConfigError, Context, EnvelopeError, RetryPolicy, TaskPhase, TaskReport, TopicNameError
from agentflux.contract.tasks import format_reply_to, parse_reply_to
from agentflux.runtime.tasks.requester import derived_task_id


class Quote(BaseModel):
    product_id: str
    price: float


class Quoted(BaseModel):
    product_id: str
    accepted: bool


def test_a_skill_is_an_inspectable_declaration_with_schemas() -> None:
    app = AgentApp("shop")
    pricing = app.agent("pricing", retry=RetryPolicy(max_attempts=2))

    @pricing.skill("update-price", description="Updates a price", tags=["pricing"])
    async def update_price(task: Quote, ctx: Context) -> Quoted:
        return Quoted(product_id=task.product_id, accepted=True)

    assert pricing.skills == [update_price]
    assert app.find_skill("update-price") is update_price
    assert app.find_skill("nothing") is None
    assert update_price.input_model is Quote and update_price.output_model is Quoted
    assert update_price.input_schema["properties"]["price"]["type"] == "number"
    assert update_price.output_schema["title"] == "Quoted"
    assert update_price.request_topic == "agent.task-requests.update-price"
    assert update_price.results_topic == "agent.task-results.update-price"
    assert update_price.name == "update-price" and update_price.tags == ("pricing",)
    assert update_price.retry.max_attempts == 2
    assert pricing.task_group_id == "shop.pricing.tasks"
    assert pricing.skill_for("agent.task-requests.update-price") is update_price


async def _no_types(task, ctx):  # type: ignore[no-untyped-def]
    return None


async def _dict_input(task: dict, ctx: Context) -> Quoted:
    return Quoted(product_id="", accepted=False)


async def _no_return(task: Quote, ctx: Context):  # type: ignore[no-untyped-def]
    return None


async def _one_param(task: Quote) -> Quoted:
    return Quoted(product_id="", accepted=False)


def _sync(task: Quote, ctx: Context) -> Quoted:
    return Quoted(product_id="", accepted=False)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_no_types, "input .* BaseModel"),
        (_dict_input, "input .* BaseModel"),
        (_no_return, "output .* BaseModel"),
        (_one_param, r"exactly \(task, ctx\)"),
        (_sync, "async function"),
    ],
)
def test_bad_skill_handlers_fail_at_declaration(fn: object, message: str) -> None:
    agent = AgentApp("shop").agent("pricing")
    with pytest.raises(ConfigError, match=message):
        agent.skill("update-price")(fn)  # type: ignore[arg-type]
    assert agent.skills == []


def test_skill_ids_are_validated_and_unique_in_an_app() -> None:
    app = AgentApp("shop")
    first, second = app.agent("first"), app.agent("second")
    with pytest.raises(TopicNameError, match="invalid skill id"):
        first.skill("Update_Price")
    first.skill("update-price")(_typed)
    with pytest.raises(ConfigError, match="already offered by agent 'first'"):
        second.skill("update-price")


async def _typed(task: Quote, ctx: Context) -> Quoted:
    return Quoted(product_id=task.product_id, accepted=True)


def test_task_states_are_complete_records_with_a_time_per_state() -> None:
    submitted = TaskReport(task_id="t1", skill="s", state=TaskPhase.SUBMITTED, correlation_id="c", input={"a": 1})
    working = submitted.advance(TaskPhase.WORKING)
    done = working.advance(TaskPhase.COMPLETED, result={"b": 2})
    assert set(done.timestamps) == {TaskPhase.WORKING, TaskPhase.COMPLETED}
    assert done.input == {"a": 1} and done.as_result().input is None
    assert done.state.terminal and not working.state.terminal
    assert TaskReport.model_validate_json(done.model_dump_json()) == done
    assert [s.value for s in TaskPhase] == ["submitted", "working", "completed", "failed", "canceled", "rejected"]


def test_reply_addresses_name_a_results_partition_and_nothing_else() -> None:
    assert format_reply_to("agent.task-results.x", 3) == "agent.task-results.x/3"
    assert parse_reply_to("agent.task-results.x/3") == ("agent.task-results.x", 3)
    assert parse_reply_to("agent.task-results.x") == ("agent.task-results.x", None)
    for bad in ("agent.dead-letter.v1", "shop.orders.v1/1", "agent.task-results.x/one", "agent.task-requests.x"):
        with pytest.raises(EnvelopeError):
            parse_reply_to(bad)


def test_derived_task_ids_are_stable_per_record_and_rank_across_attempts() -> None:
    assert derived_task_id("m1", 1) == derived_task_id("m1", 1)
    assert len({derived_task_id("m1", 1), derived_task_id("m1", 2), derived_task_id("m2", 1)}) == 3
