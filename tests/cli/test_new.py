"""``agentflux new NAME``: the project it writes has passing tests; bad names and taken directories are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentflux.cli.main import main

FILES = ["app.py", "test_app.py", "pyproject.toml", "README.md", ".gitignore"]


def run_cli(args: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return exited.value.code


def test_the_project_it_writes_passes_its_own_tests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", "hello", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    project = tmp_path / "hello"
    assert sorted(p.name for p in project.iterdir()) == sorted(FILES)
    assert f"created {project}/" in out and f"cd {project}" in out
    assert "agentflux publish hello.greeting-requested.v1" in out

    app = (project / "app.py").read_text()
    assert 'AgentApp("hello")' in app and '"hello-shout"' in app and '"hello.greeting-sent.v1"' in app
    assert len(app.splitlines()) < 45

    # As a user would run it: plain pytest inside the project, which its pyproject.toml configures.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout


def test_without_dir_it_writes_into_the_working_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "price-watch").mkdir()  # an empty directory is fine
    assert run_cli(["new", "price-watch"]) == 0
    assert "cd price-watch\n" in capsys.readouterr().out
    app = (tmp_path / "price-watch" / "app.py").read_text()
    assert '@greeter.on("price-watch.greeting-requested.v1")' in app


@pytest.mark.parametrize("name", ["Hello", "1st", "my_app", "my-", "a--b", "hello.world", "agent"])
def test_a_bad_name_is_one_line_and_exit_2(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["new", name, "--dir", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid project name {name!r}"), lines
    assert list(tmp_path.iterdir()) == []


def test_a_taken_directory_is_refused_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "app.py").write_text("mine\n")
    (tmp_path / "file").write_text("")
    for name, says in [("hello", "exists and is not empty"), ("file", "exists and is not a directory")]:
        assert run_cli(["new", name, "--dir", str(tmp_path)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
    assert [p.name for p in (tmp_path / "hello").iterdir()] == ["app.py"]
    assert (tmp_path / "hello" / "app.py").read_text() == "mine\n"
