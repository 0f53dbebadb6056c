"""Every bad invocation is one line (plus at most a hint), with exit code 2 for usage and configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflux.cli.main import main

BAD_SYNTAX = "x = (\n"
RAISES = "raise RuntimeError('boom at import')\n"
NO_BROKER = {"AGENTFLUX_BOOTSTRAP_SERVERS": "127.0.0.1:1"}

CASES = [
    # (arguments, environment, exit code, what the line says)
    (["dlq", "show"], {}, 2, "Missing argument"),
    (["nosuch"], {}, 2, "No such command 'nosuch'"),
    (["dlq", "list", "--limit", "abc"], {}, 2, "Invalid value for '--limit'"),
    (["dlq", "nosuch"], {}, 2, "No such command 'nosuch'"),
    (["run"], {}, 2, "Missing argument"),
    (["run", "nosuchmodule:app"], {}, 2, "cannot import 'nosuchmodule'"),
    (["run", "{tmp}/bad_syntax.py:app"], {}, 2, "syntax error: '(' was never closed"),
    (["run", "{tmp}/raises.py:app"], {}, 2, "raised RuntimeError: boom at import"),
    (["run", "{tmp}/raises.py"], {}, 2, "raised RuntimeError"),
    (["run", "json:dumps"], {}, 2, "'json:dumps' is a function, expected AgentApp"),
    (["gateway", "--port", "70000"], {}, 2, "Invalid value for '--port'"),
    (["gateway", "--port", "zero"], {}, 2, "Invalid value for '--port'"),
    (["up", "--port", "0"], {}, 2, "Invalid value for '--port'"),
    (["mcp", "serve", "--http", "99999"], {}, 2, "Invalid value for '--http'"),
    (["dlq", "list"], {**NO_BROKER, "AGENTFLUX_KAFKA_NO_SUCH_THING": "1"}, 2, "No such configuration property"),
    (["dlq", "list"], {**NO_BROKER, "AGENTFLUX_KAFKA_ACKS": "banana"}, 2, "invalid Kafka client setting"),
    (["run", "--nosuchoption"], {}, 2, "No such option: --nosuchoption"),
    (["streams", "run", "{tmp}/raises.py:job"], {}, 2, "raised RuntimeError"),
    (["streams", "run", "json:dumps"], {}, 2, "'json:dumps' is a function, expected StreamJob"),
    (["streams", "sql"], {}, 2, "Missing argument"),
    (["cards", "show"], {}, 2, "Missing argument"),
    (["dlq", "redrive"], {}, 2, "give a letter id or --source TOPIC, not both"),
    (["dlq", "redrive", "0:1", "--source", "shop.order-placed.v1"], {}, 2, "give a letter id or --source TOPIC"),
    (["new", "Hello", "--dir", "{tmp}"], {}, 2, "invalid project name 'Hello'"),
    (["new", "taken", "--dir", "{tmp}"], {}, 2, "exists and is not empty"),
]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "bad_syntax.py").write_text(BAD_SYNTAX)
    (tmp_path / "raises.py").write_text(RAISES)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "app.py").write_text("")
    return tmp_path


@pytest.mark.parametrize(("args", "env", "code", "says"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_bad_invocation_is_one_line(
    args: list[str],
    env: dict[str, str],
    code: int,
    says: str,
    files: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        main([a.replace("{tmp}", str(files)) for a in args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert exited.value.code == code, err
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: ") and says in lines[0], err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", f"{files}/raises.py:app", "--debug"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "Traceback" in err and "RuntimeError: boom at import" in err
