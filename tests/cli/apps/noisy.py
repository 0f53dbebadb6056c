"""An agent that logs while it handles, and fails its first attempt (for the log format tests)."""

import logging
import os

from agentflux import AgentApp, Context, RetryPolicy

app = AgentApp(os.environ["T_APP"])


@app.agent("noisy").on(os.environ["T_TOPIC"], retry=RetryPolicy(max_attempts=2, initial_backoff=0.05))
async def handle(event: dict, ctx: Context) -> None:
    logging.getLogger("noisy").warning("handling %s, attempt %d", event["n"], ctx.attempt)
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt fails")
