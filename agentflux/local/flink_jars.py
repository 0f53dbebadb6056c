"""Fetch the jars the Flink engine needs (the Kafka SQL connector, the ``avro-confluent`` format) once, with Maven.

Same scheme as the Kafka jars (``jars``, ``maven.MavenFetch``): a pom beside
this module (``flink-pom.xml``), cached per connector version under the user's cache.
"""

from __future__ import annotations

from pathlib import Path

from agentflux.local.jars import cache_dir, find_java
from agentflux.local.maven import MavenFetch, Progress

#: No ``flink-sql-connector-kafka`` names Flink 2.3 yet; the 2.2 build runs on PyFlink 2.3.0.
CONNECTOR_VERSION = "5.0.0-2.2"
#: Flink's own SQL format for Avro through a schema registry: released with Flink, so PyFlink's version.
FLINK_VERSION = "2.3.0"
POM_PATH = Path(__file__).with_name("flink-pom.xml")
_MVN_HINT = "Maven (mvn) is needed to fetch the Flink Kafka connector: install it (apt-get install maven)"


def flink_libs_dir() -> Path:
    return cache_dir() / f"flink-connectors-{CONNECTOR_VERSION}" / "libs"


def _fetch() -> MavenFetch:
    what = f"the Flink Kafka connector {CONNECTOR_VERSION} and Flink's avro-confluent format {FLINK_VERSION}"
    return MavenFetch(what, POM_PATH, flink_libs_dir(), _MVN_HINT, extra_args=("-DexcludeTransitive=true",))


def flink_jars_ready() -> bool:
    return _fetch().ready()


def connector_jars() -> list[Path]:
    return sorted(flink_libs_dir().glob("*.jar"))


def ensure_flink_jars(progress: Progress | None = None) -> list[Path]:
    """The connector jars, fetched with Maven on first use; later calls need neither Maven nor the network."""
    _fetch().ensure(find_java, progress)
    return connector_jars()
