"""The façade: ``agentflux.__all__`` is sorted, complete, and every name in it imports."""

import inspect

import agentflux
from agentflux.contract import errors


def test_all_is_sorted_and_importable() -> None:
    assert agentflux.__all__ == sorted(agentflux.__all__)
    for name in agentflux.__all__:
        assert getattr(agentflux, name) is not None


def test_every_error_users_catch_is_exported() -> None:
    public_errors = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, errors.AgentfluxError) and obj.__module__ == errors.__name__
    }
    internal = {"HandlerOutcome", "LocalKafkaError"}  # a base class, and the CLI's broker errors
    assert public_errors - internal <= set(agentflux.__all__), public_errors - internal - set(agentflux.__all__)
