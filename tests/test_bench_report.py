"""bench/report.py: the figures table and the generated section of bench/RESULTS.md (no broker)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
# Loaded by path, not by putting bench/ on sys.path: its module names (common, report) are too generic.
_spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
assert _spec and _spec.loader
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

THROUGHPUT = report.figure(
    "handler throughput, 1 partition",
    30_000.0,
    "rec/s",
    target="≥ 70 % of raw",
    met=False,
    baseline="raw consumer loop",
    baseline_value=60_000.0,
    load="100,000 records",
)
LATENCY = report.figure("latency, p50", 1.5, "ms", target="≤ 2 ms", met=True, load="5,000 records")
FAILED = {"figure": "bench_pricing.py --quick", "failed": "error: unrecognized arguments: --quick | --json"}
FACTS = {
    "command": "cd bench && ../.venv/bin/python run_all.py",
    "commit": "abc1234",
    "date": "2026-12-03 10:00 UTC",
    "total": "6 min 2 s",
    "load_before": "1.00, 0.50, 0.20",
    "load_after": "2.00, 1.00, 0.40",
    "cores": "2",
}
INTRO = "# Benchmark results\n\nIntro paragraph.\n\nSecond intro paragraph.\n"
REST = "## Foundation: runtime\n\nOld figures | kept as they are.\n\n## Streams\n\nMore.\n"


def section(figures: list[dict[str, object]] | None = None) -> str:
    return report.section(figures or [THROUGHPUT, LATENCY], [("bench_runtime.py --quick", 61.4)], FACTS)


def test_a_figure_has_the_fields_of_the_json_list_and_its_ratio() -> None:
    assert set(THROUGHPUT) == {
        "figure", "value", "unit", "baseline", "baseline_value", "ratio", "target", "met", "load"
    }  # fmt: skip
    assert THROUGHPUT["ratio"] == 0.5
    assert LATENCY["baseline"] is None and LATENCY["ratio"] is None
    json.dumps([THROUGHPUT, LATENCY])


def test_the_table_has_one_row_per_figure_with_baseline_ratio_target_and_verdict() -> None:
    lines = report.markdown_table([THROUGHPUT, LATENCY, FAILED]).splitlines()
    assert lines[0] == "| figure | value | baseline (same run) | ratio | target | met |"
    assert lines[2] == (
        "| handler throughput, 1 partition | 30,000 rec/s | raw consumer loop: 60,000 rec/s | 0.50x "
        "| ≥ 70 % of raw | **missed** |"
    )
    assert lines[3] == "| latency, p50 | 1.50 ms |  |  | ≤ 2 ms | met |"
    assert lines[4].startswith("| bench_pricing.py --quick | — |")
    assert "**failed: error: unrecognized arguments: --quick \\| --json**" in lines[4]  # a pipe can't split a row
    assert len(lines) == 5


def test_the_section_states_how_it_was_run_and_the_loads() -> None:
    text = section()
    assert "Command: `cd bench && ../.venv/bin/python run_all.py`" in text
    assert "`bench_runtime.py --quick` (61 s)" in text
    assert "abc1234" in text and "2026-12-03 10:00 UTC" in text and "6 min 2 s" in text
    assert "1.00, 0.50, 0.20 at the start and 2.00, 1.00, 0.40 at the end" in text
    assert "- handler throughput, 1 partition: 100,000 records" in text
    assert "- latency, p50: 5,000 records" in text


def test_without_markers_the_section_goes_after_the_intro() -> None:
    document = report.replace_section(INTRO + "\n" + REST, section())
    before, rest = document.split(report.BEGIN)
    assert before == INTRO + "\n"
    generated, after = rest.split(report.END)
    assert generated.strip() == section()
    assert after == "\n\n" + REST


def test_replacing_the_section_is_idempotent_and_leaves_the_rest() -> None:
    once = report.replace_section(INTRO + "\n" + REST, section())
    assert report.replace_section(once, section()) == once
    newer = report.replace_section(once, section([LATENCY]))
    assert newer.startswith(INTRO) and newer.endswith(REST)
    assert "handler throughput" not in newer.split(report.END)[0]
    assert report.replace_section(newer, section()) == once


def test_a_document_without_headings_gets_the_section_at_the_end() -> None:
    assert report.replace_section("Just text.\n", "S") == f"Just text.\n\n{report.BEGIN}\nS\n{report.END}\n"


def test_p50_p99_gives_two_latency_figures_each_against_its_own_bound() -> None:
    p50, p99 = report.p50_p99("round trip", 2.5, 12.0, bounds=(3, 10), load="500/s")
    assert (p50["figure"], p50["target"], p50["met"]) == ("round trip, p50", "≤ 3 ms", True)
    assert (p99["figure"], p99["target"], p99["met"]) == ("round trip, p99", "≤ 10 ms", False)
    assert p50["unit"] == p99["unit"] == "ms" and p99["load"] == "500/s"


def test_p50_p99_carries_the_baseline_measured_alongside_each_percentile() -> None:
    p50, p99 = report.p50_p99(
        "round trip", 8.0, 40.0, bounds=(3, 15), load="500/s", baseline="bare", baseline_values=(4.0, 20.0)
    )
    assert (p50["baseline"], p50["baseline_value"], p50["ratio"]) == ("bare", 4.0, 2.0)
    assert (p99["baseline"], p99["baseline_value"], p99["ratio"]) == ("bare", 20.0, 2.0)


def test_a_floor_has_no_verdict_and_is_not_shown_as_missed() -> None:
    floor = report.figure(
        "floor, p50", 2.0, "ms", target="none (the floor)", met=None, baseline="1", baseline_value=1.0
    )
    assert report.cells(floor)[-1] == "—"
    assert report.markdown_table([floor]).splitlines()[-1].endswith("| none (the floor) | — |")


def test_format_figures_show_their_ratio_to_json_and_the_end_to_end_verdict() -> None:
    # As bench_formats.py writes them: a cost with no verdict, and avro's throughput against JSON's.
    cost = report.figure(
        "avro: encode + decode per record", 18.4, "µs", target="none (the cost)", met=None,
        baseline="json: codec.encode + codec.decode", baseline_value=7.18, load="3 rounds",
    )  # fmt: skip
    rate = report.figure(
        "avro: handler throughput, 1 partition", 20_610.0, "rec/s", target="≥ json's (avro ≤ json end to end)",
        met=False, baseline="json handler", baseline_value=27_827.0, load="30,000 records",
    )  # fmt: skip
    rows = report.markdown_table([cost, rate]).splitlines()[2:]
    assert rows[0] == (
        "| avro: encode + decode per record | 18.4 µs | json: codec.encode + codec.decode: 7.18 µs | 2.56x "
        "| none (the cost) | — |"
    )
    assert rows[1] == (
        "| avro: handler throughput, 1 partition | 20,610 rec/s | json handler: 27,827 rec/s | 0.74x "
        "| ≥ json's (avro ≤ json end to end) | **missed** |"
    )
