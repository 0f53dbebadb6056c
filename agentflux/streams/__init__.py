"""Windowed stream jobs: one definition, two engines (embedded Quix Streams, and Apache Flink).

See ``docs/streams.md`` for the semantics both engines share.
"""

from agentflux.streams.aggregates import Aggregate, avg, count, max_, min_, sum_
from agentflux.streams.engines import EngineName, job_sql, run_job
from agentflux.streams.filters import Filter, col
from agentflux.streams.job import StreamJob
from agentflux.streams.reference import Evaluation, Late
from agentflux.streams.windows import Window, hopping, sliding, tumbling

__all__ = [
    "Aggregate",
    "EngineName",
    "Evaluation",
    "Filter",
    "Late",
    "StreamJob",
    "Window",
    "avg",
    "col",
    "count",
    "hopping",
    "job_sql",
    "max_",
    "min_",
    "run_job",
    "sliding",
    "sum_",
    "tumbling",
]
