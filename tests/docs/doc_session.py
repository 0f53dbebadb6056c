"""Run a document's blocks in order, as a reader would: in a fresh directory, with a home of their own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from doc_blocks import ROOT, Block

FOREGROUND_TIMEOUT = 120.0


class Session:
    """One reader working through one document: files, commands, background terminals, their output."""

    def __init__(self, tmp: Path) -> None:
        self.work = tmp / "work"
        self.work.mkdir()
        self.logs = tmp / "logs"
        self.logs.mkdir()
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AGENTFLUX_", "PYTEST_"))},
            "AGENTFLUX_HOME": str(tmp / "home"),  # `agentflux up` starts this reader's own broker
            "PATH": f"{venv_bin}:{os.environ['PATH']}",  # as after `source .venv/bin/activate`
            "VIRTUAL_ENV": str(Path(venv_bin).parent),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
        }
        self.background: list[tuple[Block, subprocess.Popen[bytes], Path]] = []
        self.last_output = ""
        self.modules: list[str] = []  # python files written
        self.commands = ""  # every shell block run, to know which modules they used

    def run(self, block: Block) -> None:
        cwd = ROOT if "checkout" in block.attributes else self.work
        if block.language == "bash":
            self.commands += block.text
        if block.file_name:
            (self.work / block.file_name).write_text(block.text)
            if block.file_name.endswith(".py") and "/" not in block.file_name:
                self.modules.append(block.file_name.removesuffix(".py"))
        elif block.language == "python":
            self._foreground(block, [sys.executable, "-c", block.text], cwd)  # imports from cwd, as pasted
        elif block.language == "bash" and "production" in block.attributes:
            self._foreground(block, ["bash", "-n", "-c", block.text], cwd)
        elif block.language == "bash" and "covered-by" not in block.attributes:
            # From a file, not `bash -c`: the block's text is then in no process's command line (`pkill -f`).
            script = self.logs / f"block-{block.line}.sh"
            script.write_text(block.text)
            if "background" in block.attributes:
                self._start(block, script, cwd)
            else:
                self._foreground(block, ["bash", "-e", "-o", "pipefail", str(script)], cwd)
        elif "output" in block.attributes:
            expect_output(block, self.last_output)

    def import_unused_modules(self) -> None:
        """A file no command used is still complete: importing it raises nothing (runs under ``__main__`` guards)."""
        for module in self.modules:
            if module not in self.commands:
                self._foreground(Block(ROOT, 0, "python", ""), [sys.executable, "-c", f"import {module}"], self.work)

    def _foreground(self, block: Block, argv: list[str], cwd: Path) -> None:
        try:
            done = subprocess.run(
                argv, cwd=cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=FOREGROUND_TIMEOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            output = (exc.output or b"").decode(errors="replace")
            raise AssertionError(
                f"{block.where} still ran after {FOREGROUND_TIMEOUT}s:\n{output}{self.tails()}"
            ) from None
        self.last_output = done.stdout.decode(errors="replace")
        if done.returncode != 0:
            raise AssertionError(f"{block.where} exited {done.returncode}:\n{self.last_output}{self.tails()}")

    def _start(self, block: Block, script: Path, cwd: Path) -> None:
        log = self.logs / f"background-{block.line}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["bash", "-e", str(script)], cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.background.append((block, proc, log))
        ready = block.attributes.get("ready")
        deadline = time.monotonic() + FOREGROUND_TIMEOUT
        while ready and ready not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{block.where} never printed {ready!r}:{self.tails()}")
            time.sleep(0.1)

    def tails(self) -> str:
        """The end of every background terminal's output, for a failure message."""
        parts = [f"\n--- {b.where} (background)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                 for b, _, log in self.background]  # fmt: skip
        return "".join(parts)

    def close(self) -> None:
        """Ctrl-C every background terminal, then `agentflux down`; fail if a terminal had died on its own."""
        # A terminal the document itself SIGKILLed (`pkill -9`, exit -9 or 137) did not die on its own.
        died = [
            (b, p.returncode)
            for b, p, _ in self.background
            if p.poll() is not None and p.returncode not in (0, -9, 137)
        ]
        report = self.tails()
        for _, proc, _ in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for _, proc, _ in self.background:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if (Path(self.env["AGENTFLUX_HOME"]) / "kafka").exists():
            subprocess.run(["agentflux", "down"], env=self.env, capture_output=True, timeout=60)
        if died:
            raise AssertionError(f"background blocks exited on their own: {[(b.where, rc) for b, rc in died]}{report}")


def expect_output(block: Block, output: str) -> None:
    """Every line of an ``output`` block matches a line of ``output`` of its own (``…`` matches anything).

    Not in order: records of several partitions come in any order.
    """
    lines = output.splitlines()
    for wanted in filter(None, (line.strip() for line in block.text.splitlines())):
        pattern = re.compile(".*?".join(re.escape(part.strip()) for part in wanted.split("…")))
        found = next((i for i, line in enumerate(lines) if pattern.search(line)), None)
        if found is None:
            raise AssertionError(f"{block.where}: {wanted!r} is not in the output:\n{output}")
        del lines[found]
