"""Where a handled record's CPU goes: py-spy samples of the raw consumer loop and of an agentflux handler.

Starts a broker (or uses ``AGENTFLUX_BENCH_BOOTSTRAP``), fills a topic with
``--records`` 200-byte records on 1,000 keys, and consumes it twice in this
process, each pass sampled by py-spy: the raw loop of ``bench_runtime.py``
(confluent-kafka, pydantic, one coroutine per record) and an agentflux agent
with a no-op handler. For each it writes the CPU per record (all threads, and the
event loop's thread) and the self and total tables of ``profile_tasks.py``, in
microseconds per record.

    cd bench && ../.venv/bin/python profile_handlers.py --records 200000 --out profiles/handlers.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench_runtime import VALUE, raw_loop, runtime_loop
from common import broker, console, create_topic, fill
from profile_tasks import main_thread_cpu, sample, tables


def sampled(name: str, files: Path, run: Callable[[], float], records: int) -> tuple[str, float]:
    """Run ``run`` under py-spy; its section of the report, and the records/s ``run`` measured."""
    out = files / f"{name}.txt"
    cpu, main = time.process_time(), main_thread_cpu(os.getpid())
    sampler = sample(os.getpid(), out)  # 100 Hz: at 1,000 Hz py-spy itself took a core
    time.sleep(1.0)  # py-spy attaches
    try:
        rate = run()
    finally:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=30)
    cpu_us = (time.process_time() - cpu) / records * 1e6
    main_us = (main_thread_cpu(os.getpid()) - main) / records * 1e6
    head = f"{rate:,.0f} records/s while sampled. CPU per record: all threads {cpu_us:.1f} µs, "
    head += f"main thread {main_us:.1f} µs.\n\n"
    return head + tables(out, main_us, 25), rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--out", default="profiles/handlers.md")
    parser.add_argument("--samples", metavar="DIR", help="keep py-spy's raw samples in DIR")
    args = parser.parse_args()
    with broker() as bootstrap, tempfile.TemporaryDirectory() as scratch:
        tmp = args.samples or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        topic = f"bench.profile-{uuid.uuid4().hex[:6]}.v1"
        create_topic(bootstrap, topic, args.partitions)
        fill(bootstrap, topic, args.records, VALUE)
        with console.status("raw consumer loop, sampled"):
            raw_text, raw = sampled("raw", Path(tmp), lambda: raw_loop(bootstrap, topic, args.records), args.records)
        with console.status("agentflux handler, sampled"):
            ours_text, ours = sampled(
                "agentflux", Path(tmp), lambda: asyncio.run(runtime_loop(bootstrap, topic, args.records)), args.records
            )
    text = (
        f"# Handler path profile\n\n`{' '.join(sys.argv)}`: {args.records:,} records of 200 bytes on 1,000 keys, "
        f"{args.partitions} partition(s), consumed twice in one process. agentflux reached {ours / raw:.0%} of the raw "
        f"loop's rate while both were sampled. Load average at the end: {os.getloadavg()[0]:.1f}.\n"
        f"The CPU figures include the broker-facing librdkafka threads of this process, not the broker.\n\n"
        f"## raw consumer loop\n\n{raw_text}\n## agentflux handler\n\n{ours_text}"
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
