"""``agentflux new NAME [--dir PARENT]``: scaffold a project that runs and tests out of the box.

The project is one agent with an event handler that delegates to a skill, so
one ``agentflux run`` shows both halves working together, plus tests on
``TestApp`` that need no Kafka. NAME is the domain of its event topics
(``{name}.greeting-requested.v1``) and prefixes its skill (``{name}-shout``),
because skill ids are unique per cluster. The templates are strings here, so
they ship with the package without package data.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from agentflux.contract.errors import ConfigError, TopicNameError
from agentflux.contract.topics import validate_topic

# The domain part of the topic contract: lowercase words joined by single dashes.
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")

APP = '''\
"""${name}: one agent that answers greetings, with an event handler and a skill."""

from pydantic import BaseModel

from agentflux import AgentApp, Context


class GreetingRequested(BaseModel):
    name: str


class GreetingSent(BaseModel):
    text: str


app = AgentApp("${name}")
greeter = app.agent("greeter", description="Answers greetings")


@greeter.on("${name}.greeting-requested.v1")  # the payload type comes from the annotation
async def greet(request: GreetingRequested, ctx: Context) -> None:
    """Answer a greeting request: have the skill shout it, then publish the result."""
    greeting = await ctx.delegate("${name}-shout", request)  # wherever the skill runs
    await ctx.publish("${name}.greeting-sent.v1", greeting, key=request.name)


@greeter.skill("${name}-shout", description="Turns a name into a loud greeting")
async def shout(request: GreetingRequested, ctx: Context) -> GreetingSent:
    """Greet the name, loudly."""
    return GreetingSent(text=f"HELLO, {request.name.upper()}!")
'''

TESTS = '''\
"""The app on the in-memory transport: no Kafka needed."""

from agentflux.testing import TestApp

from app import GreetingRequested, GreetingSent, app


async def test_greet_publishes_the_shouted_greeting():
    """A greeting request ends as a greeting on ${name}.greeting-sent.v1."""
    async with TestApp(app) as t:
        await t.publish("${name}.greeting-requested.v1", GreetingRequested(name="Ada"), key="Ada")
        await t.drain()
        assert t.published("${name}.greeting-sent.v1", GreetingSent) == [GreetingSent(text="HELLO, ADA!")]


async def test_shout_returns_the_greeting():
    """The skill alone, delegated to as any other agent would."""
    async with TestApp(app) as t:
        assert await t.delegate("${name}-shout", {"name": "Ada"}) == GreetingSent(text="HELLO, ADA!")


async def test_bad_input_goes_to_the_dead_letters():
    """A request without a name is dead-lettered with its reason, and nothing is published."""
    async with TestApp(app) as t:
        await t.publish("${name}.greeting-requested.v1", {"nom": "Ada"})
        await t.drain()
        [letter] = t.dead_letters()
        assert letter.source_topic == "${name}.greeting-requested.v1"
        assert letter.info["error_message"].endswith("name: Field required")
        assert t.published("${name}.greeting-sent.v1") == []
'''

PYPROJECT = """\
[project]
name = "${name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["agentflux"]

[project.optional-dependencies]
test = ["pytest>=8", "pytest-asyncio>=0.23"]

[tool.pytest.ini_options]
pythonpath = ["."]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""

README = """\
# ${name}

An agentflux project, all in `app.py`: the agent `greeter` handles
`${name}.greeting-requested.v1`, delegates to its own skill `${name}-shout`,
and publishes what the skill returns to `${name}.greeting-sent.v1`.
Work in this directory, in an environment where agentflux (and, for the
tests, pytest and pytest-asyncio) is installed.

## Test it, without Kafka

```bash
pytest
```

```text
3 passed in …
```

The tests check that the handler publishes the shouted greeting, that the
skill returns it, and that a request without a name goes to the dead letters.

## Run it

Start a local Kafka broker (or point `AGENTFLUX_BOOTSTRAP_SERVERS` at yours):

```bash
agentflux up
```

In a second terminal, in this directory, run the agent (Ctrl-C stops it):

```bash
agentflux run app:app
```

Back in the first, send a greeting request and watch what comes out
(`tail` follows until Ctrl-C):

```bash
agentflux publish ${name}.greeting-requested.v1 '{"name": "Ada"}'
agentflux tail ${name}.greeting-sent.v1 --from-beginning
```

```text
published ${name}.greeting-requested.v1/3/0 id=… correlation_id=…
${name}.greeting-sent.v1/4/0 key=Ada ${name}.greeting-sent from greeter correlation=… {"text":"HELLO, ADA!"}
```

`agentflux dlq list` shows what failed and why; `agentflux down` stops the broker.
"""

GITIGNORE = """\
__pycache__/
.pytest_cache/
"""

FILES = {
    "app.py": APP,
    "test_app.py": TESTS,
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    ".gitignore": GITIGNORE,
}


def check_name(name: str) -> str:
    """Return ``name`` if it can name a project (and so the domain of its topics), else raise ConfigError."""
    if not PROJECT_NAME.match(name):
        raise ConfigError(
            f"invalid project name {name!r}: use lowercase letters, digits and single dashes, "
            "starting with a letter (e.g. hello or price-watch)"
        )
    try:
        validate_topic(f"{name}.greeting-requested.v1")
    except TopicNameError:
        raise ConfigError(f"invalid project name {name!r}: it is reserved for the runtime's own topics") from None
    return name


def scaffold(name: str, parent: Path) -> Path:
    """Write the project ``name`` into ``parent/name`` and return that directory."""
    target = parent / check_name(name)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"{target} exists and is not empty; choose another name or --dir")
    try:
        target.mkdir(parents=True, exist_ok=True)
        for filename, template in FILES.items():
            (target / filename).write_text(Template(template).substitute(name=name), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def new(
    name: Annotated[str, typer.Argument(help="The project's name and the domain of its topics, e.g. hello")],
    parent: Annotated[
        Path, typer.Option("--dir", help="Create the project in this directory", file_okay=False)
    ] = Path(),
) -> None:
    """Create a project: an agent with an event handler and a skill, its tests, and a README."""
    shown = scaffold(name, parent)
    typer.echo(f"created {shown}/: {', '.join(FILES)}")
    typer.echo(
        "next:\n"
        f"  cd {shown}\n"
        "  pytest                       # 3 tests, no Kafka needed\n"
        "  agentflux up                 # start a local Kafka broker\n"
        "  agentflux run app:app        # run the agent (in its own terminal)\n"
        f'  agentflux publish {name}.greeting-requested.v1 \'{{"name": "Ada"}}\'\n'
        f"  agentflux tail {name}.greeting-sent.v1 --from-beginning"
    )


def register(app: typer.Typer) -> None:
    """Add ``new`` to the agentflux CLI."""
    app.command()(new)
