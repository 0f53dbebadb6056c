# TEMPORARY until the registry branch lands: the session registry from the environment.
import os

import pytest


@pytest.fixture(scope="session")
def schema_registry() -> str:
    return os.environ["AGENTFLUX_TEST_REGISTRY_URL"]
