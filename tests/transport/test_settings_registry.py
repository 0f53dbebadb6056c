"""Which schema registry ``KafkaSettings.resolve`` picks: the option, the environment, or the embedded one."""

from __future__ import annotations

import pytest

import agentflux.local
from agentflux.transport.settings import ENV_BOOTSTRAP, ENV_REGISTRY, KafkaSettings

EMBEDDED = "127.0.0.1:40001"
EMBEDDED_URL = "http://127.0.0.1:40002/apis/ccompat/v7"


@pytest.fixture(autouse=True)
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    """`agentflux up` runs: a broker at EMBEDDED and a registry at EMBEDDED_URL; nothing in the environment."""
    monkeypatch.delenv(ENV_BOOTSTRAP, raising=False)
    monkeypatch.delenv(ENV_REGISTRY, raising=False)
    monkeypatch.setattr(agentflux.local, "local_bootstrap", lambda: EMBEDDED)
    monkeypatch.setattr(agentflux.local, "local_registry_url", lambda: EMBEDDED_URL)


def test_the_embedded_broker_comes_with_the_embedded_registry() -> None:
    settings = KafkaSettings.resolve()
    assert settings.bootstrap_servers == EMBEDDED and settings.schema_registry_url == EMBEDDED_URL


def test_the_embedded_broker_named_explicitly_still_gets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KafkaSettings.resolve(EMBEDDED).schema_registry_url == EMBEDDED_URL
    monkeypatch.setenv(ENV_BOOTSTRAP, EMBEDDED)  # export AGENTFLUX_BOOTSTRAP_SERVERS=$(agentflux up | tail -1)
    assert KafkaSettings.resolve().schema_registry_url == EMBEDDED_URL


def test_another_cluster_does_not_get_the_local_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KafkaSettings.resolve("kafka-1.prod:9093").schema_registry_url is None
    monkeypatch.setenv(ENV_BOOTSTRAP, "kafka-1.prod:9093")
    assert KafkaSettings.resolve().schema_registry_url is None


def test_the_environment_and_the_option_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_REGISTRY, "https://registry:8081")
    assert KafkaSettings.resolve().schema_registry_url == "https://registry:8081"
    assert KafkaSettings.resolve(schema_registry_url="http://mine:8081").schema_registry_url == "http://mine:8081"
    assert KafkaSettings.resolve(schema_registry_url=None).schema_registry_url is None  # None: no registry


def test_no_embedded_registry_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agentflux.local, "local_registry_url", lambda: None)
    assert KafkaSettings.resolve().schema_registry_url is None
