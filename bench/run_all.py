"""Every figure of the performance issue in one run, each with its baseline from the same run.

    cd bench && ../.venv/bin/python run_all.py [--warmup 20] [--no-write]

One Kafka broker (``AGENTFLUX_BENCH_BOOTSTRAP`` if set) is warmed up with
``--warmup`` seconds of delegations, then every benchmark runs against it with
``--quick --json PATH`` (each uses fresh topics and groups of its own;
``bench_formats.py`` also starts a schema registry, unless
``AGENTFLUX_BENCH_REGISTRY`` names one). Prints
one table of the figures and writes it into RESULTS.md between the
``run_all`` markers, unless ``--no-write``. A failed benchmark is shown with the
tail of its stderr and the run goes on; the exit status is 1 if any failed.
A missed target is not a failure: targets are targets, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from common import broker
from report import COLUMNS, Figure, cells, replace_section, section
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
STEP_TIMEOUT = 420.0  # seconds; a step still running then is stopped and reported as failed
TAIL = 15  # lines of a failed step's stderr shown


@dataclass(frozen=True)
class Step:
    script: str
    args: tuple[str, ...]
    about: str
    reports: bool = True  # writes figures with --json

    @property
    def command(self) -> str:
        return shlex.join([self.script, *self.args])


@dataclass
class Outcome:
    step: Step
    figures: list[Figure]
    error: str | None  # the stderr tail of a failed step
    log: Path
    seconds: float = 0.0


def steps(warmup: float) -> list[Step]:
    return [
        Step("bench_delegate.py", ("warmup", "--warmup", f"{warmup:g}"), "warming the broker up", reports=False),
        Step("bench_runtime.py", ("--quick",), "handler throughput and latency"),
        Step("bench_formats.py", ("--quick",), "json vs avro vs json-schema, with its own schema registry"),
        Step("bench_delegate.py", ("all", "--quick", "--warmup", "0"), "delegation latency, throughput, fan-out"),
        Step("bench_a2a_http.py", ("--quick", "--warmup", "0"), "Kafka vs a2a-sdk JSON-RPC over HTTP"),
        Step("bench_pricing.py", ("--quick",), "pricing system end to end"),
    ]


def run_step(step: Step, env: dict[str, str], folder: Path, index: int) -> Outcome:
    out = folder / f"{index}-{Path(step.script).stem}.json"
    log = out.with_suffix(".log")
    argv = [sys.executable, step.script, *step.args, *(["--json", str(out)] if step.reports else [])]
    code, stdout, stderr = run_script(argv, env)
    log.write_text(f"$ {shlex.join(argv)}\n{stdout}\n--- stderr ---\n{stderr}")
    if code != 0:
        return Outcome(step, [], tail(stderr) or f"exit status {code}, no stderr", log)
    if step.reports and not out.exists():
        return Outcome(step, [], f"exited 0 but wrote no figures to {out.name}", log)
    return Outcome(step, json.loads(out.read_text()) if step.reports else [], None, log)


def run_script(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run one benchmark in a process group of its own, so a step that hangs is stopped with its workers."""
    proc = subprocess.Popen(
        argv, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        stdout, stderr = proc.communicate()
        stderr += f"\nrun_all: stopped after {STEP_TIMEOUT:g} s"
    except BaseException:
        stop_group(proc)
        raise
    return proc.returncode, stdout, stderr


def stop_group(proc: subprocess.Popen[str]) -> None:
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-TAIL:])


def run_all(warmup: float) -> list[Outcome]:
    """Each step in turn on one broker, under one progress bar."""
    plan = steps(warmup)
    folder = Path(tempfile.mkdtemp(prefix="agentflux-run-all-"))
    outcomes = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        bar = progress.add_task("starting a Kafka broker", total=len(plan) + 1)
        with broker(progress=lambda msg: progress.update(bar, description=f"broker: {msg}")) as bootstrap:
            progress.advance(bar)
            env = {**os.environ, "AGENTFLUX_BENCH_BOOTSTRAP": bootstrap}
            for index, step in enumerate(plan):
                progress.update(bar, description=f"{step.script}: {step.about}")
                began = time.monotonic()
                outcomes.append(run_step(step, env, folder, index))
                outcomes[-1].seconds = time.monotonic() - began
                progress.advance(bar)
    return outcomes


def all_figures(outcomes: list[Outcome]) -> list[Figure]:
    figures: list[Figure] = []
    for outcome in outcomes:
        if outcome.error is not None:
            figures.append({"figure": outcome.step.command, "failed": outcome.error.splitlines()[-1]})
        figures += outcome.figures
    return figures


def terminal_table(figures: list[Figure]) -> Table:
    table = Table(*COLUMNS)
    for fig in figures:
        *first, met = cells(fig)
        table.add_row(*first, met, style=None if met in ("met", "—") else ("red" if "failed" in fig else "yellow"))
    return table


def show(console: Console, figures: list[Figure], outcomes: list[Outcome], facts: dict[str, str]) -> None:
    """The table, how the run went, and the stderr tail of each failed step."""
    console.print(terminal_table(figures))
    times = ", ".join(f"{o.step.command} {o.seconds:.0f} s" for o in outcomes)
    console.print(
        f"{facts['total']} in all ({times}); load average {facts['load_before']} at the start, "
        f"{facts['load_after']} at the end; commit {facts['commit']}; each step's output in {outcomes[0].log.parent}",
        highlight=False,
    )
    for outcome in outcomes:
        if outcome.error is not None:
            console.print(f"\n[red]{outcome.step.command} failed[/red]; its stderr ends:", highlight=False)
            console.print(outcome.error, markup=False, highlight=False, soft_wrap=True)


def run_facts(started: float, load_before: str) -> dict[str, str]:
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    cwd = os.path.relpath(Path.cwd(), ROOT)
    python = os.path.relpath(sys.executable)
    command = shlex.join([python, *sys.argv])
    return {
        "command": command if cwd == "." else f"cd {cwd} && {command}",
        "commit": commit(),
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "total": f"{minutes} min {seconds} s",
        "load_before": load_before,
        "load_after": load_average(),
        "cores": str(os.cpu_count()),
    }


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" with uncommitted changes" if dirty else "")


def load_average() -> str:
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of delegations to warm the broker up")
    parser.add_argument("--no-write", action="store_true", help="do not write the figures into RESULTS.md")
    args = parser.parse_args()
    started, load_before = time.monotonic(), load_average()
    outcomes = run_all(args.warmup)
    figures, facts = all_figures(outcomes), run_facts(started, load_before)
    console = Console(width=None if sys.stdout.isatty() else 220)  # a log file gets the table unwrapped
    show(console, figures, outcomes, facts)
    if not args.no_write:
        generated = section(figures, [(o.step.command, o.seconds) for o in outcomes], facts)
        RESULTS.write_text(replace_section(RESULTS.read_text(), generated))
        console.print(f"written to {os.path.relpath(RESULTS)}")
    sys.exit(1 if any(o.error is not None for o in outcomes) else 0)


if __name__ == "__main__":
    main()
