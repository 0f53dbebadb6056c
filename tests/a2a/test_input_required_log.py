"""A skill that asks for input is not failing: the worker logs it at INFO, a real failure at WARNING."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel

from agentflux import AgentApp, Context
from agentflux.a2a import InputRequired
from agentflux.contract.errors import TaskFailed
from agentflux.testing import TestApp


class Question(BaseModel):
    text: str


@pytest.mark.asyncio
async def test_input_required_is_info_and_a_failure_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    app = AgentApp("asker")

    @app.agent("clerk").skill("ask")
    async def ask(question: Question, ctx: Context) -> Question:
        if question.text == "boom":
            raise RuntimeError("broken")
        raise InputRequired("Which size?")

    with caplog.at_level(logging.INFO, "agentflux.runtime"):
        async with TestApp(app) as t:
            with pytest.raises(TaskFailed) as asked:
                await t.delegate("ask", Question(text="a shirt"))
            with pytest.raises(TaskFailed) as failed:
                await t.delegate("ask", Question(text="boom"))
    assert asked.value.error_type == "InputRequired" and failed.value.error_type == "RuntimeError"
    worker = [r for r in caplog.records if r.name == "agentflux.runtime" and ": task " in r.getMessage()]
    [question] = [r for r in worker if "asks for input: Which size?" in r.getMessage()]
    [failure] = [r for r in worker if r.getMessage().endswith("failed: broken")]
    assert question.levelno == logging.INFO and failure.levelno == logging.WARNING
