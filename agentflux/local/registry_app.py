"""Fetch the Apicurio Registry application once, with Maven, and unpack it into the cache.

The archive (``io.apicurio:apicurio-registry-app:3.3.3``, classifier ``all``,
a tar.gz of about 158 MB) comes from Maven Central through the pom beside this
module (``registry-pom.xml``), the same way as the Kafka jars
(``maven.MavenFetch``). It is unpacked once into
``<cache>/apicurio-registry-<version>/app`` (Quarkus's fast-jar layout, run
with ``java -jar quarkus-run.jar``) and then deleted: Maven's local repository
keeps a copy anyway. An interrupted unpack writes no marker (it leaves an
``app.partial-<pid>`` directory behind), so the next call unpacks again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path

from agentflux.contract.errors import LocalKafkaError
from agentflux.local.jars import cache_dir, find_java
from agentflux.local.maven import MavenFetch, Progress
from agentflux.local.registry_java import LocalRegistryError, find_registry_java

APICURIO_VERSION = "3.3.3"
POM_PATH = Path(__file__).with_name("registry-pom.xml")
RUN_JAR = "quarkus-run.jar"
_UNPACKED = ".unpacked"
_WHAT = f"Apicurio Registry {APICURIO_VERSION}"
_MVN_HINT = (
    "Maven (mvn) is needed to fetch the schema registry (Apicurio Registry): install it (apt-get install maven), "
    "or start Kafka alone with `agentflux up --no-registry`"
)
_REPORT_EVERY = 100  # unpacked files between two progress lines


def registry_home(env: Mapping[str, str] | None = None) -> Path:
    """Where the pinned Apicurio version lives in the cache (fetched or not)."""
    return cache_dir(env) / f"apicurio-registry-{APICURIO_VERSION}"


def app_dir(env: Mapping[str, str] | None = None) -> Path:
    """The unpacked application: ``quarkus-run.jar`` beside ``lib/``, ``app/`` and ``quarkus/``."""
    return registry_home(env) / "app"


def _fetch(env: Mapping[str, str] | None = None) -> MavenFetch:
    return MavenFetch(f"the {_WHAT} archive", POM_PATH, registry_home(env) / "archive", _MVN_HINT, expect="*.tar.gz")


def _pom_digest() -> str:
    """What the unpacked marker holds: a changed pom (another version) means unpacking again."""
    return hashlib.sha256(POM_PATH.read_bytes()).hexdigest()


def _maven_java() -> str:
    """Any Java that runs Maven: Kafka's (17 to 24) first, else the registry's (21+)."""
    try:
        return find_java()
    except LocalKafkaError:
        return find_registry_java()


def registry_app_ready(env: Mapping[str, str] | None = None) -> bool:
    """True when the application of the current pom is unpacked in the cache."""
    marker = registry_home(env) / _UNPACKED
    if not (marker.is_file() and (app_dir(env) / RUN_JAR).is_file()):
        return False
    return marker.read_text().strip() == _pom_digest()


def ensure_registry_app(progress: Progress | None = None) -> Path:
    """The unpacked application's directory, fetched and unpacked first if needed.

    Idempotent: once unpacked, later calls need neither Maven nor the network.
    ``progress`` receives one complete status line per step (meant to replace
    the previous one), such as ``"unpacking Apicurio Registry 3.3.3: file 300 of 475"``.
    """
    if registry_app_ready():
        return app_dir()
    fetch = _fetch()
    (registry_home() / _UNPACKED).unlink(missing_ok=True)
    archive_dir = fetch.ensure(_maven_java, progress)
    archives = sorted(archive_dir.glob(fetch.expect))
    if not archives:  # deleted after an earlier unpack whose result is gone now: fetch it again
        fetch.forget()
        archives = sorted(fetch.ensure(_maven_java, progress).glob(fetch.expect))
    _unpack(archives[0], app_dir(), progress)
    (registry_home() / _UNPACKED).write_text(_pom_digest() + "\n")
    shutil.rmtree(archive_dir, ignore_errors=True)
    return app_dir()


def _unpack(archive: Path, target: Path, progress: Progress | None) -> None:
    say = progress or (lambda _msg: None)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for number, member in enumerate(members, 1):
                if number == 1 or number % _REPORT_EVERY == 0 or number == len(members):
                    say(f"unpacking {_WHAT}: file {number} of {len(members)}")
                tar.extract(member, partial, filter="data")
        if not (partial / RUN_JAR).is_file():
            raise LocalRegistryError(f"{archive} holds no {RUN_JAR}: not the Quarkus application expected")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    except (OSError, tarfile.TarError) as exc:
        raise LocalRegistryError(f"could not unpack {archive} into {target}: {exc}") from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)
