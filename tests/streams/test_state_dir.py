"""Window state lives in one directory per Kafka cluster, so a new or reset cluster starts clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflux.streams.embedded import default_state_dir


def test_state_is_kept_per_cluster_beside_the_broker_of_agentflux_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTFLUX_STREAMS_STATE_DIR", raising=False)
    monkeypatch.setenv("AGENTFLUX_HOME", str(tmp_path / "home"))
    assert default_state_dir("abc") == tmp_path / "home" / "streams" / "cluster-abc"
    assert default_state_dir("abc") != default_state_dir("xyz")
    assert default_state_dir(None) == tmp_path / "home" / "streams"  # no cluster id known: the shared base


def test_an_explicit_base_and_the_xdg_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFLUX_STREAMS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AGENTFLUX_HOME", str(tmp_path / "home"))
    assert default_state_dir("abc") == tmp_path / "state" / "cluster-abc"
    monkeypatch.delenv("AGENTFLUX_STREAMS_STATE_DIR")
    monkeypatch.delenv("AGENTFLUX_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir("abc") == tmp_path / "xdg" / "agentflux" / "streams" / "cluster-abc"
