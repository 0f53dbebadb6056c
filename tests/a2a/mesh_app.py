"""The agents the gateway tests talk to: one skill per task capability, names unique per module run."""

from __future__ import annotations

import asyncio
import base64

from pydantic import BaseModel

from agentflux import AgentApp, Context, Reject, RetryPolicy
from agentflux.a2a import InputRequired, Reply, a2a_task, file_bytes, file_url

RELEASE: dict[str, asyncio.Event] = {}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")


class Order(BaseModel):
    item: str
    quantity: int = 1


class Priced(BaseModel):
    item: str
    total: float


class Topic(BaseModel):
    topic: str


class Story(BaseModel):
    title: str
    words: int


class Job(BaseModel):
    key: str


class Done(BaseModel):
    key: str


class Colored(BaseModel):
    item: str
    color: str


class Name(BaseModel):
    name: str


def build(unique: str) -> AgentApp:
    app = AgentApp(f"mesh-{unique}")
    pricer = app.agent(f"pricer-{unique}", description="Prices orders")

    @pricer.skill(f"price-{unique}", description="Prices an order", tags=["pricing"])
    async def price(order: Order, ctx: Context) -> Priced:
        return Priced(item=order.item, total=2.5 * order.quantity)

    writer = app.agent(f"writer-{unique}", description="Writes things", retry=RetryPolicy(max_attempts=1))

    @writer.skill(f"story-{unique}", description="Writes a story, streaming its progress and parts")
    async def story(topic: Topic, ctx: Context) -> Story:
        task = a2a_task(ctx)
        await task.status("outlining")
        chunks = ["Once upon ", "a time, ", f"{topic.topic}."]
        for i, chunk in enumerate(chunks):
            await task.artifact(chunk, artifact_id="text", name="story", append=i > 0, last_chunk=i == len(chunks) - 1)
        await task.status("illustrating")
        await task.artifact({"characters": ["fox", "owl"]}, artifact_id="data", name="cast")
        await task.artifact(file_bytes(PNG, name="cover.png", media_type="image/png"), artifact_id="cover")
        await task.artifact(file_url("https://example.com/story.pdf", name="story.pdf", media_type="application/pdf"))
        return Story(title=topic.topic.title(), words=6)

    @writer.skill(f"wait-{unique}", description="Waits until the test releases it")
    async def wait(job: Job, ctx: Context) -> Done:
        await a2a_task(ctx).status(f"waiting for {job.key}")
        event = RELEASE.setdefault(job.key, asyncio.Event())
        async with asyncio.timeout(30):
            await event.wait()
        return Done(key=job.key)

    @writer.skill(f"ask-{unique}", description="Asks for a colour before it answers")
    async def ask_color(order: Order, ctx: Context) -> Colored:
        task = a2a_task(ctx)
        if task.turn == 0:
            raise InputRequired(f"Which colour should the {order.item} be?")
        return Colored(item=order.item, color=task.text)

    @writer.skill(f"refuse-{unique}", description="Refuses every order")
    async def refuse(order: Order, ctx: Context) -> Priced:
        raise Reject(f"we do not sell {order.item}")

    @writer.skill(f"boom-{unique}", description="Always fails")
    async def boom(order: Order, ctx: Context) -> Priced:
        raise RuntimeError("the oven is on fire")

    greeter = app.agent(f"greeter-{unique}", description="Says hello")

    @greeter.skill(f"greet-{unique}", description="Greets by name, with a direct message")
    async def greet(who: Name, ctx: Context) -> Reply:
        return Reply(text=f"Hello, {who.name}!", data={"greeted": who.name})

    return app
